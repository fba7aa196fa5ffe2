/* vmadm update: add_disks, update_disks, remove_disks (RFD 154, D20–D30)
 * and the flexible_disk_size check.  Removal goes first, so a freed index
 * and PCI slot can be reused by an addition in the same update. */
#include <string.h>

#include "common/units.h"
#include "common/util.h"
#include "vm/disks.h"
#include "vm/props.h"
#include "vm/update_internal.h"

void vm_disk_change_init(disk_change *dc)
{
    *dc = (disk_change){ json_array(), json_array(), json_array(), json_array(), false };
}

void vm_disk_change_free(disk_change *dc)
{
    json_decref(dc->ops);
    json_decref(dc->undo);
    json_decref(dc->post);
    json_decref(dc->online);
}

static int64_t obj_disk_size(json_t *objdisks, const char *path)
{
    size_t i;
    json_t *d;
    json_array_foreach(objdisks, i, d)
        if (!strcmp(json_string_value(json_object_get(d, "path")) ?: "", path))
            return json_integer_value(json_object_get(d, "size")) * VM_MiB;
    return -1;
}

static json_t *find_disk(json_t *disks, const char *path, size_t *idx)
{
    size_t i;
    json_t *d;
    json_array_foreach(disks, i, d)
        if (!strcmp(json_string_value(json_object_get(d, "path")) ?: "", path)) {
            if (idx)
                *idx = i;
            return d;
        }
    return NULL;
}

/* An op and its inverse. */
static void plan(disk_change *dc, json_t *op, json_t *undo)
{
    json_array_append_new(dc->ops, op);
    json_array_append_new(dc->undo, undo);
}

typedef struct disk_ctx {
    json_t *payload, *cfg, *disks, *objdisks;
    const char *state, *zstate;
    bool stopped;
} disk_ctx;

static int not_stopped(const disk_ctx *c, vm_err *err)
{
    return vm_err_set(
        err, VMERR_STATE,
        "at least one specified update to disks is only allowed when state is \"stopped\", currently: %s (%s)",
        c->state, c->zstate);
}

static int plan_remove(disk_ctx *c, const char *path, disk_change *dc, vm_err *err)
{
    size_t idx;
    json_t *d = find_disk(c->disks, path, &idx);
    if (!d)
        return vm_err_set(err, VMERR_INVALID, "remove_disks: no disk with path \"%s\"", path);
    if (json_is_true(json_object_get(d, "boot")) &&
        !json_is_true(json_object_get(c->payload, "dangerous_allow_remove_boot")))
        return vm_err_set(err, VMERR_INVALID,
                          "refusing to remove boot disk \"%s\" without \"dangerous_allow_remove_boot\": true", path);
    const char *ds = vm_disk_dataset(d);
    if (ds) {
        /* Moved aside first (undoable), destroyed after the commit: the
         * freed name can then be reused by add_disks in this update. */
        char tok[37];
        uuid_new(tok);
        cleanup_free char *aside = xasprintf("%s-removed-%.8s", ds, tok);
        char *slash = strrchr(aside, '/');
        /* <pool>/<uuid>/diskN-removed-x → <pool>/<uuid>-diskN-removed-x */
        if (slash)
            *slash = '-';
        plan(dc, json_pack("{s:s,s:s,s:s}", "op", "rename", "name", ds, "to", aside),
             json_pack("{s:s,s:s,s:s}", "op", "rename", "name", aside, "to", ds));
        json_array_append_new(dc->post, json_pack("{s:s,s:s}", "op", "destroy", "name", aside));
    }
    json_array_remove(c->disks, idx);
    dc->touched = true;
    return 0;
}

/* size: grows online (the runtime is told) or offline (volsize), shrinks
 * only when stopped and asked for. */
