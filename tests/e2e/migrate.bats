#!/usr/bin/env bats
# vmadm send / receive and vmadm migrate between two VMADM_ROOTs on this
# host ("root:<path>", issue 17): a bhyve VM with a data-disk marker
# (written through QEMU's block layer, read back from the destination's
# volume), full and -a/-i rounds on a running TCG guest, rollback and
# finalize, and the failure matrix: a receiver killed at random points,
# the migrating vmadm killed -9, a destination too small — the source is
# always intact and startable, never are both copies running.

bats_require_minimum_version 1.5.0
load ../cli/helpers
load containers

setup() {
    ct_setup
    A=$VMADM_ROOT
    B=$(mktemp -d /tmp/vmt.XXXXXX)
    for r in "$A" "$B"; do
        VMADM_ROOT=$r imgadm install -m "$VMADM_TEST_CACHE/hvm-A.json" -f "$VMADM_TEST_CACHE/hvm-A.raw.zst" >/dev/null
    done
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

inB() { VMADM_ROOT=$B "$@"; }

# disk1 is the guest's (it formats it at boot when it holds no filesystem);
# disk2 it never touches: markers written while the guest runs go there.
bhyve() { # PROPS: prints the new VM's uuid
    echo "{\"brand\": \"bhyve\", \"ram\": 128, $1,
           \"disks\": [{\"image_uuid\": \"$IMG_HVM_A\", \"boot\": true, \"model\": \"virtio\"},
                       {\"size\": 64, \"model\": \"virtio\"}, {\"size\": 64, \"model\": \"virtio\"}]}" |
        vmadm create 2>&1 | sed -n 's/^Successfully created VM //p'
}

hmp() { # UUID COMMAND (through the VM's QMP socket, in $VMADM_ROOT)
    local sock=$VMADM_ROOT/run/vms/$1/qmp.sock
    jq -nc --arg c "$2" '{"execute":"human-monitor-command","arguments":{"command-line":$c}}' |
        { echo '{"execute":"qmp_capabilities"}'; cat; } | socat -t 5 - "UNIX-CONNECT:$sock" |
        jq -es '.[-1] | has("return")' >/dev/null
}

volfile() { # ROOT UUID DISK
    echo "$1/var/vmstore/zones/data/$(jq -r ".datasets[\"zones/$2/$3\"].file" "$1/var/vmstore/zones/pool.json")"
}

holds() { # ROOT UUID DISK HEX OFFSET: 1 MiB of byte HEX there (qemu-io says "read" even after a mismatch)
    local out
    out=$(qemu-io -f qcow2 -r -c "read -P $4 ${5:-0} 1M" "$(volfile "$1" "$2" "$3")" 2>&1)
    [[ "$out" == *"read 1048576/1048576"* && "$out" != *"verification failed"* ]] || { echo "$out" >&2; false; }
}

# ready ROOT UUID: the guest finished booting (it answers ACPI power-off
# from then on, so a graceful stop is quick).
ready() {
    local i
    for i in $(seq 1200); do
        tr -d '\r' < "$1/run/vms/$2/console.log" 2>/dev/null | grep -q "VMADM-GUEST: ready" && return 0
        sleep 0.2
    done
    echo "guest $2 never got ready" >&2; return 1
}

state() { VMADM_ROOT=$1 vmadm get "$2" 2>/dev/null | jq -r .state; }
hidden() { VMADM_ROOT=$1 vmadm get "$2" | jq -e '.do_not_inventory == true' >/dev/null; }

@test "send | receive: a stopped bhyve VM with its snapshots; incremental onto the copy; refusals" {
    U=$(bhyve '"autoboot": false')
    qemu-io -f qcow2 -c "write -P 0x5a 1M 1M" "$(volfile "$A" "$U" disk1)" >/dev/null
    vmadm create-snapshot "$U" s1
    qemu-io -f qcow2 -c "write -P 0x6b 2M 1M" "$(volfile "$A" "$U" disk1)" >/dev/null
    vmadm send "$U" > "$BATS_TEST_TMPDIR/full"
    # image layers are not in the stream: the destination has the image
    [ "$(stat -c %s "$BATS_TEST_TMPDIR/full")" -lt $((8 * 1024 * 1024)) ]
    run --separate-stderr inB vmadm receive < "$BATS_TEST_TMPDIR/full"
    [ "$status" -eq 0 ] && [ "$stderr" = "Successfully received VM $U" ]
    [ "$(inB vmadm get "$U" | jq -c '[.snapshots[].name]')" = '["s1"]' ]
    [ "$(inB vmadm get "$U" | jq -c '[.brand, .ram, (.disks | length)]')" = '["bhyve",128,3]' ]
    holds "$B" "$U" disk1 0x5a 1M && holds "$B" "$U" disk1 0x6b 2M
    # the same stream again: the uuid is there
    run --separate-stderr inB vmadm receive < "$BATS_TEST_TMPDIR/full"
    [ "$status" -eq 1 ] && [[ "$stderr" == *"VM with UUID $U already exists"* ]]

    base=$(vmstore list -H -t snapshot -o name "zones/$U/disk1" | sed -n 's/.*@//p' | tail -1)
    qemu-io -f qcow2 -c "write -P 0x7c 3M 1M" "$(volfile "$A" "$U" disk1)" >/dev/null
    vmadm send -i "$base" "$U" > "$BATS_TEST_TMPDIR/incr"
    [ "$(stat -c %s "$BATS_TEST_TMPDIR/incr")" -lt $((2 * 1024 * 1024)) ]
    inB vmadm receive < "$BATS_TEST_TMPDIR/incr"
    holds "$B" "$U" disk1 0x7c 3M && holds "$B" "$U" disk1 0x5a 1M

    # a truncated stream changes nothing: no VM, no dataset
    inB vmadm delete "$U"
    head -c 100000 "$BATS_TEST_TMPDIR/full" > "$BATS_TEST_TMPDIR/cut"
    run --separate-stderr inB vmadm receive < "$BATS_TEST_TMPDIR/cut"
    [ "$status" -eq 1 ] && [[ "$stderr" == *"invalid stream"* ]]
    ! inB vmadm get "$U" >/dev/null 2>&1
    ! inB vmstore list -H -o name | grep -q "$U"
}

@test "migrate (full) of a running bhyve VM: stopped, copied, started there; source hidden; rollback, again, finalize" {
    U=$(bhyve '"autoboot": true')
    ready "$A" "$U"
    [ "$(state "$A" "$U")" = running ]
    hmp "$U" 'qemu-io disk2 "write -P 0x11 0 1M"'
    run --separate-stderr vmadm migrate -n "$U" "root:$B"
    [ "$status" -eq 0 ] && [[ "$stderr" == *"can be migrated"* ]]
    ! inB vmadm get "$U" >/dev/null 2>&1
    run --separate-stderr vmadm migrate "$U" "root:$B"
    [ "$status" -eq 0 ] && [[ "$stderr" == *"Successfully migrated VM $U to root:$B"* ]]
    [ "$(state "$B" "$U")" = running ] && [ "$(state "$A" "$U")" = stopped ]
    hidden "$A" "$U" && ! hidden "$B" "$U"
    ! vmadm list -H -o uuid | grep -q "$U"          # hidden from list
    inB vmadm stop -F "$U"
    holds "$B" "$U" disk2 0x11
    inB vmadm start "$U"

    vmadm migrate --rollback "$U"
    [ "$(state "$A" "$U")" = running ] && ! hidden "$A" "$U"
    ! inB vmadm get "$U" >/dev/null 2>&1
    ready "$A" "$U"

    vmadm migrate "$U" "root:$B"
    run --separate-stderr vmadm migrate "$U" "root:$B"
    [ "$status" -eq 1 ] && [[ "$stderr" == *"use --finalize or --rollback"* ]]
    vmadm migrate --finalize "$U"
    ! vmadm get "$U" >/dev/null 2>&1
    [ "$(state "$B" "$U")" = running ]
    # the destination keeps no transfer snapshots
    ! inB vmstore list -H -t snapshot -o name | grep -q vmadm-xfer || inB vmadm get "$U" | jq -e '.state == "running"'
}

@test "migrate -a --json: rounds while the guest runs, the switch rule says why; NDJSON events parse" {
    U=$(bhyve '"autoboot": true')
    ready "$A" "$U"
    hmp "$U" 'qemu-io disk2 "write -P 0x22 0 1M"'
    start_vminfod
    vmadm events -rj "$U" > "$BATS_TEST_TMPDIR/ev" &
    evpid=$!
    wait_for grep -q ready "$BATS_TEST_TMPDIR/ev"
    run --separate-stderr vmadm migrate -a --json "$U" "root:$B"
    [ "$status" -eq 0 ] || { echo "$output $stderr"; false; }
    echo "$output" | jq -e -s 'all(.[]; has("type") and has("phase") and has("state") and has("current_progress")
        and has("total_progress") and has("eta_ms") and has("transfer_bytes_second") and has("message"))' >/dev/null
    echo "$output" | jq -e -s '[.[] | select(.message | startswith("switching: "))] | length == 1' >/dev/null
    echo "$output" | jq -e -s '.[-1] | .type == "end" and .state == "successful"' >/dev/null
    # the same events on vminfod's /events, as modify events of the VM's "migration"
    wait_for grep -q '"successful"' "$BATS_TEST_TMPDIR/ev"
    kill "$evpid" "$VMINFOD_PID"
    jq -se '[.[] | select(.type == "modify") | .changes[] | select(.path == ["migration", "phase"]) | .newValue] |
        (index("switch") != null) and (index("end") != null)' "$BATS_TEST_TMPDIR/ev" >/dev/null ||
        { jq -c 'select(.type == "modify") | [.changes[] | [.path, .newValue.phase?]]' "$BATS_TEST_TMPDIR/ev"; false; }
    [ "$(state "$B" "$U")" = running ] && [ "$(state "$A" "$U")" = stopped ]
    inB vmadm stop -F "$U"
    holds "$B" "$U" disk2 0x22
}

@test "migrate -i: rounds until the state file is removed, then the switch" {
    U=$(bhyve '"autoboot": true')
    ready "$A" "$U"
    vmadm migrate -i "$U" "root:$B" 2> "$BATS_TEST_TMPDIR/log" &
    pid=$!
    sync=$A/run/migrate/$U.sync
    wait_for test -f "$sync"
    grep -q "round 1" "$BATS_TEST_TMPDIR/log" || sleep 3
    hmp "$U" 'qemu-io disk2 "write -P 0x33 0 1M"'
    sleep 2
    [ "$(state "$A" "$U")" = running ]
    rm "$sync"
    wait "$pid" || { cat "$BATS_TEST_TMPDIR/log"; false; }
    grep -q "rounds while $sync exists" "$BATS_TEST_TMPDIR/log"
    [ "$(state "$B" "$U")" = running ]
    inB vmadm stop -F "$U"
    holds "$B" "$U" disk2 0x33
}

@test "failures: receiver killed at random points, vmadm killed -9, too small a destination — the source survives" {
    U=$(bhyve '"autoboot": true')
    ready "$A" "$U"
    hmp "$U" 'qemu-io disk1 "write -P 0x44 0 1M"'
    for delay in 0.2 0.6 1.2; do
        pid0=$(vmadm get "$U" | jq .pid)
        vmadm migrate -a "$U" "root:$B" 2>/dev/null &
        pid=$!
        sleep "$delay"
        kill_receive "$B"
        wait "$pid" || true
        if [ "$(state "$B" "$U")" = running ]; then
            # it got through before the kill: undo to try again
            vmadm migrate --rollback "$U"
        fi
        # never both running; the source runs again (it was running)
        [ "$(state "$A" "$U")" = running ]
        ! hidden "$A" "$U"
        # restarted (the kill came after the stop): let it boot before the next graceful stop
        [ "$(vmadm get "$U" | jq .pid)" = "$pid0" ] || ready "$A" "$U"
    done
    # kill -9 of the migrating vmadm: the source is startable, a re-run resumes
    vmadm migrate -a "$U" "root:$B" 2>/dev/null &
    pid=$!
    sleep 1
    kill -9 "$pid"; wait "$pid" || true
    [ "$(state "$B" "$U")" != running ]
    if [ "$(state "$A" "$U")" != running ]; then vmadm start "$U"; ready "$A" "$U"; fi
    vmadm migrate "$U" "root:$B"
    [ "$(state "$B" "$U")" = running ] && [ "$(state "$A" "$U")" = stopped ]
    vmadm migrate --rollback "$U"
    [ "$(state "$A" "$U")" = running ]
    ready "$A" "$U"

    # a destination without room refuses before any data moves
    C=$(mktemp -d /tmp/vmt.XXXXXX)
    mount -t tmpfs -o size=64m tmpfs "$C"
    VMADM_ROOT=$C imgadm install -m "$VMADM_TEST_CACHE/hvm-A.json" -f "$VMADM_TEST_CACHE/hvm-A.raw.zst" >/dev/null
    hmp "$U" 'qemu-io disk1 "write -P 0x55 0 60M"'
    run --separate-stderr vmadm migrate "$U" "root:$C"
    VMADM_ROOT=$C vmadm list -H -o uuid do_not_inventory=true > "$BATS_TEST_TMPDIR/c-vms"
    umount -l "$C"; rm -rf "$C"
    [ "$status" -eq 1 ] && [[ "$stderr" == *"not enough space"* ]] || { echo "$stderr"; false; }
    [ ! -s "$BATS_TEST_TMPDIR/c-vms" ]
    [ "$(state "$A" "$U")" = running ] && ! hidden "$A" "$U"
}

@test "migrate --estimate prints size and times; -n checks without moving; bad destinations" {
    U=$(bhyve '"autoboot": false')
    run --separate-stderr vmadm migrate --estimate --rate 10 "$U"
    [ "$status" -eq 0 ]
    echo "$output" | jq -e '(.size_bytes | type) == "number" and .total_seconds == .size_bytes / 1e7 and
        (.downtime_seconds | type) == "number"'
    run --separate-stderr vmadm migrate "$U" "-oProxyCommand=x"
    [ "$status" -ne 0 ] && [[ "$stderr" == *"invalid destination"* || "$stderr" == *"invalid option"* ]]
    run --separate-stderr vmadm migrate "$U" "root:relative"
    [ "$status" -ne 0 ] && [[ "$stderr" == *"absolute path"* ]]
    # the uuid is already at the destination: named reason, nothing moved
    vmadm send "$U" | inB vmadm receive
    run --separate-stderr vmadm migrate "$U" "root:$B"
    [ "$status" -eq 1 ] && [[ "$stderr" == *"uuid already there"* ]]
    ! hidden "$A" "$U"
}

@test "containers: send | receive with a file; migrate -a warm (rounds while running, final delta stopped), rollback" {
    for r in "$A" "$B"; do
        VMADM_ROOT=$r imgadm install -m "$VMADM_TEST_CACHE/ct-A.json" -f "$VMADM_TEST_CACHE/ct-A.tar.gz" >/dev/null
    done
    U=$(echo "{\"brand\": \"joyent-minimal\", \"image_uuid\": \"$IMG_CT_A\", \"customer_metadata\": {\"k\": \"v\"}}" |
        vmadm create 2>&1 | sed -n 's/^Successfully created VM //p')
    vmadm login "$U" sh -c 'echo MAGIC1 > /root/hello.txt'
    vmadm stop "$U"
    vmadm send "$U" > "$BATS_TEST_TMPDIR/ct"
    # the image's tree is not in the stream, only what the container changed
    [ "$(stat -c %s "$BATS_TEST_TMPDIR/ct")" -lt $((4 * 1024 * 1024)) ]
    inB vmadm receive < "$BATS_TEST_TMPDIR/ct"
    inB vmadm start "$U"
    [ "$(inB vmadm login "$U" cat /root/hello.txt)" = MAGIC1 ]
    [ "$(inB vmadm get "$U" | jq -r .customer_metadata.k)" = v ]
    inB vmadm stop -F "$U"
    inB vmadm delete "$U"

    vmadm start "$U"
    vmadm login "$U" sh -c 'echo MAGIC2 > /root/hello.txt'
    run --separate-stderr vmadm migrate -a "$U" "root:$B"
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }
    [[ "$stderr" == *"switching: "* ]]
    [ "$(state "$B" "$U")" = running ] && [ "$(state "$A" "$U")" = stopped ]
    [ "$(inB vmadm login "$U" cat /root/hello.txt)" = MAGIC2 ]
    vmadm migrate --rollback "$U"
    [ "$(state "$A" "$U")" = running ]
    [ "$(vmadm login "$U" cat /root/hello.txt)" = MAGIC2 ]
    ! inB vmadm get "$U" >/dev/null 2>&1
}

