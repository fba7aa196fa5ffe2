/* vmadm validate create|update <brand> [-f <file>]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm/vm.h"
#include "vmadm.h"

int cmd_validate(const vm_ctx *ctx, args *a)
{
    json_t *payload = NULL;
    if (a->npos < 1 || (strcmp(a->pos[0], "create") && strcmp(a->pos[0], "update")))
        return usage("Will not validate without a valid action.");
    if (!strcmp(a->pos[0], "update") && a->npos != 2)
        return usage("Will not validate without a valid action and brand.");
    int r = read_payload(a->f, "Will not validate from stdin when stdin is a tty.", &payload);
    if (r)
        return r;
    cleanup_free char *brand =
        xstrdup(!strcmp(a->pos[0], "update") ? a->pos[1] : json_string_value(json_object_get(payload, "brand")));
    json_t *res = vm_validate_payload(ctx, a->pos[0], brand, payload);
    json_decref(payload);
    if (!res) {
        fprintf(stderr, "VALID '%s' payload for %s brand VMs.\n", a->pos[0], brand);
        return 0;
    }
    cleanup_free char *s = json_pretty(res);
    fprintf(stderr, "%s\n", s);
    json_decref(res);
    return 1;
}
