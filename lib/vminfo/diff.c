/* Change objects between two VM objects, as SmartOS diff.js produces them
 * (I14–I17).  These are what modify events carry and what vmadm waits for,
 * so the shape (key order, paths with null for array elements, "ident")
 * is part of the protocol. */
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "vminfo/vminfo_client.h"

char *vminfo_pretty_path(json_t *path)
{
    size_t cap = 64, n = 0, i;
    char *out = xmalloc(cap);
    json_t *el;

    out[0] = '\0';
    json_array_foreach(path, i, el) {
        const char *s = json_is_string(el) ? json_string_value(el) : "*";
        bool bracket = json_is_string(el) && strpbrk(s, ".[]") != NULL;
        size_t need = n + 2 * strlen(s) + 4;

        if (need > cap) {
            cap = need * 2;
            out = xrealloc(out, cap);
        }
        if (bracket) {
            out[n++] = '[';
            for (const char *p = s; *p; p++) {
                if (*p == '[' || *p == ']')
                    out[n++] = '\\';
                out[n++] = *p;
            }
            out[n++] = ']';
        } else {
            if (i > 0)
                out[n++] = '.';
            memcpy(out + n, s, strlen(s));
            n += strlen(s);
        }
        out[n] = '\0';
    }
    return out;
}

static json_t *path_with(json_t *path, json_t *el)
{
    json_t *p = json_copy(path);
    json_array_append_new(p, el);
    return p;
}

static json_t *change(json_t *path, const char *action, json_t *oldv, json_t *newv)
{
    cleanup_free char *pp = vminfo_pretty_path(path);
    json_t *c = json_object();
    json_object_set_new(c, "prettyPath", json_string(pp));
    json_object_set(c, "path", path);
    json_object_set_new(c, "action", json_string(action));
    if (oldv)
        json_object_set(c, "oldValue", oldv);
    if (newv)
        json_object_set(c, "newValue", newv);
    return c;
}

static void diff_any(json_t *a, json_t *b, json_t *path, json_t *map, json_t *out);

static void diff_object(json_t *a, json_t *b, json_t *path, json_t *map, json_t *out)
{
    const char *k;
    json_t *av, *bv;

    json_object_foreach(a, k, av) {
        bv = json_object_get(b, k);
        cleanup_json json_t *p = path_with(path, json_string(k));
        if (!bv)
            json_array_append_new(out, change(p, "removed", av, NULL));
        else
            diff_any(av, bv, p, json_array_size(path) == 0 ? map : NULL, out);
    }
    json_object_foreach(b, k, bv) {
        if (json_object_get(a, k))
            continue;
        cleanup_json json_t *p = path_with(path, json_string(k));
        json_array_append_new(out, change(p, "added", NULL, bv));
    }
}

/* Elements compare by their serialisation (as JSON.stringify would). */
static char **serialise_all(json_t *arr)
{
    size_t n = json_array_size(arr), i;
    char **v = xcalloc(n + 1, sizeof *v);
    for (i = 0; i < n; i++)
        v[i] = json_compact(json_array_get(arr, i));
    return v;
}

static bool strv_has(char **v, const char *s)
{
    for (; *v; v++)
        if (!strcmp(*v, s))
            return true;
    return false;
}

/* `ident` is the identifier key when the array is mapped (top-level disks/nics). */
static void diff_array(json_t *a, json_t *b, json_t *path, const char *ident, json_t *out)
{
    cleanup_strv char **as = serialise_all(a);
    cleanup_strv char **bs = serialise_all(b);
    cleanup_json json_t *removed = json_array();
    cleanup_json json_t *added = json_array();
    cleanup_json json_t *modified = json_array();
    cleanup_json json_t *p = path_with(path, json_null());
    size_t i, j;

    for (i = 0; as[i]; i++)
        if (!strv_has(bs, as[i]))
            json_array_append(removed, json_array_get(a, i));
    for (i = 0; bs[i]; i++)
        if (!strv_has(as, bs[i]))
            json_array_append(added, json_array_get(b, i));

    if (ident) {
        for (i = 0; i < json_array_size(removed);) {
            json_t *r = json_array_get(removed, i);
            json_t *rid = json_is_object(r) ? json_object_get(r, ident) : NULL;
            bool paired = false;
            for (j = 0; rid && j < json_array_size(added); j++) {
                json_t *x = json_array_get(added, j);
                json_t *xid = json_is_object(x) ? json_object_get(x, ident) : NULL;
                if (!xid || !json_equal(rid, xid))
                    continue;
                cleanup_json json_t *sub = json_array();
                size_t k;
                json_t *c;
                diff_object(r, x, p, NULL, sub);
                json_array_foreach(sub, k, c) {
                    json_object_set(c, "ident", rid);
                    json_array_append(modified, c);
                }
                json_array_remove(added, j);
                paired = true;
                break;
            }
            if (paired)
                json_array_remove(removed, i);
            else
                i++;
        }
    }

    json_t *el;
    json_array_foreach(removed, i, el)
        json_array_append_new(out, change(p, "removed", el, NULL));
    json_array_extend(out, modified);
    json_array_foreach(added, i, el)
        json_array_append_new(out, change(p, "added", NULL, el));
}

static void diff_any(json_t *a, json_t *b, json_t *path, json_t *map, json_t *out)
{
    if (a == b || (a && b && json_equal(a, b)))
        return;
    if (json_is_object(a) && json_is_object(b)) {
        diff_object(a, b, path, map, out);
        return;
    }
    if (json_is_array(a) && json_is_array(b)) {
        const char *ident = NULL;
        /* The map applies to top-level keys only (I16). */
        if (map && json_array_size(path) == 1) {
            json_t *key = json_array_get(path, 0);
            json_t *id = json_is_string(key) ? json_object_get(map, json_string_value(key)) : NULL;
            ident = json_is_string(id) ? json_string_value(id) : NULL;
        }
        diff_array(a, b, path, ident, out);
        return;
    }
    json_array_append_new(out, change(path, "changed", a, b));
}

json_t *vminfo_diff_map(json_t *a, json_t *b, json_t *map)
{
    json_t *out = json_array();
    cleanup_json json_t *root = json_array();
    diff_any(a, b, root, map, out);
    return out;
}

json_t *vminfo_diff(json_t *a, json_t *b)
{
    cleanup_json json_t *map = json_pack("{s:s, s:s}", "disks", "path", "nics", "mac");
    return vminfo_diff_map(a, b, map);
}
