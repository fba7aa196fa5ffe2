#!/usr/bin/env bats
# vminfod and vminfo (reference §5, I1–I30): HTTP API, event stream,
# file/process watching, overflow recovery, slow clients, resume.
#
# VMs are made by hand (etc/vms/<uuid>/vm.json) and the daemon runs with
# --loader files, which takes that file as the VM object: these tests are
# about the daemon, not about building VM objects (vmadm's tests cover that).

load helpers

U1=11111111-2222-3333-4444-555555555555
U2=22222222-2222-3333-4444-555555555555

setup() {
    vm_setup_root
    mkdir -p "$VMADM_ROOT/etc/vms"
}

teardown() {
    for p in ${CURL_PIDS:-} ${BG_PIDS:-}; do kill "$p" 2>/dev/null || true; done
    [ -n "${VMINFOD_PID:-}" ] && kill "$VMINFOD_PID" 2>/dev/null || true
    [ -n "${VMINFOD_PID:-}" ] && wait "$VMINFOD_PID" 2>/dev/null || true
    vm_teardown_root
}

# put_vm UUID JSON: writes the VM's config atomically (temp + rename).
put_vm() {
    mkdir -p "$VMADM_ROOT/etc/vms/$1"
    printf '%s\n' "$2" > "$VMADM_ROOT/etc/vms/$1/.tmp.vm.json"
    mv "$VMADM_ROOT/etc/vms/$1/.tmp.vm.json" "$VMADM_ROOT/etc/vms/$1/vm.json"
}



# events_to FILE [QUERY]: raw /events stream into FILE in the background.
events_to() {
    curl -sN "http://$ADDR/events${2:-}" > "$1" 3>&- &
    CURL_PIDS="${CURL_PIDS:-} $!"
    wait_for grep -q . "$1"
}

lines_matching() { grep -c "$2" "$1" || true; }

