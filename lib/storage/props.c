/* Properties: parsing what a caller may set (creation and vs_set), what
 * vs_get reports (zfs get's values and sources), and volume resize (the
 * "volsize" property). */
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "storage/storage_internal.h"

static const char *const compress_values[] = { "on",     "off",    "gzip",   "gzip-1", "gzip-2", "gzip-3",
                                               "gzip-4", "gzip-5", "gzip-6", "gzip-7", "gzip-8", "gzip-9",
                                               "lz4",    "lzjb",   "zle",    "zstd",   NULL };

static const char *const readonly_props[] = { "name",       "type",       "origin",
                                              "used",       "referenced", "usedbysnapshots",
                                              "available",  "creation",   "userrefs",
                                              "mountpoint", "guid",       NULL };

static bool in_list(const char *const *l, const char *s)
{
    for (size_t i = 0; l[i]; i++)
        if (!strcmp(l[i], s))
            return true;
    return false;
}

static bool is_user_prop(const char *p)
{
    return strchr(p, ':') != NULL && p[0] != ':';
}

/* Parses one settable property for a dataset of `type` into its stored
 * form; the message is completed by the caller's "cannot ... 'x': " prefix. */
static int parse_prop(int type, const char *prop, json_t *val, json_t **out, vm_err *err)
{
    char buf[32];
    const char *s = json_string_value(val);
    if (json_is_integer(val)) {
        snprintf(buf, sizeof buf, "%lld", (long long)json_integer_value(val));
        s = buf;
    }
    if (!s)
        return vm_err_set(err, VMERR_INVALID, "'%s' must be a string or a number", prop);
    if (is_user_prop(prop)) {
        if (strlen(prop) > 255)
            return vm_err_set(err, VMERR_INVALID, "property name '%s' is too long", prop);
        if (strlen(s) > 8191)
            return vm_err_set(err, VMERR_INVALID, "property value for '%s' is too long", prop);
        *out = json_string(s);
        return 0;
    }
    if (in_list(readonly_props, prop))
        return vm_err_set(err, VMERR_INVALID, "'%s' is readonly", prop);
    if (!strcmp(prop, "compression")) {
        if (!in_list(compress_values, s))
            return vm_err_set(err, VMERR_INVALID,
                              "'compression' must be one of 'on | off | lzjb | "
                              "gzip | gzip-[1-9] | zle | lz4 | zstd'");
        *out = json_string(s);
        return 0;
    }
    if (!strcmp(prop, "quota") || !strcmp(prop, "refquota")) {
        if (type == VS_VOLUME)
            return vm_err_set(err, VMERR_INVALID, "'%s' does not apply to datasets of this type", prop);
    } else if (!strcmp(prop, "volblocksize") || !strcmp(prop, "volsize")) {
        if (type != VS_VOLUME)
            return vm_err_set(err, VMERR_INVALID, "'%s' does not apply to datasets of this type", prop);
    } else if (strcmp(prop, "reservation") && strcmp(prop, "refreservation")) {
        return vm_err_set(err, VMERR_INVALID, "invalid property '%s'", prop);
    }
    if (!strcmp(prop, "refreservation") && !strcmp(s, "auto")) {
        if (type != VS_VOLUME)
            return vm_err_set(err, VMERR_INVALID, "'refreservation=auto' only applies to volumes");
        *out = json_string("auto");
        return 0;
    }
    uint64_t v;
    bool none_ok = strcmp(prop, "volblocksize") && strcmp(prop, "volsize");
    if (vs_parse_size(s, none_ok, &v) < 0 || v > INT64_MAX)
        return vm_err_set(err, VMERR_INVALID, "bad numeric value '%s'", s);
    if (!strcmp(prop, "volblocksize") && (v < 512 || v > 131072 || (v & (v - 1))))
        return vm_err_set(err, VMERR_INVALID, "'volblocksize' must be power of 2 from 512B to 128KB");
    if (!strcmp(prop, "volsize") && v == 0)
        return vm_err_set(err, VMERR_INVALID, "volume size cannot be zero");
    *out = json_integer((json_int_t)v);
    return 0;
}

/* Validates a creation property object into stored form.  `allow_volsize`
 * for clones. */
