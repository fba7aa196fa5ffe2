#include "vm/validate.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/units.h"
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

bool vm_mac_normalize(const char *in, char out[18])
{
    if (!vm_valid_mac(in))
        return false;
    unsigned o[6] = { 0 };
    int k = 0;
    for (const char *p = in; *p; p++) {
        if (*p == ':')
            k++;
        else
            o[k] = o[k] * 16 + (unsigned)hex_digit(*p);
    }
    snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", o[0], o[1], o[2], o[3], o[4], o[5]);
    return true;
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

bool vm_valid_hostname(const char *s)
{
    /* RFC 1123 labels; 63 chars in all, the Linux UTS name limit (a longer
     * name could never be set and the VM would never start). */
    size_t n = strlen(s);
    if (n && s[n - 1] == '.')
        n--;
    if (n == 0 || n > 63)
        return false;
    size_t label = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (label == 0 || s[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        if (!isalnum(c) && c != '-')
            return false;
        if (c == '-' && label == 0)
            return false;
        label++;
    }
    return s[n - 1] != '-';
}

bool vm_valid_ip(const char *s, bool prefix)
{
    char buf[INET6_ADDRSTRLEN + 8];
    size_t n = strlen(s);
    if (n == 0 || n >= sizeof buf)
        return false;
    memcpy(buf, s, n + 1);
    char *slash = strchr(buf, '/');
    if (slash && !prefix)
        return false;
    if (slash)
        *slash = '\0';
    unsigned char a[16];
    int maxbits = 32;
    if (inet_pton(AF_INET, buf, a) != 1) {
        if (inet_pton(AF_INET6, buf, a) != 1)
            return false;
        maxbits = 128;
    }
    if (slash) {
        const char *b = slash + 1;
        size_t bl = strlen(b);
        if (bl == 0 || bl > 3 || strspn(b, "0123456789") != bl || atoi(b) > maxbits)
            return false;
    }
    return true;
}

/* ---------------- limits ---------------- */

static int limit_count(json_t *payload, const char *key, size_t max, const char *what, vm_err *err)
{
    json_t *v = json_object_get(payload, key);
    if (json_is_array(v) && json_array_size(v) > max)
        return vm_err_set(err, VMERR_INVALID, "%s contains %zu %s, but is limited to %zu", key, json_array_size(v),
                          what, max);
    return 0;
}

/* Compact JSON size of v, stopping early past `max`. */
static int dump_count(const char *buf, size_t size, void *data)
{
    (void)buf;
    size_t *n = data;
    *n += size;
    return *n > VM_MAX_META_BYTES ? -1 : 0;
}

int vm_check_limits(json_t *payload, vm_err *err)
{
    static const char *const disk_keys[] = { "disks", "add_disks", "update_disks", "remove_disks", NULL };
    static const char *const nic_keys[] = { "nics", "add_nics", "update_nics", "remove_nics", NULL };
    static const char *const meta_keys[] = {
        "customer_metadata",     "internal_metadata", "tags",       "routes", "set_customer_metadata",
        "set_internal_metadata", "set_tags",          "set_routes", NULL
    };
    if (!json_is_object(payload))
        return 0;
    for (size_t i = 0; disk_keys[i]; i++)
        if (limit_count(payload, disk_keys[i], VM_MAX_DISKS, "disks", err) < 0)
            return -1;
    for (size_t i = 0; nic_keys[i]; i++)
        if (limit_count(payload, nic_keys[i], VM_MAX_NICS, "NICs", err) < 0)
            return -1;
    for (size_t i = 0; meta_keys[i]; i++) {
        json_t *v = json_object_get(payload, meta_keys[i]);
        size_t n = 0;
        if (v && json_dump_callback(v, dump_count, &n, JSON_COMPACT | JSON_ENCODE_ANY) < 0 && n > VM_MAX_META_BYTES)
            return vm_err_set(err, VMERR_INVALID, "%s is larger than the limit of 1 MiB (%d bytes as JSON)",
                              meta_keys[i], VM_MAX_META_BYTES);
    }
    return 0;
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
            if (vm_check_integer(v, &n) < 0) {
                if (nested)
                    return 0;
                /* Digits that do not fit 64 bits are refused by name, never
                 * wrapped or clamped. */
                const char *sv = json_string_value(v);
                size_t digits = strspn(sv + (*sv == '-'), "0123456789");
                if (digits && !sv[(*sv == '-') + digits])
                    return vm_err_set(err, VMERR_INVALID, "Invalid value for %s: %s is out of range", key, sv);
                return vm_err_set(err, VMERR_INVALID, "Invalid value for %s: null:number", key);
            }
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
    if (vm_check_limits(payload, err) < 0)
        return -1;
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

/* resolvers: each an IP address (a comma list before normalisation). */
static bool resolvers_ok(json_t *v)
{
    if (json_is_string(v)) {
        cleanup_strv char **parts = strv_split(json_string_value(v), ",");
        for (size_t i = 0; parts[i]; i++)
            if (!vm_valid_ip(parts[i], false))
                return false;
        return true;
    }
    size_t i;
    json_t *e;
    json_array_foreach(v, i, e)
        if (!json_is_string(e) || !vm_valid_ip(json_string_value(e), false))
            return false;
    return true;
}

/* "nics[N]" → N, else -1. */
static int route_nic_index(const char *gw)
{
    size_t n = strlen(gw);
    if (!str_has_prefix(gw, "nics[") || n < 7 || n > 8 || gw[n - 1] != ']')
        return -1;
    int idx = 0;
    for (size_t i = 5; i < n - 1; i++) {
        if (!isdigit((unsigned char)gw[i]))
            return -1;
        idx = idx * 10 + (gw[i] - '0');
    }
    return idx;
}

static bool nic_is_dhcp(json_t *nic)
{
    const char *ip = json_string_value(json_object_get(nic, "ip"));
    if (ip && (!strcmp(ip, "dhcp") || !strcmp(ip, "addrconf")))
        return true;
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(nic, "ips"), i, e)
        if (json_is_string(e) && (!strcmp(json_string_value(e), "dhcp") || !strcmp(json_string_value(e), "addrconf")))
            return true;
    return !ip && !json_object_get(nic, "ips");
}

int vm_check_routes(json_t *routes, json_t *nics, vm_err *err)
{
    const char *dst;
    json_t *gwv;
    json_object_foreach(routes, dst, gwv) {
        if (!vm_valid_ip(dst, true))
            return vm_err_set(err, VMERR_INVALID, "Invalid route destination: \"%s\" (must be IP address or CIDR)",
                              dst);
        const char *gw = json_string_value(gwv);
        int nic = gw ? route_nic_index(gw) : -1;
        if (!gw || (!vm_valid_ip(gw, false) && !vm_valid_mac(gw) && nic < 0)) {
            cleanup_free char *s = gw ? xstrdup(gw) : json_compact(gwv);
            return vm_err_set(err, VMERR_INVALID,
                              "Invalid route gateway: \"%s\" (must be IP address, MAC address, or nic)", s);
        }
        if (nic >= 0 && nics &&
            ((size_t)nic >= json_array_size(nics) || nic_is_dhcp(json_array_get(nics, (size_t)nic))))
            return vm_err_set(err, VMERR_INVALID, "Route gateway: \"%s\" refers to non-existent or DHCP nic", gw);
    }
    return 0;
}

/* Value rules beyond the type (V3 validators): alias, hostname, resolvers. */
static void check_value(const char *k, json_t *v, json_t *bad_values)
{
    if (!strcmp(k, "alias") && json_is_string(v) && !vm_valid_alias(json_string_value(v)))
        add_unique(bad_values, k);
    if (!strcmp(k, "hostname") && json_is_string(v) && *json_string_value(v) &&
        !vm_valid_hostname(json_string_value(v)))
        add_unique(bad_values, k);
    if (!strcmp(k, "resolvers") && !resolvers_ok(v))
        add_unique(bad_values, k);
}

/* Semantic errors (V12) the payload alone decides: routes. */
static void check_semantics(json_t *payload, bool create, json_t *errors)
{
    static const char *const keys[] = { "routes", "set_routes", NULL };
    for (size_t i = 0; keys[i]; i++) {
        json_t *r = json_object_get(payload, keys[i]);
        vm_err e = VM_ERR_INIT;
        if (json_is_object(r) &&
            vm_check_routes(r, create ? (json_object_get(payload, "nics") ?: json_null()) : NULL, &e) < 0)
            json_array_append_new(errors, json_string(e.msg));
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
    vm_err lerr = VM_ERR_INIT;
    if (vm_check_limits(payload, &lerr) < 0)
        return json_pack("{s:[],s:[],s:[],s:[s]}", "bad_values", "bad_properties", "missing_properties", "errors",
                         lerr.msg);

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
        check_value(k, v, bad_values);
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
    json_t *errors = json_array();
    check_semantics(payload, create, errors);
    if (!json_array_size(bad_values) && !json_array_size(bad_props) && !json_array_size(missing) &&
        !json_array_size(errors)) {
        json_decref(bad_values);
        json_decref(bad_props);
        json_decref(missing);
        json_decref(errors);
        return NULL;
    }
    json_t *res = json_pack("{s:o,s:o,s:o}", "bad_values", bad_values, "bad_properties", bad_props,
                            "missing_properties", missing);
    if (json_array_size(errors))
        json_object_set_new(res, "errors", errors);
    else
        json_decref(errors);
    return res;
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
    json_t *errs = json_object_get(res, "errors");
    if (json_array_size(bv)) {
        cleanup_free char *s = join_array(bv);
        /* SmartOS's message, plus what a bootrom may be (issue 21). */
        if (strstr(s, "bootrom"))
            return vm_err_set(err, VMERR_INVALID, "Invalid value(s) for: %s (bootrom accepts: %s)", s,
                              vm_bootroms_accepted());
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
    if (json_array_size(errs))
        return vm_err_set(err, VMERR_INVALID, "%s", json_string_value(json_array_get(errs, 0)));
    return 0;
}
