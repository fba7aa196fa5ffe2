/* vs_clone: a new dataset whose data starts as a snapshot and whose
 * `origin` names it.  Volume clones are a new qcow2 overlay (cheap, under
 * the lock); filesystem clones copy the tree without the lock. */
#include <string.h>

#include "common/util.h"
#include "storage/storage_internal.h"

/* A filesystem clone is a copy of the snapshot's tree (seconds for a big
 * container root): validated under the lock by the caller, copied with the
 * lock released so other datasets' changes go on, then committed in a new
 * transaction that checks everything again.  A snapshot's data is removed
 * only after it has left the metadata, so finding the same snapshot (same
 * layer) at the commit proves the copy read it whole.  On return the
 * caller's transaction is open again (it ends it). */
static int clone_fs_unlocked(vs_pool *pool, vs_txn *t, vs_space_before *sb, const char *snapname, json_t *snap,
                             const char *newname, json_t *nds, const char *prefix, vm_err *err)
{
    cleanup_json json_t *frozen = json_deep_copy(snap);
    json_t *ods;
    ssize_t idx;

    json_object_del(t->dss, newname);
    vs_space_free(sb);
    vs_txn_end(t);
    vs_tx_mark(pool); /* a crash mid-copy: the next opener collects the copy */
    int r = pool->drv->clone(pool, frozen, nds, 0, err);
    vm_err e2 = VM_ERR_INIT;
    if (vs_txn_begin(pool, t, r < 0 ? &e2 : err) < 0) {
        /* Without the lock nothing can be committed: drop the copy.  (The
         * caller's vs_txn_end on a failed vs_txn_begin only clears it.) */
        vs_discard_data(pool, nds);
        vs_tx_unmark(pool);
        return -1;
    }
    /* The origin gone meanwhile explains a failed copy too: say that. */
    if (vs_lookup_snap(t, snapname, prefix, &ods, &idx, &e2) < 0 ||
        !json_equal(json_object_get(json_array_get(json_object_get(ods, "snaps"), (size_t)idx), "layer"),
                    json_object_get(frozen, "layer"))) {
        vm_err_set(err, VMERR_NOTFOUND, "cannot open '%s': dataset does not exist", snapname);
        goto fail;
    }
    if (r < 0) {
        vm_err_prefix(err, "%s: ", prefix);
        return -1;
    }
    if (vs_check_new_name(t, newname, prefix, err) < 0)
        goto fail;
    vs_space_snap(pool, t->dss, sb);
    json_object_set(t->dss, newname, nds);
    char what[96];
    if (vs_space_check(pool, t->dss, sb, prefix, vs_space_what(json_object_get(nds, "props"), what), err) < 0 ||
        vs_txn_commit(t, err) < 0)
        goto fail;
    return 0;
fail:
    vs_discard_data(pool, nds);
    return -1;
}

int vs_clone(vs_pool *pool, const char *snapname, const char *newname, json_t *props, vm_err *err)
{
    cleanup_free char *prefix = xasprintf("cannot create '%s'", newname);
    cleanup_json json_t *parsed = NULL, *nds = NULL;
    vs_space_before sb = { 0, NULL };
    json_t *ods;
    ssize_t idx;
    vs_txn t;
    int r = -1;

    if (!vs_valid_name(newname) || strchr(newname, '@'))
        return vm_err_set(err, VMERR_INVALID, "%s: invalid dataset name", prefix);
    if (vs_txn_begin(pool, &t, err) < 0)
        return -1;
    if (vs_lookup_snap(&t, snapname, prefix, &ods, &idx, err) < 0)
        goto out;
    int type = vs_ds_type(ods);
    json_t *snap = json_array_get(json_object_get(ods, "snaps"), (size_t)idx);
    if (vs_parse_props(type, props, true, &parsed, err) < 0) {
        vm_err_prefix(err, "%s: ", prefix);
        goto out;
    }
    if (vs_check_new_name(&t, newname, prefix, err) < 0)
        goto out;
    uint64_t volsize = 0;
    if (type == VS_VOLUME) {
        uint64_t base = (uint64_t)json_integer_value(json_object_get(snap, "volsize"));
        json_t *vs = json_object_get(parsed, "volsize");
        volsize = json_is_integer(vs) ? (uint64_t)json_integer_value(vs) : base;
        if (!json_object_get(parsed, "volblocksize") && json_object_get(json_object_get(ods, "props"), "volblocksize"))
            json_object_set(parsed, "volblocksize", json_object_get(json_object_get(ods, "props"), "volblocksize"));
        if (volsize < base) {
            char a[16], b[16];
            vs_format_size(volsize, a);
            vs_format_size(base, b);
            vm_err_set(err, VMERR_INVALID, "%s: volume size %s is smaller than the origin's %s", prefix, a, b);
            goto out;
        }
        json_object_set_new(parsed, "volsize", json_integer((json_int_t)volsize));
        if (vs_check_volsize(parsed, volsize, prefix, err) < 0)
            goto out;
    } else if (json_object_get(parsed, "volsize")) {
        vm_err_set(err, VMERR_INVALID, "%s: 'volsize' does not apply to datasets of this type", prefix);
        goto out;
    }
    vs_space_snap(pool, t.dss, &sb);
    nds = vs_new_ds(type);
    json_object_update(json_object_get(nds, "props"), parsed);
    json_object_set_new(nds, "origin", json_string(snapname));
    json_object_set(nds, "origin_layer", json_object_get(snap, "layer"));
    json_object_set(t.dss, newname, nds);
    char what[96];
    if (vs_space_check(pool, t.dss, &sb, prefix, vs_space_what(parsed, what), err) < 0)
        goto out;
    if (type == VS_FILESYSTEM) {
        r = clone_fs_unlocked(pool, &t, &sb, snapname, snap, newname, nds, prefix, err);
        goto out;
    }
    if (pool->drv->clone(pool, snap, nds, volsize, err) < 0) {
        vm_err_prefix(err, "%s: ", prefix);
        goto out;
    }
    r = vs_txn_commit(&t, err);
    if (r < 0)
        vs_discard_data(pool, nds);
out:
    vs_space_free(&sb);
    vs_txn_end(&t);
    return r;
}