static int plan_resize(disk_ctx *c, json_t *d, json_t *v, const char *path, disk_change *dc, vm_err *err)
{
    const char *ds = vm_disk_dataset(d);
    int64_t cur = obj_disk_size(c->objdisks, path), want;
    if (!ds || cur < 0)
        return vm_err_set(err, VMERR_INVALID, "failed to identify device to resize");
    if (!mib_to_bytes(json_integer_value(json_object_get(v, "size")), &want))
        return vm_err_set(err, VMERR_INVALID, "invalid disk size");
    if (want < cur && !json_is_true(json_object_get(v, "dangerous_allow_shrink")))
        return vm_err_set(
            err, VMERR_INVALID,
            "first of 1 error: cannot resize disk: new size must be greater than current size. (%lld > %lld)",
            (long long)(cur / VM_MiB), (long long)(want / VM_MiB));
    if (want < cur && !c->stopped)
        return not_stopped(c, err);
    if (want == cur)
        return 0;
    dc->touched = true;
    if (c->stopped) {
        plan(dc, json_pack("{s:s,s:s,s:I}", "op", "resize", "name", ds, "volsize", (json_int_t)want),
             json_pack("{s:s,s:s,s:I}", "op", "resize", "name", ds, "volsize", (json_int_t)cur));
    } else {
        char id[32];
        snprintf(id, sizeof id, "disk%d", vm_disk_index(d));
        json_array_append_new(dc->online, json_pack("{s:s,s:I,s:s}", "id", id, "bytes", (json_int_t)want, "name", ds));
    }
    return 0;
}

/* compression and refreservation: dataset properties, set with undo. */
static int plan_props(disk_ctx *c, json_t *d, json_t *v, const char *path, disk_change *dc, vm_err *err)
{
    const char *ds = vm_disk_dataset(d);
    json_t *od = find_disk(c->objdisks, path, NULL);
    const char *comp = json_string_value(json_object_get(v, "compression"));
    if (comp && ds) {
        if (!vm_compression_known(comp))
            return vm_err_set(
                err, VMERR_INVALID,
                "invalid compression type for disk, must be one of: on, off, gzip, gzip-1, gzip-2, gzip-3, gzip-4, gzip-5, gzip-6, gzip-7, gzip-8, gzip-9, lz4, lzjb, zle");
        const char *old = json_string_value(json_object_get(od, "compression"));
        plan(
            dc, json_pack("{s:s,s:s,s:s,s:s}", "op", "set", "name", ds, "prop", "compression", "value", comp),
            json_pack("{s:s,s:s,s:s,s:s}", "op", "set", "name", ds, "prop", "compression", "value", old ? old : "off"));
    }
    json_t *rr = json_object_get(v, "refreservation");
    if (json_is_integer(rr) && ds) {
        int64_t nb, ob;
        if (!mib_to_bytes(json_integer_value(rr), &nb) ||
            !mib_to_bytes(json_integer_value(json_object_get(od, "refreservation")), &ob))
            return vm_err_set(err, VMERR_INVALID, "invalid refreservation");
        char buf[32], obuf[32];
        snprintf(buf, sizeof buf, "%lld", (long long)nb);
        snprintf(obuf, sizeof obuf, "%lld", (long long)ob);
        plan(dc, json_pack("{s:s,s:s,s:s,s:s}", "op", "set", "name", ds, "prop", "refreservation", "value", buf),
             json_pack("{s:s,s:s,s:s,s:s}", "op", "set", "name", ds, "prop", "refreservation", "value", obuf));
        dc->touched = true;
    }
    return 0;
}

