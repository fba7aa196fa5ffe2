/* Hostile input (issue 14 #7, #13, #15, integer overflow): input limits,
 * the disk planner's bounds, hostname/resolver/route rules, table escaping,
 * lock names and integers that do not fit.  Runs under ASan in the test
 * command: an overflow here is a crash, not a wrong answer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/lock.h"
#include "common/util.h"
#include "vm/cell.h"
#include "vm/disks.h"
#include "vm/list.h"
#include "vm/validate.h"
#include "vmtest.h"

#define UUID1 "b1a5e2f4-5c2e-4d4e-9d0a-0123456789ab"

static json_t *disks_payload(size_t n)
{
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(arr, json_pack("{s:i,s:s}", "size", 10, "model", "virtio"));
    return arr;
}

/* normalise + validate + message, as create/update do; NULL when valid. */
static char *check(const char *brand, const char *action, json_t *p)
{
    vm_err err = VM_ERR_INIT;
    if (vm_payload_normalize(p, action, &err) < 0)
        return xstrdup(err.msg);
    json_t *res = vm_validate(brand, action, p);
    int r = vm_validate_err(res, brand, action, &err);
    json_decref(res);
    return r < 0 ? xstrdup(err.msg) : NULL;
}

static void test_disk_limit(void **state)
{
    (void)state;
    json_t *p = json_pack("{s:s,s:o}", "brand", "bhyve", "disks", disks_payload(1001));
    char *m = check("bhyve", "create", p);
    assert_non_null(m);
    assert_string_equal(m, "disks contains 1001 disks, but is limited to 64");
    free(m);
    /* vmadm validate (no normalisation) reports it too. */
    json_t *res = vm_validate("bhyve", "create", p);
    assert_non_null(res);
    assert_string_equal(json_string_value(json_array_get(json_object_get(res, "errors"), 0)),
                        "disks contains 1001 disks, but is limited to 64");
    json_decref(res);
    json_decref(p);

    p = json_pack("{s:s,s:o}", "brand", "bhyve", "disks", disks_payload(VM_MAX_DISKS));
    m = check("bhyve", "create", p);
    assert_null(m);
    json_decref(p);

    p = json_pack("{s:o}", "add_disks", disks_payload(65));
    m = check("bhyve", "update", p);
    assert_string_equal(m, "add_disks contains 65 disks, but is limited to 64");
    free(m);
    json_decref(p);
}

static void test_nic_and_meta_limits(void **state)
{
    (void)state;
    json_t *nics = json_array();
    for (int i = 0; i < 33; i++)
        json_array_append_new(nics, json_pack("{s:s,s:s}", "nic_tag", "admin", "ip", "dhcp"));
    json_t *p = json_pack("{s:s,s:o}", "brand", "bhyve", "nics", nics);
    char *m = check("bhyve", "create", p);
    assert_string_equal(m, "nics contains 33 NICs, but is limited to 32");
    free(m);
    json_decref(p);

    char *big = xmalloc(VM_MAX_META_BYTES + 1);
    memset(big, 'a', VM_MAX_META_BYTES);
    big[VM_MAX_META_BYTES] = '\0';
    p = json_pack("{s:{s:s}}", "set_customer_metadata", "k", big);
    m = check("joyent", "update", p);
    assert_string_equal(m, "set_customer_metadata is larger than the limit of 1 MiB (1048576 bytes as JSON)");
    free(m);
    json_decref(p);
    big[VM_MAX_META_BYTES - 100] = '\0';
    p = json_pack("{s:{s:s}}", "set_customer_metadata", "k", big);
    assert_null(check("joyent", "update", p));
    json_decref(p);
    free(big);
}

