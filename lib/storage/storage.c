/* The storage API: names, metadata, locking and space accounting; the data
 * work is dispatched to the pool's driver (storage_driver.h).
 *
 * Metadata is one file per pool (pool.json).  A change is: take the pool
 * flock, read, let the driver create any new data under unreferenced names,
 * write pool.json atomically (the commit point), then finish (rename a fresh
 * overlay into place, delete data no longer referenced, fix the mount view)
 * and unlock.  See README.md for the crash analysis. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "storage/storage_internal.h"

#define DEFAULT_VOLBLOCKSIZE 8192
/* The pool keeps this much free space unpromisable (ZFS's slop space is
 * 1/32; we only guard against promising the last bytes). */

static const vs_driver *const drivers[] = { &vs_driver_dir, NULL };

/* ------------------------------------------------------------------ */
/* small JSON helpers                                                  */

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static int ds_type(json_t *ds)
{
    const char *t = jstr(ds, "type");
    return t && !strcmp(t, "volume") ? VS_VOLUME : VS_FILESYSTEM;
}

static const char *type_name(int t)
{
    return t == VS_VOLUME ? "volume" : t == VS_SNAPSHOT ? "snapshot" : "filesystem";
}

static char *new_guid(void)
{
    char u[37], hex[17];
    int j = 0;
    uuid_new(u);
    for (int i = 0; u[i] && j < 16; i++)
        if (u[i] != '-')
            hex[j++] = u[i];
    hex[j] = '\0';
    return xstrdup(hex);
}

/* "ds@snap" -> ds (allocated) and snap pointer into name; NULL snap if none. */
static char *split_snap(const char *name, const char **snap)
{
    const char *at = strchr(name, '@');
    *snap = at ? at + 1 : NULL;
    return at ? xstrndup(name, (size_t)(at - name)) : xstrdup(name);
}

static ssize_t find_snap(json_t *ds, const char *snap)
{
    json_t *snaps = json_object_get(ds, "snaps"), *s;
    size_t i;
    json_array_foreach(snaps, i, s)
        if (!strcmp(jstr(s, "name"), snap))
            return (ssize_t)i;
    return -1;
}

static bool in_pool(vs_pool *pool, const char *name)
{
    return vs_name_under(name, pool->name);
}

/* ------------------------------------------------------------------ */
/* metadata file, lock, transactions                                   */

static int meta_read(vs_pool *pool, json_t **out, vm_err *err)
{
    struct stat st;
    if (stat(pool->meta_path, &st) < 0)
        return vm_err_sys(err, errno, "cannot open %s", pool->meta_path);
    if (pool->meta && st.st_ino == pool->meta_ino && st.st_dev == pool->meta_dev &&
        st.st_mtim.tv_sec == pool->meta_mtime.tv_sec && st.st_mtim.tv_nsec == pool->meta_mtime.tv_nsec) {
        *out = json_incref(pool->meta);
        return 0;
    }
    json_t *m = NULL;
    if (read_json_file(pool->meta_path, &m, err) < 0)
        return -1;
    if (!json_is_object(json_object_get(m, "datasets"))) {
        json_decref(m);
        return vm_err_set(err, VMERR_IO, "%s: no \"datasets\" object", pool->meta_path);
    }
    json_decref(pool->meta);
    pool->meta = json_incref(m);
    pool->meta_ino = st.st_ino;
    pool->meta_dev = st.st_dev;
    pool->meta_mtime = st.st_mtim;
    *out = m;
    return 0;
}

static int meta_write(vs_pool *pool, json_t *meta, vm_err *err)
{
    /* Compact: this file is parsed by every listing of a big host. */
    cleanup_free char *s = json_compact(meta);
    size_t n = strlen(s);
    s = xrealloc(s, n + 2);
    s[n] = '\n';
    s[n + 1] = '\0';
    if (write_file_atomic(pool->meta_path, s, n + 1, 0600, err) < 0)
        return -1;
    json_decref(pool->meta);
    pool->meta = NULL; /* re-read (and re-stat) on next use */
    return 0;
}

/* Marks "this process may leave half-made data": a marker whose process is
 * gone tells vs_pool_open to repair and collect. */
static void tx_mark(vs_pool *pool)
{
    cleanup_free char *tx = xasprintf("%s/%ld", pool->txdir, (long)getpid());
    int tfd = open(tx, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (tfd >= 0)
        close(tfd);
}

static void tx_unmark(vs_pool *pool)
{
    cleanup_free char *tx = xasprintf("%s/%ld", pool->txdir, (long)getpid());
    unlink(tx);
}

static int pool_lock(vs_pool *pool, vm_err *err)
{
    cleanup_free char *path = xasprintf("%s/pool.lock", pool->dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return vm_err_sys(err, errno, "cannot open %s", path);
    while (flock(fd, LOCK_EX) < 0) {
        if (errno != EINTR) {
            int e = errno;
            close(fd);
            return vm_err_sys(err, e, "cannot lock %s", path);
        }
    }
    pool->lockfd = fd;
    tx_mark(pool);
    return 0;
}

static void pool_unlock(vs_pool *pool)
{
    if (pool->lockfd < 0)
        return;
    tx_unmark(pool);
    flock(pool->lockfd, LOCK_UN);
    close(pool->lockfd);
    pool->lockfd = -1;
}

typedef struct txn {
    vs_pool *pool;
    json_t *meta;
    json_t *dss;       /* meta["datasets"] (borrowed) */
    json_t *garbage;   /* data names to remove after the commit */
    json_t *finish;    /* dataset names whose "pending" to apply after commit */
    bool committed;
} txn;

/* Finishes work a crashed process committed but did not complete: applies
 * pending overlays (before anything else looks at the data). */
static void repair_pending(vs_pool *pool, json_t *dss)
{
    const char *name;
    json_t *ds;
    json_object_foreach(dss, name, ds) {
        if (!json_object_get(ds, "pending"))
            continue;
        if (ds_type(ds) == VS_VOLUME)
            pool->drv->apply_pending(pool, ds);
        json_object_del(ds, "pending");
    }
}

static int txn_begin(vs_pool *pool, txn *t, vm_err *err)
{
    memset(t, 0, sizeof *t);
    t->pool = pool;
    if (pool_lock(pool, err) < 0)
        return -1;
    json_t *m = NULL;
    if (meta_read(pool, &m, err) < 0) {
        pool_unlock(pool);
        return -1;
    }
    /* Private copy: the cache must not see uncommitted edits. */
    t->meta = json_deep_copy(m);
    json_decref(m);
    t->dss = json_object_get(t->meta, "datasets");
    t->garbage = json_array();
    t->finish = json_array();
    repair_pending(pool, t->dss);
    return 0;
}

static int txn_commit(txn *t, vm_err *err)
{
    if (meta_write(t->pool, t->meta, err) < 0)
        return -1;
    t->committed = true;
    return 0;
}

/* After the commit: finish, delete what became garbage, fix the view. */
static void txn_end(txn *t)
{
    size_t i;
    json_t *v;
    if (t->committed) {
        json_array_foreach(t->finish, i, v) {
            json_t *ds = json_object_get(t->dss, json_string_value(v));
            if (ds)
                t->pool->drv->apply_pending(t->pool, ds);
        }
        json_array_foreach(t->garbage, i, v)
            t->pool->drv->remove_data(t->pool, json_string_value(v));
        t->pool->drv->view_sync(t->pool, t->meta);
    }
    json_decref(t->meta);
    json_decref(t->garbage);
    json_decref(t->finish);
    pool_unlock(t->pool);
    memset(t, 0, sizeof *t);
}

/* Data created for an aborted change (nothing references it). */
static void discard_data(vs_pool *pool, json_t *obj)
{
    static const char *const keys[] = { "file", "pending", "layer" };
    for (size_t i = 0; i < 3; i++)
        if (jstr(obj, keys[i]))
            pool->drv->remove_data(pool, jstr(obj, keys[i]));
}

static void collect_refs(json_t *dss, json_t *refs)
{
    const char *name;
    json_t *ds, *s;
    size_t i;
    json_object_foreach(dss, name, ds) {
        if (jstr(ds, "file"))
            json_object_set_new(refs, jstr(ds, "file"), json_true());
        if (jstr(ds, "pending"))
            json_object_set_new(refs, jstr(ds, "pending"), json_true());
        json_array_foreach(json_object_get(ds, "snaps"), i, s)
            if (jstr(s, "layer"))
                json_object_set_new(refs, jstr(s, "layer"), json_true());
    }
}

/* With the lock held: finish committed work, drop orphaned data, fix view. */
static int pool_recover(vs_pool *pool, vm_err *err)
{
    txn t;
    if (txn_begin(pool, &t, err) < 0)
        return -1;
    bool had_pending = false;
    cleanup_json json_t *m = NULL;
    if (meta_read(pool, &m, NULL) == 0) {
        const char *n;
        json_t *ds;
        json_object_foreach(json_object_get(m, "datasets"), n, ds)
            if (json_object_get(ds, "pending"))
                had_pending = true;
    }
    int r = 0;
    if (had_pending)
        r = txn_commit(&t, err);
    cleanup_json json_t *refs = json_object();
    collect_refs(t.dss, refs);
    pool->drv->gc(pool, refs);
    pool->drv->view_sync(pool, t.meta);
    /* Markers of processes that are gone. */
    DIR *d = opendir(pool->txdir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d))) {
            long pid = strtol(de->d_name, NULL, 10);
            if (pid > 0 && pid != (long)getpid() && kill((pid_t)pid, 0) < 0 && errno == ESRCH)
                unlinkat(dirfd(d), de->d_name, 0);
        }
        closedir(d);
    }
    t.committed = false; /* view already synced; nothing else to finish */
    txn_end(&t);
    return r;
}

