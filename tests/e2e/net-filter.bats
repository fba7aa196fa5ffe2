#!/usr/bin/env bats
# lib/net's protection for real, without VMs: a "host" netns holds the nic
# tag's bridge and the nftables table; a veth whose peer is in a "guest"
# netns stands for a VM NIC; a receiver netns on the same bridge counts what
# leaks.  Frames come from tests/e2e/netpkt.py (AF_PACKET).  Every spoofed
# frame must leak 0 times (to the receiver: forward path; to the bridge
# itself: input path) until its allow_* is set and the filter re-applied.

load ../cli/helpers

PKT="$BATS_TEST_DIRNAME/netpkt.py"
UUID=6d5e3b1a-9c8f-4e2d-8b7a-0f1e2d3c4b5a
MAC=02:00:00:00:00:01

setup() {
    vm_setup_root
    vm_no_nictags
    export PATH="$BUILD_DIR/src/nictagadm:$BUILD_DIR/tests/unit/net:$PATH"
    H="nfh$$-$BATS_TEST_NUMBER" G="nfg$$-$BATS_TEST_NUMBER" R="nfr$$-$BATS_TEST_NUMBER"
    for n in $H $G $R; do ip netns add "$n"; ip netns exec "$n" ip link set lo up; done
    inH nictagadm add -l stub0
    inH ip addr add 10.50.0.1/24 dev stub0
    # the receiver: a plain port of the bridge
    inH ip link add rcv type veth peer name rcvp
    inH ip link set rcv master stub0 up
    inH ip link set rcvp netns "$R"
    ip netns exec "$R" ip link set rcvp name eth0
    ip netns exec "$R" ip addr add 10.50.0.3/24 dev eth0
    ip netns exec "$R" ip link set eth0 up
    write_vm '"ips": ["10.50.0.2/24"]'
}

teardown() {
    [ -n "${DNSMASQ_PID:-}" ] && kill "$DNSMASQ_PID" 2>/dev/null || true
    for n in $H $G $R; do ip netns del "$n" 2>/dev/null || true; done
    vm_teardown_root
}

inH() { ip netns exec "$H" "$@"; }

# write_vm NIC_JSON_FIELDS: the VM object with one NIC on stub0.
write_vm() {
    printf '{"uuid": "%s", "brand": "joyent", "nics": [{"interface": "net0", "mac": "%s", "nic_tag": "stub0", %s}]}\n' \
        "$UUID" "$MAC" "$1" > "$VMADM_ROOT/vm.json"
}

# The VM NIC: protection first, then the port, its peer as net0 in G.
start_nic() {
    inH nettool prepare "$VMADM_ROOT/vm.json"
    read -r port peer < <(inH nettool veth "$VMADM_ROOT/vm.json")
    inH ip link set "$peer" netns "$G"
    ip netns exec "$G" ip link set "$peer" name net0
    ip netns exec "$G" ip link set net0 up
    PORT=$port
}

# leaks KIND SRC_MAC ARG: sends the frame 3 times from the guest, then a
# legitimate end frame (the NIC's MAC and first IP) the counters stop at;
# prints "<seen by the receiver> <seen by the bridge>".
leaks() {
    local marker="m$RANDOM$RANDOM" t=$BATS_TEST_TMPDIR
    rm -f "$t/r.ready" "$t/b.ready"
    ip netns exec "$R" python3 "$PKT" count eth0 "$marker" 10 "$t/r.ready" > "$t/r" &
    inH python3 "$PKT" count stub0 "$marker" 10 "$t/b.ready" > "$t/b" &
    for _ in $(seq 100); do [ -e "$t/r.ready" ] && [ -e "$t/b.ready" ] && break; sleep 0.05; done
    NETPKT_END="$MAC 10.50.0.2" ip netns exec "$G" python3 "$PKT" send net0 "$1" "$marker" "$2" "${3:-}"
    wait
    echo "$(cat "$t/r") $(cat "$t/b")"
}

# allow KEY: sets KEY true in the NIC and re-applies the filter live.
allow() {
    python3 - "$VMADM_ROOT/vm.json" "$1" <<'PY'
import json, sys
p, k = sys.argv[1], sys.argv[2]
vm = json.load(open(p))
vm["nics"][0][k] = True
json.dump(vm, open(p, "w"))
PY
    inH nettool filter "$VMADM_ROOT/vm.json"
}

