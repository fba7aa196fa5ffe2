/* imgadm update: refresh installed manifests from the sources. */
#include <stdio.h>
#include <unistd.h>

#include "common/util.h"
#include "image/image.h"
#include "imgadm.h"

static void print_note(void *arg, const char *line)
{
    (void)arg;
    printf("%s\n", line);
    fflush(stdout);
}

int imgadm_cmd_update(vm_ctx *ctx, int argc, char **argv)
{
    const char *pool = NULL, *source = NULL;
    int quiet = 0, as_json = 0, c;
    vm_opts op;
    vm_opts_init(&op, argc, argv, "qjS:P:h", NULL, 0);
    while ((c = vm_opts_next(&op)) != -1) {
        switch (c) {
        case 'q': quiet = 1; break;
        case 'j': as_json = 1; break;
        case 'S': source = op.arg; break;
        case 'P': pool = op.arg; break;
        case 'h': imgadm_usage(stdout); return 0;
        default: return imgadm_opt_error(&op, c);
        }
    }
    img_import_opts o = { .note = quiet || as_json ? NULL : print_note, .source = source };
    vm_err err = VM_ERR_INIT;
    cleanup_json json_t *updated = NULL;
    int rc = img_update(ctx, pool, op.pos, &o, &updated, &err);
    if (as_json && updated) {
        cleanup_free char *s = json_pretty(updated);
        printf("%s\n", s);
    }
    if (rc < 0)
        return imgadm_fail(&err);
    return 0;
}
