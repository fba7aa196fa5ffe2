/* Space accounting against the pool's capacity (README "Space
 * accounting"): the model itself is pure (meta.c vs_acct_compute); this file
 * feeds it the driver's written bytes, checks changes before they are made
 * (out of space, quotas) and answers vs_pool_space and the used/available
 * properties. */
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "storage/storage_internal.h"

/* qcow2 metadata for a fully written volume: header + refcount table, an L2
 * entry (8 B) and a refcount entry (2 B) per 64 KiB cluster.  "auto"
 * refreservation adds it, as ZFS adds its own metadata overhead. */
static uint64_t qcow2_overhead(uint64_t volsize)
{
    uint64_t clusters = (volsize + 65535) / 65536;
    return 3 * 65536 + clusters * 10;
}

uint64_t vs_ds_refres_eff(json_t *ds)
{
    json_t *v = json_object_get(json_object_get(ds, "props"), "refreservation");
    if (json_is_string(v))
        return vs_ds_refres(ds) + qcow2_overhead(vs_ds_prop_u64(ds, "volsize"));
    return vs_ds_refres(ds);
}

typedef struct wctx {
    vs_pool *pool;
    bool exact; /* also measure filesystems (du) */
} wctx;

static uint64_t written_cb(void *opaque, const char *name, json_t *obj)
{
    wctx *w = opaque;
    bool snap = strchr(name, '@') != NULL;
    const char *dn = snap ? vs_jstr(obj, "layer") : vs_jstr(obj, "file");
    int type;
    if (snap) {
        type = json_object_get(obj, "volsize") ? VS_VOLUME : VS_FILESYSTEM;
    } else {
        type = vs_ds_type(obj);
    }
    if (!dn || (type == VS_FILESYSTEM && !w->exact))
        return 0;
    return w->pool->drv->written(w->pool, dn, type);
}

static uint64_t refres_cb(json_t *ds, bool quota)
{
    uint64_t r = vs_ds_refres_eff(ds);
    if (quota && vs_ds_type(ds) == VS_VOLUME) {
        /* a quota counts a volume's full size even if thin */
        uint64_t v = vs_ds_prop_u64(ds, "volsize");
        return v > r ? v : r;
    }
    return r;
}

static void acct_run(vs_pool *pool, json_t *dss, bool exact, vs_acct *a)
{
    wctx w = { pool, exact };
    vs_acct_compute(dss, written_cb, &w, refres_cb, a);
}

/* Quota charge: like inner() but a volume counts at least its volsize. */
void vs_quota_inner(vs_pool *pool, json_t *dss, json_t **out)
{
    vs_acct a;
    acct_run(pool, dss, false, &a);
    *out = json_incref(a.qinner);
    vs_acct_free(&a);
}

void vs_space_snap(vs_pool *pool, json_t *dss, vs_space_before *sb)
{
    vs_acct a;
    acct_run(pool, dss, false, &a);
    sb->unconsumed = a.unconsumed;
    sb->qinner = json_incref(a.qinner);
    vs_acct_free(&a);
}

/* Refuses a change (already applied to `dss` in memory, data not yet
 * written) that would promise more than the pool has or exceed a quota.
 * `what` names the cause ("refreservation 10G"), `prefix` the operation. */
int vs_space_check(vs_pool *pool, json_t *dss, vs_space_before *sb, const char *prefix, const char *what, vm_err *err)
{
    vs_acct a;
    cleanup_json json_t *qafter = NULL;
    uint64_t size, used, free_;
    int r = 0;

    acct_run(pool, dss, false, &a);
    qafter = json_incref(a.qinner);
    if (pool->drv->space(pool, &size, &used, &free_, err) < 0) {
        r = -1;
        goto out;
    }
    if (a.unconsumed > sb->unconsumed && a.unconsumed > free_) {
        char s1[16], s2[16], s3[16], s4[16], s5[16];
        uint64_t avail = free_ > sb->unconsumed ? free_ - sb->unconsumed : 0;
        vs_format_size(a.unconsumed - sb->unconsumed, s1);
        vs_format_size(avail, s2);
        vs_format_size(size, s3);
        vs_format_size(free_, s4);
        vs_format_size(sb->unconsumed, s5);
        r = vm_err_set(err, VMERR_NOSPACE,
                       "%s: out of space: %s needs %s but only %s is available "
                       "(pool size %s, free %s, reserved %s)",
                       prefix, what, s1, s2, s3, s4, s5);
        goto out;
    }
    const char *n;
    json_t *ds;
    json_object_foreach(dss, n, ds) {
        uint64_t q = vs_ds_prop_u64(ds, "quota");
        if (!q)
            continue;
        uint64_t after = (uint64_t)json_integer_value(json_object_get(qafter, n));
        uint64_t before = (uint64_t)json_integer_value(json_object_get(sb->qinner, n));
        if (after > q && after > before) {
            char s1[16], s2[16], s3[16];
            vs_format_size(q, s1);
            vs_format_size(after, s2);
            vs_format_size(before < q ? q - before : 0, s3);
            r = vm_err_set(err, VMERR_NOSPACE,
                           "%s: size is greater than available space "
                           "(%s: quota of '%s' is %s, would use %s, %s available)",
                           prefix, what, n, s1, s2, s3);
            goto out;
        }
    }
out:
    vs_acct_free(&a);
    return r;
}

