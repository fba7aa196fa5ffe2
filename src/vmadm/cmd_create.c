/* vmadm create [-f <file>]: a VM from a payload (stdin or file). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm/vm.h"
#include "vmadm.h"

int cmd_create(const vm_ctx *ctx, args *a)
{
    json_t *payload = NULL;
    int r = read_payload(a->f, "Will not create from stdin when stdin is a tty.", &payload);
    if (r)
        return r;
    vm_err e = VM_ERR_INIT;
    char uuid[37];
    vm_sync *s = sync_open(ctx, "create", NULL);
    r = vm_create(ctx, payload, uuid, &e);
    json_decref(payload);
    if (r < 0) {
        vm_sync_end(s);
        return fail(&e);
    }
    if (sync_after(s, uuid))
        return 1;
    fprintf(stderr, "Successfully created VM %s\n", uuid);
    return 0;
}
