#!/usr/bin/env bats
# Many vmadm processes at once: 50 parallel creates, 20 parallel updates of
# one VM, readers during writes.  Everything must succeed and the store must
# stay consistent.

load helpers
load fixtures/vmadm-lib

setup() {
    vm_setup_root
}

teardown() {
    vm_teardown_root
}

@test "50 parallel creates: all succeed, 50 distinct VMs, list consistent" {
    install_ct
    fixture joyent-minimal >/dev/null
    D=$BATS_TEST_TMPDIR/par
    mkdir -p $D
    for i in $(seq 1 50); do
        if [ $((i % 2)) -eq 0 ]; then
            jq -c ".alias = \"par$i\"" "$BATS_TEST_TMPDIR/joyent-minimal.json" > $D/p$i.json
        else
            echo "{\"brand\":\"bhyve\",\"autoboot\":false,\"alias\":\"par$i\",\"disks\":[{\"size\":16,\"boot\":true,\"model\":\"virtio\"}]}" > $D/p$i.json
        fi
    done
    for i in $(seq 1 50); do
        ( vmadm create -f $D/p$i.json > $D/out$i 2> $D/err$i; echo $? > $D/rc$i ) &
    done
    wait
    for i in $(seq 1 50); do
        [ "$(cat $D/rc$i)" = 0 ] || { echo "create $i: $(cat $D/err$i)"; false; }
        [ ! -s $D/out$i ]
        grep -Eq '^Successfully created VM [0-9a-f-]{36}$' $D/err$i
    done
    created=$(sed 's/^Successfully created VM //' $D/err* | sort)
    [ "$(echo "$created" | sort -u | wc -l)" -eq 50 ]
    [ "$(vmadm lookup | sort)" = "$created" ]
    run vmadm list -H -o alias
    [ "${#lines[@]}" -eq 50 ]
    [ "$(printf '%s\n' "${lines[@]}" | sort -u | wc -l)" -eq 50 ]
    for u in $created; do
        vmadm get $u | jq -e '.state == "stopped"' >/dev/null
        [ -n "$(datasets_of $u)" ]
    done
    [ "$(vmadm list -H type=BHYV | wc -l)" -eq 25 ]
    [ "$(vmadm list -H type=OS | wc -l)" -eq 25 ]
    # no leftovers of staging
    [ -z "$(ls -A $VMADM_ROOT/etc/vms | grep '^\.' || true)" ]
}

@test "20 parallel updates of one VM: every tag lands, files stay valid" {
    create_ok "$(fixture bhyve-nodisk)"
    D=$BATS_TEST_TMPDIR/upd
    mkdir -p $D
    for i in $(seq 1 20); do
        ( vmadm update $VM -f <(echo "{\"set_tags\":{\"t$i\":$i},\"set_customer_metadata\":{\"k$i\":\"v$i\"}}") \
            > $D/out$i 2> $D/err$i; echo $? > $D/rc$i ) &
    done
    # readers while the writers work: every get must succeed
    for r in $(seq 1 20); do
        vmadm get $VM > $D/get$r || { echo "get $r failed"; false; }
        jq -e .uuid $D/get$r >/dev/null
    done
    wait
    for i in $(seq 1 20); do
        [ "$(cat $D/rc$i)" = 0 ] || { echo "update $i: $(cat $D/err$i)"; false; }
        [ "$(cat $D/err$i)" = "Successfully updated VM $VM" ]
    done
    [ "$(jget $VM '.tags|length')" = 20 ]
    [ "$(jget $VM '.customer_metadata|length')" = 20 ]
    for i in $(seq 1 20); do
        [ "$(jget $VM .tags.t$i)" = $i ]
        [ "$(jget $VM .customer_metadata.k$i)" = v$i ]
    done
    jq . $VMADM_ROOT/etc/vms/$VM/vm.json >/dev/null
    jq . $VMADM_ROOT/zones/$VM/config/tags.json >/dev/null
    jq . $VMADM_ROOT/zones/$VM/config/metadata.json >/dev/null
    [ ! -e $VMADM_ROOT/etc/vms/$VM/journal.json ]
}

@test "parallel update and delete of different VMs do not disturb each other" {
    D=$BATS_TEST_TMPDIR/mix
    mkdir -p $D
    for i in $(seq 1 10); do
        create_ok "$(fixture bhyve-nodisk)"
        echo $VM >> $D/vms
    done
    i=0
    while read -r u; do
        i=$((i + 1))
        if [ $((i % 2)) -eq 0 ]; then
            ( vmadm delete $u 2> $D/err$i; echo $? > $D/rc$i ) &
        else
            ( vmadm update $u alias=kept$i 2> $D/err$i; echo $? > $D/rc$i ) &
        fi
    done < $D/vms
    ( for r in $(seq 1 10); do vmadm list -H > /dev/null || echo "list failed" >> $D/readerr; done ) &
    wait
    for i in $(seq 1 10); do
        [ "$(cat $D/rc$i)" = 0 ] || { echo "op $i: $(cat $D/err$i)"; false; }
    done
    [ ! -e $D/readerr ]
    run vmadm list -H -o alias -s alias
    [ "$output" = "$(printf 'kept%s\n' 1 3 5 7 9)" ]
}
