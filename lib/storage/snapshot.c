/* Snapshots: taking them (also of volumes a running QEMU writes, via
 * vs_snapshot_live), destroying and renaming one, rolling a dataset back,
 * and the blocks changed between two of them (vs_changed_blocks, the basis
 * of the send stream, see README "Send and receive").  Holds are in hold.c,
 * clones in clone.c. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "storage/storage_internal.h"

/* Basenames of direct filesystem children (their links are not content). */
static json_t *child_links(json_t *dss, const char *name)
{
    cleanup_json json_t *kids = vs_child_names(dss, name, false);
    json_t *out = json_array(), *k;
    size_t i;
    json_array_foreach(kids, i, k) {
        const char *n = json_string_value(k);
        if (vs_ds_type(json_object_get(dss, n)) == VS_FILESYSTEM)
            json_array_append_new(out, json_string(strrchr(n, '/') + 1));
    }
    return out;
}

int vs_snapshot(vs_pool *pool, const char *snapname, int flags, vm_err *err)
{
    return vs_snapshot_live(pool, snapname, flags, NULL, NULL, err);
}

/* The volumes of a snapshot whose writer must move to their new overlays:
 * [{"dataset", "active", "overlay"}] with absolute paths. */
static json_t *live_switches(vs_pool *pool, vs_txn *t, json_t *made)
{
    json_t *sw = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(made, i, v) {
        json_t *d = json_object_get(t->dss, json_string_value(v));
        if (vs_ds_type(d) != VS_VOLUME || !vs_jstr(d, "pending"))
            continue;
        cleanup_free char *active = pool->drv->path(pool, vs_jstr(d, "file"), VS_VOLUME);
        cleanup_free char *overlay = pool->drv->path(pool, vs_jstr(d, "pending"), VS_VOLUME);
        json_array_append_new(sw, json_pack("{s:O, s:s, s:s}", "dataset", v, "active", active, "overlay", overlay));
    }
    return sw;
}

int vs_snapshot_live(vs_pool *pool, const char *snapname, int flags, vs_switch_fn live, void *arg, vm_err *err)
{
    const char *snap;
    cleanup_free char *dsname = vs_split_snap(snapname, &snap);
    cleanup_json json_t *targets = NULL, *made = json_array();
    json_t *ds;
    vs_txn t;
    int r = -1;
    size_t i;
    json_t *v;

    if (!snap)
        return vm_err_set(err, VMERR_INVALID, "cannot create snapshot '%s': missing '@' delimiter in snapshot name",
                          snapname);
    if (!vs_valid_name(snapname))
        return vm_err_set(err, VMERR_INVALID, "cannot create snapshot '%s': invalid character in name", snapname);
    if (vs_txn_begin(pool, &t, err) < 0)
        return -1;
    if (vs_lookup_ds(&t, dsname, &ds, err) < 0)
        goto out;
    targets = (flags & VS_RECURSIVE) ? vs_child_names(t.dss, dsname, true) : json_array();
    json_array_insert_new(targets, 0, json_string(dsname));
    json_array_foreach(targets, i, v) {
        json_t *d = json_object_get(t.dss, json_string_value(v));
        if (vs_find_snap(d, snap) >= 0) {
            vm_err_set(err, VMERR_EXISTS, "cannot create snapshot '%s@%s': dataset already exists",
                       json_string_value(v), snap);
            goto out;
        }
    }
    int64_t now = time(NULL);
    json_array_foreach(targets, i, v) {
        const char *n = json_string_value(v);
        json_t *d = json_object_get(t.dss, n);
        cleanup_free char *guid = vs_new_guid();
        json_t *s = json_pack("{s:s, s:s, s:I, s:{}, s:{}}", "name", snap, "guid", guid, "creation", (json_int_t)now,
                              "holds", "props");
        if (vs_ds_type(d) == VS_VOLUME)
            json_object_set_new(s, "volsize", json_integer((json_int_t)vs_ds_prop_u64(d, "volsize")));
        cleanup_json json_t *links = child_links(t.dss, n);
        if (pool->drv->snapshot(pool, d, s, links, err) < 0) {
            json_decref(s);
            vm_err_prefix(err, "cannot create snapshot '%s@%s': ", n, snap);
            goto undo;
        }
        json_array_append_new(json_object_get(d, "snaps"), s);
        json_array_append(made, v);
    }
    if (vs_txn_commit(&t, err) < 0)
        goto undo;
    json_array_foreach(made, i, v)
        json_array_append(t.finish, v);
    r = 0;
    if (live) {
        /* Committed first: whatever happens next, no data the writer puts
         * in the new overlays can be lost to garbage collection.  The
         * overlays replace the active names in vs_txn_end, before or after
         * the writer moved: the writer's files stay the same inodes. */
        cleanup_json json_t *sw = live_switches(pool, &t, made);
        if (json_array_size(sw) && live(arg, sw, err) < 0)
            r = -2;
    }
    goto out;
undo:
    json_array_foreach(made, i, v) {
        json_t *d = json_object_get(t.dss, json_string_value(v));
        json_t *snaps = json_object_get(d, "snaps");
        vs_discard_data(pool, json_array_get(snaps, json_array_size(snaps) - 1));
        if (vs_jstr(d, "pending"))
            pool->drv->remove_data(pool, vs_jstr(d, "pending"), NULL);
    }
out:
    vs_txn_end(&t);
    return r;
}

