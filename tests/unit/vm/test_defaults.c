/* Create defaults (V14), memory arithmetic on create (V15) and on update
 * (V16). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "vm/defaults.h"

#define ZERO "00000000-0000-0000-0000-000000000000"
#define HVM_PRIV "default,-file_link_any,-net_access,-proc_fork,-proc_info,-proc_session"

static json_t *J(const char *s)
{
    json_error_t e;
    json_t *j = json_loads(s, 0, &e);
    if (!j)
        fail_msg("bad json %s: %s", s, e.text);
    return j;
}

static long long I(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_integer(v))
        fail_msg("%s is not an integer", k);
    return json_integer_value(v);
}

static const char *S(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    if (!json_is_string(v))
        fail_msg("%s is not a string", k);
    return json_string_value(v);
}

/* defaults + memory, as create does */
static json_t *created(const char *payload)
{
    json_t *p = J(payload);
    vm_apply_defaults(p, "zones");
    vm_fix_memory_create(p);
    return p;
}

static void assert_mem(json_t *p, long long phys, long long locked, long long swap, long long shm)
{
    assert_int_equal(I(p, "max_physical_memory"), phys);
    assert_int_equal(I(p, "max_locked_memory"), locked);
    assert_int_equal(I(p, "max_swap"), swap);
    assert_int_equal(I(p, "max_shm_memory"), shm);
}

static void test_common_defaults(void **state)
{
    (void)state;
    const char *brands[] = { "bhyve", "kvm", "joyent", "joyent-minimal", "lx" };
    for (size_t i = 0; i < 5; i++) {
        json_t *p = json_pack("{s:s}", "brand", brands[i]);
        vm_apply_defaults(p, "tank");
        assert_true(json_is_true(json_object_get(p, "autoboot")));
        assert_string_equal(S(p, "owner_uuid"), ZERO);
        assert_string_equal(S(p, "billing_id"), ZERO);
        assert_string_equal(S(p, "zpool"), "tank");
        assert_int_equal(I(p, "cpu_shares"), 100);
        assert_int_equal(I(p, "zfs_io_priority"), 100);
        assert_int_equal(I(p, "max_lwps"), 2000);
        assert_int_equal(I(p, "max_msg_ids"), 4096);
        assert_int_equal(I(p, "max_sem_ids"), 4096);
        assert_int_equal(I(p, "max_shm_ids"), 4096);
        assert_int_equal(I(p, "zfs_root_recsize"), 131072);
        assert_true(json_is_false(json_object_get(p, "firewall_enabled")));
        assert_true(json_is_array(json_object_get(p, "resolvers")));
        assert_int_equal(json_array_size(json_object_get(p, "resolvers")), 0);
        json_decref(p);
    }
}

static void test_brand_defaults(void **state)
{
    (void)state;
    json_t *p = created("{\"brand\":\"bhyve\"}");
    assert_int_equal(I(p, "ram"), 256);
    assert_int_equal(I(p, "vcpus"), 1);
    assert_int_equal(I(p, "quota"), 1);
    assert_string_equal(S(p, "limit_priv"), HVM_PRIV);
    assert_string_equal(S(p, "com1"), "/dev/zconsole");
    assert_string_equal(S(p, "com2"), "socket,/tmp/vm.ttyb");
    assert_string_equal(S(p, "zlog_mode"), "g--");
    assert_string_equal(S(p, "zlog_name"), "platform.log");
    assert_null(json_object_get(p, "dns_domain"));
    assert_null(json_object_get(p, "tmpfs"));
    assert_null(json_object_get(p, "mdata_exec_timeout"));
    json_decref(p);

    p = created("{\"brand\":\"kvm\"}");
    assert_int_equal(I(p, "ram"), 256);
    assert_int_equal(I(p, "vcpus"), 1);
    assert_string_equal(S(p, "limit_priv"), HVM_PRIV);
    assert_null(json_object_get(p, "dns_domain"));
    assert_null(json_object_get(p, "com1"));
    assert_null(json_object_get(p, "tmpfs"));
    json_decref(p);

    const char *os[] = { "joyent", "joyent-minimal", "lx" };
    for (size_t i = 0; i < 3; i++) {
        json_t *q = json_pack("{s:s}", "brand", os[i]);
        vm_apply_defaults(q, "zones");
        vm_fix_memory_create(q);
        assert_string_equal(S(q, "dns_domain"), "local");
        assert_int_equal(I(q, "quota"), 10);
        assert_string_equal(S(q, "limit_priv"), "default");
        assert_null(json_object_get(q, "vcpus"));
        assert_null(json_object_get(q, "com1"));
        /* O9: OS VMs keep no ram key */
        assert_null(json_object_get(q, "ram"));
        if (i < 2)
            assert_int_equal(I(q, "mdata_exec_timeout"), 300);
        else
            assert_null(json_object_get(q, "mdata_exec_timeout"));
        json_decref(q);
    }

    /* brand defaults to joyent */
    p = J("{}");
    vm_apply_defaults(p, "zones");
    assert_string_equal(S(p, "brand"), "joyent");
    assert_string_equal(S(p, "dns_domain"), "local");
    json_decref(p);
}

