#include "vm/list.h"

#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "vm/props.h"

static const struct field {
    const char *name;
    const char *header;
    int width;
} fields[] = {
    { "alias", "ALIAS", 10 }, { "autoboot", "AUTOBOOT", 8 }, { "billing_id", "BILLING_ID", 36 },
    { "boot_timestamp", "BOOT_TIMESTAMP", 24 }, { "brand", "BRAND", 14 }, { "cpu_cap", "CPU_CAP", 7 },
    { "cpu_shares", "CPU_SHARE", 9 }, { "cpu_type", "CPU_TYPE", 8 },
    { "create_timestamp", "CREATE_TIMESTAMP", 24 }, { "dns_domain", "DOMAIN", 32 },
    { "do_not_inventory", "DNI", 5 }, { "docker", "DOCKER", 6 }, { "exit_status", "EXIT", 4 },
    { "exit_timestamp", "EXIT_TIMESTAMP", 24 }, { "firewall_enabled", "FIREWALL_ENABLED", 16 },
    { "flexible_disk_size", "FLEX_DISK_SIZE", 14 }, { "free_space", "FREE_SPACE", 14 },
    { "hostname", "HOSTNAME", 32 }, { "hvm", "HVM", 5 }, { "image_uuid", "IMAGE_UUID", 36 },
    { "indestructible_delegated", "INDESTR_DATA", 12 }, { "indestructible_zoneroot", "INDESTR_ROOT", 12 },
    { "ram", "RAM", 7 }, { "max_locked_memory", "MAX_LOCKED", 10 }, { "max_lwps", "MAX_LWP", 7 },
    { "max_physical_memory", "MAX_PHYS", 8 }, { "max_swap", "MAX_SWAP", 8 }, { "owner_uuid", "OWNER_UUID", 36 },
    { "package_name", "PACKAGE_NAME", 32 }, { "package_version", "PACKAGE_VER", 11 }, { "pid", "PID", 6 },
    { "qemu_extra_opts", "QEMU_EXTRA_OPTS", 15 }, { "quota", "QUOTA", 5 }, { "zone_state", "ZONE_STATE", 10 },
    { "state", "STATE", 16 }, { "tmpfs", "TMPFS", 5 }, { "type", "TYPE", 4 }, { "uuid", "UUID", 36 },
    { "vcpus", "VCPUS", 5 }, { "zfs_io_priority", "IO_PRIORITY", 11 }, { "zpool", "ZPOOL", 12 },
    { "zonename", "ZONENAME", 12 }, { "zonepath", "ZONEPATH", 40 }, { "zoneid", "ZONEID", 6 },
    { NULL, NULL, 0 },
};

static const struct field *find_field(const char *name)
{
    for (const struct field *f = fields; f->name; f++)
        if (!strcmp(f->name, name))
            return f;
    return NULL;
}

void vm_list_add_fake_fields(json_t *vm)
{
    const char *brand = json_string_value(json_object_get(vm, "brand"));
    json_object_set_new(vm, "type", json_string(vm_brand_type(brand)));
    if (!vm_brand_is_hvm(brand) && json_object_get(vm, "max_physical_memory"))
        json_object_set(vm, "ram", json_object_get(vm, "max_physical_memory"));
}

static bool key_in(const char *k, const char *const *set)
{
    for (size_t i = 0; set[i]; i++)
        if (!strcmp(set[i], k))
            return true;
    return false;
}

