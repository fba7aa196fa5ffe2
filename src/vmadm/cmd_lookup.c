/* vmadm lookup [-j] [-1] [-o f,..] [field=value ..]: uuids or objects of matching VMs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm/list.h"
#include "vm/select.h"
#include "vmadm.h"

static int lookup_uuids(const vm_ctx *ctx, args *a, char **filters)
{
    vm_err e = VM_ERR_INIT;
    static const char *const cols[] = { "uuid", NULL };
    vm_table *t = vm_select_rows(ctx, cols, filters, "lookup", false, &e);
    if (!t)
        return fail(&e);
    size_t n = vm_table_nrows(t);
    int r = 0;
    if (a->one && n != 1) {
        fprintf(stderr, "Requested unique lookup but found %zu results.\n", n);
        r = 1;
    } else {
        int uc = vm_table_col(t, "uuid");
        for (size_t i = 0; i < n; i++)
            printf("%s\n", vm_table_cell(t, i, (size_t)uc)->text);
    }
    vm_table_free(t);
    return r;
}

int cmd_lookup(const vm_ctx *ctx, args *a)
{
    vm_err e = VM_ERR_INIT;
    if (a->o && !a->j) {
        fprintf(stderr, "Cannot specify -o without -j\n");
        return 1;
    }
    if (!a->j)
        return lookup_uuids(ctx, a, a->pos);
    cleanup_json json_t *sel = vm_select_objects(ctx, a->pos, "lookup", &e);
    if (!sel)
        return fail(&e);
    size_t i;
    json_t *vm;
    if (a->one && json_array_size(sel) != 1) {
        fprintf(stderr, "Requested unique lookup but found %zu results.\n", json_array_size(sel));
        return 1;
    }
    if (a->o) {
        cleanup_strv char **keys = strv_split(a->o, ",");
        json_t *red = json_array();
        json_array_foreach(sel, i, vm) {
            json_t *x = json_object();
            for (size_t k = 0; keys[k]; k++)
                if (json_object_get(vm, keys[k]))
                    json_object_set(x, keys[k], json_object_get(vm, keys[k]));
            if (json_object_size(x))
                json_array_append_new(red, x);
            else
                json_decref(x);
        }
        print_json(red);
        json_decref(red);
        return 0;
    }
    print_json(sel);
    return 0;
}
