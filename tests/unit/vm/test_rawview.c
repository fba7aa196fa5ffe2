/* Raw disk views (vm/rawview.h): where they live, what a path inside the
 * mount names, and the claim that keeps a view and a running VM apart —
 * through the fake runtime.  The FUSE daemon itself is proven by
 * tests/cli/vmadm-rawview.bats. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "vm/rawview.h"
#include "vm/runtime.h"
#include "vm/vm.h"
#include "vmtest.h"

#define U "e3100000-0000-4000-8000-0000000000e3"

static void test_dir(void **state)
{
    (void)state;
    vm_ctx sys = { .root = "/var/lib/vmadm" }, other = { .root = "/tmp/h2" };
    cleanup_free char *a = vm_rawview_dir(&sys), *b = vm_rawview_dir(&other);
    assert_string_equal(a, "/dev/zvol");
    assert_string_equal(b, "/tmp/h2/dev/zvol");
    cleanup_free char *p = vm_rawview_path(&other, "zones/" U "/disk0");
    assert_string_equal(p, "/tmp/h2/dev/zvol/rdsk/zones/" U "/disk0");
}

static void test_split(void **state)
{
    (void)state;
    static const struct {
        const char *path;
        int depth;
        const char *pool, *dataset;
    } cases[] = {
        { "/", 0, NULL, NULL },
        { "/rdsk", 1, NULL, NULL },
        { "/dsk", 1, NULL, NULL },
        { "/rdsk/zones", 2, "zones", NULL },
        { "/dsk/zones/" U, 3, "zones", "zones/" U },
        { "/rdsk/zones/" U "/disk0", 4, "zones", "zones/" U "/disk0" },
        { "", -1, NULL, NULL },
        { "rdsk", -1, NULL, NULL },
        { "/other", -1, NULL, NULL },
        { "/rdskx", -1, NULL, NULL },
        { "/rdsk/", -1, NULL, NULL },
        { "/rdsk/zones/", -1, NULL, NULL },
        { "/rdsk/zones//disk0", -1, NULL, NULL },
        { "/rdsk/zones/../etc", -1, NULL, NULL },
        { "/rdsk/zones/./x", -1, NULL, NULL },
        { "/rdsk/..", -1, NULL, NULL },
        { "/rdsk/zones/img@final", -1, NULL, NULL },
        { "/rdsk/zo nes", -1, NULL, NULL },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *pool = (char *)"x", *ds = (char *)"x";
        int d = vm_rawview_split(cases[i].path, &pool, &ds);
        if (d != cases[i].depth)
            fail_msg("%s: depth %d, want %d", cases[i].path, d, cases[i].depth);
        if ((pool || cases[i].pool) && (!pool || !cases[i].pool || strcmp(pool, cases[i].pool)))
            fail_msg("%s: pool %s", cases[i].path, pool ? pool : "(null)");
        if ((ds || cases[i].dataset) && (!ds || !cases[i].dataset || strcmp(ds, cases[i].dataset)))
            fail_msg("%s: dataset %s", cases[i].path, ds ? ds : "(null)");
        free(pool);
        free(ds);
    }
}

static void test_lookup_children(void **state)
{
    (void)state;
    cleanup_json json_t *vols =
        vmt_json("[\"zones/a\", \"zones/" U "/disk0\", \"zones/" U "/disk1\", \"zones/deep/x/y\", \"zones/ab\"]");
    assert_int_equal(vm_rawview_lookup(vols, "zones/a"), VM_RAWVIEW_VOLUME);
    assert_int_equal(vm_rawview_lookup(vols, "zones/" U), VM_RAWVIEW_DIR);
    assert_int_equal(vm_rawview_lookup(vols, "zones/" U "/disk1"), VM_RAWVIEW_VOLUME);
    assert_int_equal(vm_rawview_lookup(vols, "zones/" U "/disk2"), VM_RAWVIEW_NONE);
    assert_int_equal(vm_rawview_lookup(vols, "zones/dee"), VM_RAWVIEW_NONE); /* a prefix, not a parent */
    assert_int_equal(vm_rawview_lookup(vols, "zones/deep/x"), VM_RAWVIEW_DIR);
    cleanup_json json_t *top = vm_rawview_children(vols, "zones", NULL);
    cleanup_free char *t = json_compact(top);
    assert_string_equal(t, "[\"a\",\"" U "\",\"deep\",\"ab\"]");
    cleanup_json json_t *vm = vm_rawview_children(vols, "zones", "zones/" U);
    cleanup_free char *v = json_compact(vm);
    assert_string_equal(v, "[\"disk0\",\"disk1\"]");
    cleanup_json json_t *none = vm_rawview_children(vols, "zones", "zones/a");
    assert_int_equal(json_array_size(none), 0);
}