@test "migrate --live: the guest keeps running (no reboot), disks and RAM moved, QEMU's downtime reported; refusals" {
    U=$(bhyve '"autoboot": true')
    ready "$A" "$U"
    hmp "$U" 'qemu-io disk1 "write -P 0x66 0 1M"'
    run --separate-stderr vmadm migrate --live --json "$U" "root:$B"
    [ "$status" -eq 0 ] || { echo "$output $stderr"; false; }
    echo "$output" | jq -e -s '.[-1] | .type == "end" and .state == "successful"' >/dev/null
    echo "$output" | jq -e -s '[.[] | select(.message | test("downtime [0-9]+ ms"))] | length == 1' >/dev/null
    [ "$(state "$B" "$U")" = running ] && [ "$(state "$A" "$U")" = stopped ]
    hidden "$A" "$U" && ! hidden "$B" "$U"
    # the same guest: it did not boot again at the destination
    ! tr -d '\r' < "$B/run/vms/$U/console.log" | grep -q "VMADM-GUEST: boot"
    jq -e '.live.downtime_ms >= 0' "$A/etc/migrations/$U.json"
    # written through the destination's QEMU after the move, then on disk
    VMADM_ROOT=$B hmp "$U" 'qemu-io disk1 "write -P 0x77 2M 1M"'
    inB vmadm stop -F "$U"
    holds "$B" "$U" disk1 0x66 0 && holds "$B" "$U" disk1 0x77 2M
    vmadm migrate --finalize "$U"
    ! vmadm get "$U" >/dev/null 2>&1

    # a stopped VM or a container cannot go live
    U2=$(bhyve '"autoboot": false')
    run --separate-stderr vmadm migrate --live "$U2" "root:$B"
    [ "$status" -eq 1 ] && [[ "$stderr" == *"--live needs a running VM"* ]]
}

