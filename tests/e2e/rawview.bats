#!/usr/bin/env bats
# Raw disk views with a real guest (issue 21): an ext4 image made on the
# host is written with a plain dd onto a stopped VM's data disk view; the
# tiny test guest (tests/guest: it prints /marker of its data disk and
# appends a line) reads it at its next start, and what the guest wrote is
# read back through the view after it stops.

load ../cli/helpers
load hvm

setup() {
    hvm_setup
    start_zvold
}

teardown() {
    vmadm stop -F "$U" >/dev/null 2>&1 || true
    local rc=0
    stop_zvold || rc=1
    vm_teardown_root
    return $rc
}

log() { echo "$VMADM_ROOT/run/vms/$U/console.log"; }

@test "rawview: dd of a filesystem image onto a stopped VM's data disk; the guest reads it, the view shows what it wrote" {
    cat > "$F/c.json" <<EOT
{"uuid": "$U", "brand": "bhyve", "alias": "rv", "ram": 256, "vcpus": 1, "autoboot": false,
 "disks": [{"image_uuid": "$IMG_HVM_A", "boot": true, "model": "virtio"},
           {"size": 32, "model": "virtio"}]}
EOT
    vmadm create -f "$F/c.json" 2>/dev/null
    D1=$(vmadm get "$U" | jq -r '.disks[1].path')
    [ "$D1" = "$ZV/rdsk/zones/$U/disk1" ]
    mkdir "$F/root"
    echo "from the host through $U" > "$F/root/marker"
    mkfs.ext4 -q -F -L data -d "$F/root" "$F/data.img" 32M
    dd if="$F/data.img" of="$D1" bs=16M
    [ "$(stat -c %s "$D1")" -eq $((32 * MiB)) ]

    run vmadm start "$U"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    local i
    for i in $(seq $((BOOT_TIMEOUT * 5))); do
        grep -q "VMADM-GUEST: ready" "$(log)" 2>/dev/null && break
        sleep 0.2
    done
    tr -d '\r' < "$(log)" > "$F/console"
    grep -qx "VMADM-GUEST: data marker: from the host through $U" "$F/console" || { cat "$F/console"; false; }
    grep -qx "VMADM-GUEST: data written" "$F/console"
    ! grep -q "VMADM-GUEST: data formatting" "$F/console"

    # while it runs the view is refused
    run dd if="$D1" of=/dev/null bs=1M count=1
    [ "$status" -ne 0 ]
    [[ "$output" == *"Device or resource busy"* ]]

    vmadm stop "$U"
    run debugfs -R 'cat /marker' "$D1"
    [[ "$output" == *"from the host through $U"*"written under image=alpha"* ]] || { echo "$output"; false; }
}
