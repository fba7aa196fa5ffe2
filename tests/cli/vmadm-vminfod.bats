#!/usr/bin/env bats
# Issue "vminfod and vminfo", the vmadm side (reference I18-I22, C43-C46):
# vmadm get/list/lookup are served by vminfod when it runs and load directly
# otherwise, with byte-identical output; every vmadm write returns only once
# vminfod shows it (read-after-write); the timeout error in SmartOS's words;
# `vmadm events` in SmartOS's format; a container halting itself is seen as
# a modify event.
#
# The daemon here is the real one (default loader: the same VM objects
# vmadm builds), on 127.0.0.1:<any port>, serving this test's VMADM_ROOT.
# Mixed VMs: bhyve from fake zvol images (never started) and joyent/lx
# containers from the tests/guest busybox rootfs (started for real: root).

bats_require_minimum_version 1.5.0
load helpers

GUEST_DIR="$BATS_TEST_DIRNAME/../guest"
IMG_Z=a1a1a1a1-0000-4000-8000-0000000000a1   # fake zvol image, 64 MiB

setup_file() {
    [ "$(id -u)" = 0 ] || return 0
    "$GUEST_DIR/build.sh" >&2
}

setup() {
    [ "$(id -u)" = 0 ] || skip "needs root (containers)"
    . "$GUEST_DIR/images.env"
    vm_setup_root
    F=$BATS_TEST_TMPDIR
    BG_PIDS=""
}

teardown() {
    local p u
    for p in $BG_PIDS; do kill "$p" 2>/dev/null || true; done
    if [ -n "${VMINFOD_PID:-}" ]; then
        kill -CONT "$VMINFOD_PID" 2>/dev/null || true
        kill "$VMINFOD_PID" 2>/dev/null || true
        wait "$VMINFOD_PID" 2>/dev/null || true
    fi
    for u in $(ls "${VMADM_ROOT:-/nonexistent}/etc/vms" 2>/dev/null); do
        [[ "$u" == *-*-*-*-* ]] && VMINFOD_ADDR=none vmadm stop -F "$u" >/dev/null 2>&1 || true
    done
    vm_teardown_root
}


stop_vminfod() {
    kill "$VMINFOD_PID"; wait "$VMINFOD_PID" 2>/dev/null || true
    VMINFOD_PID=""
    export VMINFOD_ADDR=none
}
daemon_vm() { curl -sf "http://$ADDR/vms/$1"; }
# (the metadata service inside vminfod keeps one stream of its own)
n_listeners() { curl -sf "http://$ADDR/status" | jq '[.eventsListeners[] | select(.userAgent != "vminfod metadata service")] | length'; }
# listeners that are `vmadm events` processes (not a write's own stream)
n_ev_listeners() { curl -sf "http://$ADDR/status" | jq '[.eventsListeners[] | select(.userAgent | startswith("vmadm events"))] | length'; }

new_uuid() { cat /proc/sys/kernel/random/uuid; }

install_imgs() {
    make_zvol_image "$IMG_Z" 64 "$F"
    imgadm install -m "$F/$IMG_Z.json" -f "$F/$IMG_Z.raw" >/dev/null
    imgadm install -m "$VMADM_TEST_CACHE/ct-A.json" -f "$VMADM_TEST_CACHE/ct-A.tar.gz" >/dev/null
    imgadm install -m "$VMADM_TEST_CACHE/lx-A.json" -f "$VMADM_TEST_CACHE/ct-A.tar.gz" >/dev/null
}
# mk_bhyve UUID ALIAS / mk_ct UUID BRAND ALIAS [EXTRA]
mk_bhyve() {
    vmadm create 2>/dev/null <<EOT
{"uuid": "$1", "brand": "bhyve", "alias": "$2", "ram": 256, "vcpus": 1, "autoboot": false,
 "disks": [{"image_uuid": "$IMG_Z", "boot": true, "model": "virtio"}, {"size": 32, "model": "virtio"}],
 "nics": [{"nic_tag": "admin", "ip": "10.0.0.5", "netmask": "255.255.255.0", "model": "virtio"}]}
EOT
}
mk_ct() {
    local img=$IMG_CT_A kv=""
    [ "$2" = lx ] && { img=$IMG_LX_A; kv=", \"kernel_version\": \"$IMG_LX_KERNEL_VERSION\""; }
    vmadm create 2>/dev/null <<EOT
{"uuid": "$1", "brand": "$2", "alias": "$3", "image_uuid": "$img", "autoboot": false,
 "max_physical_memory": 128, "quota": 1, "delegate_dataset": true$kv ${4:+, $4}}
EOT
}