@test "a legitimate frame reaches the receiver and the bridge (control)" {
    start_nic
    run leaks ip $MAC 10.50.0.2
    [ "$output" = "3 3" ] || { echo "got: $output"; false; }
}

@test "spoofed source IP: 0 leaked; passes once allow_ip_spoofing is set live" {
    start_nic
    run leaks ip $MAC 10.50.0.99
    [ "$output" = "0 0" ] || { echo "got: $output"; false; }
    allow allow_ip_spoofing
    run leaks ip $MAC 10.50.0.99
    [ "$output" = "3 3" ] || { echo "got: $output"; false; }
}

@test "spoofed ARP sender IP: 0 leaked; passes with allow_ip_spoofing" {
    start_nic
    run leaks arp $MAC 10.50.0.99
    [ "$output" = "0 0" ] || { echo "got: $output"; false; }
    run leaks arp $MAC 10.50.0.2
    [ "$output" = "3 3" ] || { echo "got: $output"; false; }
    allow allow_ip_spoofing
    run leaks arp $MAC 10.50.0.99
    [ "$output" = "3 3" ] || { echo "got: $output"; false; }
}

@test "spoofed MAC: 0 leaked; passes once allow_mac_spoofing is set live" {
    start_nic
    run leaks ip 02:00:00:00:00:99 10.50.0.2
    [ "$output" = "0 0" ] || { echo "got: $output"; false; }
    allow allow_mac_spoofing
    run leaks ip 02:00:00:00:00:99 10.50.0.2
    [ "$output" = "3 3" ] || { echo "got: $output"; false; }
}

@test "DHCP OFFER from the guest: 0 leaked; passes once allow_dhcp_spoofing is set live" {
    start_nic
    run leaks dhcp-offer $MAC 10.50.0.2
    [ "$output" = "0 0" ] || { echo "got: $output"; false; }
    allow allow_dhcp_spoofing
    run leaks dhcp-offer $MAC 10.50.0.2
    [ "$output" = "3 3" ] || { echo "got: $output"; false; }
}

@test "IPv6 router advertisement: 0 leaked; passes once allow_restricted_traffic is set" {
    start_nic
    run leaks ra $MAC
    [ "$output" = "0 0" ] || { echo "got: $output"; false; }
    allow allow_restricted_traffic
    run leaks ra $MAC
    [ "$output" = "3 3" ] || { echo "got: $output"; false; }
}

@test "non-IP ethertype: 0 leaked; passes once allow_restricted_traffic is set" {
    start_nic
    run leaks ethertype $MAC
    [ "$output" = "0 0" ] || { echo "got: $output"; false; }
    allow allow_restricted_traffic
    run leaks ethertype $MAC
    [ "$output" = "3 3" ] || { echo "got: $output"; false; }
}

@test "allowed_ips with a CIDR admits its sources, not others" {
    write_vm '"ips": ["10.50.0.2/24"], "allowed_ips": ["10.50.0.128/25"]'
    start_nic
    run leaks ip $MAC 10.50.0.200
    [ "$output" = "3 3" ] || { echo "got: $output"; false; }
    run leaks ip $MAC 10.50.0.100
    [ "$output" = "0 0" ] || { echo "got: $output"; false; }
}

@test "DHCP from a protected guest reaches a server on the bridge's own IP (input path)" {
    write_vm '"ips": ["dhcp"]'
    start_nic
    # not through inH: $! must be dnsmasq itself (ip netns exec execs it)
    ip netns exec "$H" dnsmasq --keep-in-foreground --port=0 --interface=stub0 --bind-interfaces \
        --dhcp-range=10.50.0.100,10.50.0.150 --leasefile-ro --pid-file= --conf-file=/dev/null &
    DNSMASQ_PID=$!
    sleep 0.5
    run ip netns exec "$G" python3 "$PKT" discover net0 $MAC 8
    [ "$status" -eq 0 ]
    [[ "$output" =~ ^OFFER\ 10\.50\.0\.1[0-5][0-9]$ ]]
}

