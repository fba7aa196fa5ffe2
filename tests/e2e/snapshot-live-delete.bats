#!/usr/bin/env bats
# delete-snapshot of a running bhyve VM (issue 17 "Also", issue 19): QEMU
# merges the snapshot's layer into the file above it (block-stream) while
# the guest runs, then storage forgets the snapshot; if QEMU cannot, the
# snapshot stays and no data is lost.

bats_require_minimum_version 1.5.0
load ../cli/helpers
load hvm

setup() {
    hvm_setup
    echo "{\"brand\": \"bhyve\", \"uuid\": \"$U\", \"autoboot\": true, \"ram\": 128,
           \"disks\": [{\"image_uuid\": \"$IMG_HVM_A\", \"boot\": true, \"model\": \"virtio\"},
                       {\"size\": 64, \"model\": \"virtio\"}]}" | vmadm create
    [ "$(vmadm list -H -o state "uuid=$U")" = running ]
}

teardown() {
    hvm_teardown
}

snaps() { vmadm get "$1" | jq -c '[.snapshots[].name]'; }

# qio COMMAND: qemu-io on disk1 through the running QEMU's block layer
# (as the guest would write; the result is checked on the files later).
qio() {
    jq -nc --arg c "qemu-io disk1 \"$1\"" '{"execute":"human-monitor-command","arguments":{"command-line":$c}}' |
        { echo '{"execute":"qmp_capabilities"}'; cat; } |
        socat -t 5 - "UNIX-CONNECT:$VMADM_ROOT/run/vms/$U/qmp.sock" | jq -es '.[-1] | has("return")' >/dev/null
}

volfile() {
    echo "$VMADM_ROOT/var/vmstore/zones/data/$(jq -r ".datasets[\"zones/$U/disk1\"].file" \
        "$VMADM_ROOT/var/vmstore/zones/pool.json")"
}

# reads OFFSET_MIB HEX...: disk1 (stopped) reads 1 MiB of each HEX at
# offsets OFFSET, OFFSET+1, ... MiB.
reads() {
    local off=$1 f
    f=$(volfile)
    shift
    for p in "$@"; do
        qemu-io -f qcow2 -r -c "read -P $p ${off}M 1M" "$f" | grep -q '^read 1048576/1048576' ||
            { echo "disk1 at ${off} MiB does not read $p" >&2; return 1; }
        off=$((off + 1))
    done
}

layers() { ls "$VMADM_ROOT/var/vmstore/zones/data" | grep -c 'qcow2$'; }

@test "running bhyve: delete-snapshot merges the layer live (middle and newest); data and the other snapshots stay" {
    pid=$(vmadm get "$U" | jq .pid)
    qio "write -P 0x11 0 1M"
    vmadm create-snapshot "$U" s1
    qio "write -P 0x22 1M 1M"
    vmadm create-snapshot "$U" s2
    qio "write -P 0x33 2M 1M"
    vmadm create-snapshot "$U" s3
    qio "write -P 0x44 3M 1M"
    n0=$(layers)
    # s2's layer sits between s1's and s3's: it goes into s3's (frozen)
    run --separate-stderr vmadm delete-snapshot "$U" s2
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }
    [ "$stderr" = "Deleted snapshot s2 for VM $U" ]
    [ "$(snaps "$U")" = '["s3","s1"]' ]
    # s3's layer goes into the active file the guest writes
    vmadm delete-snapshot "$U" s3
    [ "$(snaps "$U")" = '["s1"]' ]
    [ "$(layers)" -eq $((n0 - 4)) ]           # two layers of each disk are gone
    # the same QEMU went on, and still writes
    [ "$(vmadm get "$U" | jq .pid)" = "$pid" ]
    [ "$(vmadm list -H -o state "uuid=$U")" = running ]
    qio "write -P 0x55 4M 1M"
    vmadm stop -F "$U"
    reads 0 0x11 0x22 0x33 0x44 0x55
    qemu-img check -q "$(volfile)"
    # s1 still is the disk as it was then
    vmadm rollback-snapshot "$U" s1
    vmadm stop -F "$U"
    reads 0 0x11
    reads 1 0x00
}

@test "running bhyve: when QEMU cannot merge, delete-snapshot fails, the snapshot stays, nothing is lost" {
    qio "write -P 0x11 0 1M"
    vmadm create-snapshot "$U" s1
    qio "write -P 0x22 1M 1M"
    n0=$(layers)
    # QEMU keeps running but nobody can reach its QMP socket any more
    mv "$VMADM_ROOT/run/vms/$U/qmp.sock" "$VMADM_ROOT/run/vms/$U/qmp.sock.hidden"
    run vmadm delete-snapshot "$U" s1
    [ "$status" -eq 1 ]
    [[ "$output" == *"cannot destroy 'zones/$U/disk"*"@vmsnap-s1'"* ]] || { echo "$output"; false; }
    [ "$(snaps "$U")" = '["s1"]' ]
    [ "$(layers)" -eq "$n0" ]
    [ "$(vmadm list -H -o state "uuid=$U")" = running ]
    mv "$VMADM_ROOT/run/vms/$U/qmp.sock.hidden" "$VMADM_ROOT/run/vms/$U/qmp.sock"
    vmadm stop -F "$U"
    reads 0 0x11 0x22
    vmadm rollback-snapshot "$U" s1
    vmadm stop -F "$U"
    reads 0 0x11 0x00
}
