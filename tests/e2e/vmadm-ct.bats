#!/usr/bin/env bats
# Issue "Native brands as Linux system containers", through vmadm as an
# operator uses it: joyent / joyent-minimal / lx VMs from the tiny busybox
# rootfs images of tests/guest (ct-A: ID=ctalpha, ct-B: ID=ctbeta), run by
# LXC for real.  Zone root = dataset zones/<uuid> cloned from the image's
# @final, config in <zonepath>/config, delegated zones/<uuid>/data at /data;
# start/stop/reboot/login/console; cgroup + quota limits (live update);
# reprovision (checks first, /data kept, /root replaced, always boots,
# R22-R34, atomic under kill -9); indestructible_*; bad images and
# unstartable containers.
# Needs root (LXC, cgroups).

bats_require_minimum_version 1.5.0
load ../cli/helpers
load containers

MiB=1048576
GiB=1073741824

setup() {
    ct_setup
    F=$BATS_TEST_TMPDIR
    U=$(cat /proc/sys/kernel/random/uuid)
}

teardown() {
    local u
    for u in $(ls "${VMADM_ROOT:-/nonexistent}/etc/vms" 2>/dev/null); do
        uuid_shape "$u" && vmadm stop -F "$u" >/dev/null 2>&1 || true
    done
    vm_teardown_root
}

uuid_shape() { [[ "$1" =~ ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$ ]]; }

# install_ct A|B [ct|lx]: the test rootfs as a zone-dataset or lx-dataset image.
install_ct() {
    local m=${2:-ct}-$1.json
    run imgadm install -m "$VMADM_TEST_CACHE/$m" -f "$VMADM_TEST_CACHE/ct-$1.tar.gz"
    [ "$status" -eq 0 ] || { echo "imgadm install $m: $output"; return 1; }
}

# create_ct BRAND IMAGE [EXTRA-MEMBERS]: VM $U, not started.
create_ct() {
    local kv=""
    [ "$1" = lx ] && kv=", \"kernel_version\": \"$IMG_LX_KERNEL_VERSION\""
    cat > "$F/create.json" <<EOT
{"uuid": "$U", "brand": "$1", "alias": "ct-$1", "image_uuid": "$2", "autoboot": false,
 "max_physical_memory": 256, "quota": 2, "customer_metadata": {"hello": "world"}$kv
 ${3:+, $3}}
EOT
    run vmadm create -f "$F/create.json"
    [ "$status" -eq 0 ] || { echo "create: $output"; return 1; }
    [ "$output" = "Successfully created VM $U" ] || { echo "create: $output"; return 1; }
}

vmget() { vmadm get "$U" | jq -r "$1"; }
vget() { vmstore get -Hp -t filesystem,volume -o value "$1" "$2"; }
inside() { vmadm login "$U" "$@"; }
clog() { echo "$VMADM_ROOT/run/vms/$U/console.log"; }
mark() { MARK=$(stat -c %s "$(clog)" 2>/dev/null || echo 0); }
since() {
    local sz; sz=$(stat -c %s "$(clog)" 2>/dev/null || echo 0)
    if [ "$sz" -lt "${MARK:-0}" ]; then cat "$(clog)"; else tail -c +$(( ${MARK:-0} + 1 )) "$(clog)"; fi 2>/dev/null | tr -d '\r'
}
# wait_for CMD...: up to 20 s (no timing is asserted)
wait_for() {
    local i
    for i in $(seq 200); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
    echo "timed out waiting for: $*" >&2
    return 1
}
console_has() { since | grep -qxF -- "$1"; }
state_is() { [ "$(vmget .state)" = "$1" ]; }
# data_dir: host path of the delegated dataset
data_dir() { vget mountpoint "zones/$U/data"; }

# cg FILE-V1 FILE-V2: a cgroup file read inside the container, v1 or v2 layout.
cg() {
    if inside test -e "/sys/fs/cgroup/$1"; then inside cat "/sys/fs/cgroup/$1"
    else inside cat "/sys/fs/cgroup/$2"; fi
}
cg_v2() { ! inside test -e /sys/fs/cgroup/memory/memory.limit_in_bytes; }

# mkrootfs_tar DIR OUT.tar.gz: reproducible tarball of a rootfs directory.
mkrootfs_tar() {
    tar -C "$1" --numeric-owner --owner=0 --group=0 -czf "$2" .
}
# make_manifest UUID TARBALL TYPE: imgadm manifest next to the tarball.
make_manifest() {
    local sha bytes os=smartos
    [ "$3" = lx-dataset ] && os=linux
    sha=$(sha1sum "$2" | cut -d' ' -f1)
    bytes=$(stat -c %s "$2")
    cat > "${2%.tar.gz}.json" <<EOT
{"v": 2, "uuid": "$1", "owner": "00000000-0000-0000-0000-000000000000", "name": "t8-$1",
 "version": "1.0.0", "state": "active", "disabled": false, "public": false,
 "published_at": "2024-01-01T00:00:00.000Z", "type": "$3", "os": "$os",
 "files": [{"sha1": "$sha", "size": $bytes, "compression": "gzip"}], "requirements": {}}
EOT
}
# ct_variant NAME SCRIPT: ct-A rootfs with /sbin/init replaced by the output
# of SCRIPT (run in the unpacked dir); prints the tarball path.
ct_variant() {
    local d=$F/$1
    rm -rf "$d"; mkdir -p "$d"
    tar -C "$d" -xzf "$VMADM_TEST_CACHE/ct-A.tar.gz"
    (cd "$d" && eval "$2")
    mkrootfs_tar "$d" "$F/$1.tar.gz"
    echo "$F/$1.tar.gz"
}

