/* The VMs `vmadm list` and `lookup` show (reference C30–C42): filter keys
 * checked first (C36), only the properties needed loaded — from vminfod's
 * projection (/vms?fields=) when it runs, else straight from the config
 * store — then list's fake fields (C34) and the filters.  Both sources give
 * the same rows, so the output is byte-identical with or without vminfod. */
#ifndef VM_SELECT_H
#define VM_SELECT_H

#include <stdbool.h>
#include <jansson.h>

#include "common/ctx.h"
#include "common/err.h"
#include "vm/table.h"

/* One VM object, through vminfod when it runs; VMERR_NOTFOUND
 * `VM <uuid> not found`. */
int vm_select_load_one(const vm_ctx *ctx, const char *uuid, json_t **out, vm_err *err);
/* Every VM object, through vminfod when it runs (sorted by uuid). */
int vm_select_load_all(const vm_ctx *ctx, json_t **out, vm_err *err);

/* Rows of the VMs matching `filters` ("key=value", "key=~re"), with the
 * columns `cols` (and those the filters and fake fields use).  `what`
 * names the filter in the bad-key message: `Invalid <what> key: "<key>"`.
 * hide_dni (vmadm list): VMs with do_not_inventory are left out unless a
 * filter names that key. */
vm_table *vm_select_rows(const vm_ctx *ctx, const char *const *cols, char **filters, const char *what, bool hide_dni,
                         vm_err *err);
/* Whole VM objects matching `filters`, fake fields added (lookup -j). */
json_t *vm_select_objects(const vm_ctx *ctx, char **filters, const char *what, vm_err *err);

#endif