/* Names of datasets whose origin is `snapname`, comma-separated. */
static char *clones_of(json_t *dss, const char *snapname, const char *except_under)
{
    const char *n;
    json_t *ds;
    char *out = NULL;
    json_object_foreach(dss, n, ds) {
        const char *o = vs_jstr(ds, "origin");
        if (!o || strcmp(o, snapname) || (except_under && vs_name_under(n, except_under)))
            continue;
        char *x = out ? xasprintf("%s, %s", out, n) : xstrdup(n);
        free(out);
        out = x;
    }
    return out;
}

static char *holds_list(json_t *snap)
{
    const char *tag;
    json_t *v;
    char *out = NULL;
    json_object_foreach(json_object_get(snap, "holds"), tag, v) {
        char *x = out ? xasprintf("%s, %s", out, tag) : xstrdup(tag);
        free(out);
        out = x;
    }
    return out;
}

/* Refuses removing snapshot `idx` of ds `dsname` (holds, clones outside
 * `keep_under`, which is being destroyed as well). */
int vs_snap_removable(vs_txn *t, const char *dsname, json_t *snap, const char *keep_under, const char *prefix,
                      vm_err *err)
{
    cleanup_free char *full = xasprintf("%s@%s", dsname, vs_jstr(snap, "name"));
    cleanup_free char *holds = holds_list(snap);
    if (holds)
        return vm_err_set(err, VMERR_BUSY, "%s: snapshot '%s' is held (tags: %s)", prefix, full, holds);
    cleanup_free char *clones = clones_of(t->dss, full, keep_under);
    if (clones)
        return vm_err_set(err, VMERR_BUSY, "%s: snapshot '%s' has dependent clones: %s", prefix, full, clones);
    return 0;
}

/* The merge a live destroy asks of the writer: snapshot idx's layer into
 * the data above it (vs_merge_fn). */
static json_t *merge_desc(vs_pool *pool, const char *dsname, json_t *ds, size_t idx)
{
    json_t *snaps = json_object_get(ds, "snaps");
    const char *above =
        idx + 1 < json_array_size(snaps) ? vs_jstr(json_array_get(snaps, idx + 1), "layer") : vs_jstr(ds, "file");
    const char *below = idx > 0 ? vs_jstr(json_array_get(snaps, idx - 1), "layer") : vs_jstr(ds, "origin_layer");
    cleanup_free char *lp = pool->drv->path(pool, vs_jstr(json_array_get(snaps, idx), "layer"), VS_VOLUME);
    cleanup_free char *ap = pool->drv->path(pool, above, VS_VOLUME);
    json_t *m = json_pack("{s:s, s:s, s:s}", "dataset", dsname, "layer", lp, "above", ap);
    if (below) {
        /* The dir driver's backing references are data names, resolved
         * next to the overlay (driver_dir.c create_qcow2). */
        cleanup_free char *bp = pool->drv->path(pool, below, VS_VOLUME);
        json_object_set_new(m, "below", json_string(bp));
        json_object_set_new(m, "backing", json_string(below));
    }
    return m;
}

