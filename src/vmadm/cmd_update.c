/* vmadm update <uuid> [-f <file> | property=value ..]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm/vm.h"
#include "vmadm.h"

static json_t *keyvalue_payload(args *a)
{
    json_t *p = json_object();
    for (int i = 1; i < a->npos; i++) {
        char *eq = strchr(a->pos[i], '=');
        if (!eq)
            json_object_set_new(p, a->pos[i], json_string(""));
        else {
            cleanup_free char *k = xstrndup(a->pos[i], (size_t)(eq - a->pos[i]));
            json_object_set_new(p, k, json_string(eq + 1));
        }
    }
    return p;
}

static void print_notice(const char *msg)
{
    fprintf(stderr, "%s\n", msg);
}

int cmd_update(const vm_ctx *ctx, args *a)
{
    int r = need_uuid(a, "update");
    if (r)
        return r;
    json_t *payload = NULL;
    if (a->npos > 1)
        payload = keyvalue_payload(a);
    else if ((r = read_payload(a->f, "Will not update from stdin when stdin is a tty.", &payload)))
        return r;
    vm_err e = VM_ERR_INIT;
    vm_sync *s = sync_open(ctx, "update", a->pos[0]);
    vm_set_notice_fn(print_notice);
    r = vm_update(ctx, a->pos[0], payload, &e);
    json_decref(payload);
    return write_done(s, a->pos[0], r, &e, NULL, "Successfully updated VM");
}
