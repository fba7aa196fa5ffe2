/* vmadm get <uuid>: the VM object as JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm/select.h"
#include "vmadm.h"

int cmd_get(const vm_ctx *ctx, args *a)
{
    int r = need_uuid(a, "get");
    if (r)
        return r;
    json_t *o = NULL;
    vm_err e = VM_ERR_INIT;
    if (vm_select_load_one(ctx, a->pos[0], &o, &e) < 0) {
        if (e.code == VMERR_NOTFOUND)
            fprintf(stderr, "zoneadm: %s: No such zone configured\n", a->pos[0]);
        else
            fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    print_json(o);
    json_decref(o);
    return 0;
}
