#!/bin/bash
# vmadm list / get / lookup with 1,000 VMs on disk and no vminfod.
# The VMs are made by real `vmadm create`s of joyent-minimal VMs (a clone
# of the test image ct-A, config, metadata; bhyve VMs would each reserve
# 1 GiB of pool space), so list reads the real on-disk format.  Prints
# figures; asserts nothing.  Needs the test image cache (tests/guest/build.sh).
# Target (issue "Foundation"): vmadm list <= 100 ms.
#
#   bench/vmadm/list_1000.sh [N]        (BUILD_DIR defaults to ./build)
set -eu
cd "$(dirname "$0")/../.."
N=${1:-1000}
BUILD_DIR=${BUILD_DIR:-$PWD/build}
export PATH="$BUILD_DIR/src/vmadm:$BUILD_DIR/src/vmstore:$BUILD_DIR/src/imgadm:$PATH"
. tests/guest/images.env
CACHE=${VMADM_TEST_CACHE:-/var/cache/vmadm-test}
[ -f "$CACHE/ct-A.json" ] || { echo "no test image cache in $CACHE (run tests/guest/build.sh)" >&2; exit 1; }
export VMINFOD_ADDR=none
VMADM_ROOT=$(mktemp -d /tmp/vmbench.XXXXXX)
export VMADM_ROOT
trap 'rm -rf "$VMADM_ROOT"' EXIT
command -v hyperfine >/dev/null || { echo "hyperfine is needed" >&2; exit 1; }

imgadm install -m "$CACHE/ct-A.json" -f "$CACHE/ct-A.tar.gz" >/dev/null
P=$VMADM_ROOT/payloads
mkdir -p "$P"
for i in $(seq 1 "$N"); do
    printf '{"brand":"joyent-minimal","image_uuid":"%s","autoboot":false,"alias":"vm%d","max_physical_memory":%d,"tags":{"n":%d}}\n' \
        "$IMG_CT_A" "$i" $((256 * (1 + i % 8))) "$i" > "$P/$i.json"
done

echo "== creating $N VMs with vmadm create (2 in parallel)"
start=$(date +%s.%N)
seq 1 "$N" | xargs -P 2 -I{} sh -c 'vmadm create -f "$1/{}.json" 2>/dev/null || true' _ "$P"
end=$(date +%s.%N)
made=$(vmadm list -H | wc -l)
awk -v s="$start" -v e="$end" -v n="$made" \
    'BEGIN { printf "created %d VMs in %.1f s (%.1f ms per create, wall clock, 2 at a time)\n", n, e - s, (e - s) * 1000 / n }'
[ "$made" -eq "$N" ] || echo "WARNING: only $made of $N VMs were created"

one=$(vmadm lookup alias=vm$((N / 2)))
echo "== timings (no vminfod; warm page cache)"
hyperfine -N --warmup 3 --runs 20 --style basic \
    'vmadm list' \
    'vmadm list -p -o uuid,alias,ram,max_physical_memory -s -ram' \
    "vmadm list type=OS alias=~^vm1 tags.n=~5" \
    "vmadm lookup -1 alias=vm$((N / 2))" \
    "vmadm get $one" 2>&1
echo "target: vmadm list <= 100 ms with $N VMs"