/* "<prefix>.<N|*>.<sub>" with sub in `subs`. */
static bool indexed_key(const char *key, const char *prefix, const char *const *subs)
{
    size_t pl = strlen(prefix);
    if (strncmp(key, prefix, pl) != 0 || key[pl] != '.')
        return false;
    const char *p = key + pl + 1;
    if (*p == '*') {
        p++;
    } else {
        if (*p < '0' || *p > '9')
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return *p == '.' && key_in(p + 1, subs);
}

bool vm_list_valid_filter_key(const char *key)
{
    static const char *const dsubs[] = { "boot", "image_name", "image_size", "image_uuid", "size", "media",
                                         "model", "zpool", NULL };
    static const char *const nsubs[] = { "dhcp_server", "gateway", "interface", "ip", "mac", "model", "netmask",
                                         "nic_tag", "vlan_id", NULL };
    if (find_field(key))
        return true;
    if (indexed_key(key, "disks", dsubs) || indexed_key(key, "nics", nsubs))
        return true;
    return (str_has_prefix(key, "tags.") || str_has_prefix(key, "customer_metadata.") ||
            str_has_prefix(key, "internal_metadata.")) && strchr(key, '.')[1];
}

bool vm_list_valid_column(const char *key)
{
    if (find_field(key))
        return true;
    /* disks.N.x, nics.N.x, pci_devices.N.x and dictionary keys (C31). */
    static const char *const pre[] = { "disks.", "nics.", "pci_devices.", "tags.", "customer_metadata.",
                                       "internal_metadata.", "routes.", NULL };
    for (size_t i = 0; pre[i]; i++)
        if (str_has_prefix(key, pre[i]) && key[strlen(pre[i])])
            return true;
    return false;
}

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

/* The first value at `path` (borrowed from vm, or from *hold which the
 * caller decrefs).  Plain keys need no splitting: the common case of every
 * cell of `vmadm list`. */
static json_t *value1(json_t *vm, const char *path, json_t **hold)
{
    *hold = NULL;
    if (!strchr(path, '.'))
        return json_object_get(vm, path);
    *hold = vm_list_values(vm, path);
    return json_array_get(*hold, 0);
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

static bool normalize_mac(const char *in, char out[18])
{
    unsigned o[6];
    if (sscanf(in, "%x:%x:%x:%x:%x:%x", &o[0], &o[1], &o[2], &o[3], &o[4], &o[5]) != 6)
        return false;
    snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", o[0] & 255, o[1] & 255, o[2] & 255, o[3] & 255,
             o[4] & 255, o[5] & 255);
    return true;
}

json_t *vm_list_filter(json_t *vms, char **filters, vm_err *err)
{
    size_t nf = strv_len(filters);
    regex_t *res = xcalloc(nf ? nf : 1, sizeof *res);
    bool *isre = xcalloc(nf ? nf : 1, sizeof *isre);
    char **keys = xcalloc(nf + 1, sizeof *keys);
    char **vals = xcalloc(nf + 1, sizeof *vals);
    json_t *out = NULL;
    size_t i;

    for (i = 0; i < nf; i++) {
        char *eq = strchr(filters[i], '=');
        keys[i] = eq ? xstrndup(filters[i], (size_t)(eq - filters[i])) : xstrdup(filters[i]);
        vals[i] = xstrdup(eq ? eq + 1 : "");
        if (!vm_list_valid_filter_key(keys[i])) {
            vm_err_set(err, VMERR_INVALID, "Invalid filter key: \"%s\"", keys[i]);
            goto out;
        }
        if (vals[i][0] == '~') {
            if (regcomp(&res[i], vals[i] + 1, REG_EXTENDED | REG_ICASE | REG_NOSUB) != 0) {
                vm_err_set(err, VMERR_INVALID, "Invalid regular expression: \"%s\"", vals[i] + 1);
                goto out;
            }
            isre[i] = true;
        } else if (str_has_suffix(keys[i], ".mac")) {
            char m[18];
            if (normalize_mac(vals[i], m)) {
                free(vals[i]);
                vals[i] = xstrdup(m);
            }
        }
    }
    out = json_array();
    json_t *vm;
    json_array_foreach(vms, i, vm) {
        bool all = true;
        for (size_t f = 0; f < nf && all; f++) {
            cleanup_json json_t *vals_at = vm_list_values(vm, keys[f]);
            bool any = false;
            size_t j;
            json_t *v;
            json_array_foreach(vals_at, j, v) {
                cleanup_free char *s = NULL;
                if (json_is_false(v))
                    s = xstrdup("false");
                else
                    s = vm_list_cell(v);
                if (!s)
                    continue;
                if (isre[f] ? regexec(&res[f], s, 0, NULL, 0) == 0 : !strcmp(s, vals[f]))
                    any = true;
            }
            all = any;
        }
        if (all)
            json_array_append(out, vm);
    }
out:
    for (i = 0; i < nf; i++)
        if (isre[i])
            regfree(&res[i]);
    free(res);
    free(isre);
    strv_free(keys);
    strv_free(vals);
    return out;
}

struct sortkey {
    char *key;
    int dir;
};

static int cmp_vals(json_t *a, json_t *b)
{
    bool ap = a && !json_is_null(a) && !json_is_false(a);
    bool bp = b && !json_is_null(b) && !json_is_false(b);
    if (!ap || !bp)
        return ap == bp ? 0 : (ap ? -1 : 1); /* missing sorts last */
    if (json_is_number(a) && json_is_number(b)) {
        double x = json_number_value(a), y = json_number_value(b);
        return x < y ? -1 : x > y;
    }
    if (json_is_string(a) && json_is_string(b))
        return strcmp(json_string_value(a), json_string_value(b));
    cleanup_free char *x = vm_list_cell(a);
    cleanup_free char *y = vm_list_cell(b);
    return strcmp(x ? x : "", y ? y : "");
}

typedef struct sort_item {
    json_t *vm;
    json_t **vals;
} sort_item;

typedef struct sort_ctx {
    size_t nkeys;
    struct sortkey *keys;
} sort_ctx;

static int cmp_items(const void *pa, const void *pb, void *arg)
{
    const sort_item *a = pa, *b = pb;
    const sort_ctx *sc = arg;
    for (size_t k = 0; k < sc->nkeys; k++) {
        int c = cmp_vals(a->vals[k], b->vals[k]);
        bool am = !a->vals[k] || json_is_null(a->vals[k]) || json_is_false(a->vals[k]);
        bool bm = !b->vals[k] || json_is_null(b->vals[k]) || json_is_false(b->vals[k]);
        if (c && !(am || bm))
            c *= sc->keys[k].dir;
        if (c)
            return c;
    }
    return 0;
}

int vm_list_sort(json_t *vms, const char *sort, vm_err *err)
{
    cleanup_strv char **ks = strv_split(sort ? sort : "", ",");
    size_t nk = strv_len(ks), n = json_array_size(vms);
    struct sortkey *keys = xcalloc(nk ? nk : 1, sizeof *keys);
    for (size_t k = 0; k < nk; k++) {
        const char *s = ks[k];
        keys[k].dir = 1;
        if (*s == '-' || *s == '+') {
            keys[k].dir = *s == '-' ? -1 : 1;
            s++;
        }
        if (str_has_prefix(s, "disks.") || str_has_prefix(s, "nics.") || str_has_prefix(s, "filesystems.")) {
            free(keys);
            return vm_err_set(err, VMERR_INVALID, "Invalid sort key: \"%s\"", ks[k]);
        }
        if (!vm_list_valid_column(s)) {
            free(keys);
            return vm_err_set(err, VMERR_INVALID, "invalid sort field: %s", ks[k]);
        }
        keys[k].key = (char *)s;
    }
    sort_item *items = xcalloc(n ? n : 1, sizeof *items);
    for (size_t i = 0; i < n; i++) {
        items[i].vm = json_incref(json_array_get(vms, i));
        items[i].vals = xcalloc(nk ? nk : 1, sizeof(json_t *));
        for (size_t k = 0; k < nk; k++) {
            json_t *hold;
            items[i].vals[k] = json_incref(value1(items[i].vm, keys[k].key, &hold));
            json_decref(hold);
        }
    }
    sort_ctx sc = { nk, keys };
    qsort_r(items, n, sizeof *items, cmp_items, &sc);
    json_array_clear(vms);
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(vms, items[i].vm);
        for (size_t k = 0; k < nk; k++)
            json_decref(items[i].vals[k]);
        free(items[i].vals);
    }
    free(items);
    free(keys);
    return 0;
}