@test "ct create: zone root cloned from image @final, config dir, delegated /data, boots image A" {
    install_ct A
    create_ct joyent "$IMG_CT_A" '"delegate_dataset": true, "tags": {"role": "web"},
        "routes": {"10.9.0.0/16": "10.0.0.1"}'
    # storage layout
    [ "$(vget type "zones/$U")" = filesystem ]
    [ "$(vget origin "zones/$U")" = "zones/$IMG_CT_A@final" ]
    [ "$(vget type "zones/$U/data")" = filesystem ]
    run vmadm get "$U"
    echo "$output" | jq -e --arg u "$U" '.zfs_filesystem == "zones/\($u)" and .zpool == "zones"
        and .datasets == ["zones/\($u)/data"] and .image_uuid == "'"$IMG_CT_A"'"
        and .state == "stopped" and .zone_state == "installed" and (has("pid") | not)
        and (has("ram") | not) and (has("disks") | not) and .hvm == false'
    ZP=$(vmget .zonepath)
    [ "$(readlink -f "$ZP")" = "$(readlink -f "$(vget mountpoint "zones/$U")")" ]
    # <zonepath>/config holds metadata, tags and routes; nothing of it inside
    jq -e '.customer_metadata.hello == "world"' "$ZP/config/metadata.json"
    jq -e '.role == "web"' "$ZP/config/tags.json"
    jq -e '."10.9.0.0/16" == "10.0.0.1"' "$ZP/config/routes.json"
    [ -f "$ZP/root/sbin/init" ]
    # updates of tags/metadata/routes land there
    echo '{"set_tags": {"tier": "db"}, "set_customer_metadata": {"k2": "v2"}}' | vmadm update "$U"
    jq -e '.role == "web" and .tier == "db"' "$ZP/config/tags.json"
    jq -e '.customer_metadata.k2 == "v2"' "$ZP/config/metadata.json"

    MARK=0
    run vmadm start "$U"
    [ "$status" -eq 0 ] && [ "$output" = "Successfully started VM $U" ]
    wait_for console_has "VMADM-CT: booted image=ctalpha"
    run vmadm get "$U"
    echo "$output" | jq -e '.state == "running" and .zone_state == "running" and (.pid | type == "number")
        and (.boot_timestamp | type == "string") and .autoboot == true'
    pid=$(echo "$output" | jq .pid)
    kill -0 "$pid"
    # the pid is the container's init: in its own pid and mount namespaces
    [ "$(readlink /proc/$pid/ns/pid)" != "$(readlink /proc/self/ns/pid)" ]
    [ "$(readlink /proc/$pid/ns/mnt)" != "$(readlink /proc/self/ns/mnt)" ]
    [ "$(tr '\0' ' ' < /proc/$pid/cmdline)" = "/bin/sh /sbin/init " ]

    run inside cat /etc/os-release
    [ "$status" -eq 0 ]
    [ "${lines[0]}" = "ID=ctalpha" ]
    # /data inside is the delegated dataset
    inside sh -c 'echo from-inside > /data/probe'
    [ "$(cat "$(data_dir)/probe")" = from-inside ]
    inside sh -c 'grep -q " /data " /proc/mounts'
    # config is not visible inside
    ! inside test -e /config/metadata.json
    # start on a running VM: message, exit 0 (C23)
    run vmadm start "$U"
    [ "$status" -eq 0 ]
    [ "$output" = "Unable to start VM $U: VM $U is already 'running'" ]
}