static bool stale_tx(vs_pool *pool)
{
    DIR *d = opendir(pool->txdir);
    struct dirent *de;
    bool stale = false;
    if (!d)
        return false;
    while (!stale && (de = readdir(d))) {
        long pid = strtol(de->d_name, NULL, 10);
        if (pid > 0 && pid != (long)getpid() && kill((pid_t)pid, 0) < 0 && errno == ESRCH)
            stale = true;
    }
    closedir(d);
    return stale;
}

/* ------------------------------------------------------------------ */
/* pool                                                                */

const char *vs_pool_name(const vs_pool *pool)
{
    return pool->name;
}

void vs_pool_close(vs_pool *pool)
{
    if (!pool)
        return;
    pool_unlock(pool);
    json_decref(pool->meta);
    json_decref(pool->acct_for);
    json_decref(pool->acct_qinner);
    free(pool->name);
    free(pool->dir);
    free(pool->datadir);
    free(pool->meta_path);
    free(pool->txdir);
    free(pool);
}

void cleanup_vs_poolp(vs_pool **p)
{
    vs_pool_close(*p);
    *p = NULL;
}

static json_t *new_ds(int type)
{
    cleanup_free char *guid = new_guid();
    return json_pack("{s:s, s:s, s:I, s:{}, s:[]}", "guid", guid, "type", type_name(type),
                     "creation", (json_int_t)time(NULL), "props", "snaps");
}

int vs_pool_open(const vm_ctx *ctx, const char *name, vs_pool **out, vm_err *err)
{
    cleanup_vs_pool vs_pool *pool = NULL;
    if (!name)
        name = ctx->pool;
    if (!vs_valid_name(name) || strchr(name, '/') || strchr(name, '@'))
        return vm_err_set(err, VMERR_INVALID, "cannot open '%s': invalid pool name", name);
    pool = xcalloc(1, sizeof *pool);
    pool->ctx = ctx;
    pool->lockfd = -1;
    pool->name = xstrdup(name);
    pool->dir = xasprintf("%s/var/vmstore/%s", ctx->root, name);
    pool->datadir = xasprintf("%s/data", pool->dir);
    pool->meta_path = xasprintf("%s/pool.json", pool->dir);
    pool->txdir = xasprintf("%s/tx", pool->dir);
    pool->drv = &vs_driver_dir;
    if (mkdir_p(pool->txdir, 0700, err) < 0)
        return -1;

    if (!path_exists(pool->meta_path)) {
        if (pool->drv->init(pool, err) < 0 || pool_lock(pool, err) < 0)
            return -1;
        int r = 0;
        if (!path_exists(pool->meta_path)) {
            cleanup_json json_t *root = new_ds(VS_FILESYSTEM);
            cleanup_json json_t *meta = json_pack("{s:i, s:s, s:s, s:{}}", "version", 1, "pool", name,
                                                  "driver", pool->drv->name, "datasets");
            r = pool->drv->fs_create(pool, root, err);
            if (r == 0) {
                json_object_set(json_object_get(meta, "datasets"), name, root);
                r = meta_write(pool, meta, err);
                if (r == 0)
                    pool->drv->view_sync(pool, meta);
                else
                    discard_data(pool, root);
            }
        }
        pool_unlock(pool);
        if (r < 0)
            return -1;
    } else {
        cleanup_json json_t *m = NULL;
        if (meta_read(pool, &m, err) < 0)
            return -1;
        const char *dn = jstr(m, "driver");
        pool->drv = NULL;
        for (size_t i = 0; drivers[i]; i++)
            if (dn && !strcmp(drivers[i]->name, dn))
                pool->drv = drivers[i];
        if (!pool->drv)
            return vm_err_set(err, VMERR_UNSUPPORTED, "pool '%s': unknown storage driver '%s'", name,
                              dn ? dn : "(none)");
        if (stale_tx(pool) && pool_recover(pool, err) < 0)
            return -1;
    }
    *out = steal_ptr(pool);
    return 0;
}

/* ------------------------------------------------------------------ */
/* properties                                                          */

static const char *const compress_values[] = {
    "on", "off", "gzip", "gzip-1", "gzip-2", "gzip-3", "gzip-4", "gzip-5", "gzip-6",
    "gzip-7", "gzip-8", "gzip-9", "lz4", "lzjb", "zle", "zstd", NULL };

