#!/usr/bin/env bats
# lib/ct against real LXC: busybox system containers started, logged into,
# limited, stopped and cleaned up through the tests/e2e/cttool driver.
# Needs root (LXC, cgroups) and busybox-static.

bats_require_minimum_version 1.5.0
load ../cli/helpers

CTTOOL="$BUILD_DIR/tests/unit/ct/cttool"

setup() {
    [ "$(id -u)" = 0 ] || skip "needs root for LXC"
    [ -x /bin/busybox ] || skip "needs busybox-static"
    [ -x "$CTTOOL" ] || skip "cttool not built ($CTTOOL)"
    vm_setup_root
    UUID=$(cat /proc/sys/kernel/random/uuid)
    ZP="$BATS_TEST_TMPDIR/zone"
    mkroot "$ZP"
    mkdir -p "$ZP/data"
    write_vm
}

teardown() {
    [ -n "${UUID:-}" ] && [ -f "$VMADM_ROOT/run/vms/$UUID/pid" ] && "$CTTOOL" stop "$BATS_TEST_TMPDIR/vm.json" -F || true
    # nothing of ours may survive a test
    for d in /sys/fs/cgroup/*/lxc.payload."${UUID:-none}" /sys/fs/cgroup/*/lxc.monitor."${UUID:-none}"; do
        [ -d "$d" ] && { rmdir "$d/.lxc" "$d" 2>/dev/null || true; }
    done
    vm_teardown_root
}

# mkroot ZONEPATH: busybox rootfs in ZONEPATH/root whose /sbin/init obeys
# marker files: /etc/nice (exit 0 on halt signals, else ignore them),
# /etc/halt-now (exit 7 when it appears), /etc/consh (shell on /dev/console).
mkroot() {
    local r=$1/root a
    mkdir -p "$r"/bin "$r"/sbin "$r"/etc "$r"/proc "$r"/sys "$r"/dev "$r"/tmp "$r"/root "$r"/run
    cp /bin/busybox "$r"/bin/
    for a in $(/bin/busybox --list); do [ "$a" = busybox ] || ln -s busybox "$r/bin/$a"; done
    printf 'ID=ctbusybox\nNAME="ct lib test"\n' > "$r"/etc/os-release
    cat > "$r"/sbin/init <<'EOI'
#!/bin/sh
export PATH=/bin:/sbin
if [ -e /etc/nice ]; then
    trap 'echo "CT: halt signal, exiting"; exit 0' TERM PWR USR1 INT
else
    trap '' TERM PWR USR1 INT HUP
fi
echo "CT: init up as pid $$"
[ -e /etc/consh ] && { sh </dev/console >/dev/console 2>&1 & }
while :; do
    [ -e /etc/halt-now ] && { echo "CT: halting myself"; exit 7; }
    sleep 0.2 & wait
done
EOI
    chmod 755 "$r"/sbin/init
}

# write_vm [EXTRA_JSON_MEMBERS]
write_vm() {
    cat > "$BATS_TEST_TMPDIR/vm.json" <<EOF
{"uuid": "$UUID", "brand": "joyent", "hostname": "ctlib", "zonepath": "$ZP",
 "zfs_filesystem": "zones/$UUID", "max_physical_memory": 128, "max_swap": 256,
 "max_lwps": 200, "cpu_cap": 50, "resolvers": ["192.0.2.53"],
 "datasets": ["zones/$UUID/data"]${1:+, $1}}
EOF
}

