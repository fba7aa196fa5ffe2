/* start / stop / reboot / kill (reference C23–C27): the VM layer decides
 * what is allowed and keeps autoboot; the VM's runtime (runtime.h) does it. */
#include <string.h>

#include "common/lock.h"
#include "common/util.h"
#include "storage/storage.h"
#include "vm/props.h"
#include "vm/rawview.h"
#include "vm/recover.h"
#include "vm/runtime.h"
#include "vm/store.h"
#include "vm/vm.h"
#include "vm/vm_internal.h"
#include "vm/vmobj.h"

int vm_load_locked(const vm_ctx *ctx, const char *uuid, json_t **cfg, vm_err *err)
{
    if (!uuid_valid(uuid) || !vm_store_exists(ctx, uuid))
        return vm_err_set(err, VMERR_NOTFOUND, "VM %s not found", uuid);
    if (vm_store_recover(ctx, uuid, err) < 0)
        return -1;
    if (vm_store_load_config(ctx, uuid, cfg, err) < 0)
        return -1;
    return vm_recover_intents(ctx, uuid, *cfg, err);
}

/* Persists one top-level property of vm.json. */
static int set_cfg_bool(const vm_ctx *ctx, const char *uuid, json_t *cfg, const char *key, bool v, vm_err *err)
{
    json_t *cur = json_object_get(cfg, key);
    if (cur && json_is_boolean(cur) && json_is_true(cur) == v)
        return 0;
    json_object_set_new(cfg, key, json_boolean(v));
    cleanup_free char *path = vm_store_config_path(ctx, uuid);
    return write_json_atomic(path, cfg, err);
}

static const char *state_of(const vm_ctx *ctx, const char *uuid, json_t *cfg, vm_runstate *rs)
{
    const char *brand = json_string_value(json_object_get(cfg, "brand"));
    vm_runtime_state(ctx, brand, uuid, rs);
    if (json_object_get(cfg, "transition"))
        return "provisioning";
    if (json_object_get(cfg, "failed"))
        return "failed";
    return rs->running ? (strcmp(rs->zone_state, "running") ? rs->zone_state : "running") : "stopped";
}

/* SmartOS's start arguments of the HVM brands (C23): order= and once=,
 * boot device letters as QEMU's -boot takes them (c disk, d cdrom, n
 * network, a-p).  For this start only: the VM object gets "_start_boot"
 * (lib/hv adds -boot) and its disks lose "boot" — a bootindex would
 * override the order. */
static int apply_boot_order(json_t *obj, const char *order, const char *once, vm_err *err)
{
    const char *brand = json_string_value(json_object_get(obj, "brand"));
    if (!vm_brand_is_hvm(brand))
        return vm_err_set(err, VMERR_USAGE, "Invalid argument to start: %s", order ? "order" : "once");
    const char *vals[2] = { order, once };
    for (int i = 0; i < 2; i++)
        if (vals[i] && (!*vals[i] || strlen(vals[i]) > 16 || strspn(vals[i], "abcdefghijklmnop") != strlen(vals[i])))
            return vm_err_set(err, VMERR_USAGE, "Invalid boot device order: %s", vals[i]);
    cleanup_free char *s = order && once ? xasprintf("order=%s,once=%s", order, once)
        : order                          ? xasprintf("order=%s", order)
                                         : xasprintf("once=%s", once);
    json_object_set_new(obj, "_start_boot", json_string(s));
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(obj, "disks"), i, d)
        json_object_del(d, "boot");
    return 0;
}

static int start_locked(const vm_ctx *ctx, const char *uuid, json_t *cfg, const char *order, const char *once,
                        vm_err *err)
{
    vm_runstate rs;
    const char *state = state_of(ctx, uuid, cfg, &rs);

    if (rs.running)
        return vm_err_set(err, VMERR_ALREADY, "VM %s is already 'running'", uuid);
    if (strcmp(state, "stopped") != 0)
        return vm_err_set(err, VMERR_STATE, "Cannot start vm from state \"%s\", must be \"stopped\".", state);
    cleanup_json json_t *obj = NULL;
    if (vmobj_load(ctx, uuid, &obj, err) < 0)
        return -1;
    if ((order || once) && apply_boot_order(obj, order, once, err) < 0)
        return -1;
    const char *poolname = json_string_value(json_object_get(cfg, "zpool"));
    cleanup_vs_pool vs_pool *pool = NULL;
    if (vs_pool_open(ctx, poolname, &pool, err) < 0)
        return -1;
    if (vm_runtime_of(cfg)->start(ctx, pool, obj, err) < 0)
        return -1;
    /* start sets autoboot (C23), once the VM really runs. */
    if (set_cfg_bool(ctx, uuid, cfg, "autoboot", true, err) < 0)
        return -1;
    vm_log(ctx, "info", "VM %s started", uuid);
    return 0;
}