@test "vminfod: /ping, /status, /vms, /vms/<uuid>, 404s, other methods 400 (I1-I8)" {
    put_vm $U1 '{"alias":"web0","zone_state":"installed"}'
    start_vminfod --loader files

    run curl -s -i "http://$ADDR/ping"
    [[ "$output" == *"HTTP/1.1 200"* ]]
    [[ "$output" == *"Content-Type: application/json"* ]]
    [[ "$output" == *'{"ping":"pong"}' ]]

    run curl -s "http://$ADDR/status"
    [ "$status" -eq 0 ]
    echo "$output" | jq -e ".pid == $VMINFOD_PID and .numVms == 1 and (.memory.rss > 0)
        and (.queue | has(\"idle\")) and (.refreshErrors | type == \"array\")
        and (.eventsListeners | type == \"object\") and (.fswatcher == null)"
    curl -s "http://$ADDR/status?full=1" | jq -e '.fswatcher.running == true and (.fswatcher.watching | length > 0)'

    run curl -s "http://$ADDR/vms"
    echo "$output" | jq -e "length == 1 and .[0].uuid == \"$U1\" and .[0].alias == \"web0\""
    curl -s "http://$ADDR/vms/" | jq -e 'length == 1'
    curl -s "http://$ADDR/vms/$U1" | jq -e '.alias == "web0"'

    run curl -s -i "http://$ADDR/vms/$U2"
    [[ "$output" == *"HTTP/1.1 404"* ]]
    [[ "$output" == *"Content-Type: application/json"* ]]
    [[ "$output" == *"VM Not Found: $U2" ]]

    run curl -s -i "http://$ADDR/nonsense"
    [[ "$output" == *"HTTP/1.1 404"* ]]
    [[ "$output" == *"Unsupported URL Path" ]]

    for m in POST PUT DELETE; do
        run curl -s -o /dev/null -w '%{http_code} %{size_download}' -X $m "http://$ADDR/ping"
        [ "$output" = "400 0" ]
    done
    # the unix socket serves the same
    curl -s --unix-socket "$VMADM_ROOT/run/vminfod.sock" http://x/ping | grep -q pong
}

@test "vminfo: ping, vms, vm, usage and exit codes (I23-I26)" {
    put_vm $U1 '{"alias":"web0"}'
    start_vminfod --loader files

    run vminfo ping
    [ "$status" -eq 0 ] && [ "$output" = "pong" ]
    run vminfo vms
    [ "$status" -eq 0 ]
    echo "$output" | jq -e 'length == 1'
    [ "${lines[1]}" = "  {" ]   # pretty-printed
    run vminfo vm $U1
    [ "$status" -eq 0 ]
    echo "$output" | jq -e '.alias == "web0"'
    run vminfo vm $U2
    [ "$status" -eq 1 ] && [ "$output" = "bad statusCode: 404" ]
    run vminfo vm
    [ "$status" -eq 1 ]
    [ "${lines[0]}" = "vm zonename must be specified" ]
    [ "${lines[1]}" = "Usage: vminfo [command] [args]" ]
    run vminfo
    [ "$status" -eq 1 ] && [ "${lines[0]}" = "Command must be specified as the first argument" ]
    run vminfo bogus
    [ "$status" -eq 1 ] && [ "${lines[0]}" = "Unknown command: bogus" ]
    run vminfo help
    [ "$status" -eq 0 ] && [ "${lines[0]}" = "Usage: vminfo [command] [args]" ]
    [ "${lines[6]}" = "  events [-jfr]      trace vminfod events (GET /events)" ]
    run vminfo -h
    [ "$status" -eq 0 ]
    run vminfo status
    [ "$status" -eq 0 ]
    [[ "${lines[0]}" == "state: running (ok)" ]]
    [ "${lines[1]}" = "pid: $VMINFOD_PID" ]
    [[ "$output" == *"numVms: 1"* ]]
    run vminfo status -j
    echo "$output" | jq -e '.numVms == 1'
    run vminfo status -f
    [[ "$output" == *"fswatcher"* ]]
    # a daemon serving another root is never trusted
    VMADM_ROOT=/tmp/not-this-root-$$ run vminfo ping
    [ "$status" -eq 1 ]
    rm -rf /tmp/not-this-root-$$
}

@test "vminfod: hand edits appear on /events with the right changes; create and delete (I9-I12)" {
    put_vm $U1 '{"alias":"web0","disks":[{"path":"/d0","size":10}],"nics":[{"mac":"aa","ip":"1.1.1.1"}]}'
    start_vminfod --loader files
    events_to "$BATS_TEST_TMPDIR/ev"
    head -1 "$BATS_TEST_TMPDIR/ev" | jq -e ".type == \"ready\" and (.vms | type == \"string\")
        and (.vms | fromjson | .[0].uuid == \"$U1\") and (.seq | type == \"number\")"

    # hand edit in place (not atomic): seen via IN_CLOSE_WRITE
    sed 's/"size":10/"size":20/; s/1.1.1.1/2.2.2.2/' "$VMADM_ROOT/etc/vms/$U1/vm.json" > "$BATS_TEST_TMPDIR/x"
    cat "$BATS_TEST_TMPDIR/x" > "$VMADM_ROOT/etc/vms/$U1/vm.json"
    wait_for grep -q '"type":"modify"' "$BATS_TEST_TMPDIR/ev"
    grep '"type":"modify"' "$BATS_TEST_TMPDIR/ev" | head -1 | jq -e '
        .uuid == "'$U1'" and .vm.disks[0].size == 20 and (.changes | length == 2)
        and .changes[0].prettyPath == "disks.*.size" and .changes[0].ident == "/d0"
        and .changes[0].oldValue == 10 and .changes[0].newValue == 20
        and .changes[1].path == ["nics", null, "ip"] and .changes[1].ident == "aa"'

    # a new VM committed by rename (.creating-<uuid> -> <uuid>)
    mkdir "$VMADM_ROOT/etc/vms/.creating-$U2"
    echo '{"alias":"db0"}' > "$VMADM_ROOT/etc/vms/.creating-$U2/vm.json"
    mv "$VMADM_ROOT/etc/vms/.creating-$U2" "$VMADM_ROOT/etc/vms/$U2"
    wait_for grep -q '"type":"create"' "$BATS_TEST_TMPDIR/ev"
    grep '"type":"create"' "$BATS_TEST_TMPDIR/ev" | jq -e '.uuid == "'$U2'" and .vm.alias == "db0"'
    # and its later edits are watched
    put_vm $U2 '{"alias":"db1"}'
    wait_for grep -q '"newValue":"db1"' "$BATS_TEST_TMPDIR/ev"

    # a delete committed by rename to .deleting-<uuid>
    mv "$VMADM_ROOT/etc/vms/$U2" "$VMADM_ROOT/etc/vms/.deleting-$U2"
    wait_for grep -q '"type":"delete"' "$BATS_TEST_TMPDIR/ev"
    grep '"type":"delete"' "$BATS_TEST_TMPDIR/ev" | jq -e '.uuid == "'$U2'" and (has("vm") | not)'
    run curl -s -o /dev/null -w '%{http_code}' "http://$ADDR/vms/$U2"
    [ "$output" = 404 ]
    # seq numbers increase by one
    jq -s '[.[].seq] | . == ([range(.[0]; .[0] + length)])' "$BATS_TEST_TMPDIR/ev" | grep -q true
}

@test "vminfod: config replaced by rename (also across filesystems) is not a delete (I29)" {
    put_vm $U1 '{"alias":"web0"}'
    start_vminfod --loader files
    events_to "$BATS_TEST_TMPDIR/ev"
    # identical copy from another filesystem, moved over the original
    cp "$VMADM_ROOT/etc/vms/$U1/vm.json" /dev/shm/vminfod-bats-$$.json
    mv /dev/shm/vminfod-bats-$$.json "$VMADM_ROOT/etc/vms/$U1/vm.json"
    # ... and remove + recreate (a window with no file at all)
    cp "$VMADM_ROOT/etc/vms/$U1/vm.json" "$BATS_TEST_TMPDIR/keep"
    rm "$VMADM_ROOT/etc/vms/$U1/vm.json"
    sleep 0.2
    cp "$BATS_TEST_TMPDIR/keep" "$VMADM_ROOT/etc/vms/$U1/vm.json"
    # a marker change afterwards proves the watch survived; nothing before it is a delete
    put_vm $U1 '{"alias":"marker"}'
    wait_for grep -q '"newValue":"marker"' "$BATS_TEST_TMPDIR/ev"
    run grep -c '"type":"delete"' "$BATS_TEST_TMPDIR/ev"
    [ "$output" = 0 ]
    curl -s "http://$ADDR/vms/$U1" | jq -e '.alias == "marker"'
}

@test "vminfod: process exit seen through pidfd with no file change" {
    put_vm $U1 '{"alias":"web0"}'
    mkdir -p "$VMADM_ROOT/run/vms/$U1"
    # a daemonised process (reparented, so it is reaped when it dies)
    ( sleep 1000 3>&- & echo $! > "$VMADM_ROOT/run/vms/$U1/pid" )
    pid=$(cat "$VMADM_ROOT/run/vms/$U1/pid")
    start_vminfod --loader files
    curl -s "http://$ADDR/vms/$U1" | jq -e ".state == \"running\" and .pid == $pid"
    events_to "$BATS_TEST_TMPDIR/ev"
    kill "$pid"
    wait_for grep -q '"newValue":"stopped"' "$BATS_TEST_TMPDIR/ev"
    curl -s "http://$ADDR/vms/$U1" | jq -e '.state == "stopped" and (has("pid") | not)'
}

@test "vminfod: inotify queue overflow is recovered by a rescan with the correct final state" {
    max=$(cat /proc/sys/fs/inotify/max_queued_events)
    [ "$max" -le 100000 ] || skip "fs.inotify.max_queued_events=$max too large to overflow"
    put_vm $U1 '{"alias":"start"}'
    put_vm $U2 '{"alias":"other"}'
    start_vminfod --loader files --rescan 3600
    events_to "$BATS_TEST_TMPDIR/ev"
    # Freeze the daemon so the kernel queue really fills, then flood it.
    kill -STOP "$VMINFOD_PID"
    n=$((max + max / 2))
    d="$VMADM_ROOT/etc/vms/$U1"
    (cd "$d" && seq "$n" | xargs touch && seq "$n" | xargs rm -f)
    put_vm $U1 '{"alias":"final"}'
    mv "$VMADM_ROOT/etc/vms/$U2" "$VMADM_ROOT/etc/vms/.deleting-$U2"
    kill -CONT "$VMINFOD_PID"
    wait_for sh -c "curl -s http://$ADDR/status | jq -e '.events.overflows >= 1'"
    wait_for sh -c "curl -s http://$ADDR/vms/$U1 | jq -e '.alias == \"final\"'"
    wait_for grep -q '"type":"delete"' "$BATS_TEST_TMPDIR/ev"
    curl -s "http://$ADDR/vms" | jq -e 'length == 1'
    grep -q 'overflowed' "$BATS_TEST_TMPDIR/vminfod.log"
    # the rescan reported the drift as events: the stream alone has the final state
    grep '"type":"modify"' "$BATS_TEST_TMPDIR/ev" | tail -1 | jq -e '.vm.alias == "final"'
    # and watching goes on afterwards
    put_vm $U1 '{"alias":"after"}'
    wait_for grep -q '"newValue":"after"' "$BATS_TEST_TMPDIR/ev"
}

@test "vminfod: a burst of 2000 changes ends in the right state" {
    put_vm $U1 '{"alias":"a0","n":0}'
    start_vminfod --loader files
    events_to "$BATS_TEST_TMPDIR/ev"
    for i in $(seq 2000); do put_vm $U1 "{\"alias\":\"a0\",\"n\":$i}"; done
    wait_for sh -c "curl -s http://$ADDR/vms/$U1 | jq -e '.n == 2000'"
    wait_for grep -q '"newValue":2000' "$BATS_TEST_TMPDIR/ev"
    # coalesced, so fewer events than writes, but never a stale last one
    grep '"type":"modify"' "$BATS_TEST_TMPDIR/ev" | tail -1 | jq -e '.vm.n == 2000'
}

@test "vminfod: a client that stops reading is dropped without delaying another (bounded buffer)" {
    pad=$(head -c 30000 /dev/zero | tr '\0' x)
    put_vm $U1 "{\"alias\":\"a\",\"n\":0,\"pad\":\"$pad\"}"
    start_vminfod --loader files --client-buffer 262144
    # stuck client: sends the request, never reads
    python3 -c "
import socket, sys, time
s = socket.create_connection(('127.0.0.1', int(sys.argv[1])))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.sendall(b'GET /events HTTP/1.1\r\nHost: x\r\nUser-Agent: stuck-client\r\n\r\n')
time.sleep(120)
" "${ADDR##*:}" 3>&- &
    STUCK=$!
    BG_PIDS="$STUCK"
    wait_for sh -c "curl -s http://$ADDR/status | jq -e '[.eventsListeners[].userAgent] | index(\"stuck-client\")'"
    events_to "$BATS_TEST_TMPDIR/ev"
    for i in $(seq 200); do put_vm $U1 "{\"alias\":\"a\",\"n\":$i,\"pad\":\"$pad\"}"; done
    # the reading client has everything up to the last change
    wait_for grep -q '"n":200,' "$BATS_TEST_TMPDIR/ev"
    # the stuck one was dropped (its unsent data exceeded the bound)
    wait_for grep -q 'dropping events listener.*stuck-client' "$BATS_TEST_TMPDIR/vminfod.log"
    wait_for sh -c "! curl -s http://$ADDR/status | jq -e '[.eventsListeners[].userAgent] | index(\"stuck-client\")'"
    kill $STUCK 2>/dev/null || true
    # the daemon still serves
    curl -s "http://$ADDR/vms/$U1" | jq -e '.n == 200'
}

@test "vminfod: resume with ?since= replays missed events; too old a seq gets a resync" {
    put_vm $U1 '{"alias":"a0"}'
    start_vminfod --loader files --history 8
    events_to "$BATS_TEST_TMPDIR/ev"
    seq0=$(head -1 "$BATS_TEST_TMPDIR/ev" | jq .seq)
    for i in 1 2 3; do
        put_vm $U1 "{\"alias\":\"a$i\"}"
        wait_for grep -q "\"newValue\":\"a$i\"" "$BATS_TEST_TMPDIR/ev"
    done
    events_to "$BATS_TEST_TMPDIR/resumed" "?since=$seq0"
    wait_for sh -c "[ \$(wc -l < $BATS_TEST_TMPDIR/resumed) -ge 4 ]"
    head -1 "$BATS_TEST_TMPDIR/resumed" | jq -e ".type == \"resumed\" and .since == $seq0"
    sed -n 2,4p "$BATS_TEST_TMPDIR/resumed" | jq -s -e "[.[].seq] == [$((seq0+1)), $((seq0+2)), $((seq0+3))]
        and [.[].vm.alias] == [\"a1\", \"a2\", \"a3\"]"
    # push the history (8 events) past seq0
    for i in $(seq 4 14); do
        put_vm $U1 "{\"alias\":\"a$i\"}"
        wait_for grep -q "\"newValue\":\"a$i\"" "$BATS_TEST_TMPDIR/ev"
    done
    events_to "$BATS_TEST_TMPDIR/resync" "?since=$seq0"
    head -1 "$BATS_TEST_TMPDIR/resync" | jq -e '.type == "resync" and (.vms | fromjson | .[0].alias == "a14")'
}

@test "vminfod: ?vms=<uuid> limits the ready event to those VMs; later events still flow; bad lists are 400" {
    put_vm $U1 '{"alias":"one"}'
    put_vm $U2 '{"alias":"two"}'
    start_vminfod --loader files
    events_to "$BATS_TEST_TMPDIR/only" "?vms=$U2"
    head -1 "$BATS_TEST_TMPDIR/only" | jq -e '.type == "ready" and (.vms | fromjson | map(.alias) == ["two"])'
    events_to "$BATS_TEST_TMPDIR/none" "?vms="
    head -1 "$BATS_TEST_TMPDIR/none" | jq -e '.type == "ready" and .vms == "[]"'
    events_to "$BATS_TEST_TMPDIR/all"
    head -1 "$BATS_TEST_TMPDIR/all" | jq -e '.vms | fromjson | length == 2'
    # a change to a VM outside the list still arrives
    put_vm $U1 '{"alias":"uno"}'
    wait_for grep -q '"newValue":"uno"' "$BATS_TEST_TMPDIR/none"
    wait_for grep -q '"newValue":"uno"' "$BATS_TEST_TMPDIR/only"
    run curl -s -o /dev/null -w '%{http_code}' "http://$ADDR/events?vms=nope"
    [ "$output" = 400 ]
}

@test "vminfo events: human, -f, -j and -r lines (C44-C46, I25)" {
    put_vm $U1 '{"alias":"web0","zone_state":"installed"}'
    start_vminfod --loader files
    vminfo events -r > "$BATS_TEST_TMPDIR/h" 3>&- &
    P1=$!
    vminfo events -r -f > "$BATS_TEST_TMPDIR/f" 3>&- &
    P2=$!
    vminfo events -r -j > "$BATS_TEST_TMPDIR/j" 3>&- &
    P3=$!
    BG_PIDS="$P1 $P2 $P3"
    wait_for grep -q ready "$BATS_TEST_TMPDIR/h"
    wait_for grep -q ready "$BATS_TEST_TMPDIR/f"
    wait_for grep -q ready "$BATS_TEST_TMPDIR/j"
    put_vm $U1 '{"alias":"web0","zone_state":"ready"}'
    wait_for grep -q modify "$BATS_TEST_TMPDIR/h"
    wait_for grep -q modify "$BATS_TEST_TMPDIR/f"
    wait_for grep -q modify "$BATS_TEST_TMPDIR/j"
    kill $P1 $P2 $P3
    grep -Eq '^\[[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z\] ready$' "$BATS_TEST_TMPDIR/h"
    grep -Eq '^\[[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z\] 11111111 web0 modify: zone_state changed :: "installed" -> "ready"$' "$BATS_TEST_TMPDIR/h"
    grep -Eq "^\[20[0-9-]+T[0-9:.]+Z\] ready \(uuid [0-9a-f-]{36}\)$" "$BATS_TEST_TMPDIR/f"
    grep -Eq "^\[20[0-9-]+T[0-9:.]+Z\] $U1 web0 modify: zone_state changed" "$BATS_TEST_TMPDIR/f"
    head -1 "$BATS_TEST_TMPDIR/j" | jq -e ".type == \"ready\" and .vms[\"$U1\"].alias == \"web0\""
    sed -n 2p "$BATS_TEST_TMPDIR/j" | jq -e '.type == "modify" and .changes[0].newValue == "ready" and .vm.alias == "web0"'
}

@test "vminfod: SIGTERM ends streams and exits 0; a restart rebuilds state from the system" {
    put_vm $U1 '{"alias":"before"}'
    start_vminfod --loader files
    vminfo events > "$BATS_TEST_TMPDIR/h" 2> "$BATS_TEST_TMPDIR/h.err" 3>&- &
    P1=$!
    wait_for sh -c "curl -s http://$ADDR/status | jq -e '.eventsListeners | length == 1'"
    kill -TERM "$VMINFOD_PID"
    rc=0; wait "$VMINFOD_PID" || rc=$?
    [ "$rc" -eq 0 ]
    VMINFOD_PID=
    [ ! -e "$VMADM_ROOT/run/vminfod.sock" ]
    rc=0; wait "$P1" || rc=$?
    [ "$rc" -eq 1 ]
    grep -q 'VminfodEventStream ended prematurely' "$BATS_TEST_TMPDIR/h.err"
    grep -q '"shutting down"' "$BATS_TEST_TMPDIR/vminfod.log"

    # changed while no daemon ran
    put_vm $U1 '{"alias":"after"}'
    put_vm $U2 '{"alias":"new"}'
    start_vminfod --loader files
    curl -s "http://$ADDR/vms" | jq -e '[.[].alias] == ["after", "new"]'
    # every log line is JSON
    jq -e . "$BATS_TEST_TMPDIR/vminfod.log" >/dev/null
}

@test "vminfod: a second daemon for the same root refuses to start" {
    start_vminfod --loader files
    run vminfod --listen 127.0.0.1:0 --loader files
    [ "$status" -eq 1 ]
    [[ "$output" == *"another vminfod is serving"* ]]
    run vminfo ping
    [ "$output" = pong ]
}

@test "vminfod with the real loader: vmadm create/update/delete seen as events; reads through vminfod match direct" {
    command -v vmadm >/dev/null || skip "vmadm not built"
    vminfod --listen 127.0.0.1:0 2>>"$BATS_TEST_TMPDIR/vminfod.log" 3>&- &
    VMINFOD_PID=$!
    wait_for test -s "$VMADM_ROOT/run/vminfod.addr"
    ADDR=$(cat "$VMADM_ROOT/run/vminfod.addr")
    export VMINFOD_ADDR=$ADDR
    events_to "$BATS_TEST_TMPDIR/ev"

    run vmadm create <<<'{"brand":"bhyve","alias":"rl0","ram":256,"vcpus":1,"autoboot":false,"disks":[{"size":8,"model":"virtio"}]}'
    [ "$status" -eq 0 ]
    uuid=$(echo "$output" | grep -Eo '[0-9a-f-]{36}')
    grep '"type":"create"' "$BATS_TEST_TMPDIR/ev" | jq -e ".uuid == \"$uuid\" and .vm.alias == \"rl0\""
    # read-after-write: an immediate read through vminfod already has the change
    run vmadm update "$uuid" alias=rl1
    [ "$status" -eq 0 ]
    curl -s "http://$ADDR/vms/$uuid" | jq -e '.alias == "rl1"'
    wait_for grep -q '"newValue":"rl1"' "$BATS_TEST_TMPDIR/ev"
    # the object served equals the one vmadm builds directly
    diff <(vmadm get "$uuid") <(VMINFOD_ADDR=none vmadm get "$uuid")
    diff <(curl -s "http://$ADDR/vms/$uuid" | jq -S .) <(VMINFOD_ADDR=none vmadm get "$uuid" | jq -S .)
    run vmadm delete "$uuid"
    [ "$status" -eq 0 ]
    wait_for grep -q '"type":"delete"' "$BATS_TEST_TMPDIR/ev"
    run curl -s -o /dev/null -w '%{http_code}' "http://$ADDR/vms/$uuid"
    [ "$output" = 404 ]
}
