#!/bin/bash
# bench/hv/start_vs_qemu.sh [RUNS]
# Time `hvtool start` (lib/hv: argv, supervisor, wait for QMP "running") against
# starting the very same qemu-system-x86_64 argv (printed by hv_build_argv via
# `hvtool argv`) by hand and polling QMP until query-status says running.
# Prints both medians and the ratio (target <= 1.2x).  Prints figures only.
set -eu
RUNS=${1:-7}
BUILD_DIR=${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
HVTOOL=$BUILD_DIR/tests/unit/hv/hvtool
CACHE=${VMADM_TEST_CACHE:-/var/cache/vmadm-test}
[ -x "$HVTOOL" ] || { echo "build hvtool first: ninja -C $BUILD_DIR tests/unit/hv/hvtool" >&2; exit 1; }

export VMADM_ROOT=$(mktemp -d /tmp/hvbench.XXXXXX)
export VMADM_ACCEL=${VMADM_ACCEL:-tcg}
trap 'pkill -9 -f -- "$VMADM_ROOT" 2>/dev/null || true; rm -rf "$VMADM_ROOT"' EXIT
U=$(cat /proc/sys/kernel/random/uuid)
DISKS='[]'
if [ -f "$CACHE/hvm-A.raw" ]; then
    cp --sparse=always "$CACHE/hvm-A.raw" "$VMADM_ROOT/disk0"
    DISKS="[{\"path\": \"$VMADM_ROOT/disk0\", \"boot\": true, \"model\": \"virtio\", \"pci_slot\": \"0:4:0\"}]"
fi
printf '{"uuid": "%s", "brand": "bhyve", "ram": 256, "vcpus": 1, "disks": %s}\n' "$U" "$DISKS" > "$VMADM_ROOT/vm.json"

BENCH_LIB="$(cd "$(dirname "$0")/../lib" && pwd)" python3 - "$HVTOOL" "$VMADM_ROOT" "$U" "$RUNS" "$VMADM_ACCEL" <<'PY'
import json, os, socket, statistics, subprocess, sys, time
sys.path.insert(0, os.environ["BENCH_LIB"])
from qmpstatus import qmp_running as _qmp_running
hvtool, root, uuid, runs, accel = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
vmjson = os.path.join(root, "vm.json")
rundir = os.path.join(root, "run", "vms", uuid)
argv = subprocess.run([hvtool, "argv", vmjson, accel], check=True, capture_output=True, text=True).stdout.splitlines()
qmp = os.path.join(rundir, "qmp.sock")

def qmp_running():
    return _qmp_running(qmp)

def by_hand():
    os.makedirs(rundir, exist_ok=True)
    for n in ("qmp.sock", "console.sock"):
        try: os.unlink(os.path.join(rundir, n))
        except FileNotFoundError: pass
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not qmp_running():
        if p.poll() is not None: sys.exit("qemu exited")
        time.sleep(0.001)
    t = time.monotonic() - t0
    p.kill(); p.wait()
    return t

def with_hvtool():
    t0 = time.monotonic()
    subprocess.run([hvtool, "start", vmjson], check=True)
    t = time.monotonic() - t0
    subprocess.run([hvtool, "stop", uuid, "-F"], check=True)
    return t

with_hvtool(); by_hand()          # warm caches (and the accel probe if auto)
a, b = [], []
for i in range(runs):             # interleave so load changes hit both alike
    a.append(with_hvtool()); b.append(by_hand())
ma, mb = statistics.median(a), statistics.median(b)
print("runs: %d, accel: %s, disks: %s" % (runs, accel, "hvm-A" if "disk0" in " ".join(argv) else "none"))
print("hvtool start (lib/hv)      median %.1f ms  [%s]" % (ma * 1000, " ".join("%.0f" % (x * 1000) for x in a)))
print("same argv by hand + QMP    median %.1f ms  [%s]" % (mb * 1000, " ".join("%.0f" % (x * 1000) for x in b)))
print("ratio hvtool/by-hand: %.2fx (target <= 1.20x)" % (ma / mb))
PY
