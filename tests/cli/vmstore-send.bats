#!/usr/bin/env bats
# vmstore send / receive (zfs-shaped, lib/storage/send.c over the stream
# codec): full and incremental round trips compared byte for byte with
# qemu-img compare, and every refusal leaving the destination as it was.

bats_require_minimum_version 1.5.0
load helpers

setup() {
    vm_setup_root
    vmstore create -V 64M zones/v1
    D=$VMADM_ROOT/var/vmstore/zones/data
    S=$BATS_TEST_TMPDIR
}

teardown() {
    vm_teardown_root
}

# file DATASET: the qcow2 file holding the dataset's live data.
file() { echo "$D/$(jq -r --arg d "$1" '.datasets[$d].file' "$VMADM_ROOT/var/vmstore/zones/pool.json")"; }
io() { local ds=$1; shift; qemu-io -f qcow2 "$@" "$(file "$ds")" >/dev/null; }
same() { qemu-img compare -q -f qcow2 -F qcow2 "$(file "$1")" "$(file "$2")"; }
names() { vmstore list -H -t all -o name | tr '\n' ' '; }

@test "send | receive: full, then incremental; the copy is byte-identical at each snapshot" {
    io zones/v1 -c "write -P 0xab 1M 2M" -c "write -P 0xcd 40M 64k"
    vmstore snapshot zones/v1@a
    vmstore send zones/v1@a > "$S/full"
    # only the data travels: 2 MiB + 64 KiB of a 64 MiB volume
    [ "$(stat -c %s "$S/full")" -lt $((3 * 1024 * 1024)) ]
    vmstore receive zones/v2 < "$S/full"
    same zones/v1 zones/v2
    [ "$(vmstore get -H -p -o value volsize zones/v2)" = 67108864 ]
    [ "$(vmstore list -H -t snapshot -o name zones/v2)" = zones/v2@a ]

    # zeros written over data are a change too
    io zones/v1 -c "write -P 0x11 1M 4k" -c "write -z 40M 64k" -c "write -P 0x22 60M 1M"
    vmstore snapshot zones/v1@b
    vmstore send -i @a zones/v1@b > "$S/incr"
    [ "$(stat -c %s "$S/incr")" -lt $((2 * 1024 * 1024)) ]
    vmstore recv zones/v2 < "$S/incr"
    same zones/v1 zones/v2
    [ "$(vmstore list -H -t snapshot -o name zones/v2 | tr '\n' ' ')" = "zones/v2@a zones/v2@b " ]
    # -i accepts the base as "a", "@a" or "zones/v1@a"; same stream
    vmstore send -i a zones/v1@b | cmp - "$S/incr"
    vmstore send -i zones/v1@a zones/v1@b | cmp - "$S/incr"
}

@test "receive refusals leave the destination as it was" {
    io zones/v1 -c "write -P 0xab 0 1M"
    vmstore snapshot zones/v1@a
    vmstore send zones/v1@a > "$S/full"
    before=$(names)
    run vmstore receive zones/v1 < "$S/full"
    [ "$status" -eq 1 ]
    [ "$output" = "cannot receive new filesystem stream: destination 'zones/v1' exists" ]
    # a flipped byte, a cut stream, something else entirely: nothing created
    cp "$S/full" "$S/bad"
    printf '\x00' | dd of="$S/bad" bs=1 seek=500000 conv=notrunc status=none
    run vmstore receive zones/v3 < "$S/bad"
    [ "$status" -eq 1 ]
    [[ "$output" == "invalid stream: record digest mismatch"* ]]
    run sh -c "head -c 700000 '$S/full' | vmstore receive zones/v3"
    [ "$status" -eq 1 ]
    [[ "$output" == "invalid stream: truncated"* ]]
    run sh -c "echo hello | vmstore receive zones/v3"
    [ "$status" -eq 1 ]
    [[ "$output" == "invalid stream: "* ]]
    [ "$(names)" = "$before" ]

    # incremental onto the wrong base, or onto a modified destination
    vmstore receive zones/v2 < "$S/full"
    io zones/v1 -c "write -P 0x33 0 64k"
    vmstore snapshot zones/v1@b
    vmstore snapshot zones/v1@c
    vmstore send -i @b zones/v1@c > "$S/b-c"
    run vmstore receive zones/v2 < "$S/b-c"
    [ "$status" -eq 1 ]
    [ "$output" = "cannot receive incremental stream: most recent snapshot of 'zones/v2' does not match incremental source 'zones/v2@b'" ]
    vmstore send -i @a zones/v1@b > "$S/a-b"
    io zones/v2 -c "write -P 0x44 2M 64k"
    run vmstore receive zones/v2 < "$S/a-b"
    [ "$status" -eq 1 ]
    [ "$output" = "cannot receive incremental stream: destination 'zones/v2' has been modified since most recent snapshot" ]
    [ "$(vmstore list -H -t snapshot -o name zones/v2)" = zones/v2@a ]
    run vmstore receive zones/nosuch < "$S/a-b"
    [ "$status" -eq 1 ]
    [ "$output" = "cannot receive incremental stream: destination 'zones/nosuch' does not exist" ]
}

