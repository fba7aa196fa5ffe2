#!/usr/bin/env bats
# nictagadm(8): nic tags → host bridges, for real, each test in its own
# network namespace (ip netns) and VMADM_ROOT.

load helpers

setup() {
    vm_setup_root
    vm_no_nictags
    export PATH="$BUILD_DIR/src/nictagadm:$PATH"
    NS="ntag$$-$BATS_TEST_NUMBER"
    ip netns add "$NS"
    # A stand-in physical NIC: one end of a veth pair.
    in_ns ip link add eth7 type veth peer name eth7p
    in_ns ip link add eth8 type veth peer name eth8p
}

teardown() {
    ip netns del "$NS" 2>/dev/null || true
    vm_teardown_root
}

in_ns() { ip netns exec "$NS" "$@"; }
nt() { ip netns exec "$NS" nictagadm "$@"; }
master_of() { in_ns ip -o link show "$1" | grep -o 'master [^ ]*' | cut -d' ' -f2; }
no_link() { ! in_ns ip link show "$1" >/dev/null 2>&1 || return 1; }
is_bridge() { in_ns ip -d -o link show "$1" | grep -q ' bridge '; }

# A VM config using a tag, as vmadm stores it.
fake_vm() {
    local uuid=$1 tag=$2
    mkdir -p "$VMADM_ROOT/etc/vms/$uuid"
    printf '{"uuid": "%s", "brand": "joyent", "nics": [{"nic_tag": "%s", "mac": "02:00:00:00:00:01"}]}\n' \
        "$uuid" "$tag" > "$VMADM_ROOT/etc/vms/$uuid/vm.json"
}

@test "add <tag> <ifname>: a bridge named for the tag with the link as its port" {
    run nt add external eth7
    [ "$status" -eq 0 ]
    is_bridge external
    [ "$(master_of eth7)" = external ]
    in_ns ip -o link show external | grep -q '[<,]UP[,>]'
    run nt list
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "$(printf '%-14s %-18s %-14s %-16s' NAME MACADDRESS LINK TYPE)" ]
    mac=$(in_ns cat /sys/class/net/eth7/address)
    [[ "${lines[1]}" =~ ^external\ +$mac\ +eth7\ +normal ]]
    nt exists external
}

@test "add <tag> <mac>: the link is found by its MAC and followed by it" {
    mac=$(in_ns cat /sys/class/net/eth8/address)
    run nt add admin "$mac"
    [ "$status" -eq 0 ]
    [ "$(master_of eth8)" = admin ]
    run nt list -p -H
    [ "$output" = "admin:${mac//:/\\:}:eth8:normal" ]
    grep -q "\"mac\": \"$mac\"" "$VMADM_ROOT/etc/nictags.json"
}

@test "add -l: a local (etherstub) bridge; list -l / -L / -p / -d / -H" {
    nt add -l stub0
    nt add external eth7
    is_bridge stub0
    run nt list -l -H
    [ "${#lines[@]}" -eq 1 ]
    [[ "${lines[0]}" =~ ^stub0\ +-\ +-\ +etherstub ]]
    run nt list -L -p
    [ "$output" = "external:$(in_ns cat /sys/class/net/eth7/address | sed 's/:/\\:/g'):eth7:normal" ]
    run nt list -p -d ,
    [ "${lines[1]}" = "stub0,-,-,etherstub" ]
    run nt list -d ,
    [ "$status" -eq 1 ]
    [ "$output" = "Error: Delimiter option requires parsable option to be set" ]
    run nt list -l -L
    [ "$output" = "Error: Cannot specify both local and non-local options" ]
    nt exists -l stub0
    run nt exists -l external
    [ "$status" -eq 1 ]
}

@test "add <tag> <bridge>: an existing bridge is used as is, and survives delete" {
    in_ns ip link add br9 type bridge
    nt add admin br9
    run nt list -H
    [[ "$output" =~ ^admin\ +-\ +br9\ +bridge ]]
    no_link admin
    nt delete admin
    is_bridge br9
}

