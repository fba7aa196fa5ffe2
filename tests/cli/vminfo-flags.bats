#!/usr/bin/env bats
# vminfo's options (common/opts.h): bundled (-jf, -rj), anywhere, and an
# unknown one prints the usage on stdout with exit 1 (SmartOS's vminfo).

load helpers

U=6f6f6f6f-1111-4111-8111-111111111111

setup() {
    vm_setup_root
    echo "{\"uuid\":\"$U\",\"brand\":\"bhyve\",\"alias\":\"v0\",\"autoboot\":false,\"ram\":128}" |
        VMINFOD_ADDR=none vmadm create 2>/dev/null
    start_vminfod
}

teardown() {
    kill "$VMINFOD_PID" 2>/dev/null || true
    vm_teardown_root
}

@test "status -jf / -fj, status -x" {
    run vminfo status -jf
    [ "$status" -eq 0 ] && echo "$output" | jq -e '.numVms == 1 and has("fswatcher")'
    run vminfo status -fj
    [ "$status" -eq 0 ] && echo "$output" | jq -e '.numVms == 1'
    run vminfo status -jx
    [ "$status" -eq 1 ] && [ "${lines[0]}" = "Usage: vminfo [command] [args]" ]
}

@test "events -rj bundled: the ready event as JSON first; -rq refused" {
    run timeout 2 vminfo events -rj
    [ "$status" -eq 124 ]
    echo "${lines[0]}" | jq -e '.type == "ready" and (.vms | has("'$U'"))'
    run timeout 2 vminfo events -rq
    [ "$status" -eq 1 ] && [ "${lines[0]}" = "Usage: vminfo [command] [args]" ]
}
