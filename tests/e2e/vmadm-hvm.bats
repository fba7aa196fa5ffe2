#!/usr/bin/env bats
# Hardware VMs through vmadm (issue "Hardware VMs on QEMU/KVM", vmadm side;
# issue "Flexible disks" guest-visible parts; reference C23-C29, D31-D36):
# real tiny guests (tests/guest) under TCG, booted as an operator would.

load ../cli/helpers
load hvm

setup() {
    hvm_setup
}

teardown() {
    hvm_teardown
}

log() { echo "$VMADM_ROOT/run/vms/$U/console.log"; }
dpath() { echo "$VMADM_ROOT/dev/zvol/rdsk/zones/$U/disk$1"; }

# mark: remembers where the console log ends, so waits only look at what
# the guest prints from now on (the log may or may not be kept across boots).
# A new boot may truncate console.log in place or replace it; "since the
# mark" is the rest of the file if it still begins with what it held at
# the mark, else all of it.
mark() { cp "$(log)" "$F/mark.log" 2>/dev/null || : > "$F/mark.log"; }
since() {
    local n; n=$(stat -c %s "$F/mark.log")
    if [ "$(stat -c %s "$(log)" 2>/dev/null || echo 0)" -ge "$n" ] && cmp -s -n "$n" "$F/mark.log" "$(log)"; then
        tail -c +$((n + 1)) "$(log)"
    else
        cat "$(log)"
    fi 2>/dev/null | tr -d '\r'
}
wait_console() { # TEXT [SECONDS]: TEXT printed since the last mark
    local i=0 n=$(( ${2:-$BOOT_TIMEOUT} * 5 ))
    while [ $i -lt $n ]; do
        since | grep -qF -- "$1" && return 0
        sleep 0.2; i=$((i + 1))
    done
    echo "console never showed '$1' since the mark:" >&2; since >&2
    return 1
}
wait_state() { # STATE [SECONDS]
    local i=0 n=$(( ${2:-$BOOT_TIMEOUT} * 5 ))
    while [ $i -lt $n ]; do
        [ "$(vmadm get "$U" | jq -r .state)" = "$1" ] && return 0
        sleep 0.2; i=$((i + 1))
    done
    echo "state stayed $(vmadm get "$U" | jq -r .state), wanted $1" >&2
    return 1
}

create() { # DISKS [EXTRA]
    cat > "$F/c.json" <<EOT
{"uuid": "$U", "brand": "bhyve", "alias": "e2e", "ram": 256, "vcpus": 1, "autoboot": false,
 "flexible_disk_size": 1024, "disks": $1 ${2:+, $2}}
EOT
    run vmadm create -f "$F/c.json"
    [ "$status" -eq 0 ] || { echo "create: $output"; return 1; }
}

