/* The LXC runtime (zone brands): lib/ct behind the runtime table. */
#include "vm/runtime.h"

#include "ct/ct.h"

static void lxc_state(const vm_ctx *ctx, const char *uuid, vm_runstate *rs)
{
    ct_runstate(ctx, uuid, rs);
}

const vm_runtime vm_runtime_lxc = {
    .name = "lxc",
    .stop_grace_s = 60,
    .state = lxc_state,
    .start = ct_start,
    .stop = ct_stop,
    .kill = ct_kill,
    .console = ct_console,
    .login = ct_login,
    .apply_limits = ct_apply_limits,
    .forget = ct_idmap_release,
};
