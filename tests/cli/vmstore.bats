#!/usr/bin/env bats
# vmstore driven as an operator would; every refused command is followed by
# a check that nothing changed.

load helpers

setup() {
    vm_setup_root
    vmstore list >/dev/null
}

teardown() {
    vm_teardown_root
}

# listing of everything, for before/after comparisons
state() {
    vmstore list -Hp -t all -o name,volsize,origin,refreservation,quota,userrefs
}

volpath() {
    python3 -c "import json,sys; m=json.load(open('$VMADM_ROOT/var/vmstore/zones/pool.json')); print('$VMADM_ROOT/var/vmstore/zones/data/' + m['datasets'][sys.argv[1]]['file'])" "$1"
}

@test "pool root exists; default columns like zfs list" {
    run vmstore list
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "$(printf 'NAME   USED  AVAIL  REFER  MOUNTPOINT')" ] || [[ "${lines[0]}" =~ ^NAME\ +USED\ +AVAIL\ +REFER\ +MOUNTPOINT$ ]]
    [[ "${lines[1]}" =~ ^zones\  ]]
    [[ "${lines[1]}" == *"$VMADM_ROOT/zones" ]]
    [ -d "$VMADM_ROOT/zones" ]
}

@test "create filesystem and volume; get origin and properties" {
    vmstore create zones/vm1
    vmstore create -V 512M zones/vm1/disk0
    [ -d "$VMADM_ROOT/zones/vm1" ]
    run vmstore get -Ho value origin zones/vm1/disk0
    [ "$output" = "-" ]
    run vmstore get -Hpo value volsize zones/vm1/disk0
    [ "$output" = "536870912" ]
    run vmstore get -Ho value volsize zones/vm1/disk0
    [ "$output" = "512M" ]
    run vmstore get -H -o name,property,value,source type zones/vm1
    [ "$output" = "$(printf 'zones/vm1\ttype\tfilesystem\t-')" ]
    run vmstore list -H -o name,type -t volume
    [ "$output" = "$(printf 'zones/vm1/disk0\tvolume')" ]
    # human sizes like zfs
    vmstore create -s -V 1536M zones/vm1/disk1
    run vmstore list -H -o volsize zones/vm1/disk1
    [ "$output" = "1.50G" ]
    # -p creates parents
    vmstore create -p zones/a/b/c
    [ -d "$VMADM_ROOT/zones/a/b/c" ]
}

@test "clone from image snapshot records origin; destroy refused while clone exists" {
    truncate -s 10M "$BATS_TEST_TMPDIR/img.raw"
    printf 'IMAGE' | dd of="$BATS_TEST_TMPDIR/img.raw" conv=notrunc status=none
    vmstore import -f raw "$BATS_TEST_TMPDIR/img.raw" zones/img
    vmstore snapshot zones/img@final
    vmstore create zones/vm
    vmstore clone -o volsize=20M zones/img@final zones/vm/disk0
    run vmstore get -Ho value origin zones/vm/disk0
    [ "$output" = "zones/img@final" ]
    run vmstore get -Hpo value volsize zones/vm/disk0
    [ "$output" = "20971520" ]
    run qemu-io -f qcow2 -c 'read -P 0x49 0 1' "$(volpath zones/vm/disk0)"
    [[ "$output" != *failed* ]]

    before=$(state)
    run vmstore destroy zones/img@final
    [ "$status" -eq 1 ]
    [[ "$output" == "cannot destroy 'zones/img@final': snapshot has dependent clones"* ]]
    run vmstore destroy zones/img
    [ "$status" -eq 1 ]
    [ "$output" = "cannot destroy 'zones/img': volume has children" ]
    run vmstore destroy -r zones/img
    [ "$status" -eq 1 ]
    [[ "$output" == *"has dependent clones"* ]]
    [ "$(state)" = "$before" ]

    vmstore destroy -r zones/vm
    vmstore destroy -r zones/img
    run vmstore list -H -t all -o name
    [ "$output" = "zones" ]
}

