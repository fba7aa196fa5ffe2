#!/bin/bash
# vminfod benchmark with N (default 1000) synthetic VMs in a temporary root:
#   1. `vmadm list` / `vmadm get` through vminfod vs direct (median ms)
#   2. event latency: file change -> event line on /events (p50, p99 ms)
#   3. 10,000 changes as fast as possible: none lost (every VM's final
#      state is in /vms and in the last event seen for it)
#   4. vminfod RSS after all of that
# Prints figures and ratios; targets: get/list via vminfod <= 5 ms median,
# latency p50 <= 5 ms and p99 <= 50 ms, RSS <= 20 MiB.
#
# Usage: bench/vminfod/bench.sh [BUILD_DIR] [N]
set -euo pipefail

BUILD_DIR=${1:-$(cd "$(dirname "$0")/../.." && pwd)/build}
N=${2:-1000}
CHANGES=${CHANGES:-10000}
REPS=${REPS:-50}
export PATH="$BUILD_DIR/src/vmadm:$BUILD_DIR/src/vminfod:$BUILD_DIR/src/vminfo:$PATH"
for t in vmadm vminfod vminfo python3; do
    command -v $t >/dev/null || { echo "missing $t (build first)" >&2; exit 1; }
done

VMADM_ROOT=$(mktemp -d /tmp/vminfod-bench.XXXXXX)
export VMADM_ROOT VMADM_ACCEL=tcg
DPID=
cleanup() {
    [ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
    rm -rf "$VMADM_ROOT"
}
trap cleanup EXIT

echo "== creating $N VMs in $VMADM_ROOT"
# A few real ones through vmadm create; the rest are synthetic copies of
# their configs (a temp root's pool cannot reserve space for 1000 VMs).
t0=$(date +%s.%N)
export VMINFOD_ADDR=none
SEED=$(( N < 10 ? N : 10 ))
for i in $(seq "$SEED"); do
    printf '{"brand":"bhyve","alias":"vm%d","ram":256,"vcpus":1,"autoboot":false,"disks":[{"size":8,"model":"virtio"}],"tags":{"n":%d}}' "$i" "$i" |
        vmadm create >/dev/null
done
python3 - "$VMADM_ROOT/etc/vms" "$N" <<'EOF'
import os, sys, uuid
etc, n = sys.argv[1], int(sys.argv[2])
seeds = sorted(d for d in os.listdir(etc) if not d.startswith("."))
for i in range(len(seeds), n):
    src = seeds[i % len(seeds)]
    new = str(uuid.uuid4())
    text = open(os.path.join(etc, src, "vm.json")).read().replace(src, new)
    os.mkdir(os.path.join(etc, new))
    with open(os.path.join(etc, new, "vm.json"), "w") as f:
        f.write(text)
EOF
t1=$(date +%s.%N)
printf 'created %d VMs (%d through vmadm create) in %.1f s\n' "$N" "$SEED" "$(echo "$t1 - $t0" | bc)"
UUID=$(vmadm list -H -o uuid | awk 'NR == 1')

# median_ms [--touch CONFIG] [--stdin FMT] CMD...: median wall time of REPS
# runs of CMD, in ms.  --touch: before each run, change the alias in that VM
# config (and give vminfod 50 ms to see it: its event latency is ~2 ms);
# --stdin: FMT % run-number is the command's input.
cat > "$VMADM_ROOT/median.py" <<'EOF'
import json, os, subprocess, sys, time
args = sys.argv[1:]
reps = int(args.pop(0))
touch = stdin = None
while args and args[0].startswith("--"):
    opt, val = args.pop(0), args.pop(0)
    if opt == "--touch":
        touch = val
    else:
        stdin = val
ts = []
for i in range(reps):
    if touch:
        cfg = json.load(open(touch))
        cfg["alias"] = "touch%d" % i
        with open(touch + ".b", "w") as f:
            json.dump(cfg, f, indent=2)
        os.rename(touch + ".b", touch)
        time.sleep(0.05)
    t = time.perf_counter()
    subprocess.run(args, input=(stdin % i).encode() if stdin else None,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    ts.append((time.perf_counter() - t) * 1000)
ts.sort()
print("%.2f" % ts[len(ts) // 2])
EOF
median_ms() { python3 "$VMADM_ROOT/median.py" "$REPS" "$@"; }

echo "== direct (VMINFOD_ADDR=none)"
d_get=$(median_ms vmadm get "$UUID")
d_list=$(median_ms vmadm list)

vminfod --listen 127.0.0.1:0 2>"$VMADM_ROOT/vminfod.log" &
DPID=$!
for _ in $(seq 600); do [ -s "$VMADM_ROOT/run/vminfod.addr" ] && break; sleep 0.1; done
export VMINFOD_ADDR=$(cat "$VMADM_ROOT/run/vminfod.addr")
vminfo ping >/dev/null
startup_ms=$(grep -o '"startup refresh done[^"]*' "$VMADM_ROOT/vminfod.log" | head -1)
echo "vminfod up: ${startup_ms#\"}"

echo "== through vminfod"
v_get=$(median_ms vmadm get "$UUID")
v_list=$(median_ms vmadm list)
[ "$(vmadm list -H | wc -l)" -eq "$N" ] || { echo "vmadm list through vminfod is wrong" >&2; exit 1; }

# The same after every run changed a VM: vminfod then projects that VM again
# (the others come from its per-VM cache) instead of answering from the kept
# /vms?fields= body.
v_list_cold=$(median_ms --touch "$VMADM_ROOT/etc/vms/$UUID/vm.json" vmadm list)

printf '%-28s %10s %10s %8s\n' "" "direct ms" "vminfod ms" "ratio"
printf '%-28s %10s %10s %7.1fx\n' "vmadm get (median)" "$d_get" "$v_get" "$(echo "$d_get / $v_get" | bc -l)"
printf '%-28s %10s %10s %7.1fx\n' "vmadm list (median, $N VMs)" "$d_list" "$v_list" "$(echo "$d_list / $v_list" | bc -l)"
printf '%-28s %10s %10s %7.1fx\n' "  ... each after a change" "$d_list" "$v_list_cold" "$(echo "$d_list / $v_list_cold" | bc -l)"

# A write waits until vminfod shows it (read-after-write): its stream starts
# from the one VM it changes, so the cost must not grow with the host's VMs.
d_upd=$(VMINFOD_ADDR=none median_ms --stdin '{"alias": "upd%d"}' vmadm update "$UUID")
v_upd=$(median_ms --stdin '{"alias": "upd%d"}' vmadm update "$UUID")
printf '%-28s %10s %10s %7.1fx\n' "vmadm update (median)" "$d_upd" "$v_upd" "$(echo "$d_upd / $v_upd" | bc -l)"

echo "== event latency and $CHANGES changes"
python3 - "$VMADM_ROOT" "$CHANGES" <<'EOF'
import json, os, socket, sys, threading, time

root, nchanges = sys.argv[1], int(sys.argv[2])
etc = os.path.join(root, "etc/vms")

def stream():
    s = socket.socket(socket.AF_UNIX)
    s.connect(os.path.join(root, "run/vminfod.sock"))
    s.sendall(b"GET /events HTTP/1.1\r\nHost: x\r\nUser-Agent: bench\r\n\r\n")
    f = s.makefile("rb")
    while f.readline() not in (b"\r\n", b""):
        pass
    def lines():
        while True:            # chunked: size line, data, CRLF
            size = int(f.readline().split(b";")[0], 16)
            data = f.read(size); f.readline()
            yield data
    buf = b""
    for data in lines():
        buf += data
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            yield json.loads(line)

ev = stream()
ready = next(ev)
vms = {v["uuid"]: v for v in json.loads(ready["vms"])}
uuids = sorted(vms)

def write_alias(uuid, alias):
    p = os.path.join(etc, uuid, "vm.json")
    with open(p) as f:
        cfg = json.load(f)
    cfg["alias"] = alias
    tmp = p + ".bench"
    with open(tmp, "w") as f:
        json.dump(cfg, f, indent=2)
    os.rename(tmp, p)

# latency: one change at a time, wait for its event
lat = []
for i in range(300):
    u = uuids[i % len(uuids)]
    alias = "lat%d" % i
    t = time.perf_counter()
    write_alias(u, alias)
    for e in ev:
        if e.get("uuid") == u and e.get("vm", {}).get("alias") == alias:
            break
    lat.append((time.perf_counter() - t) * 1000)
lat.sort()
p = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]
print("event latency (file change -> event line), %d samples: p50 %.2f ms  p99 %.2f ms  max %.2f ms"
      % (len(lat), p(0.5), p(0.99), lat[-1]))

# burst: nchanges writes as fast as possible while a reader thread keeps up
# with the stream (a client that stops reading is dropped by design)
final = {}
last = {}
pending = {}
nev = [0]
lock = threading.Lock()
done = threading.Event()
def reader():
    for e in ev:
        nev[0] += 1
        if e.get("type") == "modify":
            with lock:
                a = e["vm"].get("alias")
                last[e["uuid"]] = a
                if pending.get(e["uuid"]) == a:
                    del pending[e["uuid"]]
    done.set()  # stream ended: only if the daemon dropped us
th = threading.Thread(target=reader, daemon=True)
th.start()
t = time.perf_counter()
for i in range(nchanges):
    u = uuids[i % len(uuids)]
    final[u] = "c%d" % i
    with lock:
        pending[u] = final[u]
    write_alias(u, final[u])
wt = time.perf_counter() - t
deadline = time.time() + 120
while time.time() < deadline and not done.is_set():
    with lock:
        if not pending:
            break
    time.sleep(0.002)
if done.is_set():
    print("event stream ended during the burst (dropped as a slow client?)")
pending = {u: a for u, a in final.items() if last.get(u) != a}
nev = nev[0]
el = time.perf_counter() - t
s = socket.socket(socket.AF_UNIX)
s.connect(os.path.join(root, "run/vminfod.sock"))
s.sendall(b"GET /vms HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
resp = b""
while True:
    d = s.recv(1 << 20)
    if not d: break
    resp += d
body = resp.split(b"\r\n\r\n", 1)[1]
cached = {v["uuid"]: v.get("alias") for v in json.loads(body)}
wrong = [u for u in final if cached.get(u) != final[u]]
print("%d changes written in %.2f s (%.0f/s); %d events; all final states seen in %.2f s"
      % (nchanges, wt, nchanges / wt, nev, el))
print("lost: %d VMs with a stale last event, %d VMs stale in /vms  (%s)"
      % (len(pending), len(wrong), "none lost" if not pending and not wrong else "LOST"))
EOF

echo "== vminfod memory"
rss=$(awk '/VmRSS/ {print $2}' /proc/$DPID/status)
hwm=$(awk '/VmHWM/ {print $2}' /proc/$DPID/status)
printf 'vminfod RSS %.1f MiB (peak %.1f MiB) with %d VMs; target <= 20 MiB\n' \
    "$(echo "$rss / 1024" | bc -l)" "$(echo "$hwm / 1024" | bc -l)" "$N"
vminfo status | sed -n '1,5p'
grep -c '"level":"warn"' "$VMADM_ROOT/vminfod.log" | xargs printf 'warnings in log: %s\n'
