#!/usr/bin/env bats
# vmadm create / get as an operator uses them: the vmadm(8)-style example
# payloads for every brand, the VM object they give (reference C3, C12,
# C13, V14–V20, O1–O9), and every refusal changing nothing.

load helpers
load fixtures/vmadm-lib

setup() {
    vm_setup_root
}

teardown() {
    vm_teardown_root
}

ZERO=00000000-0000-0000-0000-000000000000
HVM_PRIV="default,-file_link_any,-net_access,-proc_fork,-proc_info,-proc_session"

@test "create bhyve with disks and nics: message, object, storage" {
    install_zvol
    create_ok "$(fixture bhyve)"
    vmadm get "$VM" > "$BATS_TEST_TMPDIR/o.json"
    o() { jq -r "$1" "$BATS_TEST_TMPDIR/o.json"; }
    [ "$(o .uuid)" = "$VM" ]
    [ "$(o .zonename)" = "$VM" ]
    [ "$(o .brand)" = bhyve ]
    [ "$(o .alias)" = bhyve0 ]
    [ "$(o .hostname)" = bhyve0 ]
    [ "$(o .state)" = stopped ]
    [ "$(o .zone_state)" = installed ]
    [ "$(o .hvm)" = true ]
    [ "$(o .autoboot)" = false ]
    [ "$(o .ram)" = 1024 ]
    [ "$(o .vcpus)" = 2 ]
    # V15: ram 1024 → 2304 everywhere
    [ "$(o .max_physical_memory)" = 2304 ]
    [ "$(o .max_locked_memory)" = 2304 ]
    [ "$(o .max_swap)" = 2304 ]
    [ "$(o .max_shm_memory)" = 2304 ]
    [ "$(o .quota)" = 1 ]
    [ "$(o .limit_priv)" = "$HVM_PRIV" ]
    [ "$(o .owner_uuid)" = $ZERO ]
    [ "$(o .billing_id)" = $ZERO ]
    [ "$(o .cpu_shares)" = 100 ]
    [ "$(o .zfs_io_priority)" = 100 ]
    [ "$(o .max_lwps)" = 2000 ]
    [ "$(o .max_msg_ids)" = 4096 ]
    [ "$(o .zfs_root_recsize)" = 131072 ]
    [ "$(o .com1)" = /dev/zconsole ]
    [ "$(o .com2)" = socket,/tmp/vm.ttyb ]
    [ "$(o .v)" = 1 ]
    [ "$(o .firewall_enabled)" = false ]
    [ "$(o .dns_domain)" = null ]
    [ "$(o .tmpfs)" = null ]
    [ "$(o '.resolvers|join(",")')" = 8.8.8.8,8.8.4.4 ]
    [ "$(o .zpool)" = zones ]
    [ "$(o .zfs_filesystem)" = "zones/$VM" ]
    [ "$(o .zonepath)" = "$VMADM_ROOT/zones/$VM" ]
    [[ "$(o .create_timestamp)" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$ ]]
    [[ "$(o .last_modified)" =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}T ]]
    [ "$(o '.snapshots|length')" = 0 ]
    [ "$(o '.customer_metadata["user-script"]')" = "$(printf '#!/bin/sh\necho hi')" ]
    [ "$(o .tags.role)" = web ]
    [ "$(o '.routes|length')" = 0 ]
    [ "$(o '.internal_metadata|length')" = 0 ]
    # disks: image disk first (boot, image size), blank 512 MiB second
    [ "$(o '.disks|length')" = 2 ]
    [ "$(o '.disks[0].path')" = "$VMADM_ROOT/dev/zvol/rdsk/zones/$VM/disk0" ]
    [ "$(o '.disks[0].zfs_filesystem')" = "zones/$VM/disk0" ]
    [ "$(o '.disks[0].boot')" = true ]
    [ "$(o '.disks[0].image_uuid')" = "$ZVOL_IMG" ]
    [ "$(o '.disks[0].size')" = 64 ]
    [ "$(o '.disks[0].pci_slot')" = 0:4:0 ]
    [ "$(o '.disks[0].model')" = virtio ]
    [ "$(o '.disks[0].media')" = disk ]
    [ "$(o '.disks[0].zpool')" = zones ]
    [[ "$(o '.disks[0].uuid')" =~ ^[0-9a-f-]{36}$ ]]
    [ "$(o '.disks[1].path')" = "$VMADM_ROOT/dev/zvol/rdsk/zones/$VM/disk1" ]
    [ "$(o '.disks[1].boot')" = false ]
    [ "$(o '.disks[1].size')" = 512 ]
    [ "$(o '.disks[1].pci_slot')" = 0:4:1 ]
    [ "$(o '.disks[1].zfs_filesystem')" = "zones/$VM/disk1" ]
    [ "$(o '[.disks[]|select(.missing)]|length')" = 0 ]
    [ "$(o '.disks[0].uuid != .disks[1].uuid')" = true ]
    # nics
    [ "$(o '.nics|length')" = 1 ]
    [ "$(o '.nics[0].interface')" = net0 ]
    [ "$(o '.nics[0].model')" = virtio ]
    [ "$(o '.nics[0].primary')" = true ]
    [ "$(o '.nics[0].nic_tag')" = admin ]
    [ "$(o '.nics[0].ips[0]')" = 10.88.88.221/24 ]
    [[ "$(o '.nics[0].mac')" =~ ^[0-9a-f]{2}(:[0-9a-f]{2}){5}$ ]]
    # storage exists: the VM dataset and both volumes
    run datasets_of "$VM"
    [ "${lines[*]}" = "zones/$VM zones/$VM/disk0 zones/$VM/disk1" ]
    [ -f "$VMADM_ROOT/etc/vms/$VM/vm.json" ]
    jq . "$VMADM_ROOT/etc/vms/$VM/vm.json" >/dev/null
}

