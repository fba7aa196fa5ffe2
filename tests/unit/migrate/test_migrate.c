/* lib/migrate pure parts: the -a switch rule, the estimate, the VM
 * stream header's checks and destination parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "common/util.h"
#include "migrate/migrate.h"
#include "migrate/vmstream.h"

static bool decide(const mig_round *r, size_t n, char *why)
{
    mig_rule rule = MIG_RULE_DEFAULT;
    return mig_should_switch(&rule, r, n, why, 256);
}

static void test_rule_fits_budget(void **state)
{
    (void)state;
    char why[256];
    /* the first round (the full copy) alone never switches */
    mig_round r[] = { { 1000000000, 10 }, { 30000000, 2 } };
    assert_false(decide(r, 1, why));
    /* 30 MB after a 100 MB/s copy: under the 200 MB budget (2 s at 100 MB/s) */
    assert_true(decide(r, 2, why));
    assert_non_null(strstr(why, "fits the downtime budget"));
}

static void test_rule_floor_and_rate(void **state)
{
    (void)state;
    char why[256];
    /* slow link (1 MB/s): budget is the 50 MB floor; 60 MB does not fit */
    mig_round slow[] = { { 100000000, 100 }, { 60000000, 60 } };
    assert_false(decide(slow, 2, why));
    mig_round ok[] = { { 100000000, 100 }, { 40000000, 40 } };
    assert_true(decide(ok, 2, why));
}

static void test_rule_flat_and_max(void **state)
{
    (void)state;
    char why[256];
    /* a guest writing as fast as we copy: the delta stops shrinking */
    mig_round flat[] = { { 900000000, 9 }, { 800000000, 8 }, { 800000000, 8 }, { 820000000, 8.2 }, { 810000000, 8.1 } };
    assert_false(decide(flat, 3, why));
    assert_true(decide(flat, 5, why));
    assert_non_null(strstr(why, "stopped shrinking for 3 rounds"));
    mig_round shrink[10];
    for (int i = 0; i < 10; i++)
        shrink[i] = (mig_round){ (uint64_t)(2000000000.0 / (i + 1)), 200.0 / (i + 1) }; /* 10 MB/s */
    assert_false(decide(shrink, 9, why));
    assert_true(decide(shrink, 10, why));
    assert_non_null(strstr(why, "10 rounds"));
}

static void test_estimate(void **state)
{
    (void)state;
    json_t *e = mig_estimate_json(200000000, 20, false);
    assert_int_equal(json_integer_value(json_object_get(e, "size_bytes")), 200000000);
    assert_true(json_real_value(json_object_get(e, "total_seconds")) == 10.0);
    assert_true(json_real_value(json_object_get(e, "downtime_seconds")) == 10.0);
    json_decref(e);
}

static json_t *header(const char *objs, const char *disks)
{
    char *s = xasprintf("{\"kind\":\"vm\",\"format\":1,\"uuid\":\"4b9488be-fc5e-4c4c-9090-8aeb391c0029\","
                        "\"brand\":\"bhyve\",\"zpool\":\"zones\",\"config\":{\"brand\":\"bhyve\",\"disks\":%s},"
                        "\"meta\":{},\"objects\":%s}",
                        disks, objs);
    json_t *h = json_loads(s, 0, NULL);
    free(s);
    assert_non_null(h);
    return h;
}

static int check(const char *objs, const char *disks, const char *want)
{
    json_t *h = header(objs, disks);
    vm_err e = VM_ERR_INIT;
    int r = mig_header_check(h, &e);
    json_decref(h);
    if (want)
        assert_non_null(strstr(e.msg, want));
    return r;
}

static void test_header(void **state)
{
    (void)state;
    const char *d0 = "[{\"path\":\"/var/tmp/a/dev/zvol/rdsk/zones/4b9488be-fc5e-4c4c-9090-8aeb391c0029/disk0\","
                     "\"zfs_filesystem\":\"zones/4b9488be-fc5e-4c4c-9090-8aeb391c0029/disk0\"}]";
    assert_int_equal(check("[{\"dataset\":\"disk0\",\"snapshot\":\"a\",\"origin\":\"zones/img@final\"},"
                           "{\"dataset\":\"\",\"snapshot\":\"a\"}]",
                           d0, NULL),
                     0);
    assert_int_equal(check("[{\"dataset\":\"../x\",\"snapshot\":\"a\"}]", d0, "bad object name"), -1);
    assert_int_equal(check("[{\"dataset\":\"a/b\",\"snapshot\":\"a\"}]", d0, "bad object name"), -1);
    assert_int_equal(check("[{\"dataset\":\"..\",\"snapshot\":\"a\"}]", d0, "bad object name"), -1);
    assert_int_equal(check("[{\"dataset\":\"disk0\",\"snapshot\":\"a/b\"}]", d0, "bad object name"), -1);
    assert_int_equal(
        check("[{\"dataset\":\"disk0\",\"snapshot\":\"a\",\"origin\":\"other/img@final\"}]", d0, "bad origin"), -1);
    assert_int_equal(
        check("[{\"dataset\":\"disk0\",\"snapshot\":\"a\",\"origin\":\"zones/a/b@final\"}]", d0, "bad origin"), -1);
    assert_int_equal(check("[]", "[{\"path\":\"/etc/shadow\"}]", "disk outside"), -1);
    assert_int_equal(check("[]",
                           "[{\"path\":\"/etc/shadow\",\"zfs_filesystem\":"
                           "\"zones/4b9488be-fc5e-4c4c-9090-8aeb391c0029/disk0\"}]",
                           "disk path outside"),
                     -1);
    assert_int_equal(
        check("[]", "[{\"zfs_filesystem\":\"zones/4b9488be-fc5e-4c4c-9090-8aeb391c0029/../../x\"}]", "disk outside"),
        -1);
    assert_int_equal(check("[]", "[{\"zfs_filesystem\":\"zones/other-vm/disk0\"}]", "disk outside"), -1);
    json_t *h = header("[]", "[]");
    json_object_set_new(h, "uuid", json_string("../../etc"));
    vm_err e = VM_ERR_INIT;
    assert_int_equal(mig_header_check(h, &e), -1);
    json_decref(h);
}

static void test_dest(void **state)
{
    (void)state;
    mig_dest d;
    vm_err e = VM_ERR_INIT;
    assert_int_equal(mig_dest_parse("root:/var/lib/b", &d, &e), 0);
    assert_string_equal(d.root, "/var/lib/b");
    mig_dest_free(&d);
    assert_int_equal(mig_dest_parse("admin@cn2.example.com", &d, &e), 0);
    assert_string_equal(d.host, "admin@cn2.example.com");
    mig_dest_free(&d);
    assert_int_equal(mig_dest_parse("-oProxyCommand=x", &d, &e), -1);
    mig_dest_free(&d);
    assert_int_equal(mig_dest_parse("host;rm -rf /", &d, &e), -1);
    mig_dest_free(&d);
    assert_int_equal(mig_dest_parse("root:rel", &d, &e), -1);
    mig_dest_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rule_fits_budget),
        cmocka_unit_test(test_rule_floor_and_rate),
        cmocka_unit_test(test_rule_flat_and_max),
        cmocka_unit_test(test_estimate),
        cmocka_unit_test(test_header),
        cmocka_unit_test(test_dest),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