@test "receive killed -9 mid-stream: nothing of the VM stays, the next receive of the same stream works" {
    U=$(bhyve '"autoboot": false')
    qemu-io -f qcow2 -c "write -P 0x5a 0 48M" "$(volfile "$A" "$U" disk1)" >/dev/null
    vmadm send "$U" > "$BATS_TEST_TMPDIR/full"
    # a receiver reading slowly, killed part-way
    { head -c 20000000 "$BATS_TEST_TMPDIR/full"; sleep 30; } | inB vmadm receive 2>/dev/null &
    sleep 2
    pkill -9 -f "$BUILD_DIR/src/vmadm/vmadm receive" || pkill -9 -f "vmadm receive"
    wait || true
    ! inB vmadm get "$U" >/dev/null 2>&1
    inB vmadm receive < "$BATS_TEST_TMPDIR/full"
    holds "$B" "$U" disk1 0x5a 0
    [ -z "$(ls -A "$B/etc/vms" | grep -v "^$U$")" ]
}

# The receive's checkpoint of ROOT's partial volume: its offset (0: none yet).
partial_offset() { # ROOT
    jq -r '[.datasets[] | .props["vmadm:receive_resume"] // empty | fromjson | .offset] | max // 0' \
        "$1/var/vmstore/zones/pool.json" 2>/dev/null || echo 0
}

