/* Holds (zfs hold/release/holds): tags on a snapshot that stop it from
 * being destroyed (vs_snap_removable in snapshot.c checks them). */
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "storage/storage_internal.h"

/* hold (add) and release (!add) share the lookup and the commit. */
static int change_hold(vs_pool *pool, const char *tag, const char *snapname, bool add, vm_err *err)
{
    cleanup_free char *prefix = add ? xasprintf("cannot hold snapshot '%s'", snapname)
                                    : xasprintf("cannot release hold from snapshot '%s'", snapname);
    json_t *ds;
    ssize_t idx;
    vs_txn t;
    int r = -1;
    if (add && (!tag || !*tag || strlen(tag) > 255))
        return vm_err_set(err, VMERR_INVALID, "%s: invalid tag", prefix);
    if (vs_txn_begin(pool, &t, err) < 0)
        return -1;
    if (vs_lookup_snap(&t, snapname, prefix, &ds, &idx, err) < 0)
        goto out;
    json_t *holds = json_object_get(json_array_get(json_object_get(ds, "snaps"), (size_t)idx), "holds");
    bool has = tag && json_object_get(holds, tag);
    if (add && has) {
        vm_err_set(err, VMERR_EXISTS, "%s: tag already exists on this dataset", prefix);
        goto out;
    }
    if (!add && !has) {
        vm_err_set(err, VMERR_NOTFOUND, "%s: no such tag on this dataset", prefix);
        goto out;
    }
    if (add)
        json_object_set_new(holds, tag, json_integer((json_int_t)time(NULL)));
    else
        json_object_del(holds, tag);
    r = vs_txn_commit(&t, err);
out:
    vs_txn_end(&t);
    return r;
}

int vs_hold(vs_pool *pool, const char *tag, const char *snapname, vm_err *err)
{
    return change_hold(pool, tag, snapname, true, err);
}

int vs_release(vs_pool *pool, const char *tag, const char *snapname, vm_err *err)
{
    return change_hold(pool, tag, snapname, false, err);
}

int vs_holds_detail(vs_pool *pool, const char *snapname, json_t **holds, vm_err *err)
{
    vs_view v;
    json_t *ds, *s;
    if (vs_view_open(pool, &v, err) < 0)
        return -1;
    if (vs_view_find(&v, snapname, &ds, &s, err) < 0 || !s) {
        if (!vm_err_is_set(err))
            vm_err_set(err, VMERR_INVALID, "cannot open '%s': operation only applies to snapshots", snapname);
        vs_view_close(&v);
        return -1;
    }
    *holds = json_deep_copy(json_object_get(s, "holds"));
    vs_view_close(&v);
    return 0;
}

int vs_holds(vs_pool *pool, const char *snapname, json_t **tags, vm_err *err)
{
    cleanup_json json_t *h = NULL;
    const char *k;
    json_t *val;
    if (vs_holds_detail(pool, snapname, &h, err) < 0)
        return -1;
    *tags = json_array();
    json_object_foreach(h, k, val)
        json_array_append_new(*tags, json_string(k));
    return 0;
}
