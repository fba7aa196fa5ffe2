/* vmadm login <uuid> [command ..]: a shell or command inside a container;
 * exits with the command's status. */
#include <stdio.h>

#include "vm/vm.h"
#include "vmadm.h"

int cmd_login(const vm_ctx *ctx, args *a)
{
    int r = need_uuid(a, "login");
    if (r)
        return r;
    int status = 0;
    vm_err e = VM_ERR_INIT;
    if (vm_login(ctx, a->pos[0], a->npos > 1 ? a->pos + 1 : NULL, &status, &e) < 0)
        return fail(&e);
    return status;
}
