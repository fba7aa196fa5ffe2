/* lib/ct config generation: VM object -> LXC config items. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "common/util.h"
#include "ct/ct_config.h"

#define UUID "4a2f0f6e-1c7b-4d39-9d0f-6f1e2b3c4d5e"

static const ct_host v1_memsw = { CT_CG_V1, CT_CG_V1, CT_CG_V1, true, false };
static const ct_host v1_nomemsw = { CT_CG_V1, CT_CG_V1, CT_CG_V1, false, false };
static const ct_host v2 = { CT_CG_V2, CT_CG_V2, CT_CG_V2, false, false };
static const ct_host v1_apparmor = { CT_CG_V1, CT_CG_V1, CT_CG_V1, true, true };
/* slot 2 of the subordinate id ranges */
#define TEST_BASE (CT_IDMAP_BASE + 2 * CT_IDMAP_SIZE)

static json_t *vm(const char *extra_json)
{
    json_error_t je;
    json_t *o = json_loads("{\"uuid\": \"" UUID "\", \"brand\": \"joyent\","
                           " \"zonepath\": \"/zones/" UUID "\", \"zfs_filesystem\": \"zones/" UUID "\"}",
                           JSON_PRESERVE_ORDER, &je);
    assert_non_null(o);
    if (extra_json) {
        json_t *x = json_loads(extra_json, JSON_PRESERVE_ORDER, &je);
        assert_non_null(x);
        json_object_update(o, x);
        json_decref(x);
    }
    return o;
}

/* Value of the first item with this key, NULL if absent. */
static const char *val(json_t *items, const char *key)
{
    size_t i;
    json_t *p;
    json_array_foreach(items, i, p) {
        if (!strcmp(json_string_value(json_array_get(p, 0)), key))
            return json_string_value(json_array_get(p, 1));
    }
    return NULL;
}

static int count(json_t *items, const char *key)
{
    size_t i;
    json_t *p;
    int n = 0;
    json_array_foreach(items, i, p)
        n += !strcmp(json_string_value(json_array_get(p, 0)), key);
    return n;
}

/* Does some item key=value exist? */
static bool has(json_t *items, const char *key, const char *value)
{
    size_t i;
    json_t *p;
    json_array_foreach(items, i, p) {
        if (!strcmp(json_string_value(json_array_get(p, 0)), key) &&
            !strcmp(json_string_value(json_array_get(p, 1)), value))
            return true;
    }
    return false;
}

static json_t *build_ok(json_t *o, const ct_host *h, json_t *dsdirs, bool systemd, json_t *notes)
{
    ct_inputs in = { .rootfs = "/zones/" UUID "/root",
                     .rundir = "/r/run/vms/" UUID,
                     .dataset_dirs = dsdirs,
                     .init_is_systemd = systemd,
                     .idmap_base = TEST_BASE };
    json_t *items = NULL;
    vm_err err = VM_ERR_INIT;
    int r = ct_config_build(o, h, &in, &items, notes, &err);
    if (r < 0)
        fail_msg("build failed: %s", err.msg);
    assert_non_null(items);
    return items;
}

static void build_fails(json_t *o, const ct_host *h, json_t *dsdirs, const char *msg_part)
{
    ct_inputs in = {
        .rootfs = "/zones/" UUID "/root", .rundir = "/r/run/vms/" UUID, .dataset_dirs = dsdirs, .idmap_base = TEST_BASE
    };
    json_t *items = NULL;
    vm_err err = VM_ERR_INIT;
    assert_int_equal(ct_config_build(o, h, &in, &items, NULL, &err), -1);
    assert_null(items);
    assert_int_equal(err.code, VMERR_INVALID);
    if (!strstr(err.msg, msg_part))
        fail_msg("message '%s' lacks '%s'", err.msg, msg_part);
}

