#!/usr/bin/env bats
# Issue 16, NoCloud fallback: an HVM with "nocloud": true gets a "cidata"
# ISO 9660 seed (meta-data, user-data, vendor-data, network-config) built
# from its metadata at each start and attached read-only; read back here
# through the kernel's isofs (mount -o loop,ro) and blkid, and checked with
# cloud-init's own code (PyYAML load, convert_smartos_network_data) so a
# guest reading either datasource ends the same.  Needs root (QEMU, loop).

bats_require_minimum_version 1.5.0
load ../cli/helpers
load hvm

setup() {
    hvm_setup
    /usr/bin/python3 -c 'import cloudinit.sources.DataSourceSmartOS' 2>/dev/null ||
        skip "cloud-init is not installed (scripts/deps.sh installs it)"
}

teardown() {
    mountpoint -q "$F/mnt" 2>/dev/null && umount "$F/mnt"
    hvm_teardown
}

# Odd values on purpose: quotes, a newline and YAML syntax in the hostname.
create() { # NOCLOUD
    cat > "$F/c.json" <<EOT
{"uuid": "$U", "brand": "bhyve", "alias": "nc", "ram": 256, "vcpus": 1, "autoboot": false, $1
 "hostname": "nc0", "resolvers": ["10.0.0.2", "8.8.8.8"],
 "disks": [{"image_uuid": "$IMG_HVM_A", "boot": true, "model": "virtio"}],
 "nics": [{"nic_tag": "admin", "model": "virtio", "interface": "net0", "mac": "52:54:00:12:34:56",
           "ip": "10.0.0.10", "netmask": "255.255.255.0", "gateway": "10.0.0.1", "primary": true, "mtu": 1500},
          {"nic_tag": "external", "model": "virtio", "interface": "net1", "mac": "52:54:00:ab:cd:ef", "ip": "dhcp"}],
 "routes": {"10.2.0.0/16": "10.0.0.254", "10.3.0.0/16": "nics[0]"},
 "customer_metadata": {"hostname": "web\"0\n: {x}", "root_authorized_keys": "ssh-ed25519 AAAAC3Nz test@host\n",
                       "user-script": "#!/bin/sh\necho user-script-ran\n",
                       "cloud-init:user-data": "#cloud-config\nruncmd: [[touch, /tmp/ud]]\n"}}
EOT
    run vmadm create -f "$F/c.json"
    [ "$status" -eq 0 ] || { echo "create: $output"; return 1; }
}

seed() { echo "$VMADM_ROOT/run/vms/$U/cidata.iso"; }

# The seed's files in $F/mnt: the kernel's isofs (mount -o loop,ro) when
# this kernel has it, else libarchive's ISO 9660 reader (bsdtar,
# libarchive-tools).  Either way a reader that is not ours.
read_seed() {
    rm -rf "$F/mnt"
    mkdir -p "$F/mnt"
    if grep -qw iso9660 /proc/filesystems; then
        mount -o loop,ro -t iso9660 "$(seed)" "$F/mnt"
    else
        command -v bsdtar >/dev/null || skip "no iso9660 in this kernel and no bsdtar (libarchive-tools)"
        bsdtar -xf "$(seed)" -C "$F/mnt"
        # bsdtar shows the names as recorded (META-DATA); Linux's isofs
        # (map=normal, what cloud-init mounts with) shows them lower case.
        local f
        for f in "$F/mnt"/*; do mv "$f" "$F/mnt/$(basename "$f" | tr A-Z a-z)"; done
    fi
    ls -la "$F/mnt"
}

# Reads the seed and checks every file against the VM object.
check_seed() {
    read_seed
    vmadm get "$U" > "$F/vm.json"
    /usr/bin/python3 - "$F/mnt" "$F/vm.json" <<'EOT'
import base64, json, os, re, sys, yaml
from cloudinit.sources import DataSourceSmartOS as ds
mnt, vm = sys.argv[1], json.load(open(sys.argv[2]))
assert sorted(os.listdir(mnt)) == ["meta-data", "network-config", "user-data", "vendor-data"], os.listdir(mnt)
rd = lambda n: open(os.path.join(mnt, n), encoding="utf-8").read()
cm = vm["customer_metadata"]
md = yaml.safe_load(rd("meta-data"))
assert md == {"instance-id": vm["uuid"], "local-hostname": cm["hostname"],
              "public-keys": ["ssh-ed25519 AAAAC3Nz test@host"]}, md
assert rd("user-data") == cm["cloud-init:user-data"]
vd = yaml.safe_load(rd("vendor-data"))
files = {f["path"]: f for f in vd["write_files"]}
us = files["/var/db/mdata-user-script"]
assert base64.b64decode(us["content"]).decode() == cm["user-script"] and us["permissions"] == "0700"
assert "/var/lib/cloud/scripts/per-boot/01_smartos_vendor_data.sh" in files
# sdc:routes as the metadata service serves them, then cloud-init's own conversion
routes = []
for dst, gw in vm["routes"].items():
    m = re.fullmatch(r"nics\[(\d+)\]", gw)
    routes.append({"linklocal": bool(m), "dst": dst, "gateway": vm["nics"][int(m.group(1))]["ip"] if m else gw})
want = ds.convert_smartos_network_data(network_data=vm["nics"], dns_servers=vm["resolvers"], routes=routes)
got = yaml.safe_load(rd("network-config"))
assert got == want, (got, want)
assert got == json.load(open(os.environ["GOLDEN_NET"])), got
print("seed ok")
EOT
}

@test "nocloud: true attaches a read-only cidata seed built from the metadata; regenerated at each start" {
    create '"nocloud": true,'
    run vmadm start "$U"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    # root-only file in the root-only runtime directory
    [ "$(stat -c '%a %U' "$(seed)")" = "600 root" ]
    # blkid sees what cloud-init's ds-identify and NoCloud look for
    [ "$(blkid -o value -s TYPE "$(seed)")" = iso9660 ]
    [ "$(blkid -o value -s LABEL "$(seed)")" = cidata ]
    # QEMU has it read-only, on the built-in AHCI (no PCI slot of its own)
    run vmadm info "$U" block
    echo "$output"
    echo "$output" | jq -e '.block[] | select(.device == "cidata") | .inserted.ro == true and .removable == true'
    grep -q -- "-device ide-cd,id=cidata,drive=cidata,bus=ide.5" "$VMADM_ROOT/run/vms/$U/qemu.log"
    GOLDEN_NET="$BATS_TEST_DIRNAME/mdata-network.golden.json" check_seed
    mountpoint -q "$F/mnt" && umount "$F/mnt"
    # metadata changes: the next start has them
    vmadm stop -F "$U" >/dev/null
    [ ! -e "$(seed)" ]
    vmadm update "$U" hostname=nc1 >/dev/null
    echo '{"set_customer_metadata": {"hostname": "changed"}}' | vmadm update "$U" >/dev/null
    run vmadm start "$U"
    [ "$status" -eq 0 ]
    read_seed
    grep -q '"local-hostname": "changed"' "$F/mnt/meta-data"
}

@test "a VM without nocloud gets no seed, no cidata drive; nocloud is refused for containers" {
    create ''
    run vmadm start "$U"
    [ "$status" -eq 0 ]
    [ ! -e "$(seed)" ]
    run vmadm info "$U" block
    ! echo "$output" | grep -q cidata
    ! grep -q cidata "$VMADM_ROOT/run/vms/$U/qemu.log"
    run vmadm validate create -f <(echo '{"brand": "joyent", "nocloud": true}')
    echo "$output"
    [ "$status" -ne 0 ]
    [[ "$output" == *nocloud* ]]
}
