#!/usr/bin/env bats
# Issue 19: after `vmadm kill` of a container whose init reboots on the
# signal (busybox init on SIGTERM; here the test init made to `reboot -f`),
# LXC restarts the container in the same monitor with an init vmadm never
# recorded: the VM looked stopped while the monitor ran on, and every later
# start or reprovision failed ("appears to be already running ... Failed to
# create command socket").  Now the rebooted init is recorded (the VM stays
# running, as a rebooted zone does), and a state read waits out an ending
# container's teardown, so kill + start at once works.  Real LXC containers.

bats_require_minimum_version 1.5.0
load ../cli/helpers
load containers

setup() {
    ct_setup
    U=$(cat /proc/sys/kernel/random/uuid)
    imgadm install -m "$VMADM_TEST_CACHE/ct-A.json" -f "$VMADM_TEST_CACHE/ct-A.tar.gz" >/dev/null
    imgadm install -m "$VMADM_TEST_CACHE/ct-B.json" -f "$VMADM_TEST_CACHE/ct-B.tar.gz" >/dev/null
    echo "{\"uuid\":\"$U\",\"brand\":\"joyent\",\"image_uuid\":\"$IMG_CT_A\",\"autoboot\":false}" |
        vmadm create 2>/dev/null
}

teardown() {
    vmadm stop -F "$U" >/dev/null 2>&1 || true
    vm_teardown_root
}

initpid() { cat "$VMADM_ROOT/run/vms/$U/pid"; }
state() { vmadm list -Ho state uuid=$U; }
# processes of this VM's LXC monitor / supervisor ("vmadm start <uuid>")
helpers() { pgrep -f "vmadm start $U" || true; }
# rebooted OLDPID: a state read shows the VM running on another init
rebooted() { [ "$(state)" = running ] && [ "$(initpid)" != "$1" ]; }

@test "reboot inside a container: the new init is recorded, the VM stays running; stop and start work" {
    vmadm start $U
    local p1; p1=$(initpid)
    vmadm login $U reboot -f || true
    wait_for rebooted "$p1"
    kill -0 "$(initpid)"
    run vmadm login $U cat /etc/os-release
    [ "$status" -eq 0 ] && [[ "$output" == *"ID=ctalpha"* ]]
    run --separate-stderr vmadm start $U
    [ "$stderr" = "Unable to start VM $U: VM $U is already 'running'" ]
    run --separate-stderr vmadm stop $U
    [ "$status" -eq 0 ]
    [ "$(state)" = stopped ] && [ -z "$(helpers)" ]
    run --separate-stderr vmadm start $U
    [ "$status" -eq 0 ] && [ "$stderr" = "Successfully started VM $U" ]
}

@test "vmadm kill of an init that reboots on SIGTERM: no orphaned monitor; later start and reprovision work" {
    local init=$VMADM_ROOT/zones/$U/root/sbin/init
    sed -i "s/^trap .*TERM INT$/trap 'reboot -f' TERM/" "$init"
    grep -q "reboot -f" "$init"
    vmadm start $U
    local p1; p1=$(initpid)
    run --separate-stderr vmadm kill $U
    [ "$status" -eq 0 ] && [ "$stderr" = "Sent signal \"SIGTERM\" to init process for VM $U" ]
    # the state tells the truth: LXC rebooted it
    wait_for rebooted "$p1"
    run --separate-stderr vmadm kill -s KILL $U
    [ "$status" -eq 0 ]
    [ "$(state)" = stopped ] && [ -z "$(helpers)" ]
    run --separate-stderr vmadm start $U
    [ "$status" -eq 0 ] && [ "$stderr" = "Successfully started VM $U" ]
    vmadm kill -s KILL $U 2>/dev/null
    run --separate-stderr vmadm reprovision $U <<< "{\"image_uuid\":\"$IMG_CT_B\"}"
    [ "$status" -eq 0 ] && [ "$stderr" = "Successfully reprovisioned VM $U" ]
    run vmadm login $U cat /etc/os-release
    [[ "$output" == *"ID=ctbeta"* ]]
}

@test "kill -s KILL and start at once, five times: every start succeeds, no helper left over" {
    local i
    vmadm start $U
    for i in 1 2 3 4 5; do
        vmadm kill -s KILL $U 2>/dev/null
        run --separate-stderr vmadm start $U
        [ "$status" -eq 0 ] || { echo "round $i: $stderr"; false; }
    done
    vmadm stop -F $U 2>/dev/null
    [ "$(state)" = stopped ] && [ -z "$(helpers)" ]
}