static void test_basic_items(void **state)
{
    (void)state;
    cleanup_json json_t *o = vm("{\"hostname\": \"web01\"}");
    cleanup_json json_t *items = build_ok(o, &v1_memsw, NULL, false, NULL);
    assert_string_equal(val(items, "lxc.uts.name"), "web01");
    assert_string_equal(val(items, "lxc.rootfs.path"), "dir:/zones/" UUID "/root");
    assert_string_equal(val(items, "lxc.net.0.type"), "empty");
    assert_string_equal(val(items, "lxc.apparmor.profile"), "unconfined");
    assert_string_equal(val(items, "lxc.autodev"), "1");
    assert_string_equal(val(items, "lxc.mount.auto"), "proc:mixed sys:ro cgroup:mixed:force");
    assert_string_equal(val(items, "lxc.init.cmd"), "/sbin/init");
    assert_string_equal(val(items, "lxc.signal.halt"), "SIGPWR");
    assert_string_equal(val(items, "lxc.console.logfile"), "/r/run/vms/" UUID "/console.log");
    assert_string_equal(val(items, "lxc.log.file"), "/r/run/vms/" UUID "/lxc.log");
    assert_string_equal(val(items, "lxc.cgroup.devices.deny"), "a");
    assert_true(has(items, "lxc.cgroup.devices.allow", "c 1:3 rwm"));
    /* no limits given: none emitted; the only mounts: the metadata socket */
    assert_null(val(items, "lxc.cgroup.memory.limit_in_bytes"));
    assert_null(val(items, "lxc.cgroup.pids.max"));
    assert_null(val(items, "lxc.cgroup.cpu.cfs_quota_us"));
    assert_null(val(items, "lxc.cgroup.cpu.shares"));
    assert_int_equal(count(items, "lxc.mount.entry"), 2);
    assert_true(has(items, "lxc.mount.entry",
                    "/r/run/vms/" UUID "/zonecontrol native/.zonecontrol none bind,ro,optional,create=dir 0 0"));
    /* every item is a [key, value] string pair */
    size_t i;
    json_t *p;
    json_array_foreach(items, i, p) {
        assert_int_equal(json_array_size(p), 2);
        assert_true(json_is_string(json_array_get(p, 1)));
    }
}

static void test_hostname_defaults(void **state)
{
    (void)state;
    cleanup_json json_t *o = vm(NULL);
    cleanup_json json_t *items = build_ok(o, &v1_memsw, NULL, false, NULL);
    assert_string_equal(val(items, "lxc.uts.name"), UUID);
    cleanup_json json_t *o2 = vm("{\"zonename\": \"myzone\"}");
    cleanup_json json_t *items2 = build_ok(o2, &v1_memsw, NULL, false, NULL);
    assert_string_equal(val(items2, "lxc.uts.name"), "myzone");
}

static void test_limits_v1(void **state)
{
    (void)state;
    cleanup_json json_t *o = vm("{\"max_physical_memory\": 256, \"max_swap\": 512,"
                                " \"max_lwps\": 2000, \"cpu_cap\": 150, \"cpu_shares\": 50}");
    cleanup_json json_t *items = build_ok(o, &v1_memsw, NULL, false, NULL);
    assert_string_equal(val(items, "lxc.cgroup.memory.limit_in_bytes"), "268435456");
    assert_string_equal(val(items, "lxc.cgroup.memory.memsw.limit_in_bytes"), "536870912");
    assert_string_equal(val(items, "lxc.cgroup.pids.max"), "2000");
    assert_string_equal(val(items, "lxc.cgroup.cpu.cfs_period_us"), "100000");
    assert_string_equal(val(items, "lxc.cgroup.cpu.cfs_quota_us"), "150000");
    assert_string_equal(val(items, "lxc.cgroup.cpu.shares"), "512");
    assert_null(val(items, "lxc.cgroup2.memory.max"));
}

