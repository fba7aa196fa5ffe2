#!/usr/bin/env bats
# vmadm's options, parsed one way for every verb (issue 19, common/opts.h):
# bundled short flags (-Ho, -Hpo, -1j, -Ft), an option's value from the rest
# of its word or the next word, options before or after positionals (C8),
# `--` ends options, -v/-d/--verbose/--debug everywhere, and an unknown
# option is a usage error (exit 2) naming it.  Two VMs, never started.

load helpers
load fixtures/vmadm-lib

UB=5b5b5b5b-1111-4111-8111-111111111111   # bhyve, alias fb0
UJ=5c5c5c5c-2222-4222-8222-222222222222   # joyent-minimal, alias fj0
NONE=00000000-0000-4000-8000-000000000000

setup_file() {
    vm_setup_root
    install_ct
    local d=$BATS_FILE_TMPDIR
    make_zvol_image "$ZVOL_IMG" 64 "$d"
    imgadm install -m "$d/$ZVOL_IMG.json" -f "$d/$ZVOL_IMG.raw" >/dev/null
    echo "{\"uuid\":\"$UB\",\"brand\":\"bhyve\",\"alias\":\"fb0\",\"autoboot\":false,\"ram\":256}" > $d/b.json
    echo "{\"uuid\":\"$UJ\",\"brand\":\"joyent-minimal\",\"image_uuid\":\"$IMG_CT_A\",\"alias\":\"fj0\",\"autoboot\":false,\"max_physical_memory\":128}" > $d/j.json
    vmadm create -f $d/b.json 2>/dev/null
    vmadm create -f $d/j.json 2>/dev/null
}

teardown_file() {
    vm_teardown_root
}

# bad_opt LETTER CMD...: CMD is refused as usage (exit 2), naming the option.
bad_opt() {
    local l=$1; shift
    run --separate-stderr "$@"
    [ "$status" -eq 2 ] || { echo "$* -> $status: $stderr" >&2; return 1; }
    [[ "$stderr" == "invalid option '$l'"* ]] || { echo "$* -> $stderr" >&2; return 1; }
    [[ "$stderr" == *"Usage: vmadm <command> [options]"* ]]
}

@test "list: -Ho, -Hpo, -Houuid, options after filters, -s -key" {
    run --separate-stderr vmadm list -Ho uuid alias=fb0
    [ "$status" -eq 0 ] && [ "$output" = "$UB" ]
    run --separate-stderr vmadm list -Hpo uuid,ram
    [ "$status" -eq 0 ]
    [ "$output" = "$(printf '%s:128\n%s:256' $UJ $UB)" ]
    run vmadm list -Houuid alias=fj0
    [ "$output" = "$UJ" ]
    run vmadm list alias=fj0 -H -o alias
    [ "$output" = "fj0" ]
    run vmadm list -Ho alias -s -ram
    [ "$output" = "$(printf 'fb0\nfj0')" ]
    run vmadm list -pHo alias,ram -s ram
    [ "$output" = "$(printf 'fj0:128\nfb0:256')" ]
    run vmadm list -vd --verbose --debug -Ho alias alias=fb0
    [ "$output" = "fb0" ]
}

@test "list: -- ends options; -o without a value; unknown options" {
    run --separate-stderr vmadm list -H -- -o
    [ "$status" -eq 1 ] && [ "$stderr" = 'Invalid filter key: "-o"' ]
    run --separate-stderr vmadm list -Ho
    [ "$status" -eq 2 ] && [[ "$stderr" == "missing argument for 'o' option"* ]]
    bad_opt Z vmadm list -HZ
    bad_opt j vmadm list -j
    run --separate-stderr vmadm list --bogus
    [ "$status" -eq 2 ] && [[ "$stderr" == "unrecognized option '--bogus'"* ]]
}

