#!/bin/bash
# Cost of vmadm's read-after-write contract (issue "vminfod and vminfo"):
# how long `vmadm update` / `start` / `stop` take without vminfod and with
# it (then every write waits until vminfod shows the change), on a joyent
# container from the tests/guest busybox image.  Prints median and p90 in ms;
# no targets are asserted.
#
# Usage: bench/vmadm-vminfod/write-latency.sh [BUILD_DIR] [N-updates]   (root)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
BUILD_DIR=${1:-$HERE/../../build}
N=${2:-200}
export PATH="$BUILD_DIR/src/vmadm:$BUILD_DIR/src/vmstore:$BUILD_DIR/src/imgadm:$BUILD_DIR/src/vminfod:$PATH"
CACHE=${VMADM_TEST_CACHE:-/var/cache/vmadm-test}
[ "$(id -u)" = 0 ] || { echo "needs root (containers)" >&2; exit 1; }
"$HERE/../../tests/guest/build.sh" >&2
. "$HERE/../../tests/guest/images.env"

VMADM_ROOT=$(mktemp -d /tmp/vmadm-vminfod-bench.XXXXXX)
export VMADM_ROOT VMINFOD_ADDR=none
DPID=
U=$(cat /proc/sys/kernel/random/uuid)
cleanup() {
    vmadm stop -F "$U" >/dev/null 2>&1 || true
    [ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
    rm -rf "$VMADM_ROOT"
}
trap cleanup EXIT

imgadm install -m "$CACHE/ct-A.json" -f "$CACHE/ct-A.tar.gz" >/dev/null
echo "{\"uuid\": \"$U\", \"brand\": \"joyent\", \"image_uuid\": \"$IMG_CT_A\", \"autoboot\": false}" \
    | vmadm create 2>/dev/null

ms() { date +%s%N; }
# stats LABEL < one number (ns) per line
stats() {
    sort -n | awk -v l="$1" '{ a[NR] = $1 / 1e6 } END {
        p = int(NR * 0.9); if (p < 1) p = 1
        printf "%-34s n=%-4d median %7.2f ms   p90 %7.2f ms\n", l, NR, a[int((NR + 1) / 2)], a[p] }'
}
run_updates() {
    local i t
    for i in $(seq "$N"); do
        t=$(ms)
        echo "{\"set_tags\": {\"n\": $i}}" | vmadm update "$U" 2>>"$VMADM_ROOT/err.txt" || echo "FAILED update #$i" >&2
        echo $(( $(ms) - t ))
    done
}
run_startstop() {
    local i t
    for i in $(seq 20); do
        t=$(ms); vmadm start "$U" 2>>"$VMADM_ROOT/err.txt" || echo "FAILED start #$i" >&2
        echo "start $(( $(ms) - t ))"
        t=$(ms); vmadm stop "$U" 2>>"$VMADM_ROOT/err.txt" || echo "FAILED stop #$i" >&2
        echo "stop $(( $(ms) - t ))"
    done
}

echo "vmadm writes, joyent container, $N updates / 20 start+stop"
run_updates | stats "update, no vminfod"
run_startstop > "$VMADM_ROOT/ss.txt"
grep '^start' "$VMADM_ROOT/ss.txt" | cut -d' ' -f2 | stats "start, no vminfod"
grep '^stop' "$VMADM_ROOT/ss.txt" | cut -d' ' -f2 | stats "stop (graceful), no vminfod"

vminfod --listen 127.0.0.1:0 2>/dev/null &
DPID=$!
for _ in $(seq 100); do [ -s "$VMADM_ROOT/run/vminfod.addr" ] && break; sleep 0.05; done
export VMINFOD_ADDR=$(cat "$VMADM_ROOT/run/vminfod.addr")
run_updates | stats "update, waits for vminfod"
run_startstop > "$VMADM_ROOT/ss.txt"
grep '^start' "$VMADM_ROOT/ss.txt" | cut -d' ' -f2 | stats "start, waits for vminfod"
grep '^stop' "$VMADM_ROOT/ss.txt" | cut -d' ' -f2 | stats "stop (graceful), waits for vminfod"
grep -v '^Successfully' "$VMADM_ROOT/err.txt" | sort | uniq -c | sed 's/^/error output: /' >&2 || true
