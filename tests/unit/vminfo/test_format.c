/* Event lines (C44–C46). */
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
    json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);
    assert_non_null(j);
    return j;
}

static void check(const char *ev, int flags, const char *want)
{
    cleanup_json json_t *j = J(ev);
    cleanup_free char *s = vminfo_format_event(j, flags);
    assert_string_equal(s, want);
}

#define UUID "54f1cc77-68f1-42ab-acac-5c4f64f5d6e0"
#define MODIFY \
    "{\"type\":\"modify\",\"date\":\"2019-05-23T18:22:31.123Z\",\"zonename\":\"" UUID "\",\"uuid\":\"" UUID \
    "\",\"vm\":{\"alias\":\"web0\"},\"changes\":[" \
    "{\"prettyPath\":\"zone_state\",\"path\":[\"zone_state\"],\"action\":\"changed\"," \
    "\"oldValue\":\"installed\",\"newValue\":\"ready\"}," \
    "{\"prettyPath\":\"pid\",\"path\":[\"pid\"],\"action\":\"added\",\"newValue\":42}]," \
    "\"seq\":7}"

static void test_human(void **state)
{
    (void)state;
    check(MODIFY, 0,
          "[18:22:31.123Z] 54f1cc77 web0 modify: zone_state changed :: \"installed\" -> \"ready\"\n"
          "[18:22:31.123Z] 54f1cc77 web0 modify: pid added :: undefined -> 42\n");
    check(MODIFY, VMINFO_FMT_FULL,
          "[2019-05-23T18:22:31.123Z] " UUID " web0 modify: zone_state changed :: \"installed\" -> "
          "\"ready\"\n"
          "[2019-05-23T18:22:31.123Z] " UUID " web0 modify: pid added :: undefined -> 42\n");
    /* delete: no vm, no alias */
    check("{\"type\":\"delete\",\"date\":\"2019-05-23T18:22:31.123Z\",\"zonename\":\"" UUID "\",\"uuid\":\"" UUID "\"}",
          0, "[18:22:31.123Z] 54f1cc77 - delete\n");
    check("{\"type\":\"create\",\"date\":\"2019-05-23T18:22:31.123Z\",\"zonename\":\"" UUID "\",\"uuid\":\"" UUID
          "\",\"vm\":{\"alias\":\"a-very-long-alias-that-goes-on-and-on\"}}",
          0, "[18:22:31.123Z] 54f1cc77 a-very-long-alias-that-goes... create\n");
    /* exactly 30 characters are kept */
    check("{\"type\":\"create\",\"date\":\"2019-05-23T18:22:31.123Z\",\"zonename\":\"z\","
          "\"vm\":{\"alias\":\"123456789012345678901234567890\"}}",
          0, "[18:22:31.123Z] z 123456789012345678901234567890 create\n");
    /* removed values print their old value and undefined */
    check("{\"type\":\"modify\",\"date\":\"2019-05-23T18:22:31.123Z\",\"zonename\":\"z\","
          "\"changes\":[{\"prettyPath\":\"tags\",\"path\":[\"tags\"],\"action\":\"removed\","
          "\"oldValue\":{\"a\":1}}]}",
          0, "[18:22:31.123Z] z - modify: tags removed :: {\"a\":1} -> undefined\n");
}

static void test_json(void **state)
{
    (void)state;
    cleanup_json json_t *ev = J(MODIFY);
    cleanup_free char *s = vminfo_format_event(ev, VMINFO_FMT_JSON | VMINFO_FMT_FULL);
    cleanup_free char *want = json_compact(ev);
    size_t n = strlen(s);
    assert_true(n > 0 && s[n - 1] == '\n');
    s[n - 1] = '\0';
    assert_string_equal(s, want);
}

static void test_ready(void **state)
{
    (void)state;
    const char *ready = "{\"type\":\"ready\",\"date\":\"2019-05-23T18:22:31.123Z\","
                        "\"uuid\":\"11111111-2222-3333-4444-555555555555\","
                        "\"vms\":\"[{\\\"zonename\\\":\\\"z1\\\",\\\"a\\\":1}]\",\"seq\":3}";
    check(ready, 0, "[18:22:31.123Z] ready\n");
    check(ready, VMINFO_FMT_FULL, "[2019-05-23T18:22:31.123Z] ready (uuid 11111111-2222-3333-4444-555555555555)\n");
    check(ready, VMINFO_FMT_JSON,
          "{\"type\":\"ready\",\"date\":\"2019-05-23T18:22:31.123Z\","
          "\"uuid\":\"11111111-2222-3333-4444-555555555555\","
          "\"vms\":{\"z1\":{\"zonename\":\"z1\",\"a\":1}},\"seq\":3}\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_human),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_ready),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