@test "send refuses a terminal, a dataset that is not a snapshot, a missing snapshot" {
    run vmstore send zones/v1
    [ "$status" -eq 2 ]
    run sh -c 'vmstore send zones/v1@nope > /dev/null'
    [ "$status" -eq 1 ]
    [[ "$output" == *"zones/v1@nope"* ]]
    # script(1) gives the command a terminal as stdout
    run script -qec "vmstore snapshot zones/v1@a; vmstore send zones/v1@a" /dev/null
    [[ "$output" == *"Stream can not be written to a terminal"* ]]
    # the hold taken while sending is gone afterwards
    vmstore send zones/v1@a > /dev/null
    [ -z "$(vmstore holds -H zones/v1@a)" ]
}

@test "receive -s / send -t / receive -A: a cut receive resumes from its last checkpoint (zfs's resume tokens)" {
    vmstore create -V 384M zones/big
    io zones/big -c "write -P 0x31 0 200M" -c "write -P 0x32 300M 1M"
    vmstore snapshot zones/big@a
    vmstore send zones/big@a > "$S/full"
    # the stream cut after ~150 MB: two 64 MiB checkpoints are durable
    run --separate-stderr bash -c "head -c 150000000 '$S/full' | vmstore receive -s zones/copy"
    [ "$status" -ne 0 ] && [[ "$stderr" == *truncated* ]] || { echo "$stderr"; false; }
    [ "$(names)" = "zones zones/big zones/big@a zones/copy-vmstore-partial zones/v1 " ] || { names; false; }
    ! vmstore get -H -o value name zones/copy 2>/dev/null
    tok=$(vmstore get -H -o value receive_resume_token zones/copy-vmstore-partial)
    [[ "$tok" == 1-* ]]
    [ "$(vmstore get -H -o value receive_resume_token zones/big)" = - ]
    # the resumed stream starts at the checkpoint (134217728): ~67 MB, not 201
    vmstore send -t "$tok" > "$S/rest"
    [ "$(stat -c %s "$S/rest")" -lt 70000000 ] && [ "$(stat -c %s "$S/rest")" -gt 60000000 ]
    # only a resumable receive takes it; then the copy is whole
    run --separate-stderr vmstore receive zones/copy < "$S/rest"
    [ "$status" -ne 0 ] && [[ "$stderr" == *"resumes a partial receive (-s)"* ]]
    vmstore receive -s zones/copy < "$S/rest"
    same zones/big zones/copy
    [ "$(names)" = "zones zones/big zones/big@a zones/copy zones/copy@a zones/v1 " ] || { names; false; }

    # a token for another object, a corrupt token, a resume with no partial there
    run --separate-stderr vmstore send -t 1-7a7a
    [ "$status" -ne 0 ] && [[ "$stderr" == *"resume token is corrupt"* ]]
    run --separate-stderr vmstore receive -s zones/other < "$S/rest"
    [ "$status" -ne 0 ] && [[ "$stderr" == *"no partial receive is there"* ]]
    [ "$(names)" = "zones zones/big zones/big@a zones/copy zones/copy@a zones/v1 " ]

    # -A discards a partial; a full stream from byte 0 discards it too
    head -c 100000000 "$S/full" | vmstore receive -s zones/third 2>/dev/null && false
    vmstore list -H -o name zones/third-vmstore-partial
    vmstore receive -A zones/third
    ! vmstore list -H -o name zones/third-vmstore-partial 2>/dev/null
    head -c 100000000 "$S/full" | vmstore receive -s zones/third 2>/dev/null && false
    vmstore receive -s zones/third < "$S/full"
    same zones/big zones/third
}
