/* vmadm reboot <uuid> [-F]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm/vm.h"
#include "vmadm.h"

int cmd_reboot(const vm_ctx *ctx, args *a)
{
    int r = need_uuid(a, "reboot");
    if (r)
        return r;
    vm_err e = VM_ERR_INIT;
    vm_sync *s = sync_open(ctx, "reboot", a->pos[0]);
    r = vm_reboot(ctx, a->pos[0], a->F, &e);
    return write_done(s, a->pos[0], r, &e, NULL, "Successfully completed reboot for VM");
}
