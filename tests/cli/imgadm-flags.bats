#!/usr/bin/env bats
# imgadm's options (common/opts.h, as SmartOS's imgadm: options anywhere):
# bundles (-qm file), values from the word or the next word, `--`, long
# options (--allow-setuid, --vmobj=), unknown ones are usage (exit 2)
# naming them — for every command.

load helpers
bats_require_minimum_version 1.5.0

IMG=7e7e7e7e-1111-4111-8111-111111111111

setup() {
    vm_setup_root
    make_zvol_image $IMG 16
}

teardown() {
    vm_teardown_root
}

bad() {
    run --separate-stderr imgadm "$@"
    [ "$status" -eq 2 ] || { echo "imgadm $*: $status $stderr" >&2; return 1; }
    [[ "$stderr" == "imgadm: error: invalid option"* || "$stderr" == "imgadm: error: unrecognized option"* ]]
}

@test "install -qm/-f forms, list -Ho / -jo, get -P, delete: bundled and after operands" {
    local d=$BATS_TEST_TMPDIR
    run --separate-stderr imgadm install -qm $d/$IMG.json -f$d/$IMG.raw
    [ "$status" -eq 0 ] && [ -z "$output" ]
    run imgadm list -Ho uuid,name
    [ "$status" -eq 0 ] && [ "$output" = "$IMG  test-16" ]
    run imgadm list name=test-16 -Houuid
    [ "$output" = "$IMG" ]
    run imgadm list -jH
    [ "$status" -eq 0 ] && [ "$(echo "$output" | jq -r '.[0].manifest.uuid')" = "$IMG" ]
    run imgadm get $IMG -P zones
    [ "$status" -eq 0 ] && [ "$(echo "$output" | jq -r '.manifest.uuid')" = "$IMG" ]
    run imgadm list -Ho
    [ "$status" -eq 2 ] && [[ "$output" == *"missing argument for 'o' option"* ]]
    run imgadm delete -- $IMG
    [ "$status" -eq 0 ]
    [ -z "$(imgadm list -Ho uuid)" ]
}

@test "every command refuses unknown options" {
    bad install -qZ
    bad install --bogus
    bad list -x
    bad get -x $IMG
    bad delete -x $IMG
    bad create -x 00000000-0000-4000-8000-000000000000 name=a version=1
    run --separate-stderr imgadm create --vmobj
    [ "$status" -eq 2 ] && [[ "$stderr" == "imgadm: error: missing argument for '--vmobj' option"* ]]
}
