/* Pure functions of the storage layer: names, sizes, ordering, dataset JSON
 * entries and the space model.  No I/O here, so they are unit-tested
 * directly. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "storage/storage_internal.h"

#define VS_MAX_NAME 255

static bool comp_char_ok(char c, bool snap)
{
    return isalnum((unsigned char)c) || c == '-' || c == '_' || c == '.' || c == ':' || (snap && c == '%');
}

static bool component_ok(const char *s, size_t n, bool snap)
{
    if (n == 0)
        return false;
    if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!comp_char_ok(s[i], snap))
            return false;
    return true;
}

bool vs_valid_snap_component(const char *s)
{
    return s && strlen(s) <= VS_MAX_NAME && component_ok(s, strlen(s), true);
}

bool vs_valid_name(const char *name)
{
    if (!name || !*name || strlen(name) > VS_MAX_NAME)
        return false;
    const char *at = strchr(name, '@');
    size_t dlen = at ? (size_t)(at - name) : strlen(name);
    if (at && (strchr(at + 1, '@') || !vs_valid_snap_component(at + 1)))
        return false;
    /* Pool names start with a letter (zpool(8)). */
    if (!isalpha((unsigned char)name[0]))
        return false;
    const char *p = name, *end = name + dlen;
    while (p < end) {
        const char *slash = memchr(p, '/', (size_t)(end - p));
        size_t n = slash ? (size_t)(slash - p) : (size_t)(end - p);
        if (!component_ok(p, n, false))
            return false;
        if (!slash)
            break;
        p = slash + 1;
        if (p == end)
            return false; /* trailing slash */
    }
    return true;
}

int vs_name_cmp(const char *a, const char *b)
{
    /* Compare with '/' and '@' ranking below every name character, so a
     * dataset is followed by its snapshots and then its children. */
    for (;; a++, b++) {
        unsigned char ca = (unsigned char)*a, cb = (unsigned char)*b;
        if (ca == cb) {
            if (!ca)
                return 0;
            continue;
        }
        int ra = ca == 0 ? 0 : ca == '@' ? 1 : ca == '/' ? 2 : ca + 3;
        int rb = cb == 0 ? 0 : cb == '@' ? 1 : cb == '/' ? 2 : cb + 3;
        return ra - rb;
    }
}

char *vs_parent_name(const char *name)
{
    const char *slash = strrchr(name, '/');
    return slash ? xstrndup(name, (size_t)(slash - name)) : NULL;
}

bool vs_name_under(const char *name, const char *root)
{
    size_t n = strlen(root);
    return !strncmp(name, root, n) && (name[n] == '\0' || name[n] == '/' || name[n] == '@');
}

int vs_parse_size(const char *s, bool allow_none, uint64_t *out)
{
    static const char units[] = "BKMGTPE";
    char *end;
    double v;

    if (!s || !*s)
        return -1;
    if (allow_none && !strcmp(s, "none")) {
        *out = 0;
        return 0;
    }
    if (!isdigit((unsigned char)s[0]) && s[0] != '.')
        return -1;
    /* Plain integers are exact (doubles lose bytes above 2^53). */
    int64_t iv;
    if (parse_i64(s, &iv)) {
        *out = (uint64_t)iv;
        return 0;
    }
    errno = 0;
    v = strtod(s, &end);
    if (errno || end == s || v < 0)
        return -1;
    int shift = 0;
    if (*end) {
        const char *u = strchr(units, toupper((unsigned char)*end));
        if (!u)
            return -1;
        shift = (int)(u - units) * 10;
        end++;
        /* "10G", "10GB", "10g"; "B" alone only as "512B". */
        if (*end && (toupper((unsigned char)*end) != 'B' || shift == 0))
            return -1;
        if (*end)
            end++;
        if (*end)
            return -1;
    }
    long double r = (long double)v * (long double)(1ULL << shift);
    if (r >= 18446744073709551615.0L)
        return -1;
    *out = (uint64_t)r;
    return 0;
}

void vs_format_size(uint64_t v, char buf[16])
{
    static const char units[] = "BKMGTPE";
    int u = 0;
    uint64_t n = v;
    while (n >= 1024 && u < 6) {
        n /= 1024;
        u++;
    }
    /* Same rules as libzfs zfs_nicenum: exact multiples print as integers,
     * else the most precision that fits in 5 characters. */
    if (u == 0 || v % (1ULL << (10 * u)) == 0) {
        char t[32];
        snprintf(t, sizeof t, "%llu%c", (unsigned long long)n, units[u]);
        snprintf(buf, 16, "%.15s", t);
        return;
    }
    double d = (double)v / (double)(1ULL << (10 * u));
    for (int prec = 2; prec >= 0; prec--) {
        char t[64];
        snprintf(t, sizeof t, "%.*f%c", prec, d, units[u]);
        snprintf(buf, 16, "%.15s", t);
        if (strlen(buf) <= 5)
            return;
    }
}

uint64_t vs_ds_prop_u64(json_t *ds, const char *prop)
{
    json_t *v = json_object_get(json_object_get(ds, "props"), prop);
    return json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
}

uint64_t vs_ds_refres(json_t *ds)
{
    json_t *v = json_object_get(json_object_get(ds, "props"), "refreservation");
    if (json_is_string(v) && !strcmp(json_string_value(v), "auto"))
        return vs_ds_prop_u64(ds, "volsize");
    return json_is_integer(v) ? (uint64_t)json_integer_value(v) : 0;
}