static void test_given_values_kept(void **state)
{
    (void)state;
    json_t *p =
        created("{\"brand\":\"joyent\",\"autoboot\":false,\"owner_uuid\":\"930896af-bf8c-48d4-885c-6573a94b1853\","
                "\"quota\":20,\"dns_domain\":\"example.com\",\"cpu_shares\":7,\"resolvers\":[\"8.8.8.8\"],"
                "\"zpool\":\"other\",\"limit_priv\":\"default,dtrace_user\",\"max_lwps\":100}");
    assert_true(json_is_false(json_object_get(p, "autoboot")));
    assert_string_equal(S(p, "owner_uuid"), "930896af-bf8c-48d4-885c-6573a94b1853");
    assert_int_equal(I(p, "quota"), 20);
    assert_string_equal(S(p, "dns_domain"), "example.com");
    assert_int_equal(I(p, "cpu_shares"), 7);
    assert_int_equal(json_array_size(json_object_get(p, "resolvers")), 1);
    assert_string_equal(S(p, "zpool"), "other");
    assert_string_equal(S(p, "limit_priv"), "default,dtrace_user");
    assert_int_equal(I(p, "max_lwps"), 100);
    json_decref(p);

    /* cpu_shares above 65535 is capped */
    p = created("{\"brand\":\"joyent\",\"cpu_shares\":100000}");
    assert_int_equal(I(p, "cpu_shares"), 65535);
    json_decref(p);

    /* V20: rctls given with max_physical_memory are kept verbatim */
    p = created("{\"brand\":\"joyent\",\"max_physical_memory\":1024,\"max_shm_memory\":4096,"
                "\"max_shm_ids\":256,\"max_sem_ids\":256,\"max_msg_ids\":256}");
    assert_int_equal(I(p, "max_physical_memory"), 1024);
    assert_int_equal(I(p, "max_shm_memory"), 4096);
    assert_int_equal(I(p, "max_shm_ids"), 256);
    assert_int_equal(I(p, "max_sem_ids"), 256);
    assert_int_equal(I(p, "max_msg_ids"), 256);
    json_decref(p);
}

static void test_memory_create(void **state)
{
    (void)state;
    /* V15 examples */
    json_t *p = created("{\"brand\":\"bhyve\",\"ram\":1024}");
    assert_int_equal(I(p, "ram"), 1024);
    assert_mem(p, 2304, 2304, 2304, 2304);
    json_decref(p);

    p = created("{\"brand\":\"bhyve\"}");
    assert_int_equal(I(p, "ram"), 256);
    assert_mem(p, 1536, 1536, 1536, 1536);
    json_decref(p);

    p = created("{\"brand\":\"kvm\"}");
    assert_int_equal(I(p, "ram"), 256);
    assert_mem(p, 1280, 1280, 1280, 1280);
    json_decref(p);

    p = created("{\"brand\":\"joyent-minimal\"}");
    assert_mem(p, 256, 256, 256, 256);
    assert_int_equal(I(p, "tmpfs"), 256);
    json_decref(p);

    p = created("{\"brand\":\"lx\",\"ram\":1024}");
    assert_mem(p, 1024, 1024, 1024, 1024);
    assert_int_equal(I(p, "tmpfs"), 1024);
    assert_null(json_object_get(p, "ram"));
    json_decref(p);

    /* OS below 256: swap is at least 256 */
    p = created("{\"brand\":\"joyent\",\"max_physical_memory\":128}");
    assert_mem(p, 128, 128, 256, 128);
    json_decref(p);

    /* HVM minimum overhead: physical and locked raised to ram + 256 */
    p = created("{\"brand\":\"bhyve\",\"ram\":1024,\"max_physical_memory\":1100}");
    assert_int_equal(I(p, "max_physical_memory"), 1280);
    assert_int_equal(I(p, "max_locked_memory"), 1280);
    assert_int_equal(I(p, "max_swap"), 1280);
    json_decref(p);

    /* locked clamped to physical; swap raised to physical */
    p = created("{\"brand\":\"joyent\",\"max_physical_memory\":1024,\"max_locked_memory\":4096,\"max_swap\":512}");
    assert_int_equal(I(p, "max_locked_memory"), 1024);
    assert_int_equal(I(p, "max_swap"), 1024);
    json_decref(p);

    /* tmpfs clamped to physical memory */
    p = created("{\"brand\":\"joyent\",\"max_physical_memory\":512,\"tmpfs\":4096}");
    assert_int_equal(I(p, "tmpfs"), 512);
    json_decref(p);
    p = created("{\"brand\":\"joyent\",\"max_physical_memory\":512,\"tmpfs\":100}");
    assert_int_equal(I(p, "tmpfs"), 100);
    json_decref(p);
}