/* The planner is bounded by itself, whatever its caller validated. */
static void test_planner_bounded(void **state)
{
    (void)state;
    vmt_root r;
    assert_int_equal(vmt_root_setup(&r, "sec"), 0);
    json_t *vm = json_pack("{s:s,s:s,s:[]}", "uuid", UUID1, "brand", "bhyve", "disks");
    json_t *plan = NULL;
    vm_err err = VM_ERR_INIT;
    json_t *d = disks_payload(1001);
    assert_int_equal(vm_disks_plan_add(&r.ctx, vm, d, &plan, &err), -1);
    assert_string_equal(err.msg, "VM would have 1001 disks, but is limited to 64");
    assert_null(plan);
    json_decref(d);

    /* A VM already at disk999 with 999 disks more: refused (by the limit
     * first; the index table is bounded too), never written past. */
    json_t *existing = json_object_get(vm, "disks");
    json_array_append_new(existing,
                          json_pack("{s:s,s:s}", "path", "/dev/zvol/rdsk/zones/" UUID1 "/disk999", "model", "virtio"));
    for (int i = 0; i < 998; i++)
        json_array_append_new(existing, json_pack("{s:s}", "path", "x"));
    vm_err_clear(&err);
    d = disks_payload(1);
    assert_int_equal(vm_disks_plan_add(&r.ctx, vm, d, &plan, &err), -1);
    json_decref(d);
    json_decref(vm);
    vmt_root_teardown(&r);
}

