#include "vm/list.h"

#include <regex.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "vm/cell.h"
#include "vm/props.h"
#include "vm/table.h"
#include "vm/validate.h"

static const struct field {
    const char *name;
    const char *header;
    int width;
} fields[] = {
    { "alias", "ALIAS", 10 },
    { "autoboot", "AUTOBOOT", 8 },
    { "billing_id", "BILLING_ID", 36 },
    { "boot_timestamp", "BOOT_TIMESTAMP", 24 },
    { "brand", "BRAND", 14 },
    { "cpu_cap", "CPU_CAP", 7 },
    { "cpu_shares", "CPU_SHARE", 9 },
    { "cpu_type", "CPU_TYPE", 8 },
    { "create_timestamp", "CREATE_TIMESTAMP", 24 },
    { "dns_domain", "DOMAIN", 32 },
    { "do_not_inventory", "DNI", 5 },
    { "docker", "DOCKER", 6 },
    { "exit_status", "EXIT", 4 },
    { "exit_timestamp", "EXIT_TIMESTAMP", 24 },
    { "firewall_enabled", "FIREWALL_ENABLED", 16 },
    { "flexible_disk_size", "FLEX_DISK_SIZE", 14 },
    { "free_space", "FREE_SPACE", 14 },
    { "hostname", "HOSTNAME", 32 },
    { "hvm", "HVM", 5 },
    { "image_uuid", "IMAGE_UUID", 36 },
    { "indestructible_delegated", "INDESTR_DATA", 12 },
    { "indestructible_zoneroot", "INDESTR_ROOT", 12 },
    { "ram", "RAM", 7 },
    { "max_locked_memory", "MAX_LOCKED", 10 },
    { "max_lwps", "MAX_LWP", 7 },
    { "max_physical_memory", "MAX_PHYS", 8 },
    { "max_swap", "MAX_SWAP", 8 },
    { "owner_uuid", "OWNER_UUID", 36 },
    { "package_name", "PACKAGE_NAME", 32 },
    { "package_version", "PACKAGE_VER", 11 },
    { "pid", "PID", 6 },
    { "qemu_extra_opts", "QEMU_EXTRA_OPTS", 15 },
    { "quota", "QUOTA", 5 },
    { "zone_state", "ZONE_STATE", 10 },
    { "state", "STATE", 16 },
    { "tmpfs", "TMPFS", 5 },
    { "type", "TYPE", 4 },
    { "uuid", "UUID", 36 },
    { "vcpus", "VCPUS", 5 },
    { "zfs_io_priority", "IO_PRIORITY", 11 },
    { "zpool", "ZPOOL", 12 },
    { "zonename", "ZONENAME", 12 },
    { "zonepath", "ZONEPATH", 40 },
    { "zoneid", "ZONEID", 6 },
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
    static const char *const dsubs[] = { "boot",  "image_name", "image_size", "image_uuid", "size",
                                         "media", "model",      "zpool",      NULL };
    static const char *const nsubs[] = { "dhcp_server", "gateway", "interface", "ip",      "mac",
                                         "model",       "netmask", "nic_tag",   "vlan_id", NULL };
    if (find_field(key))
        return true;
    if (indexed_key(key, "disks", dsubs) || indexed_key(key, "nics", nsubs))
        return true;
    return (str_has_prefix(key, "tags.") || str_has_prefix(key, "customer_metadata.") ||
            str_has_prefix(key, "internal_metadata.")) &&
        strchr(key, '.')[1];
}

bool vm_list_valid_column(const char *key)
{
    if (find_field(key))
        return true;
    /* disks.N.x, nics.N.x, pci_devices.N.x and dictionary keys (C31). */
    static const char *const pre[] = {
        "disks.", "nics.", "pci_devices.", "tags.", "customer_metadata.", "internal_metadata.", "routes.", NULL
    };
    for (size_t i = 0; pre[i]; i++)
        if (str_has_prefix(key, pre[i]) && key[strlen(pre[i])])
            return true;
    return false;
}

/* Filters compiled once: "key=value" or "key=~regex" (C35–C37). */
typedef struct filters {
    size_t n;
    char **keys, **vals;
    regex_t *res;
    bool *isre;
} filters;

static void filters_free(filters *f)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->isre[i])
            regfree(&f->res[i]);
    free(f->res);
    free(f->isre);
    strv_free(f->keys);
    strv_free(f->vals);
}

