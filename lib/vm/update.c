/* vmadm update: normalise and validate the payload, plan every change
 * (config, metadata, NICs, disks, space) against the current VM, check the
 * plan whole, then apply it through one journaled transaction. */
#include <string.h>

#include "common/units.h"
#include "common/lock.h"
#include "common/util.h"
#include "storage/storage.h"
#include "vm/defaults.h"
#include "vm/disks.h"
#include "vm/props.h"
#include "vm/runtime.h"
#include "vm/store.h"
#include "vm/validate.h"
#include "vm/vm.h"
#include "vm/vm_internal.h"
#include "vm/vmobj.h"


static const char *const meta_names[] = { "customer_metadata", "internal_metadata", "tags", "routes", NULL };

/* set_<name> / remove_<name> (C20): removes first, then sets. */
static void apply_meta_ops(json_t *payload, json_t *meta)
{
    for (size_t i = 0; meta_names[i]; i++) {
        char rk[64], sk[64];
        snprintf(rk, sizeof rk, "remove_%s", meta_names[i]);
        snprintf(sk, sizeof sk, "set_%s", meta_names[i]);
        json_t *m = json_object_get(meta, meta_names[i]);
        json_t *rm = json_object_get(payload, rk);
        size_t j;
        json_t *k;
        json_array_foreach(rm, j, k)
            if (json_is_string(k))
                json_object_del(m, json_string_value(k));
        const char *key;
        json_t *v;
        json_object_foreach(json_object_get(payload, sk), key, v)
            json_object_set(m, key, v);
    }
}

static int nic_ops(json_t *payload, json_t *cfg, vm_err *err)
{
    json_t *nics = json_object_get(cfg, "nics");
    if (!nics) {
        nics = json_array();
        json_object_set_new(cfg, "nics", nics);
    }
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(payload, "remove_nics"), i, v) {
        size_t j;
        json_t *n;
        bool found = false;
        json_array_foreach(nics, j, n)
            if (!strcasecmp(json_string_value(json_object_get(n, "mac")) ?: "", json_string_value(v))) {
                json_array_remove(nics, j);
                found = true;
                break;
            }
        if (!found)
            return vm_err_set(err, VMERR_INVALID, "remove_nics: no NIC with mac %s", json_string_value(v));
    }
    json_array_foreach(json_object_get(payload, "update_nics"), i, v) {
        const char *mac = json_string_value(json_object_get(v, "mac"));
        size_t j;
        json_t *n, *hit = NULL;
        json_array_foreach(nics, j, n)
            if (mac && !strcasecmp(json_string_value(json_object_get(n, "mac")) ?: "", mac))
                hit = n;
        if (!hit)
            return vm_err_set(err, VMERR_INVALID, "update_nics: no NIC with mac %s", mac ? mac : "(none)");
        json_object_update(hit, v);
    }
    const char *brand = json_string_value(json_object_get(cfg, "brand"));
    json_array_foreach(json_object_get(payload, "add_nics"), i, v) {
        json_t *n = json_dup(v);
        if (vm_nic_normalize(n, err) < 0) {
            json_decref(n);
            return -1;
        }
        if (!json_object_get(n, "mac")) {
            char mac[18];
            vm_random_mac(mac);
            json_object_set_new(n, "mac", json_string(mac));
        }
        if (!json_object_get(n, "interface")) {
            char ifn[32];
            snprintf(ifn, sizeof ifn, "%s%zu", brand && !strcmp(brand, "lx") ? "eth" : "net", json_array_size(nics));
            json_object_set_new(n, "interface", json_string(ifn));
        }
        if (vm_brand_is_hvm(brand) && !json_object_get(n, "model")) {
            const char *drv = json_string_value(json_object_get(cfg, "nic_driver"));
            json_t *first = json_array_get(nics, 0);
            if (!drv && first)
                drv = json_string_value(json_object_get(first, "model"));
            if (!drv) {
                cleanup_free char *s = json_compact(v);
                json_decref(n);
                return vm_err_set(err, VMERR_INVALID, "missing .model option for NIC: %s", s);
            }
            json_object_set_new(n, "model", json_string(drv));
        }
        size_t j;
        json_t *o;
        json_array_foreach(nics, j, o)
            if (!strcasecmp(json_string_value(json_object_get(o, "mac")) ?: "",
                            json_string_value(json_object_get(n, "mac")))) {
                json_decref(n);
                return vm_err_set(err, VMERR_INVALID, "Cannot add multiple NICs with the same MAC: %s",
                                  json_string_value(json_object_get(o, "mac")));
            }
        json_array_append_new(nics, n);
    }
    return 0;
}

