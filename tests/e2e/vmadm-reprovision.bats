#!/usr/bin/env bats
# vmadm reprovision with real tiny guests (issue "reprovision"): a running
# VM booted from image A writes a marker on its data disk; a refused
# reprovision leaves it running; reprovision to B stops it gracefully, swaps
# disk0 and boots B, which still reads the marker written under A.

load ../cli/helpers
load hvm

setup() {
    hvm_setup
    imgadm install -m "$VMADM_TEST_CACHE/hvm-B.json" -f "$VMADM_TEST_CACHE/hvm-B.raw.zst" >/dev/null
}

teardown() {
    hvm_teardown
}

log() { echo "$VMADM_ROOT/run/vms/$U/console.log"; }
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
wait_console() {
    local i=0 n=$(( ${2:-$BOOT_TIMEOUT} * 5 ))
    while [ $i -lt $n ]; do
        since | grep -qF -- "$1" && return 0
        sleep 0.2; i=$((i + 1))
    done
    echo "console never showed '$1' since the mark:" >&2; since >&2
    return 1
}
vget() { vmstore get -Hp -t filesystem,volume -o value "$1" "$2"; }

@test "reprovision e2e: running A with data on disk1 -> B keeps the data, boots B" {
    cat > "$F/c.json" <<EOT
{"uuid": "$U", "brand": "bhyve", "alias": "rp-e2e", "ram": 256, "vcpus": 1, "autoboot": false,
 "flexible_disk_size": 512, "customer_metadata": {"k": "v"},
 "disks": [{"image_uuid": "$IMG_HVM_A", "boot": true, "model": "virtio", "size": 96},
           {"size": 64, "model": "virtio"}]}
EOT
    run vmadm create -f "$F/c.json"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    mark
    run vmadm start "$U"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    wait_console "VMADM-GUEST: ready"
    out=$(since)
    echo "$out" | grep -qx "VMADM-GUEST: booted image=alpha"
    echo "$out" | grep -qx "VMADM-GUEST: data written"
    echo "$out" | grep -qx "VMADM-GUEST: disk 0000:00:04.0 vda 96"
    pid=$(vmadm get "$U" | jq -r .pid)
    d1guid=$(vget guid "zones/$U/disk1")
    before=$(vmadm get "$U" | jq -S 'del(.last_modified, .boot_timestamp, .pid, .disks[0].image_uuid)')

    # A refused reprovision leaves the running VM alone.
    echo '{"image_uuid": "00000000-1111-4222-8333-444444444444"}' > "$F/bad.json"
    run vmadm reprovision "$U" -f "$F/bad.json"
    [ "$status" -eq 1 ]
    [ "$output" = "Failed to reprovision VM $U: image \"00000000-1111-4222-8333-444444444444\" was not found on zpool \"zones\"" ]
    [ "$(vmadm get "$U" | jq -r '.state + " " + (.pid|tostring) + " " + (.autoboot|tostring)')" = "running $pid true" ]
    kill -0 "$pid"

    # The real one: graceful stop (ACPI), swap, start again (autoboot was true).
    mark
    exec 8<"$(log)"   # the old boot's log, in case start replaces the file
    # ... and in case it is truncated in place: watch for the ACPI line.
    ( while [ ! -e "$F/rp.done" ]; do
          tr -d '\r' < "$(log)" 2>/dev/null | grep -qx "VMADM-GUEST: acpi poweroff" && touch "$F/acpi.seen"
          sleep 0.02
      done ) &
    watcher=$!
    echo "{\"image_uuid\": \"$IMG_HVM_B\"}" > "$F/rp.json"
    run vmadm reprovision "$U" -f "$F/rp.json"
    touch "$F/rp.done"; wait $watcher
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    [ "$output" = "Successfully reprovisioned VM $U" ]
    ! kill -0 "$pid" 2>/dev/null
    wait_console "VMADM-GUEST: ready"
    out=$(since)
    # stopped gracefully, not killed
    oldlog=$(tr -d '\r' <&8); exec 8<&-
    echo "$oldlog" | grep -qx "VMADM-GUEST: acpi poweroff" || [ -e "$F/acpi.seen" ]
    echo "$out" | grep -qx "VMADM-GUEST: booted image=beta"
    echo "$out" | grep -qx "VMADM-GUEST: data marker: written under image=alpha"
    echo "$out" | grep -qx "VMADM-GUEST: disk 0000:00:04.0 vda 96"
    echo "$out" | grep -qx "VMADM-GUEST: disk 0000:00:04.1 vdb 64"

    run vmadm get "$U"
    [ "$(echo "$output" | jq -r '.disks[0].image_uuid + " " + .state + " " + (.autoboot|tostring)')" = "$IMG_HVM_B running true" ]
    [ "$(echo "$output" | jq -r .transition_to)" = null ]
    after=$(echo "$output" | jq -S 'del(.last_modified, .boot_timestamp, .pid, .disks[0].image_uuid)')
    [ "$(vget origin "zones/$U/disk0")" = "zones/$IMG_HVM_B@final" ]
    [ "$(vget volsize "zones/$U/disk0")" = $((96 * MiB)) ]
    [ "$(vget guid "zones/$U/disk1")" = "$d1guid" ]

    # With autoboot false (after a stop) the VM stays stopped.
    run vmadm stop -F "$U"
    [ "$status" -eq 0 ]
    echo "{\"image_uuid\": \"$IMG_HVM_A\"}" > "$F/rp.json"
    run vmadm reprovision "$U" -f "$F/rp.json"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    [ "$(vmadm get "$U" | jq -r '.disks[0].image_uuid + " " + .state + " " + (.autoboot|tostring)')" = "$IMG_HVM_A stopped false" ]
    # Last (so a difference does not hide the checks above): nothing but
    # disks[0].image_uuid changed in the VM object.
    diff <(echo "$before") <(echo "$after")
}
