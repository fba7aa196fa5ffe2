/* lib/vm's NIC rules through the fake runtime: nic tags must exist (and a
 * refused create leaves nothing), interface names, and what an update of a
 * running VM's NICs does — protection (allow_*, allowed_ips, ips) through
 * the runtime's net_update at once and before the commit (a refusal changes
 * nothing), link changes at the next start with a notice.  The real filters
 * are proven by tests/e2e/net-*.bats. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/ctx.h"
#include "common/util.h"
#include "vm/runtime.h"
#include "vm/store.h"
#include "vm/vm.h"
#include "vm/vmobj.h"
#include "vmtest.h"

#define J vmt_json
#define MAC0 "02:00:00:00:00:10"

typedef struct fx {
    vmt_root r;
    char uuid[37];
} fx;

static char notices[1024];

static void take_notice(const char *msg)
{
    snprintf(notices + strlen(notices), sizeof notices - strlen(notices), "%s\n", msg);
}

static int create(fx *f, const char *nics, char uuid[37], vm_err *err)
{
    cleanup_free char *s = xasprintf("{\"brand\":\"bhyve\",\"autoboot\":false,\"ram\":256,"
                                     "\"disks\":[{\"size\":16,\"model\":\"virtio\",\"boot\":true}],"
                                     "\"nics\":%s}",
                                     nics);
    cleanup_json json_t *p = J(s);
    return vm_create(&f->r.ctx, p, uuid, err);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    if (vmt_root_setup(&f->r, "nics") < 0 || vmt_root_tags(&f->r) < 0)
        return -1;
    vm_runtime_override(&vm_runtime_fake);
    vm_err err = VM_ERR_INIT;
    if (create(f, "[{\"nic_tag\":\"admin\",\"model\":\"virtio\",\"mac\":\"" MAC0 "\",\"ips\":[\"10.0.0.5/24\"]}]",
               f->uuid, &err) < 0) {
        fprintf(stderr, "create: %s\n", err.msg);
        return -1;
    }
    notices[0] = '\0';
    vm_set_notice_fn(take_notice);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    vm_set_notice_fn(NULL);
    vm_runtime_override(NULL);
    vmt_root_teardown(&f->r);
    free(f);
    return 0;
}

static char *take_log(fx *f)
{
    return vmt_take_log(&f->r);
}

static json_t *nic0(fx *f)
{
    vm_err err = VM_ERR_INIT;
    json_t *o = NULL;
    if (vmobj_load(&f->r.ctx, f->uuid, &o, &err) < 0)
        fail_msg("vmobj_load: %s", err.msg);
    json_t *n = json_incref(json_array_get(json_object_get(o, "nics"), 0));
    json_decref(o);
    return n;
}

static int update(fx *f, const char *payload, vm_err *err)
{
    cleanup_json json_t *p = J(payload);
    return vm_update(&f->r.ctx, f->uuid, p, err);
}

static void test_unknown_tag_refused_leaves_nothing(void **state)
{
    fx *f = *state;
    vm_err err = VM_ERR_INIT;
    char u[37] = "";
    assert_int_equal(create(f, "[{\"nic_tag\":\"nosuch\",\"model\":\"virtio\"}]", u, &err), -1);
    assert_string_equal(err.msg, "Invalid nic tag \"nosuch\"");
    assert_int_equal(create(f, "[{\"model\":\"virtio\"}]", u, &err), -1);
    assert_string_equal(err.msg, "invalid or missing .nic_tag option for NIC: {\"model\":\"virtio\"}");
    assert_int_equal(
        create(f, "[{\"nic_tag\":\"admin\",\"model\":\"virtio\",\"allowed_ips\":[\"10.0.0.0/33\"]}]", u, &err), -1);
    assert_string_equal(err.msg, "invalid allowed_ips: [\"10.0.0.0/33\"]");
    /* HVM NICs are functions of PCI device 6: at most 8. */
    cleanup_free char *nine = xstrdup("[");
    for (int i = 0; i < 9; i++) {
        char *t = xasprintf("%s%s{\"nic_tag\":\"admin\",\"model\":\"virtio\"}", nine, i ? "," : "");
        free(nine);
        nine = t;
    }
    char *t = xasprintf("%s]", nine);
    free(nine);
    nine = t;
    assert_int_equal(create(f, nine, u, &err), -1);
    assert_string_equal(err.msg, "VM would have 9 NICs, but is limited to 8");
    cleanup_json json_t *all = NULL;
    assert_int_equal(vm_store_list(&f->r.ctx, &all, &err), 0);
    assert_int_equal(json_array_size(all), 1); /* only the fixture's VM */
    /* An update to a missing tag is refused the same way, VM unchanged. */
    assert_int_equal(update(f, "{\"update_nics\":[{\"mac\":\"" MAC0 "\",\"nic_tag\":\"nosuch\"}]}", &err), -1);
    assert_string_equal(err.msg, "Invalid nic tag \"nosuch\"");
    cleanup_json json_t *n = nic0(f);
    assert_string_equal(json_string_value(json_object_get(n, "nic_tag")), "admin");
}