static int destroy_snap(vs_txn *t, const char *name, vs_merge_fn merge, void *arg, vm_err *err)
{
    cleanup_free char *prefix = xasprintf("cannot destroy '%s'", name);
    json_t *ds;
    ssize_t idx;
    if (vs_lookup_snap(t, name, prefix, &ds, &idx, err) < 0)
        return -1;
    json_t *s = json_array_get(json_object_get(ds, "snaps"), (size_t)idx);
    cleanup_free char *holds = holds_list(s);
    if (holds)
        return vm_err_set(err, VMERR_BUSY, "%s: snapshot is held (tags: %s)", prefix, holds);
    cleanup_free char *clones = clones_of(t->dss, name, NULL);
    if (clones)
        return vm_err_set(err, VMERR_BUSY, "%s: snapshot has dependent clones: %s", prefix, clones);
    int dr;
    if (merge && vs_ds_type(ds) == VS_VOLUME) {
        const char *sn;
        cleanup_free char *dsname = vs_split_snap(name, &sn);
        cleanup_json json_t *m = merge_desc(t->pool, dsname, ds, (size_t)idx);
        dr = merge(arg, m, err);
    } else {
        dr = t->pool->drv->snap_detach(t->pool, ds, (size_t)idx, err);
    }
    if (dr < 0) {
        vm_err_prefix(err, "%s: ", prefix);
        return -1;
    }
    json_array_append_new(t->garbage, json_string(vs_jstr(s, "layer")));
    json_array_remove(json_object_get(ds, "snaps"), (size_t)idx);
    return vs_txn_commit(t, err);
}

int vs_destroy_snapshot(vs_txn *t, const char *name, vm_err *err)
{
    return destroy_snap(t, name, NULL, NULL, err);
}

int vs_destroy_live(vs_pool *pool, const char *snapname, vs_merge_fn merge, void *arg, vm_err *err)
{
    vs_txn t;
    if (!strchr(snapname, '@') || !vs_valid_name(snapname))
        return vm_err_set(err, VMERR_INVALID, "cannot destroy '%s': invalid snapshot name", snapname);
    if (vs_txn_begin(pool, &t, err) < 0)
        return -1;
    t.frees_space = true;
    int r = destroy_snap(&t, snapname, merge, arg, err);
    if (vs_txn_finish(&t, r == 0 ? err : NULL) < 0 && r == 0) {
        vm_err_prefix(err, "cannot destroy '%s': ", snapname);
        r = -1;
    }
    return r;
}

#define OMITTED_FMT "\n(%zu more not listed)"

/* zfs rollback without -r: refused while snapshots newer than `idx` exist,
 * naming them one per line.  A list too long for the message ends with the
 * count of the snapshots left out. */
static int newer_snaps_error(const char *snapname, const char *dsname, json_t *snaps, size_t idx, vm_err *err)
{
    size_t n = json_array_size(snaps);
    cleanup_free char *msg = xasprintf("cannot rollback to '%s': more recent snapshots or bookmarks exist\n"
                                       "use '-r' to force deletion of the following snapshots and bookmarks:",
                                       snapname);
    size_t len = strlen(msg), i;
    for (i = idx + 1; i < n; i++) {
        cleanup_free char *line = xasprintf("\n%s@%s", dsname, vs_jstr(json_array_get(snaps, i), "name"));
        /* the last line needs no room for the count */
        size_t room = i + 1 < n ? sizeof OMITTED_FMT + 20 : 0;
        if (len + strlen(line) + room >= VM_ERR_MSGLEN)
            break;
        char *m = xasprintf("%s%s", msg, line);
        free(msg);
        msg = m;
        len = strlen(msg);
    }
    if (i < n)
        return vm_err_set(err, VMERR_BUSY, "%s" OMITTED_FMT, msg, n - i);
    return vm_err_set(err, VMERR_BUSY, "%s", msg);
}

