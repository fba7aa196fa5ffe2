/* Space accounting for HVM VMs (RFD 154; reference D10–D12):
 *   refquota    = quota GiB (the VM dataset's own files)
 *   quota = reservation = quota GiB + flexible_disk_size + Σ refreservation − Σ volsize
 *   (without flexible_disk_size the disks fill it exactly: no slack)
 * Checked before anything is written; the error names the numbers. */
#include <string.h>

#include "common/units.h"
#include "common/util.h"
#include "vm/disks.h"
#include "vm/props.h"
#include "vm/vm_internal.h"

static void fmt_mib(int64_t bytes, char buf[32])
{
    snprintf(buf, 32, "%lld MiB", (long long)(bytes / VM_MiB));
}

int64_t vm_space_reservation(json_t *cfg, int64_t sum_volsize, int64_t sum_refres)
{
    int64_t quota = json_integer_value(json_object_get(cfg, "quota"));
    json_t *fds = json_object_get(cfg, "flexible_disk_size");
    if (quota < 1)
        quota = 1;
    int64_t qb, fb, r;
    /* Absurd figures saturate and fail the space check with their numbers,
     * instead of wrapping around. */
    if (!i64_mul(quota, VM_GiB, &qb))
        return INT64_MAX;
    if (json_is_integer(fds)) {
        if (!mib_to_bytes(json_integer_value(fds), &fb) || !i64_add(qb, fb, &r) ||
            !i64_add(r, sum_refres - sum_volsize, &r))
            return INT64_MAX;
        return r;
    }
    return i64_add(qb, sum_refres, &r) ? r : INT64_MAX;
}

int vm_space_check_create(const vm_ctx *ctx, vs_pool *pool, json_t *cfg, json_t *plan, vm_err *err)
{
    (void)ctx;
    int64_t sum_vol = 0, sum_res = 0;
    size_t i;
    json_t *pe;
    const char *brand = json_string_value(json_object_get(cfg, "brand"));

    json_array_foreach(plan, i, pe) {
        if (!json_is_string(json_object_get(pe, "dataset")))
            continue;
        int64_t vs = json_integer_value(json_object_get(pe, "volsize"));
        json_t *rr = json_object_get(json_object_get(pe, "props"), "refreservation");
        sum_vol += vs;
        sum_res += json_is_integer(rr) ? json_integer_value(rr) : vs;
    }
    json_t *fds = json_object_get(cfg, "flexible_disk_size");
    if (json_is_integer(fds) && json_integer_value(fds) < INT64_MAX / VM_MiB &&
        sum_vol > json_integer_value(fds) * VM_MiB) {
        char a[32];
        fmt_mib(sum_vol, a);
        return vm_err_set(err, VMERR_NOSPACE,
                          "flexible_disk_size (%lld MiB) is smaller than the total size of the disks (%s)",
                          (long long)json_integer_value(fds), a);
    }
    vs_space sp;
    if (vs_pool_space(pool, &sp, err) < 0)
        return -1;
    int64_t need = vm_brand_is_hvm(brand) ? vm_space_reservation(cfg, sum_vol, sum_res) : 0;
    if (need > 0 && (uint64_t)need > sp.available) {
        char a[32], b[32];
        if (need == INT64_MAX)
            snprintf(a, sizeof a, "more than 8 EiB");
        else
            fmt_mib(need, a);
        fmt_mib((int64_t)sp.available, b);
        return vm_err_set(
            err, VMERR_NOSPACE,
            "not enough space in zpool \"%s\": the VM needs %s (quota, disks and flexible_disk_size), %s available",
            vs_pool_name(pool), a, b);
    }
    return 0;
}

int vm_space_apply(const vm_ctx *ctx, vs_pool *pool, json_t *cfg, vm_err *err)
{
    (void)ctx;
    const char *brand = json_string_value(json_object_get(cfg, "brand"));
    const char *uuid = json_string_value(json_object_get(cfg, "uuid"));
    cleanup_free char *ds = xasprintf("%s/%s", vs_pool_name(pool), uuid);
    char buf[32];

    if (!vm_brand_is_hvm(brand)) {
        int64_t q = json_integer_value(json_object_get(cfg, "quota"));
        snprintf(buf, sizeof buf, "%lld", (long long)(q * VM_GiB));
        return vs_set(pool, ds, "quota", q > 0 ? buf : "none", err);
    }
    int64_t sum_vol = 0, sum_res = 0;
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(cfg, "disks"), i, d) {
        const char *name = vm_disk_dataset(d);
        int64_t vs = 0, rr = 0;
        vm_err e2 = VM_ERR_INIT;
        if (!name || vs_get_int(pool, name, "volsize", &vs, &e2) < 0)
            continue;
        if (vs_get_int(pool, name, "refreservation", &rr, &e2) < 0)
            rr = vs;
        sum_vol += vs;
        sum_res += rr;
    }
    int64_t quota = json_integer_value(json_object_get(cfg, "quota"));
    if (quota < 1)
        quota = 1;
    int64_t res = vm_space_reservation(cfg, sum_vol, sum_res);
    snprintf(buf, sizeof buf, "%lld", (long long)(quota * VM_GiB));
    if (vs_set(pool, ds, "refquota", buf, err) < 0)
        return -1;
    snprintf(buf, sizeof buf, "%lld", (long long)res);
    /* Reservation before quota when growing and after when shrinking is
     * unnecessary here: both are set to the same value, and the pool
     * check was done up front. */
    if (vs_set(pool, ds, "quota", buf, err) < 0 || vs_set(pool, ds, "reservation", buf, err) < 0)
        return -1;
    return 0;
}

int vm_set_indestructible(vs_pool *pool, const char *ds, bool on, vm_err *err)
{
    cleanup_free char *snap = xasprintf("%s@indestructible", ds);
    if (on) {
        if (!vs_exists(pool, snap) && vs_snapshot(pool, snap, 0, err) < 0)
            return -1;
        cleanup_json json_t *tags = NULL;
        if (vs_holds(pool, snap, &tags, err) < 0)
            return -1;
        if (json_array_size(tags) == 0 && vs_hold(pool, "do_not_destroy", snap, err) < 0)
            return -1;
        return 0;
    }
    if (!vs_exists(pool, snap))
        return 0;
    cleanup_json json_t *tags = NULL;
    if (vs_holds(pool, snap, &tags, err) < 0)
        return -1;
    size_t i;
    json_t *t;
    json_array_foreach(tags, i, t)
        if (vs_release(pool, json_string_value(t), snap, err) < 0)
            return -1;
    return vs_destroy(pool, snap, 0, err);
}

bool vm_is_indestructible(vs_pool *pool, const char *ds)
{
    cleanup_free char *snap = xasprintf("%s@indestructible", ds);
    cleanup_json json_t *tags = NULL;
    vm_err e = VM_ERR_INIT;
    return vs_exists(pool, snap) && vs_holds(pool, snap, &tags, &e) == 0 && json_array_size(tags) > 0;
}
