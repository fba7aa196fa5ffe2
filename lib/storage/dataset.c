/* Datasets: create, destroy, rename, swap, existence, listing and the paths
 * hypervisors and containers open.  Snapshot-specific halves of destroy and
 * rename live in snapshot.c, the image copy of vs_import_vol in import.c. */
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "storage/storage_internal.h"

static bool in_pool(vs_pool *pool, const char *name)
{
    return vs_name_under(name, pool->name);
}

/* Common checks for a new dataset name; the parent must be a filesystem. */
int vs_check_new_name(vs_txn *t, const char *name, const char *prefix, vm_err *err)
{
    if (!vs_valid_name(name) || strchr(name, '@'))
        return vm_err_set(err, VMERR_INVALID, "%s: invalid dataset name", prefix);
    if (!in_pool(t->pool, name) || !strcmp(name, t->pool->name)) {
        cleanup_free char *p = vs_split_snap(name, &(const char *){ NULL });
        char *slash = strchr(p, '/');
        if (slash)
            *slash = '\0';
        if (!strcmp(name, t->pool->name))
            return vm_err_set(err, VMERR_EXISTS, "%s: dataset already exists", prefix);
        return vm_err_set(err, VMERR_NOTFOUND, "%s: no such pool '%s'", prefix, p);
    }
    if (json_object_get(t->dss, name))
        return vm_err_set(err, VMERR_EXISTS, "%s: dataset already exists", prefix);
    cleanup_free char *parent = vs_parent_name(name);
    json_t *pds = json_object_get(t->dss, parent);
    if (!pds)
        return vm_err_set(err, VMERR_NOTFOUND, "%s: parent does not exist", prefix);
    if (vs_ds_type(pds) != VS_FILESYSTEM)
        return vm_err_set(err, VMERR_INVALID, "%s: parent is not a filesystem", prefix);
    return 0;
}

int vs_check_volsize(json_t *props, uint64_t volsize, const char *prefix, vm_err *err)
{
    json_t *b = json_object_get(props, "volblocksize");
    uint64_t bs = json_is_integer(b) ? (uint64_t)json_integer_value(b) : VS_DEFAULT_VOLBLOCKSIZE;
    if (volsize == 0)
        return vm_err_set(err, VMERR_INVALID, "%s: volume size cannot be zero", prefix);
    if (volsize % bs)
        return vm_err_set(err, VMERR_INVALID, "%s: volume size must be a multiple of volume block size", prefix);
    if (volsize > INT64_MAX)
        return vm_err_set(err, VMERR_INVALID, "%s: volume size is too large", prefix);
    return 0;
}

int vs_create_common(vs_pool *pool, int kind, const char *name, uint64_t volsize, const char *src, const char *src_fmt,
                     json_t *props, vm_err *err)
{
    cleanup_free char *prefix = xasprintf("cannot create '%s'", name);
    cleanup_json json_t *parsed = NULL, *ds = NULL;
    vs_space_before sb = { 0, NULL };
    int type = kind == VS_MK_FS ? VS_FILESYSTEM : VS_VOLUME;
    vs_txn t;
    int r = -1;

    if (!vs_valid_name(name) || strchr(name, '@'))
        return vm_err_set(err, VMERR_INVALID, "%s: invalid dataset name", prefix);
    if (vs_parse_props(type, props, false, &parsed, err) < 0) {
        vm_err_prefix(err, "%s: ", prefix);
        return -1;
    }
    if (kind == VS_MK_IMPORT && vs_import_size(src, src_fmt, parsed, &volsize, prefix, err) < 0)
        return -1;
    if (type == VS_VOLUME) {
        json_object_set_new(parsed, "volsize", json_integer((json_int_t)volsize));
        if (vs_check_volsize(parsed, volsize, prefix, err) < 0)
            return -1;
    }
    ds = vs_new_ds(type);
    json_object_update(json_object_get(ds, "props"), parsed);
    if (kind == VS_MK_IMPORT && vs_import_copy(pool, name, ds, parsed, src, src_fmt, volsize, prefix, err) < 0)
        return -1;
    if (vs_txn_begin(pool, &t, err) < 0) {
        vs_discard_data(pool, ds);
        vs_tx_unmark(pool);
        return -1;
    }
    if (vs_check_new_name(&t, name, prefix, err) < 0)
        goto out;
    vs_space_snap(pool, t.dss, &sb);
    json_object_set(t.dss, name, ds);
    char what[96];
    if (vs_space_check(pool, t.dss, &sb, prefix, vs_space_what(parsed, what), err) < 0)
        goto out;
    if (kind == VS_MK_FS)
        r = pool->drv->fs_create(pool, ds, err);
    else if (kind == VS_MK_VOL)
        r = pool->drv->vol_create(pool, ds, volsize, err);
    else
        r = 0; /* copied above */
    if (r < 0) {
        vm_err_prefix(err, "%s: ", prefix);
        goto out;
    }
    r = vs_txn_commit(&t, err);
out:
    if (r < 0)
        vs_discard_data(pool, ds);
    vs_space_free(&sb);
    vs_txn_end(&t);
    return r;
}

