/* vmadm migrate --finalize / --rollback / --abort, and the destination's
 * cleanup (migrate.h). */
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "migrate/mig_internal.h"
#include "migrate/mig_record.h"
#include "migrate/migrate.h"
#include "vm/runtime.h"
#include "vm/store.h"
#include "vm/vm.h"

/* Every transfer snapshot of the VM's datasets. */
static int drop_xfer_snaps(const vm_ctx *ctx, const char *uuid, vm_err *err)
{
    cleanup_json json_t *cfg = NULL;
    cleanup_vs_pool vs_pool *pool = NULL;
    cleanup_json json_t *dss = NULL;
    if (mig_open_vm(ctx, uuid, &cfg, &pool, &dss, err) < 0)
        return -1;
    size_t i;
    json_t *d;
    json_array_foreach(dss, i, d) {
        cleanup_json json_t *snaps = NULL;
        if (vs_list(pool, json_string_value(json_object_get(d, "name")), VS_SNAPSHOT, 0, &snaps, err) < 0)
            return -1;
        size_t k;
        json_t *s;
        json_array_foreach(snaps, k, s) {
            const char *at = strchr(json_string_value(s), '@');
            if (at && str_has_prefix(at + 1, MIG_SNAP_PREFIX) && vs_destroy(pool, json_string_value(s), 0, err) < 0)
                return -1;
        }
    }
    return 0;
}

int mig_target_cleanup(const vm_ctx *ctx, const char *uuid, vm_err *err)
{
    vm_runstate rs;
    cleanup_json json_t *cfg = NULL;
    if (vm_store_load_config(ctx, uuid, &cfg, err) < 0)
        return -1;
    vm_runtime_state(ctx, json_string_value(json_object_get(cfg, "brand")), uuid, &rs);
    /* A running HVM VM holds its layers: they merge at its next stop. */
    if (rs.running && vm_runtime_of(cfg)->snapshot_switch)
        return 0;
    if (drop_xfer_snaps(ctx, uuid, err) < 0)
        return -1;
    /* The space rule again, now that the transfer snapshots are gone. */
    cleanup_vs_pool vs_pool *pool = NULL;
    json_object_set_new(cfg, "uuid", json_string(uuid));
    if (vs_pool_open(ctx, json_string_value(json_object_get(cfg, "zpool")), &pool, err) < 0)
        return -1;
    return mig_space_apply(ctx, pool, cfg, err);
}

static int load_record(const vm_ctx *ctx, const char *uuid, json_t **rec, mig_dest *d, vm_err *err)
{
    int k = mig_record_load(ctx, uuid, rec, err);
    if (k < 0)
        return -1;
    if (k == 0)
        return vm_err_set(err, VMERR_NOTFOUND, "VM %s has no migration to act on", uuid);
    return mig_dest_parse(json_string_value(json_object_get(*rec, "dest")), d, err);
}

int mig_finalize(const vm_ctx *ctx, const char *uuid, vm_err *err)
{
    cleanup_json json_t *rec = NULL;
    mig_dest d = { 0 };
    int r = -1;
    if (load_record(ctx, uuid, &rec, &d, err) < 0)
        goto out;
    if (strcmp(json_string_value(json_object_get(rec, "phase")) ?: "", "switched") != 0) {
        vm_err_set(err, VMERR_STATE, "VM %s has not switched to %s yet: nothing to finalize", uuid, d.spec);
        goto out;
    }
    char *args[] = { "migrate", "--target-cleanup", (char *)uuid, NULL };
    vm_err e2 = VM_ERR_INIT;
    if (mig_dest_run(&d, args, NULL, &e2) < 0)
        vm_log(ctx, "warn", "VM %s: destination cleanup: %s", uuid, e2.msg);
    /* The source copy goes: it is stopped and hidden since the switch. */
    if (vm_store_exists(ctx, uuid)) {
        cleanup_json json_t *p =
            json_pack("{s:b,s:b}", "indestructible_zoneroot", false, "indestructible_delegated", false);
        vm_update(ctx, uuid, p, &e2);
        if (vm_delete(ctx, uuid, err) < 0)
            goto out;
    }
    mig_record_remove(ctx, uuid);
    r = 0;
out:
    mig_dest_free(&d);
    return r;
}

