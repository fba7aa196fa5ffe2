#!/bin/sh
# A raw disk view against a plain file, in one run: SIZE MiB (default 256)
# of random data written with a plain `dd bs=16M` (conv=fsync, so both
# include getting the bytes to disk) onto
#   A: a volume's raw view (vmadm-zvold: FUSE -> libnbd -> qemu-nbd -> qcow2)
#   B: a plain file on the same filesystem
# then read back with `dd bs=16M of=/dev/null` from each.  Includes the
# view's open (qemu-nbd start).  Prints figures only, never asserts.
# usage: BUILD_DIR=... bench/storage/rawview.sh [size_mib] [runs]   (root)
set -eu
BUILD_DIR=${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
PATH="$BUILD_DIR/src/vmstore:$BUILD_DIR/src/vmadm-zvold:$PATH"
SIZE=${1:-256}
RUNS=${2:-3}
VMADM_ROOT=$(mktemp -d /tmp/rvbench.XXXXXX)
export VMADM_ROOT
ZV=$VMADM_ROOT/dev/zvol
ZPID=
cleanup() {
    [ -n "$ZPID" ] && kill "$ZPID" 2>/dev/null && wait "$ZPID" 2>/dev/null || true
    mountpoint -q "$ZV" 2>/dev/null && umount -l "$ZV"
    rm -rf "$VMADM_ROOT"
}
trap cleanup EXIT
now() { date +%s.%N; }
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
rate() { echo "$SIZE $1" | awk '{ printf "%.0f", $1 / $2 }'; }

dd if=/dev/urandom of="$VMADM_ROOT/pat" bs=1M count="$SIZE" status=none
vmstore create -V "$((SIZE * 2))M" zones/bench
vmadm-zvold 2>"$VMADM_ROOT/zvold.log" &
ZPID=$!
i=0
until mountpoint -q "$ZV"; do i=$((i + 1)); [ $i -lt 200 ] || { echo "vmadm-zvold did not mount" >&2; exit 1; }; sleep 0.05; done
V=$ZV/rdsk/zones/bench

for k in aw bw ar br; do : > "$VMADM_ROOT/$k.t"; done
i=0
while [ $i -lt "$RUNS" ]; do
    t0=$(now)
    dd if="$VMADM_ROOT/pat" of="$V" bs=16M conv=fsync status=none
    t1=$(now)
    dd if="$VMADM_ROOT/pat" of="$VMADM_ROOT/plain" bs=16M conv=fsync status=none
    t2=$(now)
    dd if="$V" of=/dev/null bs=16M count=$((SIZE / 16)) status=none
    t3=$(now)
    echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
    dd if="$VMADM_ROOT/plain" of=/dev/null bs=16M status=none
    t4=$(now)
    echo "$t0 $t1" | awk '{ print $2 - $1 }' >> "$VMADM_ROOT/aw.t"
    echo "$t1 $t2" | awk '{ print $2 - $1 }' >> "$VMADM_ROOT/bw.t"
    echo "$t2 $t3" | awk '{ print $2 - $1 }' >> "$VMADM_ROOT/ar.t"
    echo "$t3 $t4" | awk '{ print $2 - $1 }' >> "$VMADM_ROOT/br.t"
    rm -f "$VMADM_ROOT/plain"
    i=$((i + 1))
done
aw=$(median < "$VMADM_ROOT/aw.t"); bw=$(median < "$VMADM_ROOT/bw.t")
ar=$(median < "$VMADM_ROOT/ar.t"); br=$(median < "$VMADM_ROOT/br.t")
echo "dd of $SIZE MiB, median of $RUNS:        raw view            plain file"
echo "write (bs=16M, conv=fsync)        $aw s ($(rate "$aw") MiB/s)   $bw s ($(rate "$bw") MiB/s)"
echo "read  (bs=16M)                    $ar s ($(rate "$ar") MiB/s)   $br s ($(rate "$br") MiB/s)"