typedef struct disk_change {
    json_t *ops;       /* pre-commit storage ops, in order */
    json_t *undo;      /* inverse ops, applied in reverse on failure */
    json_t *post;      /* post-commit ops (destroy removed volumes) */
    json_t *online;    /* [{disk_id, bytes, name}] QMP resizes for a running VM */
    bool touched;      /* sizes changed: recompute space */
} disk_change;

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

static int disk_ops(const vm_ctx *ctx, vs_pool *pool, json_t *payload, json_t *cfg, json_t *obj, disk_change *dc,
                    vm_err *err)
{
    json_t *add = json_object_get(payload, "add_disks");
    json_t *upd = json_object_get(payload, "update_disks");
    json_t *rem = json_object_get(payload, "remove_disks");
    const char *state = json_string_value(json_object_get(obj, "state"));
    const char *zstate = json_string_value(json_object_get(obj, "zone_state"));
    bool stopped = state && !strcmp(state, "stopped");
    json_t *disks = json_object_get(cfg, "disks");
    json_t *objdisks = json_object_get(obj, "disks");
    const char *uuid = json_string_value(json_object_get(cfg, "uuid"));
    size_t i;
    json_t *v;

    if (!add && !upd && !rem)
        return 0;
    if (!disks) {
        disks = json_array();
        json_object_set_new(cfg, "disks", disks);
    }
    if ((add || rem) && !stopped)
        return vm_err_set(err, VMERR_STATE,
                          "updates to disks are only allowed when state is \"stopped\", currently: %s (%s)", state,
                          zstate);
    /* Removal before addition, so a freed index and slot can be reused. */
    json_array_foreach(rem, i, v) {
        size_t idx;
        json_t *d = find_disk(disks, json_string_value(v), &idx);
        if (!d)
            return vm_err_set(err, VMERR_INVALID, "remove_disks: no disk with path \"%s\"", json_string_value(v));
        if (json_is_true(json_object_get(d, "boot")) &&
            !json_is_true(json_object_get(payload, "dangerous_allow_remove_boot")))
            return vm_err_set(err, VMERR_INVALID,
                              "refusing to remove boot disk \"%s\" without \"dangerous_allow_remove_boot\": true",
                              json_string_value(v));
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
            json_array_append_new(dc->ops, json_pack("{s:s,s:s,s:s}", "op", "rename", "name", ds, "to", aside));
            json_array_append_new(dc->undo, json_pack("{s:s,s:s,s:s}", "op", "rename", "name", aside, "to", ds));
            json_array_append_new(dc->post, json_pack("{s:s,s:s}", "op", "destroy", "name", aside));
        }
        json_array_remove(disks, idx);
        dc->touched = true;
    }
    json_array_foreach(upd, i, v) {
        const char *path = json_string_value(json_object_get(v, "path"));
        json_t *d = path ? find_disk(disks, path, NULL) : NULL;
        if (!d)
            return vm_err_set(err, VMERR_INVALID, "update_disks: no disk with path \"%s\"", path ? path : "");
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x) {
            bool online_ok = !strcmp(k, "path") || !strcmp(k, "compression") || !strcmp(k, "refreservation") ||
                             !strcmp(k, "size") || !strcmp(k, "dangerous_allow_shrink");
            if (!stopped && !online_ok)
                return vm_err_set(err, VMERR_STATE,
                                  "at least one specified update to disks is only allowed when state is \"stopped\", currently: %s (%s)",
                                  state, zstate);
        }
        const char *ds = vm_disk_dataset(d);
        json_t *size = json_object_get(v, "size");
        if (json_is_integer(size)) {
            int64_t cur = obj_disk_size(objdisks, path);
            int64_t want = json_integer_value(size) * VM_MiB;
            if (!ds || cur < 0)
                return vm_err_set(err, VMERR_INVALID, "failed to identify device to resize");
            if (want < cur && !json_is_true(json_object_get(v, "dangerous_allow_shrink")))
                return vm_err_set(err, VMERR_INVALID,
                                  "first of 1 error: cannot resize disk: new size must be greater than current size. (%lld > %lld)",
                                  (long long)(cur / VM_MiB), (long long)(want / VM_MiB));
            if (want < cur && !stopped)
                return vm_err_set(err, VMERR_STATE,
                                  "at least one specified update to disks is only allowed when state is \"stopped\", currently: %s (%s)",
                                  state, zstate);
            if (want != cur) {
                dc->touched = true;
                if (stopped) {
                    json_array_append_new(dc->ops, json_pack("{s:s,s:s,s:I}", "op", "resize", "name", ds, "volsize",
                                                             (json_int_t)want));
                    json_array_append_new(dc->undo, json_pack("{s:s,s:s,s:I}", "op", "resize", "name", ds,
                                                              "volsize", (json_int_t)cur));
                } else {
                    char id[32];
                    snprintf(id, sizeof id, "disk%d", vm_disk_index(d));
                    json_array_append_new(dc->online, json_pack("{s:s,s:I,s:s}", "id", id, "bytes",
                                                                (json_int_t)want, "name", ds));
                }
            }
        }
        const char *comp = json_string_value(json_object_get(v, "compression"));
        if (comp && ds) {
            static const char *const ok[] = { "on", "off", "gzip", "gzip-1", "gzip-2", "gzip-3", "gzip-4", "gzip-5",
                "gzip-6", "gzip-7", "gzip-8", "gzip-9", "lz4", "lzjb", "zle", NULL };
            bool good = false;
            for (size_t n = 0; ok[n]; n++)
                good |= !strcmp(ok[n], comp);
            if (!good)
                return vm_err_set(err, VMERR_INVALID,
                                  "invalid compression type for disk, must be one of: on, off, gzip, gzip-1, gzip-2, gzip-3, gzip-4, gzip-5, gzip-6, gzip-7, gzip-8, gzip-9, lz4, lzjb, zle");
            json_t *od = find_disk(objdisks, path, NULL);
            const char *old = json_string_value(json_object_get(od, "compression"));
            json_array_append_new(dc->ops, json_pack("{s:s,s:s,s:s,s:s}", "op", "set", "name", ds, "prop",
                                                     "compression", "value", comp));
            json_array_append_new(dc->undo, json_pack("{s:s,s:s,s:s,s:s}", "op", "set", "name", ds, "prop",
                                                      "compression", "value", old ? old : "off"));
        }
        json_t *rr = json_object_get(v, "refreservation");
        if (json_is_integer(rr) && ds) {
            char buf[32];
            snprintf(buf, sizeof buf, "%lld", (long long)(json_integer_value(rr) * VM_MiB));
            json_t *od = find_disk(objdisks, path, NULL);
            char obuf[32];
            snprintf(obuf, sizeof obuf, "%lld", (long long)(json_integer_value(json_object_get(od, "refreservation")) * VM_MiB));
            json_array_append_new(dc->ops, json_pack("{s:s,s:s,s:s,s:s}", "op", "set", "name", ds, "prop",
                                                     "refreservation", "value", buf));
            json_array_append_new(dc->undo, json_pack("{s:s,s:s,s:s,s:s}", "op", "set", "name", ds, "prop",
                                                      "refreservation", "value", obuf));
            dc->touched = true;
        }
        /* Device properties updatable in place (§3.1). */
        static const char *const devprops[] = { "boot", "model", "notrim", "pci_slot", "uuid", "guest_block_size", NULL };
        for (size_t n = 0; devprops[n]; n++) {
            json_t *x2 = json_object_get(v, devprops[n]);
            if (!x2)
                continue;
            if (!strcmp(devprops[n], "model")) {
                const char *m = json_string_value(x2);
                if (!m || !vm_disk_model_known(m))
                    return vm_err_set(err, VMERR_INVALID,
                                      "\"%s\" is not a valid disk model for %s brand. Valid are: virtio,ahci,nvme",
                                      m ? m : "", json_string_value(json_object_get(cfg, "brand")));
            }
            json_object_set(d, devprops[n], x2);
        }
    }
    if (add) {
        cleanup_json json_t *plan = NULL;
        if (vm_disks_plan_add(ctx, cfg, add, &plan, err) < 0)
            return -1;
        json_t *pe;
        json_array_foreach(plan, i, pe) {
            json_array_append(disks, json_object_get(pe, "disk"));
            const char *name = json_string_value(json_object_get(pe, "dataset"));
            if (!name)
                continue;
            const char *origin = json_string_value(json_object_get(pe, "origin"));
            json_t *props = json_dup(json_object_get(pe, "props"));
            json_int_t volsize = json_integer_value(json_object_get(pe, "volsize"));
            if (origin) {
                json_object_set_new(props, "volsize", json_integer(volsize));
                json_array_append_new(dc->ops, json_pack("{s:s,s:s,s:s,s:o}", "op", "clone", "origin", origin, "name",
                                                         name, "props", props));
            } else {
                json_array_append_new(dc->ops, json_pack("{s:s,s:s,s:I,s:o}", "op", "create_vol", "name", name,
                                                         "volsize", volsize, "props", props));
            }
            json_array_append_new(dc->undo, json_pack("{s:s,s:s}", "op", "destroy", "name", name));
            dc->touched = true;
        }
        vm_disks_sort(disks);
    } else if (upd) {
        if (vm_disks_assign_slots(disks, err) < 0)
            return -1;
        /* uuids stay unique (D30) */
        json_array_foreach(disks, i, v) {
            const char *u = json_string_value(json_object_get(v, "uuid"));
            for (size_t j = i + 1; u && j < json_array_size(disks); j++)
                if (!strcmp(u, json_string_value(json_object_get(json_array_get(disks, j), "uuid")) ?: ""))
                    return vm_err_set(err, VMERR_INVALID, "duplicate disk uuid %s", u);
        }
    }
    (void)uuid;
    (void)pool;
    return 0;
}

