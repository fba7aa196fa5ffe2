/* The rows `vmadm list` and `lookup` work on: one cell per VM and column,
 * holding the value as vmadm renders it (JS String(value)) and its kind
 * for sorting.  A table is built either from VM objects (direct loads,
 * dotted columns such as tags.x) or straight from the text of vminfod's
 * /vms?fields= answer without building JSON objects: for 1,000 VMs that is
 * one scan instead of tens of thousands of allocations, which is most of
 * what `vmadm list` costs. */
#ifndef VM_TABLE_H
#define VM_TABLE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

typedef enum {
    VM_CELL_MISSING = 0,
    VM_CELL_NULL,
    VM_CELL_FALSE,
    VM_CELL_TRUE,
    VM_CELL_NUM,
    VM_CELL_STR,
    VM_CELL_OTHER, /* array or object: text is its String() form */
} vm_cell_kind;

typedef struct vm_cell {
    vm_cell_kind kind;
    const char *text; /* NULL for missing, null and false (rendered "-") */
    double num; /* VM_CELL_NUM only */
} vm_cell;

typedef struct vm_table vm_table;

/* A table with these columns (copied; a name listed twice is one column)
 * and no rows. */
vm_table *vm_table_new(const char *const *cols);
void vm_table_free(vm_table *t);

/* Appends one row per VM of the array; each cell is the first value at the
 * column's (possibly dotted) path. */
void vm_table_add_json(vm_table *t, json_t *vms);
/* Appends the rows of an array of flat objects (`[{"k":scalar,..},..]`,
 * what /vms?fields= sends).  Keys that are not columns are skipped.  -1
 * with err, and no rows added, for text that is not such an array (a nested
 * value, bad JSON): callers then fall back to the general parser. */
int vm_table_add_text(vm_table *t, const char *text, size_t len, vm_err *err);

size_t vm_table_ncols(const vm_table *t);
const char *vm_table_col_name(const vm_table *t, size_t col);
/* Index of a column, or -1. */
int vm_table_col(const vm_table *t, const char *name);

/* Rows in their current order (after vm_table_keep / vm_table_sort). */
size_t vm_table_nrows(const vm_table *t);
const vm_cell *vm_table_cell(const vm_table *t, size_t row, size_t col);
void vm_table_set_cell(vm_table *t, size_t row, size_t col, const vm_cell *c);
/* Keeps the rows whose keep[row] is true, in order. */
void vm_table_keep(vm_table *t, const bool *keep);
/* Stable sort of the rows; cmp gets the cells of two rows (indexed by
 * column). */
typedef int (*vm_table_cmp)(const vm_cell *a, const vm_cell *b, void *arg);
void vm_table_sort_rows(vm_table *t, vm_table_cmp cmp, void *arg);

#endif
