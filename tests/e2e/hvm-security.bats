#!/usr/bin/env bats
# Issue 14 #10 and #6 as attacks, through vmadm with real QEMU (TCG):
# QEMU is not root, has no capabilities and runs under seccomp; a disk path
# naming a host file outside the VM's datasets and the operator's
# allow-list is refused; VNC is off by default and, when on, never open
# without a password.

load ../cli/helpers
load hvm

setup() {
    hvm_setup
}

teardown() {
    hvm_teardown
}

create() { # DISKS [EXTRA]
    cat > "$F/c.json" <<EOT
{"uuid": "$U", "brand": "bhyve", "alias": "sec", "ram": 256, "vcpus": 1, "autoboot": false,
 "flexible_disk_size": 1024, "disks": $1 ${2:+, $2}}
EOT
    run vmadm create -f "$F/c.json"
    [ "$status" -eq 0 ] || { echo "create: $output"; return 1; }
}

qemu_pid() { cat "$VMADM_ROOT/run/vms/$U/pid"; }
status_of() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$(qemu_pid)/status"; }

@test "hvm-security: QEMU runs as vmadm-qemu, no capabilities, seccomp filter; no VNC by default" {
    create "[{\"image_uuid\": \"$IMG_HVM_A\", \"boot\": true, \"model\": \"virtio\"}]"
    run vmadm start "$U"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    [ "$(status_of Uid)" != 0 ]
    [ "$(status_of Uid)" = "$(id -u vmadm-qemu)" ]
    [ "$(status_of Gid)" != 0 ]
    [ "$(status_of CapEff)" = 0000000000000000 ]
    [ "$(status_of CapPrm)" = 0000000000000000 ]
    [ "$(status_of NoNewPrivs)" = 1 ]
    [ "$(status_of Seccomp)" = 2 ]
    # the VM's files stay root's: QEMU got descriptors
    ! tr '\0' '\n' < "/proc/$(qemu_pid)/cmdline" | grep -q "$VMADM_ROOT/var"
    [ "$(stat -c '%U %a' "$VMADM_ROOT/run/vms/$U/qmp.sock")" = "root 600" ]
    # VNC: absent from the argv and from the listening sockets
    ! tr '\0' '\n' < "/proc/$(qemu_pid)/cmdline" | grep -qx -- -vnc
    ! ss -ltnp | grep "pid=$(qemu_pid)," 
    run vmadm info "$U" vnc
    [ "$status" -eq 0 ]
    [ "$(echo "$output" | jq -c .vnc)" = "{}" ]
}

create_refused() { # DISKS MESSAGE: create fails with MESSAGE, nothing is created
    cat > "$F/c.json" <<EOT
{"uuid": "$U", "brand": "bhyve", "alias": "sec", "ram": 256, "vcpus": 1, "autoboot": false,
 "flexible_disk_size": 1024, "disks": $1}
EOT
    run vmadm create -f "$F/c.json"
    [ "$status" -eq 1 ] || { echo "create succeeded: $output"; return 1; }
    [[ "$output" == *"$2"* ]] || { echo "$output"; return 1; }
    [ ! -e "$VMADM_ROOT/etc/vms/$U" ]
}

@test "hvm-security: a nocreate disk naming /etc/shadow, a link out or a block device is refused at create and at start" {
    create_refused "[{\"path\": \"/etc/shadow\", \"nocreate\": true, \"boot\": true, \"model\": \"virtio\"}]" \
        "disk path /etc/shadow is outside the VM's own dataset and the directories allowed in $VMADM_ROOT/etc/hvm-paths.allow"
    # a symlink in an allowed directory does not lead out of it
    mkdir -p "$F/isos" "$VMADM_ROOT/etc"
    ln -s /etc/shadow "$F/isos/evil.img"
    echo "$F/isos" > "$VMADM_ROOT/etc/hvm-paths.allow"
    create_refused "[{\"path\": \"$F/isos/evil.img\", \"nocreate\": true, \"boot\": true, \"model\": \"virtio\"}]" \
        "is outside the VM's own dataset"
    # enforced at start too: a path that turns into a link out after create
    create "[{\"path\": \"$F/isos/later.img\", \"nocreate\": true, \"boot\": true, \"model\": \"virtio\"}]"
    ln -s /etc/shadow "$F/isos/later.img"
    run vmadm start "$U"
    [ "$status" -eq 1 ]
    [[ "$output" == *"is outside the VM's own dataset"* ]] || { echo "$output"; false; }
    [ "$(vmadm get "$U" | jq -r .state)" = stopped ]
    # block devices: refused even under an allowed directory without "block"
    dev=$(lsblk -dnpo NAME | head -1)
    [ -b "$dev" ] || skip "no block device"
    echo "$(dirname "$dev")" > "$VMADM_ROOT/etc/hvm-paths.allow"
    vmadm delete "$U" 2>/dev/null
    U=$(cat /proc/sys/kernel/random/uuid)
    create_refused "[{\"path\": \"$dev\", \"nocreate\": true, \"boot\": true, \"model\": \"virtio\"}]" \
        "disk path $dev is a block device"
}

@test "hvm-security: an allow-listed cdrom path is used, read-only, through a descriptor" {
    mkdir -p "$F/isos" "$VMADM_ROOT/etc"
    truncate -s 1M "$F/isos/x.iso"
    chmod 600 "$F/isos/x.iso"
    echo "$F/isos" > "$VMADM_ROOT/etc/hvm-paths.allow"
    create "[{\"image_uuid\": \"$IMG_HVM_A\", \"boot\": true, \"model\": \"virtio\"},
             {\"path\": \"$F/isos/x.iso\", \"media\": \"cdrom\", \"model\": \"ahci\"}]"
    run vmadm start "$U"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    # info block names the file, not the /dev/fdset/N QEMU sees
    pid=$(qemu_pid)
    [ "$(awk '$1 == "Uid:" { print $2 }' /proc/$pid/status)" != 0 ]
    [ "$(stat -c '%U %a' "$F/isos/x.iso")" = "root 600" ]
}

@test "hvm-security: VNC with vnc_port listens on 127.0.0.1 and offers no 'None' security type" {
    create "[{\"image_uuid\": \"$IMG_HVM_A\", \"boot\": true, \"model\": \"virtio\"}]" \
        '"vnc_port": 0, "vnc_password": "pw123"'
    run vmadm start "$U"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    port=$(vmadm info "$U" vnc | jq -r .vnc.port)
    [ "$port" -ge 5900 ]
    ss -ltn | grep -q "127.0.0.1:$port "
    run python3 - "$port" <<'EOF'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
ver = s.recv(12)
assert ver.startswith(b"RFB "), ver
s.sendall(b"RFB 003.008\n")
n = s.recv(1)[0]
assert n > 0, "server refused"
types = list(s.recv(n))
print("types", types)
assert 1 not in types, "security type None offered"
assert 2 in types, "VNC authentication not offered"
EOF
    [ "$status" -eq 0 ] || { echo "$output"; false; }
}
