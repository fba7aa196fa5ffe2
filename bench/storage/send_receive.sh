#!/bin/sh
# send | receive throughput against a plain pipe of the same bytes, in one
# run: a volume filled with SIZE MiB of random data (default 1024), then
#   A: vmstore send zones/src@s | vmstore receive zones/dst-N
#   B: cat <raw file of the same bytes> | dd of=<new file> bs=4M
# (target: A's throughput >= 80 % of B's), and an incremental stream's
# size against the bytes changed (target <= 1.1x).  Prints figures only.
# usage: BUILD_DIR=... bench/storage/send_receive.sh [size_mib] [runs]
set -eu
BUILD_DIR=${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
PATH="$BUILD_DIR/src/vmstore:$PATH"
SIZE=${1:-1024}
RUNS=${2:-3}
VMADM_ROOT=$(mktemp -d /tmp/vsbench.XXXXXX)
export VMADM_ROOT
trap 'rm -rf "$VMADM_ROOT"' EXIT
now() { date +%s.%N; }
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

RAW=$VMADM_ROOT/src.raw
dd if=/dev/urandom of="$RAW" bs=1M count="$SIZE" status=none
vmstore import -f raw "$RAW" zones/src
vmstore snapshot zones/src@s
sync

: > "$VMADM_ROOT/a.t"
: > "$VMADM_ROOT/b.t"
i=0
while [ $i -lt "$RUNS" ]; do
    t0=$(now)
    vmstore send zones/src@s | vmstore receive "zones/dst-$i"
    t1=$(now)
    cat "$RAW" | dd of="$VMADM_ROOT/copy.raw" bs=4M status=none
    t2=$(now)
    echo "$t0 $t1" | awk '{ print $2 - $1 }' >> "$VMADM_ROOT/a.t"
    echo "$t1 $t2" | awk '{ print $2 - $1 }' >> "$VMADM_ROOT/b.t"
    vmstore destroy -r "zones/dst-$i"
    rm -f "$VMADM_ROOT/copy.raw"
    i=$((i + 1))
done
a=$(median < "$VMADM_ROOT/a.t")
b=$(median < "$VMADM_ROOT/b.t")
echo "send|receive of $SIZE MiB of data: $a s ($(echo "$SIZE $a" | awk '{ printf "%.0f", $1 / $2 }') MiB/s), median of $RUNS"
echo "cat|dd of the same bytes:        $b s ($(echo "$SIZE $b" | awk '{ printf "%.0f", $1 / $2 }') MiB/s)"
echo "$a $b" | awk '{ printf "send|receive throughput = %.0f %% of the pipe (target >= 80 %%)\n", 100 * $2 / $1 }'

# Incremental: change 64 MiB in 1 MiB pieces spread over the volume.
F=$VMADM_ROOT/var/vmstore/zones/data/$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['datasets']['zones/src']['file'])" "$VMADM_ROOT/var/vmstore/zones/pool.json")
n=0; args=""
while [ $n -lt 64 ]; do args="$args -c 'write -P $((n + 1)) $((n * SIZE / 64))M 1M'"; n=$((n + 1)); done
eval qemu-io -f qcow2 $args "$F" > /dev/null
vmstore snapshot zones/src@t
bytes=$(vmstore send -i @s zones/src@t | wc -c)
echo "incremental stream for 64 MiB changed: $bytes bytes = $(echo "$bytes" | awk '{ printf "%.3f", $1 / (64 * 1048576) }')x the bytes changed (target <= 1.1x)"