int vs_rollback(vs_pool *pool, const char *snapname, int flags, vm_err *err)
{
    cleanup_free char *prefix = xasprintf("cannot rollback to '%s'", snapname);
    const char *snap;
    cleanup_free char *dsname = vs_split_snap(snapname, &snap);
    json_t *ds;
    ssize_t idx;
    vs_txn t;
    int r = -1;

    if (vs_txn_begin(pool, &t, err) < 0)
        return -1;
    if (vs_lookup_snap(&t, snapname, prefix, &ds, &idx, err) < 0)
        goto out;
    json_t *snaps = json_object_get(ds, "snaps");
    if (!(flags & VS_RECURSIVE) && (size_t)idx + 1 < json_array_size(snaps)) {
        newer_snaps_error(snapname, dsname, snaps, (size_t)idx, err);
        goto out;
    }
    for (size_t i = (size_t)idx + 1; i < json_array_size(snaps); i++)
        if (vs_snap_removable(&t, dsname, json_array_get(snaps, i), NULL, prefix, err) < 0)
            goto out;
    json_t *s = json_array_get(snaps, (size_t)idx);
    if (pool->drv->rollback(pool, ds, s, err) < 0) {
        vm_err_prefix(err, "%s: ", prefix);
        goto out;
    }
    while (json_array_size(snaps) > (size_t)idx + 1) {
        json_array_append_new(t.garbage, json_string(vs_jstr(json_array_get(snaps, (size_t)idx + 1), "layer")));
        json_array_remove(snaps, (size_t)idx + 1);
    }
    if (vs_ds_type(ds) == VS_VOLUME) {
        json_object_set(json_object_get(ds, "props"), "volsize", json_object_get(s, "volsize"));
        json_array_append_new(t.finish, json_string(dsname));
    } else {
        /* A filesystem's data dir is replaced by the new copy. */
        json_array_append_new(t.garbage, json_string(vs_jstr(ds, "file")));
        json_object_set(ds, "file", json_object_get(ds, "pending"));
        json_object_del(ds, "pending");
    }
    r = vs_txn_commit(&t, err);
    if (r < 0 && vs_jstr(ds, "pending"))
        pool->drv->remove_data(pool, vs_jstr(ds, "pending"), NULL);
out:
    vs_txn_end(&t);
    return r;
}

int vs_rename_snapshot(vs_txn *t, const char *from, const char *to, vm_err *err)
{
    cleanup_free char *prefix = xasprintf("cannot rename to '%s'", to);
    const char *sa, *sb;
    cleanup_free char *da = vs_split_snap(from, &sa);
    cleanup_free char *db = vs_split_snap(to, &sb);
    json_t *ds, *v;
    ssize_t idx;
    const char *n;
    if (!sb || strcmp(da, db))
        return vm_err_set(err, VMERR_INVALID, "%s: snapshots must be part of same dataset", prefix);
    if (!vs_valid_name(to))
        return vm_err_set(err, VMERR_INVALID, "%s: invalid snapshot name", prefix);
    if (vs_lookup_snap(t, from, prefix, &ds, &idx, err) < 0)
        return -1;
    if (vs_find_snap(ds, sb) >= 0)
        return vm_err_set(err, VMERR_EXISTS, "%s: dataset already exists", prefix);
    json_object_set_new(json_array_get(json_object_get(ds, "snaps"), (size_t)idx), "name", json_string(sb));
    json_object_foreach(t->dss, n, v) {
        const char *o = vs_jstr(v, "origin");
        if (o && !strcmp(o, from))
            json_object_set_new(v, "origin", json_string(to));
    }
    return vs_txn_commit(t, err);
}

