#!/usr/bin/env bats
# Triton's node-vmadm library (tests/fixtures/node-vmadm: upstream's
# lib/index.sunos.js, unmodified, its path constants pointed at this build
# when loaded) driving our vmadm exactly as cn-agent and vm-agent do: JSON
# on stdin, the new uuid from stderr, the last stderr line as the error,
# /etc/zones/<uuid>.xml (here $VMADM_ROOT/etc/zones) before per-VM calls,
# `vmadm events -rj` for changes.  A joyent container runs for real (LXC);
# a bhyve VM is only created, looked up and deleted (no guest boot).

bats_require_minimum_version 1.5.0
load helpers
load fixtures/vmadm-lib

setup_file() {
    command -v node >/dev/null || skip "node (Debian: nodejs) is not installed"
}

setup() {
    command -v node >/dev/null || skip "node (Debian: nodejs) is not installed"
    [ "$(id -u)" = 0 ] || skip "needs root for LXC"
    vm_setup_root
    install_ct
    export VMADM_BIN=$BUILD_DIR/src/vmadm/vmadm
    H=$BATS_TEST_DIRNAME/../fixtures/node-vmadm/harness.js
}

teardown() {
    local u
    for u in $(ls "${VMADM_ROOT:-/nonexistent}/etc/vms" 2>/dev/null); do
        vmadm stop -F "$u" >/dev/null 2>&1 || true
    done
    vm_teardown_root
}

# nv CALL JSON: one node-vmadm call; $output is its JSON answer, $err its
# error message ("null" when it succeeded).
nv() {
    run --separate-stderr node "$H" "$1" "$2"
    [ "$status" -eq 0 ] || { echo "node $1: $status $stderr" >&2; return 1; }
    err=$(echo "$output" | jq -r .err)
}
ok() { nv "$@" && { [ "$err" = null ] || { echo "$1: $err" >&2; return 1; }; }; }
res() { echo "$output" | jq -r ".result$1"; }

@test "node-vmadm: create, exists, load, lookup with filters and fields, update (with its uuid), delete" {
    ok create "{\"brand\":\"joyent\",\"image_uuid\":\"$IMG_CT_A\",\"alias\":\"nv0\",\"autoboot\":false,\"max_physical_memory\":128}"
    local u; u=$(res .uuid)
    [ "$u" = "$(vmadm lookup -1 alias=nv0)" ]
    [ -f "$VMADM_ROOT/etc/zones/$u.xml" ]
    ok exists "{\"uuid\":\"$u\"}" && [ "$(res)" = true ]
    ok exists '{"uuid":"00000000-0000-4000-8000-000000000000"}' && [ "$(res)" = false ]
    ok load "{\"opts\":{\"uuid\":\"$u\"}}" && [ "$(res .alias)" = nv0 ] && [ "$(res .state)" = stopped ]
    ok lookup '{"search":{"alias":"nv0","brand":"joyent"},"opts":{"fields":["uuid","alias"]}}'
    [ "$(echo "$output" | jq -c .result)" = "[{\"uuid\":\"$u\",\"alias\":\"nv0\"}]" ]
    ok lookup '{"search":{"alias":"nope"}}' && [ "$(echo "$output" | jq -c .result)" = "[]" ]
    # node-vmadm sends the VM's own uuid in every update payload
    ok update "{\"uuid\":\"$u\",\"alias\":\"nv1\",\"max_physical_memory\":256}"
    [ "$(vmadm list -Hpo alias,ram uuid=$u)" = "nv1:256" ]
    # do_not_inventory hides the VM from the library (index attr, lookup)
    ok update "{\"uuid\":\"$u\",\"do_not_inventory\":true}"
    ok exists "{\"uuid\":\"$u\"}" && [ "$(res)" = false ]
    ok exists "{\"uuid\":\"$u\",\"include_dni\":true}" && [ "$(res)" = true ]
    ok lookup '{"search":{"alias":"nv1"}}' && [ "$(echo "$output" | jq -c .result)" = "[]" ]
    ok lookup '{"search":{"alias":"nv1"},"opts":{"include_dni":true}}' && [ "$(res '[0].uuid')" = "$u" ]
    nv delete "{\"uuid\":\"$u\"}" && [ "$err" = "VM does not exist" ]
    ok delete "{\"uuid\":\"$u\",\"include_dni\":true}"
    [ ! -e "$VMADM_ROOT/etc/zones/$u.xml" ] && [ -z "$(vmadm lookup)" ]
    ok exists "{\"uuid\":\"$u\",\"include_dni\":true}" && [ "$(res)" = false ]
}