void vs_space_free(vs_space_before *sb)
{
    json_decref(sb->qinner);
    sb->qinner = NULL;
}

/* Accounting of the current metadata for readers (cached briefly). */
static int acct_cached(vs_pool *pool, json_t **qinner, vm_err *err)
{
    cleanup_json json_t *m = NULL;
    if (vs_meta_read(pool, &m, err) < 0)
        return -1;
    if (pool->acct_for != m || now_ms() - pool->acct_ms > 1000) {
        vs_acct a;
        json_decref(pool->acct_for);
        json_decref(pool->acct_qinner);
        acct_run(pool, json_object_get(m, "datasets"), false, &a);
        pool->acct_unconsumed = a.unconsumed;
        pool->acct_promised = a.promised;
        pool->acct_qinner = json_incref(a.qinner);
        vs_acct_free(&a);
        pool->acct_for = json_incref(m);
        pool->acct_ms = now_ms();
    }
    if (qinner)
        *qinner = pool->acct_qinner;
    return 0;
}

int vs_pool_space(vs_pool *pool, vs_space *out, vm_err *err)
{
    if (pool->drv->space(pool, &out->size, &out->used, &out->free, err) < 0)
        return -1;
    if (acct_cached(pool, NULL, err) < 0)
        return -1;
    out->reserved = pool->acct_promised;
    out->available = out->free > pool->acct_unconsumed ? out->free - pool->acct_unconsumed : 0;
    return 0;
}

const char *vs_space_what(json_t *props, char buf[96])
{
    json_t *r = json_object_get(props, "refreservation");
    json_t *v = json_object_get(props, "reservation");
    char s[16];
    if (json_is_integer(v) && json_integer_value(v) > 0) {
        vs_format_size((uint64_t)json_integer_value(v), s);
        snprintf(buf, 96, "reservation %s", s);
    } else if (json_is_string(r)) {
        vs_format_size((uint64_t)json_integer_value(json_object_get(props, "volsize")), s);
        snprintf(buf, 96, "refreservation auto (volsize %s)", s);
    } else if (json_is_integer(r) && json_integer_value(r) > 0) {
        vs_format_size((uint64_t)json_integer_value(r), s);
        snprintf(buf, 96, "refreservation %s", s);
    } else {
        snprintf(buf, 96, "volume size");
    }
    return buf;
}

/* ------------------------------------------------------------------ */
/* what vs_get reports                                                */

void vs_usage(vs_pool *pool, json_t *dss, const char *name, json_t *ds, json_t *snap, uint64_t *used,
              uint64_t *referenced, uint64_t *usedbysnaps)
{
    wctx w = { pool, true };
    uint64_t own = 0, snaps = 0;
    if (snap) {
        own = written_cb(&w, name, snap);
        *used = own;
    } else {
        /* used: the subtree only (an exact walk of the pool would du
         * every container root). */
        cleanup_json json_t *sub = json_object();
        const char *n;
        json_t *d, *s;
        size_t i;
        json_object_foreach(dss, n, d)
            if (vs_name_under(n, name))
                json_object_set(sub, n, d);
        vs_acct a;
        vs_acct_compute(sub, written_cb, &w, refres_cb, &a);
        *used = (uint64_t)json_integer_value(json_object_get(a.inner, name));
        vs_acct_free(&a);
        own = written_cb(&w, name, ds);
        json_array_foreach(json_object_get(ds, "snaps"), i, s) {
            cleanup_free char *full = xasprintf("%s@%s", name, vs_jstr(s, "name"));
            snaps += written_cb(&w, full, s);
        }
        own += snaps;
    }
    *referenced = own;
    /* A layered filesystem also references the layers it shares with its
     * origin (zfs counts a clone's shared blocks in referenced). */
    const char *dn = vs_jstr(snap ? snap : ds, snap ? "layer" : "file");
    if (pool->drv->shared && dn)
        *referenced += pool->drv->shared(
            pool, dn, snap ? (json_object_get(snap, "volsize") ? VS_VOLUME : VS_FILESYSTEM) : vs_ds_type(ds));
    *usedbysnaps = snaps;
}

int vs_available(vs_pool *pool, json_t *dss, const char *dsname, uint64_t *avail, vm_err *err)
{
    vs_space sp;
    if (vs_pool_space(pool, &sp, err) < 0)
        return -1;
    *avail = sp.available;
    json_t *qi = NULL;
    cleanup_free char *cur = xstrdup(dsname);
    while (cur) {
        json_t *d = json_object_get(dss, cur);
        uint64_t q = vs_ds_prop_u64(d, "quota");
        if (q) {
            if (!qi && acct_cached(pool, &qi, err) < 0)
                return -1;
            uint64_t in = (uint64_t)json_integer_value(json_object_get(qi, cur));
            uint64_t left = q > in ? q - in : 0;
            if (left < *avail)
                *avail = left;
        }
        char *p = vs_parent_name(cur);
        free(cur);
        cur = p;
    }
    return 0;
}
