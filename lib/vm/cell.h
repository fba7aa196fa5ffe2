/* How a VM property becomes a list/lookup cell: the one rule shared by the
 * row table (table.c) and list/lookup (list.c), below both of them. */
#ifndef VM_CELL_H
#define VM_CELL_H

#include <jansson.h>

#include "common/escape.h"

/* String(value) as vmadm renders a cell; NULL for missing/null/false. */
char *vm_list_cell(json_t *v);
/* Every value at a dotted path ("disks.*.size" yields each); new array. */
json_t *vm_list_values(json_t *vm, const char *path);

/* vm_cell_escape (common/escape.h): what list prints is escaped. */

#endif
