#!/bin/bash
# bench/hv-vmadm/start.sh [RUNS]
# `vmadm start` of a stopped bhyve VM (image hvm-A from tests/guest, or a fake
# 64 MiB image) until QEMU runs, against starting the very same QEMU argv by
# hand (read from /proc/<pid>/cmdline of the QEMU vmadm started) and polling
# QMP until query-status says running.  Same approach as bench/hv/.
# Prints medians and the ratio.  Figures only.
set -eu
RUNS=${1:-7}
BUILD_DIR=${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
CACHE=${VMADM_TEST_CACHE:-/var/cache/vmadm-test}
export PATH="$BUILD_DIR/src/vmadm:$BUILD_DIR/src/vmstore:$BUILD_DIR/src/imgadm:$PATH"
export VMINFOD_ADDR=none
export VMADM_ACCEL=${VMADM_ACCEL:-tcg}
export VMADM_ROOT=$(mktemp -d /tmp/hvvmadm-bench.XXXXXX)
U=$(cat /proc/sys/kernel/random/uuid)
trap 'vmadm stop -F "$U" >/dev/null 2>&1 || true; pkill -9 -f -- "$VMADM_ROOT" 2>/dev/null || true; rm -rf "$VMADM_ROOT"' EXIT
command -v vmadm >/dev/null || { echo "build first: ninja -C $BUILD_DIR src/vmadm/vmadm" >&2; exit 1; }

if [ -f "$CACHE/hvm-A.json" ]; then
    IMG=650c9436-0b5e-40f9-8130-4d9bddca3242
    imgadm install -m "$CACHE/hvm-A.json" -f "$CACHE/hvm-A.raw.zst" >/dev/null
else
    IMG=5a000000-0000-4000-8000-000000000001
    truncate -s 64M "$VMADM_ROOT/img.raw"
    cat > "$VMADM_ROOT/img.json" <<EOT
{"v": 2, "uuid": "$IMG", "name": "bench", "version": "1", "type": "zvol", "os": "linux", "image_size": 64,
 "files": [{"sha1": "$(sha1sum "$VMADM_ROOT/img.raw" | cut -d' ' -f1)", "size": 67108864, "compression": "none"}], "requirements": {}}
EOT
    imgadm install -m "$VMADM_ROOT/img.json" -f "$VMADM_ROOT/img.raw" >/dev/null
fi
echo "{\"uuid\": \"$U\", \"brand\": \"bhyve\", \"ram\": 256, \"vcpus\": 1, \"autoboot\": false,
       \"disks\": [{\"image_uuid\": \"$IMG\", \"boot\": true, \"model\": \"virtio\"}]}" | vmadm create 2>/dev/null

BENCH_LIB="$(cd "$(dirname "$0")/../lib" && pwd)" python3 - "$VMADM_ROOT" "$U" "$RUNS" "$VMADM_ACCEL" <<'PY'
import json, os, socket, statistics, subprocess, sys, time
sys.path.insert(0, os.environ["BENCH_LIB"])
from qmpstatus import qmp_running as _qmp_running
root, uuid, runs, accel = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
rundir = os.path.join(root, "run", "vms", uuid)
qmp = os.path.join(rundir, "qmp.sock")

def get():
    return json.loads(subprocess.run(["vmadm", "get", uuid], check=True, capture_output=True, text=True).stdout)

def qmp_running():
    return _qmp_running(qmp)

def with_vmadm():
    t0 = time.monotonic()
    subprocess.run(["vmadm", "start", uuid], check=True, capture_output=True)
    t = time.monotonic() - t0
    assert qmp_running(), "vmadm start returned before QEMU ran"
    pid = get()["pid"]
    argv = open("/proc/%d/cmdline" % pid, "rb").read().split(b"\0")[:-1]
    subprocess.run(["vmadm", "stop", "-F", uuid], check=True, capture_output=True)
    return t, argv

def by_hand(argv):
    for n in ("qmp.sock", "console.sock", "pid"):
        try: os.unlink(os.path.join(rundir, n))
        except FileNotFoundError: pass
    argv = [a for a in argv]
    # vmadm's QEMU may daemonize or write a pidfile; run it in the foreground.
    argv = [a for a in argv if a != b"-daemonize"]
    t0 = time.monotonic()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not qmp_running():
        if p.poll() is not None: sys.exit("qemu exited (%d)" % p.returncode)
        time.sleep(0.001)
    t = time.monotonic() - t0
    p.kill(); p.wait()
    return t

_, argv = with_vmadm()            # warm caches
by_hand(argv)
a, b = [], []
for i in range(runs):             # interleave so load changes hit both alike
    t, argv = with_vmadm(); a.append(t); b.append(by_hand(argv))
ma, mb = statistics.median(a), statistics.median(b)
print("runs: %d, accel: %s" % (runs, accel))
print("vmadm start (until QEMU runs) median %.1f ms  [%s]" % (ma * 1000, " ".join("%.0f" % (x * 1000) for x in a)))
print("same argv by hand + QMP       median %.1f ms  [%s]" % (mb * 1000, " ".join("%.0f" % (x * 1000) for x in b)))
print("ratio vmadm/by-hand: %.2fx" % (ma / mb))
PY
