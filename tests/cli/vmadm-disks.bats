#!/usr/bin/env bats
# Flexible disks (issue "Flexible disks", RFD 154; reference D1-D49) through
# vmadm: create-time disk properties, PCI slots, update_disks / add_disks /
# remove_disks, space accounting (quota/reservation/free_space) and
# `vmadm disks`.  Every refusal is followed by a check that nothing changed.
# Fake zvol images only; a non-bootable QEMU stands in for a running VM.

load helpers

IMG=a1000000-0000-4000-8000-00000000000a     # 64 MiB zvol image
IMG_ZONE=d1000000-0000-4000-8000-00000000000d
U=e1000000-0000-4000-8000-0000000000e1
MiB=1048576
GiB=1073741824

setup() {
    vm_setup_root
    F=$BATS_TEST_TMPDIR
    make_zvol_image "$IMG" 64 "$F"
    imgadm install -m "$F/$IMG.json" -f "$F/$IMG.raw" >/dev/null
}

teardown() {
    vmadm stop -F "$U" >/dev/null 2>&1 || true
    vm_teardown_root
}

dpath() { echo "$VMADM_ROOT/dev/zvol/rdsk/zones/$U/disk$1"; }
vget() { vmstore get -Hp -t filesystem,volume -o value "$1" "$2"; }
BOOT="{\"image_uuid\": \"$IMG\", \"boot\": true, \"model\": \"virtio\"}"

# payload DISKS-JSON [EXTRA-MEMBERS] > file
payload() {
    cat <<EOT
{"uuid": "$U", "brand": "bhyve", "alias": "dk", "ram": 256, "vcpus": 1, "autoboot": false,
 "disks": $1 ${2:+, $2}}
EOT
}

create_ok() { # DISKS [EXTRA]
    payload "$@" > "$F/c.json"
    run vmadm create -f "$F/c.json"
    [ "$status" -eq 0 ] || { echo "create: $output"; return 1; }
}

# create_fails DISKS EXTRA EXPECTED-PREFIX: create fails with a message
# starting with EXPECTED, and leaves no VM and no dataset with the uuid.
create_fails() {
    payload "$1" "$2" > "$F/c.json"
    run vmadm create -f "$F/c.json"
    [ "$status" -eq 1 ] || { echo "create succeeded: $output"; return 1; }
    [[ "$output" == "$3"* ]] || { echo "got:      $output"; echo "expected: $3..."; return 1; }
    local out=$output
    nothing_left || return 1
    output=$out
}

nothing_left() {
    run vmadm list -H -o uuid
    [ -z "$output" ] || { echo "VM left: $output"; return 1; }
    run vmstore list -H -t all -o name
    if echo "$output" | grep -q "$U"; then echo "datasets left: $output"; return 1; fi
    [ ! -e "$VMADM_ROOT/etc/vms/$U" ] || { echo "config left"; return 1; }
}

vm_state() {
    vmadm get "$U" | jq -S 'del(.last_modified, .boot_timestamp, .pid, .exit_status, .exit_timestamp)'
    vmstore list -H -p -t all -o name,volsize,origin,quota,reservation,refreservation,guid
}

update_json() { # JSON: runs vmadm update with it
    echo "$1" > "$F/u.json"
    run vmadm update "$U" -f "$F/u.json"
}

# update_fails JSON EXPECTED: exact message, exit 1, VM unchanged.
update_fails() {
    local before; before=$(vm_state)
    update_json "$1"
    [ "$status" -eq 1 ] || { echo "update succeeded: $output"; return 1; }
    [ "$output" = "$2" ] || { echo "got:      $output"; echo "expected: $2"; return 1; }
    [ "$(vm_state)" = "$before" ] || { echo "VM changed"; diff <(echo "$before") <(vm_state); return 1; }
}

slots() { vmadm get "$U" | jq -c '[.disks[].pci_slot]'; }

# RFD 154: quota = reservation = quota GiB + flexible_disk_size
#                                + sum(refreservation) - sum(volsize)
expected_reservation() {
    local obj q fds sum=0 d rr vs
    obj=$(vmadm get "$U")
    q=$(echo "$obj" | jq '.quota')
    fds=$(echo "$obj" | jq '.flexible_disk_size')
    for d in $(echo "$obj" | jq -r '.disks[] | .zfs_filesystem // empty'); do
        rr=$(vget refreservation "$d"); vs=$(vget volsize "$d")
        sum=$((sum + rr - vs))
    done
    echo $((q * GiB + fds * MiB + sum))
}

check_space() {
    local want obj fds
    want=$(expected_reservation)
    [ "$(vget quota "zones/$U")" = "$want" ] || { echo "quota $(vget quota "zones/$U") != $want"; return 1; }
    [ "$(vget reservation "zones/$U")" = "$want" ] || { echo "reservation $(vget reservation "zones/$U") != $want"; return 1; }
    # free_space = floor(flexible_disk_size - sum(volsize) - sum(snapshot usage)) MiB
    obj=$(vmadm get "$U")
    fds=$(echo "$obj" | jq '.flexible_disk_size')
    local used=0 d
    for d in $(echo "$obj" | jq -r '.disks[] | .zfs_filesystem // empty'); do
        used=$((used + $(vget volsize "$d") + $(vget usedbysnapshots "$d")))
    done
    local fs=$(( (fds * MiB - used) / MiB ))
    [ $((fds * MiB - used)) -lt 0 ] && fs=$(( -(( used - fds * MiB + MiB - 1) / MiB) ))
    [ "$(echo "$obj" | jq .free_space)" = "$fs" ] || { echo "free_space $(echo "$obj" | jq .free_space) != $fs"; return 1; }
}

