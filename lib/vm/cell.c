/* Property values as list/lookup see them (see cell.h). */
#include "vm/cell.h"

#include <stdio.h>
#include <string.h>

#include "common/util.h"

static void collect(json_t *v, char **parts, json_t *out)
{
    if (!*parts) {
        json_array_append(out, v);
        return;
    }
    if (json_is_array(v)) {
        if (!strcmp(*parts, "*")) {
            size_t i;
            json_t *e;
            json_array_foreach(v, i, e)
                collect(e, parts + 1, out);
            return;
        }
        int64_t n;
        if (parse_i64(*parts, &n) && n >= 0) {
            json_t *e = json_array_get(v, (size_t)n);
            if (e)
                collect(e, parts + 1, out);
        }
        return;
    }
    if (json_is_object(v)) {
        /* Dictionary keys (tags.<k>) may themselves contain dots. */
        json_t *e = json_object_get(v, *parts);
        if (e) {
            collect(e, parts + 1, out);
            return;
        }
        if (parts[1]) {
            cleanup_free char *rest = strv_join(parts, ".");
            e = json_object_get(v, rest);
            if (e)
                json_array_append(out, e);
        }
    }
}

json_t *vm_list_values(json_t *vm, const char *path)
{
    cleanup_strv char **parts = strv_split(path, ".");
    json_t *out = json_array();
    collect(vm, parts, out);
    return out;
}

char *vm_list_cell(json_t *v)
{
    if (!v || json_is_null(v) || json_is_false(v))
        return NULL;
    if (json_is_true(v))
        return xstrdup("true");
    if (json_is_string(v))
        return xstrdup(json_string_value(v));
    if (json_is_integer(v))
        return xasprintf("%lld", (long long)json_integer_value(v));
    if (json_is_real(v))
        return xasprintf("%g", json_real_value(v));
    if (json_is_array(v)) {
        /* JS String([a,b]) joins with commas. */
        size_t i, n = json_array_size(v);
        char **s = xcalloc(n + 1, sizeof *s);
        json_t *e;
        json_array_foreach(v, i, e) {
            char *c = vm_list_cell(e);
            s[i] = c ? c : xstrdup("");
        }
        char *r = strv_join(s, ",");
        strv_free(s);
        return r;
    }
    return xstrdup("[object Object]");
}