ct() { "$CTTOOL" "$@"; }
vmjson() { echo "$BATS_TEST_TMPDIR/vm.json"; }
rundir() { echo "$VMADM_ROOT/run/vms/$UUID"; }
rs_field() { ct runstate "$UUID" | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

# wait_for CMD...: up to 10 s
wait_for() {
    local i
    for i in $(seq 1 100); do "$@" && return 0; sleep 0.1; done
    return 1
}
not_running() { [ "$(rs_field running)" = 0 ]; }
gone() { [ ! -e /proc/"$1" ] || grep -q '^State:[[:space:]]*Z' /proc/"$1"/status; }
shutting_down() { [ "$(rs_field zone_state)" = shutting_down ]; }
stale_cleaned() { not_running && [ ! -e "$(rundir)/pid" ]; }

assert_clean() {
    [ ! -e "$(rundir)/pid" ]
    [ ! -e "$(rundir)/lxc" ]
    ! ls -d /sys/fs/cgroup/*/lxc.payload."$UUID" /sys/fs/cgroup/*/lxc.monitor."$UUID" 2>/dev/null
}

@test "start: runstate running with the real init pid, console log, lxc config from the VM object" {
    run ct start "$(vmjson)"
    [ "$status" -eq 0 ]
    [ "$(rs_field running)" = 1 ]
    [ "$(rs_field zone_state)" = running ]
    pid=$(rs_field pid)
    [ "$pid" = "$(cat "$(rundir)/pid")" ]
    # it is the container's init: our /sbin/init script in the payload cgroup
    grep -q "lxc.payload.$UUID" /proc/"$pid"/cgroup
    tr '\0' ' ' < /proc/"$pid"/cmdline | grep -q '/sbin/init'
    [ "$(rs_field boot_ms)" -gt 0 ]
    wait_for grep -q "CT: init up as pid 1" "$(rundir)/console.log"
    cfg="$(rundir)/lxc/$UUID/config"
    grep -qx "lxc.uts.name = ctlib" "$cfg"
    grep -qx "lxc.rootfs.path = dir:$ZP/root" "$cfg"
    grep -qx "lxc.net.0.type = empty" "$cfg"
    grep -qx "lxc.signal.halt = SIGPWR" "$cfg"
    run ct login "$UUID" hostname
    [ "$output" = ctlib ]
    # a second start is refused and changes nothing
    run ct start "$(vmjson)"
    [ "$status" -ne 0 ]
    [[ "$output" == *"already running"* ]]
    [ "$(rs_field pid)" = "$pid" ]
}

@test "login: runs a command with stdio attached and returns its exit status" {
    ct start "$(vmjson)"
    run ct login "$UUID" cat /etc/os-release
    [ "$status" -eq 0 ]
    [[ "$output" == *"ID=ctbusybox"* ]]
    run ct login "$UUID" sh -c 'read x; echo "got $x"; exit 3' <<< "hello"
    [ "$status" -eq 3 ]
    [ "$output" = "got hello" ]
    run -127 ct login "$UUID" /bin/no-such-program
    # clean environment, HOME=/root
    run ct login "$UUID" sh -c 'echo "$HOME:$PWD"'
    [ "$output" = "/root:/root" ]
}

@test "limits: memory, swap, pids, cpu visible in the container's cgroup; live update" {
    ct start "$(vmjson)"
    run ct login "$UUID" cat /sys/fs/cgroup/memory/memory.limit_in_bytes
    [ "$output" = 134217728 ]
    run ct login "$UUID" cat /sys/fs/cgroup/pids/pids.max
    [ "$output" = 200 ]
    run ct login "$UUID" cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us
    [ "$output" = 50000 ]
    if [ -e /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes ]; then
        run ct login "$UUID" cat /sys/fs/cgroup/memory/memory.memsw.limit_in_bytes
        [ "$output" = 268435456 ]
    fi
    # the host agrees
    [ "$(cat /sys/fs/cgroup/memory/lxc.payload.$UUID/memory.limit_in_bytes)" = 134217728 ]

    # live: raise memory above the old memsw, drop the lwps and cpu caps
    cat > "$BATS_TEST_TMPDIR/vm2.json" <<EOF
{"uuid": "$UUID", "brand": "joyent", "zonepath": "$ZP", "max_physical_memory": 512, "max_swap": 1024}
EOF
    run ct limits "$BATS_TEST_TMPDIR/vm2.json"
    [ "$status" -eq 0 ]
    run ct login "$UUID" cat /sys/fs/cgroup/memory/memory.limit_in_bytes
    [ "$output" = 536870912 ]
    run ct login "$UUID" cat /sys/fs/cgroup/pids/pids.max
    [ "$output" = max ]
    run ct login "$UUID" cat /sys/fs/cgroup/cpu/cpu.cfs_quota_us
    [ "$output" = -1 ]
    # and down again, below the previous memory limit
    cat > "$BATS_TEST_TMPDIR/vm3.json" <<EOF
{"uuid": "$UUID", "brand": "joyent", "zonepath": "$ZP", "max_physical_memory": 64, "max_swap": 64, "max_lwps": 50}
EOF
    ct limits "$BATS_TEST_TMPDIR/vm3.json"
    run ct login "$UUID" cat /sys/fs/cgroup/memory/memory.limit_in_bytes
    [ "$output" = 67108864 ]
    run ct login "$UUID" cat /sys/fs/cgroup/pids/pids.max
    [ "$output" = 50 ]
}

@test "limits on a stopped container: refused" {
    run ct limits "$(vmjson)"
    [ "$status" -ne 0 ]
    [[ "$output" == *"not running"* ]]
}

@test "/data: delegated dataset bind-mounted, files reach the host; resolvers written" {
    ct start "$(vmjson)"
    run ct login "$UUID" sh -c 'echo written-inside > /data/hello && cat /etc/resolv.conf'
    [ "$status" -eq 0 ]
    [[ "$output" == *"nameserver 192.0.2.53"* ]]
    [ "$(cat "$ZP/data/hello")" = written-inside ]
    # the zone's config/ dir is not visible inside
    run ct login "$UUID" ls /config
    [ "$status" -ne 0 ]
}

@test "graceful stop: init that handles the halt signal exits cleanly" {
    touch "$ZP/root/etc/nice"
    ct start "$(vmjson)"
    run ct stop "$(vmjson)" -t 30
    [ "$status" -eq 0 ]
    [ "$(rs_field running)" = 0 ]
    [ "$(rs_field zone_state)" = installed ]
    [ "$(rs_field has_exit)" = 1 ]
    [ "$(rs_field exit_status)" = 0 ]      # exited by itself, not killed
    grep -q "CT: halt signal, exiting" "$(rundir)/console.log"
    assert_clean
}

@test "graceful stop: stubborn init is killed after the timeout" {
    ct start "$(vmjson)"
    "$CTTOOL" stop "$(vmjson)" -t 3 &
    spid=$!
    # while the halt signal is pending the zone is shutting_down
    wait_for shutting_down
    [ "$(rs_field running)" = 1 ]
    wait "$spid"
    [ "$(rs_field running)" = 0 ]
    [ "$(rs_field exit_status)" = -9 ]
    assert_clean
    grep -q "did not halt within 3 s" "$VMADM_ROOT/var/log/vmadm.log"
}

@test "stop -F kills at once, even an init that would halt" {
    touch "$ZP/root/etc/nice"
    ct start "$(vmjson)"
    run ct stop "$(vmjson)" -F
    [ "$status" -eq 0 ]
    [ "$(rs_field exit_status)" = -9 ]
    ! grep -q "halt signal" "$(rundir)/console.log"
    assert_clean
    # stopping a stopped container is an error
    run ct stop "$(vmjson)" -F
    [ "$status" -ne 0 ]
    [[ "$output" == *"not running"* ]]
}

@test "container halting itself: not running, has_exit with init's status" {
    ct start "$(vmjson)"
    pid=$(rs_field pid)
    touch "$ZP/root/etc/halt-now"
    wait_for not_running
    [ "$(rs_field has_exit)" = 1 ]
    [ "$(rs_field exit_status)" = 7 ]
    [ "$(rs_field zone_state)" = installed ]
    grep -q "CT: halting myself" "$(rundir)/console.log"
    wait_for assert_clean
    [ ! -d /proc/"$pid" ] || ! grep -q "lxc.payload.$UUID" /proc/"$pid"/cgroup
}

@test "kill: signal reaches init; SIGKILL ends the container with status -9" {
    ct start "$(vmjson)"
    run ct kill "$UUID" 9
    [ "$status" -eq 0 ]
    wait_for not_running
    [ "$(rs_field exit_status)" = -9 ]
    wait_for assert_clean
}

@test "stale pid: an unrelated live process is not our init; cleaned, not running" {
    mkdir -p "$(rundir)"
    sleep 100 & other=$!
    echo "$other" > "$(rundir)/pid"
    echo "1 1 1" > "$(rundir)/ctinit"
    echo 123 > "$(rundir)/boot"
    [ "$(rs_field running)" = 0 ]
    [ ! -e "$(rundir)/pid" ]
    [ ! -e "$(rundir)/ctinit" ]
    kill -0 "$other"            # untouched
    kill "$other"
    run ct kill "$UUID" 15
    [ "$status" -ne 0 ]
}

@test "stale pid after a crash of the whole process tree: cleaned, start works again" {
    ct start "$(vmjson)"
    pid=$(rs_field pid)
    read -r _ sup _ < "$(rundir)/ctinit"
    mon=$(awk '{print $4}' /proc/"$pid"/stat)
    kill -9 "$sup" "$mon" "$pid"
    # (the orphaned init stays a zombie until the host's init reaps it)
    wait_for stale_cleaned
    run ct start "$(vmjson)"
    [ "$status" -eq 0 ]
    [ "$(rs_field running)" = 1 ]
}

@test "console: shows the container console, CTRL-] detaches" {
    touch "$ZP/root/etc/consh"
    ct start "$(vmjson)"
    mkfifo "$BATS_TEST_TMPDIR/in"
    "$CTTOOL" console "$UUID" < "$BATS_TEST_TMPDIR/in" > "$BATS_TEST_TMPDIR/out" 2>&1 &
    cpid=$!
    # we hold stdin open: only CTRL-] can end the session
    exec {wfd}>"$BATS_TEST_TMPDIR/in"
    printf 'echo CONS_$((6*7))\n' >&"$wfd"
    wait_for grep -q CONS_42 "$BATS_TEST_TMPDIR/out"
    ! gone "$cpid"
    printf '\035' >&"$wfd"
    wait_for gone "$cpid"
    wait "$cpid"
    exec {wfd}>&-
    [ "$(rs_field running)" = 1 ]
    # a second console session works after the first detached
    run bash -c "printf '\035' | timeout 10 '$CTTOOL' console $UUID"
    [ "$status" -eq 0 ]
}

@test "start failures: clear message, nothing left behind" {
    mv "$ZP/root/sbin/init" "$ZP/root/sbin/init.real"
    run ct start "$(vmjson)"
    [ "$status" -eq 1 ]
    [[ "$output" == *"init /sbin/init is missing in zone root $ZP/root"* ]]

    ln -s /does/not/exist "$ZP/root/sbin/init"
    run ct start "$(vmjson)"
    [[ "$output" == *"init /sbin/init is missing"* ]]
    rm "$ZP/root/sbin/init"

    cp "$ZP/root/sbin/init.real" "$ZP/root/sbin/init"
    chmod 644 "$ZP/root/sbin/init"
    run ct start "$(vmjson)"
    [ "$status" -eq 1 ]
    [[ "$output" == *"is not an executable file"* ]]
    chmod 755 "$ZP/root/sbin/init"

    # exec of init fails inside the container: LXC's own error, with its log
    printf '#!/bin/no-such-shell\n' > "$ZP/root/sbin/init"
    run ct start "$(vmjson)"
    [ "$status" -eq 1 ]
    [[ "$output" == *"LXC failed to start the container"* ]]
    [[ "$output" == *"Failed to exec"* ]]
    [ "$(rs_field running)" = 0 ]
    assert_clean

    rm -rf "$ZP/root"
    run ct start "$(vmjson)"
    [ "$status" -eq 1 ]
    [[ "$output" == *"zone root $ZP/root is missing"* ]]
    rm -rf "$ZP/data"
    mkroot "$ZP"
    run ct start "$(vmjson)"
    [[ "$output" == *"delegated dataset zones/$UUID/data has no directory"* ]]
    [ ! -e "$(rundir)/pid" ]
}

@test "stop never destroys the rootfs or the delegated dataset" {
    touch "$ZP/root/etc/nice"
    ct start "$(vmjson)"
    ct login "$UUID" sh -c 'echo keep > /data/keep; echo keep > /root/keep'
    ct stop "$(vmjson)" -F
    [ -x "$ZP/root/sbin/init" ]
    [ "$(cat "$ZP/root/root/keep")" = keep ]
    [ "$(cat "$ZP/data/keep")" = keep ]
}

@test "zone root through lib/storage (zfs_filesystem + delegated dataset)" {
    cat > "$BATS_TEST_TMPDIR/vmp.json" <<EOF
{"uuid": "$UUID", "brand": "lx", "zfs_filesystem": "zones/$UUID",
 "datasets": ["zones/$UUID/data"], "max_physical_memory": 64}
EOF
    dir=$(ct mkzone "$BATS_TEST_TMPDIR/vmp.json")
    mkroot "$dir"
    CTTOOL_POOL=1 run ct start "$BATS_TEST_TMPDIR/vmp.json"
    [ "$status" -eq 0 ]
    cp "$BATS_TEST_TMPDIR/vmp.json" "$BATS_TEST_TMPDIR/vm.json"   # for teardown
    grep -qx "lxc.rootfs.path = dir:$dir/root" "$(rundir)/lxc/$UUID/config"
    ct login "$UUID" sh -c 'echo via-storage > /data/f'
    run find "$VMADM_ROOT" -path '*/fs/f'
    [ -n "$output" ]
    [ "$(cat "$output")" = via-storage ]
    run ct stop "$BATS_TEST_TMPDIR/vmp.json" -F
    [ "$status" -eq 0 ]
}