@test "create joyent with image: OS defaults, no ram key, legacy nic" {
    install_ct
    create_ok "$(fixture joyent)"
    vmadm get "$VM" > "$BATS_TEST_TMPDIR/o.json"
    o() { jq -r "$1" "$BATS_TEST_TMPDIR/o.json"; }
    [ "$(o .brand)" = joyent ]
    [ "$(o .image_uuid)" = "$IMG_CT_A" ]
    [ "$(o .hvm)" = false ]
    [ "$(o .state)" = stopped ]
    [ "$(o .ram)" = null ]
    [ "$(o .vcpus)" = null ]
    [ "$(o .disks)" = null ]
    [ "$(o .max_physical_memory)" = 512 ]
    [ "$(o .max_locked_memory)" = 512 ]
    [ "$(o .max_swap)" = 512 ]
    [ "$(o .tmpfs)" = 512 ]
    [ "$(o .quota)" = 20 ]
    [ "$(o .dns_domain)" = local ]
    [ "$(o .limit_priv)" = default ]
    [ "$(o .mdata_exec_timeout)" = 300 ]
    [ "$(o .customer_metadata.note)" = hello ]
    [ "$(o '.nics[0].interface')" = net0 ]
    [ "$(o '.nics[0].ip')" = 10.2.121.70 ]
    [ "$(o '.nics[0].netmask')" = 255.255.0.0 ]
    [ "$(o '.nics[0].primary')" = true ]
    [ "$(o '.nics[0].model')" = null ]
    [ "$(o .zonepath)" = "$VMADM_ROOT/zones/$VM" ]
    # the zone root is the image's tree
    [ -f "$VMADM_ROOT/zones/$VM/root/etc/os-release" ] || [ -f "$VMADM_ROOT/zones/$VM/etc/os-release" ]
    run datasets_of "$VM"
    [ "$output" = "zones/$VM" ]
}

