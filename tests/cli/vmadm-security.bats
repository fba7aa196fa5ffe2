#!/usr/bin/env bats
# Hostile input to vmadm (issue 14: #7, #13, #15 and integer overflow):
# every attack gets a clear one-line error, exit 1, and changes nothing.

load helpers
load fixtures/vmadm-lib

setup() {
    vm_setup_root
}

teardown() {
    vm_teardown_root
}

# refused CMD...: exit 1 (or 2 for usage), a message, nothing changed.
refused() {
    local before; before=$(state)
    run --separate-stderr "$@"
    echo "$*: status=$status stderr=${stderr:0:300}"
    [ "$status" -ne 0 ]
    [ "$status" -ne 139 ] && [ "$status" -ne 134 ]
    [ -n "$stderr" ]
    [ "$(state)" = "$before" ]
}

# ---- #15: the lock name is validated before a path is built ----

@test "#15: a uuid-shaped ../ argument creates no lock file outside var/lock" {
    local evil=../../xx-aaaa-bbbb-cccc-dddddddddddd
    vmadm list >/dev/null
    for verb in update delete destroy start stop halt reboot get info kill sysrq console \
        create-snapshot rollback-snapshot delete-snapshot reprovision; do
        case $verb in
        update) run --separate-stderr vmadm update "$evil" ram=512 ;;
        stop | reboot) run --separate-stderr vmadm "$verb" "$evil" -F ;;
        sysrq) run --separate-stderr vmadm sysrq "$evil" nmi ;;
        *-snapshot) run --separate-stderr vmadm "$verb" "$evil" snap1 ;;
        reprovision) run --separate-stderr vmadm reprovision "$evil" <<< '{"image_uuid":"'"$IMG_CT_A"'"}' ;;
        *) run --separate-stderr vmadm "$verb" "$evil" </dev/null ;;
        esac
        echo "$verb: status=$status stderr=$stderr"
        [ "$status" -ne 0 ]
        [ "$status" -ne 139 ] && [ "$status" -ne 134 ]
    done
    vmadm update "$evil" -F ram=512 2>/dev/null || true
    # Nothing anywhere near the root but var/lock holds a lock file.
    run find "$(dirname "$VMADM_ROOT")" -maxdepth 3 -name 'xx-aaaa*'
    [ -z "$output" ]
    run find "$VMADM_ROOT" -name '*.lock' ! -path "$VMADM_ROOT/var/lock/*"
    [ -z "$output" ]
}

@test "#15: update of a ../ name says the VM is not found" {
    run --separate-stderr vmadm update ../../xx-aaaa-bbbb-cccc-dddddddddddd ram=512
    [ "$status" -eq 1 ]
    [ "$stderr" = "VM ../../xx-aaaa-bbbb-cccc-dddddddddddd not found" ]
    [ ! -e "$VMADM_ROOT/xx-aaaa-bbbb-cccc-dddddddddddd.lock" ]
}