static void test_shares_mapping(void **state)
{
    (void)state;
    struct {
        int in;
        const char *v1;
        const char *v2w;
    } cases[] = { { 100, "1024", "100" }, { 1, "10", "1" }, { 0, "2", "1" }, { 100000, "262144", "10000" } };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char js[64];
        snprintf(js, sizeof js, "{\"cpu_shares\": %d}", cases[i].in);
        cleanup_json json_t *o = vm(js);
        cleanup_json json_t *a = build_ok(o, &v1_memsw, NULL, false, NULL);
        cleanup_json json_t *b = build_ok(o, &v2, NULL, false, NULL);
        assert_string_equal(val(a, "lxc.cgroup.cpu.shares"), cases[i].v1);
        assert_string_equal(val(b, "lxc.cgroup2.cpu.weight"), cases[i].v2w);
    }
}

static void test_swap_without_memsw(void **state)
{
    (void)state;
    cleanup_json json_t *o = vm("{\"max_physical_memory\": 128, \"max_swap\": 256}");
    cleanup_json json_t *notes = json_array();
    cleanup_json json_t *items = build_ok(o, &v1_nomemsw, NULL, false, notes);
    assert_string_equal(val(items, "lxc.cgroup.memory.limit_in_bytes"), "134217728");
    assert_null(val(items, "lxc.cgroup.memory.memsw.limit_in_bytes"));
    assert_int_equal(json_array_size(notes), 1);
    assert_non_null(strstr(json_string_value(json_array_get(notes, 0)), "max_swap ignored"));
}

static void test_swap_below_memory_raised(void **state)
{
    (void)state;
    cleanup_json json_t *o = vm("{\"max_physical_memory\": 256, \"max_swap\": 128}");
    cleanup_json json_t *notes = json_array();
    cleanup_json json_t *items = build_ok(o, &v1_memsw, NULL, false, notes);
    assert_string_equal(val(items, "lxc.cgroup.memory.memsw.limit_in_bytes"), "268435456");
    assert_int_equal(json_array_size(notes), 1);
}

static void test_limits_v2(void **state)
{
    (void)state;
    cleanup_json json_t *o = vm("{\"max_physical_memory\": 256, \"max_swap\": 512,"
                                " \"max_lwps\": 100, \"cpu_cap\": 25}");
    cleanup_json json_t *items = build_ok(o, &v2, NULL, false, NULL);
    assert_string_equal(val(items, "lxc.cgroup2.memory.max"), "268435456");
    /* v2 swap.max is swap only: max_swap - max_physical_memory */
    assert_string_equal(val(items, "lxc.cgroup2.memory.swap.max"), "268435456");
    assert_string_equal(val(items, "lxc.cgroup2.pids.max"), "100");
    assert_string_equal(val(items, "lxc.cgroup2.cpu.max"), "25000 100000");
    assert_string_equal(val(items, "lxc.cgroup2.devices.deny"), "a");
    assert_null(val(items, "lxc.cgroup.memory.limit_in_bytes"));
}

static void test_live_defaults(void **state)
{
    (void)state;
    cleanup_json json_t *o = vm("{\"max_physical_memory\": 64}");
    cleanup_json json_t *items = json_array();
    vm_err err = VM_ERR_INIT;
    assert_int_equal(ct_config_limits(o, &v1_memsw, true, items, NULL, &err), 0);
    assert_string_equal(val(items, "lxc.cgroup.memory.limit_in_bytes"), "67108864");
    assert_string_equal(val(items, "lxc.cgroup.memory.memsw.limit_in_bytes"), "-1");
    assert_string_equal(val(items, "lxc.cgroup.pids.max"), "max");
    assert_string_equal(val(items, "lxc.cgroup.cpu.cfs_quota_us"), "-1");
    assert_string_equal(val(items, "lxc.cgroup.cpu.shares"), "1024");
    /* only cgroup items */
    size_t i;
    json_t *p;
    json_array_foreach(items, i, p)
        assert_true(str_has_prefix(json_string_value(json_array_get(p, 0)), "lxc.cgroup."));

    cleanup_json json_t *items2 = json_array();
    assert_int_equal(ct_config_limits(o, &v2, true, items2, NULL, &err), 0);
    assert_string_equal(val(items2, "lxc.cgroup2.memory.swap.max"), "max");
    assert_string_equal(val(items2, "lxc.cgroup2.cpu.max"), "max 100000");
    assert_string_equal(val(items2, "lxc.cgroup2.cpu.weight"), "100");
}

