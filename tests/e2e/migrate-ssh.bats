#!/usr/bin/env bats
# vmadm migrate over ssh to localhost (issue 17): a throwaway sshd on a
# free port with its own host key and one authorized key, made and torn
# down by this file; the "remote" runs the built vmadm in a second
# VMADM_ROOT (VMADM_REMOTE_VMADM, VMADM_REMOTE_ROOT).

bats_require_minimum_version 1.5.0
load ../cli/helpers
load containers

setup_file() {
    [ "$(id -u)" = 0 ] || return 0
    "$GUEST_DIR/build.sh" >&2
    S=$(mktemp -d /tmp/vmssh.XXXXXX)
    ssh-keygen -q -t ed25519 -N '' -f "$S/host" >/dev/null
    ssh-keygen -q -t ed25519 -N '' -f "$S/client" >/dev/null
    cp "$S/client.pub" "$S/authorized_keys"
    PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    cat > "$S/sshd_config" <<EOF
Port $PORT
ListenAddress 127.0.0.1
HostKey $S/host
AuthorizedKeysFile $S/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile $S/sshd.pid
SetEnv VMINFOD_ADDR=none VMADM_ACCEL=tcg
EOF
    mkdir -p /run/sshd
    /usr/sbin/sshd -f "$S/sshd_config" -E "$S/sshd.log"
    export S PORT
}

teardown_file() {
    [ -n "${S:-}" ] || return 0
    [ -f "$S/sshd.pid" ] && kill "$(cat "$S/sshd.pid")" 2>/dev/null || true
    rm -rf "$S"
}

setup() {
    ct_setup
    A=$VMADM_ROOT
    B=$(mktemp -d /tmp/vmt.XXXXXX)
    for r in "$A" "$B"; do
        VMADM_ROOT=$r imgadm install -m "$VMADM_TEST_CACHE/hvm-A.json" -f "$VMADM_TEST_CACHE/hvm-A.raw.zst" >/dev/null
    done
    export VMADM_SSH_OPTS="-p $PORT -i $S/client -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR"
    export VMADM_REMOTE_VMADM=$BUILD_DIR/src/vmadm/vmadm VMADM_REMOTE_ROOT=$B
}

teardown() {
    for r in "$A" "$B"; do
        for u in $(ls "$r/etc/vms" 2>/dev/null); do
            VMADM_ROOT=$r vmadm stop -F "$u" >/dev/null 2>&1 || true
        done
    done
    pkill -9 -f -- "$B" 2>/dev/null || true
    [ -n "${B:-}" ] && rm -rf "$B"
    vm_teardown_root
}

state() { VMADM_ROOT=$1 vmadm get "$2" 2>/dev/null | jq -r .state; }

@test "migrate over ssh to localhost: preflight, copy, switch; rollback; the ssh cut mid-copy leaves the source running" {
    U=$(echo "{\"brand\": \"bhyve\", \"ram\": 128, \"autoboot\": false,
               \"disks\": [{\"image_uuid\": \"$IMG_HVM_A\", \"boot\": true, \"model\": \"virtio\"},
                           {\"size\": 64, \"model\": \"virtio\"}]}" |
        vmadm create 2>&1 | sed -n 's/^Successfully created VM //p')
    run --separate-stderr vmadm migrate -n "$U" root@localhost
    [ "$status" -eq 0 ] || { echo "$stderr"; cat "$S/sshd.log"; false; }
    run --separate-stderr vmadm migrate "$U" root@localhost
    [ "$status" -eq 0 ] && [[ "$stderr" == *"Successfully migrated VM $U to root@localhost"* ]]
    [ "$(state "$B" "$U")" = stopped ] && VMADM_ROOT=$B vmadm get "$U" | jq -e '.do_not_inventory != true'
    vmadm get "$U" | jq -e '.do_not_inventory == true'
    vmadm migrate --rollback "$U"
    ! VMADM_ROOT=$B vmadm get "$U" >/dev/null 2>&1
    vmadm get "$U" | jq -e '.do_not_inventory != true'

    # an older QEMU at the destination: refused before anything moves, unless -D
    mkdir -p "$BATS_TEST_TMPDIR/oldq"
    printf '#!/bin/sh\necho "QEMU emulator version 5.2.0"\n' > "$BATS_TEST_TMPDIR/oldq/qemu-system-x86_64"
    printf '#!/bin/sh\nPATH=%s:$PATH exec %s "$@"\n' "$BATS_TEST_TMPDIR/oldq" "$BUILD_DIR/src/vmadm/vmadm" \
        > "$BATS_TEST_TMPDIR/oldq/vmadm"
    chmod +x "$BATS_TEST_TMPDIR/oldq/qemu-system-x86_64" "$BATS_TEST_TMPDIR/oldq/vmadm"
    VMADM_REMOTE_VMADM=$BATS_TEST_TMPDIR/oldq/vmadm run --separate-stderr vmadm migrate -n "$U" root@localhost
    [ "$status" -eq 1 ] && [[ "$stderr" == *"QEMU version: destination has 5.2.0"*"(-D allows it)"* ]]
    VMADM_REMOTE_VMADM=$BATS_TEST_TMPDIR/oldq/vmadm run --separate-stderr vmadm migrate -n -D "$U" root@localhost
    [ "$status" -eq 0 ]

    # a host that refuses us: a clear error, nothing moved
    VMADM_SSH_OPTS="-p $PORT -i /dev/null -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null" \
        run --separate-stderr vmadm migrate "$U" root@localhost
    [ "$status" -eq 1 ] && [[ "$stderr" == *"destination"* ]]
    vmadm get "$U" | jq -e '.do_not_inventory != true'

    # cut the transport: kill ssh during the copy (a big data disk makes it last)
    qemu-io -f qcow2 -c "write -P 0x5a 0 60M" \
        "$A/var/vmstore/zones/data/$(jq -r ".datasets[\"zones/$U/disk1\"].file" "$A/var/vmstore/zones/pool.json")" >/dev/null
    vmadm start "$U"
    vmadm migrate "$U" root@localhost 2>/dev/null &
    pid=$!
    for i in $(seq 100); do pkill -9 -f "ssh -oBatchMode=yes.*receive" && break; sleep 0.05; done
    wait "$pid" || true
    if [ "$(state "$B" "$U")" = running ]; then vmadm migrate --rollback "$U"; fi
    [ "$(state "$A" "$U")" = running ]
    vmadm get "$U" | jq -e '.do_not_inventory != true'
}

@test "migrate --live over ssh: both sockets forwarded; the guest runs on at the destination" {
    U=$(echo "{\"brand\": \"bhyve\", \"ram\": 128, \"autoboot\": true,
               \"disks\": [{\"image_uuid\": \"$IMG_HVM_A\", \"boot\": true, \"model\": \"virtio\"}]}" |
        vmadm create 2>&1 | sed -n 's/^Successfully created VM //p')
    for i in $(seq 1200); do
        tr -d '\r' < "$A/run/vms/$U/console.log" 2>/dev/null | grep -q "VMADM-GUEST: ready" && break; sleep 0.2
    done
    run --separate-stderr vmadm migrate --live "$U" root@localhost
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }
    [[ "$stderr" == *"downtime"* ]]
    [ "$(state "$B" "$U")" = running ] && [ "$(state "$A" "$U")" = stopped ]
    ! tr -d '\r' < "$B/run/vms/$U/console.log" | grep -q "VMADM-GUEST: boot"
    vmadm migrate --rollback "$U"
    [ "$(state "$A" "$U")" = running ]
    ! VMADM_ROOT=$B vmadm get "$U" >/dev/null 2>&1
}
