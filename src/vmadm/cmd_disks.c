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
    /* Table: one row per disk, like `vmadm list` (-H: no header): each
     * column as wide as its default or its widest cell, control characters
     * escaped. */
    const char *cols = a->o ? a->o : "slot,boot,image,size,snapshot_size,pci_slot";
    static const char known[] = "slot,boot,image,size,snapshot_size,pci_slot,uuid,model,media,total_space,free_space";
    cleanup_strv char **c = strv_split(cols, ",");
    json_t *disks = json_object_get(v, "disks");
    size_t nc = strv_len(c), nr = json_array_size(disks);
    cleanup_json json_t *cells = json_array(); /* (nr + 1) * nc strings; row 0 the header */
    size_t *w = xcalloc(nc + 1, sizeof *w);
    for (size_t r = 0; r <= nr; r++)
        for (size_t k = 0; k < nc; k++) {
            cleanup_free char *s = NULL;
            if (r == 0) {
                s = xstrdup(c[k]);
                for (char *p = s; *p; p++)
                    *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
                w[k] = !strcmp(c[k], "image") ? 36 : 13;
            } else {
                json_t *d = json_array_get(disks, r - 1), *x = json_object_get(d, c[k]);
                if (!x)
                    x = json_object_get(v, c[k]);
                if (!x && !strstr(known, c[k])) {
                    fprintf(stderr, "invalid field: %s\n", c[k]);
                    free(w);
                    return 1;
                }
                s = vm_list_cell(x);
            }
            char *e = vm_cell_escape(s ? s : "-");
            json_array_append_new(cells, json_string(e ? e : s ? s : "-"));
            free(e);
            size_t l = strlen(json_string_value(json_array_get(cells, r * nc + k)));
            if (l > w[k])
                w[k] = l;
        }
    for (size_t r = a->H ? 1 : 0; r <= nr; r++) {
        cleanup_free char *line = xstrdup("");
        for (size_t k = 0; k < nc; k++) {
            char *n = xasprintf("%s%s%-*s", line, k ? "  " : "", (int)w[k],
                                json_string_value(json_array_get(cells, r * nc + k)));
            free(line);
            line = n;
        }
        size_t l = strlen(line);
        while (l && line[l - 1] == ' ')
            line[--l] = '\0';
        printf("%s\n", line);
    }
    free(w);
    return 0;
}