@test "lookup: -1j, -j1o, -1, -jo uuid,alias, options after filters" {
    run --separate-stderr vmadm lookup -1j alias=fb0
    [ "$status" -eq 0 ]
    [ "$(echo "$output" | jq -r '.[0].uuid')" = "$UB" ]
    run --separate-stderr vmadm lookup -j1o alias alias=fj0
    [ "$status" -eq 0 ] && [ "$(echo "$output" | jq -c .)" = '[{"alias":"fj0"}]' ]
    run --separate-stderr vmadm lookup alias=fj0 -1
    [ "$status" -eq 0 ] && [ "$output" = "$UJ" ]
    run --separate-stderr vmadm lookup -1
    [ "$status" -eq 1 ] && [ "$stderr" = "Requested unique lookup but found 2 results." ]
    run --separate-stderr vmadm lookup -jo uuid,alias type=BHYV
    [ "$(echo "$output" | jq -c .)" = "[{\"uuid\":\"$UB\",\"alias\":\"fb0\"}]" ]
    bad_opt H vmadm lookup -1H
}

@test "create -f / -ffile / -f -, validate -f, update -f, reprovision -f" {
    local d=$BATS_TEST_TMPDIR
    echo '{"brand":"bhyve","alias":"fb1","autoboot":false,"ram":128}' > $d/c.json
    run --separate-stderr vmadm create -vf $d/c.json
    [ "$status" -eq 0 ] && [[ "$stderr" =~ ^Successfully\ created\ VM\ ([0-9a-f-]{36})$ ]]
    local u=${BASH_REMATCH[1]}
    run --separate-stderr vmadm validate create -f$d/c.json
    [ "$status" -eq 0 ] && [ "$stderr" = "VALID 'create' payload for bhyve brand VMs." ]
    echo '{"ram":192}' > $d/u.json
    run --separate-stderr vmadm update $u -f $d/u.json
    [ "$status" -eq 0 ] && [ "$(vmadm list -Hpo ram uuid=$u)" = 192 ]
    run --separate-stderr vmadm update -f - $u < $d/u.json
    [ "$status" -eq 0 ]
    run --separate-stderr vmadm reprovision $u -f $d/nonexistent.json
    [ "$status" -eq 1 ] && [ "$stderr" = "File: $d/nonexistent.json does not exist." ]
    run --separate-stderr vmadm delete -d $u
    [ "$status" -eq 0 ] && [ "$stderr" = "Successfully deleted VM $u" ]
    bad_opt F vmadm create -F
    bad_opt x vmadm validate -x create
    bad_opt j vmadm update $u -j
    bad_opt Z vmadm reprovision -Z $u
    bad_opt F vmadm delete -F $u
}

@test "get, info, disks -Ho, snapshots, sysrq, console: options and unknown ones" {
    run --separate-stderr vmadm get -v $UB
    [ "$status" -eq 0 ] && [ "$(echo "$output" | jq -r .alias)" = fb0 ]
    bad_opt j vmadm get -j $UB
    run --separate-stderr vmadm info $UB -d
    [ "$status" -eq 1 ] && [[ "$stderr" == "Unable to get VM info for VM $UB: "* ]]
    bad_opt H vmadm info -H $UB
    run --separate-stderr vmadm disks -Ho slot $UB
    [ "$status" -eq 0 ] && [ -z "$output" ]
    bad_opt p vmadm disks -Hpo slot $UB
    run --separate-stderr vmadm create-snapshot -v $UJ s1
    [ "$status" -eq 0 ] && [ "$stderr" = "Created snapshot s1 for VM $UJ" ]
    run --separate-stderr vmadm delete-snapshot $UJ s1 --debug
    [ "$status" -eq 0 ] && [ "$stderr" = "Deleted snapshot s1 for VM $UJ" ]
    bad_opt r vmadm rollback-snapshot -r $UJ s1
    bad_opt x vmadm sysrq -x $UB nmi
    bad_opt x vmadm console -x $UB
}

@test "start args, stop -F / -Ft, reboot -F: bundled; unknown options" {
    run --separate-stderr vmadm stop -F $UB
    [ "$status" -eq 1 ] && [[ "$stderr" == *"already not 'running'"* ]]
    run --separate-stderr vmadm stop $UB -Ft 5
    [ "$status" -eq 1 ] && [[ "$stderr" == *"already not 'running'"* ]]
    run --separate-stderr vmadm stop -t
    [ "$status" -eq 2 ] && [[ "$stderr" == "missing argument for 't' option"* ]]
    run --separate-stderr vmadm reboot -F $UB
    [ "$status" -eq 1 ] && [[ "$stderr" == *'Cannot reset vm from state "stopped", must be "running".'* ]]
    bad_opt x vmadm stop -Fx $UB
    bad_opt j vmadm reboot -j $UB
    bad_opt F vmadm start -F $UB
    run --separate-stderr vmadm start $UB bogus=1
    [ "$status" -eq 2 ] && [[ "$stderr" == "Invalid argument to start: bogus"* ]]
}

