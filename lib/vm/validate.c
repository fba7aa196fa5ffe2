#include "vm/validate.h"

#include <ctype.h>
#include <string.h>

#include "common/util.h"
#include "vm/props.h"

int vm_check_integer(json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d > 9.0e18 || d < -9.0e18)
            return -1;
        if (d == (double)(int64_t)d) {
            *out = (int64_t)d;
            return 0;
        }
        return -1;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        const char *p = s;
        if (*p == '-')
            p++;
        if (!*p)
            return -1;
        for (; *p; p++)
            if (!isdigit((unsigned char)*p))
                return -1;
        return parse_i64(s, out) ? 0 : -1;
    }
    return -1;
}

int vm_check_boolean(json_t *v, int *out)
{
    if (json_is_boolean(v)) {
        *out = json_is_true(v);
        return 0;
    }
    if (json_is_integer(v) && (json_integer_value(v) == 0 || json_integer_value(v) == 1)) {
        *out = (int)json_integer_value(v);
        return 0;
    }
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        if (!strcmp(s, "true") || !strcmp(s, "1")) {
            *out = 1;
            return 0;
        }
        if (!strcmp(s, "false") || !strcmp(s, "0")) {
            *out = 0;
            return 0;
        }
    }
    return -1;
}

int vm_valid_mac(const char *s)
{
    /* Six octets of one or two hex digits separated by ':'. */
    int octets = 0;
    const char *p = s;
    while (*p) {
        int n = 0;
        while (isxdigit((unsigned char)p[n]))
            n++;
        if (n < 1 || n > 2)
            return 0;
        octets++;
        p += n;
        if (*p == ':') {
            p++;
            if (!*p)
                return 0;
        } else if (*p) {
            return 0;
        }
    }
    return octets == 6;
}

int vm_valid_alias(const char *s)
{
    /* Aliases name files in operators' scripts and logs: no path
     * separators, no control characters, not "." or "..". */
    if (!strcmp(s, ".") || !strcmp(s, ".."))
        return 0;
    if (strlen(s) > 255)
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p == '/' || *p < 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

/* ---------------- normalisation ---------------- */

static int normalize_value(const vm_prop *p, const char *key, json_t *obj, json_t *v, bool nested, vm_err *err)
{
    switch (p->type) {
    case PT_INTEGER: {
        int64_t n;
        if (json_is_null(v) || (json_is_string(v) && !*json_string_value(v)))
            return 0; /* unset */
        if (json_is_string(v)) {
            /* Members of disks/nics are reported by validation instead
             * (`disks.*.size`, V4); only top-level values fail here (V9). */
            if (vm_check_integer(v, &n) < 0)
                return nested ? 0 : vm_err_set(err, VMERR_INVALID, "Invalid value for %s: null:number", key);
            json_object_set_new(obj, key, json_integer(n));
        }
        return 0;
    }
    case PT_BOOLEAN: {
        int b;
        if (json_is_string(v) && vm_check_boolean(v, &b) == 0)
            json_object_set_new(obj, key, json_boolean(b));
        return 0;
    }
    case PT_LIST:
        if (json_is_string(v)) {
            cleanup_strv char **parts = strv_split(json_string_value(v), ",");
            json_t *arr = json_array();
            for (size_t i = 0; parts[i]; i++)
                json_array_append_new(arr, json_string(parts[i]));
            json_object_set_new(obj, key, arr);
        }
        return 0;
    default: return 0;
    }
}

static int normalize_objarray(const vm_prop *table, json_t *arr, vm_err *err)
{
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o) {
        const char *k;
        json_t *v;
        void *tmp;
        if (!json_is_object(o))
            continue;
        json_object_foreach_safe(o, tmp, k, v) {
            const vm_prop *p = vm_prop_find(table, k);
            if (p && normalize_value(p, k, o, v, true, err) < 0)
                return -1;
        }
    }
    return 0;
}

int vm_payload_normalize(json_t *payload, const char *action, vm_err *err)
{
    const char *k;
    json_t *v;
    void *tmp;
    (void)action;

    if (!json_is_object(payload))
        return vm_err_set(err, VMERR_INVALID, "payload must be a JSON object");
    json_object_foreach_safe(payload, tmp, k, v) {
        const vm_prop *p = vm_prop_find(vm_props_top, k);
        if (!p)
            continue;
        if (normalize_value(p, k, payload, v, false, err) < 0)
            return -1;
        if (p->type == PT_OBJARRAY && json_is_array(v)) {
            const vm_prop *sub = strstr(k, "nics") ? vm_props_nic : vm_props_disk;
            if (normalize_objarray(sub, v, err) < 0)
                return -1;
        }
    }
    return 0;
}

