/* imgadm list: installed images as a table (-o columns, field=value
 * filters) or as JSON (-j). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "image/image.h"
#include "imgadm.h"

int imgadm_cmd_list(vm_ctx *ctx, int argc, char **argv)
{
    const char *pool = NULL, *fields = "uuid,name,version,os,type,pub";
    int as_json = 0, no_header = 0, c;
    vm_opts op;
    vm_opts_init(&op, argc, argv, "jHo:P:h", NULL, 0);
    while ((c = vm_opts_next(&op)) != -1) {
        switch (c) {
        case 'j': as_json = 1; break;
        case 'H': no_header = 1; break;
        case 'o': fields = op.arg; break;
        case 'P': pool = op.arg; break;
        case 'h': imgadm_usage(stdout); return 0;
        default: return imgadm_opt_error(&op, c);
        }
    }
    if (imgadm_filters_check(op.npos, op.pos) != 0)
        return 2;
    vm_err err = VM_ERR_INIT;
    cleanup_json json_t *all = NULL;
    if (img_list(ctx, pool, &all, &err) < 0)
        return imgadm_fail(&err);
    cleanup_json json_t *sel = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(all, i, m)
        if (imgadm_filters_match(m, op.npos, op.pos))
            json_array_append(sel, m);
    const char *pn = pool && *pool ? pool : ctx->pool;
    if (as_json) {
        cleanup_json json_t *out = json_array();
        json_array_foreach(sel, i, m)
            json_array_append_new(out, json_pack("{sOss}", "manifest", m, "zpool", pn));
        cleanup_free char *s = json_pretty(out);
        printf("%s\n", s);
        return 0;
    }
    return imgadm_print_table(sel, fields, NULL, no_header);
}
