/* libFuzzer harness: what an image source or an operator hands imgadm
 * before any request: a source URL through img_source_url_check (an
 * accepted URL is http(s) with no space, query, fragment or user info, and
 * checks again to itself), and a source's GET /images answer through
 * img_source_parse_list (every entry kept is an object with a valid uuid).
 * Must never crash, leak or trip UBSan. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/util.h"
#include "image/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = xstrndup((const char *)data, size);
    char *norm = NULL;
    vm_err err = VM_ERR_INIT;
    if (img_source_url_check(s, &norm, &err) == 0) {
        const char *auth = strstr(norm, "://") + 3;
        size_t alen = strcspn(auth, "/");
        if (!(str_has_prefix(norm, "http://") || str_has_prefix(norm, "https://")) || strpbrk(norm, " ?#\n") ||
            memchr(auth, '@', alen) || alen == 0)
            __builtin_trap();
        char *again = NULL;
        if (img_source_url_check(norm, &again, &err) != 0 || strcmp(again, norm) != 0)
            __builtin_trap();
        free(again);
        free(norm);
    } else if (strncmp(err.msg, "invalid image source URL ", 25) != 0) {
        __builtin_trap();
    }
    free(s);
    json_t *l = NULL;
    if (img_source_parse_list("http://s", (const char *)data, size, &l, &err) == 0) {
        size_t i;
        json_t *it;
        json_array_foreach(l, i, it) {
            json_t *m = json_object_get(it, "manifest");
            if (!json_is_object(m) || !uuid_valid(json_string_value(json_object_get(m, "uuid"))))
                __builtin_trap();
        }
        json_decref(l);
    }
    return 0;
}
