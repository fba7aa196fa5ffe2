/* vmadm create-snapshot / delete-snapshot / rollback-snapshot (reference
 * S13–S23): a VM snapshot is <zfs_filesystem>@vmsnap-<name>, taken
 * recursively for HVM VMs so it covers every disk, and it also captures
 * <zonepath>/config (metadata, tags, routes), so a rollback reverts them.
 *
 * A running HVM VM is snapshotted live, like a ZFS snapshot under bhyve
 * (S22): the storage layer commits the snapshot (each disk's current file
 * becomes the frozen layer, a fresh overlay on it is prepared), then QEMU
 * moves every disk onto its overlay in one QMP transaction
 * (blockdev-snapshot-sync, mode "existing"), so the snapshot is the disks,
 * crash-consistent, at that instant.  If QEMU refuses, the VM is stopped
 * and the snapshot destroyed: a snapshot that went on changing would lie.
 * Deleting a snapshot of a running HVM VM is live too, when the runtime
 * can merge a layer of its open chain (QEMU: block-stream of the layer
 * into the file above it, lib/hv/blockjob.c): each disk's merge runs
 * before that disk's metadata commit (vs_destroy_live), so a merge QEMU
 * fails leaves that disk's snapshot as it was.  The disks go first, the
 * VM's filesystem snapshot last: a snapshot is listed until every part of
 * it is gone, and deleting it again finishes what a failure left. */
#include <string.h>

#include "common/lock.h"
#include "common/util.h"
#include "storage/storage.h"
#include "vm/props.h"
#include "vm/store.h"
#include "vm/vm.h"
#include "vm/recover.h"
#include "vm/runtime.h"
#include "vm/vm_internal.h"
#include "vm/vmobj.h"

static bool valid_snapname(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 1 || n > 64)
        return false;
    return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:%") == n;
}

typedef struct snapctx {
    json_t *cfg;
    json_t *obj;
    vs_pool *pool;
    char *ds;
    char *snap;
    /* The runtime holds the disks open while running (HVM): a live snapshot
     * moves it onto new overlays; deleting merges a layer through it
     * (snapshot_merge) or waits for a stop. */
    bool moves_disks;
    const vm_runtime *rt;
} snapctx;

static void snapctx_free(snapctx *c)
{
    json_decref(c->cfg);
    json_decref(c->obj);
    vs_pool_close(c->pool);
    free(c->ds);
    free(c->snap);
}

static int prepare(const vm_ctx *ctx, const char *uuid, const char *name, snapctx *c, vm_err *err);

/* create-snapshot and delete-snapshot bump last_modified (S17): the config
 * is written again. */
static void snapshot_changed(const vm_ctx *ctx, const char *uuid, snapctx *c, const char *name, const char *what,
                             vm_err *err)
{
    cleanup_free char *cfgpath = vm_store_config_path(ctx, uuid);
    write_json_atomic(cfgpath, c->cfg, err);
    vm_log(ctx, "info", "VM %s: snapshot %s %s", uuid, name, what);
}

/* Applies op to every dataset's @vmsnap-<name> under the VM (zfs -r). */
static int each_member(snapctx *c, const char *name, int (*op)(vs_pool *, const char *, int, vm_err *), int flags,
                       vm_err *err)
{
    cleanup_json json_t *names = NULL;
    cleanup_free char *suffix = xasprintf("@vmsnap-%s", name);
    if (vs_list(c->pool, c->ds, VS_SNAPSHOT, VS_RECURSIVE, &names, err) < 0)
        return -1;
    size_t i;
    json_t *n;
    json_array_foreach(names, i, n)
        if (str_has_suffix(json_string_value(n), suffix) && op(c->pool, json_string_value(n), flags, err) < 0)
            return -1;
    return 0;
}

/* Lock, load and check the snapshot exists (delete and rollback). */
static int open_existing(const vm_ctx *ctx, const char *uuid, const char *name, vm_lock *lk, snapctx *c, vm_err *err)
{
    memset(c, 0, sizeof *c);
    if (vm_lock_acquire(ctx, uuid, -1, lk, err) < 0)
        return -1;
    if (prepare(ctx, uuid, name, c, err) < 0)
        return -1;
    if (!vs_exists(c->pool, c->snap))
        return vm_err_set(err, VMERR_NOTFOUND, "No snapshot named \"%s\" for %s", name, uuid);
    return 0;
}

