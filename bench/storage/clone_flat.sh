#!/bin/sh
# Clone cost must not depend on image size: time creating a VM disk by
# clone from a 10 MiB and from a 10 GiB image (sparse raw, imported as a
# volume + @final).  Prints figures only; target ratio <= 1.5.
# usage: BUILD_DIR=... bench/storage/clone_flat.sh [runs]
set -eu
BUILD_DIR=${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
PATH="$BUILD_DIR/src/vmstore:$PATH"
RUNS=${1:-10}
VMADM_ROOT=$(mktemp -d /tmp/vsbench.XXXXXX)
export VMADM_ROOT
trap 'rm -rf "$VMADM_ROOT"' EXIT

mkimg() { # name size
    truncate -s "$2" "$VMADM_ROOT/$1.raw"
    # some real data at the start, like an OS image
    dd if=/dev/urandom of="$VMADM_ROOT/$1.raw" bs=1M count=4 conv=notrunc status=none
    vmstore import -f raw "$VMADM_ROOT/$1.raw" "zones/$1"
    vmstore snapshot "zones/$1@final"
    rm -f "$VMADM_ROOT/$1.raw"
}

now() { date +%s.%N; }

mkimg small 10M
mkimg big 10G
vmstore create zones/vm

# One clone, in seconds.
clone_time() { # image index
    t0=$(now)
    vmstore clone "zones/$1@final" "zones/vm/$1-disk$2"
    t1=$(now)
    echo "$t0 $t1" | awk '{ printf "%.4f\n", $2 - $1 }'
}

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# warm up (page cache, binary)
vmstore clone zones/small@final zones/vm/warm >/dev/null
# Interleaved, so the growing pool affects both series alike.
: > "$VMADM_ROOT/small.t"
: > "$VMADM_ROOT/big.t"
i=0
while [ $i -lt "$RUNS" ]; do
    clone_time small $i >> "$VMADM_ROOT/small.t"
    clone_time big $i >> "$VMADM_ROOT/big.t"
    i=$((i + 1))
done
small=$(median < "$VMADM_ROOT/small.t")
big=$(median < "$VMADM_ROOT/big.t")
echo "clone from 10 MiB image: ${small} s (median of $RUNS)"
echo "clone from 10 GiB image: ${big} s (median of $RUNS)"
echo "$small $big" | awk '{ printf "ratio big/small: %.2f (target <= 1.5)\n", $2 / $1 }'
