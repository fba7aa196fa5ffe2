#!/usr/bin/env bats
# kill -9 at random points of snapshot/clone/destroy/rename/rollback: the
# pool must always list cleanly, every listed volume's data must exist and
# pass `qemu-img check`, and no half-made snapshot may be listed.

load helpers

setup() {
    vm_setup_root
}

teardown() {
    vm_teardown_root
}

# Every dataset/snapshot in pool.json has its data, and volumes check clean.
consistent() {
    vmstore list -t all >/dev/null || { echo "vmstore list failed"; return 1; }
    python3 - "$VMADM_ROOT" <<'PY' || return 1
import json, os, subprocess, sys
root = sys.argv[1]
d = os.path.join(root, "var/vmstore/zones")
m = json.load(open(os.path.join(d, "pool.json")))
bad = []
for name, ds in m["datasets"].items():
    f = os.path.join(d, "data", ds["file"])
    if ds["type"] == "filesystem":
        if not os.path.isdir(os.path.join(f, "fs")):
            bad.append("%s: missing %s" % (name, f))
    else:
        if not os.path.isfile(f):
            bad.append("%s: missing %s" % (name, f))
        else:
            r = subprocess.run(["qemu-img", "check", "-U", "-q", f], capture_output=True, text=True)
            if r.returncode not in (0, 3):   # 3 = leaked clusters only (harmless)
                bad.append("%s: qemu-img check rc=%d %s" % (name, r.returncode, r.stderr + r.stdout))
        if "pending" in ds and os.path.exists(os.path.join(d, "data", ds["pending"])):
            bad.append("%s: pending overlay not applied" % name)
    for s in ds.get("snaps", []):
        l = os.path.join(d, "data", s.get("layer", "?"))
        if not os.path.exists(l):
            bad.append("%s@%s: missing layer %s" % (name, s["name"], l))
        elif ds["type"] == "volume":
            r = subprocess.run(["qemu-img", "check", "-U", "-q", l], capture_output=True, text=True)
            if r.returncode not in (0, 3):
                bad.append("%s@%s: layer check rc=%d" % (name, s["name"], r.returncode))
    o = ds.get("origin")
    if o:
        on, osn = o.split("@")
        if on not in m["datasets"] or osn not in [s["name"] for s in m["datasets"][on]["snaps"]]:
            bad.append("%s: origin %s missing" % (name, o))
for b in bad:
    print(b)
sys.exit(1 if bad else 0)
PY
}

# Runs a vmstore command and kills it after a random delay (0-60 ms).
killrun() {
    vmstore "$@" >/dev/null 2>&1 &
    local pid=$!
    sleep "0.0$((RANDOM % 7))$((RANDOM % 10))"
    kill -9 "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

@test "kill -9 loop over snapshot/clone/destroy/rename/rollback keeps the pool consistent" {
    truncate -s 64M "$BATS_TEST_TMPDIR/img.raw"
    dd if=/dev/urandom of="$BATS_TEST_TMPDIR/img.raw" bs=1M count=8 conv=notrunc status=none
    vmstore import -f raw "$BATS_TEST_TMPDIR/img.raw" zones/img
    vmstore snapshot zones/img@final
    vmstore create zones/vm
    vmstore clone zones/img@final zones/vm/disk0
    echo data > "$VMADM_ROOT/zones/vm/file"
    for i in $(seq 1 40); do
        case $((i % 8)) in
        0) killrun snapshot -r "zones/vm@s$i" ;;
        1) killrun clone zones/img@final "zones/c$i" ;;
        2) killrun snapshot "zones/vm/disk0@d$i" ;;
        3) c=$(vmstore list -H -o name -t volume | grep '^zones/c' | head -1)
           [ -n "$c" ] && killrun destroy -r "$c" ;;
        4) c=$(vmstore list -H -o name -t volume | grep '^zones/c' | tail -1)
           [ -n "$c" ] && killrun rename "$c" "zones/r$i" ;;
        5) s=$(vmstore list -H -o name -t snapshot -r zones/vm/disk0 | head -1)
           [ -n "$s" ] && killrun destroy "$s" ;;
        6) s=$(vmstore list -H -o name -t snapshot -r zones/vm/disk0 | tail -1)
           [ -n "$s" ] && killrun rollback -r "$s" ;;
        7) s=$(vmstore list -H -o name -t snapshot zones/vm | head -1)
           [ -n "$s" ] && killrun rollback -r "$s" ;;
        esac
        run consistent
        if [ "$status" -ne 0 ]; then
            echo "after step $i: $output"
            false
        fi
    done
    # and the pool still works normally afterwards
    vmstore snapshot -r zones/vm@end
    vmstore destroy -r zones/vm
    run consistent
    [ "$status" -eq 0 ]
    # no data left behind by killed processes once they are all gone
    vmstore list >/dev/null
    n=$(python3 -c "
import json
m=json.load(open('$VMADM_ROOT/var/vmstore/zones/pool.json'))
refs=set()
for ds in m['datasets'].values():
    refs.add(ds['file'])
    refs.update(s['layer'] for s in ds['snaps'])
import os
print(len([f for f in os.listdir('$VMADM_ROOT/var/vmstore/zones/data') if f not in refs]))")
    [ "$n" -eq 0 ]
}
