/* vmadm start <uuid>. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm/vm.h"
#include "vmadm.h"

/* vmadm start <uuid> [order=<devs>] [once=<devs>] (C23; HVM brands). */
int cmd_start(const vm_ctx *ctx, args *a)
{
    int r = need_uuid(a, "start");
    if (r)
        return r;
    const char *order = NULL, *once = NULL;
    for (int i = 1; i < a->npos; i++) {
        const char *arg = a->pos[i], *eq = strchr(arg, '=');
        size_t kl = eq ? (size_t)(eq - arg) : strlen(arg);
        const char **slot = kl == 5 && !strncmp(arg, "order", 5) ? &order
            : kl == 4 && !strncmp(arg, "once", 4)                ? &once
                                                                 : NULL;
        char m[256];
        if (!slot || !eq) {
            snprintf(m, sizeof m, "Invalid argument to start: %.*s", (int)kl, arg);
            return usage(m);
        }
        if (*slot) {
            snprintf(m, sizeof m, "You can only specify '%.*s' once when starting a VM", (int)kl, arg);
            return usage(m);
        }
        *slot = eq + 1;
    }
    vm_err e = VM_ERR_INIT;
    vm_sync *s = sync_open(ctx, "start", a->pos[0]);
    r = vm_start_boot(ctx, a->pos[0], order, once, &e);
    return write_done(s, a->pos[0], r, &e, "Unable to start VM", "Successfully started VM");
}