int vs_parse_props(int type, json_t *props, bool allow_volsize, json_t **out, vm_err *err)
{
    cleanup_json json_t *res = json_object();
    const char *k;
    json_t *v;
    if (props && !json_is_object(props))
        return vm_err_set(err, VMERR_INVALID, "properties must be an object");
    json_object_foreach(props, k, v) {
        json_t *pv = NULL;
        if (!strcmp(k, "volsize") && !allow_volsize)
            continue; /* given separately to vs_create_vol */
        if (parse_prop(type, k, v, &pv, err) < 0)
            return -1;
        json_object_set_new(res, k, pv);
    }
    *out = steal_ptr(res);
    return 0;
}

static json_t *pv(json_t *value, const char *source)
{
    return json_pack("{s:o, s:s}", "value", value, "source", source);
}

static json_t *none(void)
{
    return pv(json_string("-"), "-");
}

/* An inheritable property: local, inherited from the nearest ancestor, or
 * the default. */
static json_t *inherited(json_t *dss, const char *name, const char *prop, const char *def)
{
    cleanup_free char *cur = xstrdup(name);
    while (cur) {
        json_t *ds = json_object_get(dss, cur);
        json_t *val = json_object_get(json_object_get(ds, "props"), prop);
        if (val) {
            if (!strcmp(cur, name))
                return pv(json_incref(val), "local");
            cleanup_free char *src = xasprintf("inherited from %s", cur);
            return pv(json_incref(val), src);
        }
        char *p = vs_parent_name(cur);
        free(cur);
        cur = p;
    }
    return def ? pv(json_string(def), "default") : NULL;
}

static json_t *size_prop(json_t *ds, const char *prop)
{
    json_t *v = json_object_get(json_object_get(ds, "props"), prop);
    if (!v)
        return pv(json_integer(0), "default");
    return pv(json_integer(json_integer_value(v)), "local");
}

static bool wanted(const char *const *only, const char *p)
{
    if (!only)
        return true;
    for (size_t i = 0; only[i]; i++)
        if (!strcmp(only[i], p))
            return true;
    return false;
}

/* User properties: a snapshot's own, or a dataset's local ones, then
 * those inherited from its ancestors. */
static void user_props(json_t *dss, const char *dsname, json_t *snap, const char *const *only, json_t *o)
{
    if (snap) {
        const char *k;
        json_t *val;
        json_object_foreach(json_object_get(snap, "props"), k, val)
            if (wanted(only, k))
                json_object_set_new(o, k, pv(json_incref(val), "local"));
        return;
    }
    cleanup_free char *cur = xstrdup(dsname);
    while (cur) {
        const char *k;
        json_t *val;
        json_object_foreach(json_object_get(json_object_get(dss, cur), "props"), k, val) {
            if (!is_user_prop(k) || json_object_get(o, k) || !wanted(only, k))
                continue;
            json_object_set_new(o, k, inherited(dss, dsname, k, NULL));
        }
        char *p = vs_parent_name(cur);
        free(cur);
        cur = p;
    }
}

/* Computes properties of `name` (dataset or snapshot).  `only` limits the
 * work to the listed properties (NULL: all). */
