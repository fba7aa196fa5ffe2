/* vmadm info <uuid> [type,..]: what the running hypervisor reports. */
#include <stdio.h>

#include "vm/vm.h"
#include "vmadm.h"

int cmd_info(const vm_ctx *ctx, args *a)
{
    int r = need_uuid(a, "info");
    if (r)
        return r;
    cleanup_json json_t *out = NULL;
    vm_err e = VM_ERR_INIT;
    char *types[64] = { 0 };
    int nt = 0;
    char **split[64] = { 0 };
    for (int i = 1; i < a->npos && nt < 60; i++) {
        split[i] = strv_split(a->pos[i], ", ");
        for (size_t k = 0; split[i][k] && nt < 60; k++)
            types[nt++] = split[i][k];
    }
    r = vm_info(ctx, a->pos[0], nt ? types : NULL, &out, &e);
    for (int i = 0; i < 64; i++)
        strv_free(split[i]);
    if (r < 0) {
        fprintf(stderr, "Unable to get VM info for VM %s: %s\n", a->pos[0], e.msg);
        return 1;
    }
    print_json(out);
    return 0;
}