/* Starts a VM whose lock is held (also used by create and reprovision). */
int vm_start_locked(const vm_ctx *ctx, const char *uuid, json_t *cfg, vm_err *err)
{
    return start_locked(ctx, uuid, cfg, NULL, NULL, err);
}

int vm_start_boot(const vm_ctx *ctx, const char *uuid, const char *order, const char *once, vm_err *err)
{
    cleanup_lock vm_lock lk = VM_LOCK_INIT;
    cleanup_json json_t *cfg = NULL;
    /* An open raw disk view holds the VM's lock: refuse, not wait. */
    if (vm_rawview_check_start(ctx, uuid, 2000, err) < 0)
        return -1;
    if (vm_lock_acquire(ctx, uuid, -1, &lk, err) < 0 || vm_load_locked(ctx, uuid, &cfg, err) < 0)
        return -1;
    return start_locked(ctx, uuid, cfg, order, once, err);
}

int vm_start(const vm_ctx *ctx, const char *uuid, vm_err *err)
{
    return vm_start_boot(ctx, uuid, NULL, NULL, err);
}

int vm_stop_locked(const vm_ctx *ctx, const char *uuid, json_t *cfg, int force, int timeout_s, bool keep_autoboot,
                   vm_err *err)
{
    const vm_runtime *rt = vm_runtime_of(cfg);
    vm_runstate rs;
    const char *state = state_of(ctx, uuid, cfg, &rs);

    /* stop always clears autoboot first (C24). */
    if (!keep_autoboot && set_cfg_bool(ctx, uuid, cfg, "autoboot", false, err) < 0)
        return -1;
    if (!rs.running) {
        if (force)
            return vm_err_set(err, VMERR_STATE, "first of 1 error: VM %s is already not 'running' (currently: %s)",
                              uuid, state);
        return vm_err_set(err, VMERR_ALREADY, "VM %s is already not 'running' (currently: %s)", uuid, state);
    }
    if (timeout_s <= 0)
        timeout_s = rt->stop_grace_s;
    cleanup_json json_t *obj = NULL;
    if (vmobj_load(ctx, uuid, &obj, err) < 0)
        return -1;
    int r = rt->stop(ctx, obj, force, timeout_s, err);
    if (r == 0)
        vm_log(ctx, "info", "VM %s stopped%s", uuid, force ? " (forced)" : "");
    return r;
}

int vm_stop(const vm_ctx *ctx, const char *uuid, int force, int timeout_s, vm_err *err)
{
    cleanup_lock vm_lock lk = VM_LOCK_INIT;
    cleanup_json json_t *cfg = NULL;
    if (vm_lock_acquire(ctx, uuid, -1, &lk, err) < 0 || vm_load_locked(ctx, uuid, &cfg, err) < 0)
        return -1;
    return vm_stop_locked(ctx, uuid, cfg, force, timeout_s, false, err);
}

int vm_reboot(const vm_ctx *ctx, const char *uuid, int force, vm_err *err)
{
    cleanup_lock vm_lock lk = VM_LOCK_INIT;
    cleanup_json json_t *cfg = NULL;
    vm_runstate rs;
    if (vm_lock_acquire(ctx, uuid, -1, &lk, err) < 0 || vm_load_locked(ctx, uuid, &cfg, err) < 0)
        return -1;
    const char *state = state_of(ctx, uuid, cfg, &rs);
    const vm_runtime *rt = vm_runtime_of(cfg);
    if (!rs.running)
        return vm_err_set(err, VMERR_STATE,
                          force ? "Cannot reset vm from state \"%s\", must be \"running\"."
                                : "Cannot reboot vm from state \"%s\", must be \"running\"",
                          state);
    if (force && rt->reset)
        return rt->reset(ctx, uuid, err);
    /* Reboot = stop (10 s grace) + start (C26), and so is a forced reboot
     * of a runtime without a hard reset. */
    if (vm_stop_locked(ctx, uuid, cfg, force, 10, true, err) < 0)
        return -1;
    return vm_start_locked(ctx, uuid, cfg, err);
}

int vm_kill(const vm_ctx *ctx, const char *uuid, int sig, vm_err *err)
{
    cleanup_json json_t *cfg = NULL;
    vm_runstate rs;
    if (vm_store_load_config(ctx, uuid, &cfg, err) < 0)
        return -1;
    state_of(ctx, uuid, cfg, &rs);
    /* SmartOS's words; node-vmadm maps them to ENOTRUNNING. */
    if (!rs.running)
        return vm_err_set(err, VMERR_STATE, "Cannot find running init PID for VM %s", uuid);
    return vm_runtime_of(cfg)->kill(ctx, uuid, sig, err);
}
