/* vmadm disks <uuid> [-H] [-o field,..]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm/list.h"
#include "vm/vm.h"
#include "vmadm.h"

int cmd_disks(const vm_ctx *ctx, args *a)
{
    int r = need_uuid(a, "disks");
    if (r)
        return r;
    cleanup_json json_t *v = NULL;
    vm_err e = VM_ERR_INIT;
    if (vm_disk_view(ctx, a->pos[0], &v, &e) < 0)
        return fail(&e);
    if (!a->H && !a->o) {
        print_json(v);
        return 0;
    }
    /* Table: one row per disk, like `vmadm list` (-H: no header). */
    const char *cols = a->o ? a->o : "slot,boot,image,size,snapshot_size,pci_slot";
    cleanup_strv char **c = strv_split(cols, ",");
    if (!a->H) {
        cleanup_free char *hl = xstrdup("");
        for (size_t k = 0; c[k]; k++) {
            cleanup_free char *h = xstrdup(c[k]);
            for (char *p = h; *p; p++)
                *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
            char *n = xasprintf("%s%s%-*s", hl, k ? "  " : "", !strcmp(c[k], "image") ? 36 : 13, h);
            free(hl);
            hl = n;
        }
        size_t l = strlen(hl);
        while (l && hl[l - 1] == ' ')
            hl[--l] = '\0';
        printf("%s\n", hl);
    }
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(v, "disks"), i, d) {
        cleanup_free char *line = xstrdup("");
        for (size_t k = 0; c[k]; k++) {
            json_t *x = json_object_get(d, c[k]);
            if (!x)
                x = json_object_get(v, c[k]);
            if (!x &&
                !strstr("slot,boot,image,size,snapshot_size,pci_slot,uuid,model,media,total_space,free_space", c[k])) {
                fprintf(stderr, "invalid field: %s\n", c[k]);
                return 1;
            }
            cleanup_free char *s = vm_list_cell(x);
            char *n = xasprintf("%s%s%-*s", line, k ? "  " : "", !strcmp(c[k], "image") ? 36 : 13, s ? s : "-");
            free(line);
            line = n;
        }
        size_t l = strlen(line);
        while (l && line[l - 1] == ' ')
            line[--l] = '\0';
        printf("%s\n", line);
    }
    return 0;
}
