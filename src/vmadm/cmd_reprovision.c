/* vmadm reprovision <uuid> [-f <file>]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm/vm.h"
#include "vmadm.h"

int cmd_reprovision(const vm_ctx *ctx, args *a)
{
    int r = need_uuid(a, "reprovision");
    if (r)
        return r;
    json_t *payload = NULL;
    if ((r = read_payload(a->f, "Will not take payload from stdin when stdin is a tty.", &payload)))
        return r;
    vm_err e = VM_ERR_INIT;
    vm_sync *s = sync_open(ctx, "reprovision", a->pos[0]);
    r = vm_reprovision(ctx, a->pos[0], payload, &e);
    json_decref(payload);
    if (r < 0 && e.code == VMERR_ALREADY)
        e.code = VMERR_INVALID; /* a reprovision error is never a no-op */
    return write_done(s, a->pos[0], r, &e, "Failed to reprovision VM", "Successfully reprovisioned VM");
}
