/* vmadm list [-pHh] [-o f,..] [-s f,..] [field=value ..]: the VM table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vm/list.h"
#include "vm/select.h"
#include "vmadm.h"

int cmd_list(const vm_ctx *ctx, args *a)
{
    vm_err e = VM_ERR_INIT;
    cleanup_strv char **cols = vm_list_columns(a->o, a->s);
    vm_table *t = vm_select_rows(ctx, (const char *const *)cols, a->pos, "filter", true, &e);
    if (!t)
        return fail(&e);
    vm_list_opts o = { a->o, a->s, a->p, a->H ? 0 : (a->h ? 1 : -1) };
    cleanup_free char *out = vm_list_render_table(t, &o, &e);
    vm_table_free(t);
    if (!out)
        return fail(&e);
    fputs(out, stdout);
    return 0;
}