@test "create joyent-minimal: the default key set (V19)" {
    install_ct
    # SmartOS's own V19 payload: only do_not_inventory and the image
    create_ok "$(fixture joyent-minimal-dni)"
    run vmadm get "$VM"
    [ "$status" -eq 0 ]
    keys=$(echo "$output" | jq -r 'keys[]' | sort | tr '\n' ' ')
    required="alias autoboot billing_id brand cpu_shares create_timestamp customer_metadata dns_domain do_not_inventory firewall_enabled hvm image_uuid internal_metadata last_modified limit_priv max_locked_memory max_lwps max_msg_ids max_physical_memory max_sem_ids max_shm_ids max_shm_memory max_swap nics owner_uuid platform_buildstamp quota resolvers routes server_uuid snapshots state tags tmpfs uuid v zfs_filesystem zfs_io_priority zfs_root_recsize zone_state zonename zonepath zpool"
    optional="mdata_exec_timeout zoneid zonedid datacenter_name headnode_id"
    for k in $required; do
        [[ " $keys " == *" $k "* ]] || { echo "missing key $k"; false; }
    done
    for k in $keys; do
        [[ " $required $optional " == *" $k "* ]] || { echo "unexpected key $k"; false; }
    done
    o() { echo "$output" | jq -r "$1"; }
    [ "$(o .do_not_inventory)" = true ]
    [ "$(o .max_physical_memory)" = 256 ]
    [ "$(o .max_swap)" = 256 ]
    [ "$(o .tmpfs)" = 256 ]
    [ "$(o .quota)" = 10 ]
    [ "$(o .zonename)" = "$VM" ]
    [ "$(o .nics)" = "[]" ]
}

@test "create lx with kernel_version: eth interfaces, type LX" {
    install_lx
    create_ok "$(fixture lx)"
    o() { jget "$VM" "$1"; }
    [ "$(o .brand)" = lx ]
    [ "$(o .kernel_version)" = "$IMG_LX_KERNEL_VERSION" ]
    [ "$(o .image_uuid)" = "$IMG_LX_A" ]
    [ "$(o '.nics[0].interface')" = eth0 ]
    [ "$(o '.nics[0].ips|join(",")')" = "10.11.12.13/24,fd00::4321/64" ]
    [ "$(o .tmpfs)" = 1024 ]
    [ "$(o .ram)" = null ]
    [ "$(o .mdata_exec_timeout)" = null ]
    run vmadm list -H -o uuid,type,ram
    [ "$output" = "$VM  LX    1024" ]
}

@test "create kvm: KVM memory overhead, disk from image" {
    install_zvol
    create_ok "$(fixture kvm)"
    o() { jget "$VM" "$1"; }
    [ "$(o .brand)" = kvm ]
    [ "$(o .ram)" = 512 ]
    [ "$(o .max_physical_memory)" = 1536 ]
    [ "$(o .max_locked_memory)" = 1536 ]
    [ "$(o .max_swap)" = 1536 ]
    [ "$(o .hvm)" = true ]
    [ "$(o '.disks[0].size')" = 64 ]
    [ "$(o '.disks[0].boot')" = true ]
    [ "$(o '.nics[0].ip')" = dhcp ]
    [ "$(o .com1)" = null ]
    run vmadm list -H -o type
    [ "$output" = KVM ]
}

@test "create bhyve with defaults only: ram 256 gives 1536 (V15)" {
    create_ok "$(fixture bhyve-nodisk)"
    o() { jget "$VM" "$1"; }
    [ "$(o .ram)" = 256 ]
    [ "$(o .max_physical_memory)" = 1536 ]
    [ "$(o .vcpus)" = 1 ]
    [ "$(o .disks)" = "[]" ]
    [ "$(o .autoboot)" = false ]
    echo '{"brand":"kvm","autoboot":false}' > "$BATS_TEST_TMPDIR/k.json"
    create_ok "$BATS_TEST_TMPDIR/k.json"
    [ "$(jget "$VM" .max_physical_memory)" = 1280 ]
}

