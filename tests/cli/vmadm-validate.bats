#!/usr/bin/env bats
# vmadm validate create|update (reference C50, V1–V8): exact outputs, exit
# codes, and that validating never changes anything.

load helpers
load fixtures/vmadm-lib

setup() {
    vm_setup_root
}

teardown() {
    vm_teardown_root
}

@test "validate create: VALID message on stderr, nothing on stdout" {
    run --separate-stderr vmadm validate create -f "$FIX/bhyve-nodisk.json"
    [ "$status" -eq 0 ]
    [ -z "$output" ]
    [ "$stderr" = "VALID 'create' payload for bhyve brand VMs." ]
    run --separate-stderr vmadm validate create < "$(fixture joyent)"
    [ "$status" -eq 0 ]
    [ "$stderr" = "VALID 'create' payload for joyent brand VMs." ]
    run --separate-stderr vmadm validate create -f "$(fixture lx)"
    [ "$status" -eq 0 ]
    [ "$stderr" = "VALID 'create' payload for lx brand VMs." ]
    run --separate-stderr vmadm validate create -f "$(fixture bhyve)"
    [ "$status" -eq 0 ]
    [ "$stderr" = "VALID 'create' payload for bhyve brand VMs." ]
}

@test "validate update <brand>" {
    run --separate-stderr vmadm validate update bhyve <<< '{"ram":2048,"set_tags":{"a":"b"}}'
    [ "$status" -eq 0 ]
    [ "$stderr" = "VALID 'update' payload for bhyve brand VMs." ]
    run --separate-stderr vmadm validate update joyent -f <(echo '{"alias":"x"}')
    [ "$status" -eq 0 ]
    [ "$stderr" = "VALID 'update' payload for joyent brand VMs." ]
}

@test "validate: the error object, pretty-printed (V1)" {
    run --separate-stderr vmadm validate create <<< '{"brand":"joyent","alias":42,"vcpus":2}'
    [ "$status" -eq 1 ]
    [ -z "$output" ]
    [ "$stderr" = '{
  "bad_values": [
    "alias"
  ],
  "bad_properties": [
    "vcpus"
  ],
  "missing_properties": [
    "image_uuid"
  ]
}' ]
    run --separate-stderr vmadm validate update bhyve <<< "{\"uuid\":\"6a3b8c1e-2f4d-4e5a-9b6c-7d8e9f0a1b2c\"}"
    [ "$status" -eq 1 ]
    [ "$(echo "$stderr" | jq -c .)" = '{"bad_values":[],"bad_properties":["uuid"],"missing_properties":[]}' ]
    run --separate-stderr vmadm validate update frobozz <<< '{}'
    [ "$status" -eq 1 ]
    [ "$stderr" = '{
  "bad_brand": "frobozz"
}' ]
    run --separate-stderr vmadm validate create <<< '{"brand":"kvm","disks":[{"model":"virtio"}],"nics":[{"mtu":10000,"model":"virtio"}]}'
    [ "$status" -eq 1 ]
    [ "$(echo "$stderr" | jq -c .)" = '{"bad_values":["nics.*.mtu"],"bad_properties":[],"missing_properties":["disks.0.size"]}' ]
}

@test "validate reports a non-numeric integer by its name, like SmartOS" {
    run --separate-stderr vmadm validate create <<< '{"brand":"bhyve","cpu_cap":"Ah Elbereth"}'
    [ "$status" -eq 1 ]
    [ "$(echo "$stderr" | jq -c .)" = '{"bad_values":["cpu_cap"],"bad_properties":[],"missing_properties":[]}' ]
}

@test "validate usage errors (C50) exit 2" {
    run --separate-stderr vmadm validate < /dev/null
    [ "$status" -eq 2 ]
    [ "${stderr_lines[0]}" = "Will not validate without a valid action." ]
    [ "${stderr_lines[1]}" = "Usage: vmadm <command> [options]" ]
    run --separate-stderr vmadm validate destroy < /dev/null
    [ "$status" -eq 2 ]
    [ "${stderr_lines[0]}" = "Will not validate without a valid action." ]
    run --separate-stderr vmadm validate update < /dev/null
    [ "$status" -eq 2 ]
    [ "${stderr_lines[0]}" = "Will not validate without a valid action and brand." ]
}

@test "validate changes nothing" {
    install_ct
    create_ok "$(fixture joyent-minimal)"
    before=$(state)
    vmadm validate create -f "$(fixture joyent)" 2>/dev/null
    vmadm validate create <<< '{"brand":"bhyve","zpool":"doogle"}' 2>/dev/null || true
    vmadm validate update joyent <<< '{"alias":42}' 2>/dev/null || true
    [ "$(state)" = "$before" ]
}
