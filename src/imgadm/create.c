/* imgadm create: an image (manifest + file) from a stopped VM. */
#include <getopt.h>
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
    static const struct option lo[] = { { "vmobj", required_argument, NULL, 'V' }, { 0, 0, 0, 0 } };
    while ((c = getopt_long(argc, argv, "+o:c:qh", lo, NULL)) != -1) {
        switch (c) {
        case 'o': outdir = optarg; break;
        case 'c': comp = optarg; break;
        case 'q': quiet = 1; break;
        case 'V': vmfile = optarg; break;
        case 'h': imgadm_usage(stdout); return 0;
        default: return imgadm_usage_error("%s", "bad option for create");
        }
    }
    if (optind >= argc)
        return imgadm_usage_error("%s", "create needs a VM uuid");
    const char *vmuuid = argv[optind++];
    cleanup_json json_t *ov = json_object();
    for (int i = optind; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        if (!eq || eq == argv[i])
            return imgadm_usage_error("manifest fields are field=value, not \"%s\"", argv[i]);
        cleanup_free char *key = xstrndup(argv[i], (size_t)(eq - argv[i]));
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
