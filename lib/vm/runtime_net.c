/* NIC plumbing of the QEMU and LXC runtimes (see runtime_net.h). */
#include "vm/runtime_net.h"

#include "net/net.h"

int vm_net_update(const vm_ctx *ctx, json_t *vmobj, bool running, vm_err *err)
{
    if (!running)
        return 0;
    net_plan *plan = NULL;
    if (net_plan_build(ctx, vmobj, &plan, err) < 0)
        return -1;
    /* Replaces the VM's chains (and drops those of NICs it no longer
     * has) in one transaction: the old or the new protection holds. */
    int rc = net_filter_apply(plan, err);
    net_plan_free(plan);
    return rc;
}
