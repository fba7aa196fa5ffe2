/* vmadm start <uuid>. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm/vm.h"
#include "vmadm.h"

int cmd_start(const vm_ctx *ctx, args *a)
{
    int r = need_uuid(a, "start");
    if (r)
        return r;
    for (int i = 1; i < a->npos; i++) {
        cleanup_free char *k = strchr(a->pos[i], '=')
            ? xstrndup(a->pos[i], (size_t)(strchr(a->pos[i], '=') - a->pos[i]))
            : xstrdup(a->pos[i]);
        char m[256];
        snprintf(m, sizeof m, "Invalid argument to start: %s", k);
        return usage(m);
    }
    vm_err e = VM_ERR_INIT;
    vm_sync *s = sync_open(ctx, "start", a->pos[0]);
    r = vm_start(ctx, a->pos[0], &e);
    return write_done(s, a->pos[0], r, &e, "Unable to start VM", "Successfully started VM");
}
