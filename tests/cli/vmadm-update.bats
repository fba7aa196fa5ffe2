#!/usr/bin/env bats
# vmadm update round trips (reference C17–C21, V16, V18): key=value
# arguments, JSON from a file and stdin, set_/remove_ for the four
# dictionaries, NICs, memory arithmetic, null to remove, refusals.

load helpers
load fixtures/vmadm-lib

setup() {
    vm_setup_root
}

teardown() {
    vm_teardown_root
}

# update_ok UUID ARGS...: success exactly as C18 says.
update_ok() {
    local u=$1
    shift
    run --separate-stderr vmadm update "$u" "$@"
    echo "update $*: $status $stderr"
    [ "$status" -eq 0 ]
    [ -z "$output" ]
    [ "$stderr" = "Successfully updated VM $u" ]
}

new_jm() {
    install_ct
    create_ok "$(fixture joyent-minimal)"
}

@test "update key=value: strings, integers and booleans are coerced (C17)" {
    new_jm
    update_ok $VM alias=renamed hostname=h1 cpu_cap=150 autoboot=true do_not_inventory=false
    vmadm get $VM > "$BATS_TEST_TMPDIR/o.json"
    [ "$(jq -r .alias "$BATS_TEST_TMPDIR/o.json")" = renamed ]
    [ "$(jq -r .hostname "$BATS_TEST_TMPDIR/o.json")" = h1 ]
    [ "$(jq -r '.cpu_cap|type' "$BATS_TEST_TMPDIR/o.json")" = number ]
    [ "$(jq -r .cpu_cap "$BATS_TEST_TMPDIR/o.json")" = 150 ]
    [ "$(jq -r '.autoboot|type' "$BATS_TEST_TMPDIR/o.json")" = boolean ]
    [ "$(jq -r .autoboot "$BATS_TEST_TMPDIR/o.json")" = true ]
    # V18: false booleans are not stored
    [ "$(jq 'has("do_not_inventory")' "$BATS_TEST_TMPDIR/o.json")" = false ]
    # the value is split at the first '='
    update_ok $VM 'alias=a=b'
    [ "$(jget $VM .alias)" = "a=b" ]
    # list shows the change
    run vmadm list -H -o alias
    [ "$output" = "a=b" ]
    # resolvers as a comma list
    update_ok $VM resolvers=1.1.1.1,9.9.9.9
    [ "$(jget $VM '.resolvers|join(" ")')" = "1.1.1.1 9.9.9.9" ]
    # empty value unsets an integer
    update_ok $VM cpu_cap=
    [ "$(jget $VM 'has("cpu_cap")')" = false ]
}

@test "update JSON via -f and via stdin (C18)" {
    new_jm
    echo '{"alias":"from-file","max_lwps":3000}' > "$BATS_TEST_TMPDIR/u.json"
    update_ok $VM -f "$BATS_TEST_TMPDIR/u.json"
    [ "$(jget $VM .alias)" = from-file ]
    [ "$(jget $VM .max_lwps)" = 3000 ]
    run --separate-stderr vmadm update $VM <<< '{"alias":"from-stdin"}'
    [ "$status" -eq 0 ]
    [ "$stderr" = "Successfully updated VM $VM" ]
    [ "$(jget $VM .alias)" = from-stdin ]
    run --separate-stderr vmadm update $VM -f - <<< '{"alias":"dash"}'
    [ "$status" -eq 0 ]
    [ "$(jget $VM .alias)" = dash ]
    # alias null via JSON removes it (C17)
    update_ok $VM -f <(echo '{"alias":null}')
    [ "$(jget $VM 'has("alias")')" = false ]
    run vmadm list -H -o alias
    [ "$output" = "-" ]
}

