/* imgadm get and delete: one installed image by uuid. */
#include <stdio.h>
#include <unistd.h>

#include "common/util.h"
#include "image/image.h"
#include "imgadm.h"

static int pool_and_uuid(int argc, char **argv, const char *cmd, const char **pool, const char **uuid)
{
    int c;
    vm_opts op;
    vm_opts_init(&op, argc, argv, "P:h", NULL, 0);
    while ((c = vm_opts_next(&op)) != -1) {
        switch (c) {
        case 'P': *pool = op.arg; break;
        case 'h': imgadm_usage(stdout); return 0;
        default: return imgadm_opt_error(&op, c);
        }
    }
    if (op.npos != 1)
        return imgadm_usage_error("%s needs exactly one image uuid", cmd);
    *uuid = op.pos[0];
    return -1;
}

int imgadm_cmd_get(vm_ctx *ctx, int argc, char **argv)
{
    const char *pool = NULL, *uuid = NULL;
    int r = pool_and_uuid(argc, argv, "get", &pool, &uuid);
    if (r >= 0)
        return r;
    vm_err err = VM_ERR_INIT;
    cleanup_json json_t *m = NULL;
    if (img_get(ctx, pool, uuid, &m, &err) < 0)
        return imgadm_fail(&err);
    cleanup_json json_t *out = json_pack("{sOss}", "manifest", m, "zpool", pool && *pool ? pool : ctx->pool);
    cleanup_free char *s = json_pretty(out);
    printf("%s\n", s);
    return 0;
}

int imgadm_cmd_delete(vm_ctx *ctx, int argc, char **argv)
{
    const char *pool = NULL, *uuid = NULL;
    int r = pool_and_uuid(argc, argv, "delete", &pool, &uuid);
    if (r >= 0)
        return r;
    vm_err err = VM_ERR_INIT;
    if (img_delete(ctx, pool, uuid, &err) < 0)
        return imgadm_fail(&err);
    printf("Deleted image %s\n", uuid);
    return 0;
}
