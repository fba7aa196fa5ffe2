/* lib/storage API against a temporary VMADM_ROOT, with real qemu-img. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/util.h"
#include "storage/storage.h"

#define MiB (1024ULL * 1024)
#define GiB (1024ULL * MiB)

typedef struct fx {
    char root[64];
    vm_ctx ctx;
    vs_pool *pool;
} fx;

static int setup(void **state)
{
    fx *f = xcalloc(1, sizeof *f);
    vm_err err = VM_ERR_INIT;
    strcpy(f->root, "/tmp/vstest.XXXXXX");
    if (!mkdtemp(f->root))
        return -1;
    setenv("VMADM_ROOT", f->root, 1);
    unsetenv("VMADM_POOL");
    if (vm_ctx_init(&f->ctx, &err) < 0 || vs_pool_open(&f->ctx, NULL, &f->pool, &err) < 0) {
        fprintf(stderr, "%s\n", err.msg);
        return -1;
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    vs_pool_close(f->pool);
    rm_rf(f->root, NULL);
    vm_ctx_free(&f->ctx);
    free(f);
    return 0;
}

#define OK(call) \
    do { \
        vm_err _e = VM_ERR_INIT; \
        if ((call) < 0) \
            fail_msg("%s: %s", #call, _e.msg); \
    } while (0)
/* Expects failure with `code` and a message containing `sub`. */
#define FAILS(code_, sub, call) \
    do { \
        vm_err _e = VM_ERR_INIT; \
        if ((call) >= 0) \
            fail_msg("%s unexpectedly succeeded", #call); \
        if (_e.code != (code_) || !strstr(_e.msg, sub)) \
            fail_msg("%s: got %d '%s'", #call, _e.code, _e.msg); \
    } while (0)

static void qio(vs_pool *p, const char *vol, const char *cmd, int expect_ok)
{
    vm_err err = VM_ERR_INIT;
    cleanup_free char *path = NULL, *out = NULL;
    if (vs_vol_path(p, vol, &path, &err) < 0)
        fail_msg("%s", err.msg);
    char *argv[] = { "qemu-io", "-f", "qcow2", "-c", (char *)cmd, path, NULL };
    int r = run_cmd(argv, &out, &err);
    bool ok = r == 0 && !strstr(out, "failed");
    if (ok != (bool)expect_ok)
        fail_msg("qemu-io '%s' on %s: %s %s", cmd, vol, out ? out : "", err.msg);
}

static json_t *list(vs_pool *p, const char *root, int types)
{
    json_t *n = NULL;
    OK(vs_list(p, root, types, VS_RECURSIVE, &n, &_e));
    return n;
}

static char *jstr_of(json_t *j)
{
    return json_compact(j);
}

static void test_create_and_props(void **state)
{
    fx *f = *state;
    vs_pool *p = f->pool;
    assert_true(vs_exists(p, "zones"));
    OK(vs_create_fs(p, "zones/vm", NULL, &_e));
    cleanup_json json_t *props = json_pack("{s:s, s:s}", "refreservation", "auto", "user:foo", "bar");
    OK(vs_create_vol(p, "zones/vm/disk0", 64 * MiB, props, &_e));
    int64_t v;
    OK(vs_get_int(p, "zones/vm/disk0", "volsize", &v, &_e));
    assert_true(v == (int64_t)(64 * MiB));
    OK(vs_get_int(p, "zones/vm/disk0", "refreservation", &v, &_e));
    assert_true(v >= (int64_t)(64 * MiB));
    OK(vs_get_int(p, "zones/vm/disk0", "volblocksize", &v, &_e));
    assert_int_equal(v, 8192);
    cleanup_free char *s = NULL, *t = NULL, *o = NULL, *mp = NULL;
    OK(vs_get_str(p, "zones/vm/disk0", "user:foo", &s, &_e));
    assert_string_equal(s, "bar");
    OK(vs_get_str(p, "zones/vm/disk0", "type", &t, &_e));
    assert_string_equal(t, "volume");
    OK(vs_get_str(p, "zones/vm/disk0", "origin", &o, &_e));
    assert_string_equal(o, "-");
    mp = vs_mountpoint(p, "zones/vm");
    cleanup_free char *want = xasprintf("%s/zones/vm", f->root);
    assert_string_equal(mp, want);
    struct stat st;
    assert_int_equal(stat(want, &st), 0); /* mount view exists */
    assert_true(S_ISDIR(st.st_mode));

    /* naming and validation: nothing created */
    FAILS(VMERR_EXISTS, "dataset already exists", vs_create_fs(p, "zones/vm", NULL, &_e));
    FAILS(VMERR_NOTFOUND, "parent does not exist", vs_create_fs(p, "zones/nope/x", NULL, &_e));
    FAILS(VMERR_INVALID, "parent is not a filesystem", vs_create_fs(p, "zones/vm/disk0/x", NULL, &_e));
    FAILS(VMERR_INVALID, "invalid dataset name", vs_create_fs(p, "zones/a b", NULL, &_e));
    FAILS(VMERR_NOTFOUND, "no such pool", vs_create_fs(p, "tank/x", NULL, &_e));
    FAILS(VMERR_INVALID, "multiple of volume block size", vs_create_vol(p, "zones/vm/d1", 1000, NULL, &_e));
    cleanup_json json_t *bad = json_pack("{s:s}", "compression", "snappy");
    FAILS(VMERR_INVALID, "'compression' must be one of", vs_create_vol(p, "zones/vm/d1", 8192, bad, &_e));
    cleanup_json json_t *ro = json_pack("{s:s}", "used", "1");
    FAILS(VMERR_INVALID, "'used' is readonly", vs_create_fs(p, "zones/vm/d1", ro, &_e));
    assert_false(vs_exists(p, "zones/vm/d1"));

    /* set / inheritance */
    OK(vs_set(p, "zones/vm", "compression", "lz4", &_e));
    cleanup_json json_t *all = NULL;
    OK(vs_get(p, "zones/vm/disk0", &all, &_e));
    assert_string_equal(json_string_value(json_object_get(json_object_get(all, "compression"), "value")), "lz4");
    assert_string_equal(json_string_value(json_object_get(json_object_get(all, "compression"), "source")),
                        "inherited from zones/vm");
    FAILS(VMERR_INVALID, "bad numeric value", vs_set(p, "zones/vm", "quota", "lots", &_e));
    FAILS(VMERR_INVALID, "readonly", vs_set(p, "zones/vm", "origin", "x", &_e));
    FAILS(VMERR_NOTFOUND, "dataset does not exist", vs_set(p, "zones/nope", "quota", "1G", &_e));
}

static void test_snapshot_clone_destroy(void **state)
{
    fx *f = *state;
    vs_pool *p = f->pool;
    OK(vs_create_vol(p, "zones/img", 32 * MiB, NULL, &_e));
    qio(p, "zones/img", "write -P 0x11 0 64k", 1);
    OK(vs_snapshot(p, "zones/img@final", 0, &_e));
    FAILS(VMERR_EXISTS, "dataset already exists", vs_snapshot(p, "zones/img@final", 0, &_e));
    FAILS(VMERR_NOTFOUND, "dataset does not exist", vs_snapshot(p, "zones/none@x", 0, &_e));
    FAILS(VMERR_INVALID, "invalid", vs_snapshot(p, "zones/img@bad name", 0, &_e));
    OK(vs_create_fs(p, "zones/vm", NULL, &_e));
    cleanup_json json_t *cp = json_pack("{s:I}", "volsize", (json_int_t)(64 * MiB));
    OK(vs_clone(p, "zones/img@final", "zones/vm/disk0", cp, &_e));
    cleanup_free char *o = NULL;
    OK(vs_get_str(p, "zones/vm/disk0", "origin", &o, &_e));
    assert_string_equal(o, "zones/img@final");
    int64_t vsz;
    OK(vs_get_int(p, "zones/vm/disk0", "volsize", &vsz, &_e));
    assert_true(vsz == (int64_t)(64 * MiB));
    qio(p, "zones/vm/disk0", "read -P 0x11 0 64k", 1);
    qio(p, "zones/vm/disk0", "write -P 0x22 0 64k", 1);
    qio(p, "zones/img", "read -P 0x11 0 64k", 1); /* origin untouched */
    cleanup_json json_t *shrink = json_pack("{s:I}", "volsize", (json_int_t)(16 * MiB));
    FAILS(VMERR_INVALID, "smaller than the origin", vs_clone(p, "zones/img@final", "zones/vm/disk1", shrink, &_e));

    /* refusals */
    FAILS(VMERR_BUSY, "snapshot has dependent clones", vs_destroy(p, "zones/img@final", 0, &_e));
    FAILS(VMERR_BUSY, "has children", vs_destroy(p, "zones/img", 0, &_e));
    FAILS(VMERR_BUSY, "dependent clones", vs_destroy(p, "zones/img", VS_RECURSIVE, &_e));
    FAILS(VMERR_INVALID, "does not apply to pools", vs_destroy(p, "zones", VS_RECURSIVE, &_e));
    assert_true(vs_exists(p, "zones/img@final"));

    /* holds */
    OK(vs_hold(p, "imgadm", "zones/img@final", &_e));
    FAILS(VMERR_EXISTS, "tag already exists", vs_hold(p, "imgadm", "zones/img@final", &_e));
    cleanup_json json_t *tags = NULL;
    OK(vs_holds(p, "zones/img@final", &tags, &_e));
    cleanup_free char *ts = jstr_of(tags);
    assert_string_equal(ts, "[\"imgadm\"]");
    OK(vs_destroy(p, "zones/vm", VS_RECURSIVE, &_e)); /* the clone goes */
    assert_false(vs_exists(p, "zones/vm/disk0"));
    FAILS(VMERR_BUSY, "snapshot is held", vs_destroy(p, "zones/img@final", 0, &_e));
    FAILS(VMERR_NOTFOUND, "no such tag", vs_release(p, "other", "zones/img@final", &_e));
    OK(vs_release(p, "imgadm", "zones/img@final", &_e));
    OK(vs_destroy(p, "zones/img", VS_RECURSIVE, &_e));
    assert_false(vs_exists(p, "zones/img"));
    cleanup_json json_t *n = list(p, NULL, VS_ALL);
    assert_int_equal(json_array_size(n), 1);
}

static void test_rollback_and_chain(void **state)
{
    fx *f = *state;
    vs_pool *p = f->pool;
    OK(vs_create_vol(p, "zones/d", 16 * MiB, NULL, &_e));
    cleanup_free char *path0 = NULL, *path1 = NULL;
    OK(vs_vol_path(p, "zones/d", &path0, &_e));
    qio(p, "zones/d", "write -P 0x11 0 64k", 1);
    OK(vs_snapshot(p, "zones/d@a", 0, &_e));
    qio(p, "zones/d", "write -P 0x22 1M 64k", 1);
    OK(vs_snapshot(p, "zones/d@b", 0, &_e));
    qio(p, "zones/d", "write -P 0x33 2M 64k", 1);
    OK(vs_snapshot(p, "zones/d@c", 0, &_e));
    qio(p, "zones/d", "write -P 0x44 3M 64k", 1);
    OK(vs_vol_path(p, "zones/d", &path1, &_e));
    assert_string_equal(path0, path1); /* active path stable */

    cleanup_json json_t *ext = NULL;
    OK(vs_changed_blocks(p, "zones/d@a", "zones/d@c", &ext, &_e));
    cleanup_free char *es = jstr_of(ext);
    assert_string_equal(es, "[{\"offset\":1048576,\"length\":65536},{\"offset\":2097152,\"length\":65536}]");
    cleanup_json json_t *ext2 = NULL;
    OK(vs_changed_blocks(p, "zones/d@c", NULL, &ext2, &_e));
    cleanup_free char *es2 = jstr_of(ext2);
    assert_string_equal(es2, "[{\"offset\":3145728,\"length\":65536}]");
    FAILS(VMERR_INVALID, "older", vs_changed_blocks(p, "zones/d@c", "zones/d@a", &ext, &_e));

    /* middle snapshot destroyed: content of the rest unchanged */
    OK(vs_destroy(p, "zones/d@b", 0, &_e));
    qio(p, "zones/d", "read -P 0x22 1M 64k", 1);
    qio(p, "zones/d", "read -P 0x44 3M 64k", 1);

    /* hold on a newer snapshot blocks rollback */
    OK(vs_hold(p, "t", "zones/d@c", &_e));
    FAILS(VMERR_BUSY, "is held", vs_rollback(p, "zones/d@a", VS_RECURSIVE, &_e));
    qio(p, "zones/d", "read -P 0x44 3M 64k", 1);
    OK(vs_release(p, "t", "zones/d@c", &_e));
    OK(vs_rollback(p, "zones/d@a", VS_RECURSIVE, &_e));
    qio(p, "zones/d", "read -P 0x11 0 64k", 1);
    qio(p, "zones/d", "read -P 0 1M 64k", 1);
    assert_false(vs_exists(p, "zones/d@c"));
    cleanup_json json_t *n = list(p, "zones/d", VS_SNAPSHOT);
    assert_int_equal(json_array_size(n), 1);

    /* filesystem snapshot / rollback with a child dataset link */
    OK(vs_create_fs(p, "zones/fs", NULL, &_e));
    cleanup_free char *mp = vs_mountpoint(p, "zones/fs");
    cleanup_free char *file = xasprintf("%s/hello", mp);
    assert_int_equal(write_file_atomic(file, "one", 3, 0644, NULL), 0);
    OK(vs_snapshot(p, "zones/fs@s", 0, &_e));
    OK(vs_create_fs(p, "zones/fs/child", NULL, &_e));
    assert_int_equal(write_file_atomic(file, "two", 3, 0644, NULL), 0);
    OK(vs_rollback(p, "zones/fs@s", 0, &_e));
    cleanup_free char *buf = NULL;
    assert_int_equal(read_file(file, &buf, NULL, NULL), 0);
    assert_string_equal(buf, "one");
    cleanup_free char *cmp = xasprintf("%s/child", mp);
    assert_true(path_exists(cmp)); /* child link restored */
}

static void test_rename_swap_resize(void **state)
{
    fx *f = *state;
    vs_pool *p = f->pool;
    OK(vs_create_vol(p, "zones/img", 16 * MiB, NULL, &_e));
    OK(vs_snapshot(p, "zones/img@final", 0, &_e));
    OK(vs_create_fs(p, "zones/a", NULL, &_e));
    OK(vs_clone(p, "zones/img@final", "zones/a/disk0", NULL, &_e));
    OK(vs_create_vol(p, "zones/a/new", 16 * MiB, NULL, &_e));
    qio(p, "zones/a/disk0", "write -P 0xaa 0 64k", 1);
    qio(p, "zones/a/new", "write -P 0xbb 0 64k", 1);
    OK(vs_swap(p, "zones/a/disk0", "zones/a/new", &_e));
    qio(p, "zones/a/disk0", "read -P 0xbb 0 64k", 1);
    qio(p, "zones/a/new", "read -P 0xaa 0 64k", 1);
    cleanup_free char *o = NULL;
    OK(vs_get_str(p, "zones/a/new", "origin", &o, &_e));
    assert_string_equal(o, "zones/img@final");

    OK(vs_rename(p, "zones/img", "zones/image", &_e));
    cleanup_free char *o2 = NULL;
    OK(vs_get_str(p, "zones/a/new", "origin", &o2, &_e));
    assert_string_equal(o2, "zones/image@final");
    FAILS(VMERR_EXISTS, "dataset already exists", vs_rename(p, "zones/a/new", "zones/a/disk0", &_e));
    FAILS(VMERR_INVALID, "descendant", vs_rename(p, "zones/a", "zones/a/b", &_e));
    FAILS(VMERR_NOTFOUND, "dataset does not exist", vs_rename(p, "zones/zz", "zones/yy", &_e));
    OK(vs_rename(p, "zones/image@final", "zones/image@final2", &_e));
    cleanup_free char *o3 = NULL;
    OK(vs_get_str(p, "zones/a/new", "origin", &o3, &_e));
    assert_string_equal(o3, "zones/image@final2");

    /* resize */
    OK(vs_resize(p, "zones/a/disk0", 32 * MiB, 0, &_e));
    FAILS(VMERR_INVALID, "must be greater than current size", vs_resize(p, "zones/a/disk0", 16 * MiB, 0, &_e));
    int64_t v;
    OK(vs_get_int(p, "zones/a/disk0", "volsize", &v, &_e));
    assert_true(v == (int64_t)(32 * MiB));
    OK(vs_resize(p, "zones/a/disk0", 16 * MiB, VS_ALLOW_SHRINK, &_e));
    qio(p, "zones/a/disk0", "read 0 16M", 1);
    qio(p, "zones/a/disk0", "read 16M 64k", 0);
}

static void test_space(void **state)
{
    fx *f = *state;
    vs_pool *p = f->pool;
    vs_space sp;
    OK(vs_pool_space(p, &sp, &_e));
    assert_true(sp.size > 0 && sp.available <= sp.free);
    /* more than the whole filesystem: free space moves with other tests */
    uint64_t huge = (2 * sp.size / 8192 + 1024) * 8192;
    cleanup_json json_t *auto_ = json_pack("{s:s}", "refreservation", "auto");
    FAILS(VMERR_NOSPACE, "out of space", vs_create_vol(p, "zones/big", huge, auto_, &_e));
    assert_false(vs_exists(p, "zones/big"));
    /* thin is fine */
    OK(vs_create_vol(p, "zones/big", huge, NULL, &_e));
    FAILS(VMERR_NOSPACE, "out of space", vs_set(p, "zones/big", "refreservation", "auto", &_e));
    cleanup_free char *rr = NULL;
    OK(vs_get_str(p, "zones/big", "refreservation", &rr, &_e));
    assert_string_equal(rr, "0");

    /* quota on a filesystem bounds its children's sizes */
    OK(vs_create_fs(p, "zones/vm", NULL, &_e));
    OK(vs_set(p, "zones/vm", "quota", "100M", &_e));
    OK(vs_create_vol(p, "zones/vm/disk0", 64 * MiB, auto_, &_e));
    FAILS(VMERR_NOSPACE, "size is greater than available space",
          vs_create_vol(p, "zones/vm/disk1", 64 * MiB, NULL, &_e));
    assert_false(vs_exists(p, "zones/vm/disk1"));
    FAILS(VMERR_NOSPACE, "size is greater than available space", vs_resize(p, "zones/vm/disk0", 128 * MiB, 0, &_e));
    int64_t v;
    OK(vs_get_int(p, "zones/vm/disk0", "volsize", &v, &_e));
    assert_true(v == (int64_t)(64 * MiB));
    OK(vs_create_vol(p, "zones/vm/disk1", 16 * MiB, NULL, &_e));
    int64_t avail;
    OK(vs_get_int(p, "zones/vm", "available", &avail, &_e));
    assert_true(avail < (int64_t)(20 * MiB));
    FAILS(VMERR_NOSPACE, "less than current", vs_set(p, "zones/vm", "quota", "50M", &_e));
    /* reservation bigger than the pool */
    cleanup_free char *r = xasprintf("%llu", (unsigned long long)(sp.free * 2));
    FAILS(VMERR_NOSPACE, "out of space", vs_set(p, "zones/vm", "reservation", r, &_e));
}

static void test_crash_leftovers(void **state)
{
    fx *f = *state;
    vs_pool *p = f->pool;
    /* Leftovers of a dead creator are collected on open; ours are not. */
    cleanup_free char *dead = xasprintf("%s/var/vmstore/zones/data/0123456789abcdef-p999999.qcow2", f->root);
    cleanup_free char *mine =
        xasprintf("%s/var/vmstore/zones/data/0123456789abcdee-p%ld.qcow2", f->root, (long)getpid());
    cleanup_free char *tx = xasprintf("%s/var/vmstore/zones/tx/999999", f->root);
    assert_int_equal(write_file_atomic(dead, "x", 1, 0600, NULL), 0);
    assert_int_equal(write_file_atomic(mine, "x", 1, 0600, NULL), 0);
    assert_int_equal(write_file_atomic(tx, "", 0, 0600, NULL), 0);
    vs_pool *p2 = NULL;
    OK(vs_pool_open(&f->ctx, NULL, &p2, &_e));
    assert_false(path_exists(dead));
    assert_true(path_exists(mine));
    assert_false(path_exists(tx));
    vs_pool_close(p2);
    (void)p;
}

/* zfs rollback's rule lives in vs_rollback: without VS_RECURSIVE newer
 * snapshots refuse it (zfs's message, nothing destroyed); with it they go. */
static void test_rollback_newer_needs_recursive(void **state)
{
    fx *f = *state;
    vs_pool *p = f->pool;
    OK(vs_create_vol(p, "zones/v", 16 * MiB, NULL, &_e));
    qio(p, "zones/v", "write -P 0x11 0 64k", 1);
    OK(vs_snapshot(p, "zones/v@a", 0, &_e));
    qio(p, "zones/v", "write -P 0x22 0 64k", 1);
    OK(vs_snapshot(p, "zones/v@b", 0, &_e));
    OK(vs_snapshot(p, "zones/v@c", 0, &_e));
    qio(p, "zones/v", "write -P 0x33 0 64k", 1);

    vm_err err = VM_ERR_INIT;
    assert_true(vs_rollback(p, "zones/v@a", 0, &err) < 0);
    assert_int_equal(err.code, VMERR_BUSY);
    assert_string_equal(err.msg,
                        "cannot rollback to 'zones/v@a': more recent snapshots or bookmarks exist\n"
                        "use '-r' to force deletion of the following snapshots and bookmarks:\n"
                        "zones/v@b\nzones/v@c");
    assert_true(vs_exists(p, "zones/v@b"));
    assert_true(vs_exists(p, "zones/v@c"));
    qio(p, "zones/v", "read -P 0x33 0 64k", 1);
    /* the newest snapshot needs no -r; a missing one keeps its message */
    FAILS(VMERR_NOTFOUND, "cannot open 'zones/v@x': dataset does not exist", vs_rollback(p, "zones/v@x", 0, &_e));
    OK(vs_rollback(p, "zones/v@c", 0, &_e));
    qio(p, "zones/v", "read -P 0x22 0 64k", 1);
    OK(vs_rollback(p, "zones/v@a", VS_RECURSIVE, &_e));
    qio(p, "zones/v", "read -P 0x11 0 64k", 1);
    assert_false(vs_exists(p, "zones/v@b"));
    assert_false(vs_exists(p, "zones/v@c"));

    /* a list longer than a message ends with the count left out */
    OK(vs_create_fs(p, "zones/fs", NULL, &_e));
    char snap[300];
    for (int i = 0; i < 24; i++) {
        snprintf(snap, sizeof snap, "zones/fs@s%02d%0230d", i, 0);
        OK(vs_snapshot(p, snap, 0, &_e));
    }
    snprintf(snap, sizeof snap, "zones/fs@s00%0230d", 0);
    vm_err e2 = VM_ERR_INIT;
    assert_true(vs_rollback(p, snap, 0, &e2) < 0);
    assert_int_equal(e2.code, VMERR_BUSY);
    assert_true(strlen(e2.msg) < VM_ERR_MSGLEN - 1);
    assert_non_null(strstr(e2.msg, "zones/fs@s01"));
    const char *tail = strrchr(e2.msg, '\n');
    assert_non_null(tail);
    assert_true(strstr(tail, " more not listed)") != NULL);
    int listed = 0;
    for (const char *q = strstr(e2.msg, "\nzones/fs@"); q; q = strstr(q + 1, "\nzones/fs@"))
        listed++;
    char want[64];
    snprintf(want, sizeof want, "\n(%d more not listed)", 23 - listed);
    assert_string_equal(tail, want);
    snprintf(snap, sizeof snap, "zones/fs@s23%0230d", 0);
    assert_true(vs_exists(p, snap));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_create_and_props, setup, teardown),
        cmocka_unit_test_setup_teardown(test_snapshot_clone_destroy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollback_and_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rollback_newer_needs_recursive, setup, teardown),
        cmocka_unit_test_setup_teardown(test_rename_swap_resize, setup, teardown),
        cmocka_unit_test_setup_teardown(test_space, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_leftovers, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