@test "ct limits: cgroups and quota from the payload, live update of a running container" {
    install_ct A
    create_ct joyent "$IMG_CT_A" '"max_swap": 512, "max_lwps": 500, "cpu_cap": 150, "cpu_shares": 50'
    # max_physical_memory 256 and quota 2 come from create_ct
    [ "$(vget quota "zones/$U")" = $((2 * GiB)) ]
    run vmadm start "$U"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    pid=$(vmget .pid)
    if cg_v2; then
        [ "$(cg x memory.max)" = $((256 * MiB)) ]
        [ "$(cg x memory.swap.max)" = $(((512 - 256) * MiB)) ]
        [ "$(cg x pids.max)" = 500 ]
        [ "$(cg x cpu.max)" = "150000 100000" ]
        [ "$(cg x cpu.weight)" = 50 ]
    else
        [ "$(cg memory/memory.limit_in_bytes x)" = $((256 * MiB)) ]
        [ "$(cg memory/memory.memsw.limit_in_bytes x)" = $((512 * MiB)) ]
        [ "$(cg pids/pids.max x)" = 500 ]
        [ "$(cg cpu/cpu.cfs_quota_us x)" = 150000 ]
        [ "$(cg cpu/cpu.cfs_period_us x)" = 100000 ]
        [ "$(cg cpu/cpu.shares x)" = $((50 * 1024 / 100)) ]
    fi
    # max_lwps is enforced: more than 500 processes cannot be started
    run inside sh -c 'i=0; while [ $i -lt 600 ]; do sleep 5 & i=$((i+1)); done 2>/dev/null; echo spawned'
    [ "$(inside sh -c 'ls /proc | grep -c "^[0-9]"')" -le 500 ]

    # live: same init, new limits
    run vmadm update "$U" max_physical_memory=384 max_swap=768 max_lwps=700 cpu_cap=50 cpu_shares=200 quota=4
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    [ "$(vmget .pid)" = "$pid" ]
    run vmadm get "$U"
    echo "$output" | jq -e '.max_physical_memory == 384 and .max_swap == 768 and .max_lwps == 700
        and .cpu_cap == 50 and .cpu_shares == 200 and .quota == 4'
    [ "$(vget quota "zones/$U")" = $((4 * GiB)) ]
    if cg_v2; then
        [ "$(cg x memory.max)" = $((384 * MiB)) ]
        [ "$(cg x pids.max)" = 700 ]
        [ "$(cg x cpu.max)" = "50000 100000" ]
        [ "$(cg x cpu.weight)" = 200 ]
    else
        [ "$(cg memory/memory.limit_in_bytes x)" = $((384 * MiB)) ]
        [ "$(cg memory/memory.memsw.limit_in_bytes x)" = $((768 * MiB)) ]
        [ "$(cg pids/pids.max x)" = 700 ]
        [ "$(cg cpu/cpu.cfs_quota_us x)" = 50000 ]
        [ "$(cg cpu/cpu.shares x)" = 2048 ]
    fi
    # removing the cap makes it unlimited again
    echo '{"cpu_cap": null}' | vmadm update "$U"
    if cg_v2; then [[ "$(cg x cpu.max)" == "max "* ]]; else [ "$(cg cpu/cpu.cfs_quota_us x)" = -1 ]; fi
    # the limits survive a restart (applied from the VM object at start)
    vmadm stop -F "$U"
    vmadm start "$U"
    if cg_v2; then [ "$(cg x memory.max)" = $((384 * MiB)) ]; else [ "$(cg memory/memory.limit_in_bytes x)" = $((384 * MiB)) ]; fi
}

@test "ct login: runs commands inside, exit status and stdin/stdout propagated; refused when stopped" {
    install_ct A
    create_ct joyent "$IMG_CT_A"
    run vmadm login "$U" true
    [ "$status" -eq 1 ]
    [ "$output" = 'cannot login when state is "stopped" must be "running".' ]
    vmadm start "$U"
    run vmadm login "$U" sh -c 'exit 42'
    [ "$status" -eq 42 ]
    run vmadm login "$U" false
    [ "$status" -eq 1 ]
    run vmadm login "$U" sh -c 'echo out; echo err >&2'
    [ "$status" -eq 0 ]
    [[ "$output" == *out* ]] && [[ "$output" == *err* ]]
    [ "$(echo piped | vmadm login "$U" cat)" = piped ]
    # inside, the container's own pid namespace: init is pid 1
    [ "$(vmadm login "$U" sh -c 'cat /proc/1/cmdline | tr "\0" " "')" = "/bin/sh /sbin/init " ]
    [ "$(vmadm login "$U" hostname)" != "$(hostname)" ] || [ "$(hostname)" = "$U" ]
    run vmadm login 00000000-0000-4000-8000-000000000000 true
    [ "$status" -ne 0 ]
}

@test "ct console: attach, see console output, detach with CTRL-]" {
    install_ct A
    create_ct joyent "$IMG_CT_A"
    run vmadm console "$U" </dev/null
    [ "$status" -eq 1 ]
    [ "$output" = 'cannot connect to console when state is "stopped" must be "running".' ]
    vmadm start "$U"
    pid=$(vmget .pid)
    # while attached, something written to /dev/console inside shows up;
    # CTRL-] (0x1d) detaches with exit 0 and the container keeps running
    { sleep 1; vmadm login "$U" sh -c 'echo console-marker-t8 > /dev/console'; sleep 1; printf '\035'; sleep 5; } \
        | timeout 20 vmadm console "$U" > "$F/console.out" 2>&1
    rc=$?
    [ $rc -eq 0 ] || { echo "console exit $rc"; cat -A "$F/console.out"; false; }
    tr -d '\r' < "$F/console.out" | grep -qx console-marker-t8
    [ "$(vmget .state)" = running ] && [ "$(vmget .pid)" = "$pid" ]
}