@test "DHCP from a protected guest reaches a server in another netns on the bridge (forward path)" {
    write_vm '"ips": ["dhcp"]'
    start_nic
    ip netns exec "$R" dnsmasq --keep-in-foreground --port=0 --interface=eth0 --bind-interfaces \
        --dhcp-range=10.50.0.100,10.50.0.150 --leasefile-ro --pid-file= --conf-file=/dev/null &
    DNSMASQ_PID=$!
    sleep 0.5
    run ip netns exec "$G" python3 "$PKT" discover net0 $MAC 8
    [ "$status" -eq 0 ]
    [[ "$output" =~ ^OFFER\ 10\.50\.0\.1[0-5][0-9]$ ]]
    # a static NIC's DISCOVER passes as well (0.0.0.0 -> broadcast), its OFFER too
    write_vm '"ips": ["10.50.0.2/24"]'
    inH nettool filter "$VMADM_ROOT/vm.json"
    run ip netns exec "$G" python3 "$PKT" discover net0 $MAC 8
    [ "$status" -eq 0 ]
}

@test "a NIC removed from the VM loses its chains on re-apply; teardown leaves no port or chain" {
    printf '{"uuid": "%s", "nics": [{"interface": "net0", "mac": "%s", "nic_tag": "stub0", "ips": ["10.50.0.2/24"]}, {"interface": "net1", "mac": "02:00:00:00:00:02", "nic_tag": "stub0", "ips": ["10.50.0.4/24"]}]}\n' \
        "$UUID" "$MAC" > "$VMADM_ROOT/vm.json"
    inH nettool prepare "$VMADM_ROOT/vm.json"
    inH nettool veth "$VMADM_ROOT/vm.json"
    p1=$(nettool ifname $UUID 1)
    inH nft list chain bridge vmadm "${p1}_g" >/dev/null
    write_vm '"ips": ["10.50.0.2/24"]'
    inH nettool filter "$VMADM_ROOT/vm.json"
    run inH nft list chain bridge vmadm "${p1}_g"
    [ "$status" -ne 0 ]
    run inH nft list map bridge vmadm from_guest
    [[ "$output" != *"$p1"* ]]
    prefix=${p1:0:12}
    inH nettool teardown $UUID
    inH nettool teardown $UUID
    run inH nft list table bridge vmadm
    [ "$status" -eq 0 ]
    [[ "$output" != *"$prefix"* ]]
    run inH ip -o link show
    [[ "$output" != *"$prefix"* ]]
}

@test "two VMADM_ROOTs share the table: their VMs' chains are apart, one's teardown keeps the other's" {
    start_nic
    other=$(mktemp -d /tmp/vmt.XXXXXX)
    cp "$VMADM_ROOT/vm.json" "$other/"
    VMADM_ROOT=$other inH nictagadm add -l stub0
    VMADM_ROOT=$other inH nettool prepare "$other/vm.json"
    a=$(nettool ifname $UUID 0)
    b=$(VMADM_ROOT=$other nettool ifname $UUID 0)
    [ "$a" != "$b" ]
    inH nft list chain bridge vmadm "${b}_g" >/dev/null
    VMADM_ROOT=$other inH nettool teardown $UUID
    inH nft list chain bridge vmadm "${a}_g" >/dev/null
    run leaks ip $MAC 10.50.0.99
    [ "$output" = "0 0" ] || { echo "got: $output"; false; }
    rm -rf "$other"
}

@test "taps: made on the bridge and gone when their fd closes" {
    inH nettool prepare "$VMADM_ROOT/vm.json"
    exec {w}> >(inH nettool tap "$VMADM_ROOT/vm.json" > "$BATS_TEST_TMPDIR/taps")
    for _ in $(seq 50); do [ -s "$BATS_TEST_TMPDIR/taps" ] && break; sleep 0.1; done
    tap=$(cat "$BATS_TEST_TMPDIR/taps")
    [ "$tap" = "$(nettool ifname $UUID 0)" ]
    inH ip -o link show "$tap" | grep -q 'master stub0'
    inH ip -o link show "$tap" | grep -q 'link/ether fe:'
    exec {w}>&-
    for _ in $(seq 50); do inH ip link show "$tap" >/dev/null 2>&1 || break; sleep 0.1; done
    run inH ip link show "$tap"
    [ "$status" -ne 0 ]
}
