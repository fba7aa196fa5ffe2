/* The crash-safe config store: journal roll-forward, create staging
 * rollback, delete completion, listing.  Each test gets its own VMADM_ROOT
 * and builds by hand what a killed vmadm would have left. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/ctx.h"
#include "common/lock.h"
#include "common/util.h"
#include "storage/storage.h"
#include "vm/store.h"
#include "vmtest.h"

#define U1 "11111111-2222-4333-8444-555555555555"
#define U2 "66666666-7777-4888-8999-aaaaaaaaaaaa"

typedef vmt_root fx;

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    if (vmt_root_setup(f, "store") < 0)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    vmt_root_teardown(*state);
    free(*state);
    return 0;
}

#define J vmt_json

static void put_json(const char *path, json_t *j)
{
    vm_err err = VM_ERR_INIT;
    cleanup_free char *dir = xstrdup(path);
    *strrchr(dir, '/') = '\0';
    assert_int_equal(mkdir_p(dir, 0755, &err), 0);
    assert_int_equal(write_json_atomic(path, j, &err), 0);
}

static void put_text(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static json_t *get_json(const char *path)
{
    json_t *j = NULL;
    vm_err err = VM_ERR_INIT;
    if (read_json_file(path, &j, &err) < 0)
        fail_msg("cannot read %s: %s", path, err.msg);
    return j;
}

/* A committed VM as create leaves it (config only). */
static void make_vm(fx *f, const char *uuid, const char *alias)
{
    cleanup_free char *p = vm_store_config_path(&f->ctx, uuid);
    cleanup_json json_t *cfg = json_pack("{s:s,s:s,s:s}", "brand", "joyent-minimal", "zpool", "zones", "alias", alias);
    put_json(p, cfg);
}

static void test_journal_roll_forward(void **state)
{
    fx *f = *state;
    make_vm(f, U1, "old");
    cleanup_free char *cfgp = vm_store_config_path(&f->ctx, U1);
    cleanup_free char *zp = vm_store_zonepath(&f->ctx, "zones", U1);
    cleanup_free char *tagp = xasprintf("%s/config/tags.json", zp);
    cleanup_free char *jp = xasprintf("%s/%s/journal.json", f->ctx.etc_dir, U1);

    /* A journal that was written, then the writer died before applying. */
    cleanup_json json_t *j =
        json_pack("{s:[],s:[{s:s,s:{s:s,s:s,s:s}},{s:s,s:{s:s}}]}", "ops", "writes", "path", cfgp, "content", "brand",
                  "joyent-minimal", "zpool", "zones", "alias", "new", "path", tagp, "content", "role", "db");
    put_json(jp, j);

    vm_err err = VM_ERR_INIT;
    {
        cleanup_lock vm_lock lk = VM_LOCK_INIT;
        assert_int_equal(vm_lock_acquire(&f->ctx, U1, 1000, &lk, &err), 0);
        assert_int_equal(vm_store_recover(&f->ctx, U1, &err), 0);
    }
    assert_false(path_exists(jp));
    cleanup_json json_t *cfg = get_json(cfgp);
    assert_string_equal(json_string_value(json_object_get(cfg, "alias")), "new");
    cleanup_json json_t *tags = get_json(tagp);
    assert_string_equal(json_string_value(json_object_get(tags, "role")), "db");

    /* Nothing left: recovering again is a no-op. */
    assert_int_equal(vm_store_recover(&f->ctx, U1, &err), 0);
    cleanup_json json_t *cfg2 = get_json(cfgp);
    assert_true(json_equal(cfg, cfg2));
}

