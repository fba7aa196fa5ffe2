#!/usr/bin/env bats
# Layered filesystem clones (issue 18 part 2, lib/storage/layers.h): with
# VMADM_FS_CLONES=overlay a clone of a filesystem snapshot is an overlayfs
# stack on the snapshot's frozen tree, not a copy.  Clones are isolated
# from each other, snapshots freeze the changes, rollback/destroy/gc leave
# no mount behind, sizes are honest, send reads the merged view.

load helpers
bats_require_minimum_version 1.5.0

setup() {
    [ "$(id -u)" = 0 ] || skip "overlayfs mounts need root"
    vm_setup_root
    export VMADM_FS_CLONES=overlay
    D=$VMADM_ROOT/var/vmstore/zones/data
    vmstore create zones/img
    mkdir -p "$VMADM_ROOT/zones/img/root/etc" "$VMADM_ROOT/zones/img/root/usr"
    echo base > "$VMADM_ROOT/zones/img/root/etc/f"
    echo gone > "$VMADM_ROOT/zones/img/root/etc/g"
    chown 1000:1000 "$VMADM_ROOT/zones/img/root/usr"
    head -c 4M /dev/urandom > "$VMADM_ROOT/zones/img/root/usr/big"
    vmstore snapshot zones/img@final
}

teardown() {
    vm_teardown_root
}

# mounts under this root (mount points, one a line)
mounts() { awk -v r="$VMADM_ROOT/" 'index($5, r) == 1 { print $5 }' /proc/self/mountinfo; }
datafile() {
    python3 -c "import json,sys; print(json.load(open('$VMADM_ROOT/var/vmstore/zones/pool.json'))['datasets'][sys.argv[1]]['file'])" "$1"
}

@test "a clone is layered and O(1): isolated from its siblings, image delete refused while it exists" {
    vmstore clone zones/img@final zones/c1
    vmstore clone zones/img@final zones/c2
    f=$(datafile zones/c1)
    [ -f "$D/$f/lower" ] && [ -d "$D/$f/upper" ]
    img_layer=$(python3 -c "import json; m=json.load(open('$VMADM_ROOT/var/vmstore/zones/pool.json')); print(m['datasets']['zones/img']['snaps'][0]['layer'])")
    [ "$(cat "$D/$f/lower")" = "$img_layer/fs" ]
    # nothing of the image was copied
    [ -z "$(find "$D/$f/upper" -mindepth 1)" ]
    [ "$(cat "$VMADM_ROOT/zones/c1/root/etc/f")" = base ]
    echo mine > "$VMADM_ROOT/zones/c1/root/etc/new"
    rm "$VMADM_ROOT/zones/c1/root/etc/g"
    [ ! -e "$VMADM_ROOT/zones/c2/root/etc/new" ]
    [ "$(cat "$VMADM_ROOT/zones/c2/root/etc/g")" = gone ]
    [ "$(cat "$VMADM_ROOT/zones/img/root/etc/g")" = gone ]
    [ "$(stat -c %u "$VMADM_ROOT/zones/c1/root/usr")" = 1000 ]
    run vmstore get -Ho value origin zones/c1
    [ "$output" = "zones/img@final" ]
    run vmstore destroy zones/img@final
    [ "$status" -eq 1 ]
    [[ "$output" == "cannot destroy 'zones/img@final': snapshot has dependent clones"* ]]
    [ "$(mounts | wc -l)" -eq 2 ]
}

@test "used counts the clone's own changes, referenced the image too" {
    vmstore clone zones/img@final zones/c1
    head -c 1M /dev/urandom > "$VMADM_ROOT/zones/c1/root/etc/mine"
    used=$(vmstore get -Hpo value used zones/c1)
    ref=$(vmstore get -Hpo value referenced zones/c1)
    [ "$used" -ge $((1 << 20)) ] && [ "$used" -lt $((2 << 20)) ]
    [ "$ref" -ge $((5 << 20)) ]
    # list agrees (every dataset, one walk of the changes only)
    run vmstore list -Hp -o name,used zones/c1
    [ "$output" = "$(printf 'zones/c1\t%s' "$used")" ]
}

@test "snapshots freeze the changes; rollback and clone of a snapshot; destroy leaves no mount" {
    vmstore clone zones/img@final zones/c1
    echo one > "$VMADM_ROOT/zones/c1/root/etc/f"
    rm "$VMADM_ROOT/zones/c1/root/etc/g"
    vmstore snapshot zones/c1@s1
    l=$(python3 -c "import json; m=json.load(open('$VMADM_ROOT/var/vmstore/zones/pool.json')); print(m['datasets']['zones/c1']['snaps'][0]['layer'])")
    [ -f "$D/$l/lower" ] && [ ! -e "$D/$l/work" ]
    # the frozen upper holds the changes only
    [ "$(du -sk "$D/$l/upper" | cut -f1)" -lt 100 ]
    echo two > "$VMADM_ROOT/zones/c1/root/etc/f"
    echo later > "$VMADM_ROOT/zones/c1/root/etc/later"
    vmstore rollback zones/c1@s1
    [ "$(cat "$VMADM_ROOT/zones/c1/root/etc/f")" = one ]
    [ ! -e "$VMADM_ROOT/zones/c1/root/etc/later" ]
    [ ! -e "$VMADM_ROOT/zones/c1/root/etc/g" ]
    vmstore clone zones/c1@s1 zones/c3
    [ "$(cat "$VMADM_ROOT/zones/c3/root/etc/f")" = one ]
    [ ! -e "$VMADM_ROOT/zones/c3/root/etc/g" ]
    [ "$(wc -l < "$D/$(datafile zones/c3)/lower")" -eq 2 ]
    run vmstore destroy -r zones/c1
    [ "$status" -eq 1 ]
    vmstore destroy zones/c3
    vmstore destroy -r zones/c1
    [ -z "$(mounts)" ]
    [ "$(ls "$D" | wc -l)" -eq 3 ] # pool root, img, img@final
}