static int plan_update(disk_ctx *c, json_t *v, disk_change *dc, vm_err *err)
{
    const char *path = json_string_value(json_object_get(v, "path"));
    json_t *d = path ? find_disk(c->disks, path, NULL) : NULL;
    if (!d)
        return vm_err_set(err, VMERR_INVALID, "update_disks: no disk with path \"%s\"", path ? path : "");
    const char *k;
    json_t *x;
    json_object_foreach(v, k, x) {
        bool online_ok = !strcmp(k, "path") || !strcmp(k, "compression") || !strcmp(k, "refreservation") ||
            !strcmp(k, "size") || !strcmp(k, "dangerous_allow_shrink");
        if (!c->stopped && !online_ok)
            return not_stopped(c, err);
    }
    if (json_is_integer(json_object_get(v, "size")) && plan_resize(c, d, v, path, dc, err) < 0)
        return -1;
    if (plan_props(c, d, v, path, dc, err) < 0)
        return -1;
    /* Device properties updatable in place (§3.1). */
    static const char *const devprops[] = { "boot", "model", "notrim", "pci_slot", "uuid", "guest_block_size", NULL };
    for (size_t n = 0; devprops[n]; n++) {
        json_t *x2 = json_object_get(v, devprops[n]);
        if (!x2)
            continue;
        if (!strcmp(devprops[n], "model") && !vm_disk_model_known(json_string_value(x2)))
            return vm_err_set(err, VMERR_INVALID,
                              "\"%s\" is not a valid disk model for %s brand. Valid are: virtio,ahci,nvme",
                              json_string_value(x2) ?: "", json_string_value(json_object_get(c->cfg, "brand")));
        json_object_set(d, devprops[n], x2);
    }
    return 0;
}

static int plan_add(const vm_ctx *ctx, disk_ctx *c, json_t *add, disk_change *dc, vm_err *err)
{
    cleanup_json json_t *planned = NULL;
    if (vm_disks_plan_add(ctx, c->cfg, add, &planned, err) < 0)
        return -1;
    size_t i;
    json_t *pe;
    json_array_foreach(planned, i, pe) {
        json_array_append(c->disks, json_object_get(pe, "disk"));
        const char *name = json_string_value(json_object_get(pe, "dataset"));
        if (!name)
            continue;
        const char *origin = json_string_value(json_object_get(pe, "origin"));
        json_t *props = json_dup(json_object_get(pe, "props"));
        json_int_t volsize = json_integer_value(json_object_get(pe, "volsize"));
        json_t *op;
        if (origin) {
            json_object_set_new(props, "volsize", json_integer(volsize));
            op = json_pack("{s:s,s:s,s:s,s:o}", "op", "clone", "origin", origin, "name", name, "props", props);
        } else {
            op = json_pack("{s:s,s:s,s:I,s:o}", "op", "create_vol", "name", name, "volsize", volsize, "props", props);
        }
        plan(dc, op, json_pack("{s:s,s:s}", "op", "destroy", "name", name));
        dc->touched = true;
    }
    vm_disks_sort(c->disks);
    return 0;
}

int vm_update_plan_disks(const vm_ctx *ctx, json_t *payload, json_t *cfg, json_t *obj, disk_change *dc, vm_err *err)
{
    json_t *add = json_object_get(payload, "add_disks");
    json_t *upd = json_object_get(payload, "update_disks");
    json_t *rem = json_object_get(payload, "remove_disks");
    if (!add && !upd && !rem)
        return 0;
    disk_ctx c = { .payload = payload,
                   .cfg = cfg,
                   .disks = json_object_get(cfg, "disks"),
                   .objdisks = json_object_get(obj, "disks"),
                   .state = json_string_value(json_object_get(obj, "state")),
                   .zstate = json_string_value(json_object_get(obj, "zone_state")) };
    c.stopped = c.state && !strcmp(c.state, "stopped");
    if (!c.disks) {
        c.disks = json_array();
        json_object_set_new(cfg, "disks", c.disks);
    }
    if ((add || rem) && !c.stopped)
        return vm_err_set(err, VMERR_STATE,
                          "updates to disks are only allowed when state is \"stopped\", currently: %s (%s)", c.state,
                          c.zstate);
    size_t i;
    json_t *v;
    json_array_foreach(rem, i, v)
        if (plan_remove(&c, json_string_value(v), dc, err) < 0)
            return -1;
    json_array_foreach(upd, i, v)
        if (plan_update(&c, v, dc, err) < 0)
            return -1;
    if (add)
        return plan_add(ctx, &c, add, dc, err);
    if (!upd)
        return 0;
    if (vm_disks_assign_slots(c.disks, err) < 0)
        return -1;
    /* uuids stay unique (D30) */
    json_array_foreach(c.disks, i, v) {
        const char *u = json_string_value(json_object_get(v, "uuid"));
        for (size_t j = i + 1; u && j < json_array_size(c.disks); j++)
            if (!strcmp(u, json_string_value(json_object_get(json_array_get(c.disks, j), "uuid")) ?: ""))
                return vm_err_set(err, VMERR_INVALID, "duplicate disk uuid %s", u);
    }
    return 0;
}