/* Readers roll forward too, so nobody ever sees half an update. */
static void test_load_config_rolls_forward(void **state)
{
    fx *f = *state;
    make_vm(f, U1, "old");
    cleanup_free char *cfgp = vm_store_config_path(&f->ctx, U1);
    cleanup_free char *jp = xasprintf("%s/%s/journal.json", f->ctx.etc_dir, U1);
    cleanup_json json_t *j = json_pack("{s:[{s:s,s:{s:s,s:s,s:s}}]}", "writes", "path", cfgp, "content", "brand",
                                       "joyent-minimal", "zpool", "zones", "alias", "rolled");
    put_json(jp, j);
    cleanup_json json_t *cfg = NULL;
    vm_err err = VM_ERR_INIT;
    assert_int_equal(vm_store_load_config(&f->ctx, U1, &cfg, &err), 0);
    assert_string_equal(json_string_value(json_object_get(cfg, "alias")), "rolled");
    assert_false(path_exists(jp));
}

/* While another process holds the VM lock (mid-update), a reader must not
 * apply its journal; it reads the committed config. */
static void test_load_config_respects_lock(void **state)
{
    fx *f = *state;
    make_vm(f, U1, "old");
    cleanup_free char *cfgp = vm_store_config_path(&f->ctx, U1);
    cleanup_free char *jp = xasprintf("%s/%s/journal.json", f->ctx.etc_dir, U1);
    cleanup_json json_t *j = json_pack("{s:[{s:s,s:{s:s,s:s,s:s}}]}", "writes", "path", cfgp, "content", "brand",
                                       "joyent-minimal", "zpool", "zones", "alias", "pending");
    put_json(jp, j);
    vm_err err = VM_ERR_INIT;
    cleanup_lock vm_lock lk = VM_LOCK_INIT;
    assert_int_equal(vm_lock_acquire(&f->ctx, U1, 1000, &lk, &err), 0);
    cleanup_json json_t *cfg = NULL;
    assert_int_equal(vm_store_load_config(&f->ctx, U1, &cfg, &err), 0);
    assert_string_equal(json_string_value(json_object_get(cfg, "alias")), "old");
    assert_true(path_exists(jp));
}

/* A journal whose own write was cut short was never committed. */
static void test_truncated_journal_discarded(void **state)
{
    fx *f = *state;
    make_vm(f, U1, "old");
    cleanup_free char *cfgp = vm_store_config_path(&f->ctx, U1);
    cleanup_free char *jp = xasprintf("%s/%s/journal.json", f->ctx.etc_dir, U1);
    put_text(jp, "{\"writes\":[{\"path\":\"");
    vm_err err = VM_ERR_INIT;
    assert_int_equal(vm_store_recover(&f->ctx, U1, &err), 0);
    assert_false(path_exists(jp));
    cleanup_json json_t *cfg = get_json(cfgp);
    assert_string_equal(json_string_value(json_object_get(cfg, "alias")), "old");
}

/* Storage ops in a journal are re-run idempotently. */
static void test_journal_ops(void **state)
{
    fx *f = *state;
    vm_err err = VM_ERR_INIT;
    cleanup_vs_pool vs_pool *pool = NULL;
    assert_int_equal(vs_pool_open(&f->ctx, "zones", &pool, &err), 0);
    cleanup_free char *ds = xasprintf("zones/%s", U1);
    assert_int_equal(vs_create_fs(pool, ds, NULL, &err), 0);
    make_vm(f, U1, "old");
    cleanup_free char *cfgp = vm_store_config_path(&f->ctx, U1);
    cleanup_free char *jp = xasprintf("%s/%s/journal.json", f->ctx.etc_dir, U1);
    cleanup_free char *vol = xasprintf("zones/%s/disk1", U1);
    cleanup_json json_t *j = json_pack("{s:[{s:s,s:s,s:I,s:{}}],s:[{s:s,s:{s:s,s:s,s:s}}]}", "ops", "op", "create_vol",
                                       "name", vol, "volsize", (json_int_t)(8 << 20), "props", "writes", "path", cfgp,
                                       "content", "brand", "bhyve", "zpool", "zones", "alias", "withdisk");
    put_json(jp, j);
    assert_int_equal(vm_store_recover(&f->ctx, U1, &err), 0);
    assert_true(vs_exists(pool, vol));
    int64_t sz = 0;
    assert_int_equal(vs_get_int(pool, vol, "volsize", &sz, &err), 0);
    assert_int_equal(sz, 8 << 20);
    cleanup_json json_t *cfg = get_json(cfgp);
    assert_string_equal(json_string_value(json_object_get(cfg, "alias")), "withdisk");

    /* the same ops again (crash after the ops, before the journal went) */
    put_json(jp, j);
    assert_int_equal(vm_store_recover(&f->ctx, U1, &err), 0);
    assert_true(vs_exists(pool, vol));
    assert_false(path_exists(jp));

    /* destroy of something already gone is fine */
    cleanup_json json_t *op = json_pack("{s:s,s:s}", "op", "destroy", "name", vol);
    assert_int_equal(vm_store_apply_op(pool, op, &err), 0);
    assert_false(vs_exists(pool, vol));
    assert_int_equal(vm_store_apply_op(pool, op, &err), 0);
    cleanup_json json_t *bad = json_pack("{s:s,s:s}", "op", "explode", "name", vol);
    assert_true(vm_store_apply_op(pool, bad, &err) < 0);
}