int mig_rollback(const vm_ctx *ctx, const char *uuid, vm_err *err)
{
    cleanup_json json_t *rec = NULL;
    mig_dest d = { 0 };
    int r = -1;
    if (load_record(ctx, uuid, &rec, &d, err) < 0)
        goto out;
    if (mig_record_owner_alive(rec)) {
        vm_err_set(err, VMERR_BUSY, "VM %s is being migrated (pid %lld): use --abort", uuid,
                   (long long)json_integer_value(json_object_get(rec, "pid")));
        goto out;
    }
    /* The destination copy: stopped first (never both running), then
     * deleted.  A copy that is not there is fine. */
    char *stop[] = { "stop", "-F", (char *)uuid, NULL };
    char *del[] = { "delete", (char *)uuid, NULL };
    vm_err e2 = VM_ERR_INIT;
    mig_dest_run(&d, stop, NULL, &e2);
    vm_err de = VM_ERR_INIT;
    if (mig_dest_run(&d, del, NULL, &de) < 0 && !strstr(de.msg, "No such VM") && !strstr(de.msg, "does not exist")) {
        *err = de;
        vm_err_prefix(err, "cannot remove the destination copy: ");
        goto out;
    }
    /* What an interrupted round left there to resume from. */
    char *discard[] = { "receive", "-A", (char *)uuid, NULL };
    if (mig_dest_run(&d, discard, NULL, &e2) < 0)
        vm_log(ctx, "warn", "VM %s: discarding the partial receive at %s: %s", uuid, d.spec, e2.msg);
    if (vm_store_exists(ctx, uuid)) {
        cleanup_json json_t *p = json_pack("{s:b}", "do_not_inventory", false);
        if (vm_update(ctx, uuid, p, err) < 0)
            goto out;
        vm_runstate rs;
        cleanup_json json_t *cfg = NULL;
        if (vm_store_load_config(ctx, uuid, &cfg, err) < 0)
            goto out;
        vm_runtime_state(ctx, json_string_value(json_object_get(cfg, "brand")), uuid, &rs);
        if (!rs.running && drop_xfer_snaps(ctx, uuid, &e2) < 0)
            vm_log(ctx, "warn", "VM %s: dropping transfer snapshots: %s", uuid, e2.msg);
        if (json_is_true(json_object_get(rec, "was_running")) && !rs.running && vm_start(ctx, uuid, err) < 0 &&
            err->code != VMERR_ALREADY)
            goto out;
    }
    mig_record_remove(ctx, uuid);
    r = 0;
out:
    mig_dest_free(&d);
    return r;
}

int mig_abort(const vm_ctx *ctx, const char *uuid, vm_err *err)
{
    cleanup_json json_t *rec = NULL;
    int k = mig_record_load(ctx, uuid, &rec, err);
    if (k <= 0)
        return k < 0 ? -1 : vm_err_set(err, VMERR_NOTFOUND, "VM %s has no migration to abort", uuid);
    if (strcmp(json_string_value(json_object_get(rec, "phase")) ?: "", "switched") == 0)
        return vm_err_set(err, VMERR_STATE, "VM %s has switched already: use --rollback", uuid);
    if (mig_record_owner_alive(rec)) {
        pid_t pid = (pid_t)json_integer_value(json_object_get(rec, "pid"));
        kill(pid, SIGTERM);
        /* It rolls back itself; wait until its record says it stopped. */
        for (int i = 0; i < 6000; i++) {
            json_t *now = NULL;
            vm_err e2 = VM_ERR_INIT;
            if (mig_record_load(ctx, uuid, &now, &e2) <= 0)
                return 0;
            bool alive = mig_record_owner_alive(now);
            json_decref(now);
            if (!alive)
                break;
            usleep(10000);
        }
    }
    json_t *again = NULL;
    if (mig_record_load(ctx, uuid, &again, err) <= 0)
        return 0;
    json_decref(again);
    return mig_rollback(ctx, uuid, err);
}
