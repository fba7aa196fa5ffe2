/* vmadm console <uuid>: the VM's console until CTRL-]. */
#include "vm/vm.h"
#include "vmadm.h"

int cmd_console(const vm_ctx *ctx, args *a)
{
    int r = need_uuid(a, "console");
    if (r)
        return r;
    vm_err e = VM_ERR_INIT;
    return vm_console(ctx, a->pos[0], &e) < 0 ? fail(&e) : 0;
}
