#!/usr/bin/env bats
# Container roots as overlay layers (issue 18 part 2) by default
# (VMADM_FS_CLONES unset): vmadm create makes a layered zone root from
# the image's @final, containers from one image do not see each other's
# files, the image cannot be deleted while they exist, and delete leaves no
# mount and no dataset.  An unprivileged container runs on its layered
# root: what container root writes is uid 0 on disk (as with an idmapped
# rootfs), its view's mount is private to it (the host's mountinfo never
# shows it) and gone with it, and the host's view shows its writes once it
# stopped.

load ../cli/helpers
load containers
bats_require_minimum_version 1.5.0

setup() {
    ct_setup
    F=$BATS_TEST_TMPDIR
    unset VMADM_FS_CLONES # the default: layered
}

teardown() {
    vm_teardown_root
}

mounts() { awk -v r="$VMADM_ROOT/" 'index($5, r) == 1 { print $5 }' /proc/self/mountinfo; }

create() { # UUID
    cat > "$F/$1.json" <<EOT
{"uuid": "$1", "brand": "joyent", "alias": "layered", "image_uuid": "$IMG_CT_A", "autoboot": false,
 "max_physical_memory": 256, "quota": 2}
EOT
    run vmadm create -f "$F/$1.json"
    [ "$status" -eq 0 ] || { echo "create: $output"; return 1; }
}

@test "layered zone roots: isolated, image delete refused, container writes as root, delete leaves nothing" {
    run imgadm install -m "$VMADM_TEST_CACHE/ct-A.json" -f "$VMADM_TEST_CACHE/ct-A.tar.gz"
    [ "$status" -eq 0 ]
    U1=$(cat /proc/sys/kernel/random/uuid)
    U2=$(cat /proc/sys/kernel/random/uuid)
    create "$U1"
    create "$U2"
    [ "$(stat -f -c %T "$VMADM_ROOT/zones/$U1")" = overlayfs ]
    [ "$(vmstore get -Ho value origin "zones/$U1")" = "zones/$IMG_CT_A@final" ]
    echo secret > "$VMADM_ROOT/zones/$U1/root/etc/only-in-1"
    [ ! -e "$VMADM_ROOT/zones/$U2/root/etc/only-in-1" ]
    [ -f "$VMADM_ROOT/zones/$U2/root/sbin/init" ] || [ -L "$VMADM_ROOT/zones/$U2/root/sbin/init" ]
    run imgadm delete "$IMG_CT_A"
    [ "$status" -ne 0 ]
    [ -n "$(vmstore list -H -o name "zones/$IMG_CT_A")" ]
    before=$(mounts | sort)
    vmadm start "$U1"
    [ "$(vmadm get "$U1" | jq -r .state)" = running ]
    # The container's view and its idmapped layers are not in the host's
    # mount table: only the host's own views, as before the start.
    [ "$(mounts | sort)" = "$before" ]
    vmadm login "$U1" sh -c 'echo hello > /etc/from-ct && mkdir /var/d1 && rm /etc/only-in-1 && id -u > /var/d1/uid'
    [ "$(vmadm login "$U1" cat /etc/only-in-1 2>&1)" != secret ]
    [ "$(vmadm login "$U1" stat -c %u /sbin/init)" = 0 ]
    vmadm stop "$U1"
    [ "$(cat "$VMADM_ROOT/zones/$U1/root/etc/from-ct")" = hello ]
    [ ! -e "$VMADM_ROOT/zones/$U1/root/etc/only-in-1" ]
    [ "$(stat -c %u "$VMADM_ROOT/zones/$U1/root/var/d1/uid")" = 0 ]
    [ "$(cat "$VMADM_ROOT/zones/$U1/root/var/d1/uid")" = 0 ]
    [ ! -e "$VMADM_ROOT/zones/$U2/root/etc/from-ct" ]
    vmadm start "$U1"
    [ "$(vmadm login "$U1" cat /etc/from-ct)" = hello ]
    vmadm stop "$U1"
    vmadm delete "$U1"
    vmadm delete "$U2"
    [ -z "$(mounts)" ]
    run vmstore list -H -o name "zones/$U1"
    [ "$status" -ne 0 ]
    imgadm delete "$IMG_CT_A"
}

@test "kill -9 during vmadm create of a layered container: the VM is whole or absent, no mount and no dataset left" {
    run imgadm install -m "$VMADM_TEST_CACHE/ct-A.json" -f "$VMADM_TEST_CACHE/ct-A.tar.gz"
    [ "$status" -eq 0 ]
    mkjson() { # UUID
        echo "{\"uuid\": \"$1\", \"brand\": \"joyent\", \"image_uuid\": \"$IMG_CT_A\", \"autoboot\": false,
               \"delegate_dataset\": true, \"quota\": 2}" > "$F/$1.json"
    }
    U=$(cat /proc/sys/kernel/random/uuid)
    mkjson "$U"
    t0=$(date +%s%3N)
    vmadm create -f "$F/$U.json"
    dur=$(( $(date +%s%3N) - t0 ))
    [ $dur -gt 2000 ] && dur=2000
    vmadm delete "$U"
    for i in $(seq 15); do
        U=$(cat /proc/sys/kernel/random/uuid)
        mkjson "$U"
        vmadm create -f "$F/$U.json" >/dev/null 2>&1 &
        p=$!
        sleep "$(awk -v m=$((RANDOM % (dur * 12 / 10 + 1))) 'BEGIN { printf "%.3f", m / 1000 }')"
        kill -9 $p 2>/dev/null || true
        wait $p 2>/dev/null || true
        vmadm list >/dev/null
        if vmadm get "$U" >/dev/null 2>&1; then
            # whole: its layered root is mounted and starts
            [ "$(stat -f -c %T "$VMADM_ROOT/zones/$U")" = overlayfs ] || { echo "iteration $i: no view"; false; }
            vmadm delete "$U"
        fi
        run vmstore list -H -o name "zones/$U"
        [ "$status" -ne 0 ] || { echo "iteration $i: dataset left: $output"; false; }
        [ -z "$(mounts)" ] || { echo "iteration $i: mounts left: $(mounts)"; false; }
    done
    imgadm delete "$IMG_CT_A"
    [ -z "$(mounts)" ]
}
