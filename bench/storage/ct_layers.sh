#!/bin/sh
# Container roots as layers (issue 18 part 2): the storage step of a
# container create (vmstore clone of <image>@final, what vmadm create runs
# for a zone root) from a 10 MiB and from a 1 GiB filesystem image, layered
# (VMADM_FS_CLONES=overlay) against the copy; then the bytes 100 layered
# clones of the 1 GiB image take.  Prints figures only; targets: ratio
# 1 GiB / 10 MiB <= 1.5, storage step <= 100 ms.  Needs root (mounts).
# usage: BUILD_DIR=... bench/storage/ct_layers.sh [runs]
set -eu
BUILD_DIR=${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
PATH="$BUILD_DIR/src/vmstore:$PATH"
RUNS=${1:-9}
VMADM_ROOT=$(mktemp -d /tmp/ctlbench.XXXXXX)
export VMADM_ROOT
cleanup() {
    awk -v r="$VMADM_ROOT/" 'index($5, r) == 1 { print $5 }' /proc/self/mountinfo | sort -r |
        while read -r m; do umount -l "$m"; done
    rm -rf "$VMADM_ROOT"
}
trap cleanup EXIT

mkimg() { # name MiB: files of 16 MiB (less for small images) with real blocks
    vmstore create "zones/$1"
    r="$VMADM_ROOT/zones/$1/root"
    mkdir -p "$r/usr/lib" "$r/etc"
    left=$2
    i=0
    while [ "$left" -gt 0 ]; do
        n=$((left < 16 ? left : 16))
        dd if=/dev/zero of="$r/usr/lib/f$i" bs=1M count="$n" status=none
        left=$((left - n))
        i=$((i + 1))
    done
    echo "$1" > "$r/etc/hostname"
    vmstore snapshot "zones/$1@final"
}

now() { date +%s.%N; }
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
clone_time() { # image dataset
    t0=$(now)
    vmstore clone "zones/$1@final" "zones/$2"
    t1=$(now)
    echo "$t0 $t1" | awk '{ printf "%.4f\n", $2 - $1 }'
}
pool_used() { df -B1 --output=used "$VMADM_ROOT" | tail -1; }

mkimg small 10
mkimg big 1024
sync

export VMADM_FS_CLONES=overlay
vmstore clone zones/small@final zones/warm >/dev/null
: > "$VMADM_ROOT/small.t"
: > "$VMADM_ROOT/big.t"
i=0
while [ $i -lt "$RUNS" ]; do
    clone_time small "s$i" >> "$VMADM_ROOT/small.t"
    clone_time big "b$i" >> "$VMADM_ROOT/big.t"
    i=$((i + 1))
done
small=$(median < "$VMADM_ROOT/small.t")
big=$(median < "$VMADM_ROOT/big.t")
echo "layered clone (storage step) from 10 MiB image: ${small} s (median of $RUNS)"
echo "layered clone (storage step) from 1 GiB image:  ${big} s (median of $RUNS)"
echo "$small $big" | awk '{ printf "ratio 1 GiB / 10 MiB: %.2f (target <= 1.5; step target <= 0.100 s)\n", $2 / $1 }'

export VMADM_FS_CLONES=copy
csmall=$(clone_time small copy-s)
cbig=$(clone_time big copy-b)
echo "copy clone from 10 MiB image: ${csmall} s; from 1 GiB image: ${cbig} s (one run each, for reference)"
vmstore destroy zones/copy-b

export VMADM_FS_CLONES=overlay
sync
before=$(pool_used)
t0=$(now)
i=0
while [ $i -lt 100 ]; do
    vmstore clone zones/big@final "zones/ct$i"
    echo "ct$i" > "$VMADM_ROOT/zones/ct$i/root/etc/hostname"
    i=$((i + 1))
done
sync
t1=$(now)
after=$(pool_used)
sum=$(vmstore list -Hp -o name,used | awk '$1 ~ /^zones\/ct[0-9]+$/ { s += $2 } END { print s }')
echo "100 layered clones of the 1 GiB image (each with one changed file):"
echo "  filesystem bytes used: $((after - before)) ($(( (after - before) / 100 )) per clone; a copy would be ~1 GiB each)"
echo "  sum of vmstore 'used': $sum"
echo "  wall time for the 100: $(echo "$t0 $t1" | awk '{ printf "%.2f", $2 - $1 }') s"