/* ---------------- validation ---------------- */

static void add_unique(json_t *arr, const char *name)
{
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e)
        if (!strcmp(json_string_value(e), name))
            return;
    json_array_append_new(arr, json_string(name));
}

static bool value_in(const char *const *values, const char *s)
{
    for (size_t i = 0; values[i]; i++)
        if (!strcmp(values[i], s))
            return true;
    return false;
}

/* True when v is acceptable for p (V3). */
static bool check_type(const vm_prop *p, json_t *v)
{
    int64_t n;
    int b;
    switch (p->type) {
    case PT_STRING:
        if (json_is_null(v))
            return true;
        if (!json_is_string(v))
            return false;
        if (p->values && *json_string_value(v) && !value_in(p->values, json_string_value(v)))
            return false;
        return true;
    case PT_INTEGER:
        if (json_is_null(v) || (json_is_string(v) && !*json_string_value(v)))
            return true;
        if (json_is_boolean(v) || vm_check_integer(v, &n) < 0)
            return false;
        if (p->has_min && n < p->min)
            return false;
        if (p->has_max && n > p->max)
            return false;
        return true;
    case PT_BOOLEAN: return vm_check_boolean(v, &b) == 0;
    case PT_UUID: return json_is_string(v) && uuid_valid(json_string_value(v));
    case PT_ZPOOL:
        return json_is_string(v) && *json_string_value(v) &&
            strspn(json_string_value(v), "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") ==
            strlen(json_string_value(v));
    case PT_LIST: {
        if (json_is_string(v))
            return true;
        if (!json_is_array(v))
            return false;
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e) {
            if (json_is_string(e)) {
                if (strchr(json_string_value(e), ','))
                    return false;
            } else if (!json_is_number(e)) {
                return false;
            }
        }
        return true;
    }
    case PT_ARRAY: {
        if (!json_is_array(v))
            return false;
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
            if (!json_is_string(e))
                return false;
        return true;
    }
    case PT_FLATOBJ: {
        if (!json_is_object(v))
            return false;
        const char *k;
        json_t *e;
        json_object_foreach(v, k, e)
            if (!json_is_string(e) && !json_is_number(e) && !json_is_boolean(e))
                return false;
        return true;
    }
    case PT_OBJARRAY: {
        if (!json_is_array(v))
            return false;
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
            if (!json_is_object(e))
                return false;
        return true;
    }
    }
    return false;
}

static void validate_members(const vm_prop *table, const char *base, json_t *arr, unsigned brand, bool update,
                             bool disks, json_t *bad_values, json_t *bad_props, json_t *missing, const char *arrname)
{
    size_t i;
    json_t *o;
    json_array_foreach(arr, i, o) {
        const char *k;
        json_t *v;
        if (!json_is_object(o))
            continue;
        json_object_foreach(o, k, v) {
            char name[256];
            snprintf(name, sizeof name, "%s.*.%s", base, k);
            const vm_prop *p = vm_prop_find(table, k);
            unsigned allowed = p ? (update ? p->update : p->create) : 0;
            if (!(allowed & brand)) {
                add_unique(bad_props, name);
                continue;
            }
            if (!check_type(p, v))
                add_unique(bad_values, name);
        }
        /* Disk source rules (V5): a blank disk needs a size. */
        if (disks && !update) {
            json_t *media = json_object_get(o, "media");
            bool is_disk = !media || (json_is_string(media) && !strcmp(json_string_value(media), "disk"));
            if (is_disk && !json_object_get(o, "image_uuid") && !json_is_true(json_object_get(o, "nocreate")) &&
                !json_object_get(o, "size")) {
                char name[256];
                snprintf(name, sizeof name, "%s.%zu.size", arrname, i);
                add_unique(missing, name);
            }
        }
        if (update && !json_object_get(o, "path") && !json_object_get(o, disks ? "path" : "mac")) {
            char name[256];
            snprintf(name, sizeof name, "%s.*.%s", base, disks ? "path" : "mac");
            add_unique(missing, name);
        }
    }
}

