#!/usr/bin/env bats
# Issue 21's whole recipe, end to end, as the README writes it, with the
# project's own hybrid BIOS+UEFI test disk standing in for Talos: an empty
# bhyve VM with SmartOS's UEFI bootrom path, a plain dd onto
# disks[0].path (a raw view through vmadm-zvold), the guest boots, the
# view refuses while it runs and past its end, a writer killed -9 leaves a
# usable volume and nothing behind; then snapshot, `vmstore send | gzip`,
# a "v": "2" manifest, install, and a new VM from the image boots under
# UEFI.  The same for a container root.

bats_require_minimum_version 1.5.0
load ../cli/helpers
load hvm

setup() {
    hvm_setup
    start_zvold
}

teardown() {
    for u in $(ls "${VMADM_ROOT:-/nonexistent}/etc/vms" 2>/dev/null); do
        vmadm stop -F "$u" >/dev/null 2>&1 || true
    done
    local rc=0
    stop_zvold || rc=1
    vm_teardown_root
    return $rc
}

console_has() { # UUID TEXT: wait for TEXT on the VM's console
    local i
    for i in $(seq $((BOOT_TIMEOUT * 5))); do
        tr -d '\r' < "$VMADM_ROOT/run/vms/$1/console.log" 2>/dev/null | grep -qF -- "$2" && return 0
        sleep 0.2
    done
    echo "console of $1 never showed '$2'" >&2
    return 1
}

@test "recipe: raw disk image -> empty UEFI VM (dd onto its path) -> boots -> snapshot, send | gzip -> image -> new VM boots" {
    cd "$F"
    cat > metal.json <<'EOT'
{"brand": "bhyve", "alias": "metal", "ram": 256, "vcpus": 1, "autoboot": false,
 "bootrom": "/usr/share/bhyve/uefi-rom.bin",
 "disks": [{"boot": true, "model": "virtio", "size": 64}]}
EOT
    vm=$(vmadm create -f metal.json 2>&1 | sed -n 's/^Successfully created VM //p')
    [ -n "$vm" ]
    path=$(vmadm get "$vm" | jq -r '.disks[0].path')
    dd if="$VMADM_TEST_CACHE/hvm-A.raw" of="$path" bs=16M
    [ "$(stat -c %s "$path")" -eq $((64 * MiB)) ]
    vmadm start "$vm"
    console_has "$vm" "VMADM-GUEST: booted image=alpha"
    console_has "$vm" "VMADM-GUEST: ready"
    # while it runs the view refuses
    run dd if=/dev/zero of="$path" bs=1M count=1 conv=notrunc
    [ "$status" -ne 0 ] && [[ "$output" == *"busy"* ]]
    vmadm stop "$vm"

    # past the end: refused, the size stays
    run dd if=/dev/zero of="$path" bs=1M seek=64 count=1 conv=notrunc
    [ "$status" -ne 0 ] && [[ "$output" == *"No space left"* ]]
    [ "$(stat -c %s "$path")" -eq $((64 * MiB)) ]
    # a writer killed -9 part-way: the volume stays usable, nothing behind
    dd if="$VMADM_TEST_CACHE/hvm-A.raw" of="$path" bs=1M conv=notrunc,fsync 2>/dev/null &
    local w=$!
    sleep 0.3
    kill -9 "$w" 2>/dev/null || true
    wait "$w" || true
    for i in $(seq 100); do pgrep -f "qemu-nbd.*$VMADM_ROOT" >/dev/null || break; sleep 0.1; done
    ! pgrep -f "qemu-nbd.*$VMADM_ROOT"
    cmp "$VMADM_TEST_CACHE/hvm-A.raw" "$path"

    vmstore snapshot "zones/$vm/disk0@dataset"
    vmstore send "zones/$vm/disk0@dataset" | gzip > metal.zvol.gz
    img=$(cat /proc/sys/kernel/random/uuid)
    cat > metal-image.json <<EOT
{"v": "2", "uuid": "$img", "name": "talos", "version": "1.7.0",
 "type": "zvol", "os": "linux", "image_size": "64",
 "files": [{"sha1": "$(sha1sum metal.zvol.gz | cut -d' ' -f1)",
            "size": $(stat -c %s metal.zvol.gz), "compression": "gzip"}],
 "requirements": {"brand": "bhyve", "bootrom": "uefi"}}
EOT
    imgadm install -m metal-image.json -f metal.zvol.gz
    vm2=$(echo "{\"brand\": \"bhyve\", \"ram\": 256, \"bootrom\": \"uefi\", \"autoboot\": true,
                 \"disks\": [{\"image_uuid\": \"$img\", \"boot\": true, \"model\": \"virtio\"}]}" |
          vmadm create 2>&1 | sed -n 's/^Successfully created VM //p')
    [ -n "$vm2" ]
    console_has "$vm2" "VMADM-GUEST: booted image=alpha"
    vmadm stop -F "$vm2"
    # the running VM's disk was never mounted through the view
    ! mount | grep -q "$vm2"
}

@test "recipe: a container root -> snapshot, send | gzip -> zone-dataset image -> a new container has the file" {
    cd "$F"
    imgadm install -m "$VMADM_TEST_CACHE/ct-A.json" -f "$VMADM_TEST_CACHE/ct-A.tar.gz" >/dev/null
    c=$(echo "{\"brand\": \"joyent-minimal\", \"image_uuid\": \"$IMG_CT_A\"}" |
        vmadm create 2>&1 | sed -n 's/^Successfully created VM //p')
    vmadm login "$c" sh -c 'echo customised > /root/made-here'
    vmadm stop "$c"
    vmstore snapshot "zones/$c@image"
    vmstore send "zones/$c@image" | gzip > myzone.gz
    img=$(cat /proc/sys/kernel/random/uuid)
    cat > myzone.json <<EOT
{"v": "2", "uuid": "$img", "name": "myzone", "version": "1.0.0", "type": "zone-dataset", "os": "other",
 "files": [{"sha1": "$(sha1sum myzone.gz | cut -d' ' -f1)", "size": $(stat -c %s myzone.gz),
            "compression": "gzip"}],
 "requirements": {}}
EOT
    imgadm install -m myzone.json -f myzone.gz
    c2=$(echo "{\"brand\": \"joyent-minimal\", \"image_uuid\": \"$img\"}" |
         vmadm create 2>&1 | sed -n 's/^Successfully created VM //p')
    [ "$(vmadm login "$c2" cat /root/made-here)" = customised ]
}
