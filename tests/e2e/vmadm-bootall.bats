#!/usr/bin/env bats
# Issue "Hardware VMs" §4 (autoboot): the host-start entry point
# `vmadm boot-all` (run by etc/systemd/vmadm-autoboot.service) starts every
# VM with autoboot=true, in parallel, and reports failures per VM.  A host
# crash is simulated by killing every VM process with SIGKILL (no lastexited
# written by a clean shutdown): afterwards the VMs must not be mistaken for
# running, and boot-all must bring back exactly the autoboot ones.
# Containers are used because they start in well under a second; one bhyve
# VM whose disk is missing shows a per-VM failure report.

bats_require_minimum_version 1.5.0
load ../cli/helpers
load containers

setup() {
    ct_setup
    imgadm install -m "$VMADM_TEST_CACHE/ct-A.json" -f "$VMADM_TEST_CACHE/ct-A.tar.gz" >/dev/null
}

teardown() {
    for u in $(ls "${VMADM_ROOT:-/nonexistent}/etc/vms" 2>/dev/null); do
        vmadm stop -F "$u" >/dev/null 2>&1 || true
    done
    vm_teardown_root
}

mk() { # alias autoboot
    echo "{\"brand\": \"joyent-minimal\", \"image_uuid\": \"$IMG_CT_A\", \"alias\": \"$1\", \"autoboot\": $2}" |
        vmadm create 2>&1 >/dev/null | sed -n 's/^Successfully created VM //p'
}

state() { vmadm list -H -o state "uuid=$1"; }

# Kills every process of a VM the way a power cut would (no clean exit).
crash() {
    local d=$VMADM_ROOT/run/vms/$1 p
    for p in $(cat "$d/pid" "$d/ctinit" 2>/dev/null | grep -oE '^[0-9]+$|[0-9]+' | sort -u); do
        kill -9 "$p" 2>/dev/null || true
    done
    pkill -9 -f -- "$1" 2>/dev/null || true
    sleep 1
}

@test "boot-all: starts exactly the autoboot VMs, in parallel, after a crash; stale pids are not running" {
    a1=$(mk auto1 true)
    a2=$(mk auto2 true)
    m1=$(mk manual1 false)
    [ "$(state "$a1")" = running ] && [ "$(state "$a2")" = running ] && [ "$(state "$m1")" = stopped ]
    old1=$(vmadm list -H -o pid "uuid=$a1")

    crash "$a1"; crash "$a2"
    # Not running after the crash, even though pid files may remain.
    [ "$(state "$a1")" = stopped ] || { vmadm get "$a1" | jq '{state, pid}'; false; }
    [ "$(state "$a2")" = stopped ]
    # autoboot is still set: a crash is not an operator stop.
    [ "$(vmadm list -H -o autoboot "uuid=$a1")" = true ]

    run --separate-stderr vmadm boot-all
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }
    [[ "$stderr" == *"Successfully started VM $a1"* ]]
    [[ "$stderr" == *"Successfully started VM $a2"* ]]
    [[ "$stderr" != *"$m1"* ]]
    [ "$(state "$a1")" = running ] && [ "$(state "$a2")" = running ] && [ "$(state "$m1")" = stopped ]
    [ "$(vmadm list -H -o pid "uuid=$a1")" != "$old1" ]

    # Running VMs are left alone by a second boot-all.
    run --separate-stderr vmadm boot-all
    [ "$status" -eq 0 ]
}

@test "boot-all: a VM that cannot start is reported by uuid with its error; the others still start" {
    a1=$(mk good true)
    bad=$(mk bad true)
    crash "$a1"; crash "$bad"
    # Break the second VM's root: its init disappears.
    root=$(vmstore get -Ho value mountpoint "zones/$bad")
    rm -f "$root/root/sbin/init"
    run --separate-stderr vmadm boot-all
    [ "$status" -eq 1 ]
    [[ "$stderr" == *"Successfully started VM $a1"* ]]
    [[ "$stderr" == *"Unable to start VM $bad: "*init* ]] || { echo "$stderr"; false; }
    [ "$(state "$a1")" = running ]
    [ "$(state "$bad")" = stopped ]
}

@test "the systemd unit runs boot-all for VMADM_ROOT at host start" {
    unit=$BATS_TEST_DIRNAME/../../etc/systemd/vmadm-autoboot.service
    grep -qx 'ExecStart=/usr/sbin/vmadm boot-all' "$unit"
    grep -q '^WantedBy=multi-user.target' "$unit"
    grep -q '^Environment=VMADM_ROOT=' "$unit"
}
