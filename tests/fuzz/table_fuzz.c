/* libFuzzer harness: the flat-array parser vmadm list uses on vminfod's
 * /vms?fields= answer, checked against jansson.  Whatever it accepts,
 * jansson must accept too and yield the same cells; a flat array of scalar
 * objects jansson accepts (short keys and numbers) it must accept too. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "vm/table.h"

static const char *const cols[] = { "a", "b", "uuid", "alias", "ram", "", NULL };

static int flat_and_short(json_t *j)
{
    size_t i;
    json_t *o;
    if (!json_is_array(j))
        return 0;
    json_array_foreach(j, i, o) {
        const char *k;
        json_t *v;
        if (!json_is_object(o))
            return 0;
        json_object_foreach(o, k, v) {
            if (strlen(k) >= 200 || json_is_object(v) || json_is_array(v))
                return 0;
            if (json_is_integer(v) || json_is_real(v))
                return 0; /* number spellings jansson allows differ (length, range) */
        }
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    vm_table *a = vm_table_new(cols), *b = vm_table_new(cols);
    vm_err err = VM_ERR_INIT;
    int ours = vm_table_add_text(a, (const char *)data, size, &err);
    json_t *j = json_loadb((const char *)data, size, 0, NULL);
    if (ours == 0) {
        if (!j)
            __builtin_trap();
        vm_table_add_json(b, j);
        if (vm_table_nrows(a) != vm_table_nrows(b))
            __builtin_trap();
        for (size_t r = 0; r < vm_table_nrows(a); r++)
            for (size_t c = 0; c < vm_table_ncols(a); c++) {
                const vm_cell *x = vm_table_cell(a, r, c), *y = vm_table_cell(b, r, c);
                if (x->kind != y->kind || (!x->text) != (!y->text) || (x->text && strcmp(x->text, y->text)))
                    __builtin_trap();
            }
    } else if (j && flat_and_short(j) && !memchr(data, 0, size)) {
        /* A refusal is wrong only for text that is flat as written: with a
         * duplicate key jansson keeps the last value and may hide a nested
         * first one, which ours rightly refuses. */
        json_t *strict = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, NULL);
        if (strict)
            __builtin_trap();
    }
    json_decref(j);
    vm_table_free(a);
    vm_table_free(b);
    return 0;
}