@test "after a reboot (mounts gone) the next command mounts the views again" {
    vmstore clone zones/img@final zones/c1
    echo mine > "$VMADM_ROOT/zones/c1/root/etc/new"
    mounts | sort -r | while read -r m; do umount "$m"; done
    [ ! -e "$VMADM_ROOT/zones/c1/root/etc/new" ]
    vmstore list >/dev/null
    [ "$(cat "$VMADM_ROOT/zones/c1/root/etc/new")" = mine ]
    [ "$(mounts | wc -l)" -eq 1 ]
    # a second reader does not stack a second mount
    vmstore list >/dev/null
    [ "$(mounts | wc -l)" -eq 1 ]
}

@test "a dead creator's mounted leftover is unmounted and collected" {
    vmstore clone zones/img@final zones/c1
    f=$(datafile zones/c1)
    dead=$(sh -c 'echo $$')
    left="0123456789abcdef-p$dead.work.d"
    mkdir -p "$D/$left/upper" "$D/$left/work" "$D/$left/fs"
    cp "$D/$f/lower" "$D/$left/lower"
    mount -t overlay overlay -o "lowerdir=$D/$(cat "$D/$f/lower"),upperdir=$D/$left/upper,workdir=$D/$left/work" "$D/$left/fs"
    touch "$VMADM_ROOT/var/vmstore/zones/tx/$dead"
    [ "$(mounts | grep -c "$left")" -eq 1 ]
    vmstore list >/dev/null
    [ "$(mounts | grep -c "$left" || true)" -eq 0 ]
    [ ! -e "$D/$left" ]
    [ "$(cat "$VMADM_ROOT/zones/c1/root/etc/f")" = base ]
}

@test "send reads the merged view of a layered snapshot; receive and origin streams" {
    vmstore clone zones/img@final zones/c1
    echo mine > "$VMADM_ROOT/zones/c1/root/etc/new"
    rm "$VMADM_ROOT/zones/c1/root/etc/g"
    vmstore snapshot zones/c1@s
    vmstore send zones/c1@s > "$BATS_TEST_TMPDIR/full"
    vmstore receive zones/r < "$BATS_TEST_TMPDIR/full"
    diff -r "$VMADM_ROOT/zones/c1/root" "$VMADM_ROOT/zones/r/root"
    [ ! -e "$VMADM_ROOT/zones/r/root/etc/g" ]
    [ "$(stat -c %u "$VMADM_ROOT/zones/r/root/usr")" = 1000 ]
    # relative to the origin: only the changes travel, the result is layered
    vmstore send -i zones/img@final zones/c1@s > "$BATS_TEST_TMPDIR/incr"
    [ "$(stat -c %s "$BATS_TEST_TMPDIR/incr")" -lt $((1 << 20)) ]
    vmstore receive zones/r2 < "$BATS_TEST_TMPDIR/incr"
    diff -r "$VMADM_ROOT/zones/c1/root" "$VMADM_ROOT/zones/r2/root"
    [ -f "$D/$(datafile zones/r2)/lower" ]
}

@test "overlayfs unusable (a pool path it cannot name): the clone is a copy, with a warning" {
    vm_teardown_root
    VMADM_ROOT=$(mktemp -d /tmp/vmt:colon.XXXXXX)
    export VMADM_ROOT
    vmstore create zones/img
    mkdir -p "$VMADM_ROOT/zones/img/root"
    echo base > "$VMADM_ROOT/zones/img/root/f"
    vmstore snapshot zones/img@final
    run --separate-stderr vmstore clone zones/img@final zones/c1
    [ "$status" -eq 0 ]
    [[ "$stderr" == "warning: overlayfs layers unavailable ("*"); copying the filesystem instead" ]]
    [ "$(cat "$VMADM_ROOT/zones/c1/root/f")" = base ]
    [ ! -e "$VMADM_ROOT/var/vmstore/zones/data/$(datafile zones/c1)/lower" ]
    [ -z "$(mounts)" ]
}

@test "switch off (VMADM_FS_CLONES=copy): clones are copies, as before" {
    export VMADM_FS_CLONES=copy
    vmstore clone zones/img@final zones/c1
    [ ! -e "$D/$(datafile zones/c1)/lower" ]
    [ -z "$(mounts)" ]
}

@test "switch unset (the default): clones are layered, a fallback to the copy is only logged" {
    unset VMADM_FS_CLONES
    run --separate-stderr vmstore clone zones/img@final zones/c1
    [ "$status" -eq 0 ] && [ -z "$stderr" ]
    [ -e "$D/$(datafile zones/c1)/lower" ]
    [ "$(stat -f -c %T "$VMADM_ROOT/zones/c1")" = overlayfs ]
    vmstore destroy zones/c1
    [ -z "$(mounts)" ]
}
