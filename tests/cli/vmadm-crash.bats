#!/usr/bin/env bats
# Crash safety: vmadm create/update/delete killed with SIGKILL at random
# moments.  After each kill the store must be consistent: every listed VM
# is whole, half-made VMs are neither listed nor (after one more command)
# leave storage behind, no complete VM is lost, and multi-key updates are
# all-or-nothing.

load helpers
load fixtures/vmadm-lib

ROUNDS=${VMADM_CRASH_ROUNDS:-15}

setup() {
    vm_setup_root
    install_ct
    fixture joyent-minimal >/dev/null
    D=$BATS_TEST_TMPDIR/crash
    mkdir -p $D
    : > $D/tried        # uuids whose create/delete was attempted
    : > $D/victims      # VMs that may be deleted
    : > $D/killed       # commands that died by the SIGKILL
    # VMs no operation touches
    for i in 1 2 3; do
        jq -c ".alias = \"stable$i\"" $BATS_TEST_TMPDIR/joyent-minimal.json > $D/s.json
        create_ok $D/s.json
        echo $VM >> $D/stable
    done
    # VMs that get multi-key updates: generation 0 everywhere
    for i in 1 2; do
        jq -c '.alias = "g0" | .max_physical_memory = 512 | .tags = {"gen":"0"} |
               .customer_metadata = {"gen":"0"} | .internal_metadata = {"gen":"0"}' \
            $BATS_TEST_TMPDIR/joyent-minimal.json > $D/m.json
        create_ok $D/m.json
        echo $VM >> $D/mutable
    done
}

teardown() {
    vm_teardown_root
}

# rand_sleep MAX_MS: a random pause of 0..MAX_MS-1 ms.
rand_sleep() {
    sleep "$(printf '0.%03d' $((RANDOM % $1)))"
}

# run_and_kill MAX_MS CMD...: start CMD, SIGKILL it at a random moment in
# its first MAX_MS ms.  The ranges are near each command's own duration
# (a create takes tens of ms, an update or delete ~10 ms), so most kills
# land mid-way; how many did is printed, not asserted.
run_and_kill() {
    local max=$1
    shift
    "$@" > /dev/null 2>&1 &
    local pid=$!
    rand_sleep $max
    kill -9 $pid 2>/dev/null || true
    local rc=0
    wait $pid 2>/dev/null || rc=$?
    [ $rc -eq 137 ] && echo "$*" >> $D/killed
    return 0
}

new_uuid() {
    cat /proc/sys/kernel/random/uuid
}

