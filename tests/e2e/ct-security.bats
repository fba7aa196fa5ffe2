#!/usr/bin/env bats
# Issue 14, finding 1: container root was host root.  Tried as a tenant
# would from `vmadm login` (and as the host sees it): containers run in a
# user namespace with a per-VM id range (container uid 0 = an unprivileged
# host uid, stable across restarts), under LXC's seccomp denylist, so the
# "shocker" attack (open_by_handle_at to the host's root inode) and /proc
# tricks reach nothing of the host; the rootfs and /data are idmapped
# mounts (files on disk keep their ids).  A privileged container only with
# "privileged": true AND the host-wide switch etc/allow-privileged-containers.
# Needs root (LXC), gcc and a static libc (the attack helper is built with
# gcc -static: the test images are busybox-only).

bats_require_minimum_version 1.5.0
load ../cli/helpers
load containers

CTTOOL="$BUILD_DIR/tests/unit/ct/cttool"
FHOPEN_SRC="$BATS_TEST_DIRNAME/cttool/fhopen.c"

setup() {
    ct_setup
    F=$BATS_TEST_TMPDIR
    U=$(cat /proc/sys/kernel/random/uuid)
    command -v gcc >/dev/null || skip "needs gcc for the attack helper"
    gcc -static -O2 -o "$F/fhopen" "$FHOPEN_SRC" || skip "needs a static libc (libc6-dev)"
}

teardown() {
    local u
    for u in $(ls "${VMADM_ROOT:-/nonexistent}/etc/vms" 2>/dev/null); do
        [[ "$u" =~ ^[0-9a-f-]{36}$ ]] && vmadm stop -F "$u" >/dev/null 2>&1 || true
    done
    [ -n "${U:-}" ] && [ -f "${VMADM_ROOT:-/x}/run/vms/$U/pid" ] && "$CTTOOL" stop "$F/vm.json" -F >/dev/null 2>&1 || true
    vm_teardown_root
}

vmget() { vmadm get "$U" | jq -r "$1"; }
inside() { vmadm login "$U" "$@"; }
init_pid() { cat "$VMADM_ROOT/run/vms/$U/pid"; }

# A joyent container from ct-A with a delegated /data, running, with the
# attack helper in its rootfs (copied as the host's root: owned by uid 0 on
# disk, which is container root through the idmapped mount).
running_ct() {
    run imgadm install -m "$VMADM_TEST_CACHE/ct-A.json" -f "$VMADM_TEST_CACHE/ct-A.tar.gz"
    [ "$status" -eq 0 ] || { echo "imgadm: $output"; return 1; }
    cat > "$F/create.json" <<EOT
{"uuid": "$U", "brand": "joyent", "alias": "sec", "image_uuid": "$IMG_CT_A", "autoboot": false,
 "max_physical_memory": 256, "quota": 2, "delegate_dataset": true}
EOT
    run vmadm create -f "$F/create.json"
    [ "$status" -eq 0 ] || { echo "create: $output"; return 1; }
    ZP=$(vmget .zonepath)
    install -m 0755 "$F/fhopen" "$ZP/root/bin/fhopen"
    run vmadm start "$U"
    [ "$status" -eq 0 ] || { echo "start: $output"; return 1; }
}

@test "the attack helper works where it is allowed (host root): it reads a host-only file by handle" {
    echo "host-only $U" > "$F/host-secret"
    # relative to the filesystem root of /tmp's filesystem
    rel=$(realpath --relative-to="$(stat -c %m "$F")" "$F/host-secret")
    run "$F/fhopen" "$(stat -c %m "$F")" "$rel"
    [ "$status" -eq 0 ]
    [ "$output" = "host-only $U" ]
}

@test "container root is not host root: uid_map, Seccomp 2, open_by_handle_at refused, /proc/1/root" {
    running_ct
    pid=$(init_pid)
    # the host's view of the container's init
    run cat /proc/"$pid"/uid_map
    echo "uid_map: $output"
    ! awk '$1 == 0 && $2 == 0 { f = 1 } END { exit !f }' /proc/"$pid"/uid_map
    read -r inner outer count < /proc/"$pid"/uid_map
    [ "$inner" = 0 ] && [ "$outer" -ge 1000000 ] && [ "$count" = 65536 ]
    ! awk '$1 == 0 && $2 == 0 { f = 1 } END { exit !f }' /proc/"$pid"/gid_map
    grep -qx $'Uid:\t'"$outer"$'\t'"$outer"$'\t'"$outer"$'\t'"$outer" /proc/"$pid"/status
    grep -qx $'Seccomp:\t2' /proc/"$pid"/status
    # a login shell is confined the same way
    run inside grep Seccomp: /proc/self/status
    [[ "$output" == *"2"* ]]
    run inside id -u
    [ "$output" = 0 ]
    # shocker: open the host's root inode by handle, then the host-only file
    echo "host-only $U" > "$F/host-secret"
    mnt=$(stat -c %m "$F")
    rel=$(realpath --relative-to="$mnt" "$F/host-secret")
    run inside /bin/fhopen / "$rel"
    echo "fhopen: $output"
    [ "$status" -ne 0 ]
    [ "$output" = EPERM ]
    run inside /bin/fhopen / etc/shadow
    [ "$output" = EPERM ]
    # /proc/1/root is the container's own root; the host file is not there
    run inside cat "/proc/1/root$F/host-secret"
    [ "$status" -ne 0 ]
    [[ "$output" != *"host-only"* ]]
    # loading modules, kexec: refused
    run inside sh -c 'echo x > /proc/sys/kernel/modprobe'
    [ "$status" -ne 0 ]
}