/* V16, with the config a default create leaves. */
static json_t *bhyve_cur(void)
{
    return created("{\"brand\":\"bhyve\",\"ram\":1024}");
}

static void test_memory_update(void **state)
{
    (void)state;
    json_t *cur = bhyve_cur();
    json_t *p = J("{\"ram\":2048}");
    vm_fix_memory_update(p, cur);
    assert_int_equal(I(p, "max_physical_memory"), 3328);
    assert_int_equal(I(p, "max_locked_memory"), 3328);
    assert_int_equal(I(p, "max_swap"), 3328);
    assert_int_equal(I(p, "ram"), 2048);
    json_decref(p);

    /* back to 1024 */
    p = J("{\"ram\":1024}");
    vm_fix_memory_update(p, cur);
    assert_int_equal(I(p, "max_physical_memory"), 2304);
    assert_int_equal(I(p, "max_locked_memory"), 2304);
    assert_int_equal(I(p, "max_swap"), 2304);
    json_decref(p);

    /* ram and physical together: min overhead */
    p = J("{\"ram\":2048,\"max_physical_memory\":2048}");
    vm_fix_memory_update(p, cur);
    assert_int_equal(I(p, "max_physical_memory"), 2304);
    assert_int_equal(I(p, "max_locked_memory"), 2304);
    assert_int_equal(I(p, "max_swap"), 2304);
    json_decref(p);

    /* max_swap only: set, physical unchanged */
    p = J("{\"max_swap\":4096}");
    vm_fix_memory_update(p, cur);
    assert_int_equal(I(p, "max_swap"), 4096);
    json_t *ph = json_object_get(p, "max_physical_memory");
    assert_true(!ph || json_integer_value(ph) == 2304);
    json_t *lk = json_object_get(p, "max_locked_memory");
    assert_true(!lk || json_integer_value(lk) == 2304);
    json_decref(p);

    /* max_swap below physical: raised to physical */
    p = J("{\"max_swap\":960}");
    vm_fix_memory_update(p, cur);
    assert_int_equal(I(p, "max_swap"), 2304);
    json_decref(p);

    /* max_physical_memory only (ram + 1024): locked and swap follow */
    p = J("{\"max_physical_memory\":2048}");
    vm_fix_memory_update(p, cur);
    assert_int_equal(I(p, "max_physical_memory"), 2048);
    assert_int_equal(I(p, "max_locked_memory"), 2048);
    assert_int_equal(I(p, "max_swap"), 2048);
    json_decref(p);

    /* max_locked_memory above physical: clamped */
    p = J("{\"max_locked_memory\":9999}");
    vm_fix_memory_update(p, cur);
    assert_int_equal(I(p, "max_locked_memory"), 2304);
    json_decref(p);

    /* previous offsets are kept: swap 4096 above physical 2304 */
    json_object_set_new(cur, "max_swap", json_integer(4096));
    p = J("{\"ram\":2048}");
    vm_fix_memory_update(p, cur);
    assert_int_equal(I(p, "max_physical_memory"), 3328);
    assert_int_equal(I(p, "max_swap"), 3328 + (4096 - 2304));
    json_decref(p);

    /* nothing memory-related: nothing added */
    p = J("{\"alias\":\"x\"}");
    vm_fix_memory_update(p, cur);
    assert_int_equal(json_object_size(p), 1);
    json_decref(p);
    json_decref(cur);

    /* OS VM: ram means physical memory, tmpfs keeps its ratio, no ram key */
    cur = created("{\"brand\":\"joyent\",\"max_physical_memory\":1024,\"tmpfs\":512}");
    p = J("{\"max_physical_memory\":2048}");
    vm_fix_memory_update(p, cur);
    assert_int_equal(I(p, "max_physical_memory"), 2048);
    assert_int_equal(I(p, "max_locked_memory"), 2048);
    assert_int_equal(I(p, "max_swap"), 2048);
    assert_int_equal(I(p, "tmpfs"), 1024);
    json_decref(p);
    p = J("{\"ram\":512}");
    vm_fix_memory_update(p, cur);
    assert_int_equal(I(p, "max_physical_memory"), 512);
    assert_int_equal(I(p, "tmpfs"), 256);
    assert_null(json_object_get(p, "ram"));
    json_decref(p);
    json_decref(cur);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_common_defaults),   cmocka_unit_test(test_brand_defaults),
        cmocka_unit_test(test_given_values_kept), cmocka_unit_test(test_memory_create),
        cmocka_unit_test(test_memory_update),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
