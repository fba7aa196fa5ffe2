/* vmadm login <uuid> [command ..]: a shell or command inside a container;
 * exits with the command's status. */
#include <stdio.h>

#include "vm/vm.h"
#include "vmadm.h"

int cmd_login(const vm_ctx *ctx, args *a)
{
    if (a->argc < 3 || !uuid_shape(a->argv[2]))
        return usage("Invalid or missing UUID for login");
    int status = 0;
    vm_err e = VM_ERR_INIT;
    if (vm_login(ctx, a->argv[2], a->argc > 3 ? a->argv + 3 : NULL, &status, &e) < 0)
        return fail(&e);
    return status;
}
