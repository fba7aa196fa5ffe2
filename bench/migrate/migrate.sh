#!/bin/bash
# bench/migrate/migrate.sh [SIZE_MIB] [RUNS] — issue 17's figures, printed
# side by side in one run, never asserted:
#   1. vmadm send | vmadm receive of a stopped bhyve VM whose data disk
#      holds SIZE MiB (default 1024) of random data, against cat | dd of
#      the same bytes (target: >= 80 % of the pipe's throughput);
#   2. an incremental stream (vmadm send -i) after rewriting 64 MiB, against
#      the bytes changed (target <= 1.1x);
#   3. vmadm migrate -a of a running TCG guest between two roots: the switch
#      overhead (stop-to-start, without guest shutdown and boot; target
#      <= 2 s with a last delta <= 50 MB), next to the seed's migrator.sh
#      (17 s of downtime for 208 MB full, 36 s for 98 GB incremental);
#   4. vmadm migrate --live of an idle 256 MiB TCG guest: QEMU's measured
#      downtime (target <= 300 ms) and the total time.
set -eu
SIZE=${1:-1024}
RUNS=${2:-3}
BUILD_DIR=${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
CACHE=${VMADM_TEST_CACHE:-/var/cache/vmadm-test}
export PATH="$BUILD_DIR/src/vmadm:$BUILD_DIR/src/vmstore:$BUILD_DIR/src/imgadm:$PATH"
export VMINFOD_ADDR=none VMADM_ACCEL=${VMADM_ACCEL:-tcg}
A=$(mktemp -d /tmp/migbench.XXXXXX)
B=$(mktemp -d /tmp/migbench.XXXXXX)
cleanup() {
    pkill -9 -f -- "$A" 2>/dev/null || true
    pkill -9 -f -- "$B" 2>/dev/null || true
    rm -rf "$A" "$B"
}
trap cleanup EXIT
now() { date +%s.%N; }
median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
. "$(dirname "$0")/../../tests/guest/images.env"
for r in "$A" "$B"; do
    VMADM_ROOT=$r imgadm install -m "$CACHE/hvm-A.json" -f "$CACHE/hvm-A.raw.zst" >/dev/null
done
export VMADM_ROOT=$A
vm() { # AUTOBOOT DATA_MIB
    echo "{\"brand\": \"bhyve\", \"ram\": 256, \"autoboot\": $1,
           \"disks\": [{\"image_uuid\": \"$IMG_HVM_A\", \"boot\": true, \"model\": \"virtio\"},
                       {\"size\": $2, \"model\": \"virtio\"}]}" | vmadm create 2>&1 | sed -n 's/^Successfully created VM //p'
}
volfile() { echo "$1/var/vmstore/zones/data/$(jq -r ".datasets[\"zones/$2/$3\"].file" "$1/var/vmstore/zones/pool.json")"; }
ready() {
    for _ in $(seq 1200); do
        tr -d '\r' < "$1/run/vms/$2/console.log" 2>/dev/null | grep -q "VMADM-GUEST: ready" && return 0; sleep 0.2
    done
    return 1
}

# 1. send | receive against cat | dd
U=$(vm false $((SIZE + 64)))
RAW=$A/data.raw
dd if=/dev/urandom of="$RAW" bs=1M count="$SIZE" status=none
qemu-img convert -n -f raw -O qcow2 "$RAW" "$(volfile "$A" "$U" disk1)"
sync
: > "$A/a.t"; : > "$A/b.t"; : > "$A/c.t"
for i in $(seq "$RUNS"); do
    t0=$(now)
    vmadm send "$U" 2>/dev/null | VMADM_ROOT=$B vmadm receive 2>/dev/null
    t1=$(now)
    cat "$RAW" | dd of="$A/copy.raw" bs=4M status=none
    t2=$(now)
    rm -f "$A/copy.raw"
    t3=$(now)
    cat "$RAW" | dd of="$A/copy.raw" bs=4M conv=fdatasync status=none
    t4=$(now)
    echo "$t0 $t1" | awk '{ print $2 - $1 }' >> "$A/a.t"
    echo "$t1 $t2" | awk '{ print $2 - $1 }' >> "$A/b.t"
    echo "$t3 $t4" | awk '{ print $2 - $1 }' >> "$A/c.t"
    VMADM_ROOT=$B vmadm delete "$U" >/dev/null 2>&1
    rm -f "$A/copy.raw"
done
a=$(median < "$A/a.t"); b=$(median < "$A/b.t"); c=$(median < "$A/c.t")
echo "1. vmadm send | vmadm receive, $SIZE MiB data disk: $a s; cat | dd of the same bytes: $b s;" \
    "cat | dd conv=fdatasync (durable, as a receive is before its commit): $c s (medians of $RUNS)"
echo "$a $b $c" | awk '{ printf "   throughput = %.0f %% of the pipe (target >= 80 %%), %.0f %% of the durable pipe\n", 100 * $2 / $1, 100 * $3 / $1 }'

# 2. incremental stream size against the bytes changed
base=$(vmstore list -H -t snapshot -o name "zones/$U/disk1" | sed -n 's/.*@//p' | tail -1)
qemu-io -f qcow2 -c "write -P 0x5a 100M 64M" "$(volfile "$A" "$U" disk1)" >/dev/null
vmadm send -i "$base" "$U" 2>/dev/null > "$A/incr"
n=$(stat -c %s "$A/incr")
echo "2. vmadm send -i after rewriting 64 MiB: $n bytes" \
    "($(echo "$n" | awk '{ printf "%.3f", $1 / 67108864 }')x the bytes changed; target <= 1.1x)"
vmadm delete "$U" >/dev/null 2>&1

# 3. migrate -a of a running guest: switch overhead
U=$(vm true 64)
ready "$A" "$U"
out=$(vmadm migrate -a "$U" "root:$B" 2>&1)
sw=$(echo "$out" | sed -n 's/.*switch overhead \([0-9.]*\) s.*/\1/p')
why=$(echo "$out" | sed -n 's/^switching: //p')
echo "3. vmadm migrate -a (TCG guest, idle): switch overhead $sw s (stop-to-start without guest shutdown and boot;" \
    "target <= 2 s); switched because $why"
echo "   seed's migrator.sh: 17 s of downtime for 208 MB (full), 36 s for 98 GB (incremental)"
VMADM_ROOT=$B vmadm stop -F "$U" >/dev/null 2>&1 || true
vmadm migrate --finalize "$U" >/dev/null 2>&1
VMADM_ROOT=$B vmadm delete "$U" >/dev/null 2>&1

# 4. migrate --live of an idle 256 MiB guest
U=$(vm true 64)
ready "$A" "$U"
t0=$(now)
out=$(vmadm migrate --live "$U" "root:$B" 2>&1)
t1=$(now)
down=$(echo "$out" | sed -n 's/.*downtime \([0-9]*\) ms (QEMU).*/\1/p')
echo "4. vmadm migrate --live (idle 256 MiB TCG guest, loopback): QEMU downtime $down ms (target <= 300 ms)," \
    "total $(echo "$t0 $t1" | awk '{ printf "%.1f", $2 - $1 }') s"
