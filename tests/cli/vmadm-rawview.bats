#!/usr/bin/env bats
# Raw disk views (issue 21, README "Raw disk views"): disks[].path is a
# fixed-size file served by vmadm-zvold under $VMADM_ROOT/dev/zvol.  Each test
# starts the daemon for its own root and unmounts at teardown, also when it
# fails.  A non-bootable QEMU (SeaBIOS finding nothing) is the running VM.

load helpers

IMG=a2100000-0000-4000-8000-00000000000a # 64 MiB zvol image
U=e2100000-0000-4000-8000-0000000000e2
MiB=1048576

setup() {
    vm_setup_root
    F=$BATS_TEST_TMPDIR
    ZV=$VMADM_ROOT/dev/zvol
    make_zvol_image "$IMG" 64 "$F"
    imgadm install -m "$F/$IMG.json" -f "$F/$IMG.raw" >/dev/null
    cat > "$F/vm.json" <<EOT
{"uuid": "$U", "brand": "bhyve", "alias": "rv", "ram": 256, "vcpus": 1, "autoboot": false,
 "disks": [{"image_uuid": "$IMG", "boot": true, "model": "virtio"},
           {"size": 96, "model": "virtio"}]}
EOT
    vmadm create -f "$F/vm.json" 2>/dev/null
    start_zvold
    D1=$(vmadm get "$U" | jq -r '.disks[1].path')
}

teardown() {
    exec 7>&- 2>/dev/null || true
    vmadm stop -F "$U" >/dev/null 2>&1 || true
    local rc=0
    stop_zvold || rc=1
    vm_teardown_root
    return $rc
}

# volume_file DATASET: the active qcow2 layer behind a volume.
volume_file() {
    local f
    f=$(jq -r --arg d "$1" '.datasets[$d].file' "$VMADM_ROOT/var/vmstore/zones/pool.json")
    echo "$VMADM_ROOT/var/vmstore/zones/data/$f"
}

@test "vmadm get prints the view's path under VMADM_ROOT, and it is the volume as a file" {
    [ "$D1" = "$ZV/rdsk/zones/$U/disk1" ]
    [ "$(vmadm get "$U" | jq -r '.disks[0].path')" = "$ZV/rdsk/zones/$U/disk0" ]
    [ -f "$D1" ]
    [ "$(stat -c %s "$D1")" -eq $((96 * MiB)) ]
    [ "$(stat -c %s "$ZV/dsk/zones/$U/disk1")" -eq $((96 * MiB)) ]
    run ls "$ZV/rdsk/zones/$U"
    [ "$output" = "$(printf 'disk0\ndisk1')" ]
    run ls "$ZV/rdsk/zones"
    [[ "$output" == *"$U"* ]] && [[ "$output" == *"$IMG"* ]]
    [ ! -e "$ZV/rdsk/zones/$U/disk2" ]
    [ ! -e "$ZV/rdsk/zones/$IMG@final" ]
    [ ! -e "$ZV/other" ]
    # the image's bytes are there
    head -c 64 "$F/$IMG.raw" > "$F/want"
    head -c 64 "$ZV/rdsk/zones/$U/disk0" > "$F/got"
    cmp "$F/want" "$F/got"
}

@test "dd of a 64 MiB pattern (plain dd, with its O_TRUNC) reads back identical; the size stays" {
    head -c $((64 * MiB)) /dev/urandom > "$F/pat"
    run dd if="$F/pat" of="$D1" bs=16M
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    [ "$(stat -c %s "$D1")" -eq $((96 * MiB)) ]
    cmp -n $((64 * MiB)) "$F/pat" "$D1"
    # what lies beyond the written range is still zero, and dd from it works
    dd if="$D1" of="$F/tail" bs=1M skip=64 status=none
    [ "$(stat -c %s "$F/tail")" -eq $((32 * MiB)) ]
    cmp "$F/tail" <(head -c $((32 * MiB)) /dev/zero)
    # truncate(1) does not shrink it either
    truncate -s 0 "$D1"
    [ "$(stat -c %s "$D1")" -eq $((96 * MiB)) ]
    cmp -n $((64 * MiB)) "$F/pat" "$D1"
    # the bytes are in the volume after the daemon is gone
    stop_zvold
    qemu-img convert -O raw "$(volume_file "zones/$U/disk1")" "$F/vol.raw"
    cmp -n $((64 * MiB)) "$F/pat" "$F/vol.raw"
}

