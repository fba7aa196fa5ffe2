/* Golden QEMU command lines: for each VM config tests/unit/hv/golden/<name>.json
 * the argv hv_build_argv produces must equal golden/<name>.argv byte for byte
 * (one argument per line), or, for configs that must be refused, the error
 * message must equal golden/<name>.err.  VMADM_GOLDEN_UPDATE=1 rewrites the
 * expected files instead (review the git diff!).
 *
 * Everything the argv depends on besides the config is fixed here: the VM
 * context's root is GOLDEN_ROOT (nothing is created there), the accelerator
 * comes from the table below, the firmware paths are lib/hv's compile-time
 * constants.  Cases flagged POOL open a real pool in a temporary root and
 * create a volume for each disk with zfs_filesystem and size (MiB); a
 * volume's file (its name is random) is shown as "@vs_vol_path(<dataset>)@". */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../common/golden.h"
#include "common/util.h"
#include "hv/hv.h"

#define GOLDEN_ROOT "/vmadm-golden"

enum { POOL = 1, FAILS = 2 };

typedef struct gcase {
    const char *name;
    const char *accel;
    int flags;
} gcase;

static const gcase cases[] = {
    { "minimal", "tcg", 0 },
    { "bhyve-uefi-virtio", "kvm", POOL },
    { "kvm-bios", "tcg", 0 },
    { "disk-ahci", "tcg", 0 },
    { "disk-nvme", "kvm", 0 },
    { "cdrom", "tcg", POOL },
    { "pci-sticky", "tcg", 0 },
    { "many-disks", "kvm", 0 },
    { "vnc-off", "tcg", 0 },
    { "vnc-port-password", "tcg", 0 },
    { "vnc-auto-password", "tcg", 0 },
    { "cpu-host-kvm", "kvm", 0 },
    { "cpu-host-tcg", "tcg", 0 },
    { "cpu-named", "kvm", 0 },
    { "numbers-as-strings", "tcg", 0 },
    { "bootrom-smartos-uefi", "tcg", 0 },
    { "bootrom-smartos-csm", "tcg", 0 },
    { "extra-opts", "tcg", 0 },
    { "commas-in-paths", "tcg", 0 },
    { "nocloud", "tcg", 0 },
    { "nic-one", "tcg", 0 },
    { "nic-added", "tcg", 0 },
    { "nic-vlan", "tcg", 0 },
    { "nic-models", "kvm", 0 },
    { "err-uuid", "tcg", FAILS },
    { "err-accel", "hax", FAILS },
    { "err-ram-zero", "tcg", FAILS },
    { "err-ram-negative", "tcg", FAILS },
    { "err-ram-type", "tcg", FAILS },
    { "err-vcpus", "tcg", FAILS },
    { "err-cpu-type", "tcg", FAILS },
    { "err-disks-type", "tcg", FAILS },
    { "err-disk-dup-id", "tcg", FAILS },
    { "err-disk-media", "tcg", FAILS },
    { "err-disk-model", "tcg", FAILS },
    { "err-disk-no-file", "tcg", FAILS },
    { "err-disk-no-volume", "tcg", POOL | FAILS },
    { "err-block-size", "tcg", FAILS },
    { "err-pci-missing", "tcg", FAILS },
    { "err-pci-syntax", "tcg", FAILS },
    { "err-pci-bus", "tcg", FAILS },
    { "err-pci-dev0", "tcg", FAILS },
    { "err-pci-dev31", "tcg", FAILS },
    { "err-pci-dev30-vnc", "tcg", FAILS },
    { "err-pci-dup", "tcg", FAILS },
    { "err-multiple-boot", "tcg", FAILS },
    { "err-bootrom", "tcg", FAILS },
    { "err-bootrom-path", "tcg", FAILS },
    { "err-vnc-port", "tcg", FAILS },
    { "err-nic-model", "tcg", FAILS },
    { "err-nic-mac", "tcg", FAILS },
    { "err-nic-mac-inject", "tcg", FAILS },
    { "err-nic-no-mac", "tcg", FAILS },
    { "err-nic-dup", "tcg", FAILS },
    { "err-nic-interface", "tcg", FAILS },
    { "err-nic-mtu", "tcg", FAILS },
    { "err-nic-too-many", "tcg", FAILS },
    { "err-nic-slot-taken", "tcg", FAILS },
};
#define NCASES (sizeof cases / sizeof cases[0])

static const char *golden_dir;

/* A pool in a temporary root with a volume for every disk that has
 * zfs_filesystem and size. */
typedef struct tpool {
    char root[64];
    vm_ctx ctx;
    vs_pool *pool;
    json_t *vols; /* {vs_vol_path: dataset} */
} tpool;

static void pool_setup(tpool *t, json_t *vm)
{
    vm_err err = VM_ERR_INIT;
    strcpy(t->root, "/tmp/vmgolden.XXXXXX");
    assert_non_null(mkdtemp(t->root));
    t->vols = json_object();
    setenv("VMADM_ROOT", t->root, 1);
    unsetenv("VMADM_POOL");
    if (vm_ctx_init(&t->ctx, &err) < 0 || vs_pool_open(&t->ctx, NULL, &t->pool, &err) < 0)
        fail_msg("pool: %s", err.msg);
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(vm, "disks"), i, d) {
        const char *zfs = json_string_value(json_object_get(d, "zfs_filesystem"));
        json_int_t mib = json_integer_value(json_object_get(d, "size"));
        if (!zfs || mib <= 0)
            continue;
        cleanup_free char *parent = xstrdup(zfs);
        *strrchr(parent, '/') = '\0';
        if (!vs_exists(t->pool, parent) && vs_create_fs(t->pool, parent, NULL, &err) < 0)
            fail_msg("create %s: %s", parent, err.msg);
        cleanup_free char *path = NULL;
        if (vs_create_vol(t->pool, zfs, (uint64_t)mib << 20, NULL, &err) < 0 ||
            vs_vol_path(t->pool, zfs, &path, &err) < 0)
            fail_msg("create %s: %s", zfs, err.msg);
        json_object_set_new(t->vols, path, json_string(zfs));
    }
}

