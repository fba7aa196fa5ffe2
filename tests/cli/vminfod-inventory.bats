#!/usr/bin/env bats
# do_not_inventory (issue 19 part 2, Triton's migration workflow; issue
# 17's hidden migration source): a VM with it is left out of `vmadm list`
# and vminfod's default view of /vms, unless asked for (a filter on the
# key; /vms?all=true); `vmadm get` still shows it, and `vmadm lookup`
# lists it as SmartOS's does (node-vmadm filters with include_dni).

bats_require_minimum_version 1.5.0
load helpers

setup() {
    vm_setup_root
}

teardown() {
    [ -n "${VMINFOD_PID:-}" ] && kill "$VMINFOD_PID" 2>/dev/null || true
    vm_teardown_root
}

mk() { echo "{\"brand\":\"bhyve\",\"autoboot\":false,\"ram\":128,\"alias\":\"$1\"$2}" | vmadm create 2>&1 | sed 's/.* //'; }

check_views() { # the same answers with and without vminfod
    [ "$(vmadm list -H -o alias | sort | tr '\n' ' ')" = "seen " ]
    [ "$(vmadm list -H -o alias do_not_inventory=true)" = hidden ]
    [ "$(vmadm lookup -j | jq -r '[.[].alias] | sort | join(" ")')" = "hidden seen" ]
    [ "$(vmadm lookup -j do_not_inventory=true | jq -r '.[].alias')" = hidden ]
    [ "$(vmadm lookup | wc -l)" = 2 ]
    [ "$(vmadm get "$H" | jq -r .alias)" = hidden ]
}

@test "do_not_inventory: hidden from list and vminfod's default /vms; shown when asked; lookup lists it" {
    S=$(mk seen)
    H=$(mk hidden ',"do_not_inventory":true')
    check_views
    start_vminfod
    check_views
    [ "$(curl -sf "http://$ADDR/vms" | jq -r '[.[].alias] | join(" ")')" = seen ]
    [ "$(curl -sf "http://$ADDR/vms?all=true" | jq -r '[.[].alias] | sort | join(" ")')" = "hidden seen" ]
    [ "$(curl -sf "http://$ADDR/vms?fields=uuid,alias" | jq -r '[.[].alias] | join(" ")')" = seen ]
    [ "$(curl -sf "http://$ADDR/vms?fields=uuid,alias&all=true" | jq -r '[.[].alias] | sort | join(" ")')" = "hidden seen" ]
    # shown again once the flag goes (update to false removes it)
    vmadm update "$H" do_not_inventory=false
    [ "$(curl -sf "http://$ADDR/vms?fields=alias" | jq -r '[.[].alias] | sort | join(" ")')" = "hidden seen" ]
    [ "$(vmadm list -H -o alias | sort | tr '\n' ' ')" = "hidden seen " ]
    curl -sf "http://$ADDR/metrics" | grep -q '^vminfod_event_subscribers_dropped_total 0$'
}
