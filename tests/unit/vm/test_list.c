/* vmadm list / lookup building blocks (reference C30–C38): fake fields,
 * filters, sorting and the exact column layout. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "vm/list.h"

#define UA "aaaaaaaa-0000-4000-8000-000000000001"
#define UB "bbbbbbbb-0000-4000-8000-000000000002"
#define UC "cccccccc-0000-4000-8000-000000000003"
#define UD "dddddddd-0000-4000-8000-000000000004"

/* Four VMs as vmadm get shows them (only the fields list uses). */
static json_t *fleet(void)
{
    json_error_t e;
    json_t *a = json_loads(
        "["
        "{\"uuid\":\"" UC "\",\"brand\":\"bhyve\",\"ram\":1024,\"max_physical_memory\":2304,\"state\":\"stopped\","
        " \"alias\":\"web0\",\"autoboot\":false,\"cpu_cap\":0,\"tags\":{\"role\":\"web\",\"a.b\":\"dotted\"},"
        " \"disks\":[{\"size\":10240,\"boot\":true,\"model\":\"virtio\"},{\"size\":512,\"model\":\"virtio\"}],"
        " \"nics\":[{\"mac\":\"0a:0b:0c:0d:0e:0f\",\"ip\":\"10.0.0.5\",\"nic_tag\":\"admin\"}]},"
        "{\"uuid\":\"" UA "\",\"brand\":\"joyent\",\"max_physical_memory\":256,\"state\":\"running\","
        " \"alias\":\"MyWebServer\",\"autoboot\":true,\"tags\":{\"role\":\"db\"},"
        " \"nics\":[{\"mac\":\"02:00:00:00:00:01\",\"ip\":\"10.0.0.6\",\"nic_tag\":\"external\"}]},"
        "{\"uuid\":\"" UB "\",\"brand\":\"lx\",\"max_physical_memory\":4096,\"state\":\"stopped\","
        " \"autoboot\":true,\"tags\":{},\"nics\":[]},"
        "{\"uuid\":\"" UD "\",\"brand\":\"kvm\",\"ram\":256,\"max_physical_memory\":1280,\"state\":\"stopped\","
        " \"alias\":\"db1\",\"autoboot\":false,\"tags\":{},\"nics\":[]}"
        "]",
        0, &e);
    if (!a)
        fail_msg("fleet: %s", e.text);
    size_t i;
    json_t *vm;
    json_array_foreach(a, i, vm)
        vm_list_add_fake_fields(vm);
    return a;
}

static json_t *by_uuid(json_t *vms, const char *uuid)
{
    size_t i;
    json_t *vm;
    json_array_foreach(vms, i, vm)
        if (!strcmp(json_string_value(json_object_get(vm, "uuid")), uuid))
            return vm;
    return NULL;
}

static void test_fake_fields(void **state)
{
    (void)state;
    json_t *vms = fleet();
    json_t *c = by_uuid(vms, UC), *a = by_uuid(vms, UA), *b = by_uuid(vms, UB), *d = by_uuid(vms, UD);
    assert_string_equal(json_string_value(json_object_get(c, "type")), "BHYV");
    assert_string_equal(json_string_value(json_object_get(a, "type")), "OS");
    assert_string_equal(json_string_value(json_object_get(b, "type")), "LX");
    assert_string_equal(json_string_value(json_object_get(d, "type")), "KVM");
    /* HVM keeps its own ram; OS ram = max_physical_memory */
    assert_int_equal(json_integer_value(json_object_get(c, "ram")), 1024);
    assert_int_equal(json_integer_value(json_object_get(a, "ram")), 256);
    assert_int_equal(json_integer_value(json_object_get(b, "ram")), 4096);
    json_decref(vms);

    json_t *x = json_pack("{s:s}", "brand", "builder");
    vm_list_add_fake_fields(x);
    assert_string_equal(json_string_value(json_object_get(x, "type")), "OS");
    json_decref(x);
    x = json_pack("{s:s}", "brand", "joyent-minimal");
    vm_list_add_fake_fields(x);
    assert_string_equal(json_string_value(json_object_get(x, "type")), "OS");
    json_decref(x);
}

/* uuids of the VMs matching `filters` (NULL-terminated), comma-joined in
 * input order; or "ERR:<message>". */
