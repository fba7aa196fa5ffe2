#!/usr/bin/env bats
# Container roots as overlay layers (issue 18 part 2) with the switch on
# (VMADM_FS_CLONES=overlay): vmadm create makes a layered zone root from
# the image's @final, containers from one image do not see each other's
# files, the image cannot be deleted while they exist, and delete leaves no
# mount and no dataset.  Starting an unprivileged container on a layered
# root is not implemented yet (lib/storage/README.md): refused clearly,
# nothing changed.

load ../cli/helpers
load containers
bats_require_minimum_version 1.5.0

setup() {
    ct_setup
    F=$BATS_TEST_TMPDIR
    export VMADM_FS_CLONES=overlay
}

teardown() {
    vm_teardown_root
}

mounts() { awk -v r="$VMADM_ROOT/" 'index($5, r) == 1 { print $5 }' /proc/self/mountinfo; }

create() { # UUID
    cat > "$F/$1.json" <<EOT
{"uuid": "$1", "brand": "joyent", "alias": "layered", "image_uuid": "$IMG_CT_A", "autoboot": false,
 "max_physical_memory": 256, "quota": 2}
EOT
    run vmadm create -f "$F/$1.json"
    [ "$status" -eq 0 ] || { echo "create: $output"; return 1; }
}

@test "layered zone roots: isolated, image delete refused, start refused clearly, delete leaves nothing" {
    run imgadm install -m "$VMADM_TEST_CACHE/ct-A.json" -f "$VMADM_TEST_CACHE/ct-A.tar.gz"
    [ "$status" -eq 0 ]
    U1=$(cat /proc/sys/kernel/random/uuid)
    U2=$(cat /proc/sys/kernel/random/uuid)
    create "$U1"
    create "$U2"
    [ "$(stat -f -c %T "$VMADM_ROOT/zones/$U1")" = overlayfs ]
    [ "$(vmstore get -Ho value origin "zones/$U1")" = "zones/$IMG_CT_A@final" ]
    echo secret > "$VMADM_ROOT/zones/$U1/root/etc/only-in-1"
    [ ! -e "$VMADM_ROOT/zones/$U2/root/etc/only-in-1" ]
    [ -f "$VMADM_ROOT/zones/$U2/root/sbin/init" ] || [ -L "$VMADM_ROOT/zones/$U2/root/sbin/init" ]
    run imgadm delete "$IMG_CT_A"
    [ "$status" -ne 0 ]
    [ -n "$(vmstore list -H -o name "zones/$IMG_CT_A")" ]
    run --separate-stderr vmadm start "$U1"
    [ "$status" -ne 0 ]
    [[ "$stderr" == *"is a layered (overlayfs) clone, which an unprivileged container cannot use yet"* ]]
    [ "$(vmadm get "$U1" | jq -r .state)" = stopped ]
    vmadm delete "$U1"
    vmadm delete "$U2"
    [ -z "$(mounts)" ]
    run vmstore list -H -o name "zones/$U1"
    [ "$status" -ne 0 ]
    imgadm delete "$IMG_CT_A"
}