# kill_receive ROOT: kill -9 the migration's receive into ROOT (only that
# root's: other roots may be migrating on this host).
kill_receive() {
    local p
    for p in $(pgrep -f "receive --hidden"); do
        tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -qx "VMADM_ROOT=$1" && kill -9 "$p"
    done
    return 0
}

# cut_at WANT: `vmadm migrate $U root:$B` killed (its receive, kill -9)
# once a checkpoint of at least WANT bytes is durable there; sets `at` to
# the checkpoint kept.  The source stays as it was (stopped, shown), the
# destination has no VM, and its next command keeps the partial receive.
cut_at() {
    local want=$1 pid i
    vmadm migrate --json "$U" "root:$B" > "$BATS_TEST_TMPDIR/cut.json" 2>/dev/null &
    pid=$!
    for i in $(seq 1200); do
        [ "$(partial_offset "$B")" -ge "$want" ] && break
        sleep 0.05
    done
    kill_receive "$B"
    wait "$pid" && { echo "the migration was not cut"; false; } || true
    at=$(partial_offset "$B")
    [ "$at" -ge "$want" ]
    [ "$(state "$A" "$U")" = stopped ] && ! hidden "$A" "$U"
    ! inB vmadm get "$U" >/dev/null 2>&1
    inB vmadm list >/dev/null
    [ "$(partial_offset "$B")" -eq "$at" ]
    echo "# cut at a checkpoint of $at bytes" >&3
}

