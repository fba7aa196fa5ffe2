#!/usr/bin/env bats
# Pool safety (issue 14, findings 4 and 8), tried as the failure would
# happen: pool.json lost or damaged (the old code recreated it empty and the
# next recovery deleted every disk and image), a pool directory with data
# but no metadata, and a full pool (nothing could free space: destroy and
# delete failed or lied).

load helpers
load fixtures/vmadm-lib

POOLDIR=

setup() {
    vm_setup_root
    POOLDIR=$VMADM_ROOT/var/vmstore/zones
}

teardown() {
    if [ -n "$POOLDIR" ] && mountpoint -q "$POOLDIR"; then
        umount "$POOLDIR" || umount -l "$POOLDIR"
    fi
    vm_teardown_root
}

# Every data file and directory of the pool, sorted (what must survive).
data_files() {
    # (not the mount view's links: derived state, rebuilt from pool.json)
    (cd "$POOLDIR/data" && find . ! -type l | sort)
}

# A pid that is certainly not running: marks a crashed process's tx, which
# makes the next command run recovery (and its garbage collection).
dead_tx() {
    local pid
    pid=$(sh -c 'echo $$')
    touch "$POOLDIR/tx/$pid"
}

# A pool with an image, a container VM, a volume with a snapshot and, last,
# one more filesystem (the change a lost pool.json forgets).
populated_pool() {
    install_ct
    create_ok "$(fixture joyent-minimal)"
    vmstore create -V 16M zones/vol
    vmstore snapshot zones/vol@s1
    vmstore create zones/last
}

@test "pool.json deleted: the next command restores the previous generation, warns, deletes nothing" {
    populated_pool
    before=$(data_files)
    n=$(echo "$before" | wc -l)
    [ "$n" -gt 5 ]
    rm "$POOLDIR/pool.json"
    dead_tx # the old code ran its garbage collection right here
    run --separate-stderr vmstore list -H -o name
    echo "$stderr"
    [ "$status" -eq 0 ]
    [[ "$stderr" == "warning: pool 'zones': $POOLDIR/pool.json was missing; restored the previous generation from $POOLDIR/pool.json.prev"* ]]
    [[ "$output" == *"zones/$VM"* ]]
    [[ "$output" == *"zones/vol"* ]]
    [[ "$output" != *"zones/last"* ]] # the last change is the one lost
    [ "$(data_files)" = "$before" ]
    # later commands and recoveries keep everything too
    run vmadm list -H -o uuid
    [ "$output" = "$VM" ]
    dead_tx
    vmstore list >/dev/null
    vmstore create zones/after
    dead_tx
    vmstore list >/dev/null
    [ -z "$(comm -23 <(echo "$before") <(data_files))" ]
    # only the explicit collection removes the forgotten filesystem's data
    run vmstore gc
    [ "$status" -eq 0 ]
    [ "$(echo "$output" | wc -l)" -eq 1 ]
    [[ "$output" == "collected "*".d" ]]
    vmstore list -t all >/dev/null
    vmstore destroy zones/after
    vmadm delete "$VM"
}

@test "pool.json damaged: restored from pool.json.prev, the damaged file kept aside" {
    populated_pool
    before=$(data_files)
    echo '{"version":1,"datas' > "$POOLDIR/pool.json"
    run --separate-stderr vmstore list -H -o name
    [ "$status" -eq 0 ]
    [[ "$stderr" == *"pool.json was unreadable; restored the previous generation"* ]]
    [[ "$stderr" == *"the damaged file is kept as $POOLDIR/pool.json.bad."* ]]
    ls "$POOLDIR"/pool.json.bad.*
    [[ "$output" == *"zones/vol"* ]]
    [ "$(data_files)" = "$before" ]
}

@test "pool.json and pool.json.prev gone: every command refuses, names the path, changes nothing" {
    populated_pool
    before=$(data_files)
    rm "$POOLDIR/pool.json" "$POOLDIR/pool.json.prev"
    dead_tx
    listing=$(cd "$POOLDIR" && find . ! -path './tx*' | sort)
    msg="cannot open pool 'zones': $POOLDIR/pool.json is missing but $POOLDIR holds data"
    run --separate-stderr vmstore list
    [ "$status" -eq 1 ]
    [[ "$stderr" == "$msg"*"restore pool.json (or pool.json.prev) from a backup, or move $POOLDIR away"* ]]
    run --separate-stderr vmstore create zones/x
    [ "$status" -eq 1 ]
    [[ "$stderr" == "$msg"* ]]
    run --separate-stderr vmadm delete "$VM"
    [ "$status" -eq 1 ]
    [[ "$stderr" == "Failed to delete VM $VM: $msg"* ]]
    run vmadm list -H -o uuid
    [ "$output" = "$VM" ]
    [ ! -e "$POOLDIR/pool.json" ]
    [ "$(data_files)" = "$before" ]
    [ "$(cd "$POOLDIR" && find . ! -path './tx*' | sort)" = "$listing" ]
}

@test "recovery never deletes what the previous generation references; vmstore gc does" {
    populated_pool
    before=$(data_files)
    # A bad commit (a bug, a hand edit) that forgets every dataset but the
    # root; pool.json.prev still has them all.
    cp "$POOLDIR/pool.json" "$POOLDIR/pool.json.prev"
    jq -c '.datasets |= with_entries(select(.key == "zones"))' "$POOLDIR/pool.json.prev" > "$POOLDIR/pool.json"
    dead_tx
    run vmstore list -H -o name
    [ "$output" = "zones" ]
    [ "$(data_files)" = "$before" ]
    # the operator puts the good generation back: all there
    cp "$POOLDIR/pool.json.prev" "$POOLDIR/pool.json"
    run vmstore list -H -o name
    [[ "$output" == *"zones/vol"* ]]
    [ "$(data_files)" = "$before" ]
    qemu-img check -q "$POOLDIR/data/$(jq -r '.datasets["zones/vol"].file' "$POOLDIR/pool.json")"
    # explicit collection removes only what nothing references
    orphan=0123456789abcdef-p$(sh -c 'echo $$').qcow2
    touch "$POOLDIR/data/$orphan"
    run vmstore gc
    echo "gc: $output"
    [ "$status" -eq 0 ]
    [ "$output" = "collected $orphan" ]
    [ "$(data_files)" = "$before" ]
}

