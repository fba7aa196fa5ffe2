#!/usr/bin/env bats
# Live migration primitives of lib/hv (issue 17 --live) between two
# VMADM_ROOTs on this host, with a real TCG guest: the destination gets
# the disks at a live snapshot S (vmstore send | receive, as vmadm
# send/receive will), then QEMU mirrors the top layers over NBD and moves
# RAM (tests/e2e/migrate_live_driver.c calls the lib/hv functions, one
# step per run and root, as lib/migrate will).

bats_require_minimum_version 1.5.0
load ../cli/helpers
load hvm

DRIVER=${BUILD_DIR:-}/tests/unit/hv/migrate_live_driver

setup() {
    hvm_setup
    A=$VMADM_ROOT
    B=$(mktemp -d /tmp/vmt.XXXXXX)
    VMADM_ROOT=$B vm_test_nictags
    VMADM_ROOT=$B imgadm install -m "$VMADM_TEST_CACHE/hvm-A.json" -f "$VMADM_TEST_CACHE/hvm-A.raw.zst" >/dev/null
    D=$(mktemp -d /tmp/vmm.XXXXXX)
    PAYLOAD="{\"brand\": \"bhyve\", \"uuid\": \"$U\", \"ram\": 256,
              \"disks\": [{\"image_uuid\": \"$IMG_HVM_A\", \"boot\": true, \"model\": \"virtio\"},
                          {\"size\": 64, \"model\": \"virtio\"}]}"
}

teardown() {
    VMADM_ROOT=$B vmadm stop -F "$U" >/dev/null 2>&1 || true
    VMADM_ROOT=$B vm_teardown_root
    rm -rf "$D"
    VMADM_ROOT=$A
    hvm_teardown
}

# qmp ROOT JSON...: QMP commands to the VM of ROOT; prints the last reply.
qmp() {
    local root=$1
    shift
    { echo '{"execute":"qmp_capabilities"}'; printf '%s\n' "$@"; } |
        socat -t 5 - "UNIX-CONNECT:$root/run/vms/$U/qmp.sock" | grep -v '"event"' | tail -n 1
}
hmp() { qmp "$1" "$(jq -nc --arg c "$2" '{"execute":"human-monitor-command","arguments":{"command-line":$c}}')" >/dev/null; }
status_of() { qmp "$1" '{"execute":"query-status"}' | jq -r .return.status; }

# wait_console ROOT PATTERN: the VM's serial console shows PATTERN.
wait_console() {
    local i
    for i in $(seq 1 "$BOOT_TIMEOUT"); do
        grep -aq "$2" "$1/run/vms/$U/console.log" 2>/dev/null && return 0
        sleep 1
    done
    echo "no '$2' on the console of $1" >&2
    return 1
}

# disk1 of ROOT (stopped) reads 1 MiB of HEX at OFFSET MiB.
reads() {
    local f
    f="$1/var/vmstore/zones/data/$(jq -r ".datasets[\"zones/$U/disk1\"].file" "$1/var/vmstore/zones/pool.json")"
    qemu-io -f qcow2 -r -c "read -P $3 ${2}M 1M" "$f" | grep -q '^read 1048576/1048576'
}

# The source runs (booted, a marker before and after a live snapshot S);
# the destination root has the same VM, stopped, its disks at S.
prepare() {
    echo "$PAYLOAD" | sed 's/"ram"/"autoboot": true, "ram"/' | vmadm create
    wait_console "$A" 'VMADM-GUEST: ready'
    hmp "$A" 'qemu-io disk1 "write -P 0x11 47M 1M"'
    vmadm create-snapshot "$U" S
    hmp "$A" 'qemu-io disk1 "write -P 0x22 48M 1M"'
    echo "$PAYLOAD" | sed 's/"ram"/"autoboot": false, "ram"/' | VMADM_ROOT=$B vmadm create
    for d in disk0 disk1; do
        VMADM_ROOT=$B vmstore destroy -r "zones/$U/$d"
        vmstore send "zones/$U/$d@vmsnap-S" | VMADM_ROOT=$B vmstore receive "zones/$U/$d"
    done
    VMADM_ROOT=$B "$DRIVER" incoming "$U" "$D"
    [ "$(status_of "$B")" = inmigrate ]
    [ -S "$D/nbd.sock" ] && [ -S "$D/mig.sock" ]
}

@test "live migration: disks mirrored over NBD, RAM moved, the guest goes on at the destination; the source is left paused" {
    prepare
    t0=$(date +%s%N)
    run --separate-stderr "$DRIVER" send "$U" "$D/nbd.sock" "$D/mig.sock"
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }
    echo "$output" > "$BATS_TEST_TMPDIR/result.json"
    VMADM_ROOT=$B "$DRIVER" finish "$U" 1
    t1=$(date +%s%N)
    echo "# result: $output, wall to destination running: $(( (t1 - t0) / 1000000 )) ms" >&3
    jq -e '.downtime_ms >= 0 and .total_ms > 0 and .ram_bytes > 0 and .disk_bytes >= 1048576' \
        "$BATS_TEST_TMPDIR/result.json"
    grep -q 'progress disks' <<<"$stderr" && grep -q 'progress memory\|progress switch' <<<"$stderr"
    # the destination runs, the source is paused after the migration
    [ "$(status_of "$B")" = running ]
    [ "$(VMADM_ROOT=$B vmadm list -H -o state "uuid=$U")" = running ]
    [ "$(status_of "$A")" = postmigrate ]
    # no mirror or NBD node left on the source
    ! qmp "$A" '{"execute":"query-named-block-nodes","arguments":{"flat":true}}' | grep -q '"mig-'
    # the same guest goes on: it never booted at the destination, and its
    # init loop reports a disk growing there
    ! grep -aq 'VMADM-GUEST: booted' "$B/run/vms/$U/console.log"
    qmp "$B" '{"execute":"block_resize","arguments":{"device":"disk1","size":134217728}}' | grep -q return
    wait_console "$B" 'VMADM-GUEST: disk .* size 128'
    # what was written before S (sent as a layer), after S (mirrored) and
    # at the destination is all there
    hmp "$B" 'qemu-io disk1 "write -P 0x33 49M 1M"'
    VMADM_ROOT=$B vmadm stop -F "$U"
    reads "$B" 47 0x11 && reads "$B" 48 0x22 && reads "$B" 49 0x33
}

