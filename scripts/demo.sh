#!/bin/bash
# The main job, end to end on this machine: install what is missing, build,
# build two tiny bootable images (A and B), then as an operator would:
# import both images, create a bhyve VM on image A with a data disk, start
# it, write data from inside the guest, reprovision it to image B, and show
# that the guest now runs B and still has the data it wrote under A.
# Everything lives in a scratch VMADM_ROOT that is removed at the end
# (keep it with KEEP=1).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
./scripts/deps.sh
B=$ROOT/$(./scripts/build.sh release)
tests/guest/build.sh >&2
. tests/guest/images.env
C=${VMADM_TEST_CACHE:-/var/cache/vmadm-test}
export PATH="$B/src/vmadm:$B/src/imgadm:$B/src/vmstore:$PATH"
export VMADM_ROOT=${VMADM_ROOT:-$(mktemp -d /tmp/vmadm-demo.XXXXXX)}
export VMINFOD_ADDR=none
say() { printf '\n\033[1m# %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }
cleanup() {
  [ -n "${U:-}" ] && vmadm stop -F "$U" >/dev/null 2>&1 || true
  [ "${KEEP:-0}" = 1 ] || rm -rf "$VMADM_ROOT"
}
trap cleanup EXIT
wait_console() { # pattern timeout
  local log=$VMADM_ROOT/run/vms/$U/console.log
  for _ in $(seq 1 "$2"); do grep -aq "$1" "$log" 2>/dev/null && return 0; sleep 1; done
  echo "timed out waiting for '$1' on the console" >&2; return 1
}

say "state lives in VMADM_ROOT=$VMADM_ROOT"
say "import two images (zstd-compressed raw disks, manifests v2)"
run imgadm install -m "$C/hvm-A.json" -f "$C/hvm-A.raw.zst"
run imgadm install -m "$C/hvm-B.json" -f "$C/hvm-B.raw.zst"
run imgadm list

say "create a bhyve VM on image A, boot disk grown to 2x the image, plus a 128 MiB data disk"
cat > "$VMADM_ROOT/web0.json" <<JSON
{
  "brand": "bhyve", "alias": "web0", "ram": 256, "vcpus": 1, "autoboot": false,
  "flexible_disk_size": 512,
  "disks": [
    {"image_uuid": "$IMG_HVM_A", "boot": true, "model": "virtio", "size": 128},
    {"size": 128, "model": "virtio"}
  ],
  "customer_metadata": {"role": "demo"}
}
JSON
run vmadm create -f "$VMADM_ROOT/web0.json"
U=$(vmadm lookup alias=web0)
run vmadm list
run vmstore list -r -t all "zones/$U"
run vmstore get -Ho value origin "zones/$U/disk0"

say "start it; the guest prints its image, formats disk1 and writes a marker there"
run vmadm start "$U"
wait_console "VMADM-GUEST: ready" 180
grep -a "VMADM-GUEST" "$VMADM_ROOT/run/vms/$U/console.log"

say "reprovision to image B: same VM, same data disk, new OS"
printf '{"image_uuid": "%s"}\n' "$IMG_HVM_B" > "$VMADM_ROOT/reprov.json"
run vmadm reprovision "$U" -f "$VMADM_ROOT/reprov.json"
run vmadm list -o uuid,alias,state,disks.0.image_uuid,disks.0.size
run vmstore get -Ho value origin "zones/$U/disk0"
wait_console "VMADM-GUEST: booted image=beta" 180
wait_console "VMADM-GUEST: ready" 180
echo "--- console after reprovision:"
sed -n '/booted image=beta/,$p' "$VMADM_ROOT/run/vms/$U/console.log" | grep -a "VMADM-GUEST"
grep -aq "data marker: written under image=alpha" "$VMADM_ROOT/run/vms/$U/console.log" \
  && say "OK: the guest runs image B and still reads what it wrote under image A"

say "graceful stop (ACPI), then delete"
run vmadm stop "$U"
run vmadm delete "$U"
U=
run vmadm list