static int setup(void **state)
{
    vmt_root *r = calloc(1, sizeof *r);
    if (vmt_root_setup(r, "rawview") < 0)
        return -1;
    vm_runtime_override(&vm_runtime_fake);
    *state = r;
    return 0;
}

static int teardown(void **state)
{
    vmt_root *r = *state;
    vm_runtime_override(NULL);
    vmt_root_teardown(r);
    free(r);
    return 0;
}

/* A claim keeps vmadm start out with the message; a running VM refuses a
 * claim with its own. */
static void test_claim(void **state)
{
    vmt_root *r = *state;
    vm_err err = VM_ERR_INIT;
    char uuid[37];
    json_t *p = vmt_json("{\"brand\":\"bhyve\",\"autoboot\":false,\"ram\":256,"
                         "\"disks\":[{\"size\":16,\"model\":\"virtio\",\"boot\":true}]}");
    int rc = vm_create(&r->ctx, p, uuid, &err);
    json_decref(p);
    if (rc < 0)
        fail_msg("vm_create: %s", err.msg);
    cleanup_free char *ds = xasprintf("zones/%s/disk0", uuid);
    char owner[37];
    assert_int_equal(vm_rawview_owner(ds, owner), 1);
    assert_string_equal(owner, uuid);
    assert_int_equal(vm_rawview_owner("zones/" U "/disk0", owner), 1); /* no such VM (yet): still its lock */
    assert_int_equal(vm_rawview_owner("zones/" U, owner), 0); /* an image's volume */
    assert_string_equal(owner, "");
    assert_int_equal(vm_rawview_owner("zones/something/disk0", owner), 0);
    /* a VM's create or delete holds its lock: a claim waits, then fails */
    vm_lock held = VM_LOCK_INIT;
    assert_int_equal(vm_lock_acquire(&r->ctx, U, 0, &held, &err), 0);
    vm_rawview_claim c0 = VM_RAWVIEW_CLAIM_INIT;
    assert_int_equal(vm_rawview_claim_vm(&r->ctx, U, "zones/" U "/disk0", 50, &c0, &err), -1);
    assert_int_equal(err.code, VMERR_BUSY);
    vm_lock_release(&held);
    assert_int_equal(vm_rawview_claim_vm(&r->ctx, U, "zones/" U "/disk0", 50, &c0, &err), 0);
    vm_rawview_release(&c0);
    err = (vm_err)VM_ERR_INIT;

    vm_rawview_claim c = VM_RAWVIEW_CLAIM_INIT;
    assert_int_equal(vm_rawview_claim_vm(&r->ctx, uuid, ds, 100, &c, &err), 0);
    assert_int_equal(vm_rawview_check_start(&r->ctx, uuid, 50, &err), -1);
    assert_int_equal(err.code, VMERR_BUSY);
    cleanup_free char *want =
        xasprintf("its disk is open through %s/dev/zvol (raw disk view); close it first", r->root);
    assert_string_equal(err.msg, want);
    err = (vm_err)VM_ERR_INIT;
    assert_int_equal(vm_start(&r->ctx, uuid, &err), -1);
    cleanup_free char *log = vmt_take_log(r);
    assert_string_equal(log, ""); /* the runtime was never asked */
    vm_rawview_release(&c);

    err = (vm_err)VM_ERR_INIT;
    assert_int_equal(vm_start(&r->ctx, uuid, &err), 0);
    assert_int_equal(vm_rawview_claim_vm(&r->ctx, uuid, ds, 100, &c, &err), -1);
    assert_int_equal(err.code, VMERR_BUSY);
    cleanup_free char *want2 =
        xasprintf("VM %s is running: stop it before opening its disk %s/dev/zvol/rdsk/%s", uuid, r->root, ds);
    assert_string_equal(err.msg, want2);
    assert_int_equal(c.vm.fd, -1);
    assert_int_equal(c.view.fd, -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dir),
        cmocka_unit_test(test_split),
        cmocka_unit_test(test_lookup_children),
        cmocka_unit_test_setup_teardown(test_claim, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