@test "a write past the end fails with ENOSPC, growing is refused, the size stays" {
    run dd if=/dev/zero of="$D1" bs=1M seek=95 count=2 conv=notrunc
    [ "$status" -ne 0 ]
    [[ "$output" == *"No space left on device"* ]] || { echo "$output"; false; }
    [[ "$output" == *"1+0 records out"* ]]
    run dd if=/dev/zero of="$D1" bs=1M seek=96 count=1 conv=notrunc
    [ "$status" -ne 0 ]
    [[ "$output" == *"No space left on device"* ]]
    run truncate -s $((200 * MiB)) "$D1"
    [ "$status" -ne 0 ]
    [ "$(stat -c %s "$D1")" -eq $((96 * MiB)) ]
    [ "$(vmstore get -Hp -o value volsize "zones/$U/disk1")" -eq $((96 * MiB)) ]
}

@test "qemu-img convert -O raw of the view equals qemu-img convert of the volume; fdisk and mkfs.ext4 work on it" {
    printf 'label: dos\n,,L\n' | sfdisk -q "$D1"
    run fdisk -l "$D1"
    [ "$status" -eq 0 ] && [[ "$output" == *"${D1}p1 "* ]] || { echo "$output"; false; }
    mkfs.ext4 -q -F -L rawview "$D1"
    [ "$(blkid -o value -s LABEL "$D1")" = rawview ]
    qemu-img convert -O raw "$D1" "$F/view.raw"
    stop_zvold
    qemu-img convert -O raw "$(volume_file "zones/$U/disk1")" "$F/vol.raw"
    cmp "$F/view.raw" "$F/vol.raw"
    [ "$(stat -c %s "$F/view.raw")" -eq $((96 * MiB)) ]
}

@test "refused while the VM runs; vmadm start refuses while a view is open, then starts once it is closed" {
    run vmadm start "$U"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    run dd if="$D1" of=/dev/null bs=1M count=1
    [ "$status" -ne 0 ]
    [[ "$output" == *"Device or resource busy"* ]] || { echo "$output"; false; }
    grep -q "VM $U is running: stop it before opening its disk $D1" "$F/zvold.log"
    run dd if=/dev/zero of="$D1" bs=1M count=1 conv=notrunc
    [ "$status" -ne 0 ]
    vmadm stop -F "$U"
    # a writer holds the view open: start refuses with a message, nothing runs
    exec 7<>"$D1"
    run vmadm start "$U"
    [ "$status" -eq 1 ]
    [[ "$output" == "Unable to start VM $U: its disk is open through $ZV (raw disk view); close it first" ]] ||
        { echo "$output"; false; }
    [ "$(vmadm get "$U" | jq -r .state)" = stopped ]
    exec 7>&-
    run vmadm start "$U"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    [ "$(vmadm get "$U" | jq -r .state)" = running ]
}

@test "vmadm start right after a dd sees the bytes (close flushes; release may lag)" {
    printf 'marker-%s' "$U" > "$F/m"
    dd if="$F/m" of="$D1" conv=notrunc status=none
    run vmadm start "$U"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    vmadm stop -F "$U"
    [ "$(head -c "$(stat -c %s "$F/m")" "$D1")" = "$(cat "$F/m")" ]
}

@test "after vmadm delete the view is gone" {
    [ -e "$D1" ]
    vmadm delete "$U" 2>/dev/null
    [ ! -e "$D1" ]
    [ ! -e "$ZV/rdsk/zones/$U" ]
    run dd if=/dev/zero of="$D1" bs=1M count=1
    [ "$status" -ne 0 ]
    [ ! -e "$D1" ] # never a placeholder file that takes the bytes
}

@test "no daemon: the path does not exist and dd cannot create it" {
    stop_zvold
    [ ! -e "$D1" ]
    run dd if=/dev/zero of="$D1" bs=1M count=1
    [ "$status" -ne 0 ]
    [ ! -e "$D1" ]
}