@test "ct stop: graceful (init asked to halt), stop -F, reboot; state from the real container" {
    install_ct A
    create_ct joyent "$IMG_CT_A"
    MARK=0
    vmadm start "$U"
    wait_for console_has "VMADM-CT: booted image=ctalpha"
    pid=$(vmget .pid)

    # reboot: a new init, booted again (console.log starts anew at each boot)
    MARK=0
    run vmadm reboot "$U"
    [ "$status" -eq 0 ] && [ "$output" = "Successfully completed reboot for VM $U" ]
    wait_for console_has "VMADM-CT: booted image=ctalpha"
    pid2=$(vmget .pid)
    [ "$pid2" != "$pid" ] && kill -0 "$pid2" && ! kill -0 "$pid" 2>/dev/null
    [ "$(vmget .state)" = running ]

    # graceful stop: init gets the halt signal and exits 0
    mark
    run vmadm stop "$U"
    [ "$status" -eq 0 ] && [ "$output" = "Successfully completed stop for VM $U" ]
    console_has "VMADM-CT: halt signal, exiting"
    ! kill -0 "$pid2" 2>/dev/null
    run vmadm get "$U"
    echo "$output" | jq -e '.state == "stopped" and .zone_state == "installed" and (has("pid") | not)
        and .autoboot == false and .exit_status == 0'
    # stopping a stopped VM: exit 0 with SmartOS's message (C24); -F fails (C25)
    run vmadm stop "$U"
    [ "$status" -eq 0 ] && [ "$output" = "VM $U is already not 'running' (currently: stopped)" ]
    run vmadm stop -F "$U"
    [ "$status" -eq 1 ] && [ "$output" = "first of 1 error: VM $U is already not 'running' (currently: stopped)" ]
    run vmadm reboot "$U"
    [ "$status" -eq 1 ] && [ "$output" = "Cannot reboot vm from state \"stopped\", must be \"running\"" ]

    # forced stop: killed at once, no halt message
    vmadm start "$U"
    pid3=$(vmget .pid)
    mark
    run vmadm stop -F "$U"
    [ "$status" -eq 0 ] && [ "$output" = "Successfully completed stop for VM $U" ]
    ! kill -0 "$pid3" 2>/dev/null
    ! console_has "VMADM-CT: halt signal, exiting"
    run vmadm get "$U"
    echo "$output" | jq -e '.state == "stopped" and (has("pid") | not) and .exit_status == -9'
    # no LXC process of this VM is left
    ! pgrep -f -- "$U" >/dev/null
}

@test "ct stop: an init that ignores the halt signal is killed after the grace period (60 s)" {
    t=$(ct_variant stubborn "printf '#!/bin/sh\ntrap \"\" PWR TERM INT HUP\necho STUBBORN up\nwhile :; do sleep 1; done\n' > sbin/init; chmod 755 sbin/init")
    IMG=5b0b0b0b-0000-4000-8000-000000000001
    make_manifest "$IMG" "$t" zone-dataset
    imgadm install -m "${t%.tar.gz}.json" -f "$t"
    create_ct joyent "$IMG"
    vmadm start "$U"
    pid=$(vmget .pid)
    vmadm stop "$U" 2>"$F/stop.err" &
    sp=$!
    # still running a while into the grace period: it was not killed at once
    sleep 5
    kill -0 "$pid"
    kill -0 "$sp"
    wait "$sp"
    grep -qx "Successfully completed stop for VM $U" "$F/stop.err"
    ! kill -0 "$pid" 2>/dev/null
    [ "$(vmget .state)" = stopped ]
}

@test "ct reprovision e2e (joyent): A -> B keeps /data, drops /root, boots B, object unchanged (R22-R32)" {
    install_ct A
    install_ct B
    create_ct joyent "$IMG_CT_A" '"delegate_dataset": true, "tags": {"t": 1}, "routes": {"10.9.0.0/16": "10.0.0.1"}'
    MARK=0
    vmadm start "$U"
    wait_for console_has "VMADM-CT: booted image=ctalpha"
    [ "$(inside head -1 /etc/os-release)" = ID=ctalpha ]
    inside sh -c 'echo keep-me > /data/keep; echo lose-me > /root/lose'
    dguid=$(vget guid "zones/$U/data")
    oldguid=$(vget guid "zones/$U")
    ZP=$(vmget .zonepath)
    before=$(vmadm get "$U" | jq -S 'del(.image_uuid, .boot_timestamp, .last_modified, .pid)')

    MARK=0
    echo "{\"image_uuid\": \"$IMG_CT_B\"}" > "$F/rp.json"
    run vmadm reprovision "$U" -f "$F/rp.json"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    # the success line last; anything before it (a library's warning under
    # load: seen once in CI, not reproduced) is shown in the TAP output
    [ "${lines[-1]}" = "Successfully reprovisioned VM $U" ] || { echo "output: $output"; false; }
    [ "${#lines[@]}" -eq 1 ] || echo "# extra output of reprovision: $output" >&3
    wait_for console_has "VMADM-CT: booted image=ctbeta"
    [ "$(inside head -1 /etc/os-release)" = ID=ctbeta ]
    [ "$(inside cat /data/keep)" = keep-me ]
    ! inside test -e /root/lose
    # storage: new root from B, data re-attached untouched, old root gone
    [ "$(vget origin "zones/$U")" = "zones/$IMG_CT_B@final" ]
    [ "$(vget guid "zones/$U")" != "$oldguid" ]
    [ "$(vget guid "zones/$U/data")" = "$dguid" ]
    [ "$(vget quota "zones/$U")" = $((2 * GiB)) ]
    run vmstore list -H -t all -o name
    [ "$(echo "$output" | grep -c "$U")" -eq 2 ] || { echo "$output"; false; }
    # config copied over
    jq -e '.customer_metadata.hello == "world"' "$ZP/config/metadata.json"
    jq -e '.t == 1' "$ZP/config/tags.json"
    jq -e '."10.9.0.0/16" == "10.0.0.1"' "$ZP/config/routes.json"
    # R32: the object is the same except these keys; no key added or lost
    run vmadm get "$U"
    echo "$output" | jq -e --arg i "$IMG_CT_B" '.image_uuid == $i and .state == "running" and .autoboot == true
        and (has("transition_to") | not)'
    diff <(echo "$before") <(echo "$output" | jq -S 'del(.image_uuid, .boot_timestamp, .last_modified, .pid)')
}