static void test_txn_commit(void **state)
{
    fx *f = *state;
    make_vm(f, U1, "old");
    cleanup_free char *cfgp = vm_store_config_path(&f->ctx, U1);
    cleanup_free char *zp = vm_store_zonepath(&f->ctx, "zones", U1);
    cleanup_free char *jp = xasprintf("%s/%s/journal.json", f->ctx.etc_dir, U1);
    cleanup_json json_t *cfg = json_pack("{s:s,s:s,s:s}", "brand", "joyent-minimal", "zpool", "zones", "alias", "txn");
    cleanup_json json_t *meta = J("{\"customer_metadata\":{\"k\":\"v\"},\"internal_metadata\":{},"
                                  "\"tags\":{\"t\":1},\"routes\":{}}");
    cleanup_txn vm_txn *t = vm_txn_new();
    vm_txn_write_vm(t, &f->ctx, U1, cfg, zp, meta);
    vm_err err = VM_ERR_INIT;
    assert_int_equal(vm_txn_commit(&f->ctx, U1, t, &err), 0);
    assert_false(path_exists(jp));
    cleanup_json json_t *c2 = get_json(cfgp);
    assert_true(json_equal(c2, cfg));
    cleanup_json json_t *m = NULL;
    assert_int_equal(vm_store_load_meta(zp, &m, &err), 0);
    assert_true(json_equal(m, meta));

    /* begin (journal written) + crash = roll forward later */
    cleanup_json json_t *cfg3 =
        json_pack("{s:s,s:s,s:s}", "brand", "joyent-minimal", "zpool", "zones", "alias", "later");
    cleanup_txn vm_txn *t2 = vm_txn_new();
    vm_txn_write_vm(t2, &f->ctx, U1, cfg3, zp, meta);
    assert_int_equal(vm_txn_begin(&f->ctx, U1, t2, &err), 0);
    assert_true(path_exists(jp));
    cleanup_json json_t *still = get_json(cfgp);
    assert_string_equal(json_string_value(json_object_get(still, "alias")), "txn");
    assert_int_equal(vm_store_recover(&f->ctx, U1, &err), 0);
    cleanup_json json_t *after = get_json(cfgp);
    assert_string_equal(json_string_value(json_object_get(after, "alias")), "later");

    /* begin + abort = unchanged */
    cleanup_json json_t *cfg4 =
        json_pack("{s:s,s:s,s:s}", "brand", "joyent-minimal", "zpool", "zones", "alias", "never");
    cleanup_txn vm_txn *t3 = vm_txn_new();
    vm_txn_write_vm(t3, &f->ctx, U1, cfg4, zp, meta);
    assert_int_equal(vm_txn_begin(&f->ctx, U1, t3, &err), 0);
    vm_txn_abort(&f->ctx, U1);
    assert_int_equal(vm_store_recover(&f->ctx, U1, &err), 0);
    cleanup_json json_t *after2 = get_json(cfgp);
    assert_string_equal(json_string_value(json_object_get(after2, "alias")), "later");
}

