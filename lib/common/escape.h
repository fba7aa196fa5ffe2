/* Terminal safety for what the tools print for operators (issue 14 #13,
 * issue 19): control characters (C0, DEL and U+0080-U+009F) as \\n, \\r,
 * \\t, \\xHH or \\u00HH, so a value such as an alias cannot move the
 * cursor, recolour or retitle the operator's terminal.  Used by list
 * tables (lib/vm/list.c) and the human lines of `vmadm events` /
 * `vminfo events` (lib/vminfo/format.c).  Filters and sorting see the raw
 * value, and JSON output keeps JSON's own escaping. */
#ifndef VM_ESCAPE_H
#define VM_ESCAPE_H

/* NULL when s needs no escaping; else a new string. */
char *vm_cell_escape(const char *s);

#endif