@test "ct reprovision: a stopped VM (autoboot false) is started afterwards (R31)" {
    install_ct A
    install_ct B
    create_ct joyent-minimal "$IMG_CT_A" '"delegate_dataset": true'
    [ "$(vmget .autoboot)" = false ]
    before=$(vmadm get "$U" | jq -S 'del(.image_uuid, .boot_timestamp, .last_modified, .pid, .state, .zone_state, .autoboot)')
    MARK=0
    echo "{\"image_uuid\": \"$IMG_CT_B\"}" > "$F/rp.json"
    run vmadm reprovision "$U" -f "$F/rp.json"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    wait_for console_has "VMADM-CT: booted image=ctbeta"
    run vmadm get "$U"
    echo "$output" | jq -e --arg i "$IMG_CT_B" '.image_uuid == $i and .state == "running" and .autoboot == true'
    diff <(echo "$before") <(echo "$output" | jq -S 'del(.image_uuid, .boot_timestamp, .last_modified, .pid, .state, .zone_state, .autoboot)')
}

@test "ct reprovision e2e (lx): A -> B, lx-dataset images only" {
    install_ct A lx
    install_ct B lx
    install_ct B
    create_ct lx "$IMG_LX_A" '"delegate_dataset": true'
    MARK=0
    vmadm start "$U"
    wait_for console_has "VMADM-CT: booted image=ctalpha"
    [ "$(inside head -1 /etc/os-release)" = ID=ctalpha ]
    inside sh -c 'echo keep-me > /data/keep; echo lose-me > /root/lose'
    [ "$(vmget .kernel_version)" = "$IMG_LX_KERNEL_VERSION" ]
    before=$(vmadm get "$U" | jq -S 'del(.image_uuid, .boot_timestamp, .last_modified, .pid)')

    # a zone-dataset image is refused for lx, VM untouched
    echo "{\"image_uuid\": \"$IMG_CT_B\"}" > "$F/rp.json"
    run vmadm reprovision "$U" -f "$F/rp.json"
    [ "$status" -eq 1 ]
    [ "$output" = "Failed to reprovision VM $U: image $IMG_CT_B is type zone-dataset, but must be one of: [\"lx-dataset\"]" ]
    [ "$(vmget .image_uuid)" = "$IMG_LX_A" ]
    [ "$(inside head -1 /etc/os-release)" = ID=ctalpha ]

    MARK=0
    echo "{\"image_uuid\": \"$IMG_LX_B\"}" > "$F/rp.json"
    run vmadm reprovision "$U" -f "$F/rp.json"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    wait_for console_has "VMADM-CT: booted image=ctbeta"
    [ "$(inside head -1 /etc/os-release)" = ID=ctbeta ]
    [ "$(inside cat /data/keep)" = keep-me ]
    ! inside test -e /root/lose
    [ "$(vget origin "zones/$U")" = "zones/$IMG_LX_B@final" ]
    run vmadm get "$U"
    [ "$(echo "$output" | jq -r .image_uuid)" = "$IMG_LX_B" ]
    diff <(echo "$before") <(echo "$output" | jq -S 'del(.image_uuid, .boot_timestamp, .last_modified, .pid)')

    # graceful and forced stop of the lx VM
    mark
    run vmadm stop "$U"
    [ "$status" -eq 0 ]
    console_has "VMADM-CT: halt signal, exiting"
    vmadm start "$U"
    pid=$(vmget .pid)
    run vmadm stop -F "$U"
    [ "$status" -eq 0 ]
    ! kill -0 "$pid" 2>/dev/null
    [ "$(vmget .state)" = stopped ]
}

@test "ct joyent-minimal: create, start, login" {
    install_ct A
    create_ct joyent-minimal "$IMG_CT_A"
    [ "$(vmget .brand)" = joyent-minimal ]
    MARK=0
    run vmadm start "$U"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    wait_for console_has "VMADM-CT: booted image=ctalpha"
    run vmadm login "$U" cat /etc/os-release
    [ "$status" -eq 0 ] && [ "${lines[0]}" = ID=ctalpha ]
    [ "$(vmget .state)" = running ]
}