static void pool_teardown(tpool *t)
{
    vs_pool_close(t->pool);
    json_decref(t->vols);
    rm_rf(t->root, NULL);
    vm_ctx_free(&t->ctx);
}

/* The text compared with the golden file: argv one per line, or the error. */
static char *render(const gcase *c, json_t *vm)
{
    vm_ctx ctx = { .root = GOLDEN_ROOT, .run_dir = GOLDEN_ROOT "/run", .etc_dir = GOLDEN_ROOT "/etc/vms" };
    tpool t = { 0 };
    if (c->flags & POOL)
        pool_setup(&t, vm);
    cleanup_strv char **argv = NULL;
    vm_err err = VM_ERR_INIT;
    int rc = hv_build_argv(&ctx, t.pool, vm, c->accel, &argv, &err);
    char *text;
    if (rc < 0) {
        text = xasprintf("%s\n", err.msg);
    } else {
        cleanup_free char *joined = strv_join(argv, "\n");
        text = xasprintf("%s\n", joined);
    }
    if (c->flags & POOL) {
        const char *path;
        json_t *ds;
        json_object_foreach(t.vols, path, ds) {
            cleanup_free char *mark = xasprintf("@vs_vol_path(%s)@", json_string_value(ds));
            golden_replace(&text, path, mark);
        }
        pool_teardown(&t);
    }
    if ((rc < 0) != !!(c->flags & FAILS))
        fail_msg("%s: expected %s, got: %s", c->name, rc < 0 ? "success" : "an error", text);
    return text;
}

static void test_case(void **state)
{
    const gcase *c = *state;
    cleanup_free char *in = xasprintf("%s/%s.json", golden_dir, c->name);
    cleanup_free char *out = xasprintf("%s/%s.%s", golden_dir, c->name, c->flags & FAILS ? "err" : "argv");
    json_error_t je;
    json_t *vm = json_load_file(in, JSON_PRESERVE_ORDER, &je);
    if (!vm)
        fail_msg("%s: %s (line %d)", in, je.text, je.line);
    cleanup_free char *text = render(c, vm);
    json_decref(vm);
    if (golden_check(out, text) < 0)
        fail_msg("%s differs from the built command line (diff above)", out);
}

/* Every fixture in golden/ is in the table and every expected file has its
 * fixture, so none is silently skipped. */
static void test_no_orphans(void **state)
{
    (void)state;
    DIR *d = opendir(golden_dir);
    assert_non_null(d);
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char *dot = strrchr(e->d_name, '.');
        assert_non_null(dot);
        bool found = false;
        for (size_t i = 0; i < NCASES; i++) {
            size_t n = strlen(cases[i].name);
            const char *ext = cases[i].flags & FAILS ? ".err" : ".argv";
            if ((size_t)(dot - e->d_name) == n && !strncmp(e->d_name, cases[i].name, n) &&
                (!strcmp(dot, ".json") || !strcmp(dot, ext)))
                found = true;
        }
        if (!found)
            fail_msg("golden/%s belongs to no case in test_hv_golden.c", e->d_name);
    }
    closedir(d);
}

static char **argv_of(const char *name, bool drop_nics)
{
    vm_ctx ctx = { .root = GOLDEN_ROOT, .run_dir = GOLDEN_ROOT "/run", .etc_dir = GOLDEN_ROOT "/etc/vms" };
    cleanup_free char *in = xasprintf("%s/%s.json", golden_dir, name);
    json_error_t je;
    cleanup_json json_t *vm = json_load_file(in, JSON_PRESERVE_ORDER, &je);
    assert_non_null(vm);
    if (drop_nics)
        json_object_del(vm, "nics");
    char **argv = NULL;
    vm_err err = VM_ERR_INIT;
    if (hv_build_argv(&ctx, NULL, vm, "tcg", &argv, &err) < 0)
        fail_msg("%s: %s", name, err.msg);
    return argv;
}

/* Sticky slots: adding a NIC (nic-one -> nic-added) only appends to the
 * command line, and giving a VM NICs changes nothing before them (disks
 * keep their slots and descriptors). */
static void test_nic_added_keeps_slots(void **state)
{
    (void)state;
    cleanup_strv char **none = argv_of("nic-one", true);
    cleanup_strv char **one = argv_of("nic-one", false);
    cleanup_strv char **two = argv_of("nic-added", false);
    size_t i = 0;
    for (; one[i]; i++)
        assert_string_equal(one[i], two[i]);
    assert_non_null(two[i]);
    for (i = 0; none[i] && strcmp(none[i], "-nic"); i++)
        assert_string_equal(none[i], one[i]);
    assert_string_equal(one[i], "-netdev");
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s GOLDEN_DIR\n", argv[0]);
        return 2;
    }
    golden_dir = argv[1];
    struct CMUnitTest tests[NCASES + 2];
    for (size_t i = 0; i < NCASES; i++)
        tests[i] =
            (struct CMUnitTest){ .name = cases[i].name, .test_func = test_case, .initial_state = (void *)&cases[i] };
    tests[NCASES] = (struct CMUnitTest){ .name = "no_orphans", .test_func = test_no_orphans };
    tests[NCASES + 1] = (struct CMUnitTest){ .name = "nic_added_keeps_slots", .test_func = test_nic_added_keeps_slots };
    return _cmocka_run_group_tests("hv_golden", tests, NCASES + 2, NULL, NULL);
}
