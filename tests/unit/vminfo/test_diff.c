/* diff (I14–I17) and event matching (I20). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "common/util.h"
#include "vminfo/vminfo_client.h"

static json_t *J(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
    if (!j)
        fail_msg("bad test JSON %s: %s", text, e.text);
    return j;
}

/* Asserts diff(a, b[, map]) serialises exactly to `want`. */
static void check(const char *a, const char *b, const char *map, const char *want)
{
    cleanup_json json_t *ja = a ? J(a) : NULL;
    cleanup_json json_t *jb = b ? J(b) : NULL;
    cleanup_json json_t *jm = map ? J(map) : NULL;
    cleanup_json json_t *d = vminfo_diff_map(ja, jb, jm);
    cleanup_json json_t *w = J(want);
    cleanup_free char *got = json_compact(d);
    if (!json_equal(d, w))
        fail_msg("diff(%s, %s)\n got  %s\n want %s", a, b, got, want);
    /* key order is part of the protocol too */
    cleanup_free char *ws = json_compact(w);
    assert_string_equal(got, ws);
}

static void test_identical(void **state)
{
    (void)state;
    const char *same[] = { "null",
                           "\"\"",
                           "\"a\"",
                           "5",
                           "[]",
                           "[\"foo\"]",
                           "[[\"foo\"]]",
                           "[{\"name\":\"foo\"}]",
                           "{}",
                           "{\"name\":\"foo\"}",
                           "{\"names\":[\"foo\",\"bar\"]}",
                           "{\"things\":[{\"name\":\"foo\"}]}" };
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        check(same[i], same[i], NULL, "[]");
        cleanup_json json_t *o = J(same[i]);
        cleanup_json json_t *d = vminfo_diff(o, o);
        assert_int_equal(json_array_size(d), 0);
    }
    /* undefined vs undefined */
    cleanup_json json_t *d = vminfo_diff(NULL, NULL);
    assert_int_equal(json_array_size(d), 0);
}

static void test_simple_objects(void **state)
{
    (void)state;
    check("{\"id\":1,\"name\":\"foo\"}", "{\"id\":1,\"name\":\"bar\"}", NULL,
          "[{\"prettyPath\":\"name\",\"path\":[\"name\"],\"action\":\"changed\","
          "\"oldValue\":\"foo\",\"newValue\":\"bar\"}]");
    check("{\"id\":1,\"name\":\"foo\"}", "{\"id\":2,\"name\":\"bar\"}", NULL,
          "[{\"prettyPath\":\"id\",\"path\":[\"id\"],\"action\":\"changed\",\"oldValue\":1,"
          "\"newValue\":2},"
          "{\"prettyPath\":\"name\",\"path\":[\"name\"],\"action\":\"changed\","
          "\"oldValue\":\"foo\",\"newValue\":\"bar\"}]");
    check("{\"foo\":{\"bar\":{\"baz\":1}}}", "{\"foo\":{\"bar\":{\"baz\":2}}}", NULL,
          "[{\"prettyPath\":\"foo.bar.baz\",\"path\":[\"foo\",\"bar\",\"baz\"],"
          "\"action\":\"changed\",\"oldValue\":1,\"newValue\":2}]");
    check("{\"foo\":{\"bar\":{}}}", "{\"foo\":{\"bar\":{\"baz\":true}}}", NULL,
          "[{\"prettyPath\":\"foo.bar.baz\",\"path\":[\"foo\",\"bar\",\"baz\"],"
          "\"action\":\"added\",\"newValue\":true}]");
    check("{\"foo\":{\"bar\":{\"baz\":1}},\"x\":1}", "{\"x\":1}", NULL,
          "[{\"prettyPath\":\"foo\",\"path\":[\"foo\"],\"action\":\"removed\","
          "\"oldValue\":{\"bar\":{\"baz\":1}}}]");
    /* an object replaced by a scalar is one change */
    check("{\"a\":{\"b\":1}}", "{\"a\":3}", NULL,
          "[{\"prettyPath\":\"a\",\"path\":[\"a\"],\"action\":\"changed\","
          "\"oldValue\":{\"b\":1},\"newValue\":3}]");
    /* removed keys (a's order) come before added ones */
    check("{\"a\":1,\"b\":2}", "{\"b\":2,\"c\":3}", NULL,
          "[{\"prettyPath\":\"a\",\"path\":[\"a\"],\"action\":\"removed\",\"oldValue\":1},"
          "{\"prettyPath\":\"c\",\"path\":[\"c\"],\"action\":\"added\",\"newValue\":3}]");
}

