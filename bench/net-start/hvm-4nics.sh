#!/bin/bash
# bench/net-start/hvm-4nics.sh [RUNS]
# `vmadm start` of a stopped bhyve VM with 4 NICs on a nic tag (taps made by
# vmadm: /dev/net/tun, bridge port, nftables protection in one transaction,
# descriptors passed to the confined QEMU) until QMP says running, against
# bare QEMU started by hand with the same machine, disk and 4 NIC devices
# on 4 taps made beforehand on the same bridge (`-netdev tap,ifname=`, no
# filter), polled the same way.  Also the same VM without NICs, so the NIC
# cost shows on its own.  Runs in its own network namespace.  Prints
# medians and ratios: figures only, nothing asserted (issue 15: within
# 1.2x of bare QEMU).
set -eu
RUNS=${1:-7}
BUILD_DIR=${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
CACHE=${VMADM_TEST_CACHE:-/var/cache/vmadm-test}
[ "$(id -u)" = 0 ] || { echo "needs root (netns, taps, nftables)" >&2; exit 1; }
[ -f "$CACHE/hvm-A.json" ] || { echo "build the test guests first: tests/guest/build.sh" >&2; exit 1; }
export PATH="$BUILD_DIR/src/vmadm:$BUILD_DIR/src/imgadm:$BUILD_DIR/src/nictagadm:$PATH"
export VMINFOD_ADDR=none VMADM_ACCEL=${VMADM_ACCEL:-tcg}
export VMADM_ROOT=$(mktemp -d /tmp/netstart-bench.XXXXXX)
NS=netbench$$
ip netns add "$NS"
trap 'pkill -9 -f -- "$VMADM_ROOT" 2>/dev/null || true; ip netns del "$NS"; rm -rf "$VMADM_ROOT"' EXIT
IN="nsenter --net=/run/netns/$NS"
$IN ip link set lo up
$IN nictagadm add -l bench0 >/dev/null
IMG=650c9436-0b5e-40f9-8130-4d9bddca3242
imgadm install -m "$CACHE/hvm-A.json" -f "$CACHE/hvm-A.raw.zst" >/dev/null
U4=$(cat /proc/sys/kernel/random/uuid)
U0=$(cat /proc/sys/kernel/random/uuid)
nic='{"nic_tag": "bench0", "model": "virtio", "ips": ["dhcp"]}'
for u in "$U4" "$U0"; do
    nics="[$nic, $nic, $nic, $nic]"
    [ "$u" = "$U0" ] && nics="[]"
    echo "{\"uuid\": \"$u\", \"brand\": \"bhyve\", \"ram\": 256, \"vcpus\": 1, \"autoboot\": false,
           \"disks\": [{\"image_uuid\": \"$IMG\", \"boot\": true, \"model\": \"virtio\"}], \"nics\": $nics}" |
        $IN vmadm create >/dev/null 2>&1
done

$IN env BENCH_LIB="$(cd "$(dirname "$0")/../lib" && pwd)" python3 - "$VMADM_ROOT" "$U4" "$U0" "$RUNS" <<'PY'
import json, os, re, statistics, subprocess, sys, time
sys.path.insert(0, os.environ["BENCH_LIB"])
from qmpstatus import qmp_running
root, u4, u0, runs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
accel = os.environ["VMADM_ACCEL"]

def vmadm(*a):
    return subprocess.run(["vmadm", *a], check=True, capture_output=True, text=True).stdout

def start(uuid):
    t0 = time.monotonic()
    vmadm("start", uuid)
    t = time.monotonic() - t0
    assert qmp_running(os.path.join(root, "run", "vms", uuid, "qmp.sock")), "start returned before QEMU ran"
    return t

def stop(uuid):
    vmadm("stop", "-F", uuid)

# The disk and NIC devices of vmadm's own command line, for the bare QEMU.
start(u4)
pid = json.loads(vmadm("get", u4))["pid"]
argv = open("/proc/%d/cmdline" % pid).read().split("\0")[:-1]
stop(u4)
disk = [a.split("opaque=", 1)[1] for a in argv if a.startswith("fd=") and "set=2," in a][0]
devs = [argv[i + 1] for i in range(len(argv) - 1) if argv[i] == "-device" and "netdev=" in argv[i + 1]]
taps = ["benchtap%d" % i for i in range(len(devs))]
for t in taps:
    subprocess.run(["ip", "tuntap", "add", "dev", t, "mode", "tap", "vnet_hdr"], check=True)
    subprocess.run(["ip", "link", "set", t, "master", "bench0", "up"], check=True)
sock = os.path.join(root, "bare-qmp.sock")
bare = ["qemu-system-x86_64", "-machine", "q35", "-accel", accel, "-cpu", "qemu64", "-m", "256", "-smp", "1",
        "-no-user-config", "-nodefaults", "-display", "none", "-qmp", "unix:%s,server=on,wait=off" % sock,
        "-drive", "if=none,id=disk0,format=qcow2,file=%s" % disk.replace(",", ",,"),
        "-device", "virtio-blk-pci,id=disk0,drive=disk0,bus=pcie.0,addr=0x4.0,bootindex=0"]
for i, d in enumerate(devs):
    bare += ["-netdev", "tap,id=net%d,ifname=%s,script=no,downscript=no" % (i, taps[i]), "-device", d]

def by_hand():
    try: os.unlink(sock)
    except FileNotFoundError: pass
    t0 = time.monotonic()
    p = subprocess.Popen(bare, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while not qmp_running(sock):
        if p.poll() is not None: sys.exit("bare qemu exited (%d)" % p.returncode)
        time.sleep(0.001)
    t = time.monotonic() - t0
    p.kill(); p.wait()
    return t

a, b, c = [], [], []
by_hand()
for i in range(runs):       # interleaved, so load changes hit all alike
    a.append(start(u4)); stop(u4)
    b.append(by_hand())
    c.append(start(u0)); stop(u0)
fmt = lambda v: " ".join("%.0f" % (x * 1000) for x in v)
ma, mb, mc = statistics.median(a), statistics.median(b), statistics.median(c)
print("runs: %d, accel: %s, 4 virtio NICs on one nic tag" % (runs, accel))
print("vmadm start, 4 NICs (taps+filter+fds)   median %6.1f ms  [%s]" % (ma * 1000, fmt(a)))
print("bare QEMU, same devices, 4 ready taps    median %6.1f ms  [%s]" % (mb * 1000, fmt(b)))
print("vmadm start, same VM without NICs        median %6.1f ms  [%s]" % (mc * 1000, fmt(c)))
print("ratio vmadm(4 NICs)/bare: %.2fx   NIC cost in vmadm: %.1f ms (%.1f ms per NIC)"
      % (ma / mb, (ma - mc) * 1000, (ma - mc) * 250))
PY