@test "kill -9 of the daemon with a view open: nothing left running, the next daemon recovers the mount" {
    head -c $((8 * MiB)) /dev/urandom > "$F/pat"
    dd if="$F/pat" of="$D1" bs=1M conv=notrunc status=none
    exec 7<>"$D1"
    pgrep -f "^qemu-nbd .*$VMADM_ROOT" >/dev/null
    kill -9 "$ZVOLD_PID"
    wait "$ZVOLD_PID" 2>/dev/null || true
    ZVOLD_PID=
    exec 7>&-
    wait_for bash -c "! pgrep -f '^qemu-nbd .*$VMADM_ROOT'"
    run stat "$D1"
    [ "$status" -ne 0 ] # the dead mount
    start_zvold
    grep -q "detaching a stale mount at $ZV" "$F/zvold.log"
    cmp -n $((8 * MiB)) "$F/pat" "$D1"
    [ "$(grep -c " $ZV " /proc/mounts)" -eq 1 ]
    # its locks died with it: the VM starts
    run vmadm start "$U"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
}

@test "a second daemon for the same root refuses" {
    run "$BUILD_DIR/src/vmadm-zvold/vmadm-zvold"
    [ "$status" -eq 1 ]
    [[ "$output" == *"already running for $VMADM_ROOT"* ]]
    [ "$(grep -c " $ZV " /proc/mounts)" -eq 1 ]
}

@test "kill -9 of a writer: the view closes, nothing runs behind it, the volume is consistent and the VM starts" {
    dd if=/dev/urandom of="$D1" bs=1M count=96 conv=notrunc 2>/dev/null &
    local w=$!
    wait_for pgrep -f "^qemu-nbd .*$VMADM_ROOT"
    sleep 0.3
    kill -9 "$w"
    wait "$w" 2>/dev/null || true
    wait_for bash -c "! pgrep -f '^qemu-nbd .*$VMADM_ROOT'"
    qemu-img check -q "$(volume_file "zones/$U/disk1")"
    [ "$(stat -c %s "$D1")" -eq $((96 * MiB)) ]
    run vmadm start "$U"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
}

@test "SEEK_DATA/SEEK_HOLE follow the volume's allocation: qemu-img convert of the view is sparse" {
    head -c $MiB /dev/urandom > "$F/mib"
    dd if="$F/mib" of="$D1" bs=1M seek=40 conv=notrunc status=none
    run python3 -c '
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
print(os.lseek(fd, 0, os.SEEK_DATA) >> 20, os.lseek(fd, 40 << 20, os.SEEK_HOLE) >> 20)
try:
    os.lseek(fd, 50 << 20, os.SEEK_DATA)
except OSError as e:
    print(e.errno == 6)' "$D1"
    [ "$output" = "$(printf '40 41\nTrue')" ] || { echo "$output"; false; }
    qemu-img convert -O raw "$D1" "$F/view.raw"
    [ "$(stat -c %s "$F/view.raw")" -eq $((96 * MiB)) ]
    [ "$(du -k "$F/view.raw" | cut -f1)" -lt 4096 ]
    cmp <(dd if="$F/view.raw" bs=1M skip=40 count=1 status=none) "$F/mib"
}

@test "vmstore snapshot of a volume under an open view: later writes through the view fail, the snapshot keeps its bytes" {
    run python3 -c '
import os, subprocess, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
os.pwrite(fd, b"before" * 1000, 0)
os.fsync(fd)
subprocess.run(["vmstore", "snapshot", sys.argv[2]], check=True)
try:
    os.pwrite(fd, b"after!" * 1000, 0)
    print("written")
except OSError as e:
    print("errno", e.errno)' "$D1" "zones/$U/disk1@s1"
    [ "$output" = "errno 5" ] || { echo "$output"; false; }
    grep -q "zones/$U/disk1 changed while its view was open" "$F/zvold.log"
    # a new open sees the volume as it is now, and writes work again
    [ "$(head -c 6 "$D1")" = before ]
    printf after! | dd of="$D1" conv=notrunc status=none
    [ "$(head -c 6 "$D1")" = after! ]
    vmstore rollback "zones/$U/disk1@s1"
    [ "$(head -c 6 "$D1")" = before ]
}