static char *match(json_t *vms, const char *f1, const char *f2)
{
    char *filters[3] = { (char *)f1, (char *)f2, NULL };
    vm_err err = VM_ERR_INIT;
    json_t *r = vm_list_filter(vms, filters, &err);
    if (!r)
        return xasprintf("ERR:%s", err.msg);
    size_t i;
    json_t *vm;
    char *out = xstrdup("");
    json_array_foreach(r, i, vm) {
        char *n = xasprintf("%s%s%.8s", out, i ? "," : "", json_string_value(json_object_get(vm, "uuid")));
        free(out);
        out = n;
    }
    json_decref(r);
    return out;
}

#define M(expect, f1, f2) \
    do { \
        char *got_ = match(vms, f1, f2); \
        if (strcmp(got_, expect)) \
            fail_msg("filter %s %s: expected [%s] got [%s]", (const char *)(f1), \
                     (const char *)(f2) ? (const char *)(f2) : "", expect, got_); \
        free(got_); \
    } while (0)

static void test_filters(void **state)
{
    (void)state;
    json_t *vms = fleet();
    /* order of the input is kept: c, a, b, d */
    M("cccccccc,aaaaaaaa,bbbbbbbb,dddddddd", NULL, NULL);
    M("cccccccc", "alias=web0", NULL);
    M("", "alias=web", NULL); /* exact, not prefix */
    M("", "alias=WEB0", NULL); /* exact is case-sensitive */
    M("cccccccc,aaaaaaaa", "alias=~web", NULL); /* regex: unanchored, case-insensitive */
    M("aaaaaaaa", "alias=~^my", NULL);
    M("cccccccc,dddddddd", "alias=~[0-9]$", NULL);
    M("dddddddd", "alias=~[0-9]$", "brand=kvm");
    M("cccccccc,bbbbbbbb,dddddddd", "state=stopped", NULL);
    M("cccccccc", "state=stopped", "brand=bhyve"); /* AND */
    M("cccccccc", "type=BHYV", NULL);
    M("", "type=BHYVE", NULL);
    M("bbbbbbbb", "type=LX", NULL);
    M("aaaaaaaa", "type=OS", NULL);
    M("aaaaaaaa,dddddddd", "ram=256", NULL);
    M("aaaaaaaa", "ram=256", "type=OS"); /* fake OS ram */
    M("dddddddd", "max_physical_memory=1280", NULL);
    M("aaaaaaaa,bbbbbbbb", "autoboot=true", NULL);
    M("cccccccc,dddddddd", "autoboot=false", NULL);
    M("cccccccc", "cpu_cap=0", NULL);
    M("cccccccc", "tags.role=web", NULL);
    M("aaaaaaaa", "tags.role=~^D", NULL);
    M("cccccccc", "tags.a.b=dotted", NULL);
    M("", "tags.missing=x", NULL);
    /* x.*.y: any element; x.N.y: that element */
    M("cccccccc", "disks.*.size=512", NULL);
    M("cccccccc", "disks.1.size=512", NULL);
    M("", "disks.0.size=512", NULL);
    M("", "disks.7.size=512", NULL);
    M("cccccccc", "disks.0.boot=true", NULL);
    M("aaaaaaaa", "nics.*.nic_tag=external", NULL);
    M("cccccccc,aaaaaaaa", "nics.0.ip=~^10\\.0\\.0\\.", NULL);
    /* exact MAC filters are normalised to two-digit lowercase octets */
    M("cccccccc", "nics.*.mac=A:B:C:D:E:F", NULL);
    M("cccccccc", "nics.*.mac=0A:0B:0C:0D:0E:0F", NULL);
    M("aaaaaaaa", "nics.0.mac=2:0:0:0:0:1", NULL);
    /* invalid keys */
    M("ERR:Invalid filter key: \"bogus\"", "bogus=1", NULL);
    M("ERR:Invalid filter key: \"disks.*.path\"", "disks.*.path=/x", NULL);
    M("ERR:Invalid filter key: \"nics.x.mac\"", "nics.x.mac=1", NULL);
    M("ERR:Invalid filter key: \"tags.\"", "tags.=1", NULL);
    M("ERR:Invalid filter key: \"resolvers.0\"", "resolvers.0=1", NULL);
    json_decref(vms);

    assert_true(vm_list_valid_filter_key("customer_metadata.foo"));
    assert_true(vm_list_valid_filter_key("internal_metadata.foo"));
    assert_true(vm_list_valid_filter_key("nics.12.vlan_id"));
    assert_true(vm_list_valid_filter_key("disks.*.image_uuid"));
    assert_false(vm_list_valid_filter_key("routes.foo"));
    assert_false(vm_list_valid_filter_key(""));
}