@test "create reads stdin (no -f, and -f -)" {
    run --separate-stderr vmadm create < "$FIX/bhyve-nodisk.json"
    [ "$status" -eq 0 ]
    [ -z "$output" ]
    [[ "$stderr" =~ ^Successfully\ created\ VM\ [0-9a-f-]{36}$ ]]
    run --separate-stderr vmadm create -f - < "$FIX/bhyve-nodisk.json"
    [ "$status" -eq 0 ]
    [[ "$stderr" =~ ^Successfully\ created\ VM\ [0-9a-f-]{36}$ ]]
    run vmadm list -H -o brand
    [ "${#lines[@]}" -eq 2 ]
}

@test "a given uuid is used; a second create with it is refused" {
    u=3f8d2a10-5b6c-4d7e-8f90-a1b2c3d4e5f6
    echo "{\"brand\":\"bhyve\",\"autoboot\":false,\"uuid\":\"$u\",\"alias\":\"first\"}" > "$BATS_TEST_TMPDIR/p.json"
    create_ok "$BATS_TEST_TMPDIR/p.json"
    [ "$VM" = "$u" ]
    before=$(state)
    sed -i 's/first/second/' "$BATS_TEST_TMPDIR/p.json"
    run --separate-stderr vmadm create -f "$BATS_TEST_TMPDIR/p.json"
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [ "$stderr" = "VM with UUID $u already exists" ]
    [ "$(state)" = "$before" ]
    [ "$(jget $u .alias)" = first ]
}

@test "alias null means no alias; tags and metadata kept (V20)" {
    install_ct
    cat > "$BATS_TEST_TMPDIR/p.json" <<EOF
{"brand":"joyent-minimal","image_uuid":"$IMG_CT_A","autoboot":false,"alias":null,
 "tags":{"hello":"world","n":1,"b":true},"internal_metadata":{"x":"y"},
 "routes":{"10.0.0.0/8":"10.1.1.1"}}
EOF
    create_ok "$BATS_TEST_TMPDIR/p.json"
    vmadm get "$VM" > "$BATS_TEST_TMPDIR/o.json"
    [ "$(jq 'has("alias")' "$BATS_TEST_TMPDIR/o.json")" = false ]
    [ "$(jq -c .tags "$BATS_TEST_TMPDIR/o.json")" = '{"hello":"world","n":1,"b":true}' ]
    [ "$(jq -c .internal_metadata "$BATS_TEST_TMPDIR/o.json")" = '{"x":"y"}' ]
    [ "$(jq -r '.routes["10.0.0.0/8"]' "$BATS_TEST_TMPDIR/o.json")" = 10.1.1.1 ]
}

@test "autoboot false is stored as boolean false (V21)" {
    create_ok "$(fixture bhyve-nodisk)"
    [ "$(jget "$VM" '.autoboot|type')" = boolean ]
    [ "$(jget "$VM" .autoboot)" = false ]
}

# refuse PAYLOAD_FILE MESSAGE: create fails with exactly MESSAGE, one line on
# stderr, nothing on stdout, nothing changed.
refuse() {
    local before; before=$(state)
    run --separate-stderr vmadm create -f "$1"
    echo "status=$status stderr=$stderr"
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [ "$stderr" = "$2" ]
    [ "$(state)" = "$before" ]
}

