#!/bin/sh
# How long a pool.json of a big host (1,000 VMs: 3,000 datasets with a
# snapshot each) takes to load: times `vmstore get` of one property (process
# start + open + parse) and a full `vmstore list`.  Prints figures only;
# target: load well under 20 ms.
set -eu
BUILD_DIR=${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
PATH="$BUILD_DIR/src/vmstore:$PATH"
VMADM_ROOT=$(mktemp -d /tmp/vsbench.XXXXXX)
export VMADM_ROOT
trap 'rm -rf "$VMADM_ROOT"' EXIT

vmstore create -V 8M zones/img
vmstore snapshot zones/img@final
# Synthesize the metadata of 1,000 VMs (zone dataset + 2 disks each) that
# share the image's data files: this measures metadata cost only.
python3 - "$VMADM_ROOT" <<'PY'
import json, os, sys, uuid
d = os.path.join(sys.argv[1], "var/vmstore/zones")
m = json.load(open(os.path.join(d, "pool.json")))
img = m["datasets"]["zones/img"]
root = m["datasets"]["zones"]
for i in range(1000):
    u = str(uuid.uuid4())
    m["datasets"]["zones/" + u] = {"guid": uuid.uuid4().hex[:16], "type": "filesystem", "creation": 1700000000,
        "props": {"quota": 12 << 30, "reservation": 12 << 30}, "snaps": [], "file": root["file"]}
    for n in range(2):
        m["datasets"]["zones/%s/disk%d" % (u, n)] = {"guid": uuid.uuid4().hex[:16], "type": "volume",
            "creation": 1700000000, "props": {"volsize": 10 << 30, "refreservation": "auto"},
            "snaps": [{"name": "vmsnap-a", "guid": uuid.uuid4().hex[:16], "creation": 1700000000,
                       "holds": {}, "props": {}, "volsize": 10 << 30, "layer": img["snaps"][0]["layer"]}],
            "origin": "zones/img@final", "origin_layer": img["snaps"][0]["layer"], "file": img["file"]}
json.dump(m, open(os.path.join(d, "pool.json"), "w"), separators=(",", ":"))
print("pool.json: %d datasets, %d bytes" % (len(m["datasets"]), os.path.getsize(os.path.join(d, "pool.json"))))
PY
now() { date +%s%N; }
t0=$(now); for i in 1 2 3 4 5 6 7 8 9 10; do vmstore get -Hpo value volsize zones/img >/dev/null; done; t1=$(now)
t2=$(now); for i in 1 2 3 4 5 6 7 8 9 10; do vmstore list -H -o name zones/img >/dev/null; done; t3=$(now)
# baseline: an empty pool
E=$(mktemp -d /tmp/vsbench.XXXXXX)
t4=$(now); for i in 1 2 3 4 5 6 7 8 9 10; do VMADM_ROOT=$E vmstore get -Hpo value type zones >/dev/null; done; t5=$(now)
rm -rf "$E"
echo "vmstore get one property, 3,000-dataset pool: $(( (t1 - t0) / 10000000 )) ms (process included)"
echo "vmstore list one dataset, 3,000-dataset pool: $(( (t3 - t2) / 10000000 )) ms"
echo "vmstore get, empty pool (process baseline):  $(( (t5 - t4) / 10000000 )) ms"
t6=$(now); vmstore list -H -t all -o name,volsize,origin >/dev/null; t7=$(now)
echo "vmstore list -t all of 6,000 entries: $(( (t7 - t6) / 1000000 )) ms"