@test "ct reprovision pre-flight: wrong image type, delegated dataset layout; nothing changed" {
    install_ct A
    install_ct B
    install_ct B lx
    create_ct joyent "$IMG_CT_A" '"delegate_dataset": true'
    vmadm start "$U"
    pid=$(vmget .pid)
    snap() { vmadm get "$U" | jq -S 'del(.last_modified)'; vmstore list -H -p -t all -o name,origin,guid; }
    st0=$(snap)
    rp() { echo "$1" > "$F/rp.json"; run vmadm reprovision "$U" -f "$F/rp.json"; }

    rp "{\"image_uuid\": \"$IMG_LX_B\"}"
    [ "$status" -eq 1 ]
    [ "$output" = "Failed to reprovision VM $U: image $IMG_LX_B is type lx-dataset, but must be one of: [\"zone-dataset\"]" ]
    [ "$(snap)" = "$st0" ]
    rp '{}'
    [ "$status" -eq 1 ] && [ "$output" = "Failed to reprovision VM $U: payload is missing image_uuid" ]
    [ "$(snap)" = "$st0" ]

    # hand-crafted delegated dataset layouts (vm.json edited by hand)
    cfg=$VMADM_ROOT/etc/vms/$U/vm.json
    cp "$cfg" "$F/vm.json.orig"
    vmstore create "zones/$U/other"
    jq --arg u "$U" '.datasets = ["zones/\($u)/data", "zones/\($u)/other"]' "$F/vm.json.orig" > "$cfg"
    st1=$(snap)
    rp "{\"image_uuid\": \"$IMG_CT_B\"}"
    [ "$status" -eq 1 ]
    [ "$output" = "Failed to reprovision VM $U: cannot support reprovision with multiple delegated datasets" ]
    [ "$(snap)" = "$st1" ]
    jq --arg u "$U" '.datasets = ["zones/\($u)/other"]' "$F/vm.json.orig" > "$cfg"
    st1=$(snap)
    rp "{\"image_uuid\": \"$IMG_CT_B\"}"
    [ "$status" -eq 1 ]
    [ "$output" = "Failed to reprovision VM $U: cannot support reprovision with non-standard \"zones/$U/other\" dataset" ]
    [ "$(snap)" = "$st1" ]
    # still the same running container
    [ "$(vmget .pid)" = "$pid" ]
    [ "$(inside head -1 /etc/os-release)" = ID=ctalpha ]
}

@test "ct indestructible_delegated / indestructible_zoneroot given at create are in effect" {
    install_ct A
    create_ct joyent "$IMG_CT_A" '"delegate_dataset": true, "indestructible_delegated": true'
    [ "$(vmget .indestructible_delegated)" = true ]
    run vmadm delete "$U"
    [ "$status" -eq 1 ]
    [ "$output" = "Failed to delete VM $U: indestructible_delegated is set, cannot delete" ]
    U=$(cat /proc/sys/kernel/random/uuid)
    create_ct joyent "$IMG_CT_A" '"delegate_dataset": true, "indestructible_zoneroot": true'
    [ "$(vmget .indestructible_zoneroot)" = true ]
    run vmadm delete "$U"
    [ "$status" -eq 1 ]
    [ "$output" = "Failed to delete VM $U: indestructible_zoneroot is set, cannot delete" ]
}

@test "ct indestructible_delegated blocks delete, not reprovision; indestructible_zoneroot blocks both" {
    install_ct A
    install_ct B
    create_ct joyent "$IMG_CT_A" '"delegate_dataset": true'
    vmadm update "$U" indestructible_delegated=true
    [ "$(vmget .indestructible_delegated)" = true ]
    vmadm start "$U"
    inside sh -c 'echo keep-me > /data/keep'
    run vmadm delete "$U"
    [ "$status" -eq 1 ]
    [ "$output" = "Failed to delete VM $U: indestructible_delegated is set, cannot delete" ]
    [ "$(vmget .state)" = running ]
    [ "$(cat "$(data_dir)/keep")" = keep-me ]
    echo "{\"image_uuid\": \"$IMG_CT_B\"}" > "$F/rp.json"
    run vmadm reprovision "$U" -f "$F/rp.json"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    [ "$(inside head -1 /etc/os-release)" = ID=ctbeta ]
    [ "$(inside cat /data/keep)" = keep-me ]
    # still protected after the reprovision
    [ "$(vmget .indestructible_delegated)" = true ]
    run vmadm delete "$U"
    [ "$status" -eq 1 ]
    [ "$output" = "Failed to delete VM $U: indestructible_delegated is set, cannot delete" ]

    # indestructible_zoneroot: neither delete nor reprovision
    vmadm update "$U" indestructible_zoneroot=true
    [ "$(vmget .indestructible_zoneroot)" = true ]
    echo "{\"image_uuid\": \"$IMG_CT_A\"}" > "$F/rp.json"
    run vmadm reprovision "$U" -f "$F/rp.json"
    [ "$status" -eq 1 ]
    [ "$output" = "Failed to reprovision VM $U: indestructible_zoneroot is set, cannot reprovision" ]
    [ "$(vmget .image_uuid)" = "$IMG_CT_B" ] && [ "$(vmget .state)" = running ]
    [ "$(vget origin "zones/$U")" = "zones/$IMG_CT_B@final" ]
    run vmadm delete "$U"
    [ "$status" -eq 1 ]
    [ "$output" = "Failed to delete VM $U: indestructible_zoneroot is set, cannot delete" ]

    # lifting both allows delete; everything of the VM goes
    vmadm update "$U" indestructible_zoneroot=false indestructible_delegated=false
    run vmadm delete "$U"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    run vmstore list -H -t all -o name
    ! echo "$output" | grep -q "$U"
}