static void test_interface_names_reuse_the_lowest_free(void **state)
{
    fx *f = *state;
    vm_err err = VM_ERR_INIT;
    assert_int_equal(update(f,
                            "{\"add_nics\":[{\"nic_tag\":\"admin\",\"model\":\"virtio\",\"mac\":\"02:00:00:00:00:11\"},"
                            "{\"nic_tag\":\"external\",\"model\":\"virtio\",\"mac\":\"02:00:00:00:00:12\"}]}",
                            &err),
                     0);
    assert_int_equal(update(f, "{\"remove_nics\":[\"" MAC0 "\"]}", &err), 0);
    assert_int_equal(update(f, "{\"add_nics\":[{\"nic_tag\":\"admin\",\"model\":\"virtio\"}]}", &err), 0);
    cleanup_json json_t *o = NULL;
    assert_int_equal(vmobj_load(&f->r.ctx, f->uuid, &o, &err), 0);
    json_t *nics = json_object_get(o, "nics");
    assert_int_equal(json_array_size(nics), 3);
    cleanup_free char *names = xstrdup("");
    size_t i;
    json_t *n;
    json_array_foreach(nics, i, n) {
        char *t = xasprintf("%s%s ", names, json_string_value(json_object_get(n, "interface")));
        free(names);
        names = t;
    }
    assert_string_equal(names, "net1 net2 net0 ");
}

static void test_running_protection_is_live(void **state)
{
    fx *f = *state;
    vm_err err = VM_ERR_INIT;
    assert_int_equal(vm_start(&f->r.ctx, f->uuid, &err), 0);
    free(take_log(f));
    assert_int_equal(update(f,
                            "{\"update_nics\":[{\"mac\":\"" MAC0
                            "\",\"allow_ip_spoofing\":true,\"allowed_ips\":[\"10.9.0.0/16\"]}]}",
                            &err),
                     0);
    cleanup_free char *log = take_log(f);
    /* net_update first (before the commit), then the limits as always. */
    cleanup_free char *want = xasprintf("net_update %s 1\napply_limits %s\n", f->uuid, f->uuid);
    assert_string_equal(log, want);
    assert_string_equal(notices, "");
    cleanup_json json_t *n = nic0(f);
    assert_true(json_is_true(json_object_get(n, "allow_ip_spoofing")));

    /* The runtime refuses: nothing changes. */
    snprintf(vm_fake_runtime_fail_next, sizeof vm_fake_runtime_fail_next, "nft said no");
    assert_int_equal(update(f, "{\"update_nics\":[{\"mac\":\"" MAC0 "\",\"allow_mac_spoofing\":true}]}", &err), -1);
    cleanup_free char *m = xasprintf("cannot apply the NIC protection of VM %s: nft said no", f->uuid);
    assert_string_equal(err.msg, m);
    cleanup_json json_t *n2 = nic0(f);
    assert_null(json_object_get(n2, "allow_mac_spoofing"));
    free(take_log(f));
}

static void test_running_link_change_waits_for_start(void **state)
{
    fx *f = *state;
    vm_err err = VM_ERR_INIT;
    assert_int_equal(vm_start(&f->r.ctx, f->uuid, &err), 0);
    free(take_log(f));
    assert_int_equal(
        update(f, "{\"update_nics\":[{\"mac\":\"" MAC0 "\",\"nic_tag\":\"external\",\"mtu\":1400}]}", &err), 0);
    cleanup_free char *log = take_log(f);
    assert_null(strstr(log, "net_update"));
    cleanup_free char *want = xasprintf("VM %s: NIC changes (nic_tag, mtu) take effect at its next start\n", f->uuid);
    assert_string_equal(notices, want);

    /* Stopped: no runtime call, no notice. */
    assert_int_equal(vm_stop(&f->r.ctx, f->uuid, 1, 5, &err), 0);
    free(take_log(f));
    notices[0] = '\0';
    assert_int_equal(update(f, "{\"update_nics\":[{\"mac\":\"" MAC0 "\",\"allow_ip_spoofing\":true}]}", &err), 0);
    cleanup_free char *log2 = take_log(f);
    assert_string_equal(log2, "");
    assert_string_equal(notices, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_unknown_tag_refused_leaves_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interface_names_reuse_the_lowest_free, setup, teardown),
        cmocka_unit_test_setup_teardown(test_running_protection_is_live, setup, teardown),
        cmocka_unit_test_setup_teardown(test_running_link_change_waits_for_start, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
