/* vmadm delete <uuid>. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm/vm.h"
#include "vmadm.h"

int cmd_delete(const vm_ctx *ctx, args *a)
{
    int r = need_uuid(a, "delete");
    if (r)
        return r;
    vm_err e = VM_ERR_INIT;
    vm_sync *s = sync_open(ctx, "delete", a->pos[0]);
    r = vm_delete(ctx, a->pos[0], &e);
    return write_done(s, a->pos[0], r, &e, "Failed to delete VM", "Successfully deleted VM");
}