static int prepare(const vm_ctx *ctx, const char *uuid, const char *name, snapctx *c, vm_err *err)
{
    memset(c, 0, sizeof *c);
    if (!valid_snapname(name))
        return vm_err_set(err, VMERR_INVALID, "Invalid snapshot name");
    if (vm_load_locked(ctx, uuid, &c->cfg, err) < 0)
        return -1;
    const char *brand = json_string_value(json_object_get(c->cfg, "brand"));
    c->rt = vm_runtime_of(c->cfg);
    c->moves_disks = c->rt->snapshot_switch != NULL;
    if (!strcmp(brand, "kvm"))
        return vm_err_set(err, VMERR_UNSUPPORTED, "snapshots for kvm VMs currently unsupported");
    if (vs_pool_open(ctx, json_string_value(json_object_get(c->cfg, "zpool")), &c->pool, err) < 0)
        return -1;
    c->ds = xasprintf("%s/%s", vs_pool_name(c->pool), uuid);
    c->snap = xasprintf("%s@vmsnap-%s", c->ds, name);
    if (!vs_exists(c->pool, c->ds))
        return vm_err_set(err, VMERR_INVALID, "vmobj missing zfs_filesystem, cannot create snapshot");
    return vmobj_load(ctx, uuid, &c->obj, err);
}

struct live {
    const vm_ctx *ctx;
    const char *uuid;
    const vm_runtime *rt;
};

/* vs_switch_fn: the runtime moves every snapshotted disk onto its overlay. */
static int live_switch(void *arg, json_t *switches, vm_err *err)
{
    struct live *l = arg;
    return l->rt->snapshot_switch(l->ctx, l->uuid, switches, err);
}

int vm_snapshot_create(const vm_ctx *ctx, const char *uuid, const char *name, vm_err *err)
{
    cleanup_lock vm_lock lk = VM_LOCK_INIT;
    snapctx c;
    int r = -1;
    memset(&c, 0, sizeof c);
    if (vm_lock_acquire(ctx, uuid, -1, &lk, err) < 0)
        return -1;
    if (prepare(ctx, uuid, name, &c, err) < 0)
        goto out;
    if (json_array_size(json_object_get(c.cfg, "datasets")) > 0) {
        vm_err_set(err, VMERR_UNSUPPORTED, "Cannot currently snapshot zones that have datasets");
        goto out;
    }
    if (vs_exists(c.pool, c.snap)) {
        vm_err_set(err, VMERR_EXISTS, "snapshot with name \"%s\" already exists.", name);
        goto out;
    }
    const char *state = json_string_value(json_object_get(c.obj, "state"));
    bool live = c.moves_disks && !strcmp(state, "running");
    if (c.moves_disks && !live && strcmp(state, "stopped") != 0) {
        vm_err_set(err, VMERR_STATE, "snapshots of %s VMs are taken while running or stopped, currently: %s",
                   json_string_value(json_object_get(c.cfg, "brand")), state);
        goto out;
    }
    if (live) {
        struct live l = { ctx, uuid, c.rt };
        r = vs_snapshot_live(c.pool, c.snap, VS_RECURSIVE, live_switch, &l, err);
        if (r == -2) {
            /* QEMU kept writing into the frozen layers: stop it, then the
             * snapshot can be destroyed like any other. */
            vm_err e2 = VM_ERR_INIT;
            if (vm_stop_locked(ctx, uuid, c.cfg, 1, 0, true, &e2) < 0 || each_member(&c, name, vs_destroy, 0, &e2) < 0)
                vm_log(ctx, "error", "VM %s: undoing snapshot %s: %s", uuid, name, e2.msg);
            vm_err_prefix(err, "snapshot not taken, the VM was stopped: ");
            r = -1;
        }
    } else {
        r = vs_snapshot(c.pool, c.snap, VS_RECURSIVE, err);
    }
    if (r == 0)
        snapshot_changed(ctx, uuid, &c, name, "created", err);
out:
    snapctx_free(&c);
    return r;
}

/* vs_merge_fn: the runtime merges one layer of its open chain. */
static int live_merge(void *arg, json_t *merge, vm_err *err)
{
    struct live *l = arg;
    return l->rt->snapshot_merge(l->ctx, l->uuid, merge, err);
}

/* delete-snapshot of a running VM: the volumes' snapshots through the
 * runtime, one commit each, then the filesystems'. */
static int delete_live(const vm_ctx *ctx, const char *uuid, snapctx *c, const char *name, vm_err *err)
{
    struct live l = { ctx, uuid, c->rt };
    cleanup_json json_t *names = NULL;
    cleanup_free char *suffix = xasprintf("@vmsnap-%s", name);
    if (vs_list(c->pool, c->ds, VS_SNAPSHOT, VS_RECURSIVE, &names, err) < 0)
        return -1;
    size_t done = 0;
    for (int pass = 0; pass < 2; pass++) {
        size_t i;
        json_t *n;
        json_array_foreach(names, i, n) {
            const char *sn = json_string_value(n);
            if (!str_has_suffix(sn, suffix))
                continue;
            cleanup_free char *type = NULL;
            cleanup_free char *dsname = xstrndup(sn, strlen(sn) - strlen(suffix));
            vm_err te = VM_ERR_INIT;
            bool vol = vs_get_str(c->pool, dsname, "type", &type, &te) == 0 && !strcmp(type, "volume");
            if (vol != (pass == 0))
                continue;
            if (vs_destroy_live(c->pool, sn, vol ? live_merge : NULL, &l, err) < 0) {
                if (done)
                    vm_err_prefix(err, "snapshot %s is partly deleted (run delete-snapshot again): ", name);
                return -1;
            }
            done++;
        }
    }
    return 0;
}