static void test_halt_signal(void **state)
{
    (void)state;
    cleanup_json json_t *lx = vm("{\"brand\": \"lx\", \"kernel_version\": \"4.3.0\"}");
    cleanup_json json_t *a = build_ok(lx, &v1_memsw, NULL, true, NULL);
    assert_string_equal(val(a, "lxc.signal.halt"), "SIGRTMIN+3");
    cleanup_json json_t *b = build_ok(lx, &v1_memsw, NULL, false, NULL);
    assert_string_equal(val(b, "lxc.signal.halt"), "SIGPWR");
    cleanup_json json_t *jm = vm("{\"brand\": \"joyent-minimal\"}");
    cleanup_json json_t *c = build_ok(jm, &v1_memsw, NULL, true, NULL);
    assert_string_equal(val(c, "lxc.signal.halt"), "SIGPWR");
    cleanup_json json_t *ov = vm("{\"internal_metadata\": {\"vmadm:halt_signal\": \"SIGUSR1\"}}");
    cleanup_json json_t *d = build_ok(ov, &v1_memsw, NULL, false, NULL);
    assert_string_equal(val(d, "lxc.signal.halt"), "SIGUSR1");
    cleanup_json json_t *bad = vm("{\"internal_metadata\": {\"vmadm:halt_signal\": \"SIGKILLX\"}}");
    build_fails(bad, &v1_memsw, NULL, "vmadm:halt_signal");
}

static void test_data_mount_and_tmpfs(void **state)
{
    (void)state;
    cleanup_json json_t *o = vm("{\"datasets\": [\"zones/" UUID "/data\"], \"tmpfs\": 64}");
    cleanup_json json_t *dirs = json_pack("[s]", "/var/lib/vmadm/zones/" UUID "/data");
    cleanup_json json_t *items = build_ok(o, &v1_memsw, dirs, false, NULL);
    assert_int_equal(count(items, "lxc.mount.entry"), 4);
    assert_true(has(items, "lxc.mount.entry",
                    "/var/lib/vmadm/zones/" UUID "/data data none bind,create=dir,idmap=container 0 0"));
    assert_true(has(items, "lxc.mount.entry", "tmpfs tmp tmpfs rw,nosuid,nodev,mode=1777,size=64m,create=dir 0 0"));
}

/* Finding 1 of issue 14: container root must not be host root. */
static void test_confinement(void **state)
{
    (void)state;
    cleanup_json json_t *o = vm("{}");
    cleanup_json json_t *items = build_ok(o, &v1_memsw, NULL, false, NULL);
    assert_int_equal(count(items, "lxc.idmap"), 2);
    assert_true(has(items, "lxc.idmap", "u 0 1131072 65536"));
    assert_true(has(items, "lxc.idmap", "g 0 1131072 65536"));
    assert_string_equal(val(items, "lxc.rootfs.options"), "idmap=container");
    assert_string_equal(val(items, "lxc.seccomp.profile"), "/r/run/vms/" UUID "/lxc/" UUID "/seccomp");
    assert_string_equal(val(items, "lxc.apparmor.profile"), "unconfined");
    const char *drop = val(items, "lxc.cap.drop");
    assert_non_null(drop);
    assert_non_null(strstr(drop, "sys_module"));
    assert_non_null(strstr(drop, "sys_rawio"));
    /* a host with AppArmor gets LXC's generated profile */
    cleanup_json json_t *aa = build_ok(o, &v1_apparmor, NULL, false, NULL);
    assert_string_equal(val(aa, "lxc.apparmor.profile"), "generated");
}