@test "hvm: start, list/get/info, disk slots, online grow, live refusals, reboot, ACPI stop, remove a disk" {
    create "[{\"image_uuid\": \"$IMG_HVM_A\", \"boot\": true, \"model\": \"virtio\", \"size\": 128},
             {\"size\": 32, \"model\": \"virtio\"}, {\"size\": 48, \"model\": \"virtio\"}]"
    [ "$(vmadm get "$U" | jq -c '[.disks[].pci_slot]')" = '["0:4:0","0:4:1","0:4:2"]' ]
    mark
    run vmadm start "$U"
    [ "$status" -eq 0 ]
    [ "$output" = "Successfully started VM $U" ]
    wait_console "VMADM-GUEST: ready"
    out=$(since)
    echo "$out" | grep -qx "VMADM-GUEST: booted image=alpha"
    # the image disk was created at twice the image size; the guest sees it
    echo "$out" | grep -qx "VMADM-GUEST: disk 0000:00:04.0 vda 128"
    echo "$out" | grep -qx "VMADM-GUEST: disk 0000:00:04.1 vdb 32"
    echo "$out" | grep -qx "VMADM-GUEST: disk 0000:00:04.2 vdc 48"

    run vmadm get "$U"
    obj=$output
    [ "$(echo "$obj" | jq -r '.state + " " + (.autoboot|tostring)')" = "running true" ]
    pid=$(echo "$obj" | jq -r .pid)
    [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid"
    [[ "$(echo "$obj" | jq -r .boot_timestamp)" =~ ^20[0-9][0-9]-.*Z$ ]]
    run vmadm list -H -o uuid,state,pid uuid="$U"
    [ "$(echo "$output" | awk '{ print $1, $2, $3 }')" = "$U running $pid" ]

    # vmadm info pci agrees with the persisted slots
    run vmadm info "$U" pci
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    info=$output
    for i in 0 1 2; do
        slot=$(echo "$obj" | jq -r ".disks[$i].pci_slot")
        addr=$(printf '%02x:%02x.%x' "$(echo "$slot" | cut -d: -f1)" "$(echo "$slot" | cut -d: -f2)" "$(echo "$slot" | cut -d: -f3)")
        [ "$(echo "$info" | jq -r --arg a "$addr" '.pci[] | select(.address == $a) | .drive')" = "disk$i" ] \
            || { echo "slot $slot ($addr): $(echo "$info" | jq -c .pci)"; false; }
    done

    # starting a running VM: exit 0 with SmartOS's message
    run vmadm start "$U"
    [ "$status" -eq 0 ]
    [ "$output" = "Unable to start VM $U: VM $U is already 'running'" ]

    # online grow: the running guest sees the new size
    mark
    echo "{\"update_disks\": [{\"path\": \"$(dpath 2)\", \"size\": 64}]}" > "$F/u.json"
    run vmadm update "$U" -f "$F/u.json"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    wait_console "VMADM-GUEST: disk 0000:00:04.2 size 64"
    [ "$(vmadm get "$U" | jq '.disks[2].size')" = 64 ]
    # other disk changes are refused while it runs
    echo "{\"update_disks\": [{\"path\": \"$(dpath 1)\", \"model\": \"ahci\"}]}" > "$F/u.json"
    run vmadm update "$U" -f "$F/u.json"
    [ "$status" -eq 1 ]
    [ "$output" = 'at least one specified update to disks is only allowed when state is "stopped", currently: running (running)' ]
    echo '{"add_disks": [{"size": 8}]}' > "$F/u.json"
    run vmadm update "$U" -f "$F/u.json"
    [ "$status" -eq 1 ]
    [ "$output" = 'updates to disks are only allowed when state is "stopped", currently: running (running)' ]

    # reboot: a new boot, running again
    mark
    run vmadm reboot "$U"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    [ "$output" = "Successfully completed reboot for VM $U" ]
    wait_console "VMADM-GUEST: ready"
    since | grep -qx "VMADM-GUEST: booted image=alpha"
    [ "$(vmadm get "$U" | jq -r .state)" = running ]

    # graceful stop: ACPI power button, guest powers off within the default timeout
    mark
    run vmadm stop "$U"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    [ "$output" = "Successfully completed stop for VM $U" ]
    since | grep -qx "VMADM-GUEST: acpi poweroff"
    run vmadm get "$U"
    [ "$(echo "$output" | jq -r '.state + " " + (.autoboot|tostring) + " " + (.pid|tostring)')" = "stopped false null" ]
    ! kill -0 "$pid" 2>/dev/null
    run vmadm stop "$U"
    [ "$status" -eq 0 ]
    [ "$output" = "VM $U is already not 'running' (currently: stopped)" ]

    # remove disk1; the guest now sees 00:04.0 and 00:04.2 (a hole)
    echo "{\"remove_disks\": [\"$(dpath 1)\"]}" > "$F/u.json"
    run vmadm update "$U" -f "$F/u.json"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    [ "$(vmadm get "$U" | jq -c '[.disks[].pci_slot]')" = '["0:4:0","0:4:2"]' ]
    mark
    run vmadm start "$U"
    [ "$status" -eq 0 ]
    wait_console "VMADM-GUEST: ready"
    out=$(since)
    [ "$(echo "$out" | grep '^VMADM-GUEST: disk 0000:' | grep -v ' size ' | awk '{ print $3 }' | tr '\n' ' ')" = "0000:00:04.0 0000:00:04.2 " ] \
        || { echo "$out"; false; }
    echo "$out" | grep -qx "VMADM-GUEST: disk 0000:00:04.2 vdb 64"
    [ "$(vmadm get "$U" | jq -r .autoboot)" = true ]

    # forced stop
    pid=$(vmadm get "$U" | jq -r .pid)
    run vmadm stop -F "$U"
    [ "$status" -eq 0 ]
    [ "$(vmadm get "$U" | jq -r .state)" = stopped ]
    ! kill -0 "$pid" 2>/dev/null
}

@test "hvm: UEFI guest with disks at 0:4:0 and 0:4:2 powers itself off; exit_status recorded" {
    create "[{\"image_uuid\": \"$IMG_HVM_A\", \"boot\": true, \"model\": \"virtio\"},
             {\"size\": 16, \"model\": \"virtio\", \"pci_slot\": \"0:4:2\"}]" \
        '"bootrom": "uefi", "qemu_extra_opts": "-fw_cfg name=opt/vmadm/mode,string=poweroff"'
    mark
    run vmadm start "$U"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    wait_state stopped
    out=$(since)
    echo "$out" | grep -qx "VMADM-GUEST: booted image=alpha"
    echo "$out" | grep -qx "VMADM-GUEST: disk 0000:00:04.0 vda 64"
    echo "$out" | grep -qx "VMADM-GUEST: disk 0000:00:04.2 vdb 16"
    ! echo "$out" | grep -q "0000:00:04.1"
    echo "$out" | grep -qx "VMADM-GUEST: data written"
    echo "$out" | grep -qx "VMADM-GUEST: poweroff"
    run vmadm get "$U"
    [ "$(echo "$output" | jq -r '.exit_status | type')" = number ]
    [[ "$(echo "$output" | jq -r .exit_timestamp)" =~ ^20[0-9][0-9]-.*Z$ ]]
    [ "$(echo "$output" | jq -r .pid)" = null ]
}

@test "hvm: start failures (missing volume file, missing nocreate path, too much ram) give one error and stay stopped" {
    create "[{\"image_uuid\": \"$IMG_HVM_A\", \"boot\": true, \"model\": \"virtio\"}]"
    # the volume's data file disappears behind vmadm's back
    file=$(jq -r --arg d "zones/$U/disk0" '.datasets[$d].file' "$VMADM_ROOT/var/vmstore/zones/pool.json")
    rm -f "$VMADM_ROOT/var/vmstore/zones/data/$file"
    run vmadm start "$U"
    [ "$status" -eq 1 ]
    [ "${#lines[@]}" -eq 1 ] && [[ "$output" == "Unable to start VM $U: "* ]] || { echo "$output"; false; }
    [ "$(vmadm get "$U" | jq -r '.state + " " + (.autoboot|tostring)')" = "stopped false" ]
    run pgrep -f -- "$U"
    [ "$status" -ne 0 ]
    vmadm delete "$U" 2>/dev/null || true

    U=$(cat /proc/sys/kernel/random/uuid)
    create "[{\"path\": \"$F/does-not-exist.img\", \"nocreate\": true, \"boot\": true, \"model\": \"virtio\"}]"
    run vmadm start "$U"
    [ "$status" -eq 1 ]
    [ "${#lines[@]}" -eq 1 ] && [[ "$output" == "Unable to start VM $U: "* ]] || { echo "$output"; false; }
    [[ "$output" == *does-not-exist.img* ]]
    [ "$(vmadm get "$U" | jq -r .state)" = stopped ]
    run pgrep -f -- "$U"
    [ "$status" -ne 0 ]

    U=$(cat /proc/sys/kernel/random/uuid)
    local host_mib=$(( $(awk '/MemTotal/ { print $2 }' /proc/meminfo) / 1024 ))
    create "[{\"image_uuid\": \"$IMG_HVM_A\", \"boot\": true, \"model\": \"virtio\"}]"
    echo "{\"ram\": $((host_mib * 4))}" > "$F/u.json"
    run vmadm update "$U" -f "$F/u.json"
    [ "$status" -eq 0 ] || { echo "update of ram failed: $output"; false; }
    run vmadm start "$U"
    [ "$status" -eq 1 ]
    [ "${#lines[@]}" -eq 1 ] && [[ "$output" == "Unable to start VM $U: "* ]] || { echo "$output"; false; }
    [ "$(vmadm get "$U" | jq -r .state)" = stopped ]
    run pgrep -f -- "$U"
    [ "$status" -ne 0 ]
}