@test "live migration cancelled mid-way from another process: the source runs on as before, the destination QEMU is gone" {
    prepare
    pid=$(vmadm get "$U" | jq .pid)
    # 1 MB/s: the RAM phase lasts long enough to be cancelled
    "$DRIVER" send "$U" "$D/nbd.sock" "$D/mig.sock" 1000000 2> "$BATS_TEST_TMPDIR/send.err" &
    spid=$!
    for i in $(seq 1 100); do
        grep -q 'progress memory' "$BATS_TEST_TMPDIR/send.err" && break
        sleep 0.2
    done
    grep -q 'progress memory' "$BATS_TEST_TMPDIR/send.err"
    "$DRIVER" cancel "$U"
    run wait "$spid"
    [ "$status" -eq 1 ]
    grep -q 'migration' "$BATS_TEST_TMPDIR/send.err"
    # the source: same QEMU, running, no migration leftovers, the guest alive
    [ "$(status_of "$A")" = running ]
    [ "$(vmadm get "$U" | jq .pid)" = "$pid" ]
    ! qmp "$A" '{"execute":"query-named-block-nodes","arguments":{"flat":true}}' | grep -q '"mig-'
    [ "$(qmp "$A" '{"execute":"query-block-jobs"}' | jq '.return | length')" = 0 ]
    qmp "$A" '{"execute":"block_resize","arguments":{"device":"disk1","size":134217728}}' | grep -q return
    wait_console "$A" 'VMADM-GUEST: disk .* size 128'
    # the destination: nothing left running
    VMADM_ROOT=$B "$DRIVER" finish "$U" 0
    [ "$(VMADM_ROOT=$B vmadm list -H -o state "uuid=$U")" = stopped ]
    # and the source can still be migrated afterwards (its disk1 grew)
    hmp "$A" 'qemu-io disk1 "write -P 0x44 50M 1M"'
    VMADM_ROOT=$B vmstore resize "zones/$U/disk1" 128M
    VMADM_ROOT=$B "$DRIVER" incoming "$U" "$D"
    "$DRIVER" send "$U" "$D/nbd.sock" "$D/mig.sock" >/dev/null
    VMADM_ROOT=$B "$DRIVER" finish "$U" 1
    [ "$(status_of "$B")" = running ]
    VMADM_ROOT=$B vmadm stop -F "$U"
    reads "$B" 48 0x22 && reads "$B" 50 0x44
}
