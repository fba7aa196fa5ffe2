#!/usr/bin/env bats
# vmadm reprovision (issue "reprovision", reference R1-R35) as an operator
# runs it, on HVM VMs made from fake zvol images (nothing boots here except
# a non-bootable QEMU where a running VM is needed): every pre-flight check
# in order with SmartOS's message and nothing changed afterwards; the disk
# swap itself; kill -9 at random points; two reprovisions at once.

load helpers

IMG_A=a0000000-0000-4000-8000-00000000000a     # 64 MiB
IMG_B=b0000000-0000-4000-8000-00000000000b     # 64 MiB
IMG_BIG=c0000000-0000-4000-8000-00000000000c   # 128 MiB
IMG_ZONE=d0000000-0000-4000-8000-00000000000d  # zone-dataset
U=e0000000-0000-4000-8000-0000000000e1
MiB=1048576

setup() {
    vm_setup_root
    F=$BATS_TEST_TMPDIR
}

teardown() {
    vmadm stop -F "$U" >/dev/null 2>&1 || true
    vm_teardown_root
}

install_img() { # UUID SIZE_MIB
    make_zvol_image "$1" "$2" "$F"
    imgadm install -m "$F/$1.json" -f "$F/$1.raw" >/dev/null
}

install_zone_img() {
    mkdir -p "$F/root/etc"
    echo zone > "$F/root/etc/hostname"
    tar -C "$F/root" -czf "$F/zone.tgz" .
    local sha bytes
    sha=$(sha1sum "$F/zone.tgz" | cut -d' ' -f1)
    bytes=$(stat -c %s "$F/zone.tgz")
    cat > "$F/zone.json" <<EOT
{"v": 2, "uuid": "$IMG_ZONE", "name": "zone", "version": "1.0.0", "type": "zone-dataset",
 "os": "smartos", "state": "active", "disabled": false, "public": false,
 "files": [{"sha1": "$sha", "size": $bytes, "compression": "gzip"}], "requirements": {}}
EOT
    imgadm install -m "$F/zone.json" -f "$F/zone.tgz" >/dev/null
}

