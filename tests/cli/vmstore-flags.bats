#!/usr/bin/env bats
# vmstore's options (common/opts.h, zfs-style): bundles, a value from the
# rest of the word or the next word, `--`, long --shrink, options before the
# operands only, an unknown option is usage (exit 2) naming it — every verb.

load helpers

setup() {
    vm_setup_root
    vmstore create zones/a
    vmstore create -V 8M zones/a/v
    vmstore snapshot zones/a/v@s1
}

teardown() {
    vm_teardown_root
}

# bad VERB...: the verb refuses an unknown option (exit 2, message + usage).
bad() {
    run vmstore "$@"
    [ "$status" -eq 2 ] || { echo "vmstore $*: $status $output" >&2; return 1; }
    [[ "$output" == *"invalid option"* || "$output" == *"unrecognized option"* ]]
    [[ "$output" == *"usage: vmstore <command> [args]"* ]]
}

@test "list and get: -Ho, -Hpo, -rHt, -oname, -s" {
    run vmstore list -Ho name zones/a
    [ "$status" -eq 0 ] && [ "$output" = "zones/a" ]
    run vmstore list -rHpo name,volsize -t volume zones/a
    [ "$status" -eq 0 ] && [ "$output" = "$(printf 'zones/a/v\t8388608')" ]
    run vmstore list -rHt snapshot -oname zones/a
    [ "$output" = "zones/a/v@s1" ]
    run vmstore list -rHo name -S name zones/a
    [ "$output" = "$(printf 'zones/a/v\nzones/a')" ]
    run vmstore get -Hpo value volsize zones/a/v
    [ "$status" -eq 0 ] && [ "$output" = 8388608 ]
    run vmstore get -Hovalue volsize zones/a/v
    [ "$output" = 8M ]
    run vmstore list -Ho
    [ "$status" -eq 2 ] && [[ "$output" == *"missing argument for 'o' option"* ]]
    bad list -HZ
    bad get -x volsize zones/a
}

@test "create, snapshot, clone, import: -ps, -o bundles, -V forms" {
    run vmstore create -po quota=1G zones/b/c
    [ "$status" -eq 0 ] && [ "$(vmstore get -Hpo value quota zones/b/c)" = 1073741824 ]
    run vmstore create -sV8M zones/b/v
    [ "$status" -eq 0 ]
    run vmstore snapshot -r zones/b@x
    [ "$status" -eq 0 ] && vmstore list -H -o name zones/b/c@x
    run vmstore clone -po volsize=16M zones/a/v@s1 zones/d/e
    [ "$status" -eq 0 ] && [ "$(vmstore get -Hpo value volsize zones/d/e)" = 16777216 ]
    truncate -s 4M $BATS_TEST_TMPDIR/f.raw
    run vmstore import -fraw $BATS_TEST_TMPDIR/f.raw zones/a/imp
    [ "$status" -eq 0 ]
    bad create -Z zones/q
    bad snapshot -x zones/a@q
    bad clone -r zones/a/v@s1 zones/q
    bad import -x f zones/q
}

@test "destroy, rollback, hold, release, holds, rename, swap, resize, changed, space, gc, set" {
    vmstore snapshot zones/a/v@s2
    run vmstore rollback -rf zones/a/v@s1
    [ "$status" -eq 0 ]
    run vmstore hold -r keep zones/a/v@s1
    [ "$status" -eq 0 ]
    run vmstore holds -Hp zones/a/v@s1
    [ "$status" -eq 0 ] && [[ "$output" == "zones/a/v@s1"$'\t'"keep"$'\t'* ]]
    run vmstore release -r keep zones/a/v@s1
    [ "$status" -eq 0 ]
    run vmstore resize --shrink zones/a/v 4M
    [ "$status" -eq 0 ] && [ "$(vmstore get -Hpo value volsize zones/a/v)" = 4194304 ]
    run vmstore resize --grow zones/a/v 4M
    [ "$status" -eq 2 ] && [[ "$output" == "unrecognized option '--grow'"* ]]
    run vmstore destroy -rf zones/a
    [ "$status" -eq 0 ] && ! vmstore list zones/a 2>/dev/null
    bad destroy -x zones/q
    bad rollback -x zones/q@s
    bad hold -x t zones/q@s
    bad release -x t zones/q@s
    bad holds -x zones/q@s
    bad rename -x zones/q zones/r
    bad swap -x zones/q zones/r
    bad changed -x zones/q@s
    bad space -x
    bad gc -x
    bad set -x quota=1G zones/q
}