# consistent_ct: after an interrupted reprovision, the VM (as the next
# command, vmadm get, shows it) agrees with its storage.
consistent_ct() {
    local obj img org bad=0
    obj=$(vmadm get "$U") || { echo "get failed"; return 1; }
    img=$(echo "$obj" | jq -r .image_uuid)
    org=$(vget origin "zones/$U") || { echo "no zone root dataset"; return 1; }
    [ "$org" = "zones/$img@final" ] || { echo "config says $img, root is a clone of $org"; bad=1; }
    [ "$(echo "$obj" | jq -r .transition_to)" = null ] || { echo "transition left: $(echo "$obj" | jq -c '[.state,.transition_to]')"; bad=1; }
    # shutting_down: killed just after the halt signal, init is exiting on its own
    case "$(echo "$obj" | jq -r .state)" in running|stopped|shutting_down) ;; *) echo "state $(echo "$obj" | jq -r .state)"; bad=1 ;; esac
    [ "$(vget guid "zones/$U/data")" = "$DGUID" ] || { echo "data dataset replaced"; bad=1; }
    [ "$(cat "$(data_dir)/keep" 2>/dev/null)" = keep-me ] || { echo "/data/keep lost"; bad=1; }
    ! vmstore list -H -t all -o name | grep -q -- "zones/$U-reprov" || { echo "zones/$U-reprov left"; bad=1; }
    [ "$(vmstore list -H -t filesystem,volume -o name | grep -c "$U")" -eq 2 ] || { echo "datasets: $(vmstore list -H -t all -o name | grep "$U" | tr '\n' ' ')"; bad=1; }
    jq -e '.customer_metadata.hello == "world"' "$(echo "$obj" | jq -r .zonepath)/config/metadata.json" >/dev/null || { echo "config lost"; bad=1; }
    if [ "$(echo "$obj" | jq -r .state)" = running ]; then
        vmadm login "$U" true || { echo "running but no login"; bad=1; }
    fi
    return $bad
}

@test "ct reprovision: kill -9 at random points, ~20 times, leaves a consistent VM" {
    install_ct A
    install_ct B
    create_ct joyent "$IMG_CT_A" '"delegate_dataset": true'
    vmadm start "$U"
    echo keep-me > "$(data_dir)/keep"
    DGUID=$(vget guid "zones/$U/data")
    t0=$(date +%s%3N)
    vmadm reprovision "$U" -f <(echo "{\"image_uuid\": \"$IMG_CT_B\"}") 2>/dev/null
    dur=$(( $(date +%s%3N) - t0 ))
    [ $dur -gt 1000 ] && dur=1000
    [ $dur -lt 5 ] && dur=5
    cur=$IMG_CT_B
    for i in $(seq 20); do
        [ "$cur" = "$IMG_CT_A" ] && cur=$IMG_CT_B || cur=$IMG_CT_A
        echo "{\"image_uuid\": \"$cur\"}" > "$F/rp.json"
        vmadm reprovision "$U" -f "$F/rp.json" 2>/dev/null &
        p=$!
        sleep "$(awk -v m=$((RANDOM % (dur * 12 / 10 + 1))) 'BEGIN { printf "%.3f", m / 1000 }')"
        kill -9 $p 2>/dev/null || true
        wait $p 2>/dev/null || true
        consistent_ct || { echo "iteration $i (target $cur)"; false; }
    done
    # a last full reprovision works and ends running on the target image
    echo "{\"image_uuid\": \"$IMG_CT_A\"}" > "$F/rp.json"
    run vmadm reprovision "$U" -f "$F/rp.json"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    consistent_ct
    [ "$(vmget .image_uuid)" = "$IMG_CT_A" ] && [ "$(vmget .state)" = running ]
    [ "$(inside head -1 /etc/os-release)" = ID=ctalpha ]
}