static void test_arrays(void **state)
{
    (void)state;
    const char *base = "{\"disks\":[{\"path\":\"/d0\",\"name\":\"a\"}]}";
    /* adding a disk */
    check(base, "{\"disks\":[{\"path\":\"/d0\",\"name\":\"a\"},{\"path\":\"/d1\"}]}", NULL,
          "[{\"prettyPath\":\"disks.*\",\"path\":[\"disks\",null],\"action\":\"added\","
          "\"newValue\":{\"path\":\"/d1\"}}]");
    /* renaming without a map: removed then added */
    check(base, "{\"disks\":[{\"path\":\"/d0\",\"name\":\"b\"}]}", NULL,
          "[{\"prettyPath\":\"disks.*\",\"path\":[\"disks\",null],\"action\":\"removed\","
          "\"oldValue\":{\"path\":\"/d0\",\"name\":\"a\"}},"
          "{\"prettyPath\":\"disks.*\",\"path\":[\"disks\",null],\"action\":\"added\","
          "\"newValue\":{\"path\":\"/d0\",\"name\":\"b\"}}]");
    /* with the map: one change with ident */
    check(base, "{\"disks\":[{\"path\":\"/d0\",\"name\":\"b\"}]}", "{\"disks\":\"path\"}",
          "[{\"prettyPath\":\"disks.*.name\",\"path\":[\"disks\",null,\"name\"],"
          "\"action\":\"changed\",\"oldValue\":\"a\",\"newValue\":\"b\",\"ident\":\"/d0\"}]");
    /* order: removed, modified, added */
    check("{\"nics\":[{\"mac\":\"m1\",\"ip\":\"1\"},{\"mac\":\"m2\"}]}",
          "{\"nics\":[{\"mac\":\"m3\"},{\"mac\":\"m1\",\"ip\":\"2\"}]}", "{\"nics\":\"mac\"}",
          "[{\"prettyPath\":\"nics.*\",\"path\":[\"nics\",null],\"action\":\"removed\","
          "\"oldValue\":{\"mac\":\"m2\"}},"
          "{\"prettyPath\":\"nics.*.ip\",\"path\":[\"nics\",null,\"ip\"],\"action\":\"changed\","
          "\"oldValue\":\"1\",\"newValue\":\"2\",\"ident\":\"m1\"},"
          "{\"prettyPath\":\"nics.*\",\"path\":[\"nics\",null],\"action\":\"added\","
          "\"newValue\":{\"mac\":\"m3\"}}]");
    /* the map applies to top-level keys only */
    check("{\"x\":{\"disks\":[{\"path\":\"p\",\"n\":1}]}}", "{\"x\":{\"disks\":[{\"path\":\"p\",\"n\":2}]}}",
          "{\"disks\":\"path\"}",
          "[{\"prettyPath\":\"x.disks.*\",\"path\":[\"x\",\"disks\",null],\"action\":\"removed\","
          "\"oldValue\":{\"path\":\"p\",\"n\":1}},"
          "{\"prettyPath\":\"x.disks.*\",\"path\":[\"x\",\"disks\",null],\"action\":\"added\","
          "\"newValue\":{\"path\":\"p\",\"n\":2}}]");
    /* scalar arrays: elements by value */
    check("{\"t\":[\"a\",\"b\"]}", "{\"t\":[\"b\",\"c\"]}", NULL,
          "[{\"prettyPath\":\"t.*\",\"path\":[\"t\",null],\"action\":\"removed\",\"oldValue\":\"a\"},"
          "{\"prettyPath\":\"t.*\",\"path\":[\"t\",null],\"action\":\"added\",\"newValue\":\"c\"}]");
    /* reordering alone is no change */
    check("{\"t\":[\"a\",\"b\"]}", "{\"t\":[\"b\",\"a\"]}", NULL, "[]");
}