# resumed_rerun DATA_BYTES: the re-run after cut_at completes, says what it
# resumed, and sends at most one chunk (64 MiB, + 1 MiB of records) more
# than the DATA_BYTES the last cut had not kept; no partial dataset is left.
resumed_rerun() {
    local data=$1 msg had sent
    run --separate-stderr vmadm migrate --json "$U" "root:$B"
    [ "$status" -eq 0 ] || { echo "$stderr"; false; }
    msg=$(echo "$output" | jq -r 'select(.message | startswith("resumed:")) | .message')
    echo "# $msg" >&3
    had=$(echo "$msg" | awk '{print $2}'); sent=$(echo "$msg" | awk '{print $(NF-1)}')
    [ "$had" -ge "$at" ]
    [ "$sent" -le $((data - at + 64 * 1048576 + 1048576)) ]
    [ "$(jq -r '[.datasets | keys[] | select(contains("-vmstore-"))] | length' "$B/var/vmstore/zones/pool.json")" = 0 ]
}

@test "resume: receivers killed -9 inside a disk; each re-run sends at most one chunk (64 MiB) of what arrived" {
    U=$(echo "{\"brand\": \"bhyve\", \"ram\": 128, \"autoboot\": false,
           \"disks\": [{\"image_uuid\": \"$IMG_HVM_A\", \"boot\": true, \"model\": \"virtio\"},
                       {\"size\": 512, \"model\": \"virtio\"}]}" |
        vmadm create 2>&1 | sed -n 's/^Successfully created VM //p')
    qemu-io -f qcow2 -c "write -P 0x6b 0 320M" -c "write -P 0x6c 400M 1M" "$(volfile "$A" "$U" disk1)" >/dev/null
    # 321 MiB of data; the second cut after the first's checkpoint
    cut_at 100000000
    cut_at 230000000
    resumed_rerun $((321 * 1048576))
    holds "$B" "$U" disk1 0x6b 0 && holds "$B" "$U" disk1 0x6b 300M && holds "$B" "$U" disk1 0x6c 400M
    [ ! -e "$B/etc/vms/.creating-$U" ]
    vmadm migrate --finalize "$U"
    inB vmadm get "$U" | jq -e '.do_not_inventory != true' >/dev/null
}

@test "resume: receivers killed -9 inside a container's root; each re-run sends at most one chunk of it again" {
    for r in "$A" "$B"; do
        VMADM_ROOT=$r imgadm install -m "$VMADM_TEST_CACHE/ct-A.json" -f "$VMADM_TEST_CACHE/ct-A.tar.gz" >/dev/null
    done
    U=$(echo "{\"brand\": \"joyent-minimal\", \"image_uuid\": \"$IMG_CT_A\", \"autoboot\": false}" |
        vmadm create 2>&1 | sed -n 's/^Successfully created VM //p')
    local root; root=$(vmadm get "$U" | jq -r .zonepath)/root
    # 320 MiB of random data in the root, small files after it
    head -c 320M /dev/urandom > "$root/big"
    mkdir "$root/zz" && for i in $(seq 200); do echo "$i" > "$root/zz/f$i"; done
    touch -d '2021-02-03 04:05:06' "$root/zz"
    local sum; sum=$(sha256sum < "$root/big")
    # the second cut: at the next checkpoint after the first (the copy is
    # fast: the first may be past 100 MB by a chunk or two)
    cut_at 100000000
    # the kept root is the filesystem's partial receive
    [ "$(jq -r "[.datasets | keys[] | select(. == \"zones/$U-vmstore-partial\")] | length" "$B/var/vmstore/zones/pool.json")" = 1 ]
    cut_at $((at + 1))
    resumed_rerun $((321 * 1048576))
    local broot; broot=$(inB vmadm get "$U" | jq -r .zonepath)/root
    [ "$(sha256sum < "$broot/big")" = "$sum" ]
    [ "$(cat "$broot/zz/f200")" = 200 ]
    [ "$(stat -c %Y "$broot/zz")" = "$(stat -c %Y "$root/zz")" ]
    vmadm migrate --finalize "$U"
    inB vmadm start "$U"
    [ "$(inB vmadm login "$U" cat /zz/f7)" = 7 ]
    inB vmadm stop -F "$U"
    inB vmadm delete "$U"
}

@test "receive -s / -A: an interrupted resumable receive is kept (repair leaves it) until discarded" {
    U=$(bhyve '"autoboot": false')
    qemu-io -f qcow2 -c "write -P 0x5a 0 60M" "$(volfile "$A" "$U" disk1)" >/dev/null
    vmadm send "$U" > "$BATS_TEST_TMPDIR/full"
    run --separate-stderr bash -c "head -c 30000000 '$BATS_TEST_TMPDIR/full' | VMADM_ROOT=$B vmadm receive -s"
    [ "$status" -ne 0 ] && [[ "$stderr" == *"truncated"* ]] || { echo "$status $stderr"; false; }
    [ -e "$B/etc/vms/.creating-$U/receive-resume.json" ]
    inB vmadm list >/dev/null
    [ -e "$B/etc/vms/.creating-$U" ]
    ! inB vmadm get "$U" >/dev/null 2>&1
    run --separate-stderr inB vmadm receive -A "$U"
    [ "$status" -eq 0 ] && [[ "$stderr" == *"Discarded the partial receive of VM $U"* ]]
    [ ! -e "$B/etc/vms/.creating-$U" ]
    [ "$(jq -r "[.datasets | keys[] | select(contains(\"$U\"))] | length" "$B/var/vmstore/zones/pool.json")" = 0 ]
    # the whole stream then goes in as usual
    inB vmadm receive -s < "$BATS_TEST_TMPDIR/full"
    holds "$B" "$U" disk1 0x5a 0
}
