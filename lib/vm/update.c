/* vmadm update: normalise and validate the payload, plan every change
 * (config, metadata, NICs, disks, space) against the current VM, check the
 * plan whole, then apply it through one journaled transaction. */
#include <stdlib.h>
#include <string.h>

#include "common/units.h"
#include "common/lock.h"
#include "common/util.h"
#include "storage/storage.h"
#include "vm/defaults.h"
#include "vm/props.h"
#include "vm/runtime.h"
#include "vm/store.h"
#include "vm/validate.h"
#include "vm/vm.h"
#include "vm/update_internal.h"
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

/* Everything vm_update decided, before anything changes. */
typedef struct update_plan {
    json_t *cfg, *obj, *meta, *newcfg;
    vs_pool *pool;
    char *zonepath, *ds;
    const char *brand;
    disk_change dc;
    int indestructible; /* -1: unchanged */
    bool space; /* quota/reservation follow the change */
    unsigned nic_change; /* NIC_CHANGE_* for a running VM, else 0 */
    char *nic_restart; /* the keys that wait for the next start */
} update_plan;

static void plan_free(update_plan *p)
{
    json_decref(p->cfg);
    json_decref(p->obj);
    json_decref(p->meta);
    json_decref(p->newcfg);
    vs_pool_close(p->pool);
    free(p->zonepath);
    free(p->ds);
    free(p->nic_restart);
    vm_disk_change_free(&p->dc);
}

/* Plain properties into the new config. */
static void plan_properties(json_t *payload, update_plan *p)
{
    const char *k;
    json_t *v;
    json_object_foreach(payload, k, v) {
        if (str_has_prefix(k, "set_") || str_has_prefix(k, "remove_") || str_has_prefix(k, "add_") ||
            str_has_prefix(k, "update_") || !strcmp(k, "dangerous_allow_remove_boot"))
            continue;
        if (!strcmp(k, "indestructible_zoneroot")) {
            p->indestructible = json_is_true(v);
            continue;
        }
        if (!strcmp(k, "indestructible_delegated"))
            continue; /* handled with the delegated dataset after the commit */
        /* Booleans stored only when true (V18); null/"" unsets. */
        if (json_is_null(v) || (json_is_string(v) && !*json_string_value(v)) ||
            (json_is_false(v) && (!strcmp(k, "do_not_inventory") || !strcmp(k, "archive_on_delete"))))
            json_object_del(p->newcfg, k);
        else
            json_object_set(p->newcfg, k, v);
    }
}

/* Reservations rise before disks grow: the pool must be able to promise
 * the VM's new reservation (smartos-live#977). */
static int check_pool_promise(update_plan *p, vm_err *err)
{
    vs_space sp;
    if (!vm_brand_is_hvm(p->brand))
        return 0; /* RFD 154's reservation is the HVM brands' space rule */
    if (vs_pool_space(p->pool, &sp, err) < 0)
        return -1;
    int64_t cur_res = 0;
    if (vs_get_int(p->pool, p->ds, "reservation", &cur_res, err) < 0)
        return -1;
    /* The reservation RFD 154 will give the VM (space.c), before the disks'
     * own refreservations move within it. */
    int64_t want = json_is_integer(json_object_get(p->newcfg, "flexible_disk_size"))
        ? vm_space_reservation(p->newcfg, 0, 0)
        : cur_res;
    if (want > cur_res && (uint64_t)(want - cur_res) > sp.available)
        return vm_err_set(
            err, VMERR_NOSPACE, "not enough space in zpool \"%s\": the VM needs %lld MiB more, %llu MiB available",
            vs_pool_name(p->pool), (long long)((want - cur_res) / VM_MiB), (unsigned long long)(sp.available / VM_MiB));
    return 0;
}

