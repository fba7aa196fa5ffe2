/* The QEMU runtime (HVM brands): lib/hv behind the runtime table. */
#include "vm/runtime.h"

#include "common/util.h"
#include "hv/hv.h"
#include "net/net.h"
#include "vm/runtime_net.h"

static void qemu_state(const vm_ctx *ctx, const char *uuid, vm_runstate *rs)
{
    hv_runstate(ctx, uuid, rs);
}

/* Once QEMU is gone its taps are gone too; its filter goes here. */
static int qemu_stop(const vm_ctx *ctx, json_t *vmobj, int force, int timeout_s, vm_err *err)
{
    const char *uuid = json_string_value(json_object_get(vmobj, "uuid"));
    int rc = hv_stop(ctx, uuid, force, timeout_s, err);
    vm_runstate rs;
    if (hv_runstate(ctx, uuid, &rs) == 0 && !rs.running) {
        vm_err e = VM_ERR_INIT;
        if (net_vm_teardown(ctx, uuid, rc < 0 ? &e : err) < 0 && rc == 0)
            return -1;
    }
    return rc;
}

static int qemu_net_update(const vm_ctx *ctx, json_t *vmobj, vm_err *err)
{
    vm_runstate rs;
    hv_runstate(ctx, json_string_value(json_object_get(vmobj, "uuid")), &rs);
    return vm_net_update(ctx, vmobj, rs.running, err);
}

/* QEMU moves every snapshotted disk onto its new overlay, all disks at once
 * (one QMP transaction).  A VM that is not running any more has no writer
 * to move. */
static int qemu_snapshot_switch(const vm_ctx *ctx, const char *uuid, json_t *switches, vm_err *err)
{
    if (hv_snapshot_switch(ctx, uuid, switches, err) == 0)
        return 0;
    vm_runstate rs;
    if (hv_runstate(ctx, uuid, &rs) == 0 && !rs.running) {
        vm_err_clear(err);
        return 0;
    }
    vm_err_prefix(err, "QEMU could not move its disks onto the snapshot overlays: ");
    return -1;
}

static int qemu_check_disk_path(const vm_ctx *ctx, const char *poolname, const char *uuid, const char *path,
                                vm_err *err)
{
    /* Before create there is no dataset yet: the allow-list alone decides. */
    cleanup_vs_pool vs_pool *pool = NULL;
    vm_err pe = VM_ERR_INIT;
    if (uuid && poolname && vs_pool_open(ctx, poolname, &pool, &pe) < 0)
        pool = NULL;
    return hv_check_disk_path(ctx, pool, uuid, path, err);
}

const vm_runtime vm_runtime_qemu = {
    .name = "qemu",
    .stop_grace_s = 180,
    .state = qemu_state,
    .start = hv_start,
    .stop = qemu_stop,
    .kill = hv_kill,
    .reset = hv_reset,
    .console = hv_console,
    .info = hv_info,
    .sysrq = hv_sysrq,
    .grow_disk = hv_block_resize,
    .snapshot_switch = qemu_snapshot_switch,
    .snapshot_merge = hv_block_merge,
    .check_disk_path = qemu_check_disk_path,
    .forget = net_vm_teardown,
    .net_update = qemu_net_update,
};