@test "node-vmadm: a failed create brings its reason; update refusals too" {
    nv create '{"brand":"joyent","image_uuid":"00000000-0000-4000-8000-000000000000","autoboot":false}'
    [[ "$err" == "vmadm exited with code: 1: Invalid value(s) for: image_uuid"$'\n'"..."* ]]
    [ -z "$(vmadm lookup)" ]
    ok create '{"brand":"bhyve","alias":"b0","autoboot":false,"ram":128}'
    local u; u=$(res .uuid)
    nv update "{\"uuid\":\"$u\",\"ram\":\"lots\"}"
    [[ "$err" == *"Invalid value"*"ram"* ]]
    nv update "{\"uuid\":\"$u\",\"uuid\":\"11111111-1111-4111-8111-111111111111\"}"
    [ "$err" = "VM does not exist" ]
    ok delete "{\"uuid\":\"$u\"}"
}

@test "node-vmadm: start, info, stop, reboot, kill (ENOTRUNNING), snapshots, reprovision, events" {
    install_ct_b() {
        imgadm install -m "$VMADM_TEST_CACHE/ct-B.json" -f "$VMADM_TEST_CACHE/ct-B.tar.gz" >/dev/null
    }
    install_ct_b
    ok create "{\"brand\":\"joyent\",\"image_uuid\":\"$IMG_CT_A\",\"alias\":\"c0\",\"autoboot\":false}"
    local u; u=$(res .uuid)
    ok start "{\"uuid\":\"$u\"}"
    [ "$(vmadm list -Hpo state uuid=$u)" = running ]
    nv start "{\"uuid\":\"$u\"}"      # already running: SmartOS's exit 0
    [ "$err" = null ]
    nv info "{\"uuid\":\"$u\"}"
    [ "$(echo "$output" | jq -r .stderr | tail -1)" = "Unable to get VM info for VM $u: no info types supported for brand joyent" ]
    ok reboot "{\"uuid\":\"$u\"}"
    [ "$(vmadm list -Hpo state uuid=$u)" = running ]
    ok stop "{\"uuid\":\"$u\",\"timeout\":30}"
    [ "$(vmadm list -Hpo state uuid=$u)" = stopped ]
    nv kill "{\"uuid\":\"$u\"}"
    [ "$(echo "$output" | jq -r .code)" = ENOTRUNNING ]
    ok start "{\"uuid\":\"$u\"}"
    ok kill "{\"uuid\":\"$u\",\"signal\":\"SIGKILL\"}"
    wait_for test "$(vmadm list -Hpo state uuid=$u)" = stopped
    ok create_snapshot "{\"uuid\":\"$u\",\"snapshot_name\":\"s1\"}"
    [ "$(vmadm get $u | jq -r '.snapshots[0].name')" = s1 ]
    ok update "{\"uuid\":\"$u\",\"set_customer_metadata\":{\"k\":\"v\"}}"
    [ "$(vmadm get $u | jq -r .customer_metadata.k)" = v ]
    ok rollback_snapshot "{\"uuid\":\"$u\",\"snapshot_name\":\"s1\"}"
    [ "$(vmadm get $u | jq -r .customer_metadata.k)" = null ]
    ok delete_snapshot "{\"uuid\":\"$u\",\"snapshot_name\":\"s1\"}"
    [ "$(vmadm get $u | jq -c .snapshots)" = "[]" ]
    ok reprovision "{\"uuid\":\"$u\",\"image_uuid\":\"$IMG_CT_B\"}"
    run vmadm login $u cat /etc/os-release
    [[ "$output" == *"ID=ctbeta"* ]]
    vmadm stop -F $u 2>/dev/null
    # events: the ready event, then what an update changes (vminfod running)
    start_vminfod
    ok events "{\"uuid\":\"$u\",\"run\":[\"update\",\"$u\",\"alias=c9\"],\"wait_ms\":1500}"
    [ "$(res .ready.type)" = ready ]
    [ "$(res .run_status)" = 0 ]
    [ "$(echo "$output" | jq -r '[.result.events[] | select(.type == "modify") | .changes[]] | index("alias") != null')" = true ]
    kill "$VMINFOD_PID"
    ok delete "{\"uuid\":\"$u\"}"
}