@test "create refusals of payloads: exact message, nothing changed" {
    install_ct
    install_lx
    create_ok "$(fixture bhyve-nodisk)"
    P=$BATS_TEST_TMPDIR/bad.json
    echo '{"brand":"joyent","autoboot":false}' > $P
    refuse $P "Missing required properties: image_uuid"
    echo '{"brand":"lx","image_uuid":"'$IMG_LX_A'","autoboot":false}' > $P
    refuse $P "Missing required properties: kernel_version"
    echo '{"brand":"bhyve","autoboot":false,"dns_domain":"example.com"}' > $P
    refuse $P 'Invalid properties for brand "bhyve" on create: dns_domain'
    echo '{"brand":"joyent","image_uuid":"'$IMG_CT_A'","autoboot":false,"vcpus":4,"disks":[]}' > $P
    refuse $P 'Invalid properties for brand "joyent" on create: vcpus,disks'
    echo '{"brand":"sparc","autoboot":false}' > $P
    refuse $P "Unsupported brand: sparc"
    echo '{"brand":"bhyve","autoboot":"aardvark"}' > $P
    refuse $P "Invalid value(s) for: autoboot"
    echo '{"brand":"bhyve","autoboot":false,"alias":42,"cpu_cap":1500.3,"max_swap":128}' > $P
    refuse $P "Invalid value(s) for: alias,cpu_cap,max_swap"
    echo '{"brand":"bhyve","autoboot":false,"ram":"lots"}' > $P
    refuse $P "Invalid value for ram: null:number"
    echo '{"brand":"joyent-minimal","image_uuid":"'$IMG_CT_A'","autoboot":false,"customer_metadata":{"a":{"b":1}}}' > $P
    refuse $P "Invalid value(s) for: customer_metadata"
}

@test "create refusals of images (V6): not installed, wrong type for the brand" {
    install_ct
    install_lx
    create_ok "$(fixture bhyve-nodisk)"
    P=$BATS_TEST_TMPDIR/bad.json
    echo '{"brand":"joyent","image_uuid":"0d7b8f7e-4a4f-4c39-9e4b-5f2b6d0c1a99","autoboot":false}' > $P
    refuse $P "Invalid value(s) for: image_uuid"
    echo '{"brand":"joyent","image_uuid":"'$IMG_LX_A'","autoboot":false}' > $P
    refuse $P "Invalid value(s) for: image_uuid"
    echo '{"brand":"lx","image_uuid":"'$IMG_CT_A'","kernel_version":"4.3.0","autoboot":false}' > $P
    refuse $P "Invalid value(s) for: image_uuid"
}

@test "create refusals of NICs (V4, V12)" {
    create_ok "$(fixture bhyve-nodisk)"
    P=$BATS_TEST_TMPDIR/bad.json
    echo '{"brand":"bhyve","autoboot":false,"nics":[{"nic_tag":"admin","model":"virtio","mac":"aa:bb:cc:dd:ee:ff:12"}]}' > $P
    refuse $P "Invalid value(s) for: nics.*.mac"
    echo '{"brand":"bhyve","autoboot":false,"nics":[{"nic_tag":"admin","model":"virtio","mtu":500}]}' > $P
    refuse $P "Invalid value(s) for: nics.*.mtu"
    echo '{"brand":"bhyve","autoboot":false,"nics":[{"nic_tag":"admin","model":"virtio","mac":"02:00:00:00:00:01"},{"nic_tag":"external","model":"virtio","mac":"02:00:00:00:00:01"}]}' > $P
    refuse $P "Cannot add multiple NICs with the same MAC: 02:00:00:00:00:01"
    echo '{"brand":"bhyve","autoboot":false,"nics":[{"nic_tag":"admin","model":"virtio","primary":true},{"nic_tag":"external","model":"virtio","primary":true}]}' > $P
    refuse $P "payload specifies more than 1 primary NIC"
    # nic tags must exist on this host; nothing is left behind.
    echo '{"brand":"bhyve","autoboot":false,"nics":[{"nic_tag":"storage","model":"virtio"}]}' > $P
    refuse $P 'Invalid nic tag "storage"'
    echo '{"brand":"bhyve","autoboot":false,"nics":[{"model":"virtio","ips":["dhcp"]}]}' > $P
    refuse $P 'invalid or missing .nic_tag option for NIC: {"model":"virtio","ips":["dhcp"]}'
    echo '{"brand":"bhyve","autoboot":false,"nics":[{"nic_tag":"admin","model":"virtio","allowed_ips":["10.1.2.3","fe80::/130"]}]}' > $P
    refuse $P 'invalid allowed_ips: ["10.1.2.3","fe80::/130"]'
    [ "$(vmadm list -H -o uuid | wc -l)" -eq 1 ]
    [ "$(ls "$VMADM_ROOT/etc/vms" | wc -l)" -eq 1 ]
}

