/* The pool: open/close, pool.json, the pool lock, transactions, read-only
 * views and crash recovery.  Every other file changes the pool only through
 * vs_txn_begin/vs_txn_commit/vs_txn_end and reads it through vs_view_*.
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

/* The drivers a pool.json "driver" field may name (storage_driver.h). */
static const vs_driver *const drivers[] = { &vs_driver_dir, NULL };

char *vs_new_guid(void)
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

json_t *vs_new_ds(int type)
{
    cleanup_free char *guid = vs_new_guid();
    return json_pack("{s:s, s:s, s:I, s:{}, s:[]}", "guid", guid, "type", vs_type_name(type), "creation",
                     (json_int_t)time(NULL), "props", "snaps");
}

/* ------------------------------------------------------------------ */
/* metadata file, lock, transactions                                  */

int vs_meta_read(vs_pool *pool, json_t **out, vm_err *err)
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

/* The current generation becomes pool.json.prev (guard.c): a hard link,
 * so keeping it costs no space even on a full pool. */
static void keep_prev(vs_pool *pool)
{
    cleanup_free char *tmp = xasprintf("%s.tmp.%ld", pool->prev_path, (long)getpid());
    unlink(tmp);
    if (link(pool->meta_path, tmp) == 0 && rename(tmp, pool->prev_path) < 0)
        unlink(tmp);
}