@test "a pool is created only in a directory without data" {
    other=$VMADM_ROOT/var/vmstore/other
    mkdir -p "$other/data/0123456789abcdef-p1.d/fs"
    echo precious > "$other/data/0123456789abcdef-p1.d/fs/file"
    run --separate-stderr env VMADM_POOL=other vmstore list
    [ "$status" -eq 1 ]
    [[ "$stderr" == "cannot open pool 'other': $other/pool.json is missing but $other holds data ('data')"* ]]
    [ "$(cat "$other/data/0123456789abcdef-p1.d/fs/file")" = precious ]
    [ ! -e "$other/pool.json" ]
    # any other file counts as data too
    rm -r "$other/data"
    echo x > "$other/notes"
    run --separate-stderr env VMADM_POOL=other vmstore list
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"holds data ('notes')"* ]]
    # an empty directory (a fresh filesystem's lost+found allowed) is fine
    rm "$other/notes"
    mkdir "$other/lost+found"
    run env VMADM_POOL=other vmstore list -H -o name
    [ "$status" -eq 0 ]
    [ "$output" = "other" ]
    [ -e "$other/pool.json" ]
}

# mount_small_pool: a 64 MiB tmpfs as the pool's directory (created empty).
mount_small_pool() {
    mkdir -p "$POOLDIR"
    mount -t tmpfs -o size=64m vmadm-test-pool "$POOLDIR"
}

avail_kb() {
    df -k --output=avail "$POOLDIR" | tail -1 | tr -d ' '
}

# fill_pool: writes a filler file until ENOSPC; the pool is then full.
fill_pool() {
    ! dd if=/dev/zero of="$POOLDIR/filler" bs=64k status=none 2>/dev/null
    [ "$(avail_kb)" -lt 64 ]
}

@test "full pool: vmadm delete works, frees the VM's storage and says so" {
    mount_small_pool
    install_ct
    create_ok "$(fixture joyent-minimal)"
    dd if=/dev/urandom of="$VMADM_ROOT/zones/$VM/root/big" bs=1M count=24 status=none
    [ -s "$POOLDIR/reserve" ]
    fill_pool
    run --separate-stderr vmadm delete "$VM"
    echo "$stderr"
    [ "$status" -eq 0 ]
    [ "$stderr" = "Successfully deleted VM $VM" ]
    [ -z "$(datasets_of "$VM")" ]
    # the 24 MiB came back (the reserve, re-created, takes 4 MiB)
    [ "$(avail_kb)" -gt $((20 * 1024)) ]
    [ "$(stat -c %s "$POOLDIR/reserve")" -eq $((4 * 1024 * 1024)) ]
    run vmadm list -H
    [ -z "$output" ]
}

@test "full pool: vmstore destroy of a volume and of a snapshot works and frees the space" {
    mount_small_pool
    vmstore create -V 32M zones/vol
    f=$POOLDIR/data/$(jq -r '.datasets["zones/vol"].file' "$POOLDIR/pool.json")
    qemu-io -f qcow2 -c 'write -P 0x5a 0 12M' "$f" >/dev/null
    vmstore snapshot zones/vol@s1
    qemu-io -f qcow2 -c 'write -P 0x33 0 12M' "$f" >/dev/null
    fill_pool
    # a change that needs space cannot take the reserve
    run vmstore create -V 8M zones/v2
    [ "$status" -eq 1 ]
    [ "$(stat -c %b "$POOLDIR/reserve")" -ge 8192 ]
    # destroying works and frees space
    run vmstore destroy zones/vol@s1
    echo "$output"
    [ "$status" -eq 0 ]
    [ "$(avail_kb)" -gt $((6 * 1024)) ]
    fill_pool
    run vmstore destroy zones/vol
    [ "$status" -eq 0 ]
    [ "$(avail_kb)" -gt $((8 * 1024)) ]
    run vmstore list -H -t all -o name
    [ "$output" = "zones" ]
    [ -z "$(ls "$POOLDIR/data" | grep qcow2 || true)" ]
}

@test "full pool: a failed image install leaves no partial dataset or data" {
    mount_small_pool
    vmstore list >/dev/null
    before=$(data_files)
    free0=$(avail_kb)
    u=7d1c0d7e-3c4b-4f7a-9e21-6b8f0c2d4e99
    make_zvol_image "$u" 96
    dd if=/dev/urandom of="$BATS_TEST_TMPDIR/$u.raw" bs=1M count=80 conv=notrunc status=none
    sha=$(sha1sum "$BATS_TEST_TMPDIR/$u.raw" | cut -d' ' -f1)
    jq --arg s "$sha" '.files[0].sha1 = $s' "$BATS_TEST_TMPDIR/$u.json" > "$BATS_TEST_TMPDIR/m.json"
    run imgadm install -m "$BATS_TEST_TMPDIR/m.json" -f "$BATS_TEST_TMPDIR/$u.raw"
    echo "$output"
    [ "$status" -ne 0 ]
    run vmstore list -H -t all -o name
    [ "$output" = "zones" ]
    [ "$(data_files)" = "$before" ]
    [ "$(avail_kb)" -ge $((free0 - 64)) ]
}
