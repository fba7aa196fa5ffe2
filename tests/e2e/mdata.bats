#!/usr/bin/env bats
# Issue 16, guest metadata: vminfod's metadata service (SmartOS metadata
# protocol v2) checked with cloud-init's own client code (Debian's
# cloud-init package, DataSourceSmartOS; its services stay disabled on
# the host) against a container's socket and, through a pty bridge, an
# HVM's COM2 chardev; a container reaching /.zonecontrol/metadata.sock
# from inside; QEMU started with the COM2 chardev and SmartDC SMBIOS.
# Needs root (LXC, QEMU).

bats_require_minimum_version 1.5.0
load ../cli/helpers
load containers

CLIENT="$BATS_TEST_DIRNAME/mdata-client.py"
GOLDEN_NET="$BATS_TEST_DIRNAME/mdata-network.golden.json"

setup() {
    ct_setup
    F=$BATS_TEST_TMPDIR
    U=$(cat /proc/sys/kernel/random/uuid)
    /usr/bin/python3 -c 'import cloudinit.sources.DataSourceSmartOS' 2>/dev/null ||
        skip "cloud-init is not installed (scripts/deps.sh installs it)"
}

teardown() {
    [ -n "${SOCAT_PID:-}" ] && kill "$SOCAT_PID" 2>/dev/null || true
    vmadm stop -F "$U" >/dev/null 2>&1 || true
    [ -n "${VMINFOD_PID:-}" ] && kill "$VMINFOD_PID" 2>/dev/null || true
    vm_teardown_root
}

# The metadata every test VM carries (hostname web0, two NICs, routes).
META='"hostname": "web0", "resolvers": ["10.0.0.2", "8.8.8.8"],
 "nics": [{"nic_tag": "admin", "interface": "net0", "mac": "52:54:00:12:34:56", "ip": "10.0.0.10",
           "netmask": "255.255.255.0", "gateway": "10.0.0.1", "primary": true, "mtu": 1500},
          {"nic_tag": "external", "interface": "net1", "mac": "52:54:00:ab:cd:ef", "ip": "dhcp"}],
 "routes": {"10.2.0.0/16": "10.0.0.254", "10.3.0.0/16": "nics[0]"},
 "customer_metadata": {"hello": "world", "root_authorized_keys": "ssh-ed25519 AAAAC3Nz test@host",
                       "user-script": "#!/bin/sh\necho user-script-ran\n"},
 "internal_metadata": {"secret": "operator only"}'

create_ct() {
    imgadm get "$IMG_CT_A" >/dev/null 2>&1 ||
        imgadm install -m "$VMADM_TEST_CACHE/ct-A.json" -f "$VMADM_TEST_CACHE/ct-A.tar.gz" >/dev/null
    cat > "$F/ct.json" <<EOT
{"uuid": "$U", "brand": "joyent", "alias": "md-ct", "image_uuid": "$IMG_CT_A", "autoboot": false,
 "max_physical_memory": 256, "quota": 2, $META}
EOT
    run vmadm create -f "$F/ct.json"
    [ "$status" -eq 0 ] || { echo "create: $output"; return 1; }
}