static int filters_compile(filters *f, char **in, vm_err *err)
{
    size_t nf = strv_len(in);
    *f = (filters){ 0 };
    f->res = xcalloc(nf ? nf : 1, sizeof *f->res);
    f->isre = xcalloc(nf ? nf : 1, sizeof *f->isre);
    f->keys = xcalloc(nf + 1, sizeof *f->keys);
    f->vals = xcalloc(nf + 1, sizeof *f->vals);
    for (size_t i = 0; i < nf; i++) {
        char *eq = strchr(in[i], '=');
        f->keys[i] = eq ? xstrndup(in[i], (size_t)(eq - in[i])) : xstrdup(in[i]);
        f->vals[i] = xstrdup(eq ? eq + 1 : "");
        f->n = i + 1;
        if (!vm_list_valid_filter_key(f->keys[i])) {
            vm_err_set(err, VMERR_INVALID, "Invalid filter key: \"%s\"", f->keys[i]);
            goto fail;
        }
        if (f->vals[i][0] == '~') {
            if (regcomp(&f->res[i], f->vals[i] + 1, REG_EXTENDED | REG_ICASE | REG_NOSUB) != 0) {
                vm_err_set(err, VMERR_INVALID, "Invalid regular expression: \"%s\"", f->vals[i] + 1);
                goto fail;
            }
            f->isre[i] = true;
        } else if (str_has_suffix(f->keys[i], ".mac")) {
            char m[18];
            if (vm_mac_normalize(f->vals[i], m)) {
                free(f->vals[i]);
                f->vals[i] = xstrdup(m);
            }
        }
    }
    return 0;
fail:
    filters_free(f);
    return -1;
}

/* One value, as String(value) with false as "false" (NULL: missing/null). */
static bool filter_match(const filters *f, size_t i, const char *s)
{
    if (!s)
        return false;
    return f->isre[i] ? regexec(&f->res[i], s, 0, NULL, 0) == 0 : !strcmp(s, f->vals[i]);
}

json_t *vm_list_filter(json_t *vms, char **in, vm_err *err)
{
    filters f;
    if (filters_compile(&f, in, err) < 0)
        return NULL;
    json_t *out = json_array();
    size_t i;
    json_t *vm;
    json_array_foreach(vms, i, vm) {
        bool all = true;
        for (size_t k = 0; k < f.n && all; k++) {
            cleanup_json json_t *vals_at = vm_list_values(vm, f.keys[k]);
            bool any = false;
            size_t j;
            json_t *v;
            json_array_foreach(vals_at, j, v) {
                cleanup_free char *s = json_is_false(v) ? xstrdup("false") : vm_list_cell(v);
                if (filter_match(&f, k, s))
                    any = true;
            }
            all = any;
        }
        if (all)
            json_array_append(out, vm);
    }
    filters_free(&f);
    return out;
}

int vm_list_filter_table(vm_table *t, char **in, vm_err *err)
{
    filters f;
    if (filters_compile(&f, in, err) < 0)
        return -1;
    int *col = xcalloc(f.n ? f.n : 1, sizeof *col);
    for (size_t k = 0; k < f.n; k++) {
        col[k] = vm_table_col(t, f.keys[k]);
        if (col[k] < 0 || strchr(f.keys[k], '.')) {
            /* Dotted keys match any of several values: VM objects only. */
            free(col);
            filters_free(&f);
            return vm_err_set(err, VMERR_INTERNAL, "filter key \"%s\" needs VM objects", in[k]);
        }
    }
    size_t n = vm_table_nrows(t);
    bool *keep = xcalloc(n ? n : 1, sizeof *keep);
    for (size_t r = 0; r < n; r++) {
        keep[r] = true;
        for (size_t k = 0; k < f.n && keep[r]; k++) {
            const vm_cell *c = vm_table_cell(t, r, (size_t)col[k]);
            keep[r] = filter_match(&f, k, c->kind == VM_CELL_FALSE ? "false" : c->text);
        }
    }
    vm_table_keep(t, keep);
    free(keep);
    free(col);
    filters_free(&f);
    return 0;
}

