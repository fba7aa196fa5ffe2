#!/usr/bin/env bats
# Issue "Hardware VMs" §6: killing vmadm (kill -9) in the middle of start or
# stop leaves a consistent state: the VM is either running (a live QEMU of
# this VM behind the pid vmadm shows) or stopped (no QEMU of it left), and
# the next start/stop works.  No guest OS is needed for this, so the VM
# boots a blank disk (SeaBIOS finds nothing to boot and waits).

bats_require_minimum_version 1.5.0
load ../cli/helpers

setup() {
    vm_setup_root
    U=$(echo '{"brand": "bhyve", "autoboot": false, "ram": 128,
               "disks": [{"size": 16, "model": "virtio", "boot": true}]}' |
        vmadm create 2>&1 | sed -n 's/^Successfully created VM //p')
    [ -n "$U" ]
}

teardown() {
    vmadm stop -F "$U" >/dev/null 2>&1 || true
    vm_teardown_root
}

qemus() { pgrep -f -- "qemu-system-x86_64 -name $U" | wc -l; }

consistent() {
    local st pid
    st=$(vmadm list -H -o state "uuid=$U")
    case "$st" in
    running)
        pid=$(vmadm list -H -o pid "uuid=$U")
        grep -q "$U" "/proc/$pid/cmdline" || { echo "running but pid $pid is not its QEMU"; return 1; }
        [ "$(qemus)" -eq 1 ] || { echo "running with $(qemus) QEMUs"; return 1; } ;;
    stopped)
        # A QEMU the killed start had already launched may still be coming
        # up: give it a moment, then it must be either counted as running
        # or gone.
        sleep 1
        st=$(vmadm list -H -o state "uuid=$U")
        [ "$st" = running ] && return 0
        [ "$(qemus)" -eq 0 ] || { echo "stopped but $(qemus) QEMU(s) of it run"; return 1; } ;;
    *) echo "unexpected state $st"; return 1 ;;
    esac
}

@test "kill -9 during start and during stop: running or stopped, never in between; next start/stop works" {
    local i killed=0
    for i in $(seq 8); do
        vmadm start "$U" >/dev/null 2>&1 &
        p=$!
        sleep "0.$(printf '%03d' $((RANDOM % 150)))"
        kill -9 $p 2>/dev/null && killed=$((killed + 1))
        wait $p 2>/dev/null || true
        consistent || { echo "after start kill $i"; false; }
        if [ "$(vmadm list -H -o state "uuid=$U")" = running ]; then
            vmadm stop -t 2 "$U" >/dev/null 2>&1 &
            p=$!
            sleep "0.$(printf '%03d' $((RANDOM % 500)))"
            kill -9 $p 2>/dev/null && killed=$((killed + 1))
            wait $p 2>/dev/null || true
            consistent || { echo "after stop kill $i"; false; }
        fi
        # Whatever happened, the operator's next commands work.
        vmadm stop -F "$U" >/dev/null 2>&1 || true
        [ "$(vmadm list -H -o state "uuid=$U")" = stopped ]
        [ "$(qemus)" -eq 0 ]
    done
    echo "# $killed commands killed before they finished" >&3
    run vmadm start "$U"
    [ "$status" -eq 0 ]
    [ "$(vmadm list -H -o state "uuid=$U")" = running ]
    run vmadm stop -F "$U"
    [ "$status" -eq 0 ]
}