@test "kill: -s SIG, -sSIG, -SIG, -9, -- and errors" {
    for a in "-s KILL" "-sKILL" "-KILL" "-9" "-SIGTERM" "-v -s HUP"; do
        run --separate-stderr vmadm kill $a $UJ
        [ "$status" -eq 1 ] || { echo "kill $a: $status $stderr"; false; }
        [ "$stderr" = "Cannot find running init PID for VM $UJ" ] || { echo "kill $a: $stderr"; false; }
    done
    run --separate-stderr vmadm kill -- $UJ
    [ "$status" -eq 1 ] && [ "$stderr" = "Cannot find running init PID for VM $UJ" ]
    run --separate-stderr vmadm kill -s
    [ "$status" -eq 2 ] && [[ "$stderr" == "missing argument for 's' option"* ]]
    run --separate-stderr vmadm kill -s BOGUS $UJ
    [ "$status" -eq 2 ] && [[ "$stderr" == "Invalid signal"* ]]
    run --separate-stderr vmadm kill $UJ $UB
    [ "$status" -eq 2 ] && [[ "$stderr" == "Too many arguments."* ]]
}

@test "login: options stop at the uuid (the command keeps its own)" {
    run --separate-stderr vmadm login -v $UJ ls -l
    [ "$status" -eq 1 ]
    [[ "$stderr" != *"invalid option"* ]]
    bad_opt x vmadm login -x $UJ
}

@test "events: -fjr bundled; unknown options; boot-all refuses options" {
    bad_opt x vmadm events -fx
    run --separate-stderr vmadm events -rj
    [ "$status" -eq 1 ] && [[ "$stderr" == "vminfod is not running"* ]]
    bad_opt F vmadm boot-all -F
}

# Table output (issue 19): a column is as wide as its SmartOS width or its
# widest cell, so a long value never pushes the next column out of line;
# control characters are escaped in tables and in `vmadm events` lines.
@test "list: columns sized to their content; control characters escaped" {
    local d=$BATS_TEST_TMPDIR u
    printf '{"brand":"bhyve","alias":"a-very-long-alias-0","autoboot":false,"ram":128,"tags":{"t":"red\\u001b[31mx"},"disks":[{"image_uuid":"%s","boot":true,"model":"virtio"}]}' \
        "$ZVOL_IMG" > $d/l.json
    u=$(vmadm create -f $d/l.json 2>&1 | sed 's/.* //')
    run vmadm list -o alias,ram,tags.t,uuid -s ram,alias
    [ "$status" -eq 0 ]
    # header and every row: each column starts at the same offset
    [ "${lines[0]}" = "ALIAS                RAM      TAGS.T                UUID" ]
    [ "${lines[1]}" = "a-very-long-alias-0  128      red\x1b[31mx          $u" ]
    [ "${lines[2]}" = "fj0                  128      -                     $UJ" ]
    run vmadm list -o disks.0.image_uuid,alias uuid=$u
    [ "${lines[0]}" = "DISKS.0.IMAGE_UUID                    ALIAS" ]
    [ "${lines[1]}" = "$ZVOL_IMG  a-very-long-alias-0" ]
    run vmadm disks -o slot,image,model $u
    [ "${lines[0]}" = "SLOT           IMAGE                                 MODEL" ]
    [ "${lines[1]}" = "disk0          $ZVOL_IMG  virtio" ]
    # -p: no padding, still escaped
    run vmadm list -Hpo alias,tags.t uuid=$u
    [ "$output" = 'a-very-long-alias-0:red\x1b[31mx' ]
    vmadm delete $u 2>/dev/null
}