void vm_list_add_fake_fields_table(vm_table *t)
{
    int brand = vm_table_col(t, "brand"), type = vm_table_col(t, "type"), ram = vm_table_col(t, "ram"),
        mpm = vm_table_col(t, "max_physical_memory");
    for (size_t r = 0; r < vm_table_nrows(t); r++) {
        const char *b = brand >= 0 ? vm_table_cell(t, r, (size_t)brand)->text : NULL;
        if (type >= 0) {
            /* vm_brand_type returns static strings: no copy needed. */
            vm_cell c = { VM_CELL_STR, vm_brand_type(b), 0 };
            vm_table_set_cell(t, r, (size_t)type, &c);
        }
        if (ram >= 0 && mpm >= 0 && !vm_brand_is_hvm(b) && vm_table_cell(t, r, (size_t)mpm)->kind != VM_CELL_MISSING) {
            vm_cell c = *vm_table_cell(t, r, (size_t)mpm);
            vm_table_set_cell(t, r, (size_t)ram, &c);
        }
    }
}

struct sortkey {
    size_t col;
    int dir;
};

struct sortspec {
    size_t n;
    struct sortkey *keys;
};

static bool cell_present(const vm_cell *c)
{
    return c->kind != VM_CELL_MISSING && c->kind != VM_CELL_NULL && c->kind != VM_CELL_FALSE;
}

/* Numbers numerically, strings by strcmp, mixed kinds by String() form;
 * missing values sort last whatever the direction. */
static int cmp_rows(const vm_cell *a, const vm_cell *b, void *arg)
{
    const struct sortspec *sp = arg;
    for (size_t k = 0; k < sp->n; k++) {
        const vm_cell *x = &a[sp->keys[k].col], *y = &b[sp->keys[k].col];
        bool xp = cell_present(x), yp = cell_present(y);
        int c;
        if (!xp || !yp)
            c = xp == yp ? 0 : (xp ? -1 : 1);
        else if (x->kind == VM_CELL_NUM && y->kind == VM_CELL_NUM)
            c = (x->num > y->num) - (x->num < y->num);
        else
            c = strcmp(x->text ? x->text : "", y->text ? y->text : "");
        if (xp && yp)
            c *= sp->keys[k].dir;
        if (c)
            return c;
    }
    return 0;
}

/* Parses "-key,+key,key" into table columns; the keys must be columns. */
static int sortspec_parse(const vm_table *t, const char *sort, struct sortspec *sp, vm_err *err)
{
    cleanup_strv char **ks = strv_split(sort ? sort : "", ",");
    size_t nk = strv_len(ks);
    sp->n = 0;
    sp->keys = xcalloc(nk ? nk : 1, sizeof *sp->keys);
    for (size_t k = 0; k < nk; k++) {
        const char *s = ks[k];
        int dir = 1;
        if (*s == '-' || *s == '+') {
            dir = *s == '-' ? -1 : 1;
            s++;
        }
        if (str_has_prefix(s, "disks.") || str_has_prefix(s, "nics.") || str_has_prefix(s, "filesystems.")) {
            vm_err_set(err, VMERR_INVALID, "Invalid sort key: \"%s\"", ks[k]);
            goto fail;
        }
        if (!vm_list_valid_column(s)) {
            vm_err_set(err, VMERR_INVALID, "invalid sort field: %s", ks[k]);
            goto fail;
        }
        int col = vm_table_col(t, s);
        if (col < 0) {
            vm_err_set(err, VMERR_INTERNAL, "sort key %s was not loaded", s);
            goto fail;
        }
        sp->keys[sp->n++] = (struct sortkey){ (size_t)col, dir };
    }
    return 0;
fail:
    free(sp->keys);
    return -1;
}

int vm_list_sort_table(vm_table *t, const char *sort, vm_err *err)
{
    struct sortspec sp;
    if (sortspec_parse(t, sort, &sp, err) < 0)
        return -1;
    vm_table_sort_rows(t, cmp_rows, &sp);
    free(sp.keys);
    return 0;
}

