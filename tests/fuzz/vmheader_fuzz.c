/* libFuzzer: a VM stream's header (lib/migrate/vmstream.h) — untrusted
 * JSON whose names the receiver builds dataset names and checks from.
 * Whatever it holds, mig_header_check must not crash, and a header it
 * accepts must name only the VM's own datasets. */
#include <stdint.h>
#include <string.h>
#include <jansson.h>

#include "migrate/vmstream.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t je;
    json_t *h = json_loadb((const char *)data, size, JSON_DECODE_ANY, &je);
    if (!h)
        return 0;
    vm_err e = VM_ERR_INIT;
    if (mig_header_check(h, &e) == 0) {
        size_t i;
        json_t *o;
        json_array_foreach(json_object_get(h, "objects"), i, o) {
            const char *rel = json_string_value(json_object_get(o, "dataset"));
            if (!rel || strchr(rel, '/') || !strcmp(rel, "..") || !strcmp(rel, "."))
                __builtin_trap();
        }
    }
    json_decref(h);
    return 0;
}
