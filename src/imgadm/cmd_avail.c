/* imgadm avail: the images the sources offer (merged, the first source
 * offering a uuid wins), as a table or JSON; a failing source is reported
 * after the others' images and makes the exit status 1. */
#include <stdio.h>
#include <unistd.h>

#include "common/util.h"
#include "image/image.h"
#include "imgadm.h"

int imgadm_cmd_avail(vm_ctx *ctx, int argc, char **argv)
{
    const char *fields = "uuid,name,version,os,type,pub", *sort = "published_at,name";
    int as_json = 0, no_header = 0, c;
    vm_opts op;
    vm_opts_init(&op, argc, argv, "jHo:s:h", NULL, 0);
    while ((c = vm_opts_next(&op)) != -1) {
        switch (c) {
        case 'j': as_json = 1; break;
        case 'H': no_header = 1; break;
        case 'o': fields = op.arg; break;
        case 's': sort = op.arg; break;
        case 'h': imgadm_usage(stdout); return 0;
        default: return imgadm_opt_error(&op, c);
        }
    }
    if (imgadm_filters_check(op.npos, op.pos) != 0)
        return 2;
    vm_err err = VM_ERR_INIT;
    cleanup_json json_t *imgs = NULL, *probs = NULL;
    if (img_avail(ctx, NULL, &imgs, &probs, &err) < 0)
        return imgadm_fail(&err);
    cleanup_json json_t *rows = json_array();
    cleanup_json json_t *sel = json_array();
    size_t i;
    json_t *it;
    json_array_foreach(imgs, i, it) {
        json_t *row = json_copy(json_object_get(it, "manifest"));
        json_object_set(row, "source", json_object_get(it, "source"));
        if (imgadm_filters_match(row, op.npos, op.pos)) {
            json_array_append(sel, it);
            json_array_append(rows, row);
        }
        json_decref(row);
    }
    int rc = 0;
    if (as_json) {
        cleanup_free char *s = json_pretty(sel);
        printf("%s\n", s);
    } else {
        rc = imgadm_print_table(rows, fields, sort, no_header);
    }
    fflush(stdout);
    json_array_foreach(probs, i, it)
        fprintf(stderr, "imgadm: error: %s\n", json_string_value(it));
    return rc ? rc : json_array_size(probs) ? 1 : 0;
}