@test "ct bad images: absolute or .. paths, device nodes, setuid files are refused, nothing installed" {
    i=0
    for kind in abs dotdot dev setuid; do
        i=$((i + 1))
        IMG=$(printf '6bad0000-0000-4000-8000-%012d' $i)
        python3 - "$VMADM_TEST_CACHE/ct-A.tar.gz" "$F/$kind.tar.gz" "$kind" <<'EOPY'
import sys, tarfile, io
src, dst, kind = sys.argv[1:]
with tarfile.open(src) as s, tarfile.open(dst, "w:gz", format=tarfile.GNU_FORMAT) as d:
    for m in s.getmembers():
        d.addfile(m, s.extractfile(m) if m.isfile() else None)
    def add(name, data=b"x", **kw):
        ti = tarfile.TarInfo(name)
        for k, v in kw.items():
            setattr(ti, k, v)
        if ti.type == tarfile.REGTYPE:
            ti.size = len(data)
            d.addfile(ti, io.BytesIO(data))
        else:
            d.addfile(ti)
    if kind == "abs":
        add("/tmp/t8-escape-abs")
    elif kind == "dotdot":
        add("./etc/../../t8-escape-dotdot")
    elif kind == "dev":
        add("./dev/sda", type=tarfile.BLKTYPE, devmajor=8, devminor=0, mode=0o600)
    elif kind == "setuid":
        add("./bin/suid-t8", data=b"#!/bin/sh\n", mode=0o4755)
EOPY
        make_manifest "$IMG" "$F/$kind.tar.gz" zone-dataset
        run imgadm install -m "$F/$kind.json" -f "$F/$kind.tar.gz"
        [ "$status" -ne 0 ] || { echo "$kind: accepted: $output"; false; }
        [ "${#lines[@]}" -ge 1 ]
        echo "$kind: $output"
        run imgadm get "$IMG"
        [ "$status" -ne 0 ]
        ! vmstore list -H -t all -o name | grep -q "$IMG" || { echo "$kind: dataset left"; vmstore list -t all; false; }
        ! imgadm list 2>/dev/null | grep -q "$IMG"
    done
    [ ! -e /tmp/t8-escape-abs ]
    [ ! -e "$VMADM_ROOT/t8-escape-dotdot" ] && [ ! -e "$VMADM_ROOT/zones/t8-escape-dotdot" ]
}

@test "ct start failure: init missing or not executable -> clear error, stays stopped, nothing left" {
    i=0
    for kind in noinit noexec; do
        i=$((i + 1))
        case $kind in
            noinit) t=$(ct_variant $kind 'rm -f sbin/init') ;;
            noexec) t=$(ct_variant $kind 'chmod 644 sbin/init') ;;
        esac
        IMG=$(printf '7bad0000-0000-4000-8000-%012d' $i)
        make_manifest "$IMG" "$t" zone-dataset
        imgadm install -m "${t%.tar.gz}.json" -f "$t"
        U=$(cat /proc/sys/kernel/random/uuid)
        create_ct joyent "$IMG" '"delegate_dataset": true'
        run vmadm start "$U"
        [ "$status" -eq 1 ] || { echo "$kind: $status $output"; false; }
        [ "${#lines[@]}" -eq 1 ] || { echo "$kind: $output"; false; }
        [[ "$output" == "Unable to start VM $U: "*init* ]] || { echo "$kind: $output"; false; }
        run vmadm get "$U"
        echo "$output" | jq -e '.state == "stopped" and .zone_state == "installed" and (has("pid") | not)'
        [ ! -e "$VMADM_ROOT/run/vms/$U/pid" ]
        ! pgrep -f -- "$U" >/dev/null
        for d in /sys/fs/cgroup/*/lxc.payload."$U" /sys/fs/cgroup/lxc.payload."$U"; do [ ! -d "$d" ]; done
    done
}

@test "ct create with a missing image: Invalid value(s) for: image_uuid, nothing created" {
    cat > "$F/c.json" <<EOT
{"uuid": "$U", "brand": "joyent", "image_uuid": "00000000-1111-4222-8333-444444444444", "max_physical_memory": 128}
EOT
    run vmadm create -f "$F/c.json"
    [ "$status" -eq 1 ]
    [ "$output" = "Invalid value(s) for: image_uuid" ]
    run vmadm list -H
    [ -z "$output" ]
    [ -z "$(vmstore list -H -t all -o name | grep "$U")" ]
    [ -z "$(ls -A "$VMADM_ROOT/etc/vms" 2>/dev/null)" ]
}

@test "ct guest powers itself off: state follows (stopped, exit_status 0)" {
    install_ct A
    create_ct joyent "$IMG_CT_A"
    MARK=0
    vmadm start "$U"
    wait_for console_has "VMADM-CT: booted image=ctalpha"
    pid=$(vmget .pid)
    vmadm login "$U" kill -PWR 1 || true  # the login may be killed with the container
    wait_for state_is stopped
    console_has "VMADM-CT: halt signal, exiting"
    ! kill -0 "$pid" 2>/dev/null
    run vmadm get "$U"
    echo "$output" | jq -e '.zone_state == "installed" and .exit_status == 0 and (.exit_timestamp | type == "string")'
}

@test "ct init killed from the host: vmadm sees the real container (stopped, exit_status -9)" {
    install_ct A
    create_ct joyent "$IMG_CT_A"
    vmadm start "$U"
    pid=$(vmget .pid)
    kill -9 "$pid"
    wait_for state_is stopped
    run vmadm get "$U"
    echo "$output" | jq -e '.zone_state == "installed" and (has("pid") | not) and .exit_status == -9'
    ! pgrep -f -- "$U" >/dev/null
    # and it starts again
    run vmadm start "$U"
    [ "$status" -eq 0 ] || { echo "$output"; false; }
    [ "$(inside head -1 /etc/os-release)" = ID=ctalpha ]
}