@test "create refusal of a bhyve NIC without model names the NIC as given" {
    create_ok "$(fixture bhyve-nodisk)"
    P=$BATS_TEST_TMPDIR/bad.json
    echo '{"brand":"bhyve","autoboot":false,"nics":[{"nic_tag":"admin","mac":"02:00:00:00:00:01"}]}' > $P
    refuse $P 'missing .model option for NIC: {"nic_tag":"admin","mac":"02:00:00:00:00:01"}'
}

@test "create refusals of disks (V5) and VNC password" {
    create_ok "$(fixture bhyve-nodisk)"
    P=$BATS_TEST_TMPDIR/bad.json
    echo '{"brand":"bhyve","autoboot":false,"disks":[{"size":64,"boot":true},{"model":"virtio"}]}' > $P
    refuse $P "Missing required properties: disks.1.size"
    echo '{"brand":"bhyve","autoboot":false,"disks":[{"size":64,"colour":"red"}]}' > $P
    refuse $P 'Invalid properties for brand "bhyve" on create: disks.*.colour'
    echo '{"brand":"bhyve","autoboot":false,"vnc_password":"123456789"}' > $P
    refuse $P "VNC password is too long, maximum length is 8 characters."
}

@test "create refuses numbers the memory arithmetic cannot hold" {
    create_ok "$(fixture bhyve-nodisk)"
    P=$BATS_TEST_TMPDIR/bad.json
    echo '{"brand":"bhyve","autoboot":false,"ram":9223372036854775807}' > $P
    refuse $P "Invalid value(s) for: ram"
    echo '{"brand":"bhyve","autoboot":false,"cpu_cap":1e300}' > $P
    refuse $P "Invalid value(s) for: cpu_cap"
    echo '{"brand":"bhyve","autoboot":false,"max_physical_memory":9223372036854775807}' > $P
    refuse $P "Invalid value(s) for: max_physical_memory"
}

@test "create refuses a pool that does not exist, without creating it" {
    install_ct
    P=$BATS_TEST_TMPDIR/bad.json
    echo '{"brand":"bhyve","autoboot":false,"zpool":"doogle"}' > $P
    refuse $P "Invalid value(s) for: zpool"
    [ ! -e "$VMADM_ROOT/var/vmstore/doogle" ]
    [ ! -e "$VMADM_ROOT/doogle" ]
}

@test "get: unknown VM, bad uuid, alias json" {
    run --separate-stderr vmadm get 6a3b8c1e-2f4d-4e5a-9b6c-7d8e9f0a1b2c
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [ "$stderr" = "zoneadm: 6a3b8c1e-2f4d-4e5a-9b6c-7d8e9f0a1b2c: No such zone configured" ]
    run --separate-stderr vmadm get not-a-uuid
    [ "$status" -eq 2 ]
    [ "${stderr_lines[0]}" = "Invalid or missing UUID for get" ]
    [ "${stderr_lines[1]}" = "Usage: vmadm <command> [options]" ]
    create_ok "$(fixture bhyve-nodisk)"
    run --separate-stderr vmadm json "$VM"
    [ "$status" -eq 0 ]
    [ "$(echo "$output" | jq -r .uuid)" = "$VM" ]
    # pretty, 2-space indent (C13)
    [ "${lines[0]}" = "{" ]
    [[ "${lines[1]}" =~ ^\ \ \"[a-z_]+\":\  ]]
}
