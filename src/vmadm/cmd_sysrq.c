/* vmadm sysrq <uuid> <nmi|screenshot>. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm/vm.h"
#include "vmadm.h"

int cmd_sysrq(const vm_ctx *ctx, args *a)
{
    if (a->npos != 2)
        return usage("Wrong number of parameters to \"sysrq\"");
    if (strcmp(a->pos[1], "nmi") && strcmp(a->pos[1], "screenshot")) {
        char m[128];
        snprintf(m, sizeof m, "Invalid sysrq type: %s", a->pos[1]);
        return usage(m);
    }
    int r = need_uuid(a, "sysrq");
    if (r)
        return r;
    cleanup_json json_t *out = NULL;
    vm_err e = VM_ERR_INIT;
    if (vm_sysrq(ctx, a->pos[0], a->pos[1], &out, &e) < 0)
        return fail(&e);
    if (!strcmp(a->pos[1], "nmi"))
        fprintf(stderr, "Sent NMI to VM %s\n", a->pos[0]);
    else {
        if (out)
            print_json(out);
        fprintf(stderr, "Sent %s sysrq to VM %s\n", a->pos[1], a->pos[0]);
    }
    return 0;
}