@test "id map: per VM, recorded, stable across restarts; files on disk keep their ids; /data works" {
    running_ct
    read -r _ base _ < /proc/"$(init_pid)"/uid_map
    slot=$(( (base - 1000000) / 65536 ))
    [ "$(readlink "$VMADM_ROOT/etc/ct-idmap/$slot")" = "$U" ]
    # container root writes /data and /root: the host sees uid 0 on disk
    inside sh -c 'echo hi > /data/f && echo hi > /root/g && chown 1000:1000 /root/g'
    data=$(vmstore get -Hp -t filesystem,volume -o value mountpoint "zones/$U/data")
    [ "$(stat -c %u:%g "$data/f")" = 0:0 ]
    [ "$(stat -c %u:%g "$ZP/root/root/g")" = 1000:1000 ]
    run inside stat -c %u /root/g
    [ "$output" = 1000 ]
    # what container root writes is uid 0 on disk: no other host user may
    # reach it (a setuid-root shell made inside must not be a host root shell)
    inside sh -c 'cp /bin/busybox /root/suid && chmod 4755 /root/suid'
    [ "$(stat -c %u:%a "$ZP/root/root/suid")" = 0:4755 ]
    # (exec fails: setpriv exits 127, nothing ran)
    run -127 setpriv --reuid=65534 --regid=65534 --clear-groups "$ZP/root/root/suid" id -u
    echo "setpriv: $output"
    [[ "$output" != *0* ]]
    run setpriv --reuid=65534 --regid=65534 --clear-groups cat "$data/f"
    [ "$status" -ne 0 ]
    [ "$(stat -L -c %a "$ZP")" = 710 ]
    [ "$(stat -c %a "$VMADM_ROOT/run/vms/$U")" = 710 ]
    # restart: same range
    vmadm stop -F "$U"
    vmadm start "$U"
    read -r _ base2 _ < /proc/"$(init_pid)"/uid_map
    [ "$base2" = "$base" ]
    run inside cat /data/f
    [ "$output" = hi ]
    # a second VM gets another range
    U1=$U
    U=$(cat /proc/sys/kernel/random/uuid)
    cat > "$F/create2.json" <<EOT
{"uuid": "$U", "brand": "joyent", "image_uuid": "$IMG_CT_A", "autoboot": true, "max_physical_memory": 128}
EOT
    vmadm create -f "$F/create2.json"
    read -r _ other _ < /proc/"$(init_pid)"/uid_map
    [ "$other" != "$base" ]
    [ $(( (other - 1000000) % 65536 )) = 0 ]
    vmadm stop -F "$U"
    U=$U1
}

@test "privileged: refused unless the host allows it; with the switch, no user namespace but seccomp stays" {
    ZPT="$F/zone"
    mkdir -p "$ZPT/root"
    tar -C "$ZPT/root" -xzf "$VMADM_TEST_CACHE/ct-A.tar.gz"
    install -m 0755 "$F/fhopen" "$ZPT/root/bin/fhopen"
    cat > "$F/vm.json" <<EOF
{"uuid": "$U", "brand": "joyent", "hostname": "priv", "zonepath": "$ZPT",
 "zfs_filesystem": "zones/$U", "privileged": true}
EOF
    run "$CTTOOL" start "$F/vm.json"
    [ "$status" -ne 0 ]
    [[ "$output" == *"privileged containers are not allowed on this host"* ]]
    [[ "$output" == *"$VMADM_ROOT/etc/allow-privileged-containers"* ]]
    [ ! -e "$VMADM_ROOT/run/vms/$U/pid" ]
    # a bad value is refused as such
    sed -i 's/"privileged": true/"privileged": "yes"/' "$F/vm.json"
    run "$CTTOOL" start "$F/vm.json"
    [ "$status" -ne 0 ]
    [[ "$output" == *"invalid value for privileged"* ]]
    # the operator's switch
    sed -i 's/"privileged": "yes"/"privileged": true/' "$F/vm.json"
    mkdir -p "$VMADM_ROOT/etc"
    touch "$VMADM_ROOT/etc/allow-privileged-containers"
    run "$CTTOOL" start "$F/vm.json"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    pid=$(init_pid)
    awk '$1 == 0 && $2 == 0 { f = 1 } END { exit !f }' /proc/"$pid"/uid_map
    grep -qx $'Seccomp:\t2' /proc/"$pid"/status
    run "$CTTOOL" login "$U" /bin/fhopen / etc/shadow
    [ "$output" = EPERM ]
    grep -q '"runs privileged' "$VMADM_ROOT/var/log/vmadm.log" || grep -q 'runs privileged' "$VMADM_ROOT/var/log/vmadm.log"
    "$CTTOOL" stop "$F/vm.json" -F
}