static const char *const readonly_props[] = {
    "name", "type", "origin", "used", "referenced", "usedbysnapshots", "available",
    "creation", "userrefs", "mountpoint", "guid", NULL };

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
            return vm_err_set(err, VMERR_INVALID, "'compression' must be one of 'on | off | lzjb | "
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
static int parse_props(int type, json_t *props, bool allow_volsize, json_t **out, vm_err *err)
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

/* ------------------------------------------------------------------ */
/* space                                                               */

/* qcow2 metadata for a fully written volume: header + refcount table, an L2
 * entry (8 B) and a refcount entry (2 B) per 64 KiB cluster.  "auto"
 * refreservation adds it, as ZFS adds its own metadata overhead. */
static uint64_t qcow2_overhead(uint64_t volsize)
{
    uint64_t clusters = (volsize + 65535) / 65536;
    return 3 * 65536 + clusters * 10;
}

static uint64_t vs_ds_refres_eff(json_t *ds)
{
    json_t *v = json_object_get(json_object_get(ds, "props"), "refreservation");
    if (json_is_string(v))
        return vs_ds_refres(ds) + qcow2_overhead(vs_ds_prop_u64(ds, "volsize"));
    return vs_ds_refres(ds);
}

typedef struct wctx {
    vs_pool *pool;
    bool exact;       /* also measure filesystems (du) */
} wctx;

static uint64_t written_cb(void *opaque, const char *name, json_t *obj)
{
    wctx *w = opaque;
    bool snap = strchr(name, '@') != NULL;
    const char *dn = snap ? jstr(obj, "layer") : jstr(obj, "file");
    int type;
    if (snap) {
        type = json_object_get(obj, "volsize") ? VS_VOLUME : VS_FILESYSTEM;
    } else {
        type = ds_type(obj);
    }
    if (!dn || (type == VS_FILESYSTEM && !w->exact))
        return 0;
    return w->pool->drv->written(w->pool, dn, type);
}

static uint64_t refres_cb(json_t *ds, bool quota)
{
    uint64_t r = vs_ds_refres_eff(ds);
    if (quota && ds_type(ds) == VS_VOLUME) {
        /* a quota counts a volume's full size even if thin */
        uint64_t v = vs_ds_prop_u64(ds, "volsize");
        return v > r ? v : r;
    }
    return r;
}

static void acct_run(vs_pool *pool, json_t *dss, bool exact, vs_acct *a)
{
    wctx w = { pool, exact };
    vs_acct_compute(dss, written_cb, &w, refres_cb, a);
}

/* Quota charge: like inner() but a volume counts at least its volsize. */
static void quota_inner(vs_pool *pool, json_t *dss, json_t **out)
{
    vs_acct a;
    acct_run(pool, dss, false, &a);
    *out = json_incref(a.qinner);
    vs_acct_free(&a);
}

static void fmt(uint64_t v, char b[16])
{
    vs_format_size(v, b);
}

typedef struct space_before {
    uint64_t unconsumed;
    json_t *qinner;
} space_before;

static void space_snap(vs_pool *pool, json_t *dss, space_before *sb)
{
    vs_acct a;
    acct_run(pool, dss, false, &a);
    sb->unconsumed = a.unconsumed;
    sb->qinner = json_incref(a.qinner);
    vs_acct_free(&a);
}

/* Refuses a change (already applied to `dss` in memory, data not yet
 * written) that would promise more than the pool has or exceed a quota.
 * `what` names the cause ("refreservation 10G"), `prefix` the operation. */
static int space_check(vs_pool *pool, json_t *dss, space_before *sb, const char *prefix,
                       const char *what, vm_err *err)
{
    vs_acct a;
    cleanup_json json_t *qafter = NULL;
    uint64_t size, used, free_;
    int r = 0;

    acct_run(pool, dss, false, &a);
    qafter = json_incref(a.qinner);
    if (pool->drv->space(pool, &size, &used, &free_, err) < 0) {
        r = -1;
        goto out;
    }
    if (a.unconsumed > sb->unconsumed && a.unconsumed > free_) {
        char s1[16], s2[16], s3[16], s4[16], s5[16];
        uint64_t avail = free_ > sb->unconsumed ? free_ - sb->unconsumed : 0;
        fmt(a.unconsumed - sb->unconsumed, s1);
        fmt(avail, s2);
        fmt(size, s3);
        fmt(free_, s4);
        fmt(sb->unconsumed, s5);
        r = vm_err_set(err, VMERR_NOSPACE, "%s: out of space: %s needs %s but only %s is available "
                       "(pool size %s, free %s, reserved %s)", prefix, what, s1, s2, s3, s4, s5);
        goto out;
    }
    const char *n;
    json_t *ds;
    json_object_foreach(dss, n, ds) {
        uint64_t q = vs_ds_prop_u64(ds, "quota");
        if (!q)
            continue;
        uint64_t after = (uint64_t)json_integer_value(json_object_get(qafter, n));
        uint64_t before = (uint64_t)json_integer_value(json_object_get(sb->qinner, n));
        if (after > q && after > before) {
            char s1[16], s2[16], s3[16];
            fmt(q, s1);
            fmt(after, s2);
            fmt(before < q ? q - before : 0, s3);
            r = vm_err_set(err, VMERR_NOSPACE, "%s: size is greater than available space "
                           "(%s: quota of '%s' is %s, would use %s, %s available)", prefix, what, n, s1, s2, s3);
            goto out;
        }
    }
out:
    vs_acct_free(&a);
    return r;
}

static void space_free(space_before *sb)
{
    json_decref(sb->qinner);
    sb->qinner = NULL;
}

/* Accounting of the current metadata for readers (cached briefly). */
static int acct_cached(vs_pool *pool, json_t **qinner, vm_err *err)
{
    cleanup_json json_t *m = NULL;
    if (meta_read(pool, &m, err) < 0)
        return -1;
    if (pool->acct_for != m || now_ms() - pool->acct_ms > 1000) {
        vs_acct a;
        json_decref(pool->acct_for);
        json_decref(pool->acct_qinner);
        acct_run(pool, json_object_get(m, "datasets"), false, &a);
        pool->acct_unconsumed = a.unconsumed;
        pool->acct_promised = a.promised;
        pool->acct_qinner = json_incref(a.qinner);
        vs_acct_free(&a);
        pool->acct_for = json_incref(m);
        pool->acct_ms = now_ms();
    }
    if (qinner)
        *qinner = pool->acct_qinner;
    return 0;
}

int vs_pool_space(vs_pool *pool, vs_space *out, vm_err *err)
{
    if (pool->drv->space(pool, &out->size, &out->used, &out->free, err) < 0)
        return -1;
    if (acct_cached(pool, NULL, err) < 0)
        return -1;
    out->reserved = pool->acct_promised;
    out->available = out->free > pool->acct_unconsumed ? out->free - pool->acct_unconsumed : 0;
    return 0;
}

/* ------------------------------------------------------------------ */
/* creation                                                            */

/* Common checks for a new dataset name; the parent must be a filesystem. */
static int check_new_name(txn *t, const char *name, const char *prefix, vm_err *err)
{
    if (!vs_valid_name(name) || strchr(name, '@'))
        return vm_err_set(err, VMERR_INVALID, "%s: invalid dataset name", prefix);
    if (!in_pool(t->pool, name) || !strcmp(name, t->pool->name)) {
        cleanup_free char *p = split_snap(name, &(const char *){ NULL });
        char *slash = strchr(p, '/');
        if (slash)
            *slash = '\0';
        if (!strcmp(name, t->pool->name))
            return vm_err_set(err, VMERR_EXISTS, "%s: dataset already exists", prefix);
        return vm_err_set(err, VMERR_NOTFOUND, "%s: no such pool '%s'", prefix, p);
    }
    if (json_object_get(t->dss, name))
        return vm_err_set(err, VMERR_EXISTS, "%s: dataset already exists", prefix);
    cleanup_free char *parent = vs_parent_name(name);
    json_t *pds = json_object_get(t->dss, parent);
    if (!pds)
        return vm_err_set(err, VMERR_NOTFOUND, "%s: parent does not exist", prefix);
    if (ds_type(pds) != VS_FILESYSTEM)
        return vm_err_set(err, VMERR_INVALID, "%s: parent is not a filesystem", prefix);
    return 0;
}

static int check_volsize(json_t *props, uint64_t volsize, const char *prefix, vm_err *err)
{
    json_t *b = json_object_get(props, "volblocksize");
    uint64_t bs = json_is_integer(b) ? (uint64_t)json_integer_value(b) : DEFAULT_VOLBLOCKSIZE;
    if (volsize == 0)
        return vm_err_set(err, VMERR_INVALID, "%s: volume size cannot be zero", prefix);
    if (volsize % bs)
        return vm_err_set(err, VMERR_INVALID, "%s: volume size must be a multiple of volume block size", prefix);
    if (volsize > INT64_MAX)
        return vm_err_set(err, VMERR_INVALID, "%s: volume size is too large", prefix);
    return 0;
}

static const char *space_what(json_t *props, char buf[96])
{
    json_t *r = json_object_get(props, "refreservation");
    json_t *v = json_object_get(props, "reservation");
    char s[16];
    if (json_is_integer(v) && json_integer_value(v) > 0) {
        fmt((uint64_t)json_integer_value(v), s);
        snprintf(buf, 96, "reservation %s", s);
    } else if (json_is_string(r)) {
        fmt((uint64_t)json_integer_value(json_object_get(props, "volsize")), s);
        snprintf(buf, 96, "refreservation auto (volsize %s)", s);
    } else if (json_is_integer(r) && json_integer_value(r) > 0) {
        fmt((uint64_t)json_integer_value(r), s);
        snprintf(buf, 96, "refreservation %s", s);
    } else {
        snprintf(buf, 96, "volume size");
    }
    return buf;
}

enum { MK_FS, MK_VOL, MK_IMPORT };

static int create_common(vs_pool *pool, int kind, const char *name, uint64_t volsize, const char *src,
                         const char *src_fmt, json_t *props, vm_err *err)
{
    cleanup_free char *prefix = xasprintf("cannot create '%s'", name);
    cleanup_json json_t *parsed = NULL, *ds = NULL;
    space_before sb = { 0, NULL };
    int type = kind == MK_FS ? VS_FILESYSTEM : VS_VOLUME;
    txn t;
    int r = -1;

    if (!vs_valid_name(name) || strchr(name, '@'))
        return vm_err_set(err, VMERR_INVALID, "%s: invalid dataset name", prefix);
    if (parse_props(type, props, false, &parsed, err) < 0) {
        vm_err_prefix(err, "%s: ", prefix);
        return -1;
    }
    if (kind == MK_IMPORT) {
        char *argv[] = { "qemu-img", "info", "--output=json", src_fmt ? "-f" : (char *)src,
                         (char *)src_fmt, (char *)src, NULL };
        if (!src_fmt)
            argv[4] = NULL;
        cleanup_free char *out = NULL;
        struct stat st;
        uint64_t vsz;
        if (stat(src, &st) < 0)
            return vm_err_set(err, VMERR_NOTFOUND, "%s: cannot open '%s': no such file", prefix, src);
        if (src_fmt && !strcmp(src_fmt, "raw")) {
            vsz = (uint64_t)st.st_size;   /* no need to ask qemu-img */
        } else {
            if (run_cmd(argv, &out, err) != 0) {
                vm_err_prefix(err, "%s: ", prefix);
                return -1;
            }
            cleanup_json json_t *info = json_loads(out, 0, NULL);
            vsz = (uint64_t)json_integer_value(json_object_get(info, "virtual-size"));
        }
        json_t *b = json_object_get(parsed, "volblocksize");
        uint64_t bs = json_is_integer(b) ? (uint64_t)json_integer_value(b) : DEFAULT_VOLBLOCKSIZE;
        if (volsize == 0)
            volsize = (vsz + bs - 1) / bs * bs;
        if (volsize < vsz) {
            char a[16], c[16];
            fmt(volsize, a);
            fmt(vsz, c);
            return vm_err_set(err, VMERR_INVALID, "%s: volume size %s is smaller than the image (%s)",
                              prefix, a, c);
        }
    }
    if (type == VS_VOLUME) {
        json_object_set_new(parsed, "volsize", json_integer((json_int_t)volsize));
        if (check_volsize(parsed, volsize, prefix, err) < 0)
            return -1;
    }
    ds = new_ds(type);
    json_object_update(json_object_get(ds, "props"), parsed);
    if (kind == MK_IMPORT) {
        /* Copying an image can take minutes: it runs without the pool lock,
         * so other datasets' changes (other VMs) go on meanwhile.  The name
         * and the space are checked first, so a doomed import fails before
         * any copying, and again at the commit below. */
        if (txn_begin(pool, &t, err) < 0)
            return -1;
        r = check_new_name(&t, name, prefix, err);
        if (r == 0) {
            space_snap(pool, t.dss, &sb);
            json_object_set(t.dss, name, ds);
            char what[96];
            r = space_check(pool, t.dss, &sb, prefix, space_what(parsed, what), err);
            json_object_del(t.dss, name);
            space_free(&sb);
        }
        txn_end(&t);
        if (r < 0)
            return -1;
        /* The marker stays while the copy runs: if this process dies, the
         * next opener sees it and collects the partial copy. */
        tx_mark(pool);
        if (pool->drv->vol_import(pool, ds, src, src_fmt, volsize, err) < 0) {
            tx_unmark(pool);
            vm_err_prefix(err, "%s: ", prefix);
            return -1;
        }
        r = -1;
    }
    if (txn_begin(pool, &t, err) < 0) {
        discard_data(pool, ds);
        tx_unmark(pool);
        return -1;
    }
    if (check_new_name(&t, name, prefix, err) < 0)
        goto out;
    space_snap(pool, t.dss, &sb);
    json_object_set(t.dss, name, ds);
    char what[96];
    if (space_check(pool, t.dss, &sb, prefix, space_what(parsed, what), err) < 0)
        goto out;
    if (kind == MK_FS)
        r = pool->drv->fs_create(pool, ds, err);
    else if (kind == MK_VOL)
        r = pool->drv->vol_create(pool, ds, volsize, err);
    else
        r = 0;   /* copied above */
    if (r < 0) {
        vm_err_prefix(err, "%s: ", prefix);
        goto out;
    }
    r = txn_commit(&t, err);
out:
    if (r < 0)
        discard_data(pool, ds);
    space_free(&sb);
    txn_end(&t);
    return r;
}

int vs_create_fs(vs_pool *pool, const char *name, json_t *props, vm_err *err)
{
    return create_common(pool, MK_FS, name, 0, NULL, NULL, props, err);
}

int vs_create_vol(vs_pool *pool, const char *name, uint64_t volsize, json_t *props, vm_err *err)
{
    return create_common(pool, MK_VOL, name, volsize, NULL, NULL, props, err);
}

int vs_import_vol(vs_pool *pool, const char *name, const char *src, const char *src_fmt,
                  uint64_t volsize, json_t *props, vm_err *err)
{
    return create_common(pool, MK_IMPORT, name, volsize, src, src_fmt, props, err);
}

/* ------------------------------------------------------------------ */
/* snapshots                                                           */

static json_t *child_names(json_t *dss, const char *name, bool recursive)
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

/* Basenames of direct filesystem children (their links are not content). */
static json_t *child_links(json_t *dss, const char *name)
{
    cleanup_json json_t *kids = child_names(dss, name, false);
    json_t *out = json_array(), *k;
    size_t i;
    json_array_foreach(kids, i, k) {
        const char *n = json_string_value(k);
        if (ds_type(json_object_get(dss, n)) == VS_FILESYSTEM)
            json_array_append_new(out, json_string(strrchr(n, '/') + 1));
    }
    return out;
}

static int lookup_ds(txn *t, const char *name, json_t **ds, vm_err *err)
{
    *ds = json_object_get(t->dss, name);
    if (!*ds)
        return vm_err_set(err, VMERR_NOTFOUND, "cannot open '%s': dataset does not exist", name);
    return 0;
}

int vs_snapshot(vs_pool *pool, const char *snapname, int flags, vm_err *err)
{
    return vs_snapshot_live(pool, snapname, flags, NULL, NULL, err);
}

/* The volumes of a snapshot whose writer must move to their new overlays:
 * [{"dataset", "active", "overlay"}] with absolute paths. */
static json_t *live_switches(vs_pool *pool, txn *t, json_t *made)
{
    json_t *sw = json_array();
    size_t i;
    json_t *v;
    json_array_foreach(made, i, v) {
        json_t *d = json_object_get(t->dss, json_string_value(v));
        if (ds_type(d) != VS_VOLUME || !jstr(d, "pending"))
            continue;
        cleanup_free char *active = pool->drv->path(pool, jstr(d, "file"), VS_VOLUME);
        cleanup_free char *overlay = pool->drv->path(pool, jstr(d, "pending"), VS_VOLUME);
        json_array_append_new(sw, json_pack("{s:O, s:s, s:s}", "dataset", v, "active", active,
                                            "overlay", overlay));
    }
    return sw;
}

int vs_snapshot_live(vs_pool *pool, const char *snapname, int flags, vs_switch_fn live, void *arg,
                     vm_err *err)
{
    const char *snap;
    cleanup_free char *dsname = split_snap(snapname, &snap);
    cleanup_json json_t *targets = NULL, *made = json_array();
    json_t *ds;
    txn t;
    int r = -1;
    size_t i;
    json_t *v;

    if (!snap)
        return vm_err_set(err, VMERR_INVALID, "cannot create snapshot '%s': missing '@' delimiter in snapshot name", snapname);
    if (!vs_valid_name(snapname))
        return vm_err_set(err, VMERR_INVALID, "cannot create snapshot '%s': invalid character in name", snapname);
    if (txn_begin(pool, &t, err) < 0)
        return -1;
    if (lookup_ds(&t, dsname, &ds, err) < 0)
        goto out;
    targets = (flags & VS_RECURSIVE) ? child_names(t.dss, dsname, true) : json_array();
    json_array_insert_new(targets, 0, json_string(dsname));
    json_array_foreach(targets, i, v) {
        json_t *d = json_object_get(t.dss, json_string_value(v));
        if (find_snap(d, snap) >= 0) {
            vm_err_set(err, VMERR_EXISTS, "cannot create snapshot '%s@%s': dataset already exists",
                       json_string_value(v), snap);
            goto out;
        }
    }
    int64_t now = time(NULL);
    json_array_foreach(targets, i, v) {
        const char *n = json_string_value(v);
        json_t *d = json_object_get(t.dss, n);
        cleanup_free char *guid = new_guid();
        json_t *s = json_pack("{s:s, s:s, s:I, s:{}, s:{}}", "name", snap, "guid", guid,
                              "creation", (json_int_t)now, "holds", "props");
        if (ds_type(d) == VS_VOLUME)
            json_object_set_new(s, "volsize", json_integer((json_int_t)vs_ds_prop_u64(d, "volsize")));
        cleanup_json json_t *links = child_links(t.dss, n);
        if (pool->drv->snapshot(pool, d, s, links, err) < 0) {
            json_decref(s);
            vm_err_prefix(err, "cannot create snapshot '%s@%s': ", n, snap);
            goto undo;
        }
        json_array_append_new(json_object_get(d, "snaps"), s);
        json_array_append(made, v);
    }
    if (txn_commit(&t, err) < 0)
        goto undo;
    json_array_foreach(made, i, v)
        json_array_append(t.finish, v);
    r = 0;
    if (live) {
        /* Committed first: whatever happens next, no data the writer puts
         * in the new overlays can be lost to garbage collection.  The
         * overlays replace the active names in txn_end, before or after
         * the writer moved: the writer's files stay the same inodes. */
        cleanup_json json_t *sw = live_switches(pool, &t, made);
        if (json_array_size(sw) && live(arg, sw, err) < 0)
            r = -2;
    }
    goto out;
undo:
    json_array_foreach(made, i, v) {
        json_t *d = json_object_get(t.dss, json_string_value(v));
        json_t *snaps = json_object_get(d, "snaps");
        discard_data(pool, json_array_get(snaps, json_array_size(snaps) - 1));
        if (jstr(d, "pending"))
            pool->drv->remove_data(pool, jstr(d, "pending"));
    }
out:
    txn_end(&t);
    return r;
}

static int lookup_snap(txn *t, const char *snapname, const char *prefix, json_t **ds, ssize_t *idx,
                       vm_err *err)
{
    const char *snap;
    cleanup_free char *dsname = split_snap(snapname, &snap);
    if (!snap || !vs_valid_name(snapname))
        return vm_err_set(err, VMERR_INVALID, "%s: invalid snapshot name", prefix);
    *ds = json_object_get(t->dss, dsname);
    *idx = *ds ? find_snap(*ds, snap) : -1;
    if (*idx < 0)
        return vm_err_set(err, VMERR_NOTFOUND, "cannot open '%s': dataset does not exist", snapname);
    return 0;
}

/* Names of datasets whose origin is `snapname`, comma-separated. */
static char *clones_of(json_t *dss, const char *snapname, const char *except_under)
{
    const char *n;
    json_t *ds;
    char *out = NULL;
    json_object_foreach(dss, n, ds) {
        const char *o = jstr(ds, "origin");
        if (!o || strcmp(o, snapname) || (except_under && vs_name_under(n, except_under)))
            continue;
        char *x = out ? xasprintf("%s, %s", out, n) : xstrdup(n);
        free(out);
        out = x;
    }
    return out;
}

static char *holds_list(json_t *snap)
{
    const char *tag;
    json_t *v;
    char *out = NULL;
    json_object_foreach(json_object_get(snap, "holds"), tag, v) {
        char *x = out ? xasprintf("%s, %s", out, tag) : xstrdup(tag);
        free(out);
        out = x;
    }
    return out;
}

/* A filesystem clone is a copy of the snapshot's tree (seconds for a big
 * container root): validated under the lock by the caller, copied with the
 * lock released so other datasets' changes go on, then committed in a new
 * transaction that checks everything again.  A snapshot's data is removed
 * only after it has left the metadata, so finding the same snapshot (same
 * layer) at the commit proves the copy read it whole.  On return the
 * caller's transaction is open again (it ends it). */
static int clone_fs_unlocked(vs_pool *pool, txn *t, space_before *sb, const char *snapname, json_t *snap,
                             const char *newname, json_t *nds, const char *prefix, vm_err *err)
{
    cleanup_json json_t *frozen = json_deep_copy(snap);
    json_t *ods;
    ssize_t idx;

    json_object_del(t->dss, newname);
    space_free(sb);
    txn_end(t);
    tx_mark(pool);   /* a crash mid-copy: the next opener collects the copy */
    int r = pool->drv->clone(pool, frozen, nds, 0, err);
    vm_err e2 = VM_ERR_INIT;
    if (txn_begin(pool, t, r < 0 ? &e2 : err) < 0) {
        /* Without the lock nothing can be committed: drop the copy.  (The
         * caller's txn_end on a failed txn_begin only clears it.) */
        discard_data(pool, nds);
        tx_unmark(pool);
        return -1;
    }
    /* The origin gone meanwhile explains a failed copy too: say that. */
    if (lookup_snap(t, snapname, prefix, &ods, &idx, &e2) < 0 ||
        !json_equal(json_object_get(json_array_get(json_object_get(ods, "snaps"), (size_t)idx), "layer"),
                    json_object_get(frozen, "layer"))) {
        vm_err_set(err, VMERR_NOTFOUND, "cannot open '%s': dataset does not exist", snapname);
        goto fail;
    }
    if (r < 0) {
        vm_err_prefix(err, "%s: ", prefix);
        return -1;
    }
    if (check_new_name(t, newname, prefix, err) < 0)
        goto fail;
    space_snap(pool, t->dss, sb);
    json_object_set(t->dss, newname, nds);
    char what[96];
    if (space_check(pool, t->dss, sb, prefix, space_what(json_object_get(nds, "props"), what), err) < 0 ||
        txn_commit(t, err) < 0)
        goto fail;
    return 0;
fail:
    discard_data(pool, nds);
    return -1;
}

int vs_clone(vs_pool *pool, const char *snapname, const char *newname, json_t *props, vm_err *err)
{
    cleanup_free char *prefix = xasprintf("cannot create '%s'", newname);
    cleanup_json json_t *parsed = NULL, *nds = NULL;
    space_before sb = { 0, NULL };
    json_t *ods;
    ssize_t idx;
    txn t;
    int r = -1;

    if (!vs_valid_name(newname) || strchr(newname, '@'))
        return vm_err_set(err, VMERR_INVALID, "%s: invalid dataset name", prefix);
    if (txn_begin(pool, &t, err) < 0)
        return -1;
    if (lookup_snap(&t, snapname, prefix, &ods, &idx, err) < 0)
        goto out;
    int type = ds_type(ods);
    json_t *snap = json_array_get(json_object_get(ods, "snaps"), (size_t)idx);
    if (parse_props(type, props, true, &parsed, err) < 0) {
        vm_err_prefix(err, "%s: ", prefix);
        goto out;
    }
    if (check_new_name(&t, newname, prefix, err) < 0)
        goto out;
    uint64_t volsize = 0;
    if (type == VS_VOLUME) {
        uint64_t base = (uint64_t)json_integer_value(json_object_get(snap, "volsize"));
        json_t *vs = json_object_get(parsed, "volsize");
        volsize = json_is_integer(vs) ? (uint64_t)json_integer_value(vs) : base;
        if (!json_object_get(parsed, "volblocksize") && json_object_get(json_object_get(ods, "props"), "volblocksize"))
            json_object_set(parsed, "volblocksize", json_object_get(json_object_get(ods, "props"), "volblocksize"));
        if (volsize < base) {
            char a[16], b[16];
            fmt(volsize, a);
            fmt(base, b);
            vm_err_set(err, VMERR_INVALID, "%s: volume size %s is smaller than the origin's %s", prefix, a, b);
            goto out;
        }
        json_object_set_new(parsed, "volsize", json_integer((json_int_t)volsize));
        if (check_volsize(parsed, volsize, prefix, err) < 0)
            goto out;
    } else if (json_object_get(parsed, "volsize")) {
        vm_err_set(err, VMERR_INVALID, "%s: 'volsize' does not apply to datasets of this type", prefix);
        goto out;
    }
    space_snap(pool, t.dss, &sb);
    nds = new_ds(type);
    json_object_update(json_object_get(nds, "props"), parsed);
    json_object_set_new(nds, "origin", json_string(snapname));
    json_object_set(nds, "origin_layer", json_object_get(snap, "layer"));
    json_object_set(t.dss, newname, nds);
    char what[96];
    if (space_check(pool, t.dss, &sb, prefix, space_what(parsed, what), err) < 0)
        goto out;
    if (type == VS_FILESYSTEM) {
        r = clone_fs_unlocked(pool, &t, &sb, snapname, snap, newname, nds, prefix, err);
        goto out;
    }
    if (pool->drv->clone(pool, snap, nds, volsize, err) < 0) {
        vm_err_prefix(err, "%s: ", prefix);
        goto out;
    }
    r = txn_commit(&t, err);
    if (r < 0)
        discard_data(pool, nds);
out:
    space_free(&sb);
    txn_end(&t);
    return r;
}

/* Refuses removing snapshot `idx` of ds `dsname` (holds, clones outside
 * `keep_under`, which is being destroyed as well). */
static int snap_removable(txn *t, const char *dsname, json_t *snap, const char *keep_under,
                          const char *prefix, vm_err *err)
{
    cleanup_free char *full = xasprintf("%s@%s", dsname, jstr(snap, "name"));
    cleanup_free char *holds = holds_list(snap);
    if (holds)
        return vm_err_set(err, VMERR_BUSY, "%s: snapshot '%s' is held (tags: %s)", prefix, full, holds);
    cleanup_free char *clones = clones_of(t->dss, full, keep_under);
    if (clones)
        return vm_err_set(err, VMERR_BUSY, "%s: snapshot '%s' has dependent clones: %s", prefix, full, clones);
    return 0;
}

static void garbage_ds(txn *t, json_t *ds)
{
    json_t *s;
    size_t i;
    if (jstr(ds, "file"))
        json_array_append_new(t->garbage, json_string(jstr(ds, "file")));
    json_array_foreach(json_object_get(ds, "snaps"), i, s)
        if (jstr(s, "layer"))
            json_array_append_new(t->garbage, json_string(jstr(s, "layer")));
}

static int destroy_snapshot(txn *t, const char *name, vm_err *err)
{
    cleanup_free char *prefix = xasprintf("cannot destroy '%s'", name);
    const char *snap;
    cleanup_free char *dsname = split_snap(name, &snap); /* owns what snap points into */
    (void)dsname;
    json_t *ds;
    ssize_t idx;
    if (lookup_snap(t, name, prefix, &ds, &idx, err) < 0)
        return -1;
    json_t *s = json_array_get(json_object_get(ds, "snaps"), (size_t)idx);
    cleanup_free char *holds = holds_list(s);
    if (holds)
        return vm_err_set(err, VMERR_BUSY, "%s: snapshot is held (tags: %s)", prefix, holds);
    cleanup_free char *clones = clones_of(t->dss, name, NULL);
    if (clones)
        return vm_err_set(err, VMERR_BUSY, "%s: snapshot has dependent clones: %s", prefix, clones);
    if (t->pool->drv->snap_detach(t->pool, ds, (size_t)idx, err) < 0) {
        vm_err_prefix(err, "%s: ", prefix);
        return -1;
    }
    json_array_append_new(t->garbage, json_string(jstr(s, "layer")));
    json_array_remove(json_object_get(ds, "snaps"), (size_t)idx);
    return txn_commit(t, err);
}

int vs_destroy(vs_pool *pool, const char *name, int flags, vm_err *err)
{
    cleanup_free char *prefix = xasprintf("cannot destroy '%s'", name);
    cleanup_json json_t *victims = NULL;
    json_t *ds, *v, *s;
    size_t i, j;
    txn t;
    int r = -1;

    if (!vs_valid_name(name))
        return vm_err_set(err, VMERR_INVALID, "%s: invalid dataset name", prefix);
    if (txn_begin(pool, &t, err) < 0)
        return -1;
    if (strchr(name, '@')) {
        r = destroy_snapshot(&t, name, err);
        goto out;
    }
    if (lookup_ds(&t, name, &ds, err) < 0)
        goto out;
    if (!strcmp(name, pool->name)) {
        vm_err_set(err, VMERR_INVALID, "%s: operation does not apply to pools", prefix);
        goto out;
    }
    victims = child_names(t.dss, name, true);
    if (!(flags & VS_RECURSIVE) && (json_array_size(victims) || json_array_size(json_object_get(ds, "snaps")))) {
        vm_err_set(err, VMERR_BUSY, "%s: %s has children", prefix, type_name(ds_type(ds)));
        goto out;
    }
    json_array_insert_new(victims, 0, json_string(name));
    json_array_foreach(victims, i, v) {
        const char *n = json_string_value(v);
        json_t *d = json_object_get(t.dss, n);
        json_array_foreach(json_object_get(d, "snaps"), j, s)
            if (snap_removable(&t, n, s, name, prefix, err) < 0)
                goto out;
    }
    json_array_foreach(victims, i, v) {
        garbage_ds(&t, json_object_get(t.dss, json_string_value(v)));
        json_object_del(t.dss, json_string_value(v));
    }
    r = txn_commit(&t, err);
out:
    txn_end(&t);
    return r;
}

int vs_rollback(vs_pool *pool, const char *snapname, int flags, vm_err *err)
{
    cleanup_free char *prefix = xasprintf("cannot rollback to '%s'", snapname);
    const char *snap;
    cleanup_free char *dsname = split_snap(snapname, &snap);
    json_t *ds;
    ssize_t idx;
    txn t;
    int r = -1;
    (void)flags;

    if (txn_begin(pool, &t, err) < 0)
        return -1;
    if (lookup_snap(&t, snapname, prefix, &ds, &idx, err) < 0)
        goto out;
    json_t *snaps = json_object_get(ds, "snaps");
    for (size_t i = (size_t)idx + 1; i < json_array_size(snaps); i++)
        if (snap_removable(&t, dsname, json_array_get(snaps, i), NULL, prefix, err) < 0)
            goto out;
    json_t *s = json_array_get(snaps, (size_t)idx);
    if (pool->drv->rollback(pool, ds, s, err) < 0) {
        vm_err_prefix(err, "%s: ", prefix);
        goto out;
    }
    while (json_array_size(snaps) > (size_t)idx + 1) {
        json_array_append_new(t.garbage, json_string(jstr(json_array_get(snaps, (size_t)idx + 1), "layer")));
        json_array_remove(snaps, (size_t)idx + 1);
    }
    if (ds_type(ds) == VS_VOLUME) {
        json_object_set(json_object_get(ds, "props"), "volsize", json_object_get(s, "volsize"));
        json_array_append_new(t.finish, json_string(dsname));
    } else {
        /* A filesystem's data dir is replaced by the new copy. */
        json_array_append_new(t.garbage, json_string(jstr(ds, "file")));
        json_object_set(ds, "file", json_object_get(ds, "pending"));
        json_object_del(ds, "pending");
    }
    r = txn_commit(&t, err);
    if (r < 0 && jstr(ds, "pending"))
        pool->drv->remove_data(pool, jstr(ds, "pending"));
out:
    txn_end(&t);
    return r;
}

/* ------------------------------------------------------------------ */
/* rename / swap                                                       */

static char *replace_prefix(const char *s, const char *from, const char *to)
{
    return xasprintf("%s%s", to, s + strlen(from));
}

/* Renames `from` and everything below it to `to` in memory (keys and the
 * origin references of every dataset). */
static void rename_tree(json_t *dss, const char *from, const char *to)
{
    cleanup_json json_t *keys = json_array();
    const char *n;
    json_t *ds, *k;
    size_t i;
    json_object_foreach(dss, n, ds)
        if (vs_name_under(n, from))
            json_array_append_new(keys, json_string(n));
    json_array_foreach(keys, i, k) {
        const char *old = json_string_value(k);
        cleanup_free char *nn = replace_prefix(old, from, to);
        json_object_set(dss, nn, json_object_get(dss, old));
        json_object_del(dss, old);
    }
    json_object_foreach(dss, n, ds) {
        const char *o = jstr(ds, "origin");
        if (o && vs_name_under(o, from)) {
            cleanup_free char *no = replace_prefix(o, from, to);
            json_object_set_new(ds, "origin", json_string(no));
        }
    }
}

static int rename_snapshot(txn *t, const char *from, const char *to, vm_err *err)
{
    cleanup_free char *prefix = xasprintf("cannot rename to '%s'", to);
    const char *sa, *sb;
    cleanup_free char *da = split_snap(from, &sa);
    cleanup_free char *db = split_snap(to, &sb);
    json_t *ds, *v;
    ssize_t idx;
    const char *n;
    if (!sb || strcmp(da, db))
        return vm_err_set(err, VMERR_INVALID, "%s: snapshots must be part of same dataset", prefix);
    if (!vs_valid_name(to))
        return vm_err_set(err, VMERR_INVALID, "%s: invalid snapshot name", prefix);
    if (lookup_snap(t, from, prefix, &ds, &idx, err) < 0)
        return -1;
    if (find_snap(ds, sb) >= 0)
        return vm_err_set(err, VMERR_EXISTS, "%s: dataset already exists", prefix);
    json_object_set_new(json_array_get(json_object_get(ds, "snaps"), (size_t)idx), "name", json_string(sb));
    json_object_foreach(t->dss, n, v) {
        const char *o = jstr(v, "origin");
        if (o && !strcmp(o, from))
            json_object_set_new(v, "origin", json_string(to));
    }
    return txn_commit(t, err);
}

int vs_rename(vs_pool *pool, const char *from, const char *to, vm_err *err)
{
    cleanup_free char *prefix = xasprintf("cannot rename to '%s'", to);
    space_before sb = { 0, NULL };
    json_t *ds;
    txn t;
    int r = -1;

    if (!vs_valid_name(from))
        return vm_err_set(err, VMERR_INVALID, "cannot rename '%s': invalid dataset name", from);
    if (!vs_valid_name(to))
        return vm_err_set(err, VMERR_INVALID, "%s: invalid dataset name", prefix);
    if (txn_begin(pool, &t, err) < 0)
        return -1;
    if (strchr(from, '@')) {
        r = rename_snapshot(&t, from, to, err);
        goto out;
    }
    if (lookup_ds(&t, from, &ds, err) < 0)
        goto out;
    if (strchr(to, '@')) {
        vm_err_set(err, VMERR_INVALID, "%s: snapshots must be part of same dataset", prefix);
        goto out;
    }
    if (!strcmp(from, pool->name)) {
        vm_err_set(err, VMERR_INVALID, "cannot rename '%s': operation does not apply to pools", from);
        goto out;
    }
    if (!in_pool(pool, to)) {
        vm_err_set(err, VMERR_INVALID, "%s: datasets must be within same pool", prefix);
        goto out;
    }
    if (vs_name_under(to, from)) {
        vm_err_set(err, VMERR_INVALID, "%s: New dataset name cannot be a descendant of current dataset name", prefix);
        goto out;
    }
    if (check_new_name(&t, to, prefix, err) < 0)
        goto out;
    space_snap(pool, t.dss, &sb);
    rename_tree(t.dss, from, to);
    if (space_check(pool, t.dss, &sb, prefix, "moved datasets", err) < 0)
        goto out;
    r = txn_commit(&t, err);
out:
    space_free(&sb);
    txn_end(&t);
    return r;
}

int vs_swap(vs_pool *pool, const char *a, const char *b, vm_err *err)
{
    cleanup_free char *prefix = xasprintf("cannot swap '%s' and '%s'", a, b);
    space_before sb = { 0, NULL };
    json_t *da, *db;
    txn t;
    int r = -1;

    if (!vs_valid_name(a) || !vs_valid_name(b) || strchr(a, '@') || strchr(b, '@'))
        return vm_err_set(err, VMERR_INVALID, "%s: invalid dataset name", prefix);
    if (txn_begin(pool, &t, err) < 0)
        return -1;
    if (lookup_ds(&t, a, &da, err) < 0 || lookup_ds(&t, b, &db, err) < 0)
        goto out;
    if (!strcmp(a, pool->name) || !strcmp(b, pool->name) || vs_name_under(a, b) || vs_name_under(b, a)) {
        vm_err_set(err, VMERR_INVALID, "%s: one contains the other", prefix);
        goto out;
    }
    space_snap(pool, t.dss, &sb);
    /* "\x01" never appears in a valid name: a scratch prefix. */
    rename_tree(t.dss, a, "\x01swap");
    rename_tree(t.dss, b, a);
    rename_tree(t.dss, "\x01swap", b);
    if (space_check(pool, t.dss, &sb, prefix, "swapped datasets", err) < 0)
        goto out;
    r = txn_commit(&t, err);
out:
    space_free(&sb);
    txn_end(&t);
    return r;
}

/* ------------------------------------------------------------------ */
/* holds                                                               */

/* hold (add) and release (!add) share the lookup and the commit. */
static int change_hold(vs_pool *pool, const char *tag, const char *snapname, bool add, vm_err *err)
{
    cleanup_free char *prefix = add ? xasprintf("cannot hold snapshot '%s'", snapname)
                                    : xasprintf("cannot release hold from snapshot '%s'", snapname);
    json_t *ds;
    ssize_t idx;
    txn t;
    int r = -1;
    if (add && (!tag || !*tag || strlen(tag) > 255))
        return vm_err_set(err, VMERR_INVALID, "%s: invalid tag", prefix);
    if (txn_begin(pool, &t, err) < 0)
        return -1;
    if (lookup_snap(&t, snapname, prefix, &ds, &idx, err) < 0)
        goto out;
    json_t *holds = json_object_get(json_array_get(json_object_get(ds, "snaps"), (size_t)idx), "holds");
    bool has = tag && json_object_get(holds, tag);
    if (add && has) {
        vm_err_set(err, VMERR_EXISTS, "%s: tag already exists on this dataset", prefix);
        goto out;
    }
    if (!add && !has) {
        vm_err_set(err, VMERR_NOTFOUND, "%s: no such tag on this dataset", prefix);
        goto out;
    }
    if (add)
        json_object_set_new(holds, tag, json_integer((json_int_t)time(NULL)));
    else
        json_object_del(holds, tag);
    r = txn_commit(&t, err);
out:
    txn_end(&t);
    return r;
}

int vs_hold(vs_pool *pool, const char *tag, const char *snapname, vm_err *err)
{
    return change_hold(pool, tag, snapname, true, err);
}

int vs_release(vs_pool *pool, const char *tag, const char *snapname, vm_err *err)
{
    return change_hold(pool, tag, snapname, false, err);
}

/* Read-only access: the cached metadata, no lock (commits are atomic). */
typedef struct view {
    json_t *meta;
    json_t *dss;
} view;

static int view_open(vs_pool *pool, view *v, vm_err *err)
{
    if (meta_read(pool, &v->meta, err) < 0)
        return -1;
    v->dss = json_object_get(v->meta, "datasets");
    return 0;
}

static void view_close(view *v)
{
    json_decref(v->meta);
    v->meta = NULL;
}

/* Finds a dataset or snapshot; *snap is NULL for a dataset. */
static int view_find(view *v, const char *name, json_t **ds, json_t **snap, vm_err *err)
{
    const char *sn;
    cleanup_free char *dn = split_snap(name, &sn);
    *snap = NULL;
    *ds = vs_valid_name(name) ? json_object_get(v->dss, dn) : NULL;
    if (*ds && sn) {
        ssize_t i = find_snap(*ds, sn);
        *snap = i >= 0 ? json_array_get(json_object_get(*ds, "snaps"), (size_t)i) : NULL;
        if (!*snap)
            *ds = NULL;
    }
    if (!*ds)
        return vm_err_set(err, VMERR_NOTFOUND, "cannot open '%s': dataset does not exist", name);
    return 0;
}

int vs_holds_detail(vs_pool *pool, const char *snapname, json_t **holds, vm_err *err)
{
    view v;
    json_t *ds, *s;
    if (view_open(pool, &v, err) < 0)
        return -1;
    if (view_find(&v, snapname, &ds, &s, err) < 0 || !s) {
        if (!vm_err_is_set(err))
            vm_err_set(err, VMERR_INVALID, "cannot open '%s': operation only applies to snapshots", snapname);
        view_close(&v);
        return -1;
    }
    *holds = json_deep_copy(json_object_get(s, "holds"));
    view_close(&v);
    return 0;
}

int vs_holds(vs_pool *pool, const char *snapname, json_t **tags, vm_err *err)
{
    cleanup_json json_t *h = NULL;
    const char *k;
    json_t *val;
    if (vs_holds_detail(pool, snapname, &h, err) < 0)
        return -1;
    *tags = json_array();
    json_object_foreach(h, k, val)
        json_array_append_new(*tags, json_string(k));
    return 0;
}

/* ------------------------------------------------------------------ */
/* get / set / list                                                    */

bool vs_exists(vs_pool *pool, const char *name)
{
    view v;
    json_t *ds, *s;
    if (view_open(pool, &v, NULL) < 0)
        return false;
    bool ok = view_find(&v, name, &ds, &s, NULL) == 0;
    view_close(&v);
    return ok;
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

/* Computes properties of `name` (dataset or snapshot).  `only` limits the
 * work to one property (NULL: all). */
static bool wanted(const char *const *only, const char *p)
{
    if (!only)
        return true;
    for (size_t i = 0; only[i]; i++)
        if (!strcmp(only[i], p))
            return true;
    return false;
}

static int get_props(vs_pool *pool, view *v, const char *name, const char *const *only, json_t **out, vm_err *err)
{
    json_t *ds, *snap;
    if (view_find(v, name, &ds, &snap, err) < 0)
        return -1;
    cleanup_json json_t *o = json_object();
    const char *sn;
    cleanup_free char *dsname = split_snap(name, &sn);
    int type = snap ? VS_SNAPSHOT : ds_type(ds);
    json_t *obj = snap ? snap : ds;
#define WANT(p) wanted(only, p)
    if (WANT("name"))
        json_object_set_new(o, "name", pv(json_string(name), "-"));
    if (WANT("type"))
        json_object_set_new(o, "type", pv(json_string(type_name(type)), "-"));
    if (WANT("creation"))
        json_object_set_new(o, "creation", pv(json_integer(json_integer_value(json_object_get(obj, "creation"))), "-"));
    bool need_used = WANT("used") || WANT("referenced") || WANT("usedbysnapshots");
    if (need_used) {
        wctx w = { pool, true };
        uint64_t own = 0, snaps = 0, used;
        if (snap) {
            own = written_cb(&w, name, snap);
            used = own;
        } else {
            /* used: the subtree only (an exact walk of the pool would du
             * every container root). */
            cleanup_json json_t *sub = json_object();
            const char *n;
            json_t *d, *s;
            size_t i;
            json_object_foreach(v->dss, n, d)
                if (vs_name_under(n, dsname))
                    json_object_set(sub, n, d);
            vs_acct a;
            vs_acct_compute(sub, written_cb, &w, refres_cb, &a);
            used = (uint64_t)json_integer_value(json_object_get(a.inner, dsname));
            vs_acct_free(&a);
            own = written_cb(&w, dsname, ds);
            json_array_foreach(json_object_get(ds, "snaps"), i, s) {
                cleanup_free char *full = xasprintf("%s@%s", dsname, jstr(s, "name"));
                snaps += written_cb(&w, full, s);
            }
            own += snaps;
        }
        if (WANT("used"))
            json_object_set_new(o, "used", pv(json_integer((json_int_t)used), "-"));
        if (WANT("referenced"))
            json_object_set_new(o, "referenced", pv(json_integer((json_int_t)own), "-"));
        if (WANT("usedbysnapshots"))
            json_object_set_new(o, "usedbysnapshots",
                                snap ? none() : pv(json_integer((json_int_t)snaps), "-"));
    }
    if (WANT("available")) {
        if (snap) {
            json_object_set_new(o, "available", none());
        } else {
            vs_space sp;
            if (vs_pool_space(pool, &sp, err) < 0)
                return -1;
            uint64_t avail = sp.available;
            json_t *qi = NULL;
            cleanup_free char *cur = xstrdup(dsname);
            while (cur) {
                json_t *d = json_object_get(v->dss, cur);
                uint64_t q = vs_ds_prop_u64(d, "quota");
                if (q) {
                    if (!qi && acct_cached(pool, &qi, err) < 0)
                        return -1;
                    uint64_t in = (uint64_t)json_integer_value(json_object_get(qi, cur));
                    uint64_t left = q > in ? q - in : 0;
                    if (left < avail)
                        avail = left;
                }
                char *p = vs_parent_name(cur);
                free(cur);
                cur = p;
            }
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
        json_object_set_new(o, "origin", !snap && jstr(ds, "origin")
                                             ? pv(json_string(jstr(ds, "origin")), "-") : none());
    if (WANT("quota"))
        json_object_set_new(o, "quota", type == VS_FILESYSTEM ? size_prop(ds, "quota") : none());
    if (WANT("reservation"))
        json_object_set_new(o, "reservation", snap ? none() : size_prop(ds, "reservation"));
    if (WANT("volsize")) {
        if (type == VS_VOLUME)
            json_object_set_new(o, "volsize", pv(json_integer((json_int_t)vs_ds_prop_u64(ds, "volsize")), "local"));
        else if (snap && json_object_get(snap, "volsize"))
            json_object_set_new(o, "volsize", pv(json_integer(json_integer_value(json_object_get(snap, "volsize"))), "-"));
        else
            json_object_set_new(o, "volsize", none());
    }
    if (WANT("volblocksize")) {
        json_t *b = json_object_get(json_object_get(ds, "props"), "volblocksize");
        if (type == VS_VOLUME)
            json_object_set_new(o, "volblocksize", b ? pv(json_incref(b), "-")
                                                     : pv(json_integer(DEFAULT_VOLBLOCKSIZE), "default"));
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
            json_object_set_new(o, "refreservation", pv(json_integer((json_int_t)vs_ds_refres_eff(ds)),
                                                        r ? "local" : "default"));
        }
    }
    if (WANT("compression")) {
        json_t *c = snap ? NULL : inherited(v->dss, dsname, "compression", "off");
        json_object_set_new(o, "compression", c ? c : none());
    }
    if (WANT("userrefs"))
        json_object_set_new(o, "userrefs", snap ? pv(json_integer((json_int_t)json_object_size(
                                                     json_object_get(snap, "holds"))), "-") : none());
    if (WANT("guid"))
        json_object_set_new(o, "guid", pv(json_string(jstr(obj, "guid")), "-"));
    /* User properties: local ones, then inherited ones. */
    if (snap) {
        const char *k;
        json_t *val;
        json_object_foreach(json_object_get(snap, "props"), k, val)
            if (WANT(k))
                json_object_set_new(o, k, pv(json_incref(val), "local"));
    } else {
        cleanup_free char *cur = xstrdup(dsname);
        while (cur) {
            const char *k;
            json_t *val;
            json_object_foreach(json_object_get(json_object_get(v->dss, cur), "props"), k, val) {
                if (!is_user_prop(k) || json_object_get(o, k) || !WANT(k))
                    continue;
                json_object_set_new(o, k, inherited(v->dss, dsname, k, NULL));
            }
            char *p = vs_parent_name(cur);
            free(cur);
            cur = p;
        }
    }
#undef WANT
    *out = steal_ptr(o);
    return 0;
}

int vs_get(vs_pool *pool, const char *name, json_t **props, vm_err *err)
{
    view v;
    if (view_open(pool, &v, err) < 0)
        return -1;
    int r = get_props(pool, &v, name, NULL, props, err);
    view_close(&v);
    return r;
}

int vs_get_some(vs_pool *pool, const char *name, const char *const *props, json_t **out, vm_err *err)
{
    view v;
    if (view_open(pool, &v, err) < 0)
        return -1;
    int r = get_props(pool, &v, name, props, out, err);
    view_close(&v);
    return r;
}

static int get_one(vs_pool *pool, const char *name, const char *prop, json_t **val, vm_err *err)
{
    view v;
    cleanup_json json_t *o = NULL;
    if (view_open(pool, &v, err) < 0)
        return -1;
    const char *const one[] = { prop, NULL };
    int r = get_props(pool, &v, name, one, &o, err);
    view_close(&v);
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

static int resize_locked(txn *t, const char *name, uint64_t volsize, int flags, bool meta_only, vm_err *err)
{
    cleanup_free char *prefix = xasprintf("cannot set property for '%s'", name);
    space_before sb = { 0, NULL };
    json_t *ds;
    int r = -1;
    if (lookup_ds(t, name, &ds, err) < 0)
        return -1;
    if (ds_type(ds) != VS_VOLUME)
        return vm_err_set(err, VMERR_INVALID, "%s: 'volsize' does not apply to datasets of this type", prefix);
    uint64_t cur = vs_ds_prop_u64(ds, "volsize");
    if (volsize == cur)
        return 0;
    if (volsize < cur && !(flags & VS_ALLOW_SHRINK) && !meta_only) {
        char a[16], b[16];
        fmt(cur, a);
        fmt(volsize, b);
        return vm_err_set(err, VMERR_INVALID, "%s: new size must be greater than current size (%s > %s)",
                          prefix, a, b);
    }
    json_t *props = json_object_get(ds, "props");
    json_t *b = json_object_get(props, "volblocksize");
    uint64_t bs = json_is_integer(b) ? (uint64_t)json_integer_value(b) : DEFAULT_VOLBLOCKSIZE;
    if (volsize == 0 || volsize % bs || volsize > INT64_MAX)
        return vm_err_set(err, VMERR_INVALID, "%s: volume size must be a multiple of volume block size", prefix);
    space_snap(t->pool, t->dss, &sb);
    json_object_set_new(props, "volsize", json_integer((json_int_t)volsize));
    char what[64], s[16];
    fmt(volsize, s);
    snprintf(what, sizeof what, "volsize %s", s);
    if (!meta_only && space_check(t->pool, t->dss, &sb, prefix, what, err) < 0)
        goto out;
    /* The file changes first: a crash before the commit leaves metadata
     * with the old size of a file that may be larger (see README). */
    if (!meta_only && t->pool->drv->resize(t->pool, ds, volsize, err) < 0) {
        vm_err_prefix(err, "%s: ", prefix);
        goto out;
    }
    r = txn_commit(t, err);
out:
    space_free(&sb);
    return r;
}

int vs_resize(vs_pool *pool, const char *name, uint64_t volsize, int flags, vm_err *err)
{
    txn t;
    if (txn_begin(pool, &t, err) < 0)
        return -1;
    int r = resize_locked(&t, name, volsize, flags, false, err);
    txn_end(&t);
    return r;
}

int vs_set_volsize_meta(vs_pool *pool, const char *name, uint64_t volsize, vm_err *err)
{
    txn t;
    if (txn_begin(pool, &t, err) < 0)
        return -1;
    int r = resize_locked(&t, name, volsize, VS_ALLOW_SHRINK, true, err);
    txn_end(&t);
    return r;
}

int vs_set(vs_pool *pool, const char *name, const char *prop, const char *value, vm_err *err)
{
    cleanup_free char *prefix = xasprintf("cannot set property for '%s'", name);
    cleanup_json json_t *jv = NULL, *parsed = NULL;
    space_before sb = { 0, NULL };
    json_t *ds;
    txn t;
    int r = -1;

    if (!prop || !value)
        return vm_err_set(err, VMERR_INVALID, "%s: missing property or value", prefix);
    if (txn_begin(pool, &t, err) < 0)
        return -1;
    if (strchr(name, '@')) {
        json_t *snap;
        const char *sn;
        cleanup_free char *dn = split_snap(name, &sn);
        (void)dn;
        ssize_t idx;
        if (lookup_snap(&t, name, prefix, &ds, &idx, err) < 0)
            goto out;
        if (!is_user_prop(prop)) {
            vm_err_set(err, VMERR_INVALID, "%s: this property can not be modified for snapshots", prefix);
            goto out;
        }
        snap = json_array_get(json_object_get(ds, "snaps"), (size_t)idx);
        json_object_set_new(json_object_get(snap, "props"), prop, json_string(value));
        r = txn_commit(&t, err);
        goto out;
    }
    if (lookup_ds(&t, name, &ds, err) < 0)
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
    if (parse_prop(ds_type(ds), prop, jv, &parsed, err) < 0) {
        vm_err_prefix(err, "%s: ", prefix);
        goto out;
    }
    space_snap(pool, t.dss, &sb);
    json_object_set(json_object_get(ds, "props"), prop, parsed);
    char what[96], s[16];
    if (json_is_integer(parsed))
        fmt((uint64_t)json_integer_value(parsed), s);
    snprintf(what, sizeof what, "%s %s", prop, json_is_integer(parsed) ? s : value);
    /* Lowering a quota below current use is refused as ZFS does; the
     * generic check covers reservations growing. */
    if (!strcmp(prop, "quota") && json_integer_value(parsed) > 0) {
        cleanup_json json_t *qi = NULL;
        quota_inner(pool, t.dss, &qi);
        json_t *saved = json_incref(json_object_get(json_object_get(ds, "props"), "quota"));
        uint64_t in = (uint64_t)json_integer_value(json_object_get(qi, name));
        json_decref(saved);
        if (in > (uint64_t)json_integer_value(parsed)) {
            char a[16];
            fmt(in, a);
            vm_err_set(err, VMERR_NOSPACE, "%s: size is less than current used or reserved space (%s)", prefix, a);
            goto out;
        }
    }
    if (space_check(pool, t.dss, &sb, prefix, what, err) < 0)
        goto out;
    r = txn_commit(&t, err);
out:
    space_free(&sb);
    txn_end(&t);
    return r;
}

int vs_list(vs_pool *pool, const char *root, int types, int flags, json_t **names, vm_err *err)
{
    view v;
    json_t *ds = NULL, *snap = NULL;
    if (view_open(pool, &v, err) < 0)
        return -1;
    if (root && view_find(&v, root, &ds, &snap, err) < 0) {
        view_close(&v);
        return -1;
    }
    bool all = !root || (flags & VS_RECURSIVE);
    /* One dataset (no recursion) needs no sorted walk of the whole pool:
     * vmadm asks this for every VM. */
    cleanup_json json_t *sorted = all ? vs_sorted_names(v.dss) : json_pack("[s]", root);
    json_t *out = json_array(), *k, *s;
    size_t i, j;
    if (snap) {
        if (types & VS_SNAPSHOT)
            json_array_append_new(out, json_string(root));
    } else {
        json_array_foreach(sorted, i, k) {
            const char *n = json_string_value(k);
            if (root && !(all ? vs_name_under(n, root) : !strcmp(n, root)))
                continue;
            json_t *d = json_object_get(v.dss, n);
            if (types & ds_type(d))
                json_array_append_new(out, json_string(n));
            if (types & VS_SNAPSHOT)
                json_array_foreach(json_object_get(d, "snaps"), j, s) {
                    cleanup_free char *full = xasprintf("%s@%s", n, jstr(s, "name"));
                    json_array_append_new(out, json_string(full));
                }
        }
    }
    view_close(&v);
    *names = out;
    return 0;
}

/* ------------------------------------------------------------------ */
/* paths                                                               */

int vs_vol_path(vs_pool *pool, const char *name, char **path, vm_err *err)
{
    view v;
    json_t *ds, *snap;
    int r = -1;
    if (view_open(pool, &v, err) < 0)
        return -1;
    if (view_find(&v, name, &ds, &snap, err) < 0)
        goto out;
    if (snap || ds_type(ds) != VS_VOLUME) {
        vm_err_set(err, VMERR_INVALID, "'%s' is not a volume", name);
        goto out;
    }
    *path = pool->drv->path(pool, jstr(ds, "file"), VS_VOLUME);
    r = 0;
out:
    view_close(&v);
    return r;
}

int vs_fs_path(vs_pool *pool, const char *name, char **path, vm_err *err)
{
    view v;
    json_t *ds, *snap;
    int r = -1;
    if (view_open(pool, &v, err) < 0)
        return -1;
    if (view_find(&v, name, &ds, &snap, err) < 0)
        goto out;
    if (ds_type(ds) != VS_FILESYSTEM) {
        vm_err_set(err, VMERR_INVALID, "'%s' is not a filesystem", name);
        goto out;
    }
    *path = pool->drv->path(pool, jstr(snap ? snap : ds, snap ? "layer" : "file"), VS_FILESYSTEM);
    r = 0;
out:
    view_close(&v);
    return r;
}

char *vs_mountpoint(vs_pool *pool, const char *name)
{
    view v;
    json_t *ds, *snap;
    char *mp = NULL;
    if (view_open(pool, &v, NULL) < 0)
        return NULL;
    if (view_find(&v, name, &ds, &snap, NULL) == 0 && !snap && ds_type(ds) == VS_FILESYSTEM)
        mp = xasprintf("%s/%s", pool->ctx->root, name);
    view_close(&v);
    return mp;
}

/* ------------------------------------------------------------------ */
/* changed blocks                                                      */

static int cmp_ext(const void *a, const void *b)
{
    const int64_t *x = a, *y = b;
    return x[0] < y[0] ? -1 : x[0] > y[0];
}

int vs_changed_blocks(vs_pool *pool, const char *snap_a, const char *snap_b, json_t **extents, vm_err *err)
{
    view v;
    json_t *ds, *sa, *dsb = NULL, *sb = NULL;
    cleanup_json json_t *raw = json_array();
    /* Declared before the first goto: cleanup variables must not be
     * jumped over. */
    cleanup_free char *dn = NULL;
    cleanup_free char *dn2 = NULL;
    int r = -1;
    if (view_open(pool, &v, err) < 0)
        return -1;
    if (view_find(&v, snap_a, &ds, &sa, err) < 0)
        goto out;
    if (!sa || ds_type(ds) != VS_VOLUME) {
        vm_err_set(err, VMERR_INVALID, "'%s' is not a snapshot of a volume", snap_a);
        goto out;
    }
    if (snap_b && view_find(&v, snap_b, &dsb, &sb, err) < 0)
        goto out;
    if (snap_b && (dsb != ds || !sb)) {
        vm_err_set(err, VMERR_INVALID, "'%s' is not a snapshot of the same volume as '%s'", snap_b, snap_a);
        goto out;
    }
    json_t *snaps = json_object_get(ds, "snaps");
    const char *sn;
    dn = split_snap(snap_a, &sn);
    ssize_t ia = find_snap(ds, sn), ib = (ssize_t)json_array_size(snaps);
    if (snap_b) {
        dn2 = split_snap(snap_b, &sn);
        ib = find_snap(ds, sn);
        if (ib < ia) {
            vm_err_set(err, VMERR_INVALID, "'%s' is older than '%s'", snap_b, snap_a);
            goto out;
        }
    }
    /* The layer of snapshot i holds what was written between snapshot i-1
     * and i; the active file what was written since the last one. */
    for (ssize_t i = ia + 1; i <= ib; i++) {
        const char *layer = i < (ssize_t)json_array_size(snaps)
                                ? jstr(json_array_get(snaps, (size_t)i), "layer") : jstr(ds, "file");
        if (pool->drv->layer_extents(pool, layer, raw, err) < 0)
            goto out;
    }
    size_t n = json_array_size(raw), m = 0;
    int64_t *e = xcalloc(n + 1, 2 * sizeof *e);
    for (size_t i = 0; i < n; i++) {
        e[2 * i] = json_integer_value(json_array_get(json_array_get(raw, i), 0));
        e[2 * i + 1] = json_integer_value(json_array_get(json_array_get(raw, i), 1));
    }
    qsort(e, n, 2 * sizeof *e, cmp_ext);
    *extents = json_array();
    for (size_t i = 0; i < n; i++) {
        if (m && e[2 * (m - 1)] + e[2 * (m - 1) + 1] >= e[2 * i]) {
            int64_t end = e[2 * i] + e[2 * i + 1];
            if (end > e[2 * (m - 1)] + e[2 * (m - 1) + 1])
                e[2 * (m - 1) + 1] = end - e[2 * (m - 1)];
        } else {
            e[2 * m] = e[2 * i];
            e[2 * m + 1] = e[2 * i + 1];
            m++;
        }
    }
    for (size_t i = 0; i < m; i++)
        json_array_append_new(*extents, json_pack("{s:I, s:I}", "offset", (json_int_t)e[2 * i],
                                                  "length", (json_int_t)e[2 * i + 1]));
    free(e);
    r = 0;
out:
    view_close(&v);
    return r;
}

bool vs_pool_exists(const vm_ctx *ctx, const char *name)
{
    if (!name || !*name || strchr(name, '/'))
        return false;
    cleanup_free char *p = xasprintf("%s/var/vmstore/%s/pool.json", ctx->root, name);
    return path_exists(p);
}
