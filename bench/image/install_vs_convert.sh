#!/bin/bash
# imgadm install of a 10 GiB sparse raw zvol image (zeros + some MB of data)
# against a plain `qemu-img convert -O qcow2` of the same file.  Prints both
# wall times and the ratio (target <= 1.2x), the SHA-1 of the file alone
# (the floor: the manifest's sha1 covers all 10 GiB, holes included, and
# must be checked before the image is committed), and the same disk shipped
# as a compact qcow2.  Not a test: figures only.
#
# usage: bench/image/install_vs_convert.sh [BUILD_DIR] [DATA_MIB]
set -euo pipefail
BUILD_DIR=${1:-${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}}
DATA_MIB=${2:-64}
IMGADM=$BUILD_DIR/src/imgadm/imgadm
[ -x "$IMGADM" ] || { echo "no imgadm in $BUILD_DIR" >&2; exit 2; }

W=$(mktemp -d /tmp/imgbench.XXXXXX)
trap 'rm -rf "$W"' EXIT
UUID=5e0a8f3c-1b2d-4c6e-8f9a-0b1c2d3e4f50

truncate -s 10G "$W/disk.raw"
# Data in a few places, like a partition table + filesystem metadata + files.
per=$(( DATA_MIB / 4 ))
for off in 0 1024 4096 9000; do
    dd if=/dev/urandom of="$W/disk.raw" bs=1M count=$per seek=$off conv=notrunc status=none
done
echo "image: 10 GiB sparse raw, $(du -m "$W/disk.raw" | cut -f1) MiB allocated"
sha=$(sha1sum "$W/disk.raw" | cut -d' ' -f1)
cat > "$W/m.json" <<EOT
{"v": 2, "uuid": "$UUID", "name": "bench", "version": "1", "type": "zvol", "os": "linux",
 "image_size": 10240, "files": [{"sha1": "$sha", "size": $(stat -c %s "$W/disk.raw"), "compression": "none"}]}
EOT

now() { date +%s.%N; }
sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true

t0=$(now)
qemu-img convert -f raw -O qcow2 "$W/disk.raw" "$W/plain.qcow2"
t1=$(now)
sync
export VMADM_ROOT=$W/root VMINFOD_ADDR=none
t2=$(now)
"$IMGADM" install -q -m "$W/m.json" -f "$W/disk.raw"
t3=$(now)

conv=$(echo "$t1 - $t0" | bc -l)
inst=$(echo "$t3 - $t2" | bc -l)
printf 'qemu-img convert -O qcow2 : %8.3f s\n' "$conv"
printf 'imgadm install           : %8.3f s  (sha1 of all 10 GiB + convert, in parallel)\n' "$inst"
printf 'ratio install/convert    : %8.2fx  (target <= 1.2x)\n' "$(echo "$inst / $conv" | bc -l)"

# The floor: SHA-1 over 10 GiB, computed in memory by OpenSSL (python's
# hashlib), no I/O at all.  The manifest's sha1 covers all 10 GiB, holes
# included, and imgadm must check it before committing the image; qemu-img
# convert skips the holes and hashes nothing.  SHA-1 is sequential by
# construction, so no implementation gets under this on one core.
floor=$(python3 - "$(stat -c %s "$W/disk.raw")" <<'EOF'
import hashlib, sys, time
n = int(sys.argv[1]); buf = bytes(16 << 20); h = hashlib.sha1()
t = time.perf_counter()
while n > 0:
    h.update(buf if n >= len(buf) else buf[:n]); n -= len(buf)
print("%.3f" % (time.perf_counter() - t))
EOF
)
printf 'sha1 alone (in memory)   : %8.3f s  (OpenSSL via hashlib: the floor for a verified install)\n' "$floor"
printf 'ratio install/sha1       : %8.2fx\n' "$(echo "$inst / $floor" | bc -l)"

# The same disk shipped as qcow2 (what `imgadm create` writes before
# compression): the sha1 covers only the allocated clusters.
"$IMGADM" delete "$UUID" >/dev/null
qemu-img convert -f raw -O qcow2 "$W/disk.raw" "$W/ship.qcow2"
sha=$(sha1sum "$W/ship.qcow2" | cut -d' ' -f1)
cat > "$W/m2.json" <<EOT
{"v": 2, "uuid": "$UUID", "name": "bench", "version": "1", "type": "zvol", "os": "linux",
 "image_size": 10240, "files": [{"sha1": "$sha", "size": $(stat -c %s "$W/ship.qcow2"), "compression": "none"}]}
EOT
sync
t6=$(now)
qemu-img convert -f qcow2 -O qcow2 "$W/ship.qcow2" "$W/plain2.qcow2"
t7=$(now)
"$IMGADM" install -q -m "$W/m2.json" -f "$W/ship.qcow2"
t8=$(now)
conv2=$(echo "$t7 - $t6" | bc -l)
inst2=$(echo "$t8 - $t7" | bc -l)
echo "shipped as qcow2 ($(du -m "$W/ship.qcow2" | cut -f1) MiB):"
printf 'qemu-img convert -O qcow2 : %8.3f s\n' "$conv2"
printf 'imgadm install           : %8.3f s\n' "$inst2"
printf 'ratio install/convert    : %8.2fx  (install also probes the file, verifies it and takes @final)\n' "$(echo "$inst2 / $conv2" | bc -l)"

# Optional (FULL_GIB=N): the same comparison for an image that is all data,
# N GiB of random bytes.  qemu-img must then read every byte too, and the
# hash runs alongside the conversion: install should cost about a convert.
FULL_GIB=${FULL_GIB:-0}
if [ "$FULL_GIB" -gt 0 ]; then
    "$IMGADM" delete "$UUID" >/dev/null
    rm -f "$W/plain.qcow2" "$W/plain2.qcow2" "$W/ship.qcow2"
    head -c $((FULL_GIB << 30)) /dev/urandom > "$W/full.raw"
    sha=$(sha1sum "$W/full.raw" | cut -d' ' -f1)
    cat > "$W/m3.json" <<EOT
{"v": 2, "uuid": "$UUID", "name": "bench", "version": "1", "type": "zvol", "os": "linux",
 "image_size": $((FULL_GIB * 1024)), "files": [{"sha1": "$sha", "size": $(stat -c %s "$W/full.raw"), "compression": "none"}]}
EOT
    sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
    t0=$(now); qemu-img convert -f raw -O qcow2 "$W/full.raw" "$W/plain3.qcow2"; t1=$(now)
    rm -f "$W/plain3.qcow2"; sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
    t2=$(now); "$IMGADM" install -q -m "$W/m3.json" -f "$W/full.raw"; t3=$(now)
    conv3=$(echo "$t1 - $t0" | bc -l); inst3=$(echo "$t3 - $t2" | bc -l)
    echo "all data ($FULL_GIB GiB of random bytes, caches dropped before each):"
    printf 'qemu-img convert -O qcow2 : %8.3f s\n' "$conv3"
    printf 'imgadm install           : %8.3f s\n' "$inst3"
    printf 'ratio install/convert    : %8.2fx\n' "$(echo "$inst3 / $conv3" | bc -l)"
fi