check_consistent() {
    local round=$1
    # one command: also the one that finishes/rolls back leftovers
    run --separate-stderr vmadm list -p -o uuid,brand,alias
    [ "$status" -eq 0 ] || { echo "round $round: list failed: $stderr"; return 1; }
    local listed; listed=$(printf '%s\n' "${lines[@]}" | cut -d: -f1 | sort)
    local u
    for u in $listed; do
        local obj; obj=$(vmadm get $u) || { echo "round $round: get $u failed"; return 1; }
        echo "$obj" | jq -e '.state == "stopped" and (.brand|type) == "string"' >/dev/null ||
            { echo "round $round: $u bad object"; return 1; }
        datasets_of $u | grep -qx "zones/$u" || { echo "round $round: $u listed without its dataset"; return 1; }
        [ "$(echo "$obj" | jq '[(.disks // [])[] | select(.missing)] | length')" = 0 ] ||
            { echo "round $round: $u has a missing disk"; return 1; }
        # every disk in the config has its volume
        local nd; nd=$(echo "$obj" | jq '(.disks // []) | length')
        [ "$(datasets_of $u | grep -c "/disk" || true)" = "$nd" ] ||
            { echo "round $round: $u disks $nd but volumes: $(datasets_of $u)"; return 1; }
    done
    # no complete VM lost
    for u in $(cat $D/stable $D/mutable); do
        echo "$listed" | grep -qx $u || { echo "round $round: VM $u lost"; return 1; }
    done
    for u in $(cat $D/stable); do
        [ "$(jget $u .alias)" != null ] || { echo "round $round: $u changed"; return 1; }
    done
    # updates all-or-nothing: every field shows the same generation
    for u in $(cat $D/mutable); do
        local g; g=$(jget $u '[(.alias|ltrimstr("g")), .tags.gen, .customer_metadata.gen,
                               .internal_metadata.gen, (.max_physical_memory - 512 | tostring)] | unique | join(" ")')
        [[ "$g" =~ ^[0-9]+$ ]] || { echo "round $round: $u half-updated: $g"; return 1; }
    done
    # attempted creates/deletes that are not listed left nothing behind
    for u in $(sort -u $D/tried); do
        echo "$listed" | grep -qx $u && continue
        [ -z "$(datasets_of $u)" ] || { echo "round $round: $u not listed but has $(datasets_of $u)"; return 1; }
        [ ! -e $VMADM_ROOT/zones/$u ] || { echo "round $round: $u zonepath left"; return 1; }
    done
    [ -z "$(ls -A $VMADM_ROOT/etc/vms | grep '^\.' || true)" ] ||
        { echo "round $round: leftovers $(ls -A $VMADM_ROOT/etc/vms | grep '^\.')"; return 1; }
    # the listed victims are what may be deleted next
    echo "$listed" | grep -Fxf <(sort -u $D/tried) > $D/victims || true
}

@test "kill -9 during create, update and delete leaves a consistent store" {
    gen=0
    for round in $(seq 1 $ROUNDS); do
        op=$((RANDOM % 3))
        if [ $op -eq 2 ] && [ ! -s $D/victims ]; then op=0; fi
        case $op in
        0)  u=$(new_uuid)
            echo $u >> $D/tried
            if [ $((RANDOM % 2)) -eq 0 ]; then
                echo "{\"uuid\":\"$u\",\"brand\":\"bhyve\",\"autoboot\":false,\"alias\":\"c$round\",
                       \"disks\":[{\"size\":64,\"boot\":true,\"model\":\"virtio\"},{\"size\":32,\"model\":\"virtio\"}]}" > $D/c.json
            else
                jq -c ".uuid = \"$u\" | .alias = \"c$round\"" $BATS_TEST_TMPDIR/joyent-minimal.json > $D/c.json
            fi
            echo "round $round: create $u"
            run_and_kill 120 vmadm create -f $D/c.json ;;
        1)  gen=$((gen + 1))
            u=$(sed -n "$((RANDOM % 2 + 1))p" $D/mutable)
            echo "{\"alias\":\"g$gen\",\"max_physical_memory\":$((512 + gen)),\"set_tags\":{\"gen\":\"$gen\"},
                   \"set_customer_metadata\":{\"gen\":\"$gen\"},\"set_internal_metadata\":{\"gen\":\"$gen\"}}" > $D/u.json
            echo "round $round: update $u to g$gen"
            run_and_kill 25 vmadm update $u -f $D/u.json ;;
        2)  n=$(wc -l < $D/victims)
            u=$(sed -n "$((RANDOM % n + 1))p" $D/victims)
            echo "round $round: delete $u"
            run_and_kill 25 vmadm delete $u ;;
        esac
        check_consistent $round
    done
    echo "# $(wc -l < $D/killed 2>/dev/null || echo 0) of $ROUNDS commands were killed before they finished" >&3
    # and the survivors still work normally
    for u in $(vmadm lookup); do
        run vmadm update $u alias=after
        [ "$status" -eq 0 ]
    done
    for u in $(sort -u $D/tried); do
        vmadm lookup uuid=$u | grep -q . || continue
        run vmadm delete $u
        [ "$status" -eq 0 ]
        [ -z "$(datasets_of $u)" ]
    done
}