@test "set_/remove_ tags, customer_metadata, internal_metadata, routes (C20)" {
    new_jm
    update_ok $VM -f <(echo '{"set_tags":{"foo":1,"bar":"x","b":true},
        "set_customer_metadata":{"user-data":"hello","n":2},
        "set_internal_metadata":{"i":"j"},
        "set_routes":{"10.0.0.0/8":"10.1.1.1","192.168.0.0/16":"10.1.1.2"}}')
    vmadm get $VM > "$BATS_TEST_TMPDIR/o.json"
    # value types preserved
    [ "$(jq -c .tags "$BATS_TEST_TMPDIR/o.json")" = '{"foo":1,"bar":"x","b":true}' ]
    [ "$(jq -c .customer_metadata "$BATS_TEST_TMPDIR/o.json")" = '{"user-data":"hello","n":2}' ]
    [ "$(jq -c .internal_metadata "$BATS_TEST_TMPDIR/o.json")" = '{"i":"j"}' ]
    [ "$(jq -c '.routes|keys' "$BATS_TEST_TMPDIR/o.json")" = '["10.0.0.0/8","192.168.0.0/16"]' ]
    # upsert; removes before sets; unknown remove keys ignored
    update_ok $VM -f <(echo '{"set_tags":{"foo":"2","new":"n"},"remove_tags":["bar","nope","new"],
        "remove_customer_metadata":["n"],"remove_internal_metadata":["i"],
        "remove_routes":["10.0.0.0/8"]}')
    vmadm get $VM > "$BATS_TEST_TMPDIR/o.json"
    [ "$(jq -c .tags "$BATS_TEST_TMPDIR/o.json")" = '{"foo":"2","b":true,"new":"n"}' ]
    [ "$(jq -c .customer_metadata "$BATS_TEST_TMPDIR/o.json")" = '{"user-data":"hello"}' ]
    [ "$(jq -c .internal_metadata "$BATS_TEST_TMPDIR/o.json")" = '{}' ]
    [ "$(jq -c .routes "$BATS_TEST_TMPDIR/o.json")" = '{"192.168.0.0/16":"10.1.1.2"}' ]
    # remove_ as a comma list from key=value
    update_ok $VM remove_tags=foo,b
    [ "$(vmadm get $VM | jq -c .tags)" = '{"new":"n"}' ]
    # tag filters see the change
    run vmadm lookup tags.new=n
    [ "$output" = "$VM" ]
    # the metadata lives in <zonepath>/config, valid JSON
    jq . "$VMADM_ROOT/zones/$VM/config/tags.json" >/dev/null
    jq . "$VMADM_ROOT/zones/$VM/config/metadata.json" >/dev/null
}

@test "bhyve ram changes max_physical_memory, locked and swap (V16)" {
    create_ok "$(fixture bhyve-nodisk)"
    update_ok $VM ram=1024
    mem() { jget $VM '[.ram,.max_physical_memory,.max_locked_memory,.max_swap]|join(" ")'; }
    [ "$(mem)" = "1024 2304 2304 2304" ]
    update_ok $VM ram=2048
    [ "$(mem)" = "2048 3328 3328 3328" ]
    update_ok $VM ram=1024
    [ "$(mem)" = "1024 2304 2304 2304" ]
    # the same value again is a no-op success
    update_ok $VM ram=1024
    [ "$(mem)" = "1024 2304 2304 2304" ]
    update_ok $VM ram=2048 max_physical_memory=2048
    [ "$(mem)" = "2048 2304 2304 2304" ]
    update_ok $VM max_swap=4096
    [ "$(mem)" = "2048 2304 2304 4096" ]
    update_ok $VM max_locked_memory=9999
    [ "$(jget $VM .max_locked_memory)" = 2304 ]
    run vmadm list -H -o ram
    [ "$output" = 2048 ]
    update_ok $VM vnc_port=-1 vcpus=4
    [ "$(jget $VM .vnc_port)" = -1 ]
    [ "$(jget $VM .vcpus)" = 4 ]
}

@test "OS VM: max_physical_memory is list's ram; tmpfs keeps its ratio" {
    new_jm
    update_ok $VM max_physical_memory=1024
    [ "$(jget $VM '[.max_physical_memory,.max_locked_memory,.max_swap,.tmpfs]|join(" ")')" = "1024 1024 1024 1024" ]
    [ "$(jget $VM 'has("ram")')" = false ]
    run vmadm list -H -o ram
    [ "$output" = 1024 ]
    update_ok $VM tmpfs=512
    update_ok $VM max_physical_memory=2048
    [ "$(jget $VM .tmpfs)" = 1024 ]
}

@test "NICs: add_nics, update_nics, remove_nics (C21)" {
    new_jm
    update_ok $VM -f <(echo '{"add_nics":[{"nic_tag":"admin","mac":"02:00:00:00:00:0a","ip":"10.0.0.10","netmask":"255.255.255.0"}]}')
    [ "$(jget $VM '.nics|length')" = 1 ]
    [ "$(jget $VM '.nics[0].interface')" = net0 ]
    update_ok $VM -f <(echo '{"update_nics":[{"mac":"02:00:00:00:00:0a","mtu":9000}]}')
    [ "$(jget $VM '.nics[0].mtu')" = 9000 ]
    run vmadm lookup nics.*.mac=02:00:00:00:00:0a
    [ "$output" = "$VM" ]
    update_ok $VM -f <(echo '{"remove_nics":["02:00:00:00:00:0a"]}')
    [ "$(jget $VM '.nics|length')" = 0 ]
}

@test "multi-key update is visible at once in get and list" {
    new_jm
    update_ok $VM -f <(echo '{"alias":"multi","max_physical_memory":768,"set_tags":{"gen":"7"},"set_customer_metadata":{"gen":"7"}}')
    [ "$(jget $VM '[.alias,.max_physical_memory,.tags.gen,.customer_metadata.gen]|join(" ")')" = "multi 768 7 7" ]
    run vmadm list -p -o alias,ram,tags.gen
    [ "$output" = "multi:768:7" ]
    jq . "$VMADM_ROOT/etc/vms/$VM/vm.json" >/dev/null
    [ ! -e "$VMADM_ROOT/etc/vms/$VM/journal.json" ]
}