/* Validates the payload and plans the whole change; changes nothing. */
static int plan_update(const vm_ctx *ctx, const char *uuid, json_t *payload, update_plan *p, vm_err *err)
{
    p->brand = json_string_value(json_object_get(p->cfg, "brand"));
    /* node-vmadm sends the VM's own uuid with every update; SmartOS drops
     * it (C19).  Another uuid is still refused by validation. */
    json_t *own = json_object_get(payload, "uuid");
    if (json_is_string(own) && !strcmp(json_string_value(own), uuid))
        json_object_del(payload, "uuid");
    if (vm_payload_normalize(payload, "update", err) < 0)
        return -1;
    if (strcmp(p->brand, "bhyve") != 0)
        json_object_del(payload, "flexible_disk_size");
    cleanup_json json_t *verr = vm_validate(p->brand, "update", payload);
    if (vm_validate_err(verr, p->brand, "update", err) < 0)
        return -1;
    json_t *vp = json_object_get(payload, "vnc_password");
    if (json_is_string(vp) && strlen(json_string_value(vp)) > 8)
        return vm_err_set(err, VMERR_INVALID, "VNC password is too long, maximum length is 8 characters.");
    if (vmobj_load(ctx, uuid, &p->obj, err) < 0)
        return -1;
    const char *poolname = json_string_value(json_object_get(p->cfg, "zpool"));
    if (vs_pool_open(ctx, poolname, &p->pool, err) < 0)
        return -1;
    p->zonepath = vm_store_zonepath(ctx, poolname, uuid);
    p->ds = xasprintf("%s/%s", poolname, uuid);
    if (vm_store_load_meta(p->zonepath, &p->meta, err) < 0) {
        vm_err_prefix(err, "cannot update VM %s: its metadata cannot be read: ", uuid);
        return -1;
    }
    p->newcfg = json_dup(p->cfg);
    json_object_set_new(p->newcfg, "uuid", json_string(uuid));
    vm_fix_memory_update(payload, p->cfg);
    plan_properties(payload, p);
    apply_meta_ops(payload, p->meta);
    if (vm_check_limits(p->meta, err) < 0) /* several set_* may add up */
        return -1;
    if (vm_update_plan_nics(ctx, payload, p->newcfg, err) < 0)
        return -1;
    if (!strcmp(json_string_value(json_object_get(p->obj, "state")) ?: "", "running"))
        p->nic_change =
            vm_nics_change(json_object_get(p->cfg, "nics"), json_object_get(p->newcfg, "nics"), &p->nic_restart);
    /* Disks are a property of the HVM brands (validation refuses them for
     * the others). */
    if (vm_brand_is_hvm(p->brand) && vm_update_plan_disks(ctx, payload, p->newcfg, p->obj, &p->dc, err) < 0)
        return -1;
    if ((p->dc.touched || json_object_get(payload, "flexible_disk_size")) &&
        vm_update_check_flexible(p->newcfg, p->obj, &p->dc, err) < 0)
        return -1;
    p->space = p->dc.touched || json_object_get(payload, "flexible_disk_size") || json_object_get(payload, "quota");
    return p->space ? check_pool_promise(p, err) : 0;
}

/* Storage ops in order; on a failure the done ones are undone in reverse
 * and the journal dropped, leaving the VM as it was.  Then a running VM's
 * runtime is told about grown disks, and removed volumes are destroyed
 * (past the commit: a crash there is completed by the next command). */
static int apply_storage(const vm_ctx *ctx, const char *uuid, update_plan *p, vm_err *err)
{
    size_t i, done = 0;
    json_t *v;
    json_array_foreach(p->dc.ops, i, v) {
        if (vm_store_apply_op(p->pool, v, err) < 0)
            break;
        done++;
    }
    if (done < json_array_size(p->dc.ops)) {
        vm_err e2 = VM_ERR_INIT;
        for (size_t u = done; u-- > 0;)
            vm_store_apply_op(p->pool, json_array_get(p->dc.undo, u), &e2);
        vm_txn_abort(ctx, uuid);
        return -1;
    }
    const vm_runtime *rt = vm_runtime_of(p->cfg);
    json_array_foreach(p->dc.online, i, v) {
        const char *id = json_string_value(json_object_get(v, "id"));
        uint64_t bytes = (uint64_t)json_integer_value(json_object_get(v, "bytes"));
        if ((rt->grow_disk ? rt->grow_disk(ctx, uuid, id, bytes, err)
                           : vm_runtime_unsupported("growing a disk of a running VM", p->brand, err)) < 0 ||
            vs_set_volsize_meta(p->pool, json_string_value(json_object_get(v, "name")), bytes, err) < 0) {
            vm_txn_abort(ctx, uuid);
            return -1;
        }
    }
    json_array_foreach(p->dc.post, i, v)
        if (vm_store_apply_op(p->pool, v, err) < 0)
            return -1; /* journal stays: the next command completes it */
    return 0;
}

/* After the commit: indestructible snapshots and live limits. */
static int apply_after(const vm_ctx *ctx, const char *uuid, json_t *payload, update_plan *p, vm_err *err)
{
    if (p->indestructible >= 0 && vm_set_indestructible(p->pool, p->ds, p->indestructible, err) < 0)
        return -1;
    json_t *idel = json_object_get(payload, "indestructible_delegated");
    if (idel) {
        cleanup_free char *data = xasprintf("%s/data", p->ds);
        if (vs_exists(p->pool, data) && vm_set_indestructible(p->pool, data, json_is_true(idel), err) < 0)
            return -1;
    }
    /* Runtimes that can take new limits live do (containers); the others
     * apply them at the next boot (HVM). */
    const vm_runtime *rt = vm_runtime_of(p->cfg);
    if (rt->apply_limits && !strcmp(json_string_value(json_object_get(p->obj, "state")) ?: "", "running")) {
        cleanup_json json_t *nobj = NULL;
        vm_err e2 = VM_ERR_INIT;
        if (vmobj_load(ctx, uuid, &nobj, &e2) == 0 && rt->apply_limits(ctx, nobj, &e2) < 0)
            vm_log(ctx, "warn", "VM %s: could not apply limits live: %s", uuid, e2.msg);
    }
    return 0;
}