@test "errors in zfs style, exit 1; usage errors exit 2; nothing changes" {
    vmstore create zones/vm
    before=$(state)
    run vmstore get all zones/nope
    [ "$status" -eq 1 ]
    [ "$output" = "cannot open 'zones/nope': dataset does not exist" ]
    run vmstore create zones/vm
    [ "$status" -eq 1 ]
    [ "$output" = "cannot create 'zones/vm': dataset already exists" ]
    run vmstore create zones/x/y
    [ "$status" -eq 1 ]
    [ "$output" = "cannot create 'zones/x/y': parent does not exist" ]
    run vmstore create -V 1000 zones/vm/d
    [ "$status" -eq 1 ]
    [ "$output" = "cannot create 'zones/vm/d': volume size must be a multiple of volume block size" ]
    run vmstore set quota=lots zones/vm
    [ "$status" -eq 1 ]
    [ "$output" = "cannot set property for 'zones/vm': bad numeric value 'lots'" ]
    run vmstore set used=1 zones/vm
    [ "$status" -eq 1 ]
    [ "$output" = "cannot set property for 'zones/vm': 'used' is readonly" ]
    run vmstore snapshot zones/nope@s
    [ "$status" -eq 1 ]
    run vmstore rename zones/vm zones/vm/sub
    [ "$status" -eq 1 ]
    [[ "$output" == *"descendant"* ]]
    [ "$(state)" = "$before" ]

    run vmstore frobnicate
    [ "$status" -eq 2 ]
    run vmstore list -Z
    [ "$status" -eq 2 ]
    [[ "$output" == *"invalid option 'Z'"* ]]
    run vmstore create
    [ "$status" -eq 2 ]
    run vmstore create -V 10Q zones/vm/d
    [ "$status" -eq 2 ]
    run vmstore clone zones/x@y
    [ "$status" -eq 2 ]
    [ "$(state)" = "$before" ]
}

@test "snapshot, rollback (-r), recursive snapshot of a VM dataset" {
    vmstore create zones/vm
    vmstore create -V 16M zones/vm/disk0
    p=$(volpath zones/vm/disk0)
    echo one > "$VMADM_ROOT/zones/vm/file"
    qemu-io -f qcow2 -c 'write -P 0x11 0 64k' "$p" >/dev/null
    vmstore snapshot -r zones/vm@s1
    echo two > "$VMADM_ROOT/zones/vm/file"
    qemu-io -f qcow2 -c 'write -P 0x22 0 64k' "$p" >/dev/null
    vmstore snapshot -r zones/vm@s2
    run vmstore list -H -t snapshot -o name -r zones/vm
    [ "${#lines[@]}" -eq 4 ]

    before=$(state)
    run vmstore rollback zones/vm/disk0@s1
    [ "$status" -eq 1 ]
    [[ "${lines[0]}" == "cannot rollback to 'zones/vm/disk0@s1': more recent snapshots or bookmarks exist" ]]
    [ "$(state)" = "$before" ]

    vmstore rollback -r zones/vm/disk0@s1
    vmstore rollback -r zones/vm@s1
    [ "$(cat "$VMADM_ROOT/zones/vm/file")" = one ]
    run qemu-io -f qcow2 -c 'read -P 0x11 0 64k' "$p"
    [[ "$output" != *failed* ]]
    run vmstore list -H -t snapshot -o name -r zones/vm
    [ "$output" = "$(printf 'zones/vm@s1\nzones/vm/disk0@s1')" ]
    # the disk link survives the filesystem rollback? (volumes have none)
    vmstore create zones/vm/data
    vmstore rollback zones/vm@s1
    [ -d "$VMADM_ROOT/zones/vm/data" ]
}

@test "holds: hold, holds columns, refused destroy, release" {
    vmstore create -V 8M zones/img
    vmstore snapshot zones/img@final
    vmstore hold imgadm zones/img@final
    run vmstore holds zones/img@final
    [ "$status" -eq 0 ]
    [[ "${lines[0]}" =~ ^NAME\ +TAG\ +TIMESTAMP$ ]]
    [[ "${lines[1]}" =~ ^zones/img@final\ +imgadm\ + ]]
    run vmstore get -Ho value userrefs zones/img@final
    [ "$output" = "1" ]
    before=$(state)
    run vmstore destroy zones/img@final
    [ "$status" -eq 1 ]
    [[ "$output" == "cannot destroy 'zones/img@final': snapshot is held"* ]]
    run vmstore hold imgadm zones/img@final
    [ "$status" -eq 1 ]
    [[ "$output" == *"tag already exists on this dataset" ]]
    run vmstore release nope zones/img@final
    [ "$status" -eq 1 ]
    [[ "$output" == *"no such tag on this dataset" ]]
    [ "$(state)" = "$before" ]
    vmstore release imgadm zones/img@final
    vmstore destroy zones/img@final
    run vmstore list -H -t snapshot
    [ "$status" -eq 0 ]
    [[ "$output" != *@* ]]
}