static int get_props(vs_pool *pool, vs_view *v, const char *name, const char *const *only, json_t **out, vm_err *err)
{
    json_t *ds, *snap;
    if (vs_view_find(v, name, &ds, &snap, err) < 0)
        return -1;
    cleanup_json json_t *o = json_object();
    const char *sn;
    cleanup_free char *dsname = vs_split_snap(name, &sn);
    int type = snap ? VS_SNAPSHOT : vs_ds_type(ds);
    json_t *obj = snap ? snap : ds;
#define WANT(p) wanted(only, p)
    if (WANT("name"))
        json_object_set_new(o, "name", pv(json_string(name), "-"));
    if (WANT("type"))
        json_object_set_new(o, "type", pv(json_string(vs_type_name(type)), "-"));
    if (WANT("creation"))
        json_object_set_new(o, "creation", pv(json_integer(json_integer_value(json_object_get(obj, "creation"))), "-"));
    bool need_used = WANT("used") || WANT("referenced") || WANT("usedbysnapshots");
    if (need_used) {
        uint64_t used, own, snaps;
        vs_usage(pool, v->dss, name, ds, snap, &used, &own, &snaps);
        if (WANT("used"))
            json_object_set_new(o, "used", pv(json_integer((json_int_t)used), "-"));
        if (WANT("referenced"))
            json_object_set_new(o, "referenced", pv(json_integer((json_int_t)own), "-"));
        if (WANT("usedbysnapshots"))
            json_object_set_new(o, "usedbysnapshots", snap ? none() : pv(json_integer((json_int_t)snaps), "-"));
    }
    if (WANT("available")) {
        if (snap) {
            json_object_set_new(o, "available", none());
        } else {
            uint64_t avail;
            if (vs_available(pool, v->dss, dsname, &avail, err) < 0)
                return -1;
            json_object_set_new(o, "available", pv(json_integer((json_int_t)avail), "-"));
        }
    }
    if (WANT("mountpoint")) {
        if (type == VS_FILESYSTEM) {
            cleanup_free char *mp = xasprintf("%s/%s", pool->ctx->root, name);
            json_object_set_new(o, "mountpoint", pv(json_string(mp), "default"));
        } else {
            json_object_set_new(o, "mountpoint", none());
        }
    }
    if (WANT("origin"))
        json_object_set_new(o, "origin",
                            !snap && vs_jstr(ds, "origin") ? pv(json_string(vs_jstr(ds, "origin")), "-") : none());
    if (WANT("quota"))
        json_object_set_new(o, "quota", type == VS_FILESYSTEM ? size_prop(ds, "quota") : none());
    if (WANT("reservation"))
        json_object_set_new(o, "reservation", snap ? none() : size_prop(ds, "reservation"));
    if (WANT("volsize")) {
        if (type == VS_VOLUME)
            json_object_set_new(o, "volsize", pv(json_integer((json_int_t)vs_ds_prop_u64(ds, "volsize")), "local"));
        else if (snap && json_object_get(snap, "volsize"))
            json_object_set_new(o, "volsize",
                                pv(json_integer(json_integer_value(json_object_get(snap, "volsize"))), "-"));
        else
            json_object_set_new(o, "volsize", none());
    }
    if (WANT("volblocksize")) {
        json_t *b = json_object_get(json_object_get(ds, "props"), "volblocksize");
        if (type == VS_VOLUME)
            json_object_set_new(o, "volblocksize",
                                b ? pv(json_incref(b), "-") : pv(json_integer(VS_DEFAULT_VOLBLOCKSIZE), "default"));
        else
            json_object_set_new(o, "volblocksize", none());
    }
    if (WANT("refquota"))
        json_object_set_new(o, "refquota", type == VS_FILESYSTEM ? size_prop(ds, "refquota") : none());
    if (WANT("refreservation")) {
        if (snap) {
            json_object_set_new(o, "refreservation", none());
        } else {
            json_t *r = json_object_get(json_object_get(ds, "props"), "refreservation");
            json_object_set_new(o, "refreservation",
                                pv(json_integer((json_int_t)vs_ds_refres_eff(ds)), r ? "local" : "default"));
        }
    }
    if (WANT("compression")) {
        json_t *c = snap ? NULL : inherited(v->dss, dsname, "compression", "off");
        json_object_set_new(o, "compression", c ? c : none());
    }
    if (WANT("userrefs"))
        json_object_set_new(o, "userrefs",
                            snap ? pv(json_integer((json_int_t)json_object_size(json_object_get(snap, "holds"))), "-")
                                 : none());
    if (WANT("guid"))
        json_object_set_new(o, "guid", pv(json_string(vs_jstr(obj, "guid")), "-"));
    if (WANT("receive_resume_token")) {
        const char *st = snap ? NULL : json_string_value(json_object_get(json_object_get(ds, "props"), VS_RESUME_PROP));
        cleanup_free char *tok = st ? vs_resume_token(st) : NULL;
        json_object_set_new(o, "receive_resume_token", tok ? pv(json_string(tok), "-") : none());
    }
    user_props(v->dss, dsname, snap, only, o);
#undef WANT
    *out = steal_ptr(o);
    return 0;
}

int vs_get(vs_pool *pool, const char *name, json_t **props, vm_err *err)
{
    vs_view v;
    if (vs_view_open(pool, &v, err) < 0)
        return -1;
    int r = get_props(pool, &v, name, NULL, props, err);
    vs_view_close(&v);
    return r;
}

