/* The LXC runtime (zone brands): lib/ct behind the runtime table. */
#include "vm/runtime.h"

#include "ct/ct.h"
#include "net/net.h"
#include "vm/runtime_net.h"

static void lxc_state(const vm_ctx *ctx, const char *uuid, vm_runstate *rs)
{
    ct_runstate(ctx, uuid, rs);
}

/* Once the container is gone its veth pairs go (a clean LXC stop hands the
 * guest ends back to the host), and its filter. */
static int lxc_stop(const vm_ctx *ctx, json_t *vmobj, int force, int timeout_s, vm_err *err)
{
    const char *uuid = json_string_value(json_object_get(vmobj, "uuid"));
    int rc = ct_stop(ctx, vmobj, force, timeout_s, err);
    vm_runstate rs;
    if (ct_runstate(ctx, uuid, &rs) == 0 && !rs.running) {
        vm_err e = VM_ERR_INIT;
        if (net_vm_teardown(ctx, uuid, rc < 0 ? &e : err) < 0 && rc == 0)
            return -1;
    }
    return rc;
}

static int lxc_net_update(const vm_ctx *ctx, json_t *vmobj, vm_err *err)
{
    vm_runstate rs;
    ct_runstate(ctx, json_string_value(json_object_get(vmobj, "uuid")), &rs);
    return vm_net_update(ctx, vmobj, rs.running, err);
}

/* Delete: the id range and whatever of the VM is still on the host. */
static int lxc_forget(const vm_ctx *ctx, const char *uuid, vm_err *err)
{
    vm_err ne = VM_ERR_INIT;
    int rc = net_vm_teardown(ctx, uuid, &ne);
    /* The id range goes even when the network teardown failed. */
    if (ct_idmap_release(ctx, uuid, err) < 0)
        return -1;
    if (rc < 0)
        *err = ne;
    return rc;
}

const vm_runtime vm_runtime_lxc = {
    .name = "lxc",
    .stop_grace_s = 60,
    .state = lxc_state,
    .start = ct_start,
    .stop = lxc_stop,
    .kill = ct_kill,
    .console = ct_console,
    .login = ct_login,
    .apply_limits = ct_apply_limits,
    .forget = lxc_forget,
    .net_update = lxc_net_update,
};
