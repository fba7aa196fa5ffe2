#!/usr/bin/env bats
# lib/hv against real QEMU, through tests/e2e/hvtool (no VM store involved):
# VM objects are hand-made JSON whose disks are plain files.

load ../cli/helpers

GUEST_DIR="$BATS_TEST_DIRNAME/../guest"
BOOT_TIMEOUT=240   # TCG boots take 7-15 s here; allow for a loaded machine

setup_file() {
    "$GUEST_DIR/build.sh" >&2
}

setup() {
    . "$GUEST_DIR/images.env"
    HVTOOL="$BUILD_DIR/tests/unit/hv/hvtool"
    [ -x "$HVTOOL" ] || skip "hvtool not built (ninja -C \$BUILD_DIR tests/unit/hv/hvtool)"
    vm_setup_root
    T=$BATS_TEST_TMPDIR
    U=$(cat /proc/sys/kernel/random/uuid)
}

teardown() {
    [ -n "${U:-}" ] && "$HVTOOL" stop "$U" -F >/dev/null 2>&1 || true
    [ -n "${U2:-}" ] && "$HVTOOL" stop "$U2" -F >/dev/null 2>&1 || true
    vm_teardown_root
}

rundir() { echo "$VMADM_ROOT/run/vms/${1:-$U}"; }

# vm_json FILE UUID EXTRA-JSON-MEMBERS DISKS-JSON
vm_json() {
    printf '{"uuid": "%s", "brand": "bhyve", "ram": 256, "vcpus": 1, "vnc_port": -1%s, "disks": %s}\n' \
        "$2" "${3:+, $3}" "${4:-[]}" > "$1"
}