static char *order(json_t *vms, const char *sort)
{
    vm_err err = VM_ERR_INIT;
    cleanup_strv char **cols = vm_list_columns("uuid", sort);
    vm_table *t = vm_table_new((const char *const *)cols);
    vm_table_add_json(t, vms);
    if (vm_list_sort_table(t, sort, &err) < 0) {
        vm_table_free(t);
        return xasprintf("ERR:%s", err.msg);
    }
    char *out = xstrdup("");
    size_t uc = (size_t)vm_table_col(t, "uuid");
    for (size_t i = 0; i < vm_table_nrows(t); i++) {
        char *n = xasprintf("%s%s%.1s", out, i ? "," : "", vm_table_cell(t, i, uc)->text);
        free(out);
        out = n;
    }
    vm_table_free(t);
    return out;
}

#define SORT(expect, key) \
    do { \
        char *got_ = order(vms, key); \
        if (strcmp(got_, expect)) \
            fail_msg("sort %s: expected [%s] got [%s]", key, expect, got_); \
        free(got_); \
    } while (0)

static void test_sort(void **state)
{
    (void)state;
    json_t *vms = fleet();
    /* ram: a 256, d 256, c 1024, b 4096 — numeric, not lexical */
    SORT("a,d,c,b", "ram,uuid");
    SORT("d,a,c,b", "ram,-uuid");
    SORT("b,c,a,d", "-ram,uuid");
    SORT("b,c,d,a", "-ram,-uuid");
    SORT("a,d,c,b", "+ram,+uuid");
    SORT("a,b,c,d", "uuid");
    SORT("d,c,b,a", "-uuid");
    /* strings lexically (uppercase first); missing alias sorts last */
    SORT("a,d,c,b", "alias");
    /* descending: present values reversed, missing still last */
    SORT("c,d,a,b", "-alias");
    /* false counts as missing */
    SORT("a,b,c,d", "autoboot,uuid");
    SORT("a,b,c,d", "-autoboot,uuid");
    SORT("a,c,b,d", "tags.role,uuid");
    SORT("ERR:invalid sort field: bogus", "bogus");
    SORT("ERR:invalid sort field: -bogus", "-bogus");
    SORT("ERR:Invalid sort key: \"disks.0.size\"", "disks.0.size");
    SORT("ERR:Invalid sort key: \"-nics.0.ip\"", "-nics.0.ip");
    json_decref(vms);
}

static char *render(json_t *vms, const char *order_, const char *sort, bool parsable, int header)
{
    vm_list_opts o = { order_, sort, parsable, header };
    vm_err err = VM_ERR_INIT;
    char *s = vm_list_render(vms, &o, &err);
    return s ? s : xasprintf("ERR:%s", err.msg);
}

#define R(expect, ...) \
    do { \
        char *got_ = render(vms, __VA_ARGS__); \
        if (strcmp(got_, expect)) \
            fail_msg("render:\nexpected:\n%s\ngot:\n%s", expect, got_); \
        free(got_); \
    } while (0)