/* Σ volsize (bytes) of the planned disks, from the object's current sizes
 * and the planned ops; plus snapshot usage. */
int vm_update_check_flexible(json_t *cfg, json_t *obj, const disk_change *dc, vm_err *err)
{
    json_t *fds = json_object_get(cfg, "flexible_disk_size");
    int64_t total = 0;
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(cfg, "disks"), i, d) {
        const char *path = json_string_value(json_object_get(d, "path"));
        const char *ds = vm_disk_dataset(d);
        int64_t sz = obj_disk_size(json_object_get(obj, "disks"), path ? path : "");
        json_t *op;
        size_t j;
        json_t *all[2] = { dc->ops, dc->online };
        for (int a = 0; a < 2; a++)
            json_array_foreach(all[a], j, op) {
                const char *n = json_string_value(json_object_get(op, "name"));
                if (!n || !ds || strcmp(n, ds))
                    continue;
                json_t *vs = json_object_get(op, a ? "bytes" : "volsize");
                if (!vs)
                    vs = json_object_get(json_object_get(op, "props"), "volsize");
                if (json_is_integer(vs))
                    sz = json_integer_value(vs);
            }
        if (sz > 0)
            total += sz;
    }
    int64_t old_total = 0;
    json_array_foreach(json_object_get(obj, "disks"), i, d)
        old_total += json_integer_value(json_object_get(d, "size")) * VM_MiB;
    if (total <= old_total && !json_is_integer(fds))
        return 0;
    int64_t free_now = json_is_integer(json_object_get(obj, "free_space"))
        ? json_integer_value(json_object_get(obj, "free_space"))
        : 0;
    if (!json_is_integer(fds)) {
        return vm_err_set(
            err, VMERR_NOSPACE,
            "cannot grow disks by %lld MiB: no space available (flexible_disk_size is not set, so the disks use all the VM's space)",
            (long long)((total - old_total) / VM_MiB));
    }
    /* Absurd sizes saturate (and then fail the check with their numbers). */
    int64_t limit, obj_fds, free_b;
    if (!mib_to_bytes(json_integer_value(fds), &limit))
        limit = INT64_MAX;
    if (!mib_to_bytes(json_integer_value(json_object_get(obj, "flexible_disk_size")), &obj_fds))
        obj_fds = INT64_MAX;
    if (!mib_to_bytes(free_now, &free_b))
        free_b = 0;
    int64_t used_snaps = obj_fds - old_total - free_b;
    if (!json_is_integer(json_object_get(obj, "flexible_disk_size")))
        used_snaps = 0;
    if (used_snaps < 0)
        used_snaps = 0;
    int64_t need;
    if (!i64_add(total, used_snaps, &need) || need > limit)
        return vm_err_set(
            err, VMERR_NOSPACE,
            "disks need %lld MiB but flexible_disk_size is %lld MiB (%lld MiB used by snapshots); %lld MiB available",
            (long long)(total / VM_MiB), (long long)(limit / VM_MiB), (long long)(used_snaps / VM_MiB),
            (long long)((limit - used_snaps - old_total) / VM_MiB));
    return 0;
}