/* Σ volsize (bytes) of the planned disks, from the object's current sizes
 * and the planned ops; plus snapshot usage. */
static int check_flexible(json_t *cfg, json_t *obj, disk_change *dc, vm_err *err)
{
    json_t *fds = json_object_get(cfg, "flexible_disk_size");
    int64_t total = 0, snaps = 0;
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
    (void)snaps;
    int64_t old_total = 0;
    json_array_foreach(json_object_get(obj, "disks"), i, d)
        old_total += json_integer_value(json_object_get(d, "size")) * VM_MiB;
    if (total <= old_total && !json_is_integer(fds))
        return 0;
    int64_t free_now = json_is_integer(json_object_get(obj, "free_space")) ?
        json_integer_value(json_object_get(obj, "free_space")) : 0;
    if (!json_is_integer(fds)) {
        return vm_err_set(err, VMERR_NOSPACE,
                          "cannot grow disks by %lld MiB: no space available (flexible_disk_size is not set, so the disks use all the VM's space)",
                          (long long)((total - old_total) / VM_MiB));
    }
    int64_t limit = json_integer_value(fds) * VM_MiB;
    int64_t used_snaps = (json_integer_value(json_object_get(obj, "flexible_disk_size")) * VM_MiB) - old_total -
                         free_now * VM_MiB;
    if (!json_is_integer(json_object_get(obj, "flexible_disk_size")))
        used_snaps = 0;
    if (used_snaps < 0)
        used_snaps = 0;
    if (total + used_snaps > limit)
        return vm_err_set(err, VMERR_NOSPACE,
                          "disks need %lld MiB but flexible_disk_size is %lld MiB (%lld MiB used by snapshots); %lld MiB available",
                          (long long)(total / VM_MiB), (long long)(limit / VM_MiB), (long long)(used_snaps / VM_MiB),
                          (long long)((limit - used_snaps - old_total) / VM_MiB));
    return 0;
}