static int cmp_ext(const void *a, const void *b)
{
    const int64_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

int vs_changed_blocks(vs_pool *pool, const char *snap_a, const char *snap_b, json_t **extents, vm_err *err)
{
    vs_view v;
    json_t *ds, *sa, *dsb = NULL, *sb = NULL;
    cleanup_json json_t *raw = json_array();
    /* Declared before the first goto: cleanup variables must not be
     * jumped over. */
    cleanup_free char *dn = NULL;
    cleanup_free char *dn2 = NULL;
    int r = -1;
    if (vs_view_open(pool, &v, err) < 0)
        return -1;
    if (vs_view_find(&v, snap_a, &ds, &sa, err) < 0)
        goto out;
    if (!sa || vs_ds_type(ds) != VS_VOLUME) {
        vm_err_set(err, VMERR_INVALID, "'%s' is not a snapshot of a volume", snap_a);
        goto out;
    }
    if (snap_b && vs_view_find(&v, snap_b, &dsb, &sb, err) < 0)
        goto out;
    /* From the origin: every layer of the clone up to b. */
    bool from_origin = snap_b && sb && dsb != ds && vs_jstr(dsb, "origin") && !strcmp(vs_jstr(dsb, "origin"), snap_a);
    if (snap_b && (!sb || (dsb != ds && !from_origin))) {
        vm_err_set(err, VMERR_INVALID, "'%s' is not a snapshot of the same volume as '%s'", snap_b, snap_a);
        goto out;
    }
    const char *sn;
    dn = vs_split_snap(snap_a, &sn);
    ssize_t ia = vs_find_snap(ds, sn);
    if (from_origin) {
        ds = dsb;
        ia = -1;
    }
    json_t *snaps = json_object_get(ds, "snaps");
    ssize_t ib = (ssize_t)json_array_size(snaps);
    if (snap_b) {
        dn2 = vs_split_snap(snap_b, &sn);
        ib = vs_find_snap(ds, sn);
        if (ib < ia) {
            vm_err_set(err, VMERR_INVALID, "'%s' is older than '%s'", snap_b, snap_a);
            goto out;
        }
    }
    /* The layer of snapshot i holds what was written between snapshot i-1
     * and i; the active file what was written since the last one. */
    for (ssize_t i = ia + 1; i <= ib; i++) {
        const char *layer = i < (ssize_t)json_array_size(snaps) ? vs_jstr(json_array_get(snaps, (size_t)i), "layer")
                                                                : vs_jstr(ds, "file");
        if (pool->drv->layer_extents(pool, layer, raw, err) < 0)
            goto out;
    }
    size_t n = json_array_size(raw), m = 0;
    int64_t *e = xcalloc(n + 1, 2 * sizeof *e);
    for (size_t i = 0; i < n; i++) {
        e[2 * i] = json_integer_value(json_array_get(json_array_get(raw, i), 0));
        e[2 * i + 1] = json_integer_value(json_array_get(json_array_get(raw, i), 1));
    }
    qsort(e, n, 2 * sizeof *e, cmp_ext);
    *extents = json_array();
    for (size_t i = 0; i < n; i++) {
        if (m && e[2 * (m - 1)] + e[2 * (m - 1) + 1] >= e[2 * i]) {
            int64_t end = e[2 * i] + e[2 * i + 1];
            if (end > e[2 * (m - 1)] + e[2 * (m - 1) + 1])
                e[2 * (m - 1) + 1] = end - e[2 * (m - 1)];
        } else {
            e[2 * m] = e[2 * i];
            e[2 * m + 1] = e[2 * i + 1];
            m++;
        }
    }
    for (size_t i = 0; i < m; i++)
        json_array_append_new(
            *extents, json_pack("{s:I, s:I}", "offset", (json_int_t)e[2 * i], "length", (json_int_t)e[2 * i + 1]));
    free(e);
    r = 0;
out:
    vs_view_close(&v);
    return r;
}