int vs_create_fs(vs_pool *pool, const char *name, json_t *props, vm_err *err)
{
    return vs_create_common(pool, VS_MK_FS, name, 0, NULL, NULL, props, err);
}

int vs_create_vol(vs_pool *pool, const char *name, uint64_t volsize, json_t *props, vm_err *err)
{
    return vs_create_common(pool, VS_MK_VOL, name, volsize, NULL, NULL, props, err);
}

static void garbage_ds(vs_txn *t, json_t *ds)
{
    json_t *s;
    size_t i;
    if (vs_jstr(ds, "file"))
        json_array_append_new(t->garbage, json_string(vs_jstr(ds, "file")));
    json_array_foreach(json_object_get(ds, "snaps"), i, s)
        if (vs_jstr(s, "layer"))
            json_array_append_new(t->garbage, json_string(vs_jstr(s, "layer")));
}

int vs_destroy(vs_pool *pool, const char *name, int flags, vm_err *err)
{
    cleanup_free char *prefix = xasprintf("cannot destroy '%s'", name);
    cleanup_json json_t *victims = NULL;
    json_t *ds, *v, *s;
    size_t i, j;
    vs_txn t;
    int r = -1;

    if (!vs_valid_name(name))
        return vm_err_set(err, VMERR_INVALID, "%s: invalid dataset name", prefix);
    if (vs_txn_begin(pool, &t, err) < 0)
        return -1;
    t.frees_space = true; /* may use the reserve: works on a full pool */
    if (strchr(name, '@')) {
        r = vs_destroy_snapshot(&t, name, err);
        goto out;
    }
    if (vs_lookup_ds(&t, name, &ds, err) < 0)
        goto out;
    if (!strcmp(name, pool->name)) {
        vm_err_set(err, VMERR_INVALID, "%s: operation does not apply to pools", prefix);
        goto out;
    }
    victims = vs_child_names(t.dss, name, true);
    if (!(flags & VS_RECURSIVE) && (json_array_size(victims) || json_array_size(json_object_get(ds, "snaps")))) {
        vm_err_set(err, VMERR_BUSY, "%s: %s has children", prefix, vs_type_name(vs_ds_type(ds)));
        goto out;
    }
    json_array_insert_new(victims, 0, json_string(name));
    json_array_foreach(victims, i, v) {
        const char *n = json_string_value(v);
        json_t *d = json_object_get(t.dss, n);
        json_array_foreach(json_object_get(d, "snaps"), j, s)
            if (vs_snap_removable(&t, n, s, name, prefix, err) < 0)
                goto out;
    }
    json_array_foreach(victims, i, v) {
        garbage_ds(&t, json_object_get(t.dss, json_string_value(v)));
        json_object_del(t.dss, json_string_value(v));
    }
    r = vs_txn_commit(&t, err);
out:
    /* Success only when the data is really gone (a busy mount, EPERM...). */
    if (vs_txn_finish(&t, r == 0 ? err : NULL) < 0 && r == 0) {
        vm_err_prefix(err, "%s: ", prefix);
        r = -1;
    }
    return r;
}

static char *replace_prefix(const char *s, const char *from, const char *to)
{
    return xasprintf("%s%s", to, s + strlen(from));
}