static void upper(char *s)
{
    for (; *s; s++)
        if (*s >= 'a' && *s <= 'z')
            *s = (char)(*s - 'a' + 'A');
}

static void append(char **buf, size_t *len, size_t *cap, const char *s)
{
    size_t l = strlen(s);
    if (*len + l + 1 > *cap) {
        *cap = (*len + l + 1) * 2;
        *buf = xrealloc(*buf, *cap);
    }
    memcpy(*buf + *len, s, l + 1);
    *len += l;
}

static void append_n(char **buf, size_t *len, size_t *cap, const char *s, size_t l)
{
    if (*len + l + 1 > *cap) {
        *cap = (*len + l + 1) * 2;
        *buf = xrealloc(*buf, *cap);
    }
    memcpy(*buf + *len, s, l);
    *len += l;
    (*buf)[*len] = '\0';
}

static void rtrim_line(char *buf, size_t *len)
{
    while (*len > 0 && buf[*len - 1] == ' ')
        buf[--*len] = '\0';
}

char *vm_list_render(json_t *vms, const vm_list_opts *o, vm_err *err)
{
    const char *order = o->order ? o->order : "uuid,type,ram,state,alias";
    cleanup_strv char **cols = strv_split(order, ",");
    size_t nc = strv_len(cols);
    for (size_t c = 0; c < nc; c++) {
        if (str_has_prefix(cols[c], "disks.") && !strchr(cols[c] + 6, '.'))
            return vm_err_set(err, VMERR_INVALID, "Invalid order key: \"%s\"", cols[c]), NULL;
        if (!vm_list_valid_column(cols[c])) {
            vm_err_set(err, VMERR_INVALID, "invalid order field: %s", cols[c]);
            return NULL;
        }
    }
    if (vm_list_sort(vms, o->sort ? o->sort : "ram,uuid", err) < 0)
        return NULL;
    bool header = o->header == 1 || (o->header == -1 && !o->parsable);
    size_t cap = 4096, len = 0;
    char *buf = xmalloc(cap);
    buf[0] = '\0';
    if (header) {
        for (size_t c = 0; c < nc; c++) {
            const struct field *f = find_field(cols[c]);
            cleanup_free char *h = xstrdup(f ? f->header : cols[c]);
            if (!f)
                upper(h);
            int w = f ? f->width : 20;
            if (o->parsable) {
                if (c)
                    append(&buf, &len, &cap, ":");
                append(&buf, &len, &cap, h);
            } else {
                char cell[512];
                snprintf(cell, sizeof cell, "%s%-*s", c ? "  " : "", w, h);
                append(&buf, &len, &cap, cell);
            }
        }
        rtrim_line(buf, &len);
        append(&buf, &len, &cap, "\n");
    }
    const struct field **cf = xcalloc(nc + 1, sizeof *cf);
    for (size_t c = 0; c < nc; c++)
        cf[c] = find_field(cols[c]);
    size_t i;
    json_t *vm;
    json_array_foreach(vms, i, vm) {
        for (size_t c = 0; c < nc; c++) {
            const struct field *f = cf[c];
            cleanup_json json_t *hold = NULL;
            json_t *v = value1(vm, cols[c], &hold);
            /* Strings and integers (nearly every cell) are written without
             * an allocation; other values go through vm_list_cell. */
            char num[32];
            cleanup_free char *s = NULL;
            const char *txt;
            if (json_is_string(v)) {
                txt = json_string_value(v);
            } else if (json_is_integer(v)) {
                snprintf(num, sizeof num, "%lld", (long long)json_integer_value(v));
                txt = num;
            } else {
                s = vm_list_cell(v);
                txt = s;
            }
            if (!txt)
                txt = o->parsable ? "" : "-";
            if (o->parsable) {
                if (c)
                    append_n(&buf, &len, &cap, ":", 1);
                append_n(&buf, &len, &cap, txt, strlen(txt));
            } else {
                size_t w = (size_t)(f ? f->width : 20), tl = strlen(txt);
                if (c)
                    append_n(&buf, &len, &cap, "  ", 2);
                append_n(&buf, &len, &cap, txt, tl);
                if (tl < w) {
                    static const char spaces[64] = "                                                               ";
                    while (tl < w) {
                        size_t k = w - tl < sizeof spaces - 1 ? w - tl : sizeof spaces - 1;
                        append_n(&buf, &len, &cap, spaces, k);
                        tl += k;
                    }
                }
            }
        }
        rtrim_line(buf, &len);
        append(&buf, &len, &cap, "\n");
    }
    free(cf);
    return buf;
}
