/* imgadm install: an image from a manifest and its file. */
#include <stdio.h>
#include <unistd.h>

#include "common/util.h"
#include "image/image.h"
#include "imgadm.h"

int imgadm_cmd_install(vm_ctx *ctx, int argc, char **argv)
{
    const char *manifest = NULL, *file = NULL, *pool = NULL;
    int quiet = 0, flags = 0;
    static const vm_longopt lo[] = { { "allow-setuid", false, 'S' }, { NULL, false, 0 } };
    int c;
    vm_opts op;
    vm_opts_init(&op, argc, argv, "m:f:P:qh", lo, 0);
    while ((c = vm_opts_next(&op)) != -1) {
        switch (c) {
        case 'm': manifest = op.arg; break;
        case 'f': file = op.arg; break;
        case 'P': pool = op.arg; break;
        case 'q': quiet = 1; break;
        case 'S': flags |= IMG_INSTALL_ALLOW_SETUID; break;
        case 'h': imgadm_usage(stdout); return 0;
        default: return imgadm_opt_error(&op, c);
        }
    }
    if (!manifest || !file)
        return imgadm_usage_error("%s", "install needs -m <manifest> and -f <file>");
    if (op.npos)
        return imgadm_usage_error("unexpected argument \"%s\"", op.pos[0]);
    imgadm_bar b = { .on = !quiet && isatty(2), .last_pct = -2 };
    img_install_opts o = { .progress = imgadm_bar_cb, .progress_arg = &b, .flags = flags };
    vm_err err = VM_ERR_INIT;
    int rc = img_install(ctx, pool, manifest, file, &o, &err);
    imgadm_bar_end(&b);
    if (rc < 0)
        return imgadm_fail(&err);
    cleanup_json json_t *m = NULL;
    vm_err e2 = VM_ERR_INIT;
    if (read_json_file(manifest, &m, &e2) == 0 && !quiet)
        printf("Installed image %s (%s@%s)\n", json_string_value(json_object_get(m, "uuid")),
               json_string_value(json_object_get(m, "name")), json_string_value(json_object_get(m, "version")));
    return 0;
}