# ---------------------------------------------------------------- create

@test "create: size on an image disk grows it; smaller is refused and leaves nothing (D5, D42, D43)" {
    create_ok "[{\"image_uuid\": \"$IMG\", \"boot\": true, \"model\": \"virtio\", \"size\": 128}]"
    run vmadm get "$U"
    [ "$(echo "$output" | jq -c '.disks[0] | [.size, .image_uuid, .boot]')" = "[128,\"$IMG\",true]" ]
    [ "$(vget volsize "zones/$U/disk0")" = $((128 * MiB)) ]
    [ "$(vget origin "zones/$U/disk0")" = "zones/$IMG@final" ]
    vmadm delete "$U" 2>/dev/null
    create_fails "[{\"image_uuid\": \"$IMG\", \"boot\": true, \"model\": \"virtio\", \"size\": 32}]" "" \
        "Invalid value(s) for: size"
    [ "$output" = "Invalid value(s) for: size" ]
}

@test "create: blank disks need a size; block_size, compression, refreservation (D7, D8)" {
    create_fails "[$BOOT, {\"model\": \"virtio\"}]" "" "Missing required properties: disks.1.size"
    create_fails "[$BOOT, {\"size\": 16, \"model\": \"virtio\", \"block_size\": 1000}]" "" \
        "invalid .block_size(1000), must be 512-131072 and a power of 2."
    create_fails "[$BOOT, {\"size\": 16, \"model\": \"virtio\", \"block_size\": 262144}]" "" \
        "invalid .block_size(262144), must be 512-131072 and a power of 2."
    create_fails "[{\"image_uuid\": \"$IMG\", \"boot\": true, \"model\": \"virtio\", \"block_size\": 4096}]" "" \
        "setting both .block_size and .image_uuid on a volume is invalid"
    create_fails "[$BOOT, {\"size\": 16, \"model\": \"virtio\", \"compression\": \"zstd-fast\"}]" "" \
        "invalid compression setting for disk, must be one of: on, off, gzip, gzip-1, gzip-2, gzip-3, gzip-4, gzip-5, gzip-6, gzip-7, gzip-8, gzip-9, lz4, lzjb, zle"

    create_ok "[$BOOT, {\"size\": 16, \"model\": \"virtio\", \"block_size\": 4096, \"compression\": \"lz4\", \"refreservation\": 8},
                {\"size\": 24, \"model\": \"virtio\"}]" '"flexible_disk_size": 512'
    run vmadm get "$U"
    [ "$(echo "$output" | jq -c '.disks[1] | [.size, .block_size, .compression, .refreservation]')" = '[16,4096,"lz4",8]' ]
    [ "$(vget volblocksize "zones/$U/disk1")" = 4096 ]
    [ "$(vget compression "zones/$U/disk1")" = lz4 ]
    [ "$(vget refreservation "zones/$U/disk1")" = $((8 * MiB)) ]
    # default refreservation: the whole volume (auto)
    [ "$(vget refreservation "zones/$U/disk2")" -ge $((24 * MiB)) ]
    [ "$(echo "$output" | jq '.disks[2].size')" = 24 ]
    check_space
}

@test "create: model from disk_driver or disk0, media cdrom, nocreate path rules (D3, D8, D21, D32)" {
    create_fails "[{\"image_uuid\": \"$IMG\", \"boot\": true}]" "" "missing .model option for disk: "
    create_fails "[$BOOT, {\"size\": 16, \"model\": \"scsi\"}]" "" \
        '"scsi" is not a valid disk model for bhyve brand. Valid are: virtio,ahci,nvme'
    create_fails "[$BOOT, {\"size\": 16, \"path\": \"/tmp/x\"}]" "" \
        "you cannot specify a path for a disk unless you set nocreate=true"

    : > "$F/iso"
    : > "$F/raw"
    # Host paths outside the VM's datasets need the operator's allow-list.
    create_fails "[$BOOT, {\"path\": \"$F/iso\", \"media\": \"cdrom\", \"model\": \"ahci\"}]" "" \
        "disk path $F/iso is outside the VM's own dataset and the directories allowed in $VMADM_ROOT/etc/hvm-paths.allow"
    allow_host_dir "$F"
    create_ok "[{\"image_uuid\": \"$IMG\", \"boot\": true}, {\"size\": 16}, {\"size\": 16, \"model\": \"ahci\"},
                {\"path\": \"$F/iso\", \"media\": \"cdrom\", \"model\": \"ahci\"},
                {\"path\": \"$F/raw\", \"nocreate\": true}]" '"disk_driver": "nvme"'
    run vmadm get "$U"
    [ "$(echo "$output" | jq -c '[.disks[].model]')" = '["nvme","nvme","ahci","ahci","nvme"]' ]
    [ "$(echo "$output" | jq -c '[.disks[].media]')" = '["disk","disk","disk","cdrom","disk"]' ]
    [ "$(echo "$output" | jq -r '.disks[3].path')" = "$F/iso" ]
    [ "$(echo "$output" | jq -r '.disks[4].path')" = "$F/raw" ]
    [ "$(echo "$output" | jq -r '.disks[3].image_uuid')" = null ]
    [ "$(slots)" = '["0:4:0","0:4:1","0:4:2","0:3:0","0:4:3"]' ]
    # cdrom and nocreate disks have no volume.
    run vmstore list -H -o name -r "zones/$U"
    [ "$(echo "$output" | grep -c /disk)" -eq 3 ]
    vmadm delete "$U" 2>/dev/null
    # no disk_driver: the others inherit disk0's model
    create_ok "[{\"image_uuid\": \"$IMG\", \"boot\": true, \"model\": \"ahci\"}, {\"size\": 16}]"
    [ "$(vmadm get "$U" | jq -c '[.disks[].model]')" = '["ahci","ahci"]' ]
}

@test "create: disk uuids generated and unique; duplicates and bad uuids refused (D30)" {
    local du=77777777-0000-4000-8000-000000000077
    create_fails "[$BOOT, {\"size\": 16, \"model\": \"virtio\", \"uuid\": \"$du\"},
                   {\"size\": 16, \"model\": \"virtio\", \"uuid\": \"$du\"}]" "" "duplicate disk uuid $du"
    [ "$output" = "duplicate disk uuid $du" ]
    create_fails "[$BOOT, {\"size\": 16, \"model\": \"virtio\", \"uuid\": \"not-a-uuid\"}]" "" "Invalid value(s) for: disks"
    create_ok "[$BOOT, {\"size\": 16, \"model\": \"virtio\", \"uuid\": \"$du\"}, {\"size\": 16, \"model\": \"virtio\"}]" \
        '"flexible_disk_size": 512'
    run vmadm get "$U"
    [ "$(echo "$output" | jq -r '.disks[1].uuid')" = "$du" ]
    [ "$(echo "$output" | jq -r '[.disks[].uuid] | unique | length')" = 3 ]
    echo "$output" | jq -r '.disks[].uuid' | grep -Eqx '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'
    update_fails "{\"add_disks\": [{\"size\": 8, \"uuid\": \"$du\"}]}" "duplicate disk uuid $du"
}

@test "create: two boot disks refused; nothing left (D24, D39)" {
    create_fails "[$BOOT, {\"size\": 16, \"model\": \"virtio\", \"boot\": true}]" "" "multiple boot disks"
}

@test "create: impossible flexible_disk_size (10 EiB) fails clearly and leaves nothing (D2)" {
    create_fails "[$BOOT, {\"size\": 16, \"model\": \"virtio\"}]" '"flexible_disk_size": 10995116277760' ""
    [ -n "$output" ]
    [[ "$output" == *space* ]] || { echo "unclear: $output"; false; }
}

@test "create: a failure midway removes every volume it made (D9)" {
    # The second image's @final snapshot is gone: disk0 is made, disk1's
    # clone fails.
    local img2=a2000000-0000-4000-8000-00000000000b
    make_zvol_image "$img2" 64 "$F"
    imgadm install -m "$F/$img2.json" -f "$F/$img2.raw" >/dev/null
    vmstore destroy -r "zones/$img2"
    create_fails "[{\"size\": 16, \"model\": \"virtio\", \"boot\": true}, {\"size\": 20, \"model\": \"virtio\"},
                   {\"image_uuid\": \"$img2\", \"model\": \"virtio\"}]" '"flexible_disk_size": 512' ""
    [ -n "$output" ]
    run vmstore list -H -t all -o name
    [ "$output" = "$(printf 'zones\nzones/%s\nzones/%s@final' "$IMG" "$IMG")" ] || { echo "$output"; false; }
}

# ---------------------------------------------------------------- PCI slots

@test "pci_slot: defaults persisted at create, before any boot; cdrom on device 3 (D29, D31, D32)" {
    : > "$F/iso"
    allow_host_dir "$F"
    create_ok "[$BOOT, {\"size\": 16, \"model\": \"virtio\"},
                {\"path\": \"$F/iso\", \"media\": \"cdrom\", \"model\": \"ahci\"}]"
    [ "$(slots)" = '["0:4:0","0:4:1","0:3:0"]' ]
    grep -q '"0:4:1"' "$VMADM_ROOT/etc/vms/$U/vm.json"
    [ ! -e "$VMADM_ROOT/run/vms/$U/pid" ]
}

@test "pci_slot: syntax b:d:f, d:f, d stored verbatim; invalid ones refused (D23, D35)" {
    create_ok "[$BOOT, {\"size\": 16, \"model\": \"virtio\", \"pci_slot\": \"4:1\"},
                {\"size\": 16, \"model\": \"virtio\", \"pci_slot\": \"5\"},
                {\"size\": 16, \"model\": \"virtio\", \"pci_slot\": \"1:2:3\"}]" '"flexible_disk_size": 512'
    [ "$(slots)" = '["0:4:0","4:1","5","1:2:3"]' ]
    vmadm delete "$U" 2>/dev/null
    for bad in foo 0:4:8 0:32:0 256:0:0 4:0:0:0 -1:0:0 "" 4: :4 0:4:x; do
        create_fails "[$BOOT, {\"size\": 16, \"model\": \"virtio\", \"pci_slot\": \"$bad\"}]" "" \
            "pci_slot \"$bad\" is not valid"
        [ "$output" = "pci_slot \"$bad\" is not valid" ]
    done
}

@test "pci_slot: reserved devices 0, 6, 30, 31 refused (D25, D41)" {
    for s in 0:0:0 0:0:1 0:6:0 0:6:1 0:30:0 0:30:1 0:31:0 0:31:1 6 30:2; do
        local dev; dev=$(echo "$s" | awk -F: '{ print (NF == 3 ? $2 : $1) }')
        create_fails "[{\"image_uuid\": \"$IMG\", \"boot\": true, \"model\": \"virtio\", \"pci_slot\": \"$s\"}]" "" \
            "pci_slot \"$s\" invalid: PCI device $dev is reserved"
        [ "$output" = "pci_slot \"$s\" invalid: PCI device $dev is reserved" ]
    done
    # other buses are not tracked
    create_ok "[{\"image_uuid\": \"$IMG\", \"boot\": true, \"model\": \"virtio\", \"pci_slot\": \"1:6:0\"}]"
}

@test "pci_slot: duplicates refused at create and add_disks (D26, D38, D40)" {
    create_fails "[{\"image_uuid\": \"$IMG\", \"boot\": true, \"model\": \"virtio\", \"pci_slot\": \"0:4:0\"},
                   {\"size\": 16, \"model\": \"virtio\", \"pci_slot\": \"0:4:0\"}]" "" \
        'VM has multiple disks in pci_slot "0:4:0"'
    create_ok "[{\"image_uuid\": \"$IMG\", \"boot\": true, \"model\": \"virtio\", \"pci_slot\": \"0:4:0\"}]" \
        '"flexible_disk_size": 512'
    local before; before=$(vm_state)
    update_json '{"add_disks": [{"size": 16, "model": "virtio", "pci_slot": "0:4:0"}]}'
    [ "$status" -eq 1 ]
    [[ "$output" == 'VM has multiple disks in pci_slot "0:4:0"'* ]] || { echo "$output"; false; }
    [ "$(vm_state)" = "$before" ]
    # "4" and "0:4:0" are the same slot
    update_json '{"add_disks": [{"size": 16, "model": "virtio", "pci_slot": "4"}]}'
    [ "$status" -eq 1 ]
    [[ "$output" == 'VM has multiple disks in pci_slot "4"'* ]] || { echo "$output"; false; }
    [ "$(vm_state)" = "$before" ]
}

@test "pci_slot: 8 disks on device 4, the 9th refused; sticky explicit slots; holes filled (D27, D33, D34, D36)" {
    local d7="" d8="" i
    for i in 1 2 3 4 5 6 7; do d7="$d7, {\"size\": 8, \"model\": \"virtio\"}"; done
    create_fails "[$BOOT $d7, {\"size\": 8, \"model\": \"virtio\"}]" '"flexible_disk_size": 1024' \
        "VM has more than 8 disk devices on PCI device 4"
    create_ok "[$BOOT $d7]" '"flexible_disk_size": 1024'
    [ "$(slots)" = '["0:4:0","0:4:1","0:4:2","0:4:3","0:4:4","0:4:5","0:4:6","0:4:7"]' ]
    update_fails '{"add_disks": [{"size": 8}]}' "VM has more than 8 disk devices on PCI device 4"
    vmadm delete "$U" 2>/dev/null

    create_ok "[{\"size\": 8, \"model\": \"virtio\", \"pci_slot\": \"0:4:5\"}, {\"size\": 8, \"model\": \"virtio\"},
                {\"size\": 8, \"model\": \"virtio\", \"pci_slot\": \"0:4:7\"}, $BOOT, {\"size\": 8, \"model\": \"virtio\"}]" \
        '"flexible_disk_size": 1024'
    run vmadm get "$U"
    # the boot disk gets 0:4:0 first, then the others the lowest free functions
    [ "$(echo "$output" | jq -c '[.disks[] | [.boot, .pci_slot]]')" = \
      '[[false,"0:4:5"],[false,"0:4:1"],[false,"0:4:7"],[true,"0:4:0"],[false,"0:4:2"]]' ] || { echo "$output" | jq -c '[.disks[] | [.boot, .pci_slot]]'; false; }
    vmadm delete "$U" 2>/dev/null

    # D36: disk1 at 0:4:2, then add_disks -> disk2 at 0:4:1
    create_ok "[$BOOT, {\"size\": 16, \"model\": \"virtio\", \"pci_slot\": \"0:4:2\"}]" '"flexible_disk_size": 512'
    update_json '{"add_disks": [{"size": 16}]}'
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    run vmadm get "$U"
    [ "$(echo "$output" | jq -c '[.disks[] | [(.path | sub(".*/"; "")), .pci_slot]]')" = \
      '[["disk0","0:4:0"],["disk1","0:4:2"],["disk2","0:4:1"]]' ]
}

# ---------------------------------------------------------------- update_disks

@test "update_disks: equal size no-op, grow, shrink refused, dangerous_allow_shrink (D13, D14, D44-D47)" {
    create_ok "[$BOOT, {\"size\": 100, \"model\": \"virtio\"}]" '"flexible_disk_size": 512'
    check_space
    local before; before=$(vm_state)
    update_json "{\"update_disks\": [{\"path\": \"$(dpath 1)\", \"size\": 100}]}"
    [ "$status" -eq 0 ]
    [ "$(vm_state)" = "$before" ]

    update_json "{\"update_disks\": [{\"path\": \"$(dpath 1)\", \"size\": 150}]}"
    [ "$status" -eq 0 ]
    [ "$(vget volsize "zones/$U/disk1")" = $((150 * MiB)) ]
    [ "$(vmadm get "$U" | jq '[.disks[].size]' -c)" = '[64,150]' ]
    check_space

    update_json "{\"update_disks\": [{\"path\": \"$(dpath 0)\", \"size\": 96}]}"
    [ "$status" -eq 0 ]
    [ "$(vmadm get "$U" | jq '.disks[0].size')" = 96 ]
    [ "$(vmadm get "$U" | jq -r '.disks[0].image_uuid')" = "$IMG" ]
    check_space

    update_fails "{\"update_disks\": [{\"path\": \"$(dpath 1)\", \"size\": 120}]}" \
        "first of 1 error: cannot resize disk: new size must be greater than current size. (150 > 120)"

    update_json "{\"update_disks\": [{\"path\": \"$(dpath 1)\", \"size\": 120, \"dangerous_allow_shrink\": true}]}"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    [ "$(vget volsize "zones/$U/disk1")" = $((120 * MiB)) ]
    run vmadm get "$U"
    [ "$(echo "$output" | jq '.disks[1].size')" = 120 ]
    ! echo "$output" | grep -q dangerous_allow_shrink
    ! grep -q dangerous_allow_shrink "$VMADM_ROOT/etc/vms/$U/vm.json"
    check_space
}

@test "update_disks: growth must fit flexible_disk_size; without it any grow fails, naming the space (D15, D48)" {
    create_ok "[$BOOT, {\"size\": 100, \"model\": \"virtio\"}]"
    local before; before=$(vm_state)
    update_json "{\"update_disks\": [{\"path\": \"$(dpath 1)\", \"size\": 101}]}"
    [ "$status" -eq 1 ]
    [[ "$output" == *available* ]] || { echo "unclear: $output"; false; }
    [ "$(vm_state)" = "$before" ]
    vmadm delete "$U" 2>/dev/null

    create_ok "[$BOOT, {\"size\": 100, \"model\": \"virtio\"}]" '"flexible_disk_size": 200'
    before=$(vm_state)
    update_json "{\"update_disks\": [{\"path\": \"$(dpath 1)\", \"size\": 137}]}"
    [ "$status" -eq 1 ]
    [[ "$output" == *"36 MiB"*available* ]] || { echo "should name the 36 MiB available: $output"; false; }
    [ "$(vm_state)" = "$before" ]
    update_json "{\"update_disks\": [{\"path\": \"$(dpath 1)\", \"size\": 136}]}"
    [ "$status" -eq 0 ]
    [ "$(vmadm get "$U" | jq .free_space)" = 0 ]
    check_space
}

@test "update_disks: a multi-disk update applies entirely or not at all" {
    create_ok "[$BOOT, {\"size\": 50, \"model\": \"virtio\"}, {\"size\": 50, \"model\": \"virtio\"}]" \
        '"flexible_disk_size": 300'
    local before; before=$(vm_state)
    # disk1 +50 fits; disk2 +200 does not: nothing changes.
    update_json "{\"update_disks\": [{\"path\": \"$(dpath 1)\", \"size\": 100}, {\"path\": \"$(dpath 2)\", \"size\": 250}]}"
    [ "$status" -eq 1 ]
    [ "$(vm_state)" = "$before" ]
    # grow + a bad compression: nothing changes either.
    update_json "{\"update_disks\": [{\"path\": \"$(dpath 1)\", \"size\": 100}, {\"path\": \"$(dpath 2)\", \"compression\": \"bogus\"}]}"
    [ "$status" -eq 1 ]
    [ "$(vm_state)" = "$before" ]
    update_json "{\"update_disks\": [{\"path\": \"$(dpath 1)\", \"size\": 100}, {\"path\": \"$(dpath 2)\", \"size\": 120}]}"
    [ "$status" -eq 0 ]
    [ "$(vmadm get "$U" | jq -c '[.disks[].size]')" = '[64,100,120]' ]
    check_space
}

@test "update_disks: a path matching no disk fails cleanly" {
    create_ok "[$BOOT, {\"size\": 50, \"model\": \"virtio\"}]" '"flexible_disk_size": 300'
    local before; before=$(vm_state)
    update_json "{\"update_disks\": [{\"path\": \"$(dpath 7)\", \"size\": 60}]}"
    [ "$status" -eq 1 ]
    [[ "$output" == *"$(dpath 7)"* ]] || { echo "$output"; false; }
    [ "$(vm_state)" = "$before" ]
    update_json "{\"update_disks\": [{\"path\": \"$(dpath 1)\", \"size\": 60}, {\"path\": \"$(dpath 7)\", \"size\": 60}]}"
    [ "$status" -eq 1 ]
    [ "$(vm_state)" = "$before" ]
    update_json "{\"remove_disks\": [\"$(dpath 7)\"]}"
    [ "$status" -eq 1 ]
    [ "$(vm_state)" = "$before" ]
}

@test "update_disks/add/remove on a running VM: only size/compression/refreservation allowed (D16, D19)" {
    create_ok "[$BOOT, {\"size\": 50, \"model\": \"virtio\"}]" '"flexible_disk_size": 300'
    run vmadm start "$U"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    update_fails "{\"update_disks\": [{\"path\": \"$(dpath 1)\", \"model\": \"ahci\"}]}" \
        'at least one specified update to disks is only allowed when state is "stopped", currently: running (running)'
    update_fails "{\"update_disks\": [{\"path\": \"$(dpath 1)\", \"boot\": true}]}" \
        'at least one specified update to disks is only allowed when state is "stopped", currently: running (running)'
    update_fails "{\"update_disks\": [{\"path\": \"$(dpath 1)\", \"pci_slot\": \"0:5:0\"}]}" \
        'at least one specified update to disks is only allowed when state is "stopped", currently: running (running)'
    update_fails '{"add_disks": [{"size": 10}]}' \
        'updates to disks are only allowed when state is "stopped", currently: running (running)'
    update_fails "{\"remove_disks\": [\"$(dpath 1)\"]}" \
        'updates to disks are only allowed when state is "stopped", currently: running (running)'
    # compression is allowed live
    update_json "{\"update_disks\": [{\"path\": \"$(dpath 1)\", \"compression\": \"gzip\"}]}"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    [ "$(vget compression "zones/$U/disk1")" = gzip ]
    # an online grow of the (fake) guest's disk: QEMU and the volume follow
    update_json "{\"update_disks\": [{\"path\": \"$(dpath 1)\", \"size\": 70}]}"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    [ "$(vget volsize "zones/$U/disk1")" = $((70 * MiB)) ]
    [ "$(vmadm get "$U" | jq '.disks[1].size')" = 70 ]
    check_space
    vmadm stop -F "$U" 2>/dev/null
    update_json '{"add_disks": [{"size": 10}]}'
    [ "$status" -eq 0 ]
}

# ---------------------------------------------------------------- add / remove

@test "remove_disks + add_disks: removal first, index and slot reused, volumes and snapshots destroyed (D19-D21)" {
    create_ok "[$BOOT, {\"size\": 40, \"model\": \"virtio\"}, {\"size\": 40, \"model\": \"ahci\"}]" '"flexible_disk_size": 400'
    vmstore snapshot "zones/$U/disk1@s1"
    local g1; g1=$(vget guid "zones/$U/disk1")
    update_json "{\"remove_disks\": [\"$(dpath 1)\"], \"add_disks\": [{\"size\": 30}]}"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    run vmadm get "$U"
    echo "$output" | jq -c "[.disks[] | [(.path | sub(\".*/\"; \"\")), .pci_slot, .size, .model]]"
    [ "$(echo "$output" | jq -c '[.disks[] | [(.path | sub(".*/"; "")), .pci_slot, .size, .model]]')" = \
      '[["disk0","0:4:0",64,"virtio"],["disk1","0:4:1",30,"virtio"],["disk2","0:4:2",40,"ahci"]]' ]
    [ "$(vget guid "zones/$U/disk1")" != "$g1" ]
    run vmstore list -H -t snapshot -o name -r "zones/$U"
    [ -z "$output" ] || { echo "left: $output"; false; }
    check_space

    update_json "{\"remove_disks\": [\"$(dpath 2)\"]}"
    [ "$status" -eq 0 ]
    run vmstore list -H -o name "zones/$U/disk2"
    [ "$status" -ne 0 ]
    [ "$(vmadm get "$U" | jq '.disks | length')" = 2 ]
    check_space
}

@test "remove_disks: the boot disk only with dangerous_allow_remove_boot (D20)" {
    create_ok "[$BOOT, {\"size\": 40, \"model\": \"virtio\"}]" '"flexible_disk_size": 400'
    local before; before=$(vm_state)
    update_json "{\"remove_disks\": [\"$(dpath 0)\"]}"
    [ "$status" -eq 1 ]
    [[ "$output" == *dangerous_allow_remove_boot* ]] || { echo "$output"; false; }
    [ "$(vm_state)" = "$before" ]
    update_json "{\"remove_disks\": [\"$(dpath 0)\"], \"dangerous_allow_remove_boot\": true}"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    run vmadm get "$U"
    [ "$(echo "$output" | jq -c '[.disks[].path | sub(".*/"; "")]')" = '["disk1"]' ]
    ! echo "$output" | grep -q dangerous_allow_remove_boot
    run vmstore list -H -o name "zones/$U/disk0"
    [ "$status" -ne 0 ]
    check_space
}

@test "add_disks: works up to flexible_disk_size, one MiB more is refused (D22, D49)" {
    create_ok "[$BOOT]" '"flexible_disk_size": 200'
    [ "$(vmadm get "$U" | jq .free_space)" = 136 ]
    local before; before=$(vm_state)
    update_json '{"add_disks": [{"size": 137}]}'
    [ "$status" -eq 1 ]
    [[ "$output" == *available* ]] || { echo "$output"; false; }
    [ "$(vm_state)" = "$before" ]
    update_json '{"add_disks": [{"size": 100}, {"size": 37}]}'
    [ "$status" -eq 1 ]
    [ "$(vm_state)" = "$before" ]
    update_json '{"add_disks": [{"size": 136}]}'
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    [ "$(vmadm get "$U" | jq -c '[.disks[].size, .free_space]')" = '[64,136,0]' ]
    check_space
}

# ---------------------------------------------------------------- space

@test "space: flexible_disk_size is bhyve only; silently absent for other brands (D11)" {
    mkdir -p "$F/root/etc"; echo z > "$F/root/etc/hostname"
    tar -C "$F/root" -czf "$F/z.tgz" .
    cat > "$F/z.json" <<EOT
{"v": 2, "uuid": "$IMG_ZONE", "name": "zone", "version": "1.0.0", "type": "zone-dataset",
 "os": "smartos", "state": "active", "disabled": false, "public": false,
 "files": [{"sha1": "$(sha1sum "$F/z.tgz" | cut -d' ' -f1)", "size": $(stat -c %s "$F/z.tgz"), "compression": "gzip"}],
 "requirements": {}}
EOT
    imgadm install -m "$F/z.json" -f "$F/z.tgz" >/dev/null
    echo "{\"uuid\": \"$U\", \"brand\": \"joyent-minimal\", \"image_uuid\": \"$IMG_ZONE\", \"autoboot\": false,
           \"quota\": 5, \"flexible_disk_size\": 10240}" > "$F/c.json"
    run vmadm create -f "$F/c.json"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    run vmadm get "$U"
    [ "$(echo "$output" | jq -c '[.flexible_disk_size, .free_space, .quota]')" = '[null,null,5]' ]
    [ "$(vget quota "zones/$U")" = $((5 * GiB)) ]
    run vmadm update "$U" flexible_disk_size=2048
    [ "$status" -eq 0 ]
    [ "$(vmadm get "$U" | jq .flexible_disk_size)" = null ]
}

@test "space: quota/reservation recomputed on create, resize, add, remove, flexible_disk_size change; free_space counts snapshots" {
    create_ok "[$BOOT, {\"size\": 64, \"model\": \"virtio\"}]" '"flexible_disk_size": 512, "quota": 2'
    check_space
    [ "$(vmadm get "$U" | jq .free_space)" = $((512 - 128)) ]
    run vmadm update "$U" flexible_disk_size=1024
    [ "$status" -eq 0 ]
    [ "$(vmadm get "$U" | jq -c '[.flexible_disk_size, .free_space]')" = '[1024,896]' ]
    check_space
    update_json "{\"update_disks\": [{\"path\": \"$(dpath 1)\", \"size\": 96}]}"
    check_space
    update_json '{"add_disks": [{"size": 32, "refreservation": 0}]}'
    [ "$status" -eq 0 ]
    check_space
    # snapshot usage counts against free_space: write 4 MiB, snapshot, write again
    local file
    file=$(jq -r --arg d "zones/$U/disk1" '.datasets[$d].file' "$VMADM_ROOT/var/vmstore/zones/pool.json")
    qemu-io -f qcow2 -c 'write -P 0x5a 0 4M' "$VMADM_ROOT/var/vmstore/zones/data/$file" >/dev/null
    vmstore snapshot "zones/$U/disk1@s1"
    file=$(jq -r --arg d "zones/$U/disk1" '.datasets[$d].file' "$VMADM_ROOT/var/vmstore/zones/pool.json")
    qemu-io -f qcow2 -c 'write -P 0x33 0 4M' "$VMADM_ROOT/var/vmstore/zones/data/$file" >/dev/null
    [ "$(vget usedbysnapshots "zones/$U/disk1")" -ge $((4 * MiB)) ]
    check_space
    [ "$(vmadm get "$U" | jq .free_space)" -lt $((1024 - 64 - 96 - 32)) ]
    update_json "{\"remove_disks\": [\"$(dpath 2)\"]}"
    [ "$status" -eq 0 ]
    check_space
    run vmadm update "$U" flexible_disk_size=300
    [ "$status" -eq 0 ]
    check_space
}

@test "space: flexible_disk_size cannot drop below what the disks use" {
    create_ok "[$BOOT, {\"size\": 100, \"model\": \"virtio\"}]" '"flexible_disk_size": 512'
    local before; before=$(vm_state)
    run vmadm update "$U" flexible_disk_size=100
    [ "$status" -eq 1 ]
    [ "$(vm_state)" = "$before" ]
}

@test "space: kill -9 during a multi-disk update leaves all or nothing" {
    create_ok "[$BOOT, {\"size\": 20, \"model\": \"virtio\"}, {\"size\": 20, \"model\": \"virtio\"}]" '"flexible_disk_size": 4096'
    local n=20 i d1 d2 t0 dur
    t0=$(date +%s%3N)
    update_json "{\"update_disks\": [{\"path\": \"$(dpath 1)\", \"size\": 21}, {\"path\": \"$(dpath 2)\", \"size\": 21}]}"
    dur=$(( $(date +%s%3N) - t0 )); [ $dur -gt 300 ] && dur=300; [ $dur -lt 5 ] && dur=5
    n=21
    for i in $(seq 20); do
        n=$((n + 5))
        echo "{\"update_disks\": [{\"path\": \"$(dpath 1)\", \"size\": $n}, {\"path\": \"$(dpath 2)\", \"size\": $n}], \"set_tags\": {\"n\": $n}}" > "$F/u.json"
        vmadm update "$U" -f "$F/u.json" 2>/dev/null &
        p=$!
        sleep "$(printf '0.%03d' $(( RANDOM % (dur * 12 / 10 + 1) )))"
        kill -9 $p 2>/dev/null || true
        wait $p 2>/dev/null || true
        run vmadm get "$U"
        [ "$status" -eq 0 ]
        d1=$(echo "$output" | jq '.disks[1].size'); d2=$(echo "$output" | jq '.disks[2].size')
        tag=$(echo "$output" | jq '.tags.n // 21')
        [ "$d1" = "$d2" ] && [ "$d1" = "$tag" ] || { echo "iteration $i: disk1 $d1, disk2 $d2, tag $tag"; false; }
        [ "$(vget volsize "zones/$U/disk1")" = $((d1 * MiB)) ] && [ "$(vget volsize "zones/$U/disk2")" = $((d2 * MiB)) ] \
            || { echo "iteration $i: volsizes $(vget volsize "zones/$U/disk1") $(vget volsize "zones/$U/disk2") vs $d1"; false; }
        check_space || { echo "iteration $i"; false; }
        n=$d1
    done
}

# ---------------------------------------------------------------- vmadm disks

@test "vmadm disks: GetMachineDisks-like JSON and -H/-o table" {
    : > "$F/iso"
    allow_host_dir "$F"
    create_ok "[{\"image_uuid\": \"$IMG\", \"boot\": true, \"model\": \"virtio\", \"size\": 100}, {\"size\": 50, \"model\": \"virtio\"},
                {\"path\": \"$F/iso\", \"media\": \"cdrom\", \"model\": \"ahci\"}]" '"flexible_disk_size": 400'
    local file
    file=$(jq -r --arg d "zones/$U/disk1" '.datasets[$d].file' "$VMADM_ROOT/var/vmstore/zones/pool.json")
    qemu-io -f qcow2 -c 'write 0 2M' "$VMADM_ROOT/var/vmstore/zones/data/$file" >/dev/null
    vmstore snapshot "zones/$U/disk1@s1"
    run vmadm disks "$U"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    local j=$output snapmib
    snapmib=$(( $(vget usedbysnapshots "zones/$U/disk1") / MiB ))
    [ "$(echo "$j" | jq -c '[.disks[] | [.slot, .boot, .image, .size]]')" = \
      "[[\"disk0\",true,\"$IMG\",100],[\"disk1\",false,null,50],[\"disk2\",false,null,null]]" ] || \
      [ "$(echo "$j" | jq -c '[.disks[0:2][] | [.slot, .boot, .image, .size]]')" = \
      "[[\"disk0\",true,\"$IMG\",100],[\"disk1\",false,null,50]]" ]
    [ "$(echo "$j" | jq '.disks[0].snapshot_size')" = 0 ]
    local ss; ss=$(echo "$j" | jq '.disks[1].snapshot_size')
    [ "$ss" = "$snapmib" ] || [ "$ss" = $((snapmib + 1)) ] || { echo "snapshot_size $ss, usedbysnapshots $snapmib MiB"; false; }
    [ "$(echo "$j" | jq '.total_space')" = 400 ]
    [ "$(echo "$j" | jq '.free_space')" = "$(vmadm get "$U" | jq .free_space)" ]
    echo "free $(echo "$j" | jq .free_space) snap $(vget usedbysnapshots "zones/$U/disk1")"
    [ "$(echo "$j" | jq '.free_space')" = $(( (400 * MiB - 150 * MiB - $(vget usedbysnapshots "zones/$U/disk1")) / MiB )) ]

    run vmadm disks -H -o slot,size "$U"
    [ "$status" -eq 0 ]
    [ "$(echo "$output" | head -2 | awk '{ print $1 ":" $2 }' | tr '\n' ' ')" = "disk0:100 disk1:50 " ]
    [[ "$output" != *SLOT* ]]
    run vmadm disks -o slot,boot "$U"
    [ "$(echo "$output" | head -1 | awk '{ print $1, $2 }')" = "SLOT BOOT" ]
    run vmadm disks -o slot,bogus "$U"
    [ "$status" -ne 0 ]
    run vmadm disks e9999999-0000-4000-8000-000000000000
    [ "$status" -eq 1 ]
}