@test "rename and swap keep data and origins" {
    vmstore create -V 8M zones/img
    vmstore snapshot zones/img@final
    vmstore create zones/vm
    vmstore clone zones/img@final zones/vm/disk0
    vmstore create -V 8M zones/vm/disk0-new
    qemu-io -f qcow2 -c 'write -P 0xbb 0 4k' "$(volpath zones/vm/disk0-new)" >/dev/null
    vmstore swap zones/vm/disk0 zones/vm/disk0-new
    run vmstore get -Ho value origin zones/vm/disk0-new
    [ "$output" = "zones/img@final" ]
    run vmstore get -Ho value origin zones/vm/disk0
    [ "$output" = "-" ]
    run qemu-io -f qcow2 -c 'read -P 0xbb 0 4k' "$(volpath zones/vm/disk0)"
    [[ "$output" != *failed* ]]
    vmstore rename zones/img zones/image
    run vmstore get -Ho value origin zones/vm/disk0-new
    [ "$output" = "zones/image@final" ]
    vmstore rename zones/vm zones/vm2
    [ -d "$VMADM_ROOT/zones/vm2" ]
    [ ! -e "$VMADM_ROOT/zones/vm" ]
    before=$(state)
    run vmstore rename zones/vm2/disk0 zones/image
    [ "$status" -eq 1 ]
    [ "$output" = "cannot rename to 'zones/image': dataset already exists" ]
    [ "$(state)" = "$before" ]
}

@test "space: refreservation and quota refused up front with numbers" {
    vmstore create zones/vm
    before=$(state)
    run vmstore create -V 100T zones/vm/huge
    [ "$status" -eq 1 ]
    [[ "$output" == "cannot create 'zones/vm/huge': out of space: refreservation auto (volsize 100T) needs "*"(pool size "*", free "*", reserved "*")" ]]
    [ "$(state)" = "$before" ]
    [ -z "$(ls "$VMADM_ROOT/var/vmstore/zones/data" | grep -c qcow2 | grep -v '^0$')" ]

    vmstore set quota=100M zones/vm
    vmstore create -V 64M zones/vm/disk0
    before=$(state)
    run vmstore create -V 64M zones/vm/disk1
    [ "$status" -eq 1 ]
    [[ "$output" == "cannot create 'zones/vm/disk1': size is greater than available space"* ]]
    run vmstore set volsize=128M zones/vm/disk0
    [ "$status" -eq 1 ]
    [[ "$output" == "cannot set property for 'zones/vm/disk0': size is greater than available space"* ]]
    run vmstore resize zones/vm/disk0 128M
    [ "$status" -eq 1 ]
    run vmstore resize zones/vm/disk0 32M
    [ "$status" -eq 1 ]
    [[ "$output" == *"new size must be greater than current size"* ]]
    [ "$(state)" = "$before" ]
    vmstore resize --shrink zones/vm/disk0 32M
    run vmstore get -Hpo value volsize zones/vm/disk0
    [ "$output" = "33554432" ]
    run qemu-img info --output=json "$(volpath zones/vm/disk0)"
    [[ "$output" == *'"virtual-size": 33554432'* ]]
}

@test "changed blocks between snapshots" {
    vmstore create -V 16M zones/d
    p=$(volpath zones/d)
    qemu-io -f qcow2 -c 'write 0 64k' "$p" >/dev/null
    vmstore snapshot zones/d@a
    qemu-io -f qcow2 -c 'write 1M 64k' "$p" >/dev/null
    vmstore snapshot zones/d@b
    run vmstore changed zones/d@a zones/d@b
    [ "$output" = '[{"offset":1048576,"length":65536}]' ]
}

# The qemu-img convert of an import into this root, once it runs.
import_pid() {
    pgrep -f "qemu-img convert .*$VMADM_ROOT/var/vmstore/zones/data/.*\.work\.qcow2" | head -1
}

