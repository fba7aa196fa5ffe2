/* vmadm list / lookup (reference C30–C42): filters, sorting and the column
 * layout.  Pure functions over VM objects, so they work the same on objects
 * from vminfod or loaded directly. */
#ifndef VM_LIST_H
#define VM_LIST_H

#include <stdbool.h>
#include <jansson.h>
#include "common/err.h"
#include "vm/cell.h"
#include "vm/table.h"

/* Adds list's fake fields: `type` (OS/LX/BHYV/KVM) and, for OS VMs, `ram`. */
void vm_list_add_fake_fields(json_t *vm);
bool vm_list_valid_filter_key(const char *key);
bool vm_list_valid_column(const char *key);
/* filters: "key=value" or "key=~regex". Returns matching VMs (new array)
 * or NULL with err for a bad filter (`Invalid filter key: "<key>"`). */
json_t *vm_list_filter(json_t *vms, char **filters, vm_err *err);

typedef struct vm_list_opts {
    const char *order; /* columns, default "uuid,type,ram,state,alias" */
    const char *sort; /* default "ram,uuid" */
    bool parsable; /* -p */
    int header; /* 1 on, 0 off, -1 default (on unless -p) */
} vm_list_opts;

/* The whole `vmadm list` output (filters applied by the caller). */
char *vm_list_render(json_t *vms, const vm_list_opts *opts, vm_err *err);

/* The same steps on a table (vm/table.h), which is what vmadm uses: the
 * rows come from vminfod's projection or from VM objects alike. */
/* The columns a table needs for `order` and `sort` (defaults if NULL). */
char **vm_list_columns(const char *order, const char *sort);
/* `type` from `brand`, and `ram` from `max_physical_memory` for OS VMs,
 * where the table has those columns. */
void vm_list_add_fake_fields_table(vm_table *t);
/* Keeps the matching rows; filter keys must be plain columns of t (dotted
 * keys match any of several values: use vm_list_filter on objects). */
int vm_list_filter_table(vm_table *t, char **filters, vm_err *err);
/* Sorts by comma-separated keys ("-key" descending), which must be columns. */
int vm_list_sort_table(vm_table *t, const char *sort, vm_err *err);
char *vm_list_render_table(vm_table *t, const vm_list_opts *opts, vm_err *err);

#endif