# refuse_update UUID MESSAGE ARGS...: fails with exactly MESSAGE, changes nothing.
refuse_update() {
    local u=$1 msg=$2
    shift 2
    local before; before=$(state)
    local obj; obj=$(vmadm get "$u" | jq -S 'del(.last_modified)')
    run --separate-stderr vmadm update "$u" "$@"
    echo "update $*: status=$status stderr=$stderr"
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [ "$stderr" = "$msg" ]
    [ "$(state)" = "$before" ]
    [ "$(vmadm get "$u" | jq -S 'del(.last_modified)')" = "$obj" ]
}

@test "update refusals: exact message, nothing changed" {
    new_jm
    refuse_update $VM "Invalid value(s) for: autoboot" autoboot=aardvark
    refuse_update $VM "Invalid value for cpu_cap: null:number" cpu_cap=lots
    refuse_update $VM "Invalid value(s) for: max_swap" max_swap=128
    refuse_update $VM "Invalid value(s) for: alias" alias=../x
    refuse_update $VM "Invalid value(s) for: alias" alias=a/b
    # another VM's uuid is refused; the VM's own is dropped (issue 19: node-vmadm sends it)
    refuse_update $VM "Invalid properties for brand \"joyent-minimal\" on update: uuid" \
        -f <(echo '{"uuid":"11111111-1111-4111-8111-111111111111"}')
    run --separate-stderr vmadm update $VM -f <(echo "{\"uuid\":\"$VM\",\"alias\":\"jm0\"}")
    [ "$status" -eq 0 ] && [ "$stderr" = "Successfully updated VM $VM" ]
    refuse_update $VM "Invalid properties for brand \"joyent-minimal\" on update: vcpus" vcpus=2
    refuse_update $VM "Invalid properties for brand \"joyent-minimal\" on update: tags" -f <(echo '{"tags":{"a":"b"}}')
    refuse_update $VM "Invalid value(s) for: set_tags" -f <(echo '{"set_tags":{"a":{"nested":1}}}')
    # a valid key next to a bad one changes nothing either
    refuse_update $VM "Invalid value(s) for: max_swap" alias=changed max_swap=1
    [ "$(jget $VM .alias)" = jm0 ]
}

@test "update of an unknown VM and bad uuids" {
    run --separate-stderr vmadm update 6a3b8c1e-2f4d-4e5a-9b6c-7d8e9f0a1b2c alias=x
    [ "$status" -eq 1 ]
    [ "$stderr" = "VM 6a3b8c1e-2f4d-4e5a-9b6c-7d8e9f0a1b2c not found" ]
    run --separate-stderr vmadm update nope alias=x
    [ "$status" -eq 2 ]
    [ "${stderr_lines[0]}" = "Invalid or missing UUID for update" ]
}

@test "update refuses when a metadata file cannot be read, and leaves it as it was" {
    new_jm
    echo '{"set_customer_metadata": {"role": "db"}}' | vmadm update $VM
    zp=$(vmadm get $VM | jq -r .zonepath)
    printf '{"customer_metadata": {"role": "db"' > "$zp/config/metadata.json"
    cp "$zp/config/metadata.json" "$BATS_TEST_TMPDIR/before"
    run --separate-stderr vmadm update $VM alias=other
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"cannot update VM $VM: its metadata cannot be read"* ]]
    cmp "$zp/config/metadata.json" "$BATS_TEST_TMPDIR/before"
    [ "$(vmadm get $VM | jq -r .alias)" != other ]
    # Readers still show the VM (the damaged part empty).
    [ "$(vmadm get $VM | jq -r .uuid)" = "$VM" ]
}

@test "bootrom: SmartOS firmware paths are kept as given; an unknown path is refused with the accepted list" {
    P=$BATS_TEST_TMPDIR/p.json
    echo '{"brand": "bhyve", "autoboot": false, "ram": 256, "bootrom": "/usr/share/bhyve/uefi-csm-rom.bin",
           "disks": [{"size": 16, "model": "virtio", "boot": true}]}' > "$P"
    create_ok "$P"
    U=$VM
    [ "$(vmadm get "$U" | jq -r .bootrom)" = /usr/share/bhyve/uefi-csm-rom.bin ]
    update_ok "$U" bootrom=/usr/share/bhyve/uefi-rom.bin
    [ "$(vmadm get "$U" | jq -r .bootrom)" = /usr/share/bhyve/uefi-rom.bin ]
    before=$(vmadm get "$U")
    run --separate-stderr vmadm update "$U" bootrom=/opt/roms/custom.bin
    [ "$status" -eq 1 ]
    [[ "$stderr" == "Invalid value(s) for: bootrom (bootrom accepts: bios, uefi, /usr/share/bhyve/uefi-rom.bin, "* ]]
    [ "$(vmadm get "$U")" = "$before" ]
}
