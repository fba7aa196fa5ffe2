#!/usr/bin/env bats
# vmadm delete (reference C16): message, storage gone, indestructible
# zone roots refused until the flag is cleared.

load helpers
load fixtures/vmadm-lib

setup() {
    vm_setup_root
}

teardown() {
    vm_teardown_root
}

# delete_ok UUID: exactly C16's success, and nothing of the VM left.
delete_ok() {
    run --separate-stderr vmadm delete "$1"
    echo "delete: $status $stderr"
    [ "$status" -eq 0 ]
    [ -z "$output" ]
    [ "$stderr" = "Successfully deleted VM $1" ]
    run --separate-stderr vmadm get "$1"
    [ "$status" -eq 1 ]
    [ "$stderr" = "zoneadm: $1: No such zone configured" ]
    [ -z "$(datasets_of "$1")" ]
    [ ! -e "$VMADM_ROOT/etc/vms/$1" ]
    [ ! -e "$VMADM_ROOT/zones/$1" ]
    [ -z "$(ls -A "$VMADM_ROOT/etc/vms" | grep -F "$1" || true)" ]
    [ -z "$(vmadm lookup uuid=$1)" ]
}

@test "delete bhyve with disks and a joyent-minimal VM; others untouched" {
    install_zvol
    install_ct
    create_ok "$(fixture bhyve)"
    B=$VM
    create_ok "$(fixture joyent-minimal)"
    J=$VM
    create_ok "$(fixture bhyve-nodisk)"
    KEEP=$VM
    [ -n "$(datasets_of $B)" ]
    delete_ok $B
    delete_ok $J
    run vmadm lookup
    [ "$output" = "$KEEP" ]
    [ "$(datasets_of $KEEP)" = "zones/$KEEP" ]
    # images are not touched by deleting their clones
    run vmstore list -H -o name
    [[ "$output" == *"zones/$IMG_CT_A"* ]]
    [[ "$output" == *"zones/$ZVOL_IMG"* ]]
    # alias destroy
    run --separate-stderr vmadm destroy $KEEP
    [ "$status" -eq 0 ]
    [ "$stderr" = "Successfully deleted VM $KEEP" ]
    run vmadm list -H
    [ -z "$output" ]
}

@test "indestructible_zoneroot: delete refused until cleared" {
    echo '{"brand":"bhyve","autoboot":false,"indestructible_zoneroot":true,"disks":[{"size":32,"boot":true,"model":"virtio"}]}' \
        > "$BATS_TEST_TMPDIR/p.json"
    create_ok "$BATS_TEST_TMPDIR/p.json"
    [ "$(jget $VM .indestructible_zoneroot)" = true ]
    before=$(state)
    run --separate-stderr vmadm delete $VM
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [ "$stderr" = "Failed to delete VM $VM: indestructible_zoneroot is set, cannot delete" ]
    [ "$(state)" = "$before" ]
    [ "$(jget $VM '.disks|length')" = 1 ]
    run --separate-stderr vmadm update $VM indestructible_zoneroot=false
    [ "$status" -eq 0 ]
    [ "$(jget $VM 'has("indestructible_zoneroot")')" = false ]
    delete_ok $VM
}

@test "indestructible_zoneroot set by update also protects" {
    install_ct
    create_ok "$(fixture joyent-minimal)"
    run vmadm update $VM indestructible_zoneroot=true
    [ "$status" -eq 0 ]
    [ "$(jget $VM .indestructible_zoneroot)" = true ]
    run --separate-stderr vmadm delete $VM
    [ "$status" -eq 1 ]
    [ "$stderr" = "Failed to delete VM $VM: indestructible_zoneroot is set, cannot delete" ]
    run vmadm update $VM -f <(echo '{"indestructible_zoneroot":false}')
    [ "$status" -eq 0 ]
    delete_ok $VM
}

@test "delete of an unknown VM and bad uuids" {
    run --separate-stderr vmadm delete 6a3b8c1e-2f4d-4e5a-9b6c-7d8e9f0a1b2c
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [ "$stderr" = "Failed to delete VM 6a3b8c1e-2f4d-4e5a-9b6c-7d8e9f0a1b2c: VM 6a3b8c1e-2f4d-4e5a-9b6c-7d8e9f0a1b2c not found" ]
    run --separate-stderr vmadm delete
    [ "$status" -eq 2 ]
    [ "${stderr_lines[0]}" = "Invalid or missing UUID for delete" ]
}
