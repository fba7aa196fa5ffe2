#!/usr/bin/env bats
# vmadm create-snapshot / rollback-snapshot / delete-snapshot (reference
# S13–S23) on a container and on a bhyve VM: names, duplicates,
# newest-first listing, rollback reverting files and tags and destroying
# newer snapshots, the VM started after a rollback.

bats_require_minimum_version 1.5.0
load ../cli/helpers
load containers

setup() {
    ct_setup
}

teardown() {
    for u in $(ls "${VMADM_ROOT:-/nonexistent}/etc/vms" 2>/dev/null); do
        vmadm stop -F "$u" >/dev/null 2>&1 || true
    done
    vm_teardown_root
}

snaps() { vmadm get "$1" | jq -c '[.snapshots[].name]'; }

# two_disk_bhyve PROPS: a bhyve VM on image A plus a 64 MiB data disk, with
# the extra top-level JSON properties PROPS; prints its uuid.
two_disk_bhyve() {
    imgadm install -m "$VMADM_TEST_CACHE/hvm-A.json" -f "$VMADM_TEST_CACHE/hvm-A.raw.zst" >/dev/null
    echo "{\"brand\": \"bhyve\", $1,
           \"disks\": [{\"image_uuid\": \"$IMG_HVM_A\", \"boot\": true, \"model\": \"virtio\"},
                       {\"size\": 64, \"model\": \"virtio\"}]}" |
        vmadm create 2>&1 | sed -n 's/^Successfully created VM //p'
}

# hmp UUID COMMAND: a human-monitor command through the VM's QMP socket
# (qemu-io's own output goes to QEMU's stdout, so results are checked on
# the files once the VM is stopped).
hmp() {
    local sock=$VMADM_ROOT/run/vms/$1/qmp.sock
    jq -nc --arg c "$2" '{"execute":"human-monitor-command","arguments":{"command-line":$c}}' |
        { echo '{"execute":"qmp_capabilities"}'; cat; } | socat -t 5 - "UNIX-CONNECT:$sock" |
        jq -es '.[-1] | has("return")' >/dev/null
}

# volfile UUID DISK: the active data file of zones/<uuid>/<disk>.
volfile() {
    echo "$VMADM_ROOT/var/vmstore/zones/data/$(jq -r ".datasets[\"zones/$1/$2\"].file" \
        "$VMADM_ROOT/var/vmstore/zones/pool.json")"
}

# holds UUID DISK HEX: the disk reads as 1 MiB of byte HEX at offset 0.
holds() {
    qemu-io -f qcow2 -r -c "read -P $3 0 1M" "$(volfile "$1" "$2")" | grep -q '^read 1048576/1048576'
}

@test "container: snapshots listed newest first; rollback reverts files and tags, drops newer snapshots, starts the VM" {
    imgadm install -m "$VMADM_TEST_CACHE/ct-A.json" -f "$VMADM_TEST_CACHE/ct-A.tar.gz" >/dev/null
    U=$(echo "{\"brand\": \"joyent-minimal\", \"image_uuid\": \"$IMG_CT_A\", \"tags\": {\"foo\": 1}}" |
        vmadm create 2>&1 | sed -n 's/^Successfully created VM //p')
    vmadm login "$U" sh -c 'echo MAGIC1 > /root/hello.txt'
    run --separate-stderr vmadm create-snapshot "$U" snapshot1
    [ "$status" -eq 0 ] && [ "$stderr" = "Created snapshot snapshot1 for VM $U" ]
    vmadm login "$U" sh -c 'echo MAGIC2 > /root/hello.txt'
    echo '{"set_tags": {"foo": 2}}' | vmadm update "$U"
    vmadm create-snapshot "$U" snapshot2
    run vmadm create-snapshot "$U" snapshot2
    [ "$status" -eq 1 ] && [ "$output" = 'snapshot with name "snapshot2" already exists.' ]
    vmadm login "$U" sh -c 'echo MAGIC3 > /root/hello.txt'
    vmadm create-snapshot "$U" snapshot3
    [ "$(snaps "$U")" = '["snapshot3","snapshot2","snapshot1"]' ]
    for bad in "bacon & eggs & ham" "this,string,has,commas" "$(printf 'x%.0s' $(seq 97))"; do
        run vmadm create-snapshot "$U" "$bad"
        [ "$status" -eq 1 ] && [ "$output" = "Invalid snapshot name" ]
    done
    [ "$(snaps "$U")" = '["snapshot3","snapshot2","snapshot1"]' ]

    vmadm stop "$U"
    run --separate-stderr vmadm rollback-snapshot "$U" snapshot2
    [ "$status" -eq 0 ] && [ "$stderr" = "Rolled back snapshot snapshot2 for VM $U" ]
    [ "$(vmadm list -H -o state "uuid=$U")" = running ]          # always started (S18)
    [ "$(vmadm login "$U" cat /root/hello.txt)" = MAGIC2 ]
    [ "$(snaps "$U")" = '["snapshot2","snapshot1"]' ]            # newer one destroyed
    [ "$(vmadm get "$U" | jq .tags.foo)" = 2 ]

    vmadm rollback-snapshot "$U" snapshot1
    [ "$(vmadm login "$U" cat /root/hello.txt)" = MAGIC1 ]
    [ "$(vmadm get "$U" | jq .tags.foo)" = 1 ]                   # metadata reverted (S19)
    [ "$(snaps "$U")" = '["snapshot1"]' ]

    run vmadm delete-snapshot "$U" nosuch
    [ "$status" -eq 1 ] && [ "$output" = "No snapshot named \"nosuch\" for $U" ]
    vmadm delete-snapshot "$U" snapshot1
    [ "$(snaps "$U")" = '[]' ]
    run vmadm create-snapshot "$U"
    [ "$status" -eq 2 ]
}

@test "bhyve: a snapshot covers every disk; rollback restores both disks' data" {
    U=$(two_disk_bhyve '"autoboot": false, "flexible_disk_size": 1024')
    vmadm create-snapshot "$U" before
    run vmstore list -H -t snapshot -o name -r "zones/$U"
    [[ "$output" == *"zones/$U@vmsnap-before"* ]]
    [[ "$output" == *"zones/$U/disk0@vmsnap-before"* ]]
    [[ "$output" == *"zones/$U/disk1@vmsnap-before"* ]]
    # Write into disk1 behind the guest's back, then roll back.
    f=$(vmstore get -Ho value mountpoint "zones/$U" >/dev/null; true)
    echo '{"set_customer_metadata": {"k": "after"}}' | vmadm update "$U"
    vmadm start "$U"
    vmadm create-snapshot "$U" live        # a running bhyve VM is snapshotted live (S22)
    vmadm delete-snapshot "$U" live        # and its snapshots deleted live
    vmadm stop -F "$U"
    run vmadm rollback-snapshot "$U" before
    [ "$status" -eq 0 ]
    [ "$(vmadm get "$U" | jq -r '.customer_metadata.k // "none"')" = none ]
    [ "$(vmadm list -H -o state "uuid=$U")" = running ]
    vmadm stop -F "$U"
    vmadm delete-snapshot "$U" before
    run vmstore list -H -t snapshot -o name -r "zones/$U"
    [[ "$output" != *vmsnap* ]]
}

@test "bhyve: a rollback interrupted between two disks is completed by the next command" {
    U=$(two_disk_bhyve '"autoboot": false, "flexible_disk_size": 1024')
    vmadm create-snapshot "$U" s1
    vmadm create-snapshot "$U" s2
    # The state a kill -9 leaves: intent recorded, only disk1 rolled back.
    cfg=$VMADM_ROOT/etc/vms/$U/vm.json
    jq '. + {"_rollback": "s1"}' "$cfg" > "$cfg.new" && mv "$cfg.new" "$cfg"
    vmstore rollback -r "zones/$U/disk1@vmsnap-s1"
    run vmstore list -H -o name -t snapshot "zones/$U/disk0@vmsnap-s2"
    [ "$status" -eq 0 ]
    # Any command completes it: disk0 and the root roll back too.
    [ "$(vmadm get "$U" | jq -c '[.snapshots[].name]')" = '["s1"]' ]
    run vmstore list -H -o name -t snapshot -r "zones/$U"
    [[ "$output" != *vmsnap-s2* ]] || { echo "$output"; false; }
    ! jq -e 'has("_rollback")' "$cfg"
}

@test "bhyve running: create-snapshot is live and crash-consistent; the guest goes on; rollback returns the data of that instant" {
    U=$(two_disk_bhyve '"autoboot": true, "ram": 128')
    [ "$(vmadm list -H -o state "uuid=$U")" = running ]
    pid=$(vmadm get "$U" | jq .pid)
    # data written through QEMU's block layer, as the guest would
    hmp "$U" 'qemu-io disk1 "write -P 0x11 0 1M"'
    run --separate-stderr vmadm create-snapshot "$U" s1
    [ "$status" -eq 0 ] && [ "$stderr" = "Created snapshot s1 for VM $U" ]
    hmp "$U" 'qemu-io disk1 "write -P 0x22 0 1M"'
    # the same QEMU runs on, its disks now on the new overlays
    [ "$(vmadm get "$U" | jq .pid)" = "$pid" ]
    [ "$(vmadm list -H -o state "uuid=$U")" = running ]
    [ "$(snaps "$U")" = '["s1"]' ]
    vmstore list -H -t snapshot -o name -r "zones/$U" | grep -qx "zones/$U/disk0@vmsnap-s1"

    # once stopped, the disk holds the later data; the snapshot the earlier
    vmadm stop -F "$U"
    holds "$U" disk1 0x22
    vmadm rollback-snapshot "$U" s1
    [ "$(vmadm list -H -o state "uuid=$U")" = running ]          # S18
    vmadm stop -F "$U"
    holds "$U" disk1 0x11
    # live snapshots stack; deleting one is live too (snapshot-live-delete.bats)
    vmadm start "$U"
    hmp "$U" 'qemu-io disk1 "write -P 0x33 0 1M"'
    vmadm create-snapshot "$U" s2
    hmp "$U" 'qemu-io disk1 "write -P 0x44 0 1M"'
    [ "$(snaps "$U")" = '["s2","s1"]' ]
    vmadm delete-snapshot "$U" s1
    vmadm stop -F "$U"
    holds "$U" disk1 0x44
    vmadm rollback-snapshot "$U" s2
    vmadm stop -F "$U"
    holds "$U" disk1 0x33
    vmadm delete-snapshot "$U" s2
    [ "$(snaps "$U")" = '[]' ]
    holds "$U" disk1 0x33
}

@test "bhyve running: if QEMU cannot be moved onto the overlays, the VM is stopped, no snapshot is left and the data is intact" {
    U=$(two_disk_bhyve '"autoboot": true, "ram": 128')
    [ "$(vmadm list -H -o state "uuid=$U")" = running ]
    hmp "$U" 'qemu-io disk1 "write -P 0x55 0 1M"'
    # QEMU keeps running but nobody can reach its QMP socket any more
    mv "$VMADM_ROOT/run/vms/$U/qmp.sock" "$VMADM_ROOT/run/vms/$U/qmp.sock.hidden"
    run vmadm create-snapshot "$U" s1
    [ "$status" -eq 1 ]
    [[ "$output" == *"snapshot not taken, the VM was stopped"* ]]
    [ "$(vmadm list -H -o state "uuid=$U")" = stopped ]
    [ "$(snaps "$U")" = '[]' ]
    run vmstore list -H -t snapshot -o name -r "zones/$U"
    [[ "$output" != *vmsnap* ]]
    holds "$U" disk1 0x55
    # and the VM starts again on its disks
    vmadm start "$U"
    [ "$(vmadm list -H -o state "uuid=$U")" = running ]
}