/* A create that died in staging: no lock holder → rolled back, storage
 * included; with a live lock holder → left alone. */
static void test_staging_repair(void **state)
{
    fx *f = *state;
    vm_err err = VM_ERR_INIT;
    cleanup_vs_pool vs_pool *pool = NULL;
    assert_int_equal(vs_pool_open(&f->ctx, "zones", &pool, &err), 0);
    cleanup_free char *ds = xasprintf("zones/%s", U1);
    cleanup_free char *vol = xasprintf("zones/%s/disk0", U1);
    assert_int_equal(vs_create_fs(pool, ds, NULL, &err), 0);
    assert_int_equal(vs_create_vol(pool, vol, 4 << 20, NULL, &err), 0);
    cleanup_free char *staging = vm_store_staging_dir(&f->ctx, U1);
    cleanup_free char *marker = xasprintf("%s/vm.json", staging);
    cleanup_json json_t *m = json_pack("{s:s,s:s}", "uuid", U1, "zpool", "zones");
    put_json(marker, m);

    /* committed VMs never include staging dirs */
    cleanup_json json_t *uuids = NULL;
    assert_int_equal(vm_store_list(&f->ctx, &uuids, &err), 0);
    assert_int_equal(json_array_size(uuids), 0);
    assert_false(vm_store_exists(&f->ctx, U1));

    {
        /* owner still at work */
        cleanup_lock vm_lock lk = VM_LOCK_INIT;
        assert_int_equal(vm_lock_acquire(&f->ctx, U1, 1000, &lk, &err), 0);
        assert_int_equal(vm_store_repair(&f->ctx, &err), 0);
        assert_true(path_exists(staging));
        assert_true(vs_exists(pool, ds));
    }
    /* owner gone */
    assert_int_equal(vm_store_repair(&f->ctx, &err), 0);
    assert_false(path_exists(staging));
    vs_pool_close(pool);
    pool = NULL;
    assert_int_equal(vs_pool_open(&f->ctx, "zones", &pool, &err), 0);
    assert_false(vs_exists(pool, vol));
    assert_false(vs_exists(pool, ds));
}

/* A staging dir whose marker was never written (died right after mkdir). */
static void test_staging_repair_empty(void **state)
{
    fx *f = *state;
    vm_err err = VM_ERR_INIT;
    cleanup_free char *staging = vm_store_staging_dir(&f->ctx, U2);
    assert_int_equal(mkdir_p(staging, 0755, &err), 0);
    assert_int_equal(vm_store_repair(&f->ctx, &err), 0);
    assert_false(path_exists(staging));
}

/* A delete that died after hiding the VM: the next repair destroys the
 * storage and the directory. */
static void test_deleting_finished(void **state)
{
    fx *f = *state;
    vm_err err = VM_ERR_INIT;
    cleanup_vs_pool vs_pool *pool = NULL;
    assert_int_equal(vs_pool_open(&f->ctx, "zones", &pool, &err), 0);
    cleanup_free char *ds = xasprintf("zones/%s", U2);
    assert_int_equal(vs_create_fs(pool, ds, NULL, &err), 0);
    make_vm(f, U2, "doomed");
    make_vm(f, U1, "survivor");
    assert_int_equal(vm_store_begin_delete(&f->ctx, U2, &err), 0);
    assert_false(vm_store_exists(&f->ctx, U2));
    cleanup_json json_t *uuids = NULL;
    assert_int_equal(vm_store_list(&f->ctx, &uuids, &err), 0);
    assert_int_equal(json_array_size(uuids), 1);
    assert_string_equal(json_string_value(json_array_get(uuids, 0)), U1);

    cleanup_free char *deleting = xasprintf("%s/.deleting-%s", f->ctx.etc_dir, U2);
    assert_true(path_exists(deleting));
    assert_int_equal(vm_store_repair(&f->ctx, &err), 0);
    assert_false(path_exists(deleting));
    vs_pool_close(pool);
    pool = NULL;
    assert_int_equal(vs_pool_open(&f->ctx, "zones", &pool, &err), 0);
    assert_false(vs_exists(pool, ds));
    assert_true(vm_store_exists(&f->ctx, U1));
}