# create_vm [DISKS-JSON] [EXTRA-MEMBERS]: bhyve VM $U, stopped.
create_vm() {
    local disks=${1:-"[{\"image_uuid\": \"$IMG_A\", \"boot\": true, \"model\": \"virtio\", \"size\": 128},
                      {\"size\": 32, \"model\": \"virtio\"}]"}
    cat > "$F/create.json" <<EOT
{"uuid": "$U", "brand": "bhyve", "alias": "rp", "ram": 256, "vcpus": 1, "autoboot": false,
 "flexible_disk_size": 1024, "disks": $disks,
 "nics": [{"nic_tag": "admin", "ip": "10.0.0.5", "netmask": "255.255.255.0", "model": "virtio"}]
 ${2:+, $2}}
EOT
    run vmadm create -f "$F/create.json"
    [ "$status" -eq 0 ] || { echo "create: $output"; return 1; }
}

reprov() { # UUID PAYLOAD-JSON
    echo "$2" > "$F/rp.json"
    run vmadm reprovision "$1" -f "$F/rp.json"
}

# Everything an operator can see of the VM and its storage, minus fields
# that change by themselves.
vm_state() {
    vmadm get "$U" | jq -S 'del(.last_modified, .boot_timestamp, .pid, .exit_status, .exit_timestamp)'
    vmstore list -H -p -t all -o name,volsize,origin,quota,reservation,refreservation,guid
}

disk0() { echo "zones/$U/disk0"; }
# vget PROP NAME: one property of one dataset, parsable (-t: only the
# dataset itself, not its snapshots).
vget() { vmstore get -Hp -t filesystem,volume -o value "$1" "$2"; }
origin_image() { vget origin "$(disk0)" | sed -e 's|^zones/||' -e 's|@final$||'; }

expect_fail() { # EXPECTED-MESSAGE (after the prefix); uses $status/$output of the last run
    [ "$status" -eq 1 ] || { echo "status $status: $output"; return 1; }
    [ "$output" = "Failed to reprovision VM $U: $1" ] || { echo "got:      $output"; echo "expected: Failed to reprovision VM $U: $1"; return 1; }
}

@test "reprovision: unknown VM, missing or bad image_uuid, image not installed" {
    install_img "$IMG_A" 64
    install_img "$IMG_B" 64
    local other=f0000000-0000-4000-8000-0000000000f9
    echo "{\"image_uuid\": \"$IMG_B\"}" > "$F/p.json"
    run vmadm reprovision "$other" -f "$F/p.json"
    [ "$status" -eq 1 ]
    [ "$output" = "Failed to reprovision VM $other: VM $other not found" ]

    create_vm
    before=$(vm_state)
    reprov "$U" '{}'
    expect_fail "payload is missing image_uuid"
    reprov "$U" '{"alias": "x", "image": "y"}'
    expect_fail "payload is missing image_uuid"
    reprov "$U" '{"image_uuid": "not-a-uuid"}'
    expect_fail 'invalid uuid: "not-a-uuid"'
    local missing=99999999-0000-4000-8000-000000000099
    reprov "$U" "{\"image_uuid\": \"$missing\"}"
    expect_fail "image \"$missing\" was not found on zpool \"zones\""
    [ "$(vm_state)" = "$before" ]
}

@test "reprovision: check order — VM, payload, uuid, installed image, indestructible, type" {
    install_img "$IMG_A" 64
    install_zone_img
    create_vm
    run vmadm update "$U" indestructible_zoneroot=true
    [ "$status" -eq 0 ]
    before=$(vm_state)
    # the payload is checked before indestructible_zoneroot ...
    reprov "$U" '{}'
    expect_fail "payload is missing image_uuid"
    reprov "$U" '{"image_uuid": "bad"}'
    expect_fail 'invalid uuid: "bad"'
    local missing=99999999-0000-4000-8000-000000000099
    reprov "$U" "{\"image_uuid\": \"$missing\"}"
    expect_fail "image \"$missing\" was not found on zpool \"zones\""
    # ... and indestructible_zoneroot before the image type.
    reprov "$U" "{\"image_uuid\": \"$IMG_ZONE\"}"
    expect_fail "indestructible_zoneroot is set, cannot reprovision"
    [ "$(vm_state)" = "$before" ]

    run vmadm update "$U" indestructible_zoneroot=false
    [ "$status" -eq 0 ]
    before=$(vm_state)
    reprov "$U" "{\"image_uuid\": \"$IMG_ZONE\"}"
    expect_fail "image $IMG_ZONE is type zone-dataset, but must be one of: [\"zvol\"]"
    [ "$(vm_state)" = "$before" ]
}

@test "reprovision: HVM disk checks — no disks, no disk0, disk0 not bootable" {
    install_img "$IMG_A" 64
    install_img "$IMG_B" 64
    create_vm '[]'
    before=$(vm_state)
    reprov "$U" "{\"image_uuid\": \"$IMG_B\"}"
    expect_fail "No disks found for bhyve VM"
    [ "$(vm_state)" = "$before" ]
    vmadm delete "$U" >/dev/null 2>&1

    # Only a nocreate disk whose path is not .../disk0.
    : > "$F/other.img"
    allow_host_dir "$F"
    create_vm "[{\"path\": \"$F/other.img\", \"nocreate\": true, \"boot\": true, \"model\": \"virtio\"}]"
    before=$(vm_state)
    reprov "$U" "{\"image_uuid\": \"$IMG_B\"}"
    expect_fail "disk0 not found for bhyve VM"
    [ "$(vm_state)" = "$before" ]
    vmadm delete "$U" >/dev/null 2>&1

    # disk0 exists but is not the boot disk: checked before any change (the
    # issue moves SmartOS's late R15 check to the pre-flight).
    create_vm "[{\"image_uuid\": \"$IMG_A\", \"model\": \"virtio\"},
                {\"size\": 16, \"model\": \"virtio\", \"boot\": true}]"
    run vmadm update "$U" autoboot=true
    before=$(vm_state)
    reprov "$U" "{\"image_uuid\": \"$IMG_B\"}"
    expect_fail "disk0 found but does not have boot property set to true - reprovision requires a bootable disk0"
    [ "$(vm_state)" = "$before" ]
    [ "$(vmadm get "$U" | jq -r .autoboot)" = true ]
}

@test "reprovision: image larger than disk0 refused, equal size accepted" {
    install_img "$IMG_A" 64
    install_img "$IMG_B" 64
    install_img "$IMG_BIG" 128
    create_vm "[{\"image_uuid\": \"$IMG_A\", \"boot\": true, \"model\": \"virtio\"}]"
    before=$(vm_state)
    reprov "$U" "{\"image_uuid\": \"$IMG_BIG\"}"
    expect_fail "Cannot reprovision: image (128 MiB) > disk0 (64 MiB)"
    [ "$(vm_state)" = "$before" ]
    reprov "$U" "{\"image_uuid\": \"$IMG_B\"}"
    [ "$status" -eq 0 ]
    [ "$output" = "Successfully reprovisioned VM $U" ]
    [ "$(origin_image)" = "$IMG_B" ]
}

@test "reprovision: held disk0 snapshots are listed with their holds; nothing changes" {
    install_img "$IMG_A" 64
    install_img "$IMG_B" 64
    create_vm
    vmstore snapshot "$(disk0)@s1"
    vmstore snapshot "$(disk0)@s2"
    vmstore snapshot "$(disk0)@s3"
    vmstore hold a-tag "$(disk0)@s1"
    vmstore hold b-tag "$(disk0)@s1"
    vmstore hold keep "$(disk0)@s3"
    before=$(vm_state)
    reprov "$U" "{\"image_uuid\": \"$IMG_B\"}"
    expect_fail "Cannot reprovision: disk0 has snapshots with holds that must be released first:
  - zones/$U/disk0@s1 (holds: a-tag, b-tag)
  - zones/$U/disk0@s3 (holds: keep)"
    [ "$(vm_state)" = "$before" ]
    # Holds on other disks do not matter.
    vmstore release a-tag "$(disk0)@s1"
    vmstore release b-tag "$(disk0)@s1"
    vmstore release keep "$(disk0)@s3"
    vmstore snapshot "zones/$U/disk1@held"
    vmstore hold keep "zones/$U/disk1@held"
    reprov "$U" "{\"image_uuid\": \"$IMG_B\"}"
    [ "$status" -eq 0 ]
    vmstore list -H -o name "zones/$U/disk1@held"
    # disk0's old (unheld) snapshots went with the old disk0.
    run vmstore list -H -t snapshot -o name -r "$(disk0)"
    [ -z "$output" ] || { echo "left: $output"; false; }
}

@test "reprovision: a failed check leaves a running VM running, autoboot untouched" {
    install_img "$IMG_A" 64
    install_img "$IMG_BIG" 128
    create_vm "[{\"image_uuid\": \"$IMG_A\", \"boot\": true, \"model\": \"virtio\"}]"
    run vmadm start "$U"
    [ "$status" -eq 0 ]
    pid=$(vmadm get "$U" | jq -r .pid)
    before=$(vm_state)
    reprov "$U" "{\"image_uuid\": \"$IMG_BIG\"}"
    expect_fail "Cannot reprovision: image (128 MiB) > disk0 (64 MiB)"
    reprov "$U" '{"image_uuid": "nope"}'
    expect_fail 'invalid uuid: "nope"'
    [ "$(vm_state)" = "$before" ]
    [ "$(vmadm get "$U" | jq -r '.state + " " + (.pid|tostring) + " " + (.autoboot|tostring)')" = "running $pid true" ]
    kill -0 "$pid"
}

@test "reprovision: new disk0 is a clone of the image, keeps its size; everything else unchanged" {
    install_img "$IMG_A" 64
    install_img "$IMG_B" 64
    create_vm "" '"customer_metadata": {"hello": "world"}, "tags": {"t": 1}, "routes": {"10.1.0.0/16": "10.0.0.1"}, "qemu_extra_opts": "-no-hpet"'
    echo '{"set_internal_metadata": {"x": "y"}}' | vmadm update "$U"
    vmstore snapshot "$(disk0)@old"
    vmstore snapshot "zones/$U/disk1@keep"
    d1guid=$(vget guid "zones/$U/disk1")
    d0guid=$(vget guid "$(disk0)")
    [ "$(origin_image)" = "$IMG_A" ]
    get_before=$(vmadm get "$U" | jq -S 'del(.last_modified)')

    reprov "$U" "{\"image_uuid\": \"$IMG_B\", \"alias\": \"ignored\"}"
    [ "$status" -eq 0 ]
    [ "$output" = "Successfully reprovisioned VM $U" ]

    # disk0: clone of B@final, grown to the old size, old disk0 and its snapshots gone.
    [ "$(vget origin "$(disk0)")" = "zones/$IMG_B@final" ]
    [ "$(vget volsize "$(disk0)")" = $((128 * MiB)) ]
    [ "$(vget guid "$(disk0)")" != "$d0guid" ]
    run vmstore list -H -t snapshot -o name -r "$(disk0)"
    [ -z "$output" ]
    # disk1 is the same volume with its snapshot.
    [ "$(vget guid "zones/$U/disk1")" = "$d1guid" ]
    vmstore list -H -o name "zones/$U/disk1@keep"
    # Nothing else in the pool: no leftover aside datasets.
    run vmstore list -H -t all -o name
    [ "$(echo "$output" | grep -c "$U")" -eq 4 ] || { echo "$output"; false; }

    # The VM object: only disks[0].image_uuid changed; stays stopped (autoboot false).
    get_after=$(vmadm get "$U" | jq -S 'del(.last_modified)')
    [ "$(echo "$get_after" | jq -r '.disks[0].image_uuid')" = "$IMG_B" ]
    diff <(echo "$get_before" | jq --arg b "$IMG_B" '.disks[0].image_uuid = $b') <(echo "$get_after")
    [ "$(echo "$get_after" | jq -r '.state + " " + (.autoboot|tostring)')" = "stopped false" ]
    [ "$(echo "$get_after" | jq -c '[.disks[].pci_slot]')" = '["0:4:0","0:4:1"]' ]
    [ "$(echo "$get_after" | jq -r '.customer_metadata.hello + .internal_metadata.x + (.tags.t|tostring) + .routes["10.1.0.0/16"]')" = "worldy110.0.0.1" ]
    # Space accounting still matches the disks (RFD 154).
    [ "$(echo "$get_after" | jq .free_space)" = $((1024 - 128 - 32)) ]
}

@test "reprovision: state provisioning with transition while it works" {
    install_img "$IMG_A" 64
    install_img "$IMG_B" 64
    create_vm
    # Holding the pool lock stalls the storage step, so the transition can be seen.
    exec 9>"$VMADM_ROOT/var/vmstore/zones/pool.lock"
    flock 9
    vmadm reprovision "$U" -f <(echo "{\"image_uuid\": \"$IMG_B\"}") 2>"$F/rp.err" &
    rp=$!
    now=$(date +%s%3N)
    seen=""
    for _ in $(seq 50); do
        seen=$(vmadm get "$U" | jq -c '[.state, .transition_to, (.transition_expire|type)]')
        [ "$seen" = '["provisioning","running","number"]' ] && break
        sleep 0.1
    done
    expire=$(vmadm get "$U" | jq .transition_expire)
    flock -u 9
    exec 9>&-
    wait $rp
    [ "$seen" = '["provisioning","running","number"]' ] || { echo "seen $seen"; false; }
    # transition_expire = now + 300 s (PROVISION_TIMEOUT)
    [ "$expire" -ge $((now + 290000)) ] && [ "$expire" -le $((now + 310000)) ]
    run vmadm get "$U"
    [ "$(echo "$output" | jq -c '[.state, .transition_to, .transition_expire]')" = '["stopped",null,null]' ]
    [ "$(origin_image)" = "$IMG_B" ]
}

@test "reprovision: autoboot true starts the VM again; a start failure is reported" {
    install_img "$IMG_A" 64
    install_img "$IMG_B" 64
    create_vm "" '"qemu_extra_opts": "-no-such-qemu-option"'
    run vmadm update "$U" autoboot=true
    reprov "$U" "{\"image_uuid\": \"$IMG_B\"}"
    # The reprovision itself happened; the failed start is reported.
    [ "$status" -eq 1 ]
    [[ "$output" == "Failed to reprovision VM $U: "* ]]
    [[ "$output" == *"start"* ]]
    [ "$(origin_image)" = "$IMG_B" ]
    run vmadm get "$U"
    [ "$(echo "$output" | jq -r '.disks[0].image_uuid + " " + .state')" = "$IMG_B stopped" ]
    [ "$(echo "$output" | jq -r '.transition_to')" = null ]

    # With a startable VM, autoboot true means running afterwards.
    echo '{"qemu_extra_opts": null}' | vmadm update "$U"
    run vmadm update "$U" autoboot=true
    reprov "$U" "{\"image_uuid\": \"$IMG_A\"}"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    run vmadm get "$U"
    [ "$(echo "$output" | jq -r '.disks[0].image_uuid + " " + .state + " " + (.autoboot|tostring)')" = "$IMG_A running true" ]
}

# consistent: the VM as `vmadm get` shows it agrees with its storage.
consistent() {
    local obj img
    obj=$(vmadm get "$U") || { echo "get failed"; return 1; }
    img=$(echo "$obj" | jq -r '.disks[0].image_uuid')
    [ "$(echo "$obj" | jq '.disks | length')" -eq 2 ] || { echo "disks: $(echo "$obj" | jq -c .disks)"; return 1; }
    [ "$(echo "$obj" | jq -r '.disks[0].path')" = "$VMADM_ROOT/dev/zvol/rdsk/zones/$U/disk0" ] || return 1
    vmstore list -H -o name "$(disk0)" >/dev/null || { echo "no disk0 volume"; return 1; }
    [ "$img" = "$(origin_image)" ] || { echo "config says $img, disk0 is a clone of $(origin_image)"; return 1; }
    [ "$(vget guid "zones/$U/disk1")" = "$D1GUID" ] || { echo "disk1 replaced"; return 1; }
    vmstore list -H -o name "zones/$U/disk1@keep" >/dev/null || { echo "disk1 snapshot lost"; return 1; }
}

@test "reprovision: kill -9 at random points leaves a consistent VM" {
    install_img "$IMG_A" 64
    install_img "$IMG_B" 64
    create_vm
    vmstore snapshot "zones/$U/disk1@keep"
    D1GUID=$(vget guid "zones/$U/disk1")
    # How long one reprovision takes here, to spread the kills over it
    # (0-300 ms, but no later than the operation usually ends).
    t0=$(date +%s%3N)
    vmadm reprovision "$U" -f <(echo "{\"image_uuid\": \"$IMG_B\"}") 2>/dev/null
    dur=$(( $(date +%s%3N) - t0 ))
    [ $dur -gt 300 ] && dur=300
    [ $dur -lt 5 ] && dur=5
    cur=$IMG_B
    for i in $(seq 25); do
        [ "$cur" = "$IMG_A" ] && cur=$IMG_B || cur=$IMG_A
        echo "{\"image_uuid\": \"$cur\"}" > "$F/rp.json"
        vmadm reprovision "$U" -f "$F/rp.json" 2>/dev/null &
        p=$!
        sleep "$(printf '0.%03d' $(( RANDOM % (dur * 12 / 10 + 1) )))"
        kill -9 $p 2>/dev/null || true
        wait $p 2>/dev/null || true
        consistent || { echo "iteration $i (target $cur)"; false; }
        # After that one command no transition is left.
        run vmadm get "$U"
        [ "$(echo "$output" | jq -c '[.state, .transition_to]')" = '["stopped",null]' ] || { echo "iteration $i: $(echo "$output" | jq -c '[.state, .transition_to, .transition_expire]')"; false; }
    done
    # A last full reprovision works and leaves exactly the VM's datasets.
    reprov "$U" "{\"image_uuid\": \"$IMG_A\"}"
    [ "$status" -eq 0 ]
    consistent
    [ "$(vmadm get "$U" | jq -r '.disks[0].image_uuid')" = "$IMG_A" ]
    run vmstore list -H -t all -o name
    [ "$(echo "$output" | grep -c "$U")" -eq 4 ] || { echo "$output"; false; }
}

@test "reprovision: two at once, and reprovision + update at once, run one after the other" {
    install_img "$IMG_A" 64
    install_img "$IMG_B" 64
    create_vm
    D1GUID=$(vget guid "zones/$U/disk1")
    vmstore snapshot "zones/$U/disk1@keep"
    for i in 1 2 3; do
        vmadm reprovision "$U" -f <(echo "{\"image_uuid\": \"$IMG_B\"}") 2>"$F/a.err" &
        a=$!
        vmadm reprovision "$U" -f <(echo "{\"image_uuid\": \"$IMG_A\"}") 2>"$F/b.err" &
        b=$!
        wait $a; ra=$?
        wait $b; rb=$?
        [ $ra -eq 0 ] && [ $rb -eq 0 ] || { cat "$F/a.err" "$F/b.err"; false; }
        grep -qx "Successfully reprovisioned VM $U" "$F/a.err"
        grep -qx "Successfully reprovisioned VM $U" "$F/b.err"
        consistent
    done
    vmadm reprovision "$U" -f <(echo "{\"image_uuid\": \"$IMG_B\"}") 2>"$F/a.err" &
    a=$!
    echo "{\"set_tags\": {\"during\": \"reprovision\"}, \"update_disks\": [{\"path\": \"$VMADM_ROOT/dev/zvol/rdsk/zones/$U/disk1\", \"size\": 48}]}" |
        vmadm update "$U" 2>"$F/b.err" &
    b=$!
    wait $a; ra=$?
    wait $b; rb=$?
    [ $ra -eq 0 ] && [ $rb -eq 0 ] || { cat "$F/a.err" "$F/b.err"; false; }
    consistent
    run vmadm get "$U"
    [ "$(echo "$output" | jq -r '.disks[0].image_uuid + " " + .tags.during + " " + (.disks[1].size|tostring)')" = "$IMG_B reprovision 48" ]
}

@test "reprovision: a disk0 larger than the VM's quota slack (no flexible_disk_size) can be reprovisioned" {
    # The VM's quota has no room for a second copy of disk0; the
    # reprovision must not need one (SmartOS destroys, then clones).
    install_img "$IMG_A" 64
    install_img "$IMG_B" 64
    cat > "$F/create.json" <<EOT
{"uuid": "$U", "brand": "bhyve", "ram": 256, "vcpus": 1, "autoboot": false,
 "disks": [{"image_uuid": "$IMG_A", "boot": true, "model": "virtio", "size": 3072}]}
EOT
    run vmadm create -f "$F/create.json"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    before=$(vmadm get "$U" | jq -S 'del(.last_modified)')
    reprov "$U" "{\"image_uuid\": \"$IMG_B\"}"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    [ "$(origin_image)" = "$IMG_B" ]
    [ "$(vget volsize "$(disk0)")" = $((3072 * MiB)) ]
    diff <(echo "$before" | jq --arg b "$IMG_B" '.disks[0].image_uuid = $b') <(vmadm get "$U" | jq -S 'del(.last_modified)')
}