/* One row with the C31 widths: "%-36s  %-4s  %-7s  %-16s  %s" etc. */
static void test_render(void **state)
{
    (void)state;
    json_t *vms = fleet();
    char *exp;
    /* C30/C31 default: uuid 36, type 4, ram 7, state 16, alias 10; two
     * spaces between; trailing blanks trimmed; sorted by ram,uuid */
    exp = xasprintf("%-36s  %-4s  %-7s  %-16s  %s\n"
                    "%-36s  %-4s  %-7s  %-16s  %s\n"
                    "%-36s  %-4s  %-7s  %-16s  %s\n"
                    "%-36s  %-4s  %-7s  %-16s  %s\n"
                    "%-36s  %-4s  %-7s  %-16s  %s\n",
                    "UUID", "TYPE", "RAM", "STATE", "ALIAS", UA, "OS", "256", "running", "MyWebServer", UD, "KVM",
                    "256", "stopped", "db1", UC, "BHYV", "1024", "stopped", "web0", UB, "LX", "4096", "stopped", "-");
    R(exp, NULL, NULL, false, -1);
    /* the header literally, as SmartOS prints it */
    assert_memory_equal(exp, "UUID                                  TYPE  RAM      STATE             ALIAS\n", 77);
    /* -H: the same without the header line */
    R(strchr(exp, '\n') + 1, NULL, NULL, false, 0);
    free(exp);
    /* -p: ':'-joined, no header, missing is empty */
    R(UA ":OS:256:running:MyWebServer\n" UD ":KVM:256:stopped:db1\n" UC ":BHYV:1024:stopped:web0\n" UB
         ":LX:4096:stopped:\n",
      NULL, NULL, true, -1);
    /* -p -h: header forced on */
    R("UUID:TYPE:RAM:STATE:ALIAS\n" UA ":OS:256:running:MyWebServer\n" UD ":KVM:256:stopped:db1\n" UC
      ":BHYV:1024:stopped:web0\n" UB ":LX:4096:stopped:\n",
      NULL, NULL, true, 1);
    /* -o / -s; false prints '-', true 'true', 0 '0'; a value wider than its
     * column widens the column (issue 19; SmartOS pushes the rest right) */
    R("ALIAS        AUTOBOOT  CPU_CAP\n"
      "web0         -         0\n"
      "db1          -         -\n"
      "MyWebServer  true      -\n"
      "-            true      -\n",
      "alias,autoboot,cpu_cap", "-alias", false, -1);
    /* dictionary and indexed columns: upper-case header, width 20 */
    exp = xasprintf("%-36s  %-20s  %s\n%-36s  %-20s  %s\n%-36s  %-20s  %s\n%-36s  %-20s  %s\n%-36s  %-20s  %s\n",
                    "UUID", "TAGS.ROLE", "DISKS.0.SIZE", UA, "db", "-", UB, "-", "-", UC, "web", "10240", UD, "-", "-");
    R(exp, "uuid,tags.role,disks.0.size", "uuid", false, -1);
    free(exp);
    /* every C31 column header and width */
    json_t *all = vms;
    vms = json_array();
    R("ALIAS:AUTOBOOT:BILLING_ID:BOOT_TIMESTAMP:BRAND:CPU_CAP:CPU_SHARE:CPU_TYPE:CREATE_TIMESTAMP:DOMAIN:DNI:DOCKER:"
      "EXIT:EXIT_TIMESTAMP:FIREWALL_ENABLED:FLEX_DISK_SIZE:FREE_SPACE:HOSTNAME:HVM:IMAGE_UUID:INDESTR_DATA:"
      "INDESTR_ROOT:RAM:MAX_LOCKED:MAX_LWP:MAX_PHYS:MAX_SWAP:OWNER_UUID:PACKAGE_NAME:PACKAGE_VER:PID:QEMU_EXTRA_OPTS:"
      "QUOTA:ZONE_STATE:STATE:TMPFS:TYPE:UUID:VCPUS:IO_PRIORITY:ZPOOL:ZONENAME:ZONEPATH:ZONEID\n",
      "alias,autoboot,billing_id,boot_timestamp,brand,cpu_cap,cpu_shares,cpu_type,create_timestamp,dns_domain,"
      "do_not_inventory,docker,exit_status,exit_timestamp,firewall_enabled,flexible_disk_size,free_space,hostname,"
      "hvm,image_uuid,indestructible_delegated,indestructible_zoneroot,ram,max_locked_memory,max_lwps,"
      "max_physical_memory,max_swap,owner_uuid,package_name,package_version,pid,qemu_extra_opts,quota,zone_state,"
      "state,tmpfs,type,uuid,vcpus,zfs_io_priority,zpool,zonename,zonepath,zoneid",
      "uuid", true, 1);
    json_decref(vms);
    vms = all;
    static const struct {
        const char *f;
        int w;
    } widths[] = {
        { "alias", 10 },
        { "autoboot", 8 },
        { "billing_id", 36 },
        { "boot_timestamp", 24 },
        { "brand", 14 },
        { "cpu_cap", 7 },
        { "cpu_shares", 9 },
        { "cpu_type", 8 },
        { "create_timestamp", 24 },
        { "dns_domain", 32 },
        { "do_not_inventory", 5 },
        { "docker", 6 },
        { "exit_status", 4 },
        { "exit_timestamp", 24 },
        { "firewall_enabled", 16 },
        { "flexible_disk_size", 14 },
        { "free_space", 14 },
        { "hostname", 32 },
        { "hvm", 5 },
        { "image_uuid", 36 },
        { "indestructible_delegated", 12 },
        { "indestructible_zoneroot", 12 },
        { "ram", 7 },
        { "max_locked_memory", 10 },
        { "max_lwps", 7 },
        { "max_physical_memory", 8 },
        { "max_swap", 8 },
        { "owner_uuid", 36 },
        { "package_name", 32 },
        { "package_version", 11 },
        { "pid", 6 },
        { "qemu_extra_opts", 15 },
        { "quota", 5 },
        { "zone_state", 10 },
        { "state", 16 },
        { "tmpfs", 5 },
        { "type", 4 },
        { "uuid", 36 },
        { "vcpus", 5 },
        { "zfs_io_priority", 11 },
        { "zpool", 12 },
        { "zonename", 12 },
        { "zonepath", 40 },
        { "zoneid", 6 },
    };
    for (size_t i = 0; i < sizeof widths / sizeof widths[0]; i++) {
        /* the column, then uuid: its cell padded to exactly w */
        cleanup_free char *cols = xasprintf("%s,uuid", widths[i].f);
        vm_list_opts o = { cols, "uuid", false, 0 };
        vm_err err = VM_ERR_INIT;
        cleanup_free char *out = vm_list_render(vms, &o, &err);
        assert_non_null(out);
        const char *u = strstr(out + !strcmp(widths[i].f, "uuid"), UA);
        assert_non_null(u);
        /* the first line is VM a; the uuid starts after w + 2 columns
         * unless a's value is wider */
        cleanup_json json_t *vals = vm_list_values(by_uuid(vms, UA), widths[i].f);
        cleanup_free char *cell = vm_list_cell(json_array_get(vals, 0));
        int len = cell ? (int)strlen(cell) : 1;
        int w = len > widths[i].w ? len : widths[i].w;
        if ((int)(u - out) != w + 2)
            fail_msg("column %s: uuid at %d, expected %d", widths[i].f, (int)(u - out), w + 2);
    }
    R("ERR:invalid order field: bogus", "uuid,bogus", NULL, false, -1);
    R("ERR:invalid sort field: bogus", "uuid", "bogus", false, -1);
    json_decref(vms);
}