static void test_disk_index(void **state)
{
    (void)state;
    static const struct {
        const char *path;
        int idx;
    } cases[] = {
        { "/dev/zvol/rdsk/zones/x/disk0", 0 },
        { "/dev/zvol/rdsk/zones/x/disk999", 999 },
        { "/dev/zvol/rdsk/zones/x/disk1000", -1 },
        { "/dev/zvol/rdsk/zones/x/disk+5", -1 },
        { "/dev/zvol/rdsk/zones/x/disk 5", -1 },
        { "/dev/zvol/rdsk/zones/x/disk-1", -1 },
        { "/dev/zvol/rdsk/zones/x/disk99999999999999999999", -1 },
        { "/dev/zvol/rdsk/zones/x/disk", -1 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *d = json_pack("{s:s}", "path", cases[i].path);
        assert_int_equal(vm_disk_index(d), cases[i].idx);
        json_decref(d);
    }
}

static void test_hostname(void **state)
{
    (void)state;
    static const char *const good[] = { "h1",
                                        "web-0",
                                        "a.b.c",
                                        "host.example.com.",
                                        "A1",
                                        "0abc",
                                        "abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdefgh" };
    static const char *const bad[] = {
        "-bad",      "bad-", "a..b", ".a", "a b",  "a_b",
        "h\x1b[31m", "h\n",  "x/y",  "..", "a.-b", "abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdefghi",
        "ünï",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        assert_true(vm_valid_hostname(good[i]));
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(vm_valid_hostname(bad[i]));
    json_t *p = json_pack("{s:s,s:s}", "brand", "bhyve", "hostname", "bad host");
    char *m = check("bhyve", "create", p);
    assert_string_equal(m, "Invalid value(s) for: hostname");
    free(m);
    json_decref(p);
    p = json_pack("{s:s}", "hostname", "");
    assert_null(check("bhyve", "update", p)); /* "" unsets */
    json_decref(p);
}

static void test_resolvers(void **state)
{
    (void)state;
    static const char *const good[] = { "{\"resolvers\":[\"8.8.8.8\",\"2001:4860:4860::8888\"]}",
                                        "{\"resolvers\":\"1.1.1.1,9.9.9.9\"}", "{\"resolvers\":[]}" };
    static const char *const bad[] = { "{\"resolvers\":[\"8.8.8.8\",\"evil\\nnameserver 6.6.6.6\"]}",
                                       "{\"resolvers\":\"1.1.1.1,foo\"}", "{\"resolvers\":[\"10.0.0.0/8\"]}",
                                       "{\"resolvers\":[\"256.1.1.1\"]}", "{\"resolvers\":[1]}" };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        json_t *p = vmt_json(good[i]);
        assert_null(check("bhyve", "update", p));
        json_decref(p);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *p = vmt_json(bad[i]);
        char *m = check("bhyve", "update", p);
        assert_non_null(m);
        assert_string_equal(m, "Invalid value(s) for: resolvers");
        free(m);
        json_decref(p);
    }
}

static void test_routes(void **state)
{
    (void)state;
    static const struct {
        const char *action, *payload, *msg;
    } cases[] = {
        { "create", "{\"routes\":{\"10.0.0.0/8\":\"10.1.1.1\",\"fd00::/64\":\"fd00::1\"}}", NULL },
        { "create", "{\"routes\":{\"10.2.3.4\":\"aa:bb:cc:dd:ee:ff\"}}", NULL },
        { "create", "{\"routes\":{\"10.0.0.0/33\":\"10.1.1.1\"}}",
          "Invalid route destination: \"10.0.0.0/33\" (must be IP address or CIDR)" },
        { "create", "{\"routes\":{\"default; rm\":\"10.1.1.1\"}}",
          "Invalid route destination: \"default; rm\" (must be IP address or CIDR)" },
        { "create", "{\"routes\":{\"10.0.0.0/8\":\"gw\"}}",
          "Invalid route gateway: \"gw\" (must be IP address, MAC address, or nic)" },
        { "create", "{\"routes\":{\"10.0.0.0/8\":\"nics[0]\"}}",
          "Route gateway: \"nics[0]\" refers to non-existent or DHCP nic" },
        { "create", "{\"nics\":[{\"ip\":\"dhcp\",\"nic_tag\":\"admin\"}],\"routes\":{\"10.0.0.0/8\":\"nics[0]\"}}",
          "Route gateway: \"nics[0]\" refers to non-existent or DHCP nic" },
        { "create",
          "{\"nics\":[{\"ip\":\"10.0.0.2\",\"netmask\":\"255.0.0.0\",\"nic_tag\":\"admin\"}],"
          "\"routes\":{\"10.0.0.0/8\":\"nics[0]\"}}",
          NULL },
        { "update", "{\"set_routes\":{\"10.0.0.0/8\":\"nics[0]\"}}", NULL }, /* checked against the VM's NICs */
        { "update", "{\"set_routes\":{\"x\":\"10.1.1.1\"}}",
          "Invalid route destination: \"x\" (must be IP address or CIDR)" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *p = vmt_json(cases[i].payload);
        char *m = check("bhyve", cases[i].action, p);
        if (cases[i].msg) {
            assert_non_null(m);
            assert_string_equal(m, cases[i].msg);
        } else if (m) {
            fail_msg("case %zu: %s", i, m);
        }
        free(m);
        json_decref(p);
    }
    json_t *nics = vmt_json("[{\"ip\":\"10.0.0.2\",\"netmask\":\"255.0.0.0\"},{\"ips\":[\"dhcp\"]}]");
    json_t *routes = vmt_json("{\"10.0.0.0/8\":\"nics[1]\"}");
    vm_err err = VM_ERR_INIT;
    assert_int_equal(vm_check_routes(routes, nics, &err), -1);
    json_decref(routes);
    routes = vmt_json("{\"10.0.0.0/8\":\"nics[0]\"}");
    assert_int_equal(vm_check_routes(routes, nics, &err), 0);
    json_decref(routes);
    json_decref(nics);
}

static void test_integer_overflow(void **state)
{
    (void)state;
    json_t *p = vmt_json("{\"ram\":\"99999999999999999999\"}");
    char *m = check("bhyve", "update", p);
    assert_string_equal(m, "Invalid value for ram: 99999999999999999999 is out of range");
    free(m);
    json_decref(p);
    p = vmt_json("{\"ram\":\"9223372036854775808\"}");
    m = check("bhyve", "update", p);
    assert_string_equal(m, "Invalid value for ram: 9223372036854775808 is out of range");
    free(m);
    json_decref(p);
    p = vmt_json("{\"ram\":\"12abc\"}");
    m = check("bhyve", "update", p);
    assert_string_equal(m, "Invalid value for ram: null:number");
    free(m);
    json_decref(p);
    /* A real beyond int64 and one inside both fail validation by name. */
    p = vmt_json("{\"ram\":1e30}");
    m = check("bhyve", "update", p);
    assert_string_equal(m, "Invalid value(s) for: ram");
    free(m);
    json_decref(p);
    int64_t n;
    json_t *v = json_string(" 5");
    assert_int_equal(vm_check_integer(v, &n), -1);
    json_decref(v);
    v = json_string("+5");
    assert_int_equal(vm_check_integer(v, &n), -1);
    json_decref(v);
}

static void test_mac_normalize(void **state)
{
    (void)state;
    char m[18];
    assert_true(vm_mac_normalize("A:b:C:d:E:f", m));
    assert_string_equal(m, "0a:0b:0c:0d:0e:0f");
    assert_false(vm_mac_normalize("fffffffffffffffffffff:1:2:3:4:5", m));
    assert_false(vm_mac_normalize("0x1:2:3:4:5:6", m));
    assert_false(vm_mac_normalize("1:2:3:4:5", m));
}

static void test_cell_escape(void **state)
{
    (void)state;
    assert_null(vm_cell_escape("plain text ü"));
    char *e = vm_cell_escape("a\x1b]0;pwned\x07\n\t\x7f");
    assert_string_equal(e, "a\\x1b]0;pwned\\x07\\n\\t\\x7f");
    free(e);
    e = vm_cell_escape("x\xc2\x9b"
                       "31m");
    assert_string_equal(e, "x\\u009b31m");
    free(e);

    /* vmadm list renders the escaped text; filters see the raw value. */
    json_t *vms = vmt_json("[{\"uuid\":\"" UUID1 "\",\"brand\":\"joyent\",\"alias\":\"evil\\u001b[2J\","
                           "\"tags\":{\"t\":\"x\\ny\"}}]");
    vm_list_opts o = { .order = "uuid,alias,tags.t", .sort = "uuid", .parsable = true, .header = 0 };
    vm_err err = VM_ERR_INIT;
    char *out = vm_list_render(vms, &o, &err);
    assert_non_null(out);
    assert_string_equal(out, UUID1 ":evil\\x1b[2J:x\\ny\n");
    free(out);
    json_decref(vms);
}

static void test_lock_names(void **state)
{
    (void)state;
    vmt_root r;
    assert_int_equal(vmt_root_setup(&r, "lock"), 0);
    static const char *const bad[] = { "../../xx-aaaa-bbbb-cccc-dddddddddddd",
                                       "",
                                       "x",
                                       "image-../../etc",
                                       "B1A5E2F4-5C2E-4D4E-9D0A-0123456789AB",
                                       "/tmp/b1a5e2f4-5c2e-4d4e-9d0a-0123456789ab",
                                       "image-" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vm_lock lk = VM_LOCK_INIT;
        vm_err err = VM_ERR_INIT;
        assert_int_equal(vm_lock_acquire(&r.ctx, bad[i], 100, &lk, &err), -1);
        vm_err_clear(&err);
        assert_int_equal(vm_lock_try(&r.ctx, bad[i], &lk, &err), -1);
        assert_int_equal(lk.fd, -1);
    }
    vm_err err = VM_ERR_INIT;
    vm_lock lk = VM_LOCK_INIT;
    assert_int_equal(vm_lock_acquire(&r.ctx, "../../xx-aaaa-bbbb-cccc-dddddddddddd", 100, &lk, &err), -1);
    assert_int_equal(err.code, VMERR_NOTFOUND);
    assert_string_equal(err.msg, "VM ../../xx-aaaa-bbbb-cccc-dddddddddddd not found");
    char path[128];
    snprintf(path, sizeof path, "%s/xx-aaaa-bbbb-cccc-dddddddddddd.lock", r.root);
    assert_int_equal(access(path, F_OK), -1);
    /* The names the project uses still lock. */
    assert_int_equal(vm_lock_acquire(&r.ctx, UUID1, 100, &lk, &err), 0);
    vm_lock_release(&lk);
    assert_int_equal(vm_lock_try(&r.ctx, "image-" UUID1, &lk, &err), 1);
    vm_lock_release(&lk);
    vmt_root_teardown(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_disk_limit),      cmocka_unit_test(test_nic_and_meta_limits),
        cmocka_unit_test(test_planner_bounded), cmocka_unit_test(test_disk_index),
        cmocka_unit_test(test_hostname),        cmocka_unit_test(test_resolvers),
        cmocka_unit_test(test_routes),          cmocka_unit_test(test_integer_overflow),
        cmocka_unit_test(test_mac_normalize),   cmocka_unit_test(test_cell_escape),
        cmocka_unit_test(test_lock_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
