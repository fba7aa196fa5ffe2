/* Pure parts of lib/storage: names, sizes, list order, space model. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "common/util.h"
#include "storage/storage_internal.h"

static void test_names(void **state)
{
    (void)state;
    assert_true(vs_valid_name("zones"));
    assert_true(vs_valid_name("zones/3f4c1b2a-0000-4000-8000-000000000001/disk0"));
    assert_true(vs_valid_name("zones/img@final"));
    assert_true(vs_valid_name("zones/x@vmsnap-a%b:c.d_e"));
    assert_false(vs_valid_name(""));
    assert_false(vs_valid_name("/zones"));
    assert_false(vs_valid_name("zones/"));
    assert_false(vs_valid_name("zones//x"));
    assert_false(vs_valid_name("zones/a b"));
    assert_false(vs_valid_name("zones/x@a@b"));
    assert_false(vs_valid_name("zones/x@"));
    assert_false(vs_valid_name("zones/.."));
    assert_false(vs_valid_name("1zones"));
    assert_false(vs_valid_name("zones/a%b")); /* % only in snapshot names */
    char longname[300];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    assert_false(vs_valid_name(longname));
    assert_true(vs_valid_snap_component("20130131180505"));
    assert_false(vs_valid_snap_component("bacon & eggs"));
    assert_false(vs_valid_snap_component("a,b"));
    assert_false(vs_valid_snap_component("a/b"));
}

static void test_sizes(void **state)
{
    (void)state;
    uint64_t v;
    assert_int_equal(vs_parse_size("10G", false, &v), 0);
    assert_true(v == 10737418240ULL);
    assert_int_equal(vs_parse_size("512m", false, &v), 0);
    assert_true(v == 536870912ULL);
    assert_int_equal(vs_parse_size("1.5G", false, &v), 0);
    assert_true(v == 1610612736ULL);
    assert_int_equal(vs_parse_size("4096", false, &v), 0);
    assert_true(v == 4096);
    assert_int_equal(vs_parse_size("10GB", false, &v), 0);
    assert_true(v == 10737418240ULL);
    assert_int_equal(vs_parse_size("none", true, &v), 0);
    assert_true(v == 0);
    assert_int_equal(vs_parse_size("none", false, &v), -1);
    assert_int_equal(vs_parse_size("abc", false, &v), -1);
    assert_int_equal(vs_parse_size("10X", false, &v), -1);
    assert_int_equal(vs_parse_size("-1", false, &v), -1);
    assert_int_equal(vs_parse_size("", false, &v), -1);
    assert_int_equal(vs_parse_size("20E", false, &v), -1);

    char b[16];
    vs_format_size(0, b);
    assert_string_equal(b, "0B");
    vs_format_size(512, b);
    assert_string_equal(b, "512B");
    vs_format_size(98304, b);
    assert_string_equal(b, "96K");
    vs_format_size(1610612736ULL, b);
    assert_string_equal(b, "1.50G");
    vs_format_size(10737418240ULL, b);
    assert_string_equal(b, "10G");
    vs_format_size(24064, b); /* 23.5K */
    assert_string_equal(b, "23.5K");
    vs_format_size(85899345920ULL - 1, b);
    assert_string_equal(b, "80.0G");
}

static void test_order(void **state)
{
    (void)state;
    assert_true(vs_name_cmp("zones/a", "zones/a/x") < 0);
    assert_true(vs_name_cmp("zones/a/x", "zones/a-b") < 0);
    assert_true(vs_name_cmp("zones/a@s", "zones/a/x") < 0);
    assert_true(vs_name_cmp("zones", "zones/a") < 0);
    assert_int_equal(vs_name_cmp("zones/a", "zones/a"), 0);
    cleanup_json json_t *dss = json_pack("{s:{}, s:{}, s:{}, s:{}}", "zones/b", "zones/a-b", "zones", "zones/a/x");
    json_object_set_new(dss, "zones/a", json_object());
    cleanup_json json_t *names = vs_sorted_names(dss);
    cleanup_free char *s = json_compact(names);
    assert_string_equal(s, "[\"zones\",\"zones/a\",\"zones/a/x\",\"zones/a-b\",\"zones/b\"]");
    cleanup_free char *p = vs_parent_name("zones/a/x");
    assert_string_equal(p, "zones/a");
    assert_null(vs_parent_name("zones"));
    assert_true(vs_name_under("zones/a/x", "zones/a"));
    assert_true(vs_name_under("zones/a@s", "zones/a"));
    assert_false(vs_name_under("zones/ab", "zones/a"));
}

static uint64_t fake_written(void *opaque, const char *name, json_t *ds)
{
    (void)opaque;
    (void)name;
    return (uint64_t)json_integer_value(json_object_get(ds, "w"));
}

static void test_acct(void **state)
{
    (void)state;
    const uint64_t G = 1ULL << 30;
    /* zones/vm has reservation 12G covering two disks with refres 5G each
     * (one half written); an unrelated thin volume has 1G written. */
    cleanup_json json_t *dss =
        json_pack("{s:{s:{}}, s:{s:{s:I, s:I}}, s:{s:{s:I, s:I}, s:I}, s:{s:{s:I, s:I}}, s:{s:{s:I}, s:I}}", "zones",
                  "props", "zones/vm", "props", "reservation", (json_int_t)(12 * G), "quota", (json_int_t)(12 * G),
                  "zones/vm/disk0", "props", "refreservation", (json_int_t)(5 * G), "volsize", (json_int_t)(5 * G), "w",
                  (json_int_t)(2 * G), "zones/vm/disk1", "props", "refreservation", (json_int_t)(5 * G), "volsize",
                  (json_int_t)(5 * G), "zones/thin", "props", "volsize", (json_int_t)(100 * G), "w", (json_int_t)G);
    vs_acct a;
    vs_acct_compute(dss, fake_written, NULL, NULL, &a);
    /* promised: reservation of zones/vm (12G > 10G of disks) */
    assert_true(a.promised == 12 * G);
    /* outer(root) = 12G + 1G written thin; written total 3G -> 10G unconsumed */
    assert_true(a.unconsumed == 10 * G);
    assert_true((uint64_t)json_integer_value(json_object_get(a.inner, "zones/vm")) == 10 * G);
    vs_acct_free(&a);

    /* A refreservation of 0 with data written: used = written. */
    cleanup_json json_t *d2 = json_pack("{s:{s:{}}, s:{s:{}, s:I, s:[{s:I}]}}", "zones", "props", "zones/v", "props",
                                        "w", (json_int_t)G, "snaps", "w", (json_int_t)G);
    vs_acct_compute(d2, fake_written, NULL, NULL, &a);
    assert_true((uint64_t)json_integer_value(json_object_get(a.inner, "zones/v")) == 2 * G);
    assert_true(a.unconsumed == 0);
    vs_acct_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_order),
        cmocka_unit_test(test_acct),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