static int meta_write(vs_pool *pool, json_t *meta, vm_err *err)
{
    if (path_exists(pool->meta_path))
        keep_prev(pool);
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
void vs_tx_mark(vs_pool *pool)
{
    cleanup_free char *tx = xasprintf("%s/%ld", pool->txdir, (long)getpid());
    int tfd = open(tx, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (tfd >= 0)
        close(tfd);
}

void vs_tx_unmark(vs_pool *pool)
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
    vs_tx_mark(pool);
    return 0;
}

static void pool_unlock(vs_pool *pool)
{
    if (pool->lockfd < 0)
        return;
    vs_tx_unmark(pool);
    flock(pool->lockfd, LOCK_UN);
    close(pool->lockfd);
    pool->lockfd = -1;
}

/* Finishes work a crashed process committed but did not complete: applies
 * pending overlays (before anything else looks at the data). */
static void repair_pending(vs_pool *pool, json_t *dss)
{
    const char *name;
    json_t *ds;
    json_object_foreach(dss, name, ds) {
        if (!json_object_get(ds, "pending"))
            continue;
        if (vs_ds_type(ds) == VS_VOLUME)
            pool->drv->apply_pending(pool, ds);
        json_object_del(ds, "pending");
    }
}

int vs_txn_begin(vs_pool *pool, vs_txn *t, vm_err *err)
{
    memset(t, 0, sizeof *t);
    t->pool = pool;
    if (pool_lock(pool, err) < 0)
        return -1;
    json_t *m = NULL;
    if (vs_meta_read(pool, &m, err) < 0) {
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

/* meta "released": the data this change gives up plus what earlier
 * changes gave up and is still there (a crash came between their commit
 * and the removal).  Recovery removes exactly these and the data of dead
 * processes, nothing an older generation still references. */
static void set_released(vs_txn *t)
{
    json_t *rel = json_array(), *v;
    size_t i;
    json_array_foreach(json_object_get(t->meta, "released"), i, v)
        if (json_is_string(v) && t->pool->drv->data_exists(t->pool, json_string_value(v)))
            json_array_append(rel, v);
    json_array_extend(rel, t->garbage);
    if (json_array_size(rel))
        json_object_set_new(t->meta, "released", rel);
    else {
        json_object_del(t->meta, "released");
        json_decref(rel);
    }
}

int vs_txn_commit(vs_txn *t, vm_err *err)
{
    vm_err e = VM_ERR_INIT;
    set_released(t);
    int r = meta_write(t->pool, t->meta, &e);
    /* A change that frees space may use the reserve (guard.c) for the
     * metadata rewrite; it is re-created once the data is gone. */
    if (r < 0 && e.code == VMERR_NOSPACE && t->frees_space && vs_reserve_release(t->pool)) {
        t->used_reserve = true;
        vm_err_clear(&e);
        r = meta_write(t->pool, t->meta, &e);
    }
    if (r < 0) {
        if (err)
            *err = e;
        return -1;
    }
    t->committed = true;
    return 0;
}

/* After the commit: finish, delete what became garbage, fix the view. */
int vs_txn_finish(vs_txn *t, vm_err *err)
{
    size_t i;
    json_t *v;
    int r = 0;
    if (t->committed) {
        json_array_foreach(t->finish, i, v) {
            json_t *ds = json_object_get(t->dss, json_string_value(v));
            if (ds)
                t->pool->drv->apply_pending(t->pool, ds);
        }
        json_array_foreach(t->garbage, i, v) {
            vm_err e = VM_ERR_INIT;
            if (t->pool->drv->remove_data(t->pool, json_string_value(v), &e) < 0 && r == 0) {
                r = -1;
                if (err)
                    vm_err_set(err, e.code ? e.code : VMERR_IO, "its data could not be removed: %s", e.msg);
            }
        }
        t->pool->drv->view_sync(t->pool, t->meta);
    }
    if (t->used_reserve)
        vs_reserve_ensure(t->pool);
    json_decref(t->meta);
    json_decref(t->garbage);
    json_decref(t->finish);
    pool_unlock(t->pool);
    memset(t, 0, sizeof *t);
    return r;
}

void vs_txn_end(vs_txn *t)
{
    vs_txn_finish(t, NULL);
}

/* Data created for an aborted change (nothing references it). */
void vs_discard_data(vs_pool *pool, json_t *obj)
{
    static const char *const keys[] = { "file", "pending", "layer" };
    for (size_t i = 0; i < 3; i++)
        if (vs_jstr(obj, keys[i]))
            pool->drv->remove_data(pool, vs_jstr(obj, keys[i]), NULL);
}

void vs_collect_refs(json_t *dss, json_t *refs)
{
    const char *name;
    json_t *ds, *s;
    size_t i;
    json_object_foreach(dss, name, ds) {
        if (vs_jstr(ds, "file"))
            json_object_set_new(refs, vs_jstr(ds, "file"), json_true());
        if (vs_jstr(ds, "pending"))
            json_object_set_new(refs, vs_jstr(ds, "pending"), json_true());
        json_array_foreach(json_object_get(ds, "snaps"), i, s)
            if (vs_jstr(s, "layer"))
                json_object_set_new(refs, vs_jstr(s, "layer"), json_true());
    }
}

/* What recovery must keep: the current references, data a restore found
 * unreferenced ("kept", guard.c) and what the previous generation
 * references, except data a committed change released. */
static json_t *recovery_keep(vs_pool *pool, json_t *meta)
{
    json_t *keep = json_object(), *v;
    size_t i;
    vs_collect_refs(json_object_get(meta, "datasets"), keep);
    json_array_foreach(json_object_get(meta, "kept"), i, v)
        if (json_is_string(v))
            json_object_set_new(keep, json_string_value(v), json_true());
    cleanup_json json_t *prev = vs_meta_load(pool->prev_path);
    if (prev) {
        cleanup_json json_t *old = json_object();
        vs_collect_refs(json_object_get(prev, "datasets"), old);
        json_array_foreach(json_object_get(meta, "released"), i, v)
            if (json_is_string(v))
                json_object_del(old, json_string_value(v));
        json_object_update(keep, old);
    }
    return keep;
}

/* With the lock held: finish committed work, drop what dead processes left
 * half-made, fix the view.  Never removes data the current or the previous
 * generation references unless a committed change released it: only
 * vs_pool_collect (vmstore gc) does. */
static int pool_recover(vs_pool *pool, vm_err *err)
{
    vs_txn t;
    if (vs_txn_begin(pool, &t, err) < 0)
        return -1;
    bool had_pending = false;
    cleanup_json json_t *m = NULL;
    if (vs_meta_read(pool, &m, NULL) == 0) {
        const char *n;
        json_t *ds;
        json_object_foreach(json_object_get(m, "datasets"), n, ds)
            if (json_object_get(ds, "pending"))
                had_pending = true;
    }
    int r = 0;
    if (had_pending)
        r = vs_txn_commit(&t, err);
    cleanup_json json_t *keep = recovery_keep(pool, t.meta);
    pool->drv->gc(pool, keep, NULL);
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
    vs_txn_end(&t);
    return r;
}

int vs_pool_collect(vs_pool *pool, json_t **removed, vm_err *err)
{
    vs_txn t;
    if (vs_txn_begin(pool, &t, err) < 0)
        return -1;
    /* What a restore kept is released now: the operator asked. */
    if (json_object_get(t.meta, "kept")) {
        json_object_del(t.meta, "kept");
        if (vs_txn_commit(&t, err) < 0) {
            vs_txn_end(&t);
            return -1;
        }
    }
    cleanup_json json_t *keep = json_object();
    vs_collect_refs(t.dss, keep);
    json_t *out = json_array();
    pool->drv->gc(pool, keep, out);
    t.committed = false; /* nothing to finish */
    vs_txn_end(&t);
    *removed = out;
    return 0;
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

int vs_lookup_ds(vs_txn *t, const char *name, json_t **ds, vm_err *err)
{
    *ds = json_object_get(t->dss, name);
    if (!*ds)
        return vm_err_set(err, VMERR_NOTFOUND, "cannot open '%s': dataset does not exist", name);
    return 0;
}

int vs_lookup_snap(vs_txn *t, const char *snapname, const char *prefix, json_t **ds, ssize_t *idx, vm_err *err)
{
    const char *snap;
    cleanup_free char *dsname = vs_split_snap(snapname, &snap);
    if (!snap || !vs_valid_name(snapname))
        return vm_err_set(err, VMERR_INVALID, "%s: invalid snapshot name", prefix);
    *ds = json_object_get(t->dss, dsname);
    *idx = *ds ? vs_find_snap(*ds, snap) : -1;
    if (*idx < 0)
        return vm_err_set(err, VMERR_NOTFOUND, "cannot open '%s': dataset does not exist", snapname);
    return 0;
}

/* Read-only access: the cached metadata, no lock (commits are atomic). */

int vs_view_open(vs_pool *pool, vs_view *v, vm_err *err)
{
    if (vs_meta_read(pool, &v->meta, err) < 0)
        return -1;
    v->dss = json_object_get(v->meta, "datasets");
    return 0;
}

void vs_view_close(vs_view *v)
{
    json_decref(v->meta);
    v->meta = NULL;
}

/* Finds a dataset or snapshot; *snap is NULL for a dataset. */
int vs_view_find(vs_view *v, const char *name, json_t **ds, json_t **snap, vm_err *err)
{
    const char *sn;
    cleanup_free char *dn = vs_split_snap(name, &sn);
    *snap = NULL;
    *ds = vs_valid_name(name) ? json_object_get(v->dss, dn) : NULL;
    if (*ds && sn) {
        ssize_t i = vs_find_snap(*ds, sn);
        *snap = i >= 0 ? json_array_get(json_object_get(*ds, "snaps"), (size_t)i) : NULL;
        if (!*snap)
            *ds = NULL;
    }
    if (!*ds)
        return vm_err_set(err, VMERR_NOTFOUND, "cannot open '%s': dataset does not exist", name);
    return 0;
}

/* ------------------------------------------------------------------ */
/* pool                                                               */

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
    free(pool->prev_path);
    free(pool->txdir);
    free(pool);
}

void cleanup_vs_poolp(vs_pool **p)
{
    vs_pool_close(*p);
    *p = NULL;
}

/* A new pool in a fresh directory (the lock held): its root filesystem. */
static int pool_create(vs_pool *pool, vm_err *err)
{
    cleanup_json json_t *root = vs_new_ds(VS_FILESYSTEM);
    cleanup_json json_t *meta =
        json_pack("{s:i, s:s, s:s, s:{}}", "version", 1, "pool", pool->name, "driver", pool->drv->name, "datasets");
    if (pool->drv->init(pool, err) < 0 || pool->drv->fs_create(pool, root, err) < 0)
        return -1;
    json_object_set(json_object_get(meta, "datasets"), pool->name, root);
    if (meta_write(pool, meta, err) < 0) {
        vs_discard_data(pool, root);
        return -1;
    }
    pool->drv->view_sync(pool, meta);
    return 0;
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
    pool->prev_path = xasprintf("%s/pool.json.prev", pool->dir);
    pool->txdir = xasprintf("%s/tx", pool->dir);
    pool->drv = &vs_driver_dir;
    if (mkdir_p(pool->txdir, 0700, err) < 0)
        return -1;

    cleanup_json json_t *m = NULL;
    if (vs_meta_read(pool, &m, NULL) < 0) {
        /* Missing or unreadable: restore, create (fresh directory only) or
         * refuse, under the lock (guard.c). */
        bool create = false;
        if (pool_lock(pool, err) < 0)
            return -1;
        int r = vs_pool_first_open(pool, &create, err);
        if (r == 0 && create)
            r = pool_create(pool, err);
        pool_unlock(pool);
        if (r < 0 || vs_meta_read(pool, &m, err) < 0)
            return -1;
    }
    const char *dn = vs_jstr(m, "driver");
    pool->drv = NULL;
    for (size_t i = 0; drivers[i]; i++)
        if (dn && !strcmp(drivers[i]->name, dn))
            pool->drv = drivers[i];
    if (!pool->drv)
        return vm_err_set(err, VMERR_UNSUPPORTED, "pool '%s': unknown storage driver '%s'", name, dn ? dn : "(none)");
    if (stale_tx(pool) && pool_recover(pool, err) < 0)
        return -1;
    if (pool->drv->activate)
        pool->drv->activate(pool, m);
    vs_reserve_ensure(pool);
    *out = steal_ptr(pool);
    return 0;
}

bool vs_pool_exists(const vm_ctx *ctx, const char *name)
{
    if (!name || !*name || strchr(name, '/'))
        return false;
    /* A pool whose pool.json was lost still exists: opening it restores
     * the previous generation. */
    cleanup_free char *p = xasprintf("%s/var/vmstore/%s/pool.json", ctx->root, name);
    cleanup_free char *prev = xasprintf("%s.prev", p);
    return path_exists(p) || path_exists(prev);
}
