/* imgadm create: an image (manifest + file) from a stopped VM. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "image/image.h"
#include "imgadm.h"
#include "vm/vmobj.h"

int imgadm_cmd_create(vm_ctx *ctx, int argc, char **argv)
{
    const char *outdir = ".", *comp = "zstd", *vmfile = NULL;
    int quiet = 0, c;
    static const vm_longopt lo[] = { { "vmobj", true, 'V' }, { NULL, false, 0 } };
    vm_opts op;
    vm_opts_init(&op, argc, argv, "o:c:qh", lo, 0);
    while ((c = vm_opts_next(&op)) != -1) {
        switch (c) {
        case 'o': outdir = op.arg; break;
        case 'c': comp = op.arg; break;
        case 'q': quiet = 1; break;
        case 'V': vmfile = op.arg; break;
        case 'h': imgadm_usage(stdout); return 0;
        default: return imgadm_opt_error(&op, c);
        }
    }
    if (op.npos < 1)
        return imgadm_usage_error("%s", "create needs a VM uuid");
    const char *vmuuid = op.pos[0];
    cleanup_json json_t *ov = json_object();
    for (int i = 1; i < op.npos; i++) {
        const char *eq = strchr(op.pos[i], '=');
        if (!eq || eq == op.pos[i])
            return imgadm_usage_error("manifest fields are field=value, not \"%s\"", op.pos[i]);
        cleanup_free char *key = xstrndup(op.pos[i], (size_t)(eq - op.pos[i]));
        const char *val = eq + 1;
        if (strcmp(key, "public") == 0 || strcmp(key, "disabled") == 0) {
            if (strcmp(val, "true") && strcmp(val, "false"))
                return imgadm_usage_error("%s must be true or false", key);
            json_object_set_new(ov, key, json_boolean(strcmp(val, "true") == 0));
        } else {
            json_object_set_new(ov, key, json_string(val));
        }
    }
    vm_err err = VM_ERR_INIT;
    if (!uuid_valid(vmuuid)) {
        vm_err_set(&err, VMERR_INVALID, "invalid uuid: \"%s\"", vmuuid);
        return imgadm_fail(&err);
    }
    cleanup_json json_t *vm = NULL;
    if (vmfile) {
        if (read_json_file(vmfile, &vm, &err) < 0)
            return imgadm_fail(&err);
    } else {
        if (vmobj_load(ctx, vmuuid, &vm, &err) < 0)
            return imgadm_fail(&err);
    }
    imgadm_bar b = { .on = !quiet && isatty(2), .last_pct = -2 };
    img_create_opts o = { .progress = imgadm_bar_cb, .progress_arg = &b, .compression = comp };
    cleanup_json json_t *m = NULL;
    int rc = img_create(ctx, vm, ov, outdir, &o, &m, &err);
    imgadm_bar_end(&b);
    if (rc < 0)
        return imgadm_fail(&err);
    if (!quiet)
        printf("Created image %s (%s@%s) in %s\n", json_string_value(json_object_get(m, "uuid")),
               json_string_value(json_object_get(m, "name")), json_string_value(json_object_get(m, "version")), outdir);
    return 0;
}
