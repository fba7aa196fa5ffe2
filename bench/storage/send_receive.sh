#!/bin/sh
# send | receive throughput against a plain pipe of the same bytes, in one
# run: a volume filled with SIZE MiB of random data (default 1024), then
#   A: vmstore send zones/src@s | vmstore receive zones/dst-N
#   B: cat <raw file of the same bytes> | dd of=<new file> bs=4M
#   B': the same with conv=fdatasync: durable, as a receive is before it
#       commits (its snapshot) — the like-for-like figure
# (target: A's throughput >= 80 % of B's), and an incremental stream's
# size against the bytes changed (target <= 1.1x).  Then a filesystem
# dataset (a container root's shape: FS_FILES files, SIZE/4 MiB in all):
#   C: vmstore send zones/fs@s | vmstore receive zones/fsdst
#   D: tar -cf - | tar -xpf - of the same tree (the usual alternative)
# and the incremental stream after changing 1 % of the files.  Prints
# figures only.
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
: > "$VMADM_ROOT/c.t"
i=0
while [ $i -lt "$RUNS" ]; do
    t0=$(now)
    vmstore send zones/src@s | vmstore receive "zones/dst-$i"
    t1=$(now)
    cat "$RAW" | dd of="$VMADM_ROOT/copy.raw" bs=4M status=none
    t2=$(now)
    rm -f "$VMADM_ROOT/copy.raw"
    t3=$(now)
    cat "$RAW" | dd of="$VMADM_ROOT/copy.raw" bs=4M conv=fdatasync status=none
    t4=$(now)
    echo "$t0 $t1" | awk '{ print $2 - $1 }' >> "$VMADM_ROOT/a.t"
    echo "$t1 $t2" | awk '{ print $2 - $1 }' >> "$VMADM_ROOT/b.t"
    echo "$t3 $t4" | awk '{ print $2 - $1 }' >> "$VMADM_ROOT/c.t"
    # the ratios pair by pair: this disk's speed drifts between runs
    echo "$t0 $t1 $t2" | awk '{ print 100 * ($3 - $2) / ($2 - $1) }' >> "$VMADM_ROOT/ab.r"
    echo "$t0 $t1 $t3 $t4" | awk '{ print 100 * ($4 - $3) / ($2 - $1) }' >> "$VMADM_ROOT/ac.r"
    vmstore destroy -r "zones/dst-$i"
    rm -f "$VMADM_ROOT/copy.raw"
    i=$((i + 1))
done
a=$(median < "$VMADM_ROOT/a.t")
b=$(median < "$VMADM_ROOT/b.t")
c=$(median < "$VMADM_ROOT/c.t")
echo "send|receive of $SIZE MiB of data: $a s ($(echo "$SIZE $a" | awk '{ printf "%.0f", $1 / $2 }') MiB/s), median of $RUNS"
echo "cat|dd of the same bytes:        $b s ($(echo "$SIZE $b" | awk '{ printf "%.0f", $1 / $2 }') MiB/s)"
echo "cat|dd conv=fdatasync (durable): $c s ($(echo "$SIZE $c" | awk '{ printf "%.0f", $1 / $2 }') MiB/s)"
echo "send|receive throughput = $(median < "$VMADM_ROOT/ab.r" | awk '{ printf "%.0f", $1 }') % of the pipe (target >= 80 %; median of the runs' ratios, range $(sort -n "$VMADM_ROOT/ab.r" | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.0f-%.0f", lo, hi }') %)"
echo "send|receive throughput = $(median < "$VMADM_ROOT/ac.r" | awk '{ printf "%.0f", $1 }') % of the durable pipe (range $(sort -n "$VMADM_ROOT/ac.r" | awk 'NR == 1 { lo = $1 } { hi = $1 } END { printf "%.0f-%.0f", lo, hi }') %)"

# Incremental: change 64 MiB in 1 MiB pieces spread over the volume.
F=$VMADM_ROOT/var/vmstore/zones/data/$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['datasets']['zones/src']['file'])" "$VMADM_ROOT/var/vmstore/zones/pool.json")
n=0; args=""
while [ $n -lt 64 ]; do args="$args -c 'write -P $((n + 1)) $((n * SIZE / 64))M 1M'"; n=$((n + 1)); done
eval qemu-io -f qcow2 $args "$F" > /dev/null
vmstore snapshot zones/src@t
bytes=$(vmstore send -i @s zones/src@t | wc -c)
echo "incremental stream for 64 MiB changed: $bytes bytes = $(echo "$bytes" | awk '{ printf "%.3f", $1 / (64 * 1048576) }')x the bytes changed (target <= 1.1x)"

# Filesystem: FS_FILES files of mixed sizes under nested directories.
FS_FILES=${FS_FILES:-2000}
vmstore create zones/fs
python3 - "$VMADM_ROOT/zones/fs" "$FS_FILES" "$((SIZE / 4))" <<'PY'
import os, sys
root, n, mib = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
per = max(1, mib * 1048576 // n)
for i in range(n):
    d = os.path.join(root, "root", "d%02d" % (i % 50), "s%d" % (i % 7))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "f%d" % i), "wb") as f:
        f.write(os.urandom(per // 2 + (i * 7919) % per))
PY
vmstore snapshot zones/fs@s
sync
fsbytes=$(du -sb "$VMADM_ROOT/zones/fs/" | cut -f1)
t0=$(now)
vmstore send zones/fs@s | vmstore receive zones/fsdst
t1=$(now)
mkdir "$VMADM_ROOT/tarcopy"
tar -C "$VMADM_ROOT/zones/fs/" -cf - . | tar -C "$VMADM_ROOT/tarcopy" -xpf -
sync
t2=$(now)
echo "$t0 $t1 $t2 $fsbytes $FS_FILES" | awk '{ printf "filesystem (%d files, %.0f MiB): send|receive %.2f s, tar|tar %.2f s (%.2fx)\n", $5, $4 / 1048576, $2 - $1, $3 - $2, ($2 - $1) / ($3 - $2) }'
n=0
for f in $(cd "$VMADM_ROOT/zones/fs/" && find root -type f | sort | awk -v k="$((FS_FILES / 100))" 'NR % 100 == 0 && n++ < k'); do
    head -c 65536 /dev/urandom > "$VMADM_ROOT/zones/fs/$f"
    n=$((n + 1))
done
vmstore snapshot zones/fs@t
bytes=$(vmstore send -i @s zones/fs@t | wc -c)
echo "filesystem incremental for $n files rewritten (64 KiB each): $bytes bytes = $(echo "$bytes $n" | awk '{ printf "%.3f", $1 / ($2 * 65536) }')x the bytes changed"
