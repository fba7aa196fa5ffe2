/* libFuzzer harness: arbitrary bytes as an image manifest through what
 * imgadm install runs first: json_loadb then img_manifest_validate, and
 * the file-head sniffing (img_comp_detect).  A manifest it accepts must
 * hold what install relies on (uuid, type, files[0] fields).  Must never
 * crash, leak or trip UBSan. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "common/util.h"
#include "image/compress.h"
#include "image/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int c = img_comp_detect(data, size);
    if (c < IMG_COMP_NONE || c > IMG_COMP_ZSTD)
        __builtin_trap();
    json_error_t je;
    json_t *m = json_loadb((const char *)data, size, 0, &je);
    if (!m)
        return 0;
    vm_err err = VM_ERR_INIT;
    if (img_manifest_validate(m, &err) == 0) {
        json_t *f0 = json_array_get(json_object_get(m, "files"), 0);
        const char *type = json_string_value(json_object_get(m, "type"));
        if (!uuid_valid(json_string_value(json_object_get(m, "uuid"))) || !type ||
            json_integer_value(json_object_get(f0, "size")) <= 0 ||
            img_comp_parse(json_string_value(json_object_get(f0, "compression"))) < 0 ||
            strlen(json_string_value(json_object_get(f0, "sha1"))) != 40)
            __builtin_trap();
        if (!strcmp(type, "zvol") && !json_is_integer(json_object_get(m, "image_size")))
            __builtin_trap();
    } else if (strncmp(err.msg, "invalid manifest: ", 18) != 0) {
        __builtin_trap();
    }
    json_decref(m);
    return 0;
}
