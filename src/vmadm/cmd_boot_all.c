/* vmadm boot-all: every autoboot VM, at host start. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm/vm.h"
#include "vmadm.h"

int cmd_boot_all(const vm_ctx *ctx, args *a)
{
    (void)a;
    cleanup_json json_t *rep = NULL;
    vm_err e = VM_ERR_INIT;
    if (vm_boot_all(ctx, &rep, &e) < 0)
        return fail(&e);
    size_t i, bad = 0;
    json_t *x;
    json_array_foreach(rep, i, x) {
        const char *u = json_string_value(json_object_get(x, "uuid"));
        if (json_is_true(json_object_get(x, "ok")))
            fprintf(stderr, "Successfully started VM %s\n", u);
        else {
            fprintf(stderr, "Unable to start VM %s: %s\n", u, json_string_value(json_object_get(x, "error")));
            bad++;
        }
    }
    return bad ? 1 : 0;
}