create_hvm() {
    imgadm install -m "$VMADM_TEST_CACHE/hvm-A.json" -f "$VMADM_TEST_CACHE/hvm-A.raw.zst" >/dev/null
    cat > "$F/hvm.json" <<EOT
{"uuid": "$U", "brand": "bhyve", "alias": "md-hvm", "ram": 256, "vcpus": 1, "autoboot": false,
 "disks": [{"image_uuid": "$IMG_HVM_A", "boot": true, "model": "virtio"}],
 ${META//\"nic_tag\"/\"model\": \"virtio\", \"nic_tag\"}}
EOT
    run vmadm create -f "$F/hvm.json"
    [ "$status" -eq 0 ] || { echo "create: $output"; return 1; }
}

ct_sock() { echo "$VMADM_ROOT/run/vms/$U/zonecontrol/metadata.sock"; }
vlog() { cat "$BATS_TEST_TMPDIR/vminfod.log"; }

@test "cloud-init's socket client against a container's metadata socket" {
    create_ct
    start_vminfod
    # The socket exists as soon as vminfod knows the VM: before any start.
    wait_for test -S "$(ct_sock)"
    run stat -c '%a %U' "$(dirname "$(ct_sock)")"
    [ "$output" = "711 root" ]
    run stat -c '%a' "$VMADM_ROOT/run/vms/$U"
    [ "$output" = "700" ]
    run /usr/bin/python3 "$CLIENT" socket "$(ct_sock)" "$U" "$GOLDEN_NET"
    echo "$output"
    [ "$status" -eq 0 ]
    # Each request is logged with its key and latency (never a value).
    vlog | grep -q "metadata $U GET sdc:uuid -> SUCCESS ([0-9.]* ms)"
    vlog | grep -q "metadata $U PUT from-guest -> SUCCESS"
    ! vlog | grep -q "v1 with spaces"
}

@test "the PUT's change is a vminfod modify event before the reply" {
    create_ct
    start_vminfod
    wait_for test -S "$(ct_sock)"
    curl -sN "http://$ADDR/events?vms=$U" > "$F/events" &
    local cpid=$!
    wait_for test -s "$F/events"
    /usr/bin/python3 - "$(ct_sock)" "http://$ADDR/vms/$U" <<'EOT'
import json, sys, urllib.request
from cloudinit.sources import DataSourceSmartOS as ds
c = ds.JoyentMetadataSocketClient(sys.argv[1], smartos_type=ds.SMARTOS_ENV_LX_BRAND)
c.open_transport()
assert c.put("pushed", "by-guest") == "OK"
# Read-after-write: vminfod's cache (committed together with its event)
# has the change the moment the reply arrives.
vm = json.load(urllib.request.urlopen(sys.argv[2]))
assert vm["customer_metadata"]["pushed"] == "by-guest", vm["customer_metadata"]
EOT
    wait_for grep -q customer_metadata.pushed "$F/events"
    kill $cpid
    grep '"type":"modify"' "$F/events" |
        jq -e '.changes[] | select(.prettyPath == "customer_metadata.pushed" and .newValue == "by-guest")'
}

@test "a guest sees only its own VM; bounded lines; garbage answered" {
    create_ct
    local other=$U
    U=$(cat /proc/sys/kernel/random/uuid)
    create_ct
    start_vminfod
    wait_for test -S "$(ct_sock)"
    wait_for test -S "$VMADM_ROOT/run/vms/$other/zonecontrol/metadata.sock"
    run /usr/bin/python3 - "$(ct_sock)" "$VMADM_ROOT/run/vms/$other/zonecontrol/metadata.sock" <<'EOT'
import socket, sys
from cloudinit.sources import DataSourceSmartOS as ds
a = ds.JoyentMetadataSocketClient(sys.argv[1], smartos_type=ds.SMARTOS_ENV_LX_BRAND)
b = ds.JoyentMetadataSocketClient(sys.argv[2], smartos_type=ds.SMARTOS_ENV_LX_BRAND)
a.open_transport(); b.open_transport()
print(a.get("sdc:uuid")); print(b.get("sdc:uuid"))
# internal_metadata is not served, by any path
print(a.get("secret"), a.get("sdc:internal_metadata.secret"))
# garbage, an empty line and an over-long line: "invalid command", then it still works
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rwb")
f.write(b"\x00\xff garbage\n\n" + b"x" * (3 * 1024 * 1024) + b"\n"); f.flush()
print(f.readline().decode().strip(), f.readline().decode().strip(), f.readline().decode().strip())
f.write(b"NEGOTIATE V2\n"); f.flush(); print(f.readline().decode().strip())
EOT
    echo "$output"
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "$U" ]
    [ "${lines[1]}" = "$other" ]
    [ "${lines[2]}" = "None None" ]
    [ "${lines[3]}" = "invalid command invalid command invalid command" ]
    [ "${lines[4]}" = "V2_OK" ]
}

@test "a container reads its metadata from /.zonecontrol/metadata.sock inside" {
    create_ct
    start_vminfod
    wait_for test -S "$(ct_sock)"
    # A static unix-socket pipe for the busybox guest (its nc has no -U).
    cc -static -O2 -o "$F/ucat" "$BATS_TEST_DIRNAME/mdata-ucat.c"
    local root; root=$(vmstore get -Hp -o value mountpoint "zones/$U")/root
    install -m 0755 "$F/ucat" "$root/ucat"
    run vmadm start "$U"
    [ "$status" -eq 0 ]
    # The guest speaks the protocol itself: busybox crc32 and base64.
    run vmadm login "$U" sh -c '
        body="0000beef GET $(printf %s sdc:uuid | base64)"
        crc=$(printf %s "$body" | crc32)
        printf "NEGOTIATE V2\nV2 %d %s %s\n" ${#body} "$crc" "$body" | /ucat /native/.zonecontrol/metadata.sock'
    echo "$output"
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "V2_OK" ]
    local b64; b64=$(printf %s "$U" | base64 -w0)
    [[ "${lines[1]}" == V2\ *\ 0000beef\ SUCCESS\ $b64 ]]
    # The guest cannot replace the socket (read-only bind).
    run vmadm login "$U" sh -c 'rm -f /.zonecontrol/metadata.sock; touch /native/.zonecontrol/x'
    [ "$status" -ne 0 ]
    test -S "$(ct_sock)"
}

@test "cloud-init's serial client against an HVM's COM2 (pty bridge)" {
    create_hvm
    start_vminfod
    # socat stands in for QEMU: it holds the chardev socket vmadm would
    # bind and bridges it to a pty, the guest's /dev/ttyS1.
    mkdir -p -m 0700 "$VMADM_ROOT/run/vms/$U"
    socat PTY,link="$F/ttyS1",raw,echo=0 UNIX-LISTEN:"$VMADM_ROOT/run/vms/$U/mdata.sock" &
    SOCAT_PID=$!
    wait_for test -e "$F/ttyS1"
    # The service connects within a second (it retries while not attached).
    wait_for grep -q "metadata $U: attached to the guest's COM2" "$BATS_TEST_TMPDIR/vminfod.log"
    run /usr/bin/python3 "$CLIENT" serial "$F/ttyS1" "$U" "$GOLDEN_NET"
    echo "$output"
    [ "$status" -eq 0 ]
}

@test "QEMU gets COM2 on the metadata chardev and SmartDC SMBIOS; the service attaches" {
    create_hvm
    start_vminfod
    run vmadm start "$U"
    [ "$status" -eq 0 ]
    wait_for grep -q "metadata $U: attached to the guest's COM2" "$BATS_TEST_TMPDIR/vminfod.log"
    run vmadm info "$U" chardev
    echo "$output"
    echo "$output" | jq -e '.chardev[] | select(.label == "mdata")'
    grep -q -- "-smbios type=1,manufacturer=Joyent,product=SmartDC HVM,serial=$U,uuid=$U,family=Virtual Machine" \
        "$VMADM_ROOT/run/vms/$U/qemu.log"
    # vminfod restarts: the service reattaches to the same running QEMU.
    kill "$VMINFOD_PID"; wait "$VMINFOD_PID" || true
    start_vminfod
    wait_for grep -c "metadata $U: attached to the guest's COM2" "$BATS_TEST_TMPDIR/vminfod.log"
    [ "$(grep -c "metadata $U: attached to the guest's COM2" "$BATS_TEST_TMPDIR/vminfod.log")" -ge 2 ]
}

# The guest's side of the protocol in busybox sh over /dev/ttyS1 (what
# mdata-client does): flush, NEGOTIATE, GET hostname, GET and run the
# user-script, PUT a key.  Sent to the test guest's console shell.
GUEST_SCRIPT='stty -F /dev/ttyS1 raw -echo 115200
exec 3<>/dev/ttyS1
req() { body="$1"; crc=$(printf %s "$body" | crc32); printf "V2 %d %s %s\n" ${#body} "$crc" "$body" >&3; read -r l <&3; echo "$l"; }
b64() { printf %s "$1" | base64 | tr -d "\n"; }
printf "\n" >&3; read -r l <&3; echo "MDATA-FLUSH: $l"
printf "NEGOTIATE V2\n" >&3; read -r l <&3; echo "MDATA-NEG: $l"
r=$(req "0000cafe GET $(b64 sdc:hostname)"); echo "MDATA-HOSTNAME: $(echo "$r" | cut -d" " -f6 | base64 -d)"
r=$(req "0000caff GET $(b64 root_authorized_keys)"); echo "MDATA-KEY: $(echo "$r" | cut -d" " -f6 | base64 -d)"
r=$(req "0000cb00 GET $(b64 user-script)"); echo "$r" | cut -d" " -f6 | base64 -d > /tmp/us; sh /tmp/us | sed "s/^/MDATA-US: /"
r=$(req "0000cb01 PUT $(b64 "$(b64 guest-put) $(b64 from-ttyS1)")"); echo "MDATA-PUT: $r"'

@test "a real guest (TCG) reads its metadata over ttyS1 and runs its user-script; its PUT is a vminfod event" {
    create_hvm
    vmadm update "$U" qemu_extra_opts="-fw_cfg name=opt/vmadm/mode,string=shell" >/dev/null
    start_vminfod
    curl -sN "http://$ADDR/events?vms=$U" > "$F/events" &
    local cpid=$!
    run vmadm start "$U"
    [ "$status" -eq 0 ]
    local clog="$VMADM_ROOT/run/vms/$U/console.log" i
    for i in $(seq 480); do grep -aq "VMADM-GUEST: ready" "$clog" 2>/dev/null && break; sleep 0.5; done
    grep -aq "VMADM-GUEST: ready" "$clog"
    { sleep 1; printf "cat > /tmp/m.sh <<'EOS'\n%s\nEOS\nsh /tmp/m.sh\n" "$GUEST_SCRIPT"; sleep 20; } |
        timeout 60 vmadm console "$U" >/dev/null 2>&1 || true
    tr -d '\r' < "$clog" | grep -a '^MDATA-' > "$F/guest.out" || true
    cat "$F/guest.out"
    grep -qx "MDATA-FLUSH: invalid command" "$F/guest.out"
    grep -qx "MDATA-NEG: V2_OK" "$F/guest.out"
    grep -qx "MDATA-HOSTNAME: web0" "$F/guest.out"
    grep -qx "MDATA-KEY: ssh-ed25519 AAAAC3Nz test@host" "$F/guest.out"
    grep -qx "MDATA-US: user-script-ran" "$F/guest.out"
    grep -q "^MDATA-PUT: V2 .* 0000cb01 SUCCESS T0s=$" "$F/guest.out"
    [ "$(vmadm get "$U" | jq -r '.customer_metadata["guest-put"]')" = from-ttyS1 ]
    wait_for grep -q customer_metadata.guest-put "$F/events"
    kill $cpid
}