/* filter to a single VM for the last render check */
static void test_render_empty(void **state)
{
    (void)state;
    json_t *none = json_array();
    vm_list_opts o = { NULL, NULL, false, -1 };
    vm_err err = VM_ERR_INIT;
    char *s = vm_list_render(none, &o, &err);
    assert_non_null(s);
    assert_string_equal(s, "UUID                                  TYPE  RAM      STATE             ALIAS\n");
    free(s);
    o.parsable = true;
    s = vm_list_render(none, &o, &err);
    assert_string_equal(s, "");
    free(s);
    json_decref(none);
}

static void test_cells_and_values(void **state)
{
    (void)state;
    json_t *v =
        json_pack("{s:[s,s],s:b,s:b,s:i,s:n,s:f,s:{}}", "a", "x", "y", "t", 1, "f", 0, "z", 0, "n", "r", 1.5, "o");
    char *s;
    s = vm_list_cell(json_object_get(v, "a"));
    assert_string_equal(s, "x,y");
    free(s);
    s = vm_list_cell(json_object_get(v, "t"));
    assert_string_equal(s, "true");
    free(s);
    assert_null(vm_list_cell(json_object_get(v, "f")));
    assert_null(vm_list_cell(json_object_get(v, "n")));
    assert_null(vm_list_cell(NULL));
    s = vm_list_cell(json_object_get(v, "z"));
    assert_string_equal(s, "0");
    free(s);
    s = vm_list_cell(json_object_get(v, "r"));
    assert_string_equal(s, "1.5");
    free(s);
    json_decref(v);

    json_t *vms = fleet();
    json_t *c = by_uuid(vms, UC);
    json_t *vals = vm_list_values(c, "disks.*.size");
    assert_int_equal(json_array_size(vals), 2);
    assert_int_equal(json_integer_value(json_array_get(vals, 0)), 10240);
    assert_int_equal(json_integer_value(json_array_get(vals, 1)), 512);
    json_decref(vals);
    vals = vm_list_values(c, "nics.0.mac");
    assert_int_equal(json_array_size(vals), 1);
    json_decref(vals);
    vals = vm_list_values(c, "nics.1.mac");
    assert_int_equal(json_array_size(vals), 0);
    json_decref(vals);
    vals = vm_list_values(c, "nope.*.x");
    assert_int_equal(json_array_size(vals), 0);
    json_decref(vals);
    json_decref(vms);

    assert_true(vm_list_valid_column("zonepath"));
    assert_true(vm_list_valid_column("routes.10.0.0.0/8"));
    assert_true(vm_list_valid_column("pci_devices.0.path"));
    assert_false(vm_list_valid_column("resolvers.0"));
    assert_false(vm_list_valid_column("tags."));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fake_fields),  cmocka_unit_test(test_filters),
        cmocka_unit_test(test_sort),         cmocka_unit_test(test_render),
        cmocka_unit_test(test_render_empty), cmocka_unit_test(test_cells_and_values),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