int vm_update(const vm_ctx *ctx, const char *uuid, json_t *payload, vm_err *err)
{
    cleanup_lock vm_lock lk = VM_LOCK_INIT;
    cleanup_json json_t *cfg = NULL, *obj = NULL, *meta = NULL, *newcfg = NULL;
    cleanup_vs_pool vs_pool *pool = NULL;
    cleanup_txn vm_txn *t = vm_txn_new();
    disk_change dc = { json_array(), json_array(), json_array(), json_array(), false };
    cleanup_free char *zonepath = NULL;
    cleanup_free char *ds = NULL;
    int r = -1;

    if (vm_lock_acquire(ctx, uuid, -1, &lk, err) < 0 || vm_load_locked(ctx, uuid, &cfg, err) < 0)
        goto out;
    const char *brand = json_string_value(json_object_get(cfg, "brand"));
    if (vm_payload_normalize(payload, "update", err) < 0)
        goto out;
    if (strcmp(brand, "bhyve") != 0)
        json_object_del(payload, "flexible_disk_size");
    {
        cleanup_json json_t *verr = vm_validate(brand, "update", payload);
        if (vm_validate_err(verr, brand, "update", err) < 0)
            goto out;
    }
    json_t *vp = json_object_get(payload, "vnc_password");
    if (json_is_string(vp) && strlen(json_string_value(vp)) > 8) {
        vm_err_set(err, VMERR_INVALID, "VNC password is too long, maximum length is 8 characters.");
        goto out;
    }
    if (vmobj_load(ctx, uuid, &obj, err) < 0)
        goto out;
    const char *poolname = json_string_value(json_object_get(cfg, "zpool"));
    if (vs_pool_open(ctx, poolname, &pool, err) < 0)
        goto out;
    zonepath = vm_store_zonepath(ctx, poolname, uuid);
    ds = xasprintf("%s/%s", poolname, uuid);
    if (vm_store_load_meta(zonepath, &meta, err) < 0) {
        vm_err_prefix(err, "cannot update VM %s: its metadata cannot be read: ", uuid);
        goto out;
    }

    newcfg = json_dup(cfg);
    json_object_set_new(newcfg, "uuid", json_string(uuid));
    vm_fix_memory_update(payload, cfg);

    int indestructible = -1;
    const char *k;
    json_t *v;
    json_object_foreach(payload, k, v) {
        if (str_has_prefix(k, "set_") || str_has_prefix(k, "remove_") || str_has_prefix(k, "add_") ||
            str_has_prefix(k, "update_") || !strcmp(k, "dangerous_allow_remove_boot"))
            continue;
        if (!strcmp(k, "indestructible_zoneroot")) {
            indestructible = json_is_true(v);
            continue;
        }
        if (!strcmp(k, "indestructible_delegated"))
            continue; /* handled with the delegated dataset below */
        /* Booleans stored only when true (V18); null/"" unsets. */
        if (json_is_null(v) || (json_is_string(v) && !*json_string_value(v)) ||
            (json_is_false(v) && (!strcmp(k, "do_not_inventory") || !strcmp(k, "archive_on_delete"))))
            json_object_del(newcfg, k);
        else
            json_object_set(newcfg, k, v);
    }
    apply_meta_ops(payload, meta);
    if (nic_ops(payload, newcfg, err) < 0)
        goto out;
    if (vm_brand_is_hvm(brand) && disk_ops(ctx, pool, payload, newcfg, obj, &dc, err) < 0)
        goto out;
    if (dc.touched || json_object_get(payload, "flexible_disk_size")) {
        if (check_flexible(newcfg, obj, &dc, err) < 0)
            goto out;
    }
    if (json_object_get(payload, "flexible_disk_size") || json_object_get(payload, "quota") || dc.touched) {
        /* Reservations rise before disks grow: raise the pool promise
         * first when the new figure is larger (smartos-live#977). */
        vs_space sp;
        if (vm_brand_is_hvm(brand) && vs_pool_space(pool, &sp, err) == 0) {
            int64_t cur_res = 0;
            vm_err e2 = VM_ERR_INIT;
            vs_get_int(pool, ds, "reservation", &cur_res, &e2);
            /* The reservation RFD 154 will give the VM (space.c), before the
             * disks' own refreservations move within it. */
            int64_t want = json_is_integer(json_object_get(newcfg, "flexible_disk_size"))
                               ? vm_space_reservation(newcfg, 0, 0) : cur_res;
            if (want > cur_res && (uint64_t)(want - cur_res) > sp.available) {
                vm_err_set(err, VMERR_NOSPACE,
                           "not enough space in zpool \"%s\": the VM needs %lld MiB more, %llu MiB available",
                           vs_pool_name(pool), (long long)((want - cur_res) / VM_MiB),
                           (unsigned long long)(sp.available / VM_MiB));
                goto out;
            }
        }
    }

    /* Apply: journal first, then storage, then files. */
    json_t *canon = vm_cfg_canonical(newcfg);
    json_object_del(canon, "uuid");
    vm_txn_write_vm(t, ctx, uuid, canon, zonepath, meta);
    json_decref(canon);
    size_t i;
    json_array_foreach(dc.ops, i, v)
        vm_txn_op(t, json_incref(v));
    json_array_foreach(dc.post, i, v)
        vm_txn_op(t, json_incref(v));
    if (dc.touched || json_object_get(payload, "flexible_disk_size") || json_object_get(payload, "quota"))
        vm_txn_set_space(t);
    if (vm_txn_begin(ctx, uuid, t, err) < 0)
        goto out;
    size_t done = 0;
    json_array_foreach(dc.ops, i, v) {
        if (vm_store_apply_op(pool, v, err) < 0)
            break;
        done++;
    }
    if (done < json_array_size(dc.ops)) {
        /* Undo what was done, in reverse; leave the VM as it was. */
        vm_err e2 = VM_ERR_INIT;
        json_t *undo = dc.undo;
        for (size_t u = done; u-- > 0;)
            vm_store_apply_op(pool, json_array_get(undo, u), &e2);
        vm_txn_abort(ctx, uuid);
        goto out;
    }
    const vm_runtime *rt = vm_runtime_of(cfg);
    json_array_foreach(dc.online, i, v) {
        const char *id = json_string_value(json_object_get(v, "id"));
        uint64_t bytes = (uint64_t)json_integer_value(json_object_get(v, "bytes"));
        if ((rt->grow_disk ? rt->grow_disk(ctx, uuid, id, bytes, err)
                           : vm_runtime_unsupported("growing a disk of a running VM", brand, err)) < 0 ||
            vs_set_volsize_meta(pool, json_string_value(json_object_get(v, "name")), bytes, err) < 0) {
            vm_txn_abort(ctx, uuid);
            goto out;
        }
    }
    json_array_foreach(dc.post, i, v)
        if (vm_store_apply_op(pool, v, err) < 0)
            goto out; /* journal stays: the next command completes it */
    /* Space follows the disks before the journal goes, so a crash here is
     * completed by the next command too. */
    if (dc.touched || json_object_get(payload, "flexible_disk_size") || json_object_get(payload, "quota")) {
        json_object_set_new(newcfg, "uuid", json_string(uuid));
        if (vm_space_apply(ctx, pool, newcfg, err) < 0)
            goto out;
    }
    if (vm_txn_finish(ctx, uuid, t, err) < 0)
        goto out;
    if (indestructible >= 0 && vm_set_indestructible(pool, ds, indestructible, err) < 0)
        goto out;
    if (json_object_get(payload, "indestructible_delegated")) {
        cleanup_free char *data = xasprintf("%s/data", ds);
        if (vs_exists(pool, data) &&
            vm_set_indestructible(pool, data, json_is_true(json_object_get(payload, "indestructible_delegated")), err) < 0)
            goto out;
    }
    /* Runtimes that can take new limits live do (containers); the others
     * apply them at the next boot (HVM). */
    if (rt->apply_limits && !strcmp(json_string_value(json_object_get(obj, "state")) ?: "", "running")) {
        cleanup_json json_t *nobj = NULL;
        vm_err e2 = VM_ERR_INIT;
        if (vmobj_load(ctx, uuid, &nobj, &e2) == 0 && rt->apply_limits(ctx, nobj, &e2) < 0)
            vm_log(ctx, "warn", "VM %s: could not apply limits live: %s", uuid, e2.msg);
    }
    vm_log(ctx, "info", "VM %s updated", uuid);
    r = 0;
out:
    json_decref(dc.ops);
    json_decref(dc.undo);
    json_decref(dc.post);
    json_decref(dc.online);
    return r;
}
