#!/usr/bin/env bats
# Issue 14 #5, the store side: a local unprivileged user cannot read a VM's
# vnc_password, customer or internal metadata (vm.json, config/metadata.json,
# the journal) nor its console log; root's vmadm still shows everything.
# The test root is opened up (0755) first, as /var/lib/vmadm is, so only the
# store's own modes stand between the user and the secrets.

load helpers

setup() {
    [ "$(id -u)" = 0 ] || skip "needs root (runs commands as nobody)"
    vm_setup_root
    chmod 0755 "$VMADM_ROOT"
}

teardown() {
    vm_teardown_root
}

# as_nobody CMD...: runs CMD as the unprivileged user nobody.
as_nobody() {
    setpriv --reuid=nobody --regid=nogroup --clear-groups -- "$@"
}

mk_secret_vm() {
    vmadm create 2>/dev/null <<'EOT'
{"uuid": "5ec0e75e-0000-4000-8000-000000000001", "brand": "bhyve", "autoboot": false, "ram": 256,
 "vnc_password": "VNCSEC_1",
 "customer_metadata": {"root_pw": "PWSECRET1", "role": "web"},
 "internal_metadata": {"token": "INTSECRET1"}}
EOT
}
U=5ec0e75e-0000-4000-8000-000000000001

@test "secrets: vm.json, metadata.json and the runtime dir are root-only" {
    mk_secret_vm
    local cfg="$VMADM_ROOT/etc/vms/$U/vm.json"
    local md="$VMADM_ROOT/zones/$U/config/metadata.json"
    # the secrets are really there (the attack has something to find)
    grep -q VNCSEC_1 "$cfg"
    grep -q PWSECRET1 "$md"
    grep -q INTSECRET1 "$md"
    [ "$(stat -c %a "$VMADM_ROOT/etc/vms")" = 700 ]
    [ "$(stat -c %a "$VMADM_ROOT/etc/vms/$U")" = 700 ]
    [ "$(stat -c '%a %u' "$cfg")" = "600 0" ]
    [ "$(stat -c %a "$VMADM_ROOT/zones/$U/config")" = 700 ]
    [ "$(stat -c '%a %u' "$md")" = "600 0" ]
    [ "$(stat -c %a "$VMADM_ROOT/run/vms")" = 711 ]
    [ "$(stat -c %a "$VMADM_ROOT/run/vms/$U")" = 700 ]
    run as_nobody cat "$cfg"
    [ "$status" -ne 0 ]
    [[ "$output" != *SEC* ]]
    run as_nobody cat "$md"
    [ "$status" -ne 0 ]
    [[ "$output" != *SEC* ]]
    run as_nobody ls "$VMADM_ROOT/etc/vms"
    [ "$status" -ne 0 ]
    run as_nobody ls "$VMADM_ROOT/run/vms"
    [ "$status" -ne 0 ]
    # a console log in the VM's runtime dir, whatever its own mode
    echo "login: CONSOLESECRET" > "$VMADM_ROOT/run/vms/$U/console.log"
    chmod 0644 "$VMADM_ROOT/run/vms/$U/console.log"
    run as_nobody cat "$VMADM_ROOT/run/vms/$U/console.log"
    [ "$status" -ne 0 ]
    [[ "$output" != *SEC* ]]
    # nobody's vmadm cannot read them either
    run as_nobody env VMINFOD_ADDR=none VMADM_ROOT="$VMADM_ROOT" "$BUILD_DIR/src/vmadm/vmadm" get "$U"
    [[ "$output" != *SEC* ]]
    # root's vmadm still shows everything
    run vmadm get "$U"
    [ "$status" -eq 0 ]
    [ "$(echo "$output" | jq -r .vnc_password)" = VNCSEC_1 ]
    [ "$(echo "$output" | jq -r .customer_metadata.root_pw)" = PWSECRET1 ]
    [ "$(echo "$output" | jq -r .internal_metadata.token)" = INTSECRET1 ]
}

@test "secrets: an update keeps the files private, and old 0644 files are tightened on rewrite" {
    mk_secret_vm
    local cfg="$VMADM_ROOT/etc/vms/$U/vm.json"
    local md="$VMADM_ROOT/zones/$U/config/metadata.json"
    vmadm update "$U" vnc_password=VNCSEC_2 2>/dev/null
    echo '{"set_customer_metadata": {"admin_pw": "PWSECRET2"}}' | vmadm update "$U" 2>/dev/null
    grep -q VNCSEC_2 "$cfg"
    grep -q PWSECRET2 "$md"
    [ "$(stat -c %a "$cfg")" = 600 ]
    [ "$(stat -c %a "$md")" = 600 ]
    run as_nobody cat "$cfg" "$md"
    [ "$status" -ne 0 ]
    [[ "$output" != *SEC* ]]
    # a tree from an older version (0755 etc/vms) is tightened by the next command
    chmod 0755 "$VMADM_ROOT/etc/vms"
    vmadm list >/dev/null
    [ "$(stat -c %a "$VMADM_ROOT/etc/vms")" = 700 ]
    [ "$(stat -c %a "$VMADM_ROOT/var/log/vmadm.log")" = 600 ]
}