static void test_commit_create_and_list(void **state)
{
    fx *f = *state;
    vm_err err = VM_ERR_INIT;
    make_vm(f, U2, "b");
    cleanup_free char *staging = vm_store_staging_dir(&f->ctx, U1);
    cleanup_free char *marker = xasprintf("%s/vm.json", staging);
    cleanup_json json_t *cfg = json_pack("{s:s,s:s}", "brand", "bhyve", "zpool", "zones");
    put_json(marker, cfg);
    assert_false(vm_store_exists(&f->ctx, U1));
    assert_int_equal(vm_store_commit_create(&f->ctx, U1, &err), 0);
    assert_true(vm_store_exists(&f->ctx, U1));
    assert_false(path_exists(staging));

    /* junk in etc/vms is not a VM */
    cleanup_free char *junk = xasprintf("%s/not-a-uuid", f->ctx.etc_dir);
    assert_int_equal(mkdir_p(junk, 0755, &err), 0);
    cleanup_free char *upper = xasprintf("%s/11111111-2222-4333-8444-55555555555A", f->ctx.etc_dir);
    assert_int_equal(mkdir_p(upper, 0755, &err), 0);

    cleanup_json json_t *uuids = NULL;
    assert_int_equal(vm_store_list(&f->ctx, &uuids, &err), 0);
    assert_int_equal(json_array_size(uuids), 2);
    /* sorted */
    assert_string_equal(json_string_value(json_array_get(uuids, 0)), U1);
    assert_string_equal(json_string_value(json_array_get(uuids, 1)), U2);

    cleanup_json json_t *c = NULL;
    assert_true(vm_store_load_config(&f->ctx, "99999999-2222-4333-8444-555555555555", &c, &err) < 0);
    assert_int_equal(err.code, VMERR_NOTFOUND);
}

/* Metadata files that are missing or damaged read as empty objects. */
static void test_load_meta_defaults(void **state)
{
    fx *f = *state;
    vm_err err = VM_ERR_INIT;
    cleanup_free char *zp = vm_store_zonepath(&f->ctx, "zones", U1);
    cleanup_json json_t *m = NULL;
    assert_int_equal(vm_store_load_meta(zp, &m, &err), 0);
    const char *keys[] = { "customer_metadata", "internal_metadata", "routes", "tags" };
    for (int i = 0; i < 4; i++) {
        json_t *v = json_object_get(m, keys[i]);
        assert_true(json_is_object(v));
        assert_int_equal(json_object_size(v), 0);
    }
    cleanup_free char *tagp = xasprintf("%s/config/tags.json", zp);
    cleanup_free char *cfgdir = xasprintf("%s/config", zp);
    assert_int_equal(mkdir_p(cfgdir, 0755, &err), 0);
    put_text(tagp, "[1,2");
    /* A damaged file reads as empty for readers, and says so for writers. */
    cleanup_json json_t *m2 = NULL;
    assert_int_equal(vm_store_load_meta(zp, &m2, &err), -1);
    assert_non_null(strstr(err.msg, "tags.json"));
    assert_true(json_is_object(json_object_get(m2, "tags")));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_journal_roll_forward, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_config_rolls_forward, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_config_respects_lock, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_journal_discarded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_journal_ops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_txn_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_staging_repair, setup, teardown),
        cmocka_unit_test_setup_teardown(test_staging_repair_empty, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deleting_finished, setup, teardown),
        cmocka_unit_test_setup_teardown(test_commit_create_and_list, setup, teardown),
        cmocka_unit_test_setup_teardown(test_load_meta_defaults, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