# run_all: stdout, stderr and exit status of every read command, in one file.
READS=(
    "list"
    "list -v"
    "list -p -o uuid,type,ram,state,alias"
    "list -H -o uuid,brand,quota,image_uuid,zone_state -s alias"
    "list -s -ram,alias"
    "list brand=joyent"
    "list state=running"
    "list alias=~^m"
    "lookup"
    "lookup -1 alias=mixed-ct-run"
    "lookup -j"
    "lookup -j -o uuid,alias,state,brand"
    "lookup brand=bhyve"
    "lookup state=stopped type=OS"
)
run_all() {
    local c u
    for c in "${READS[@]}"; do
        printf '=== vmadm %s\n' "$c"
        rc=0
        # shellcheck disable=SC2086
        vmadm $c 2>&1 || rc=$?
        echo "rc=$rc"
    done
    for u in $(VMINFOD_ADDR=none vmadm lookup | sort) 00000000-0000-4000-8000-000000000000 not-a-uuid; do
        printf '=== vmadm get %s\n' "$u"
        rc=0
        vmadm get "$u" 2>&1 || rc=$?
        echo "rc=$rc"
    done
}

@test "vmadm get/list/lookup: byte-identical with and without vminfod (bhyve + containers)" {
    install_imgs
    B1=$(new_uuid); B2=$(new_uuid); C1=$(new_uuid); C2=$(new_uuid); L1=$(new_uuid)
    mk_bhyve "$B1" mixed-bhyve-1
    mk_bhyve "$B2" other-bhyve-2
    mk_ct "$C1" joyent mixed-ct-run '"tags": {"a": 1}, "customer_metadata": {"k": "v"}'
    mk_ct "$C2" joyent-minimal mixed-ct-stopped
    mk_ct "$L1" lx mixed-lx
    run vmadm start "$C1"
    [ "$status" -eq 0 ] || { echo "start: $output"; false; }
    [ "$(vmadm get "$C1" | jq -r .state)" = running ]

    run_all > "$F/direct.txt"
    start_vminfod
    run_all > "$F/vminfod.txt"
    diff "$F/direct.txt" "$F/vminfod.txt"
    # the comparison is not vacuous
    [ "$(grep -c '^rc=0$' "$F/direct.txt")" -ge $(( ${#READS[@]} + 5 )) ]
    grep -q "mixed-ct-run" "$F/direct.txt"
    grep -q '"state": "running"' "$F/direct.txt"
    grep -q '"brand": "bhyve"' "$F/direct.txt"
    grep -q '"brand": "lx"' "$F/direct.txt"
    # the daemon is still the one serving (reads did not fall back because it died)
    kill -0 "$VMINFOD_PID"
    daemon_vm "$C1" | jq -e '.state == "running"'

    # and after it stops, vmadm loads directly again, same bytes
    stop_vminfod
    run_all > "$F/after.txt"
    diff "$F/direct.txt" "$F/after.txt"
}

@test "a stuck vminfod (SIGSTOP): get/list/lookup still answer, directly, with the same bytes" {
    install_imgs
    B1=$(new_uuid); C1=$(new_uuid)
    mk_bhyve "$B1" stuck-bhyve
    mk_ct "$C1" joyent stuck-ct
    run_all > "$F/direct.txt"
    start_vminfod
    kill -STOP "$VMINFOD_PID"
    # each read gives up on the daemon after a bounded wait (no timing is
    # asserted; `timeout` only keeps a hang from stalling the suite)
    timeout 300 bash -c "$(declare -f run_all); READS=(${READS[*]@Q}); run_all" > "$F/stuck.txt"
    kill -CONT "$VMINFOD_PID"
    diff "$F/direct.txt" "$F/stuck.txt"
    [ "$(grep -c '^rc=0$' "$F/direct.txt")" -ge 3 ]
}

@test "vmadm get/list/lookup go through vminfod when it runs" {
    install_imgs
    U=$(new_uuid)
    mk_ct "$U" joyent via-daemon
    # A daemon with the test loader serves etc/vms/<uuid>/vm.json as-is,
    # which is not what vmadm builds: what vmadm prints shows its source.
    start_vminfod --loader files
    run vmadm get "$U"
    [ "$status" -eq 0 ]
    [ "$(echo "$output" | jq -S 'del(.uuid, .zonename)')" = "$(jq -S 'del(.uuid, .zonename)' "$VMADM_ROOT/etc/vms/$U/vm.json")" ] || { echo "vmadm get did not come from vminfod"; false; }
    echo "$output" | jq -e 'has("state") | not' 
    [ "$output" != "$(VMINFOD_ADDR=none vmadm get "$U")" ]
    run vmadm lookup -j -o uuid,state
    [ "$status" -eq 0 ]
    [ "$output" != "$(VMINFOD_ADDR=none vmadm lookup -j -o uuid,state)" ]
    run vmadm list -H -o uuid,state
    [ "$output" != "$(VMINFOD_ADDR=none vmadm list -H -o uuid,state)" ]
}

@test "read-after-write: create/start/update/stop/delete return only once vminfod shows them" {
    install_imgs
    start_vminfod
    for brand in bhyve joyent; do
        U=$(new_uuid)
        if [ $brand = bhyve ]; then mk_bhyve "$U" raw-$brand; else mk_ct "$U" joyent raw-$brand; fi
        daemon_vm "$U" | jq -e --arg a raw-$brand '.alias == $a and .state == "stopped"'
        vmadm list -H -o uuid | grep -qx "$U"
        vmadm update "$U" alias=renamed-$brand 2>/dev/null
        daemon_vm "$U" | jq -e --arg a renamed-$brand '.alias == $a'
        [ "$(vmadm get "$U" | jq -r .alias)" = renamed-$brand ]
        echo '{"set_customer_metadata": {"x": "1"}}' | vmadm update "$U" 2>/dev/null
        daemon_vm "$U" | jq -e '.customer_metadata.x == "1"'
        if [ $brand = joyent ]; then
            vmadm start "$U" 2>/dev/null
            daemon_vm "$U" | jq -e '.state == "running" and (.pid | type == "number")'
            [ "$(vmadm lookup -1 state=running)" = "$U" ]
            vmadm update "$U" max_physical_memory=200 2>/dev/null
            daemon_vm "$U" | jq -e '.max_physical_memory == 200'
            vmadm stop "$U" 2>/dev/null
            daemon_vm "$U" | jq -e '.state == "stopped" and (has("pid") | not)'
            vmadm start "$U" 2>/dev/null
            vmadm stop -F "$U" 2>/dev/null
            daemon_vm "$U" | jq -e '.state == "stopped" and .zone_state == "installed"'
        fi
        vmadm delete "$U" 2>/dev/null
        ! daemon_vm "$U"
        run vmadm get "$U"
        [ "$status" -eq 1 ]
        ! vmadm list -H -o uuid | grep -qx "$U"
    done
}

@test "read-after-write: 100 updates (VMADM_RAW_UPDATES), each immediately visible to vmadm get (through vminfod)" {
    install_imgs
    U=$(new_uuid)
    mk_ct "$U" joyent counter
    start_vminfod
    misses=0
    for i in $(seq "${VMADM_RAW_UPDATES:-100}"); do
        echo "{\"set_tags\": {\"counter\": $i}}" | vmadm update "$U" 2>/dev/null || { echo "update $i failed"; false; }
        out=$(vmadm get "$U")
        [[ "$out" == *"\"counter\": $i"$'\n'* ]] || { misses=$((misses + 1)); echo "miss at $i: $(echo "$out" | jq -c .tags)"; }
    done
    echo "misses: $misses"
    [ "$misses" -eq 0 ]
    # the daemon served all of it and still does
    kill -0 "$VMINFOD_PID"
    daemon_vm "$U" | jq -e '.tags.counter == '"${VMADM_RAW_UPDATES:-100}"''
}

@test "read-after-write timeout: vminfod watchForChanges \"VM.js update (<uuid>)\" timeout exceeded" {
    # VMINFOD_TIMEOUT (seconds) shortens vmadm's 60 s wait for the test.
    install_imgs
    U=$(new_uuid)
    mk_ct "$U" joyent before
    start_vminfod
    [ "$(n_listeners)" -eq 0 ]
    # Hold the VM lock so the update opens its event stream, then waits.
    mkdir -p "$VMADM_ROOT/var/lock"
    exec 9>>"$VMADM_ROOT/var/lock/$U.lock"
    flock 9
    VMINFOD_TIMEOUT=5 vmadm update "$U" alias=after >"$F/upd.out" 2>"$F/upd.err" 9>&- &
    up=$!
    BG_PIDS="$BG_PIDS $up"
    for i in $(seq 100); do [ "$(n_listeners)" = 1 ] && break; sleep 0.05; done
    [ "$(n_listeners)" = 1 ]
    kill -STOP "$VMINFOD_PID"
    flock -u 9
    exec 9>&-
    rc=0
    wait "$up" || rc=$?
    kill -CONT "$VMINFOD_PID"
    echo "rc=$rc stderr: $(cat "$F/upd.err")"
    [ "$rc" -eq 1 ]
    grep -qF "vminfod watchForChanges \"VM.js update ($U)\" timeout exceeded" "$F/upd.err"
    [ "$(wc -l < "$F/upd.err")" -eq 1 ]
    ! grep -q "Successfully updated" "$F/upd.err"
    # the change itself was made, and the daemon catches up once it runs
    [ "$(VMINFOD_ADDR=none vmadm get "$U" | jq -r .alias)" = after ]
    wait_for daemon_vm "$U"
    for i in $(seq 100); do [ "$(daemon_vm "$U" | jq -r .alias)" = after ] && break; sleep 0.1; done
    [ "$(vmadm get "$U" | jq -r .alias)" = after ]
}

@test "read-after-write: storage-backed properties (quota) are seen without the periodic rescan" {
    # vminfod must notice a dataset property change by itself (I13: ZFS
    # events); with the periodic rescan off, an unnoticed change makes the
    # update wait for the full 60 s and fail with the timeout error.
    install_imgs
    U=$(new_uuid)
    mk_ct "$U" joyent quota-ct
    start_vminfod --rescan 0
    VMINFOD_TIMEOUT=20 run vmadm update "$U" quota=2
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    [ "$output" = "Successfully updated VM $U" ]
    daemon_vm "$U" | jq -e '.quota == 2'
    [ "$(vmadm get "$U" | jq .quota)" = 2 ]
}

@test "vminfod: the event stream of a finished vmadm write is gone from /status" {
    install_imgs
    start_vminfod
    U=$(new_uuid)
    mk_ct "$U" joyent gone
    vmadm update "$U" alias=gone2 2>/dev/null
    # no vmadm runs any more: no listener may stay registered
    for i in $(seq 100); do [ "$(n_listeners)" = 0 ] && break; sleep 0.1; done
    [ "$(n_listeners)" = 0 ] || { curl -s "http://$ADDR/status" | jq -c .eventsListeners; false; }
}

# events_bg FILE ARGS...: `vmadm events ARGS` in the background into FILE.
events_bg() {
    local f=$1; shift
    vmadm events "$@" > "$f" 2>&1 &
    BG_PIDS="$BG_PIDS $!"
}
TS='[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z'
FULLTS='[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z'
has_line() { grep -Eq -- "$2" "$1"; }

# events_scenario ARGS-OF-EACH-LISTENER...: one `vmadm events` per argument
# string (h.txt, 2.txt, ...), then create / update x3 / delete of VM $U.
events_scenario() {
    local n=0 a
    install_imgs
    start_vminfod
    for a in "$@"; do
        n=$((n + 1))
        # shellcheck disable=SC2086
        events_bg "$F/ev$n.txt" $a
    done
    for i in $(seq 60); do [ "$(n_ev_listeners)" = "$n" ] && break; sleep 0.05; done
    [ "$(n_ev_listeners)" = "$n" ] || { echo "only $(n_ev_listeners) of $n listeners: $(head -2 "$F"/ev*.txt)"; return 1; }
    U=$(new_uuid); Z=${U%%-*}
    LONG=abcdefghijklmnopqrstuvwxyz0123456789
    mk_ct "$U" joyent ev-web0
    echo '{"set_tags": {"counter": 1}}' | vmadm update "$U" 2>/dev/null
    vmadm update "$U" cpu_shares=50 2>/dev/null
    vmadm update "$U" alias=$LONG 2>/dev/null
    vmadm delete "$U" 2>/dev/null
    for a in $(seq "$n"); do wait_for grep -q delete "$F/ev$a.txt"; done
}

@test "vmadm events: human lines for create, modify (one per change), delete; -r ready line (C44, C46)" {
    events_scenario "-r" ""
    H=$F/ev1.txt
    cat "$H"
    grep . "$H" | head -1 | grep -Eqx "\[$TS\] ready"
    has_line "$H" "^\[$TS\] $Z ev-web0 create$"
    has_line "$H" "^\[$TS\] $Z ev-web0 modify: tags\.counter added :: undefined -> 1$"
    has_line "$H" "^\[$TS\] $Z ev-web0 modify: cpu_shares changed :: 100 -> 50$"
    # aliases longer than 30 characters: 27 + "..."
    has_line "$H" "^\[$TS\] $Z ${LONG:0:27}\.\.\. modify: alias changed :: \"ev-web0\" -> \"$LONG\"$"
    has_line "$H" "^\[$TS\] $Z (-|${LONG:0:27}\.\.\.) delete$"
    # nothing but event lines (blank lines are checked separately)
    bad=$(grep . "$H" | grep -Evc "^\[$TS\] (ready|$Z [^ ]+ (create|delete|modify: .+ (added|removed|changed) :: .+ -> .+))$" || true)
    [ "$bad" -eq 0 ]
    # without -r: no ready line, the same events
    ! grep -q ready "$F/ev2.txt"
    diff <(grep . "$H" | grep -v ready) <(grep . "$F/ev2.txt")
}

@test "vmadm events -j: one JSON object per event, SmartOS's fields; ready .vms keyed by zonename (C45, C46)" {
    events_scenario "-j -r"
    J=$F/ev1.txt
    grep . "$J" | while IFS= read -r l; do echo "$l" | jq -e 'type == "object"' >/dev/null || { echo "not JSON: $l"; false; }; done
    grep . "$J" | head -1 | jq -e '.type == "ready" and (.vms | type == "object") and (.uuid | length == 36) and (.date | type == "string")'
    grep '"type":"create"' "$J" | jq -e --arg u "$U" 'select(.uuid == $u) | .zonename == $u and .vm.alias == "ev-web0" and .vm.uuid == $u'
    grep '"type":"modify"' "$J" | jq -s -e --arg u "$U" '[.[] | select(.uuid == $u) | .changes[]
        | select(.prettyPath == "cpu_shares")] | length == 1 and .[0].path == ["cpu_shares"] and .[0].action == "changed"
        and .[0].oldValue == 100 and .[0].newValue == 50'
    grep '"type":"modify"' "$J" | jq -s -e 'all(.[]; (.vm | type == "object") and (.changes | length > 0))'
    grep '"type":"delete"' "$J" | jq -e --arg u "$U" '.uuid == $u and .zonename == $u and (has("vm") | not)'
}

@test "vmadm events: exactly one line per event/change, no blank lines (plain, -r, -j)" {
    events_scenario "-r" "-j -r" ""
    for f in "$F"/ev1.txt "$F"/ev2.txt "$F"/ev3.txt; do
        [ "$(grep -c '^$' "$f" || true)" -eq 0 ] || { echo "blank lines in $(basename "$f"):"; cat -A "$f"; false; }
    done
}

@test "vmadm events -f -r: full ISO time and full zonename; ready names the listener (C45, C46)" {
    # the documented usage `vmadm events [-f] [-j] [-r] [uuid]`: separate flags
    events_scenario "-f -r" "-r -f"
    for f in "$F"/ev1.txt "$F"/ev2.txt; do
        cat "$f"
        grep . "$f" | head -1 | grep -Eqx "\[$FULLTS\] ready \(uuid [0-9a-f-]{36}\)"
        has_line "$f" "^\[$FULLTS\] $U ev-web0 create$"
        has_line "$f" "^\[$FULLTS\] $U ev-web0 modify: cpu_shares changed :: 100 -> 50$"
    done
}

@test "vmadm events -f <uuid>: -f is a flag, the uuid selects the VM" {
    install_imgs
    start_vminfod
    U=$(new_uuid)
    mk_ct "$U" joyent f-uuid
    events_bg "$F/e.txt" -f "$U"
    for i in $(seq 60); do [ "$(n_ev_listeners)" = 1 ] && break; sleep 0.05; done
    [ "$(n_ev_listeners)" = 1 ] || { echo "vmadm events -f <uuid> did not run: $(cat "$F/e.txt")"; false; }
    vmadm update "$U" alias=f-uuid2 2>/dev/null
    wait_for grep -q f-uuid2 "$F/e.txt"
    has_line "$F/e.txt" "^\[$FULLTS\] $U f-uuid2 modify: alias changed :: \"f-uuid\" -> \"f-uuid2\"$"
}

@test "vmadm events <uuid>: only that VM; unknown uuid -> VM <uuid> not found, exit 1; no daemon -> error" {
    install_imgs
    run vmadm events
    [ "$status" -eq 1 ]
    [ -n "$output" ]
    start_vminfod
    A=$(new_uuid); B=$(new_uuid)
    mk_ct "$A" joyent only-a
    mk_ct "$B" joyent only-b
    X=$(new_uuid)
    run vmadm events "$X"
    [ "$status" -eq 1 ]
    [ "$output" = "VM $X not found" ]
    events_bg "$F/a.txt" "$A"
    events_bg "$F/all.txt" not-a-uuid    # not UUID-shaped: ignored, all VMs
    for i in $(seq 60); do [ "$(n_ev_listeners)" = 2 ] && break; sleep 0.05; done
    vmadm update "$B" alias=only-b2 2>/dev/null
    vmadm update "$A" alias=only-a2 2>/dev/null
    wait_for grep -q only-a2 "$F/a.txt"
    wait_for grep -q only-a2 "$F/all.txt"
    ! grep -q "${B%%-*}" "$F/a.txt"
    grep -q "${B%%-*} only-b2 modify: alias changed" "$F/all.txt"
}

@test "vmadm events: a container powering itself off is a modify with state changes" {
    install_imgs
    start_vminfod
    U=$(new_uuid); Z=${U%%-*}
    mk_ct "$U" joyent selfhalt
    vmadm start "$U" 2>/dev/null
    pid=$(vmadm get "$U" | jq .pid)
    events_bg "$F/e.txt" "$U"
    events_bg "$F/j.txt" -j "$U"
    for i in $(seq 60); do [ "$(n_ev_listeners)" = 2 ] && break; sleep 0.05; done
    vmadm login "$U" kill -PWR 1 || true   # the login may die with the container
    wait_for grep -q 'state changed' "$F/e.txt"
    wait_for grep -q '"stopped"' "$F/j.txt"
    sleep 0.5
    cat "$F/e.txt"
    has_line "$F/e.txt" "^\[$TS\] $Z selfhalt modify: state changed :: \"running\" -> \"stopped\"$"
    has_line "$F/e.txt" "^\[$TS\] $Z selfhalt modify: zone_state changed :: \"running\" -> \"installed\"$"
    has_line "$F/e.txt" "^\[$TS\] $Z selfhalt modify: pid removed :: $pid -> undefined$"
    grep '"type":"modify"' "$F/j.txt" | jq -s -e 'any(.[]; .vm.state == "stopped" and any(.changes[]; .path == ["state"] and .newValue == "stopped"))'
    # the final object agrees
    daemon_vm "$U" | jq -e '.state == "stopped" and .exit_status == 0'
    [ "$(vmadm get "$U" | jq -r .state)" = stopped ]
}

@test "vmadm events: NIC changes (update_nics, add_nics, remove_nics) are modify events like any property" {
    install_imgs
    start_vminfod
    events_bg "$F/e.txt" -j
    for i in $(seq 100); do [ "$(n_ev_listeners)" = 1 ] && break; sleep 0.05; done
    [ "$(n_ev_listeners)" = 1 ]
    U=$(new_uuid)
    mk_ct "$U" joyent nic-web0 '"nics": [{"nic_tag": "admin", "ips": ["10.0.0.5/24"]}]'
    MAC=$(vmadm get "$U" | jq -r '.nics[0].mac')
    echo '{"update_nics": [{"mac": "'"$MAC"'", "allow_ip_spoofing": true}]}' | vmadm update "$U"
    echo '{"add_nics": [{"nic_tag": "external", "ips": ["192.168.5.5/24"], "mac": "02:00:00:0a:0b:0c"}]}' | vmadm update "$U"
    echo '{"remove_nics": ["02:00:00:0a:0b:0c"]}' | vmadm update "$U"
    vmadm delete "$U"
    wait_for grep -q '"type":"delete"' "$F/e.txt"
    M=$F/mods.json
    grep '"type":"modify"' "$F/e.txt" | jq -s --arg u "$U" '[.[] | select(.uuid == $u) | .changes[]]' > "$M"
    cat "$M"
    jq -e '[.[] | select(.path[0] == "nics" and .action == "added" and .path[-1] == "allow_ip_spoofing")]
        | length == 1 and .[0].newValue == true' "$M"
    jq -e '[.[] | select(.path[0] == "nics" and .action == "added" and (.newValue | type == "object"))]
        | length == 1 and .[0].newValue.interface == "net1" and .[0].newValue.nic_tag == "external"' "$M"
    jq -e '[.[] | select(.path[0] == "nics" and .action == "removed" and (.oldValue | type == "object"))]
        | length == 1 and .[0].oldValue.mac == "02:00:00:0a:0b:0c"' "$M"
}