@test "events: control characters in an alias (hand-edited config) or a tag key are escaped" {
    start_vminfod
    vmadm events $UB > $BATS_TEST_TMPDIR/ev 2>&1 &
    local ep=$! cfg=$VMADM_ROOT/etc/vms/$UB/vm.json
    sleep 1
    jq '.alias = "x\u001b]0;t"' $cfg > $cfg.new && mv $cfg.new $cfg
    wait_for grep -q 'alias changed' $BATS_TEST_TMPDIR/ev
    echo '{"set_tags":{"k\u0007":"v"}}' | vmadm update $UB 2>/dev/null
    wait_for grep -q 'tags' $BATS_TEST_TMPDIR/ev
    kill $ep
    grep -F 'x\x1b]0;t modify: alias changed :: "fb0" -> "x\u001B]0;t"' $BATS_TEST_TMPDIR/ev
    grep -F 'x\x1b]0;t modify: tags.k\x07 added :: undefined -> "v"' $BATS_TEST_TMPDIR/ev
    ! grep -q $'[\033\007]' $BATS_TEST_TMPDIR/ev
    jq '.alias = "fb0" | del(.tags)' $cfg > $cfg.new && mv $cfg.new $cfg
    kill "$VMINFOD_PID"
}

@test "events -rj: SmartOS's lines (ready with vms by zonename; create, modify with changes, delete)" {
    start_vminfod
    vmadm events -rj > $BATS_TEST_TMPDIR/ev 2>$BATS_TEST_TMPDIR/everr &
    local ep=$! u
    wait_for grep -q ready $BATS_TEST_TMPDIR/ev
    u=$(echo '{"brand":"bhyve","alias":"ev0","autoboot":false,"ram":128}' | vmadm create 2>&1 | sed 's/.* //')
    vmadm update $u alias=ev1 2>/dev/null
    vmadm delete $u 2>/dev/null
    wait_for grep -q '"type":"delete"' $BATS_TEST_TMPDIR/ev
    kill $ep
    [ ! -s $BATS_TEST_TMPDIR/everr ]
    local f=$BATS_TEST_TMPDIR/ev
    # SmartOS's keys in SmartOS's order; our one addition, "seq" (resume
    # with /events?since=), comes last where SmartOS parsers ignore it
    [ "$(sed -n 1p $f | jq -c 'keys_unsorted')" = '["type","date","uuid","vms","seq"]' ]
    [ "$(sed -n 1p $f | jq -c '.vms | keys')" = "[\"$UB\",\"$UJ\"]" ]
    [ "$(sed -n 1p $f | jq -r ".vms[\"$UB\"].alias")" = fb0 ]
    [ "$(jq -c 'select(.type == "create") | keys_unsorted' $f)" = '["type","date","zonename","uuid","vm","seq"]' ]
    jq -se "[.[] | select(.type == \"modify\" and .uuid == \"$u\") | .changes[] | select(.path == [\"alias\"] and .prettyPath == \"alias\" and .action == \"changed\" and .oldValue == \"ev0\" and .newValue == \"ev1\")] | length == 1" $f
    [ "$(jq -c 'select(.type == "delete") | keys_unsorted' $f)" = '["type","date","zonename","uuid","seq"]' ]
    # one JSON object per line, dates in ISO form
    [ "$(jq -r '.date' $f | grep -cvE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$')" = 0 ]
    kill "$VMINFOD_PID"
}

@test "sysinfo: SmartOS's keys from this host, VM and image counts; no options" {
    run --separate-stderr vmadm sysinfo
    [ "$status" -eq 0 ]
    local j=$output
    [[ "$(echo "$j" | jq -r .UUID)" =~ ^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$ ]]
    [ "$(echo "$j" | jq -r .Hostname)" = "$(hostname)" ]
    [ "$(echo "$j" | jq -r '."System Type"')" = Linux ]
    [ "$(echo "$j" | jq -r '."CPU Total Cores"')" = "$(nproc)" ]
    [ "$(echo "$j" | jq -r '."MiB of Memory"')" = "$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 ))" ]
    [ "$(echo "$j" | jq -r '."Boot Time"')" = "$(awk '/btime/ {print $2}' /proc/stat)" ]
    [ "$(echo "$j" | jq -r .Zpool)" = zones ]
    [ "$(echo "$j" | jq -r '."VM Count"')" = 2 ]
    [ "$(echo "$j" | jq -r '."Image Count"')" = 2 ]
    echo "$j" | jq -e '(."Zpool Size in GiB" | type) == "number" and (.Disks | type) == "object"
        and (."Network Interfaces" | type) == "object" and ."VM Capable" == true'
    # every physical link is listed with its MAC
    local l
    for l in $(ls /sys/class/net); do
        [ -e /sys/class/net/$l/device ] || continue
        [ "$(echo "$j" | jq -r ".\"Network Interfaces\".\"$l\".\"MAC Address\"")" = "$(cat /sys/class/net/$l/address)" ]
    done
    # NIC tags (lib/net's store) show as the link's "NIC Names"
    l=$(for l in $(ls /sys/class/net); do [ -e /sys/class/net/$l/device ] && echo $l; done | head -1)
    if [ -n "$l" ]; then
        echo "{\"admin\":{\"bridge\":\"admin0\",\"link\":\"$l\",\"mac\":\"\",\"mtu\":0,\"local\":false,\"owned\":true},
               \"stub0\":{\"bridge\":\"stub0\",\"link\":\"\",\"mac\":\"\",\"mtu\":0,\"local\":true,\"owned\":true}}" \
            > $VMADM_ROOT/etc/nictags.json
        run vmadm sysinfo
        [ "$(echo "$output" | jq -c ".\"Network Interfaces\".\"$l\".\"NIC Names\"")" = '["admin"]' ]
        [ "$(echo "$output" | jq -r '."Virtual Network Interfaces".stub0."Host Interface"')" = stub0 ]
        rm $VMADM_ROOT/etc/nictags.json
    fi
    bad_opt j vmadm sysinfo -j
    run --separate-stderr vmadm sysinfo extra
    [ "$status" -eq 2 ]
}

@test "start order= once= (HVM): this start's QEMU -boot, no bootindex; refused for containers and bad letters" {
    local d=$BATS_TEST_TMPDIR u
    printf '{"brand":"bhyve","alias":"bo0","autoboot":false,"ram":128,"disks":[{"image_uuid":"%s","boot":true,"model":"virtio"}]}' \
        "$ZVOL_IMG" > $d/bo.json
    run --separate-stderr vmadm create -f $d/bo.json
    [[ "$stderr" =~ ^Successfully\ created\ VM\ ([0-9a-f-]{36})$ ]] || { echo "create: $stderr"; false; }
    u=${BASH_REMATCH[1]}
    run --separate-stderr vmadm start $u order=cd once=d
    [ "$status" -eq 0 ] && [ "$stderr" = "Successfully started VM $u" ] || { echo "start: $status $stderr"; false; }
    local cmd; cmd=$(tr '\0' ' ' < /proc/$(pgrep -f "qemu-system.*-uuid $u" | head -1)/cmdline)
    [[ "$cmd" == *" -boot order=cd,once=d "* ]]
    [[ "$cmd" != *bootindex* ]]
    vmadm stop -F $u 2>/dev/null
    # the next plain start is back to the disk's bootindex
    vmadm start $u 2>/dev/null
    cmd=$(tr '\0' ' ' < /proc/$(pgrep -f "qemu-system.*-uuid $u" | head -1)/cmdline)
    [[ "$cmd" != *" -boot "* && "$cmd" == *bootindex=0* ]]
    vmadm stop -F $u 2>/dev/null
    run --separate-stderr vmadm start $u order=cd order=d
    [ "$status" -eq 2 ] && [[ "$stderr" == "You can only specify 'order' once when starting a VM"* ]]
    run --separate-stderr vmadm start $u order=c:
    [ "$status" -eq 2 ] && [ "$stderr" = "Unable to start VM $u: Invalid boot device order: c:" ]
    run --separate-stderr vmadm start $u disk=/x,virtio
    [ "$status" -eq 2 ] && [[ "$stderr" == "Invalid argument to start: disk"* ]]
    run --separate-stderr vmadm start $UJ order=c
    [ "$status" -eq 2 ] && [ "$stderr" = "Unable to start VM $UJ: Invalid argument to start: order" ]
    [ "$(vmadm list -Hpo state uuid=$u)" = stopped ]
    vmadm delete $u 2>/dev/null
}