int vs_get_some(vs_pool *pool, const char *name, const char *const *props, json_t **out, vm_err *err)
{
    vs_view v;
    if (vs_view_open(pool, &v, err) < 0)
        return -1;
    int r = get_props(pool, &v, name, props, out, err);
    vs_view_close(&v);
    return r;
}

static int get_one(vs_pool *pool, const char *name, const char *prop, json_t **val, vm_err *err)
{
    vs_view v;
    cleanup_json json_t *o = NULL;
    if (vs_view_open(pool, &v, err) < 0)
        return -1;
    const char *const one[] = { prop, NULL };
    int r = get_props(pool, &v, name, one, &o, err);
    vs_view_close(&v);
    if (r < 0)
        return -1;
    json_t *p = json_object_get(o, prop);
    if (!p)
        return vm_err_set(err, VMERR_NOTFOUND, "cannot get '%s' of '%s': no such property", prop, name);
    *val = json_incref(json_object_get(p, "value"));
    return 0;
}

int vs_get_int(vs_pool *pool, const char *name, const char *prop, int64_t *out, vm_err *err)
{
    cleanup_json json_t *val = NULL;
    if (get_one(pool, name, prop, &val, err) < 0)
        return -1;
    if (!json_is_integer(val))
        return vm_err_set(err, VMERR_INVALID, "property '%s' of '%s' is not a number", prop, name);
    *out = json_integer_value(val);
    return 0;
}

int vs_get_str(vs_pool *pool, const char *name, const char *prop, char **out, vm_err *err)
{
    cleanup_json json_t *val = NULL;
    if (get_one(pool, name, prop, &val, err) < 0)
        return -1;
    if (json_is_integer(val))
        *out = xasprintf("%lld", (long long)json_integer_value(val));
    else
        *out = xstrdup(json_string_value(val));
    return 0;
}

static int resize_locked(vs_txn *t, const char *name, uint64_t volsize, int flags, bool meta_only, vm_err *err)
{
    cleanup_free char *prefix = xasprintf("cannot set property for '%s'", name);
    vs_space_before sb = { 0, NULL };
    json_t *ds;
    int r = -1;
    if (vs_lookup_ds(t, name, &ds, err) < 0)
        return -1;
    if (vs_ds_type(ds) != VS_VOLUME)
        return vm_err_set(err, VMERR_INVALID, "%s: 'volsize' does not apply to datasets of this type", prefix);
    uint64_t cur = vs_ds_prop_u64(ds, "volsize");
    if (volsize == cur)
        return 0;
    if (volsize < cur && !(flags & VS_ALLOW_SHRINK) && !meta_only) {
        char a[16], b[16];
        vs_format_size(cur, a);
        vs_format_size(volsize, b);
        return vm_err_set(err, VMERR_INVALID, "%s: new size must be greater than current size (%s > %s)", prefix, a, b);
    }
    json_t *props = json_object_get(ds, "props");
    json_t *b = json_object_get(props, "volblocksize");
    uint64_t bs = json_is_integer(b) ? (uint64_t)json_integer_value(b) : VS_DEFAULT_VOLBLOCKSIZE;
    if (volsize == 0 || volsize % bs || volsize > INT64_MAX)
        return vm_err_set(err, VMERR_INVALID, "%s: volume size must be a multiple of volume block size", prefix);
    vs_space_snap(t->pool, t->dss, &sb);
    json_object_set_new(props, "volsize", json_integer((json_int_t)volsize));
    char what[64], s[16];
    vs_format_size(volsize, s);
    snprintf(what, sizeof what, "volsize %s", s);
    if (!meta_only && vs_space_check(t->pool, t->dss, &sb, prefix, what, err) < 0)
        goto out;
    /* The file changes first: a crash before the commit leaves metadata
     * with the old size of a file that may be larger (see README). */
    if (!meta_only && t->pool->drv->resize(t->pool, ds, volsize, err) < 0) {
        vm_err_prefix(err, "%s: ", prefix);
        goto out;
    }
    r = vs_txn_commit(t, err);
out:
    vs_space_free(&sb);
    return r;
}

int vs_resize(vs_pool *pool, const char *name, uint64_t volsize, int flags, vm_err *err)
{
    vs_txn t;
    if (vs_txn_begin(pool, &t, err) < 0)
        return -1;
    int r = resize_locked(&t, name, volsize, flags, false, err);
    vs_txn_end(&t);
    return r;
}