static int cmp_names(const void *a, const void *b)
{
    return vs_name_cmp(*(const char *const *)a, *(const char *const *)b);
}

json_t *vs_sorted_names(json_t *datasets)
{
    size_t n = json_object_size(datasets), i = 0;
    const char **v = xcalloc(n + 1, sizeof *v);
    const char *k;
    json_t *val;
    json_object_foreach(datasets, k, val)
        v[i++] = k;
    qsort(v, n, sizeof *v, cmp_names);
    json_t *out = json_array();
    for (i = 0; i < n; i++)
        json_array_append_new(out, json_string(v[i]));
    free(v);
    return out;
}

static uint64_t u64max(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

static uint64_t default_refres(json_t *ds, bool quota)
{
    uint64_t r = vs_ds_refres(ds);
    uint64_t v = vs_ds_prop_u64(ds, "volsize");
    return quota && v > r ? v : r;
}

void vs_acct_compute(json_t *datasets, vs_written_fn fn, void *opaque, vs_refres_fn rfn, vs_acct *out)
{
    /* Children sort after their parent, so walking the sorted list
     * backwards finishes every child before its parent. */
    cleanup_json json_t *names = vs_sorted_names(datasets);
    cleanup_json json_t *index = json_object();
    size_t n = json_array_size(names);
    /* per dataset: sum of children's outer (with written, promises only,
     * quota charge) */
    uint64_t *kids = xcalloc(n + 1, sizeof *kids), *kids0 = xcalloc(n + 1, sizeof *kids0);
    uint64_t *kidsq = xcalloc(n + 1, sizeof *kidsq);
    uint64_t total_written = 0, root_outer = 0, root_outer0 = 0;

    if (!rfn)
        rfn = default_refres;
    for (size_t i = 0; i < n; i++)
        json_object_set_new(index, json_string_value(json_array_get(names, i)), json_integer((json_int_t)i));
    out->inner = json_object();
    out->qinner = json_object();
    for (size_t i = n; i-- > 0;) {
        const char *name = json_string_value(json_array_get(names, i));
        json_t *ds = json_object_get(datasets, name);
        uint64_t w = 0, ws = 0;
        if (fn) {
            w = fn(opaque, name, ds);
            json_t *snaps = json_object_get(ds, "snaps"), *s;
            size_t j;
            json_array_foreach(snaps, j, s) {
                char sn[600];
                snprintf(sn, sizeof sn, "%s@%s", name, json_string_value(json_object_get(s, "name")));
                ws += fn(opaque, sn, s);
            }
        }
        total_written += w + ws;
        uint64_t refres = rfn(ds, false), qc = rfn(ds, true);
        uint64_t resv = vs_ds_prop_u64(ds, "reservation");
        uint64_t inner = u64max(refres, w) + ws + kids[i];
        uint64_t inner0 = refres + kids0[i];
        uint64_t innerq = u64max(qc, w) + ws + kidsq[i];
        uint64_t o = u64max(resv, inner), o0 = u64max(resv, inner0), oq = u64max(resv, innerq);
        json_object_set_new(out->inner, name, json_integer((json_int_t)inner));
        json_object_set_new(out->qinner, name, json_integer((json_int_t)innerq));
        const char *slash = strrchr(name, '/');
        json_t *pi = NULL;
        if (slash) {
            char parent[600];
            snprintf(parent, sizeof parent, "%.*s", (int)(slash - name), name);
            pi = json_object_get(index, parent);
        }
        if (pi) {
            size_t k = (size_t)json_integer_value(pi);
            kids[k] += o;
            kids0[k] += o0;
            kidsq[k] += oq;
        } else {
            root_outer += o;
            root_outer0 += o0;
        }
    }
    free(kids);
    free(kids0);
    free(kidsq);
    out->promised = root_outer0;
    out->unconsumed = root_outer > total_written ? root_outer - total_written : 0;
}

void vs_acct_free(vs_acct *a)
{
    json_decref(a->inner);
    json_decref(a->qinner);
    a->inner = NULL;
    a->qinner = NULL;
}

/* ---- dataset JSON ---- */

const char *vs_jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

int vs_ds_type(json_t *ds)
{
    const char *t = vs_jstr(ds, "type");
    return t && !strcmp(t, "volume") ? VS_VOLUME : VS_FILESYSTEM;
}

const char *vs_type_name(int t)
{
    return t == VS_VOLUME ? "volume" : t == VS_SNAPSHOT ? "snapshot" : "filesystem";
}

/* "ds@snap" -> ds (allocated) and snap pointer into name; NULL snap if none. */
char *vs_split_snap(const char *name, const char **snap)
{
    const char *at = strchr(name, '@');
    *snap = at ? at + 1 : NULL;
    return at ? xstrndup(name, (size_t)(at - name)) : xstrdup(name);
}

ssize_t vs_find_snap(json_t *ds, const char *snap)
{
    json_t *snaps = json_object_get(ds, "snaps"), *s;
    size_t i;
    json_array_foreach(snaps, i, s)
        if (!strcmp(vs_jstr(s, "name"), snap))
            return (ssize_t)i;
    return -1;
}

json_t *vs_child_names(json_t *dss, const char *name, bool recursive)
{
    json_t *out = json_array();
    const char *n;
    json_t *ds;
    size_t len = strlen(name);
    json_object_foreach(dss, n, ds) {
        if (strncmp(n, name, len) || n[len] != '/')
            continue;
        if (!recursive && strchr(n + len + 1, '/'))
            continue;
        json_array_append_new(out, json_string(n));
    }
    return out;
}