static int apply_files(const vm_ctx *ctx, const char *uuid, update_plan *p, bool *committed, vm_err *err);

/* A running VM's NIC protection follows the update at once, applied before
 * the commit so a refusal changes nothing (put back if the commit fails);
 * link changes wait for the next start, and the operator is told. */
static int nics_live(const vm_ctx *ctx, const char *uuid, update_plan *p, vm_err *err)
{
    const vm_runtime *rt = vm_runtime_of(p->cfg);
    if ((p->nic_change & NIC_CHANGE_LIVE) && !rt->net_update)
        p->nic_change |= NIC_CHANGE_RESTART;
    if (!(p->nic_change & NIC_CHANGE_LIVE) || !rt->net_update)
        return 0;
    if (rt->net_update(ctx, p->newcfg, err) < 0) {
        vm_err_prefix(err, "cannot apply the NIC protection of VM %s: ", uuid);
        return -1;
    }
    return 0;
}

static void nics_restore(const vm_ctx *ctx, const char *uuid, update_plan *p)
{
    const vm_runtime *rt = vm_runtime_of(p->cfg);
    if (!(p->nic_change & NIC_CHANGE_LIVE) || !rt->net_update)
        return;
    cleanup_json json_t *old = json_dup(p->cfg);
    json_object_set_new(old, "uuid", json_string(uuid));
    vm_err e2 = VM_ERR_INIT;
    if (rt->net_update(ctx, old, &e2) < 0)
        vm_log(ctx, "warn", "VM %s: NIC protection not restored after a failed update: %s", uuid, e2.msg);
}

static void nics_notice(const vm_ctx *ctx, const char *uuid, update_plan *p)
{
    if (p->nic_change & NIC_CHANGE_RESTART)
        vm_notice(ctx, "VM %s: NIC changes (%s) take effect at its next start", uuid,
                  p->nic_restart && *p->nic_restart ? p->nic_restart : "protection");
}

/* Journal first (files + storage ops), then storage, then files. */
static int apply_update(const vm_ctx *ctx, const char *uuid, json_t *payload, update_plan *p, vm_err *err)
{
    if (nics_live(ctx, uuid, p, err) < 0)
        return -1;
    bool committed = false;
    if (apply_files(ctx, uuid, p, &committed, err) < 0) {
        /* Past the commit the next command completes the update: the
         * new protection stays. */
        if (!committed)
            nics_restore(ctx, uuid, p);
        return -1;
    }
    nics_notice(ctx, uuid, p);
    return apply_after(ctx, uuid, payload, p, err);
}

/* The journaled part of apply_update; *committed once a failure would be
 * completed by the next command rather than undone. */
static int apply_files(const vm_ctx *ctx, const char *uuid, update_plan *p, bool *committed, vm_err *err)
{
    cleanup_txn vm_txn *t = vm_txn_new();
    json_t *canon = vm_cfg_canonical(p->newcfg);
    json_object_del(canon, "uuid");
    vm_txn_write_vm(t, ctx, uuid, canon, p->zonepath, p->meta);
    json_decref(canon);
    size_t i;
    json_t *v;
    json_array_foreach(p->dc.ops, i, v)
        vm_txn_op(t, json_incref(v));
    json_array_foreach(p->dc.post, i, v)
        vm_txn_op(t, json_incref(v));
    if (p->space)
        vm_txn_set_space(t);
    if (vm_txn_begin(ctx, uuid, t, err) < 0 || apply_storage(ctx, uuid, p, err) < 0)
        return -1;
    *committed = true;
    /* Space follows the disks before the journal goes, so a crash here is
     * completed by the next command too. */
    if (p->space && vm_space_apply(ctx, p->pool, p->newcfg, err) < 0)
        return -1;
    return vm_txn_finish(ctx, uuid, t, err);
}

int vm_update(const vm_ctx *ctx, const char *uuid, json_t *payload, vm_err *err)
{
    cleanup_lock vm_lock lk = VM_LOCK_INIT;
    update_plan p = { .indestructible = -1 };
    vm_disk_change_init(&p.dc);
    int r = -1;
    if (vm_lock_acquire(ctx, uuid, -1, &lk, err) == 0 && vm_load_locked(ctx, uuid, &p.cfg, err) == 0 &&
        plan_update(ctx, uuid, payload, &p, err) == 0 && apply_update(ctx, uuid, payload, &p, err) == 0) {
        vm_log(ctx, "info", "VM %s updated", uuid);
        r = 0;
    }
    plan_free(&p);
    return r;
}
