/* How a VM property becomes a list/lookup cell: the one rule shared by the
 * row table (table.c) and list/lookup (list.c), below both of them. */
#ifndef VM_CELL_H
#define VM_CELL_H

#include <jansson.h>

/* String(value) as vmadm renders a cell; NULL for missing/null/false. */
char *vm_list_cell(json_t *v);
/* Every value at a dotted path ("disks.*.size" yields each); new array. */
json_t *vm_list_values(json_t *vm, const char *path);

/* Terminal safety for table output (issue 14 #13): control characters
 * (C0, DEL and U+0080-U+009F) as \\n, \\r, \\t, \\xHH or \\u00HH, so a
 * value such as an alias cannot move the cursor, recolour or retitle the
 * operator's terminal.  NULL when s needs no escaping; else a new string.
 * Only what list prints is escaped: filters and sorting see the raw value,
 * and JSON output (get, lookup -j) keeps JSON's own escaping. */
char *vm_cell_escape(const char *s);

#endif