json_t *vm_validate(const char *brand, const char *action, json_t *payload)
{
    unsigned b = vm_brand_bit(brand);
    bool update = action && !strcmp(action, "update");
    bool create = action && (!strcmp(action, "create") || !strcmp(action, "receive"));
    const char *k;
    json_t *v;

    if (!b)
        return json_pack("{s:s}", "bad_brand", brand ? brand : "undefined");

    json_t *bad_values = json_array(), *bad_props = json_array(), *missing = json_array();
    json_object_foreach(payload, k, v) {
        const vm_prop *p = vm_prop_find(vm_props_top, k);
        unsigned allowed = p ? (update ? p->update : create ? p->create : 0) : 0;
        if (!(allowed & b)) {
            add_unique(bad_props, k);
            continue;
        }
        if (!check_type(p, v)) {
            add_unique(bad_values, k);
            continue;
        }
        if (!strcmp(k, "alias") && json_is_string(v) && !vm_valid_alias(json_string_value(v)))
            add_unique(bad_values, k);
        if (!strcmp(k, "nics") || !strcmp(k, "add_nics") || !strcmp(k, "update_nics"))
            validate_members(vm_props_nic, "nics", v, b, !strcmp(k, "update_nics"), false, bad_values, bad_props,
                             missing, k);
        if (!strcmp(k, "disks") || !strcmp(k, "add_disks") || !strcmp(k, "update_disks"))
            validate_members(vm_props_disk, "disks", v, b, !strcmp(k, "update_disks"), true, bad_values, bad_props,
                             missing, k);
    }
    /* NIC MACs must be real MACs when given. */
    static const char *const nic_keys[] = { "nics", "add_nics", "update_nics", NULL };
    for (size_t n = 0; nic_keys[n]; n++) {
        json_t *arr = json_object_get(payload, nic_keys[n]);
        size_t i;
        json_t *o;
        json_array_foreach(arr, i, o) {
            json_t *mac = json_object_get(o, "mac");
            if (mac && (!json_is_string(mac) || !vm_valid_mac(json_string_value(mac))))
                add_unique(bad_values, "nics.*.mac");
        }
    }
    if (create) {
        /* V8: brand for every brand but bhyve; image_uuid for OS brands;
         * kernel_version for lx. */
        if (!(b & BR_BHYVE) && !json_object_get(payload, "brand"))
            add_unique(missing, "brand");
        if ((b & BR_OS) && !json_object_get(payload, "image_uuid"))
            add_unique(missing, "image_uuid");
        if ((b & BR_LX) && !json_object_get(payload, "kernel_version"))
            add_unique(missing, "kernel_version");
    }
    if (!json_array_size(bad_values) && !json_array_size(bad_props) && !json_array_size(missing)) {
        json_decref(bad_values);
        json_decref(bad_props);
        json_decref(missing);
        return NULL;
    }
    return json_pack("{s:o,s:o,s:o}", "bad_values", bad_values, "bad_properties", bad_props, "missing_properties",
                     missing);
}

static char *join_array(json_t *arr)
{
    size_t i, n = json_array_size(arr);
    char **v = xcalloc(n + 1, sizeof *v);
    json_t *e;
    json_array_foreach(arr, i, e)
        v[i] = xstrdup(json_string_value(e));
    char *s = strv_join(v, ",");
    strv_free(v);
    return s;
}

int vm_validate_err(json_t *res, const char *brand, const char *action, vm_err *err)
{
    if (!res)
        return 0;
    json_t *bb = json_object_get(res, "bad_brand");
    if (bb)
        return vm_err_set(err, VMERR_INVALID, "Unsupported brand: %s", json_string_value(bb));
    json_t *bv = json_object_get(res, "bad_values");
    json_t *mp = json_object_get(res, "missing_properties");
    json_t *bp = json_object_get(res, "bad_properties");
    if (json_array_size(bv)) {
        cleanup_free char *s = join_array(bv);
        return vm_err_set(err, VMERR_INVALID, "Invalid value(s) for: %s", s);
    }
    if (json_array_size(mp)) {
        cleanup_free char *s = join_array(mp);
        return vm_err_set(err, VMERR_INVALID, "Missing required properties: %s", s);
    }
    if (json_array_size(bp)) {
        cleanup_free char *s = join_array(bp);
        return vm_err_set(err, VMERR_INVALID, "Invalid properties for brand \"%s\" on %s: %s", brand, action, s);
    }
    return 0;
}