static void test_no_range_refused(void **state)
{
    (void)state;
    cleanup_json json_t *o = vm("{}");
    unsigned bad[] = { 0, 1, CT_IDMAP_BASE - 1, CT_IDMAP_BASE + 5, CT_IDMAP_BASE + CT_IDMAP_SLOTS * CT_IDMAP_SIZE };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ct_inputs in = { .rootfs = "/zones/" UUID "/root", .rundir = "/r/run/vms/" UUID, .idmap_base = bad[i] };
        json_t *items = NULL;
        vm_err err = VM_ERR_INIT;
        assert_int_equal(ct_config_build(o, &v1_memsw, &in, &items, NULL, &err), -1);
        assert_null(items);
        assert_non_null(strstr(err.msg, "no valid subordinate id range"));
    }
}

static void test_privileged(void **state)
{
    (void)state;
    cleanup_json json_t *o = vm("{\"datasets\": [\"zones/" UUID "/data\"]}");
    cleanup_json json_t *dirs = json_pack("[s]", "/z/data");
    ct_inputs in = { .rootfs = "/zones/" UUID "/root", .rundir = "/r", .dataset_dirs = dirs, .privileged = true };
    cleanup_json json_t *items = NULL;
    vm_err err = VM_ERR_INIT;
    assert_int_equal(ct_config_build(o, &v1_memsw, &in, &items, NULL, &err), 0);
    assert_int_equal(count(items, "lxc.idmap"), 0);
    assert_null(val(items, "lxc.rootfs.options"));
    assert_true(has(items, "lxc.mount.entry", "/z/data data none bind,create=dir 0 0"));
    /* the rest of the confinement stays */
    assert_string_equal(val(items, "lxc.seccomp.profile"), "/r/lxc/" UUID "/seccomp");
    assert_non_null(val(items, "lxc.cap.drop"));
}

static void test_seccomp_profile(void **state)
{
    (void)state;
    const char *p = ct_seccomp_profile();
    assert_true(str_has_prefix(p, "2\ndenylist\n"));
    static const char *const denied[] = { "\nopen_by_handle_at errno 1\n", "\nkexec_load errno 1\n",
                                          "\nkexec_file_load errno 1\n",   "\ninit_module errno 1\n",
                                          "\nfinit_module errno 1\n",      "\ndelete_module errno 1\n",
                                          "\nkeyctl errno 38\n",           "\nadd_key errno 38\n",
                                          "\nrequest_key errno 38\n",      "\nbpf errno 1\n",
                                          "\nperf_event_open errno 1\n",   NULL };
    for (size_t i = 0; denied[i]; i++)
        if (!strstr(p, denied[i]))
            fail_msg("seccomp profile lacks %s", denied[i] + 1);
}

/* ct_net_config alone: the messages of NICs LXC must not get. */
static void nic_fails(const char *nics, json_t *peers, const char *msg_part)
{
    cleanup_free char *js = xasprintf("{\"nics\": %s}", nics);
    cleanup_json json_t *o = vm(js);
    cleanup_json json_t *items = json_array();
    ct_inputs in = { .nic_peers = peers };
    vm_err err = VM_ERR_INIT;
    assert_int_equal(ct_net_config(o, &in, items, &err), -1);
    if (!strstr(err.msg, msg_part))
        fail_msg("%s: message '%s' lacks '%s'", nics, err.msg, msg_part);
}

