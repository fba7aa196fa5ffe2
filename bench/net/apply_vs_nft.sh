#!/bin/bash
# bench/net/apply_vs_nft.sh [RUNS]
# Applying one VM's NIC protection (the per-NIC chains and map elements of
# table bridge vmadm, one transaction) with libnftables in-process
# (net_filter_apply: list this VM's chains + one nft_run_cmd_from_buffer),
# against forking `nft -f` with the very same script (the Incus/Proxmox way),
# alternately in one run, in a private network namespace.  Target: <= 5 ms
# median per NIC with libnftables.  Prints figures only.
set -eu
RUNS=${1:-50}
BUILD_DIR=${BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
NETTOOL=$BUILD_DIR/tests/unit/net/nettool
[ -x "$NETTOOL" ] || { echo "build nettool first: ninja -C $BUILD_DIR tests/unit/net/nettool" >&2; exit 1; }
export VMADM_ROOT=$(mktemp -d /tmp/netbench.XXXXXX) VMINFOD_ADDR=none
trap 'rm -rf "$VMADM_ROOT"' EXIT
mkdir -p "$VMADM_ROOT/etc"
printf '{"stub0": {"bridge": "stub0", "link": "", "mac": "", "mtu": 0, "local": true, "owned": true}}\n' \
    > "$VMADM_ROOT/etc/nictags.json"
U=$(cat /proc/sys/kernel/random/uuid)
nic() { printf '{"interface": "net%d", "mac": "02:00:00:00:01:%02x", "nic_tag": "stub0", "ips": ["10.0.%d.5/24", "fd00::%d/64"], "allowed_ips": ["10.9.%d.0/24"]}' "$1" "$1" "$1" "$1" "$1"; }
for n in 1 4; do
    nics=$(nic 0); for i in $(seq 1 $((n - 1))); do nics="$nics, $(nic "$i")"; done
    printf '{"uuid": "%s", "nics": [%s]}\n' "$U" "$nics" > "$VMADM_ROOT/vm.json"
    unshare -n "$NETTOOL" bench "$VMADM_ROOT/vm.json" "$RUNS"
done