/* The bare keys of "-a,+b,c" (for table columns). */
static char **sort_cols(const char *sort)
{
    char **ks = strv_split(sort ? sort : "", ",");
    for (size_t k = 0; ks[k]; k++)
        if (ks[k][0] == '-' || ks[k][0] == '+')
            memmove(ks[k], ks[k] + 1, strlen(ks[k]));
    return ks;
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

/* The columns of `order`, checked (C31, C33). */
static char **order_cols(const char *order, vm_err *err)
{
    char **cols = strv_split(order ? order : "uuid,type,ram,state,alias", ",");
    for (size_t c = 0; cols[c]; c++) {
        if (str_has_prefix(cols[c], "disks.") && !strchr(cols[c] + 6, '.')) {
            vm_err_set(err, VMERR_INVALID, "Invalid order key: \"%s\"", cols[c]);
            goto fail;
        }
        if (!vm_list_valid_column(cols[c])) {
            vm_err_set(err, VMERR_INVALID, "invalid order field: %s", cols[c]);
            goto fail;
        }
    }
    return cols;
fail:
    strv_free(cols);
    return NULL;
}

/* The text of row r (or the header, r == -1) in column c, escaped (C32,
 * issue 14 #13); newly allocated. */
static char *cell_text(vm_table *t, const vm_list_opts *o, int r, int ci, const struct field *f, const char *col)
{
    char *txt;
    if (r < 0) {
        txt = xstrdup(f ? f->header : col);
        if (!f)
            upper(txt);
    } else {
        const char *v = ci >= 0 ? vm_table_cell(t, (size_t)r, (size_t)ci)->text : NULL;
        txt = xstrdup(v ? v : o->parsable ? "" : "-");
    }
    char *esc = vm_cell_escape(txt);
    if (esc) {
        free(txt);
        txt = esc;
    }
    return txt;
}

/* SmartOS pads each column to its field's width (C31); a longer value
 * widens its column instead of pushing the rest out of line. */
char *vm_list_render_table(vm_table *t, const vm_list_opts *o, vm_err *err)
{
    cleanup_strv char **cols = order_cols(o->order, err);
    if (!cols)
        return NULL;
    size_t nc = strv_len(cols);
    if (vm_list_sort_table(t, o->sort ? o->sort : "ram,uuid", err) < 0)
        return NULL;
    bool header = o->header == 1 || (o->header == -1 && !o->parsable);
    size_t nr = vm_table_nrows(t), first = header ? 0 : 1;
    /* cells[(r + 1) * nc + c]; row 0 is the header. */
    char **cells = xcalloc((nr + 1) * nc, sizeof *cells);
    size_t *w = xcalloc(nc + 1, sizeof *w);
    for (size_t c = 0; c < nc; c++) {
        const struct field *f = find_field(cols[c]);
        int ci = vm_table_col(t, cols[c]);
        w[c] = (size_t)(f ? f->width : 20);
        for (size_t r = first; r <= nr; r++) {
            cells[r * nc + c] = cell_text(t, o, (int)r - 1, ci, f, cols[c]);
            size_t l = strlen(cells[r * nc + c]);
            if (l > w[c])
                w[c] = l;
        }
    }
    size_t cap = 4096, len = 0;
    char *buf = xmalloc(cap);
    buf[0] = '\0';
    static const char spaces[64] = "                                                               ";
    for (size_t r = first; r <= nr; r++) {
        for (size_t c = 0; c < nc; c++) {
            const char *txt = cells[r * nc + c];
            size_t tl = strlen(txt);
            if (c)
                append_n(&buf, &len, &cap, o->parsable ? ":" : "  ", o->parsable ? 1 : 2);
            append_n(&buf, &len, &cap, txt, tl);
            while (!o->parsable && tl < w[c]) {
                size_t k = w[c] - tl < sizeof spaces - 1 ? w[c] - tl : sizeof spaces - 1;
                append_n(&buf, &len, &cap, spaces, k);
                tl += k;
            }
            free(cells[r * nc + c]);
        }
        rtrim_line(buf, &len);
        append(&buf, &len, &cap, "\n");
    }
    free(cells);
    free(w);
    return buf;
}

char **vm_list_columns(const char *order, const char *sort)
{
    cleanup_strv char **o = strv_split(order ? order : "uuid,type,ram,state,alias", ",");
    cleanup_strv char **s = sort_cols(sort ? sort : "ram,uuid");
    size_t no = strv_len(o), ns = strv_len(s);
    char **all = xcalloc(no + ns + 1, sizeof *all);
    for (size_t i = 0; i < no; i++)
        all[i] = xstrdup(o[i]);
    for (size_t i = 0; i < ns; i++)
        all[no + i] = xstrdup(s[i]);
    return all;
}

char *vm_list_render(json_t *vms, const vm_list_opts *o, vm_err *err)
{
    cleanup_strv char **cols = vm_list_columns(o->order, o->sort);
    vm_table *t = vm_table_new((const char *const *)cols);
    vm_table_add_json(t, vms);
    char *r = vm_list_render_table(t, o, err);
    vm_table_free(t);
    return r;
}