static void test_default_map(void **state)
{
    (void)state;
    cleanup_json json_t *a = J("{\"disks\":[{\"path\":\"/p\",\"size\":1}],"
                               "\"nics\":[{\"mac\":\"aa\",\"ip\":\"1\"}]}");
    cleanup_json json_t *b = J("{\"disks\":[{\"path\":\"/p\",\"size\":2}],"
                               "\"nics\":[{\"mac\":\"aa\",\"ip\":\"2\"}]}");
    cleanup_json json_t *d = vminfo_diff(a, b);
    assert_int_equal(json_array_size(d), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(d, 0), "prettyPath")), "disks.*.size");
    assert_string_equal(json_string_value(json_object_get(json_array_get(d, 1), "ident")), "aa");
}

static void test_pretty_path(void **state)
{
    (void)state;
    struct {
        const char *path, *want;
    } cases[] = {
        { "[\"nics\",\"192.168.1.1\",\"name\"]", "nics[192.168.1.1].name" },
        { "[\"disks\",null,\"size\"]", "disks.*.size" },
        { "[\"a[b]\",\"c\"]", "[a\\[b\\]].c" },
        { "[\"a\"]", "a" },
        { "[]", "" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cleanup_json json_t *p = J(cases[i].path);
        cleanup_free char *s = vminfo_pretty_path(p);
        assert_string_equal(s, cases[i].want);
    }
}

static void test_matching(void **state)
{
    (void)state;
    cleanup_json json_t *ev = J("{\"type\":\"modify\",\"uuid\":\"u\",\"vm\":{\"a\":1,\"b\":[1,2]}}");
    cleanup_json json_t *t1 = J("{\"type\":\"modify\",\"vm\":{\"a\":1}}");
    cleanup_json json_t *t2 = J("{\"type\":\"create\"}");
    cleanup_json json_t *t3 = J("{\"vm\":{\"b\":[1]}}");
    cleanup_json json_t *t4 = J("{\"nothere\":1}");
    assert_true(vminfo_obj_same_values(t1, ev));
    assert_false(vminfo_obj_same_values(t2, ev));
    assert_false(vminfo_obj_same_values(t3, ev));
    assert_false(vminfo_obj_same_values(t4, ev));

    cleanup_json json_t *c = J("{\"prettyPath\":\"disks.*.size\",\"path\":[\"disks\",null,\"size\"],"
                               "\"action\":\"changed\",\"oldValue\":1,\"newValue\":2,\"ident\":\"/p\"}");
    cleanup_json json_t *w1 = J("{\"path\":[\"disks\",null,\"size\"],\"action\":\"changed\"}");
    cleanup_json json_t *w2 = J("{\"path\":[\"disks\",null],\"action\":\"changed\"}");
    cleanup_json json_t *w3 = J("{\"path\":[null,null,\"size\"],\"newValue\":2}");
    cleanup_json json_t *w4 = J("{\"path\":[\"disks\",null,\"size\"],\"newValue\":3}");
    cleanup_json json_t *w5 = J("[{\"path\":[\"x\"]},{\"path\":[\"disks\",null,\"size\"]}]");
    assert_true(vminfo_change_matches(w1, c));
    assert_false(vminfo_change_matches(w2, c));
    assert_true(vminfo_change_matches(w3, c));
    assert_false(vminfo_change_matches(w4, c));
    assert_true(vminfo_change_matches(w5, c));
    cleanup_json json_t *w6 = J("{\"path\":[\"disks\",null],\"action\":\"added\","
                                "\"newValue\":{\"model\":\"virtio\"}}");
    cleanup_json json_t *c6 = J("{\"path\":[\"disks\",null],\"action\":\"added\","
                                "\"newValue\":{\"model\":\"virtio\",\"size\":10,\"path\":\"/x\"}}");
    assert_true(vminfo_change_matches(w6, c6));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identical),   cmocka_unit_test(test_simple_objects), cmocka_unit_test(test_arrays),
        cmocka_unit_test(test_default_map), cmocka_unit_test(test_pretty_path),    cmocka_unit_test(test_matching),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
