#!/usr/bin/env bats
# Issue 14, vminfod as an attacker sees it (a local unprivileged user):
#  #5  its TCP port never serves vnc_password, internal_metadata or
#      customer_metadata *_pw; its unix socket (everything) is root's only;
#      root's vmadm still sees everything;
#  #12 hundreds of idle /events streams cannot lock other clients out:
#      a clear 429/503 beyond the caps, other requests still answered;
#  #14 ?since at and beyond the int64 range: resync or 400, no overflow.

bats_require_minimum_version 1.5.0
load helpers

U=5ec0e75e-0000-4000-8000-000000000002

setup() {
    [ "$(id -u)" = 0 ] || skip "needs root (runs commands as nobody)"
    vm_setup_root
    chmod 0755 "$VMADM_ROOT"
    F=$BATS_TEST_TMPDIR
    BG_PIDS=""
}

teardown() {
    local p
    for p in $BG_PIDS; do kill "$p" 2>/dev/null || true; done
    if [ -n "${VMINFOD_PID:-}" ]; then
        kill "$VMINFOD_PID" 2>/dev/null || true
        wait "$VMINFOD_PID" 2>/dev/null || true
    fi
    vm_teardown_root
}

as_nobody() {
    setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"
}



mk_secret_vm() {
    VMINFOD_ADDR=none vmadm create 2>/dev/null <<EOT
{"uuid": "$U", "brand": "bhyve", "autoboot": false, "ram": 256, "alias": "sec",
 "vnc_password": "VNCSEC_1",
 "customer_metadata": {"root_pw": "PWSECRET1", "role": "web"},
 "internal_metadata": {"token": "INTSECRET1"}}
EOT
}

@test "vminfod TCP: no vnc_password, internal_metadata or *_pw for anyone; root's vmadm sees them" {
    mk_secret_vm
    start_vminfod
    local sock="$VMADM_ROOT/run/vminfod.sock"
    [ "$(stat -c '%a %u' "$sock")" = "600 0" ]
    # every TCP answer, as nobody
    for p in "/vms" "/vms/$U" "/vms?fields=uuid,alias,vnc_password,internal_metadata"; do
        run as_nobody curl -sf "http://$ADDR$p"
        [ "$status" -eq 0 ]
        [[ "$output" != *SEC* ]]
        [[ "$output" != *root_pw* ]]
    done
    run as_nobody curl -sf "http://$ADDR/vms/$U"
    [ "$(echo "$output" | jq -r .customer_metadata.role)" = web ]
    [ "$(echo "$output" | jq -c .internal_metadata)" = "{}" ]
    run as_nobody curl -si "http://$ADDR/vms/$U"
    [[ "$output" == *"X-Vminfod-Redacted: true"* ]]
    # the event stream: ready line, then a change of every secret
    as_nobody curl -sN "http://$ADDR/events" > "$F/ev.txt" &
    BG_PIDS="$BG_PIDS $!"
    wait_for grep -q '"ready"' "$F/ev.txt"
    vmadm update "$U" vnc_password=VNCSEC_2 alias=sec2 2>/dev/null
    echo '{"set_customer_metadata": {"admin_pw": "PWSECRET2"}, "set_internal_metadata": {"t2": "INTSECRET2"}}' |
        vmadm update "$U" 2>/dev/null
    wait_for grep -q '"sec2"' "$F/ev.txt"
    sleep 0.5
    run cat "$F/ev.txt"
    [[ "$output" != *SEC* ]]
    # nobody cannot use the unix socket
    run as_nobody curl -sf --unix-socket "$sock" http://x/vms
    [ "$status" -ne 0 ]
    # root: full objects through the unix socket, and through vmadm
    run curl -sf --unix-socket "$sock" "http://x/vms/$U"
    [[ "$output" == *VNCSEC_2* ]]
    [[ "$output" == *PWSECRET2* ]]
    run vmadm get "$U"
    [ "$status" -eq 0 ]
    [ "$(echo "$output" | jq -r .vnc_password)" = VNCSEC_2 ]
    [ "$(echo "$output" | jq -r .internal_metadata.t2)" = INTSECRET2 ]
}

@test "vminfod TCP only: root's vmadm refuses the redacted view and reads the files" {
    mk_secret_vm
    start_vminfod --socket none
    run vmadm get "$U"
    [ "$status" -eq 0 ]
    [ "$(echo "$output" | jq -r .vnc_password)" = VNCSEC_1 ]
    [ "$(echo "$output" | jq -r .customer_metadata.root_pw)" = PWSECRET1 ]
    run vmadm list -H -o alias
    [ "$output" = sec ]
    # a write does not wait 60 s on a stream that could never match
    SECONDS=0
    vmadm update "$U" alias=sec3 2>/dev/null
    [ "$SECONDS" -lt 20 ]
}

@test "vminfod: hundreds of idle TCP /events streams get 429/503, other requests still answered" {
    start_vminfod
    # 300 streams from one address (more than the per-client cap of 32)
    python3 - "$ADDR" "$F/codes" <<'EOF' &
import socket, sys, time
host, port = sys.argv[1].rsplit(":", 1)
codes = {}
socks = []
for i in range(300):
    s = socket.create_connection((host, int(port)))
    s.sendall(b"GET /events HTTP/1.1\r\nHost: x\r\n\r\n")
    line = s.recv(64).split(b"\r\n")[0].decode()
    code = line.split(" ")[1] if " " in line else "none"
    codes[code] = codes.get(code, 0) + 1
    socks.append(s)  # never read again
with open(sys.argv[2], "w") as f:
    f.write(" ".join("%s=%d" % kv for kv in sorted(codes.items())) + "\n")
time.sleep(60)
EOF
    BG_PIDS="$BG_PIDS $!"
    wait_for test -s "$F/codes"
    cat "$F/codes"
    grep -q "200=32" "$F/codes"
    grep -q "429=268" "$F/codes"
    # everything else still answered, over TCP and over the unix socket
    run curl -sf -m 5 "http://$ADDR/ping"
    [ "$status" -eq 0 ]
    run curl -sf -m 5 "http://$ADDR/vms"
    [ "$output" = "[]" ]
    run curl -s -m 5 -o /dev/null -w '%{http_code}' "http://$ADDR/events"
    [ "$output" = 429 ]
    run curl -s -m 5 "http://$ADDR/events"
    [[ "$output" == *"too many event streams"* ]]
    run timeout 5 curl -sN --unix-socket "$VMADM_ROOT/run/vminfod.sock" http://x/events
    [[ "$output" == *'"type":"ready"'* ]]
    # root's vmadm writes still open their stream
    SECONDS=0
    run vmadm create <<<'{"brand": "bhyve", "autoboot": false, "ram": 256}'
    [ "$status" -eq 0 ]
    [ "$SECONDS" -lt 20 ]
}

@test "vminfod: ?since at and past the int64 limits is a resync or a 400" {
    start_vminfod
    for s in 9223372036854775807 -9223372036854775808; do
        run timeout 3 curl -sN "http://$ADDR/events?since=$s"
        [[ "$output" == *'"type":"resync"'* ]]
    done
    for s in 9223372036854775808 -9223372036854775809 1e3 ''; do
        run curl -s -o /dev/null -w '%{http_code}' "http://$ADDR/events?since=$s"
        [ "$output" = 400 ]
    done
    run curl -sf "http://$ADDR/ping"
    [ "$status" -eq 0 ]
    ! grep -q "runtime error" "$F/vminfod.log"
}
