/* vmadm stop <uuid> [-F] [-t timeout]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm/vm.h"
#include "vmadm.h"

int cmd_stop(const vm_ctx *ctx, args *a)
{
    int r = need_uuid(a, "stop");
    if (r)
        return r;
    int64_t t = 0;
    if (a->t && (!parse_i64(a->t, &t) || t <= 0))
        return usage("Invalid timeout");
    vm_err e = VM_ERR_INIT;
    vm_sync *s = sync_open(ctx, "stop", a->pos[0]);
    r = vm_stop(ctx, a->pos[0], a->F, (int)t, &e);
    return write_done(s, a->pos[0], r, &e, NULL, "Successfully completed stop for VM");
}