@test "an image import copies without the pool lock: other datasets change meanwhile; a killed import leaves nothing" {
    # all data, so the copy lasts long enough to be caught running
    dd if=/dev/urandom of="$BATS_TEST_TMPDIR/img.raw" bs=1M count=256 status=none
    vmstore create -V 64M zones/before

    # Freeze the copy half way: the import now holds no lock, so other
    # changes to the pool must go through (bounded by timeout, not timed).
    vmstore import -f raw "$BATS_TEST_TMPDIR/img.raw" zones/img 3>&- &
    IMP=$!
    for _ in $(seq 500); do p=$(import_pid); [ -n "$p" ] && break; done
    [ -n "$p" ]
    kill -STOP "$p"
    timeout 20 vmstore create -V 64M zones/during
    timeout 20 vmstore snapshot zones/before@s1
    timeout 20 vmstore destroy zones/before@s1
    # nothing half-made is listed, and the name is not taken yet
    run vmstore list -H -o name zones/img
    [ "$status" -ne 0 ]
    kill -CONT "$p"
    wait "$IMP"
    run vmstore get -Hpo value volsize zones/img
    [ "$output" = 268435456 ]
    vmstore list -H -o name zones/during

    # kill -9 of the importer while its copy runs: no dataset, and the
    # partial copy goes once its creator is gone
    vmstore import -f raw "$BATS_TEST_TMPDIR/img.raw" zones/img2 3>&- &
    IMP=$!
    for _ in $(seq 500); do p=$(import_pid); [ -n "$p" ] && break; done
    [ -n "$p" ]
    kill -STOP "$p"
    kill -9 "$IMP"
    wait "$IMP" || true
    kill -9 "$p"
    run vmstore list -H -o name zones/img2
    [ "$status" -ne 0 ]
    vmstore create -V 64M zones/after   # a change runs the garbage collection
    run sh -c "ls '$VMADM_ROOT/var/vmstore/zones/data' | grep -c '\.work\.' "
    [ "$output" = 1 ]   # zones/img's data only
}

# The cp of a filesystem clone into this root, once it runs.
clone_cp_pid() {
    pgrep -f "cp -a --reflink=auto $VMADM_ROOT/var/vmstore/zones/data/.*" | head -1
}

@test "a filesystem clone copies without the pool lock; its origin destroyed meanwhile fails it cleanly" {
    export VMADM_FS_CLONES=copy # the copy path (layered clones copy nothing)
    vmstore create zones/root
    mkdir -p "$VMADM_ROOT/zones/root/etc"
    for i in $(seq 2000); do echo "$i" > "$VMADM_ROOT/zones/root/etc/f$i"; done
    vmstore snapshot zones/root@final
    before=$(state)

    vmstore clone zones/root@final zones/c1 3>&- &
    CL=$!
    for _ in $(seq 500); do p=$(clone_cp_pid); [ -n "$p" ] && break; done
    [ -n "$p" ]
    kill -STOP "$p"
    timeout 20 vmstore create -V 64M zones/during
    run vmstore list -H -o name zones/c1
    [ "$status" -ne 0 ]
    kill -CONT "$p"
    wait "$CL"
    [ "$(vmstore get -Ho value origin zones/c1)" = zones/root@final ]
    [ "$(cat "$VMADM_ROOT/zones/c1/etc/f2000")" = 2000 ]

    # the origin goes away while the copy is stopped: the clone is refused
    vmstore snapshot zones/root@other
    vmstore clone zones/root@other zones/c2 2>"$BATS_TEST_TMPDIR/clone.err" 3>&- &
    CL=$!
    for _ in $(seq 500); do p=$(clone_cp_pid); [ -n "$p" ] && break; done
    [ -n "$p" ]
    kill -STOP "$p"
    timeout 20 vmstore destroy zones/root@other
    kill -CONT "$p"
    if wait "$CL"; then echo "the clone of a destroyed snapshot succeeded"; false; fi
    grep -q "cannot open 'zones/root@other': dataset does not exist" "$BATS_TEST_TMPDIR/clone.err"
    run vmstore list -H -o name zones/c2
    [ "$status" -ne 0 ]
    run sh -c "ls '$VMADM_ROOT/var/vmstore/zones/data' | grep -c '\.work\.' "
    [ "$output" = 1 ]   # zones/c1's data only
}