static void test_nic_errors(void **state)
{
    (void)state;
    cleanup_json json_t *peers = json_pack("[s]", "vnpeer0");
    const char *mac = "\"mac\": \"02:00:00:00:00:01\"";
    cleanup_free char *ok = xasprintf("[{\"interface\": \"net0\", %s, \"ips\": [\"10.0.0.2/24\"]}]", mac);
    nic_fails(ok, NULL, "NIC net0 has no host link");
    cleanup_free char *noprefix = xasprintf("[{%s, \"ips\": [\"10.0.0.2\"]}]", mac);
    nic_fails(noprefix, peers, "NIC net0: ips entry \"10.0.0.2\" is not an address/prefix length");
    cleanup_free char *inject = xasprintf("[{%s, \"ips\": [\"10.0.0.2/24\\nlxc.x = y\"]}]", mac);
    nic_fails(inject, peers, "is not an address/prefix length");
    cleanup_free char *badgw = xasprintf("[{%s, \"primary\": true, \"gateways\": [\"gw\"]}]", mac);
    nic_fails(badgw, peers, "NIC net0: gateway \"gw\" is not an IP address");
    cleanup_free char *badif = xasprintf("[{\"interface\": \"net 0\", %s}]", mac);
    nic_fails(badif, peers, "NIC 0: interface \"net 0\" is not valid");
    nic_fails("[{\"interface\": \"net0\"}]", peers, "NIC net0: mac \"(none)\" is not valid");
    cleanup_free char *badmtu = xasprintf("[{%s, \"mtu\": 100}]", mac);
    nic_fails(badmtu, peers, "NIC net0: mtu must be an integer from 576 to 9000");
    nic_fails("{}", peers, "invalid value for nics: must be an array");
}

static void test_init_name(void **state)
{
    (void)state;
    cleanup_json json_t *o = vm("{\"init_name\": \"/bin/sleep\"}");
    cleanup_json json_t *items = build_ok(o, &v1_memsw, NULL, false, NULL);
    assert_string_equal(val(items, "lxc.init.cmd"), "/bin/sleep");
    cleanup_json json_t *rel = vm("{\"init_name\": \"sbin/init\"}");
    build_fails(rel, &v1_memsw, NULL, "init_name");
}

static void test_invalid(void **state)
{
    (void)state;
    cleanup_json json_t *a = vm("{\"brand\": \"bhyve\"}");
    build_fails(a, &v1_memsw, NULL, "not a container brand");
    cleanup_json json_t *b = vm("{\"max_physical_memory\": -5}");
    build_fails(b, &v1_memsw, NULL, "max_physical_memory");
    cleanup_json json_t *c = vm("{\"max_lwps\": \"lots\"}");
    build_fails(c, &v1_memsw, NULL, "max_lwps");
    cleanup_json json_t *d = vm("{\"hostname\": \"a\\nlxc.init.cmd = /evil\"}");
    build_fails(d, &v1_memsw, NULL, "hostname");
    cleanup_json json_t *e = vm("{\"datasets\": [\"zones/" UUID "/data\"]}");
    cleanup_json json_t *dirs = json_pack("[s]", "/tmp/with space/data");
    build_fails(e, &v1_memsw, dirs, "cannot be bind-mounted");
    build_fails(e, &v1_memsw, NULL, "no directory");
    cleanup_json json_t *f = vm("{\"uuid\": \"nope\"}");
    build_fails(f, &v1_memsw, NULL, "uuid");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_items),
        cmocka_unit_test(test_hostname_defaults),
        cmocka_unit_test(test_limits_v1),
        cmocka_unit_test(test_shares_mapping),
        cmocka_unit_test(test_swap_without_memsw),
        cmocka_unit_test(test_swap_below_memory_raised),
        cmocka_unit_test(test_limits_v2),
        cmocka_unit_test(test_live_defaults),
        cmocka_unit_test(test_halt_signal),
        cmocka_unit_test(test_data_mount_and_tmpfs),
        cmocka_unit_test(test_confinement),
        cmocka_unit_test(test_no_range_refused),
        cmocka_unit_test(test_privileged),
        cmocka_unit_test(test_seccomp_profile),
        cmocka_unit_test(test_nic_errors),
        cmocka_unit_test(test_init_name),
        cmocka_unit_test(test_invalid),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