/* Renames `from` and everything below it to `to` in memory (keys and the
 * origin references of every dataset). */
static void rename_tree(json_t *dss, const char *from, const char *to)
{
    cleanup_json json_t *keys = json_array();
    const char *n;
    json_t *ds, *k;
    size_t i;
    json_object_foreach(dss, n, ds)
        if (vs_name_under(n, from))
            json_array_append_new(keys, json_string(n));
    json_array_foreach(keys, i, k) {
        const char *old = json_string_value(k);
        cleanup_free char *nn = replace_prefix(old, from, to);
        json_object_set(dss, nn, json_object_get(dss, old));
        json_object_del(dss, old);
    }
    json_object_foreach(dss, n, ds) {
        const char *o = vs_jstr(ds, "origin");
        if (o && vs_name_under(o, from)) {
            cleanup_free char *no = replace_prefix(o, from, to);
            json_object_set_new(ds, "origin", json_string(no));
        }
    }
}

int vs_rename(vs_pool *pool, const char *from, const char *to, vm_err *err)
{
    cleanup_free char *prefix = xasprintf("cannot rename to '%s'", to);
    vs_space_before sb = { 0, NULL };
    json_t *ds;
    vs_txn t;
    int r = -1;

    if (!vs_valid_name(from))
        return vm_err_set(err, VMERR_INVALID, "cannot rename '%s': invalid dataset name", from);
    if (!vs_valid_name(to))
        return vm_err_set(err, VMERR_INVALID, "%s: invalid dataset name", prefix);
    if (vs_txn_begin(pool, &t, err) < 0)
        return -1;
    if (strchr(from, '@')) {
        r = vs_rename_snapshot(&t, from, to, err);
        goto out;
    }
    if (vs_lookup_ds(&t, from, &ds, err) < 0)
        goto out;
    if (strchr(to, '@')) {
        vm_err_set(err, VMERR_INVALID, "%s: snapshots must be part of same dataset", prefix);
        goto out;
    }
    if (!strcmp(from, pool->name)) {
        vm_err_set(err, VMERR_INVALID, "cannot rename '%s': operation does not apply to pools", from);
        goto out;
    }
    if (!in_pool(pool, to)) {
        vm_err_set(err, VMERR_INVALID, "%s: datasets must be within same pool", prefix);
        goto out;
    }
    if (vs_name_under(to, from)) {
        vm_err_set(err, VMERR_INVALID, "%s: New dataset name cannot be a descendant of current dataset name", prefix);
        goto out;
    }
    if (vs_check_new_name(&t, to, prefix, err) < 0)
        goto out;
    vs_space_snap(pool, t.dss, &sb);
    rename_tree(t.dss, from, to);
    if (vs_space_check(pool, t.dss, &sb, prefix, "moved datasets", err) < 0)
        goto out;
    r = vs_txn_commit(&t, err);
out:
    vs_space_free(&sb);
    vs_txn_end(&t);
    return r;
}

int vs_swap(vs_pool *pool, const char *a, const char *b, vm_err *err)
{
    cleanup_free char *prefix = xasprintf("cannot swap '%s' and '%s'", a, b);
    vs_space_before sb = { 0, NULL };
    json_t *da, *db;
    vs_txn t;
    int r = -1;

    if (!vs_valid_name(a) || !vs_valid_name(b) || strchr(a, '@') || strchr(b, '@'))
        return vm_err_set(err, VMERR_INVALID, "%s: invalid dataset name", prefix);
    if (vs_txn_begin(pool, &t, err) < 0)
        return -1;
    if (vs_lookup_ds(&t, a, &da, err) < 0 || vs_lookup_ds(&t, b, &db, err) < 0)
        goto out;
    if (!strcmp(a, pool->name) || !strcmp(b, pool->name) || vs_name_under(a, b) || vs_name_under(b, a)) {
        vm_err_set(err, VMERR_INVALID, "%s: one contains the other", prefix);
        goto out;
    }
    vs_space_snap(pool, t.dss, &sb);
    /* "\x01" never appears in a valid name: a scratch prefix. */
    rename_tree(t.dss, a, "\x01swap");
    rename_tree(t.dss, b, a);
    rename_tree(t.dss, "\x01swap", b);
    if (vs_space_check(pool, t.dss, &sb, prefix, "swapped datasets", err) < 0)
        goto out;
    r = vs_txn_commit(&t, err);
out:
    vs_space_free(&sb);
    vs_txn_end(&t);
    return r;
}

