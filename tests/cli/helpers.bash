# Sourced by every bats file: puts the built tools on PATH and gives each
# test its own VMADM_ROOT, so tests never touch each other's state.
: "${BUILD_DIR:=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)/build}"
export BUILD_DIR
export PATH="$BUILD_DIR/src/vmadm:$BUILD_DIR/src/vmstore:$BUILD_DIR/src/imgadm:$BUILD_DIR/src/vminfod:$BUILD_DIR/src/vminfo:$PATH"
# Tests run without a vminfod unless they start their own (vm_start_vminfod).
export VMINFOD_ADDR="${VMINFOD_ADDR:-none}"
# Guest images and rootfs tarballs built by tests/guest/build.sh.
export VMADM_TEST_CACHE="${VMADM_TEST_CACHE:-/var/cache/vmadm-test}"
export VMADM_ACCEL="${VMADM_ACCEL:-tcg}"

vm_setup_root() {
    VMADM_ROOT="$(mktemp -d /tmp/vmt.XXXXXX)"
    export VMADM_ROOT
    vm_test_nictags
}

# vm_no_nictags: an empty tag store, for tests that make their own tags.
vm_no_nictags() { rm -f "$VMADM_ROOT/etc/nictags.json"; }

# The nic tags the fixtures use ("admin", "external"): local tags whose
# bridges are named for this root (vta<suffix>, vte<suffix>), made when a
# VM on them starts and removed by vm_teardown_root.
vm_test_nictags() {
    local s=${VMADM_ROOT##*.}
    mkdir -p "$VMADM_ROOT/etc"
    (umask 077; cat > "$VMADM_ROOT/etc/nictags.json" <<EOT
{"admin": {"bridge": "vta$s", "link": "", "mac": "", "mtu": 0, "local": true, "owned": true},
 "external": {"bridge": "vte$s", "link": "", "mac": "", "mtu": 0, "local": true, "owned": true}}
EOT
    )
}

vm_teardown_root() {
    [ -n "${VMADM_ROOT:-}" ] && [ -d "$VMADM_ROOT" ] || return 0
    # Kill anything still running from this root (QEMU, containers, daemons).
    for p in "$VMADM_ROOT"/run/vms/*/pid "$VMADM_ROOT"/run/*.pid; do
        [ -f "$p" ] && kill -9 "$(cat "$p")" 2>/dev/null || true
    done
    pkill -9 -f -- "$VMADM_ROOT" 2>/dev/null || true
    local s=${VMADM_ROOT##*.}
    ip link del "vta$s" 2>/dev/null || true
    ip link del "vte$s" 2>/dev/null || true
    # Layered filesystem views (overlayfs, lib/storage/layers.h) mounted
    # under the root: detached first, so rm never walks into them.
    awk -v r="$VMADM_ROOT/" 'index($5, r) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
        while read -r m; do umount -l "$m" 2>/dev/null || true; done
    rm -rf "$VMADM_ROOT"
}

# make_zvol_image UUID SIZE_MIB [DIR]: a small raw disk image plus a valid
# imgadm manifest (DIR/UUID.json, DIR/UUID.raw); no guest inside.
make_zvol_image() {
    local uuid=$1 size=$2 dir=${3:-$BATS_TEST_TMPDIR}
    truncate -s "${size}M" "$dir/$uuid.raw"
    printf 'image %s\n' "$uuid" | dd of="$dir/$uuid.raw" conv=notrunc status=none
    local sha; sha=$(sha1sum "$dir/$uuid.raw" | cut -d' ' -f1)
    local bytes; bytes=$(stat -c %s "$dir/$uuid.raw")
    cat > "$dir/$uuid.json" <<EOT
{"v": 2, "uuid": "$uuid", "name": "test-$size", "version": "1.0.0", "type": "zvol",
 "os": "linux", "state": "active", "disabled": false, "public": false,
 "image_size": $size,
 "files": [{"sha1": "$sha", "size": $bytes, "compression": "none"}],
 "requirements": {}}
EOT
}

# allow_host_dir DIR: lets HVM disks and cdroms use host files under DIR
# (the operator's allow-list, $VMADM_ROOT/etc/hvm-paths.allow).
allow_host_dir() {
    mkdir -p "$VMADM_ROOT/etc"
    echo "$1" >> "$VMADM_ROOT/etc/hvm-paths.allow"
}

# wait_for CMD...: retries CMD for up to 15 s (quietly); fails saying what.
wait_for() {
    local i
    for i in $(seq 300); do "$@" >/dev/null 2>&1 && return 0; sleep 0.05; done
    echo "timed out waiting for: $*" >&2
    return 1
}

# start_vminfod [ARGS...]: a vminfod for this root on a free TCP port, its
# log in $BATS_TEST_TMPDIR/vminfod.log; sets VMINFOD_PID, exports
# VMINFOD_ADDR (also in $ADDR) once it answers /ping.
start_vminfod() {
    rm -f "$VMADM_ROOT/run/vminfod.addr"
    vminfod --listen 127.0.0.1:0 "$@" 2>>"$BATS_TEST_TMPDIR/vminfod.log" 3>&- &
    VMINFOD_PID=$!
    wait_for test -s "$VMADM_ROOT/run/vminfod.addr"
    ADDR=$(cat "$VMADM_ROOT/run/vminfod.addr")
    export VMINFOD_ADDR=$ADDR
    wait_for curl -sf "http://$ADDR/ping"
}

# start_zvold: vmadm-zvold (raw disk views) for this root in the background,
# its log in $BATS_TEST_TMPDIR/zvold.log; waits for the mount at $ZV
# ($VMADM_ROOT/dev/zvol) and sets ZVOLD_PID.  stop_zvold (call it before
# vm_teardown_root) stops it and leaves no mount behind, whatever happened.
start_zvold() {
    ZV=$VMADM_ROOT/dev/zvol
    "$BUILD_DIR/src/vmadm-zvold/vmadm-zvold" 2>>"$BATS_TEST_TMPDIR/zvold.log" 3>&- &
    ZVOLD_PID=$!
    wait_for mountpoint -q "$ZV"
}

stop_zvold() {
    local rc=0
    if [ -n "${ZVOLD_PID:-}" ] && kill "$ZVOLD_PID" 2>/dev/null; then
        wait "$ZVOLD_PID" || rc=$?
    fi
    ZVOLD_PID=
    local zv=${VMADM_ROOT:-/nonexistent}/dev/zvol
    if mountpoint -q "$zv" 2>/dev/null || [ -n "$(stat "$zv" 2>&1 >/dev/null)" ]; then
        fusermount3 -u -z "$zv" 2>/dev/null || umount -l "$zv" 2>/dev/null || true
    fi
    # a daemon that did not exit cleanly (a sanitizer report, a crash) fails
    [ "$rc" -eq 0 ] || { echo "vmadm-zvold exited with $rc:" >&2; cat "$BATS_TEST_TMPDIR/zvold.log" >&2; return 1; }
}