int vs_set_volsize_meta(vs_pool *pool, const char *name, uint64_t volsize, vm_err *err)
{
    vs_txn t;
    if (vs_txn_begin(pool, &t, err) < 0)
        return -1;
    int r = resize_locked(&t, name, volsize, VS_ALLOW_SHRINK, true, err);
    vs_txn_end(&t);
    return r;
}

int vs_set(vs_pool *pool, const char *name, const char *prop, const char *value, vm_err *err)
{
    cleanup_free char *prefix = xasprintf("cannot set property for '%s'", name);
    cleanup_json json_t *jv = NULL, *parsed = NULL;
    vs_space_before sb = { 0, NULL };
    json_t *ds;
    vs_txn t;
    int r = -1;

    if (!prop || !value)
        return vm_err_set(err, VMERR_INVALID, "%s: missing property or value", prefix);
    if (vs_txn_begin(pool, &t, err) < 0)
        return -1;
    if (strchr(name, '@')) {
        json_t *snap;
        ssize_t idx;
        if (vs_lookup_snap(&t, name, prefix, &ds, &idx, err) < 0)
            goto out;
        if (!is_user_prop(prop)) {
            vm_err_set(err, VMERR_INVALID, "%s: this property can not be modified for snapshots", prefix);
            goto out;
        }
        snap = json_array_get(json_object_get(ds, "snaps"), (size_t)idx);
        json_object_set_new(json_object_get(snap, "props"), prop, json_string(value));
        r = vs_txn_commit(&t, err);
        goto out;
    }
    if (vs_lookup_ds(&t, name, &ds, err) < 0)
        goto out;
    if (!strcmp(prop, "volsize")) {
        uint64_t v;
        if (vs_parse_size(value, false, &v) < 0) {
            vm_err_set(err, VMERR_INVALID, "%s: bad numeric value '%s'", prefix, value);
            goto out;
        }
        r = resize_locked(&t, name, v, 0, false, err);
        goto out;
    }
    if (!strcmp(prop, "volblocksize")) {
        vm_err_set(err, VMERR_INVALID, "%s: 'volblocksize' is readonly", prefix);
        goto out;
    }
    jv = json_string(value);
    if (parse_prop(vs_ds_type(ds), prop, jv, &parsed, err) < 0) {
        vm_err_prefix(err, "%s: ", prefix);
        goto out;
    }
    vs_space_snap(pool, t.dss, &sb);
    json_object_set(json_object_get(ds, "props"), prop, parsed);
    char what[96], s[16];
    if (json_is_integer(parsed))
        vs_format_size((uint64_t)json_integer_value(parsed), s);
    snprintf(what, sizeof what, "%s %s", prop, json_is_integer(parsed) ? s : value);
    /* Lowering a quota below current use is refused as ZFS does; the
     * generic check covers reservations growing. */
    if (!strcmp(prop, "quota") && json_integer_value(parsed) > 0) {
        cleanup_json json_t *qi = NULL;
        vs_quota_inner(pool, t.dss, &qi);
        uint64_t in = (uint64_t)json_integer_value(json_object_get(qi, name));
        if (in > (uint64_t)json_integer_value(parsed)) {
            char a[16];
            vs_format_size(in, a);
            vm_err_set(err, VMERR_NOSPACE, "%s: size is less than current used or reserved space (%s)", prefix, a);
            goto out;
        }
    }
    if (vs_space_check(pool, t.dss, &sb, prefix, what, err) < 0)
        goto out;
    r = vs_txn_commit(&t, err);
out:
    vs_space_free(&sb);
    vs_txn_end(&t);
    return r;
}

int vs_inherit(vs_pool *pool, const char *name, const char *prop, vm_err *err)
{
    if (!prop || !is_user_prop(prop))
        return vm_err_set(err, VMERR_INVALID, "cannot inherit '%s' for '%s': only user properties", prop ? prop : "",
                          name);
    vs_txn t;
    json_t *ds;
    if (vs_txn_begin(pool, &t, err) < 0)
        return -1;
    int r = vs_lookup_ds(&t, name, &ds, err);
    if (r == 0 && json_object_get(json_object_get(ds, "props"), prop)) {
        json_object_del(json_object_get(ds, "props"), prop);
        r = vs_txn_commit(&t, err);
    }
    vs_txn_end(&t);
    return r;
}