bool vs_exists(vs_pool *pool, const char *name)
{
    vs_view v;
    json_t *ds, *s;
    if (vs_view_open(pool, &v, NULL) < 0)
        return false;
    bool ok = vs_view_find(&v, name, &ds, &s, NULL) == 0;
    vs_view_close(&v);
    return ok;
}

int vs_list(vs_pool *pool, const char *root, int types, int flags, json_t **names, vm_err *err)
{
    vs_view v;
    json_t *ds = NULL, *snap = NULL;
    if (vs_view_open(pool, &v, err) < 0)
        return -1;
    if (root && vs_view_find(&v, root, &ds, &snap, err) < 0) {
        vs_view_close(&v);
        return -1;
    }
    bool all = !root || (flags & VS_RECURSIVE);
    /* One dataset (no recursion) needs no sorted walk of the whole pool:
     * vmadm asks this for every VM. */
    cleanup_json json_t *sorted = all ? vs_sorted_names(v.dss) : json_pack("[s]", root);
    json_t *out = json_array(), *k, *s;
    size_t i, j;
    if (snap) {
        if (types & VS_SNAPSHOT)
            json_array_append_new(out, json_string(root));
    } else {
        json_array_foreach(sorted, i, k) {
            const char *n = json_string_value(k);
            if (root && !(all ? vs_name_under(n, root) : !strcmp(n, root)))
                continue;
            json_t *d = json_object_get(v.dss, n);
            if (types & vs_ds_type(d))
                json_array_append_new(out, json_string(n));
            if (types & VS_SNAPSHOT)
                json_array_foreach(json_object_get(d, "snaps"), j, s) {
                    cleanup_free char *full = xasprintf("%s@%s", n, vs_jstr(s, "name"));
                    json_array_append_new(out, json_string(full));
                }
        }
    }
    vs_view_close(&v);
    *names = out;
    return 0;
}

int vs_vol_path(vs_pool *pool, const char *name, char **path, vm_err *err)
{
    vs_view v;
    json_t *ds, *snap;
    int r = -1;
    if (vs_view_open(pool, &v, err) < 0)
        return -1;
    if (vs_view_find(&v, name, &ds, &snap, err) < 0)
        goto out;
    if (snap || vs_ds_type(ds) != VS_VOLUME) {
        vm_err_set(err, VMERR_INVALID, "'%s' is not a volume", name);
        goto out;
    }
    *path = pool->drv->path(pool, vs_jstr(ds, "file"), VS_VOLUME);
    r = 0;
out:
    vs_view_close(&v);
    return r;
}

int vs_fs_path(vs_pool *pool, const char *name, char **path, vm_err *err)
{
    vs_view v;
    json_t *ds, *snap;
    int r = -1;
    if (vs_view_open(pool, &v, err) < 0)
        return -1;
    if (vs_view_find(&v, name, &ds, &snap, err) < 0)
        goto out;
    if (vs_ds_type(ds) != VS_FILESYSTEM) {
        vm_err_set(err, VMERR_INVALID, "'%s' is not a filesystem", name);
        goto out;
    }
    const char *dn = vs_jstr(snap ? snap : ds, snap ? "layer" : "file");
    if (pool->drv->fs_ready && pool->drv->fs_ready(pool, dn, err) < 0)
        goto out;
    *path = pool->drv->path(pool, dn, VS_FILESYSTEM);
    r = 0;
out:
    vs_view_close(&v);
    return r;
}

char *vs_mountpoint(vs_pool *pool, const char *name)
{
    vs_view v;
    json_t *ds, *snap;
    char *mp = NULL;
    if (vs_view_open(pool, &v, NULL) < 0)
        return NULL;
    if (vs_view_find(&v, name, &ds, &snap, NULL) == 0 && !snap && vs_ds_type(ds) == VS_FILESYSTEM)
        mp = xasprintf("%s/%s", pool->ctx->root, name);
    vs_view_close(&v);
    return mp;
}