# guest_disks: disk0 = copy of image A (boot, 0:4:0), disk1 = empty 64 MiB (0:4:1)
guest_disks() {
    cp --sparse=always "$VMADM_TEST_CACHE/hvm-A.raw" "$T/disk0"
    truncate -s 64M "$T/disk1"
    DISKS="[{\"path\": \"$T/disk0\", \"boot\": true, \"model\": \"virtio\", \"pci_slot\": \"0:4:0\"},
            {\"path\": \"$T/disk1\", \"model\": \"virtio\", \"pci_slot\": \"0:4:1\"}]"
}

# wait_console TEXT [SECONDS]: until the guest's console.log has TEXT
wait_console() {
    local i=0 n=$(( ${2:-$BOOT_TIMEOUT} * 5 )) log; log="$(rundir)/console.log"
    while [ $i -lt $n ]; do
        grep -aqF -- "$1" "$log" 2>/dev/null && return 0
        sleep 0.2; i=$((i + 1))
    done
    echo "console.log never showed '$1':" >&2; cat "$log" >&2 || true
    return 1
}

rs() { "$HVTOOL" runstate "$U" | jq -r ".$1"; }

@test "hv: guest boots; runstate, info pci/block/vnc, resize, sysrq, then ACPI stop" {
    guest_disks
    vm_json "$T/vm.json" "$U" "" "$DISKS"
    run "$HVTOOL" start "$T/vm.json"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    [ "$(rs running)" = true ]
    [ "$(rs zone_state)" = running ]
    pid=$(rs pid)
    [ "$pid" = "$(cat "$(rundir)/pid")" ]
    tr '\0' ' ' < /proc/$pid/cmdline | grep -q -- "-uuid $U"
    [ "$(rs accel)" = "$VMADM_ACCEL" ]
    for s in qmp.sock console.sock; do [ -S "$(rundir)/$s" ]; done

    run "$HVTOOL" info "$U" pci
    [ "$status" -eq 0 ]
    [ "$(echo "$output" | jq -r '.pci[] | select(.address == "00:04.0") | .drive')" = disk0 ]
    [ "$(echo "$output" | jq -r '.pci[] | select(.address == "00:04.1") | .drive')" = disk1 ]
    [ "$(echo "$output" | jq -r '.pci[] | select(.address == "00:04.0") | .vendor + ":" + .device')" = "1af4:1001" ]
    run "$HVTOOL" info "$U" all
    [ "$status" -eq 0 ]
    [ "$(echo "$output" | jq -r 'keys_unsorted | join(",")')" = "block,blockstats,chardev,cpus,pci,version,vnc,status" ]
    [ "$(echo "$output" | jq -r '.block[] | select(.device == "disk0") | .inserted.file')" = "$T/disk0" ]
    [ "$(echo "$output" | jq -r '.status.status')" = running ]
    [ "$(echo "$output" | jq -c '.vnc')" = "{}" ]      # vnc_port -1
    run "$HVTOOL" info "$U" bogus
    [ "$status" -eq 1 ]
    [[ "$output" == *"unknown info type bogus"* ]]

    wait_console "VMADM-GUEST: booted image=alpha"
    wait_console "VMADM-GUEST: disk 0000:00:04.1 vdb 64"
    wait_console "VMADM-GUEST: ready"

    # online resize of disk1: the file grows and the guest sees it
    run "$HVTOOL" resize "$U" disk1 $((128 * 1024 * 1024))
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    [ "$(stat -c %s "$T/disk1")" -eq $((128 * 1024 * 1024)) ]
    wait_console "VMADM-GUEST: disk 0000:00:04.1 size 128" 60
    run "$HVTOOL" resize "$U" disk7 1048576
    [ "$status" -eq 1 ]
    [[ "$output" == *"disk7"* ]]

    run "$HVTOOL" sysrq "$U" nmi
    [ "$status" -eq 0 ]
    run "$HVTOOL" sysrq "$U" bogus
    [ "$status" -eq 1 ]

    # graceful stop: ACPI power button; the guest's acpid powers off
    run "$HVTOOL" stop "$U" -t 120
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    grep -aq "VMADM-GUEST: acpi poweroff" "$(rundir)/console.log"
    ! grep -q "did not power off" "$VMADM_ROOT/var/log/vmadm.log"
    [ "$(rs running)" = false ]
    [ "$(rs has_exit)" = true ]
    [ "$(rs exit_status)" = 0 ]
    [ ! -e "$(rundir)/pid" ]
    [ ! -e "$(rundir)/qmp.sock" ]
    [ ! -e "$(rundir)/console.sock" ]
    # the guest wrote its marker on the data disk and unmounted it cleanly
    grep -aq "VMADM-GUEST: data written" "$(rundir)/console.log"
}

@test "hv: a guest that powers itself off is stopped at once, with its exit status" {
    guest_disks
    vm_json "$T/vm.json" "$U" '"qemu_extra_opts": "-fw_cfg name=opt/vmadm/mode,string=poweroff"' "$DISKS"
    run "$HVTOOL" start "$T/vm.json"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    wait_console "VMADM-GUEST: poweroff"
    # the supervisor reaps QEMU and records the exit; no stop call involved
    i=0
    while [ "$(rs running)" = true ] && [ $i -lt 300 ]; do sleep 0.2; i=$((i + 1)); done
    [ "$(rs running)" = false ]
    [ "$(rs has_exit)" = true ]
    [ "$(rs exit_status)" = 0 ]
    [ "$(rs zone_state)" = installed ]
    [ ! -e "$(rundir)/pid" ]
    run "$HVTOOL" stop "$U" -F
    [ "$status" -eq 1 ]
    [[ "$output" == *"is not running"* ]]
}

@test "hv: console attaches to the serial port; input reaches the guest shell" {
    guest_disks
    vm_json "$T/vm.json" "$U" '"qemu_extra_opts": "-fw_cfg name=opt/vmadm/mode,string=shell"' "$DISKS"
    run "$HVTOOL" start "$T/vm.json"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    wait_console "VMADM-GUEST: ready"
    run bash -c "sleep 1; printf 'echo CONSOLE-\$((6 * 7))\n' | timeout 60 '$HVTOOL' console $U"
    [ "$status" -eq 0 ]
    [[ "$output" == *"CONSOLE-42"* ]]
    # CTRL-] detaches without sending anything after it
    run bash -c "(printf 'echo BEFORE\n'; sleep 1; printf '\035echo AFTER\n') | timeout 60 '$HVTOOL' console $U"
    [ "$status" -eq 0 ]
    sleep 2
    grep -aq "BEFORE" "$(rundir)/console.log"
    ! grep -aq "AFTER" "$(rundir)/console.log"
    run "$HVTOOL" stop "$U" -F
    [ "$status" -eq 0 ]
}

@test "hv: UEFI boot keeps a per-VM NVRAM outside the runtime dir" {
    guest_disks
    vm_json "$T/vm.json" "$U" '"bootrom": "uefi"' "$DISKS"
    run "$HVTOOL" start "$T/vm.json"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    [ -f "$VMADM_ROOT/etc/vms/$U/uefi-vars.fd" ]
    [ "$(stat -c %s "$VMADM_ROOT/etc/vms/$U/uefi-vars.fd")" -eq "$(stat -c %s /usr/share/OVMF/OVMF_VARS_4M.fd)" ]
    wait_console "VMADM-GUEST: booted image=alpha"
    run "$HVTOOL" stop "$U" -F
    [ "$status" -eq 0 ]
    [ -f "$VMADM_ROOT/etc/vms/$U/uefi-vars.fd" ]
}

@test "hv: firmware-only VM: stop -F, kill, screenshot, VNC" {
    vm_json "$T/vm.json" "$U" '"vnc_port": 0, "vnc_password": "pw123"'
    sed -i 's/"vnc_port": -1, //' "$T/vm.json"
    run "$HVTOOL" start "$T/vm.json"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    run "$HVTOOL" start "$T/vm.json"
    [ "$status" -eq 1 ]
    [[ "$output" == *"VM $U is already 'running'"* ]]
    run "$HVTOOL" info "$U" vnc
    [ "$status" -eq 0 ]
    port=$(echo "$output" | jq -r .vnc.port)
    [ "$(echo "$output" | jq -r .vnc.host)" = 127.0.0.1 ]
    [ "$(echo "$output" | jq -r .vnc.display)" = $((port - 5900)) ]
    [ "$(echo "$output" | jq -r .vnc.password)" = pw123 ]
    ss -ltn | grep -q "127.0.0.1:$port "
    run "$HVTOOL" sysrq "$U" screenshot
    [ "$status" -eq 0 ]
    f=$(echo "$output" | jq -r .path)
    [ "$f" = "$(rundir)/screenshot.ppm" ]
    [ "$(head -c 2 "$f")" = P6 ]

    run "$HVTOOL" stop "$U" -F
    [ "$status" -eq 0 ]
    [ "$(rs running)" = false ]
    [ "$(rs has_exit)" = true ]
    [ ! -e "$(rundir)/pid" ]

    run "$HVTOOL" start "$T/vm.json"
    [ "$status" -eq 0 ]
    run "$HVTOOL" kill "$U" 9
    [ "$status" -eq 0 ]
    i=0
    while [ "$(rs running)" = true ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    [ "$(rs running)" = false ]
    [ "$(rs exit_status)" = -9 ]
    run "$HVTOOL" kill "$U" 9
    [ "$status" -eq 1 ]
}

@test "hv: graceful stop of a guest that ignores ACPI falls back to quit after the timeout" {
    vm_json "$T/vm.json" "$U"
    "$HVTOOL" start "$T/vm.json"
    run "$HVTOOL" stop "$U" -t 1
    [ "$status" -eq 0 ]
    grep -q "did not power off within 1 s; forcing" "$VMADM_ROOT/var/log/vmadm.log"
    [ "$(rs running)" = false ]
    [ "$(rs has_exit)" = true ]
}

@test "hv: stale pid files are never taken for a running VM, and are cleaned" {
    mkdir -p "$(rundir)"
    # a live process that is not QEMU
    sleep 300 3>&- &
    spid=$!
    echo $spid > "$(rundir)/pid"
    : > "$(rundir)/qmp.sock"
    [ "$(rs running)" = false ]
    [ ! -e "$(rundir)/pid" ]
    [ ! -e "$(rundir)/qmp.sock" ]
    kill $spid
    # another VM's QEMU
    U2=$(cat /proc/sys/kernel/random/uuid)
    vm_json "$T/vm2.json" "$U2"
    "$HVTOOL" start "$T/vm2.json"
    cp "$(rundir "$U2")/pid" "$(rundir)/pid"
    [ "$(rs running)" = false ]
    [ ! -e "$(rundir)/pid" ]
    run "$HVTOOL" stop "$U" -F
    [ "$status" -eq 1 ]
    [ "$("$HVTOOL" runstate "$U2" | jq -r .running)" = true ]
    # a dead pid
    echo 999999 > "$(rundir)/pid"
    [ "$(rs running)" = false ]
    [ ! -e "$(rundir)/pid" ]
}

@test "hv: failed starts leave the VM stopped with no pid or sockets" {
    # missing disk: refused before anything is created
    vm_json "$T/vm.json" "$U" "" "[{\"path\": \"$T/nope/disk0\", \"boot\": true, \"pci_slot\": \"0:4:0\"}]"
    run "$HVTOOL" start "$T/vm.json"
    [ "$status" -eq 1 ]
    [[ "$output" == *"$T/nope/disk0"* ]]
    [ ! -e "$(rundir)" ]
    # more RAM than the host has
    vm_json "$T/vm.json" "$U"
    sed -i 's/"ram": 256/"ram": 99999999/' "$T/vm.json"
    run "$HVTOOL" start "$T/vm.json"
    [ "$status" -eq 1 ]
    [[ "$output" == *"ram (99999999 MiB) exceeds host memory ("*" MiB)"* ]]
    [ ! -e "$(rundir)" ]
    # QEMU itself refuses: its own message is in the error
    vm_json "$T/vm.json" "$U" '"qemu_extra_opts": "-device no-such-device"'
    run "$HVTOOL" start "$T/vm.json"
    [ "$status" -eq 1 ]
    [[ "$output" == *"QEMU exited while starting"*"'no-such-device' is not a valid device model name"* ]]
    [ "$(rs running)" = false ]
    for f in pid qmp.sock console.sock supervisor; do [ ! -e "$(rundir)/$f" ]; done
    # bad pci slot / bus
    vm_json "$T/vm.json" "$U" "" "[{\"path\": \"$T/vm.json\", \"pci_slot\": \"1:4:0\"}]"
    run "$HVTOOL" start "$T/vm.json"
    [ "$status" -eq 1 ]
    [[ "$output" == *'pci_slot "1:4:0": only PCI bus 0 is supported'* ]]
}

@test "hv: too long a runtime path is refused with the path named" {
    long="/tmp/$(printf 'x%.0s' $(seq 1 60))"
    mkdir -p "$long"
    vm_json "$T/vm.json" "$U"
    VMADM_ROOT="$long" run "$HVTOOL" start "$T/vm.json"
    rm -rf "$long"
    [ "$status" -eq 1 ]
    [[ "$output" == *"$long/run/vms/$U/console.sock is too long"* ]]
}

@test "hv: ahci, nvme and cdrom devices sit exactly at their pci_slot" {
    truncate -s 16M "$T/disk0" "$T/disk1" "$T/disk2" "$T/cd.iso"
    vm_json "$T/vm.json" "$U" "" "[
      {\"path\": \"$T/disk0\", \"boot\": true, \"model\": \"ahci\", \"pci_slot\": \"0:4:0\"},
      {\"path\": \"$T/disk1\", \"model\": \"nvme\", \"pci_slot\": \"0:5:0\", \"uuid\": \"$U\"},
      {\"path\": \"$T/disk2\", \"model\": \"virtio\", \"pci_slot\": \"0:4:3\"},
      {\"path\": \"$T/cd.iso\", \"model\": \"ahci\", \"media\": \"cdrom\", \"pci_slot\": \"0:3:0\"}]"
    run "$HVTOOL" start "$T/vm.json"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    run "$HVTOOL" info "$U" pci block
    [ "$status" -eq 0 ]
    pci() { echo "$output" | jq -r ".pci[] | select(.address == \"$1\") | .class + \" \" + (.drive // \"-\")"; }
    [ "$(pci 00:04.0)" = "0106 disk0" ]
    [ "$(pci 00:05.0)" = "0108 disk1" ]
    [ "$(pci 00:04.3)" = "0100 disk2" ]
    [ "$(pci 00:03.0)" = "0106 cdrom3" ]
    [ "$(echo "$output" | jq -r '.block[] | select(.device == "cdrom3") | .inserted.ro')" = true ]
    run "$HVTOOL" stop "$U" -F
    [ "$status" -eq 0 ]
}

@test "hv: the accelerator probe is cached per host and VMADM_ACCEL overrides it" {
    run env -u VMADM_ACCEL "$HVTOOL" accel
    [ "$status" -eq 0 ]
    accel=$(echo "$output" | head -1)
    [[ "$accel" == kvm || "$accel" == tcg ]]
    if [ "$accel" = tcg ]; then
        [[ "$(echo "$output" | sed -n 2p)" == "KVM is not usable on this host ("*"); using TCG software emulation (slow)" ]]
    fi
    c="$VMADM_ROOT/var/cache/accel.json"
    [ "$(jq -r .accel "$c")" = "$accel" ]
    [ "$(jq -r .key.kernel "$c")" = "$(uname -r)" ]
    # served from the cache: a doctored answer with the same key is believed
    jq '.accel = "kvm" | .warning = "from-cache"' "$c" > "$c.new" && mv "$c.new" "$c"
    run env -u VMADM_ACCEL "$HVTOOL" accel
    [ "$(echo "$output" | head -1)" = kvm ]
    # a different key (another kernel) makes it probe again
    jq '.key.kernel = "0.0.0-other" | .accel = "kvm"' "$c" > "$c.new" && mv "$c.new" "$c"
    run env -u VMADM_ACCEL "$HVTOOL" accel
    [ "$(echo "$output" | head -1)" = "$accel" ]
    [ "$(jq -r .key.kernel "$c")" = "$(uname -r)" ]
    run env VMADM_ACCEL=tcg "$HVTOOL" accel
    [ "$output" = tcg ]
    # a VM started with the probed accelerator exposes it and the warning
    vm_json "$T/vm.json" "$U"
    env -u VMADM_ACCEL "$HVTOOL" start "$T/vm.json"
    [ "$(rs accel)" = "$accel" ]
    if [ "$accel" = tcg ]; then [[ "$(rs warning)" == "KVM is not usable"* ]]; fi
}

@test "hv: the VM's processes keep none of the caller's locks or stdio" {
    vm_json "$T/vm.json" "$U"
    lock="$VMADM_ROOT/var/lock/$U.lock"
    mkdir -p "$VMADM_ROOT/var/lock"
    # hvtool inherits flock(1)'s locked fd, as vmadm holds its per-VM lock
    run timeout 60 flock "$lock" "$HVTOOL" start "$T/vm.json"
    [ "$status" -eq 0 ]
    [ "$(rs running)" = true ]
    run flock -n "$lock" true
    [ "$status" -eq 0 ]
    # a pipe on stdout/stderr reaches EOF when hvtool exits, not when the VM does
    "$HVTOOL" stop "$U" -F
    run timeout 60 bash -c "out=\$('$HVTOOL' start '$T/vm.json' 2>&1); echo \"done:\$out\""
    [ "$status" -eq 0 ]
    [ "$output" = "done:" ]
    [ "$(rs running)" = true ]
}