int vm_snapshot_delete(const vm_ctx *ctx, const char *uuid, const char *name, vm_err *err)
{
    cleanup_lock vm_lock lk = VM_LOCK_INIT;
    snapctx c;
    int r = -1;
    if (open_existing(ctx, uuid, name, &lk, &c, err) < 0)
        goto out;
    const char *state = json_string_value(json_object_get(c.obj, "state"));
    if (c.moves_disks && c.rt->snapshot_merge && !strcmp(state, "running")) {
        r = delete_live(ctx, uuid, &c, name, err);
        if (r == 0)
            snapshot_changed(ctx, uuid, &c, name, "deleted", err);
        goto out;
    }
    if (c.moves_disks && strcmp(state, "stopped") != 0) {
        vm_err_set(err, VMERR_STATE, "snapshots of %s VMs are deleted while the VM is stopped, currently: %s",
                   json_string_value(json_object_get(c.cfg, "brand")),
                   json_string_value(json_object_get(c.obj, "state")));
        goto out;
    }
    /* zfs destroy -r ds@snap: the same-named snapshot of every disk too. */
    r = each_member(&c, name, vs_destroy, 0, err);
    if (r == 0)
        snapshot_changed(ctx, uuid, &c, name, "deleted", err);
out:
    snapctx_free(&c);
    return r;
}

int vm_snapshot_rollback(const vm_ctx *ctx, const char *uuid, const char *name, int no_start, vm_err *err)
{
    cleanup_lock vm_lock lk = VM_LOCK_INIT;
    cleanup_free char *cfgpath = NULL;
    snapctx c;
    int r = -1;
    if (open_existing(ctx, uuid, name, &lk, &c, err) < 0)
        goto out;
    /* The VM is stopped (forcibly) first (S18). */
    const char *state = json_string_value(json_object_get(c.obj, "state"));
    if (strcmp(state, "stopped") != 0) {
        vm_err se = VM_ERR_INIT;
        if (vm_stop_locked(ctx, uuid, c.cfg, 1, 0, true, &se) < 0 && se.code != VMERR_ALREADY) {
            *err = se;
            goto out;
        }
    }
    /* Every dataset of the VM that has @vmsnap-<name> rolls back (newer
     * snapshots go, as zfs rollback -r).  The intent is recorded first:
     * a rollback interrupted between two disks is completed by the next
     * command (rolling a disk back twice to the same snapshot is harmless,
     * the VM is stopped). */
    cfgpath = vm_store_config_path(ctx, uuid);
    json_object_set_new(c.cfg, "_rollback", json_string(name));
    if (write_json_atomic(cfgpath, c.cfg, err) < 0)
        goto out;
    if (each_member(&c, name, vs_rollback, VS_RECURSIVE, err) < 0)
        goto out;
    json_object_del(c.cfg, "_rollback");
    if (write_json_atomic(cfgpath, c.cfg, err) < 0)
        goto out;
    r = 0;
    vm_log(ctx, "info", "VM %s: rolled back to snapshot %s", uuid, name);
    /* Always started afterwards (S18), unless asked not to. */
    if (!no_start) {
        cleanup_json json_t *cfg2 = NULL;
        vm_err se = VM_ERR_INIT;
        if (vm_store_load_config(ctx, uuid, &cfg2, &se) == 0 && vm_start_locked(ctx, uuid, cfg2, &se) < 0 &&
            se.code != VMERR_ALREADY) {
            r = vm_err_set(err, se.code, "rolled back to %s, but the VM failed to start: %s", name, se.msg);
        }
    }
out:
    snapctx_free(&c);
    return r;
}

static int vm_snapshot_recover(const vm_ctx *ctx, const char *uuid, json_t *cfg, vm_err *err)
{
    const char *n0 = json_string_value(json_object_get(cfg, "_rollback"));
    if (!n0)
        return 0;
    /* Copied: the key is removed from cfg below. */
    cleanup_free char *name = xstrdup(n0);
    snapctx c;
    memset(&c, 0, sizeof c);
    cleanup_free char *cfgpath = vm_store_config_path(ctx, uuid);
    int r = -1;
    if (vs_pool_open(ctx, json_string_value(json_object_get(cfg, "zpool")), &c.pool, err) < 0)
        goto out;
    c.ds = xasprintf("%s/%s", vs_pool_name(c.pool), uuid);
    if (each_member(&c, name, vs_rollback, VS_RECURSIVE, err) < 0)
        goto out;
    json_object_del(cfg, "_rollback");
    r = write_json_atomic(cfgpath, cfg, err);
    if (r == 0)
        vm_log(ctx, "warn", "VM %s: completed an interrupted rollback to %s", uuid, name);
out:
    snapctx_free(&c);
    return r;
}

VM_INTENT(rollback, "_rollback", vm_snapshot_recover)
