#!/bin/bash
# bench/net-start/ct-100.sh [N]
# 100 (N) containers with one NIC each on one nic tag, created and started
# one after the other, all left running: does a NIC cost the same for the
# 10th container as for the 100th (one more veth on the bridge, two more
# chains in the shared `bridge vmadm` table)?  Baselines: 10 containers
# without NICs before and 10 after, so the NIC's own share shows.  Runs in
# its own network namespace; everything is stopped and deleted at the end.
# Prints medians: figures only, nothing asserted (issue 15: per-NIC cost
# flat).
set -eu
N=${1:-100}
BUILD_DIR=${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
CACHE=${VMADM_TEST_CACHE:-/var/cache/vmadm-test}
[ "$(id -u)" = 0 ] || { echo "needs root (LXC, netns, nftables)" >&2; exit 1; }
[ -f "$CACHE/ct-A.json" ] || { echo "build the test guests first: tests/guest/build.sh" >&2; exit 1; }
export PATH="$BUILD_DIR/src/vmadm:$BUILD_DIR/src/imgadm:$BUILD_DIR/src/nictagadm:$PATH"
export VMINFOD_ADDR=none
export VMADM_ROOT=$(mktemp -d /tmp/netct-bench.XXXXXX)
NS=netctb$$
ip netns add "$NS"
IN="nsenter --net=/run/netns/$NS"
cleanup() {
    for u in $(ls "$VMADM_ROOT/etc/vms" 2>/dev/null); do
        $IN vmadm stop -F "$u" >/dev/null 2>&1 || true
        $IN vmadm delete "$u" >/dev/null 2>&1 || true
    done
    ip netns del "$NS"
    rm -rf "$VMADM_ROOT"
}
trap cleanup EXIT
$IN ip link set lo up
$IN nictagadm add -l bench0 >/dev/null
imgadm install -m "$CACHE/ct-A.json" -f "$CACHE/ct-A.tar.gz" >/dev/null
IMG=1e1df5b1-c668-438c-b55d-98cf3105058d

$IN python3 - "$N" "$IMG" <<'PY'
import statistics, subprocess, sys, time, uuid
n, img = int(sys.argv[1]), sys.argv[2]

def timed(*a, stdin=None):
    t0 = time.monotonic()
    subprocess.run(["vmadm", *a], check=True, capture_output=True, input=stdin, text=True)
    return time.monotonic() - t0

def one(i, nic):
    u = str(uuid.uuid4())
    nics = ('[{"nic_tag": "bench0", "ips": ["10.%d.%d.%d/8"]}]' % (i // 65536, i // 256 % 256, i % 256 + 1)) if nic else "[]"
    c = timed("create", stdin='{"uuid": "%s", "brand": "joyent-minimal", "image_uuid": "%s", "autoboot": false, '
              '"nics": %s}' % (u, img, nics))
    return c, timed("start", u)

def med(v):
    return statistics.median(v) * 1000

base0 = [one(i, False) for i in range(10)]
withnic = [one(i, True) for i in range(n)]
base1 = [one(n + i, False) for i in range(10)]
first, last = withnic[:10], withnic[-10:]
s = lambda rows: [r[1] for r in rows]
c = lambda rows: [r[0] for r in rows]
print("%d containers with one NIC each, all running at the end" % n)
print("                          create ms   start ms   start - no-NIC start (the NIC's share)")
print("NIC containers    1-10    %8.1f   %8.1f   %6.1f ms" % (med(c(first)), med(s(first)), med(s(first)) - med(s(base0))))
print("NIC containers %4d-%-4d %8.1f   %8.1f   %6.1f ms" % (n - 9, n, med(c(last)), med(s(last)), med(s(last)) - med(s(base1))))
print("no-NIC baseline, before   %8.1f   %8.1f" % (med(c(base0)), med(s(base0))))
print("no-NIC baseline, after    %8.1f   %8.1f" % (med(c(base1)), med(s(base1))))
PY
