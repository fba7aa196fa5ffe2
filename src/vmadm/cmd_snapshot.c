/* vmadm create-snapshot | delete-snapshot | rollback-snapshot <uuid> <name>. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm/vm.h"
#include "vmadm.h"

int cmd_snapshot(const vm_ctx *ctx, args *a)
{
    const char *cmd = a->cmd;
    if (a->npos != 2) {
        char m[128];
        snprintf(m, sizeof m, "Wrong number of parameters to \"%s\"", cmd);
        return usage(m);
    }
    int r = need_uuid(a, cmd);
    if (r)
        return r;
    vm_err e = VM_ERR_INIT;
    const char *u = a->pos[0], *n = a->pos[1];
    vm_sync *s = sync_open(ctx, cmd, u);
    cleanup_free char *ok = NULL;
    if (!strcmp(cmd, "create-snapshot")) {
        r = vm_snapshot_create(ctx, u, n, &e);
        ok = xasprintf("Created snapshot %s for VM", n);
    } else if (!strcmp(cmd, "delete-snapshot")) {
        r = vm_snapshot_delete(ctx, u, n, &e);
        ok = xasprintf("Deleted snapshot %s for VM", n);
    } else {
        r = vm_snapshot_rollback(ctx, u, n, 0, &e);
        ok = xasprintf("Rolled back snapshot %s for VM", n);
    }
    return write_done(s, u, r, &e, NULL, ok);
}