@test "bad input is refused with its cause and changes nothing" {
    run nt add external eth9
    [ "$status" -eq 1 ]
    [ "$output" = 'Error: link "eth9" not found' ]
    run nt add external 02:11:22:33:44:55
    [ "$output" = 'Error: no link with MAC address 02:11:22:33:44:55' ]
    run nt add 'bad-name' eth7
    [ "$output" = 'Error: invalid nic tag name "bad-name"' ]
    run nt add -p mtu=1400 external eth7
    [ "$output" = 'Error: mtu must be between 1500-9000' ]
    run nt add -l stub0 eth7
    [ "$output" = 'Error: create local tag, but mac address specified' ]
    run nt add external
    [ "$output" = 'Error: create non-local tag, but no mac address specified' ]
    run nt add averyveryverylongtag eth7
    [ "$output" = 'Error: nic tag name "averyveryverylongtag" is too long for a bridge (15 characters at most)' ]
    # nothing was created
    no_link external
    [ -z "$(master_of eth7)" ]
    run nt list -H
    [ -z "$output" ]
    nt add external eth7
    run nt add external eth8
    [ "$output" = 'Error: nic tag "external" already exists' ]
    [ -z "$(master_of eth8)" ]
    # a link already in another bridge is not stolen
    in_ns ip link add br9 type bridge
    in_ns ip link set eth8 master br9
    run nt add admin eth8
    [ "$output" = 'Error: link "eth8" is already a port of bridge "br9"' ]
    [ "$(master_of eth8)" = br9 ]
    run nt exists external nosuch
    [ "$status" -eq 1 ]
    [ "$output" = 'Error: nic tag "nosuch" does not exist' ]
    run nt frob
    [ "$status" -eq 2 ]
}

@test "delete: refused while a VM uses the tag (-f forces); removes the bridge it made" {
    nt add external eth7
    fake_vm 11111111-2222-4333-8444-555555555555 external
    run nt vms external
    [ "$output" = 11111111-2222-4333-8444-555555555555 ]
    run nt delete external
    [ "$status" -eq 1 ]
    [[ "$output" == 'Error: nic tag "external" is in use by 1 VM(s): 11111111-2222-4333-8444-555555555555' ]]
    is_bridge external
    nt delete -f external
    no_link external
    [ -z "$(master_of eth7)" ]
    in_ns ip link show eth7 >/dev/null
    run nt exists external
    [ "$status" -eq 1 ]
    run nt delete external
    [ "$output" = 'Error: nic tag "external" does not exist' ]
}

@test "update: -p mtu=N applies to the bridge and uplink now; a new uplink replaces the old" {
    nt add external eth7
    run nt update external -p mtu=9000
    [ "$status" -eq 0 ]
    in_ns ip -o link show external | grep -q 'mtu 9000'
    in_ns ip -o link show eth7 | grep -q 'mtu 9000'
    nt update external eth8
    [ "$(master_of eth8)" = external ]
    [ -z "$(master_of eth7)" ]
    run nt update external
    [ "$output" = 'Error: nothing to update' ]
    run nt update -p mtu=10000 external
    [ "$output" = 'Error: mtu must be between 1500-9000' ]
}

@test "apply (boot): re-creates the bridges of every tag, idempotent" {
    nt add external eth7
    nt add -l stub0
    in_ns ip link del external
    in_ns ip link del stub0
    nt apply
    nt apply
    is_bridge external
    is_bridge stub0
    [ "$(master_of eth7)" = external ]
}

@test "two VMADM_ROOTs on one host share a local tag's bridge; one's delete leaves it to the other" {
    nt add -l stub0
    other=$(mktemp -d /tmp/vmt.XXXXXX)
    VMADM_ROOT=$other nt add -l stub0
    VMADM_ROOT=$other nt delete stub0
    is_bridge stub0
    rm -rf "$other"
    nt delete stub0
    no_link stub0
}
