/* FUSE operations of the raw disk views (zvold.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "common/util.h"
#include "storage/storage.h"
#include "storage/volio.h"
#include "vm/rawview.h"
#include "zvold.h"

#define CLAIM_WAIT_MS 3000 /* a vmadm command holding the VM briefly */

/* One VM whose disks have open views: its claim, held once. */
typedef struct vm_ent {
    struct vm_ent *next;
    char uuid[37];
    int refs;
    vm_rawview_claim claim;
} vm_ent;

/* One open volume: its I/O handle, shared by every opener. */
typedef struct vol_ent {
    struct vol_ent *next;
    char *dataset;
    int refs;
    vs_volio *io;
    vm_ent *vm; /* NULL: not a VM's disk */
    char *layer; /* the active layer's path, and the file qemu-nbd opened: */
    dev_t dev;
    ino_t ino;
    atomic_bool stale; /* the path names another file now: writes fail */
} vol_ent;

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static vol_ent *vols;
static vm_ent *vms;

static const vm_ctx *ctx_of(void)
{
    return fuse_get_context()->private_data;
}

static int errno_of(const vm_err *e)
{
    switch (e->code) {
    case VMERR_NOTFOUND: return ENOENT;
    case VMERR_BUSY:
    case VMERR_STATE: return EBUSY;
    case VMERR_INVALID: return EINVAL;
    default: return EIO;
    }
}

/* Logs an operator's message for a failed request, returns -errno. */
static int fail(const char *path, const vm_err *e)
{
    const vm_ctx *ctx = ctx_of();
    fprintf(stderr, "vmadm-zvold: %s: %s\n", path, e->msg);
    vm_log(ctx, "warn", "raw disk view %s: %s", path, e->msg);
    return -errno_of(e);
}

/* The volumes of each pool as of one pool.json generation (the file is
 * replaced atomically, so inode + mtime + size name a generation): a
 * lookup costs a stat, not a parse of the whole pool. */
typedef struct pool_cache {
    struct pool_cache *next;
    char *name;
    struct stat st;
    json_t *names; /* volume names, vs_list order */
    json_t *sizes; /* {name: volsize} */
} pool_cache;

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static pool_cache *caches;

static bool same_gen(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_size == b->st_size && a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
        a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Fills c from the pool as it is now (c->st: the generation it was read at). */
static int cache_fill(const vm_ctx *ctx, pool_cache *c, const struct stat *st)
{
    cleanup_vs_pool vs_pool *p = NULL;
    cleanup_json json_t *names = NULL;
    vm_err e = VM_ERR_INIT;
    if (vs_pool_open(ctx, c->name, &p, &e) < 0 || vs_list(p, NULL, VS_VOLUME, VS_RECURSIVE, &names, &e) < 0)
        return -1;
    json_t *sizes = json_object();
    size_t i;
    json_t *n;
    json_array_foreach(names, i, n) {
        int64_t sz = 0;
        if (vs_get_int(p, json_string_value(n), "volsize", &sz, &e) == 0)
            json_object_set_new(sizes, json_string_value(n), json_integer(sz));
    }
    json_decref(c->names);
    json_decref(c->sizes);
    c->names = steal_ptr(names);
    c->sizes = sizes;
    c->st = *st;
    return 0;
}

/* pool.json's place: lib/common/ctx.h's layout (var/vmstore/<pool>/). */
static char *pool_meta(const vm_ctx *ctx, const char *name)
{
    return xasprintf("%s/var/vmstore/%s/pool.json", ctx->root, name);
}

/* New references to pool `name`'s volume names and sizes, or -1. */
static int pool_volumes(const vm_ctx *ctx, const char *name, json_t **names, json_t **sizes)
{
    cleanup_free char *meta = pool_meta(ctx, name);
    struct stat st;
    if (!vs_pool_exists(ctx, name))
        return -1;
    bool have = stat(meta, &st) == 0;
    pthread_mutex_lock(&cache_mu);
    pool_cache *c = caches;
    while (c && strcmp(c->name, name))
        c = c->next;
    if (!c) {
        c = xcalloc(1, sizeof *c);
        c->name = xstrdup(name);
        c->next = caches;
        caches = c;
    }
    int rc = 0;
    if (!have || !c->names || !same_gen(&c->st, &st)) {
        /* Read, then check the generation did not change meanwhile. */
        struct stat after;
        rc = cache_fill(ctx, c, have ? &st : &(struct stat){ 0 });
        if (rc == 0 && (!have || stat(meta, &after) < 0 || !same_gen(&after, &st)))
            c->st = (struct stat){ 0 }; /* use it once, read again next time */
    }
    if (rc == 0) {
        *names = json_incref(c->names);
        *sizes = json_incref(c->sizes);
    }
    pthread_mutex_unlock(&cache_mu);
    return rc;
}

/* What `path` names; for a volume *dataset and *volsize are set. */
static enum vm_rawview_kind resolve(const char *path, char **pool_out, char **dataset, json_t **volumes,
                                    uint64_t *volsize)
{
    cleanup_free char *pool = NULL;
    int depth = vm_rawview_split(path, &pool, dataset);
    if (depth < 0)
        return VM_RAWVIEW_NONE;
    if (depth < 2)
        return VM_RAWVIEW_DIR;
    cleanup_json json_t *names = NULL, *sizes = NULL;
    if (pool_volumes(ctx_of(), pool, &names, &sizes) < 0)
        return VM_RAWVIEW_NONE;
    enum vm_rawview_kind k = depth == 2 ? VM_RAWVIEW_DIR : vm_rawview_lookup(names, *dataset);
    if (k == VM_RAWVIEW_VOLUME && volsize) {
        json_t *sz = json_object_get(sizes, *dataset);
        if (!json_is_integer(sz))
            return VM_RAWVIEW_NONE;
        *volsize = (uint64_t)json_integer_value(sz);
    }
    if (volumes)
        *volumes = steal_ptr(names);
    if (pool_out)
        *pool_out = steal_ptr(pool);
    return k;
}

static struct timespec started; /* every entry's times: views keep none */

static int zv_getattr(const char *path, struct stat *st, struct fuse_file_info *fi)
{
    memset(st, 0, sizeof *st);
    st->st_atim = st->st_mtim = st->st_ctim = started;
    if (fi && fi->fh) {
        vol_ent *v = (vol_ent *)(uintptr_t)fi->fh;
        st->st_mode = S_IFREG | 0600;
        st->st_nlink = 1;
        st->st_size = (off_t)vs_volio_size(v->io);
        st->st_blksize = 1 << 20;
        return 0;
    }
    cleanup_free char *ds = NULL;
    uint64_t size = 0;
    enum vm_rawview_kind k = resolve(path, NULL, &ds, NULL, &size);
    if (k == VM_RAWVIEW_NONE)
        return -ENOENT;
    st->st_nlink = k == VM_RAWVIEW_DIR ? 2 : 1;
    st->st_mode = k == VM_RAWVIEW_DIR ? S_IFDIR | 0700 : S_IFREG | 0600;
    st->st_size = k == VM_RAWVIEW_DIR ? 0 : (off_t)size;
    st->st_blksize = 1 << 20;
    return 0;
}

static int add_pools(const vm_ctx *ctx, void *buf, fuse_fill_dir_t fill)
{
    cleanup_free char *dir = xasprintf("%s/var/vmstore", ctx->root);
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (e->d_name[0] != '.' && vs_pool_exists(ctx, e->d_name))
            fill(buf, e->d_name, NULL, 0, 0);
    closedir(d);
    return 0;
}

static int zv_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off, struct fuse_file_info *fi,
                      enum fuse_readdir_flags flags)
{
    (void)off;
    (void)fi;
    (void)flags;
    cleanup_free char *pool = NULL, *ds = NULL;
    int depth = vm_rawview_split(path, NULL, NULL);
    fill(buf, ".", NULL, 0, 0);
    fill(buf, "..", NULL, 0, 0);
    if (depth == 0) {
        fill(buf, "dsk", NULL, 0, 0);
        fill(buf, "rdsk", NULL, 0, 0);
        return 0;
    }
    if (depth == 1)
        return add_pools(ctx_of(), buf, fill);
    cleanup_json json_t *volumes = NULL;
    enum vm_rawview_kind k = resolve(path, &pool, &ds, &volumes, NULL);
    if (k != VM_RAWVIEW_DIR)
        return k == VM_RAWVIEW_NONE ? -ENOENT : -ENOTDIR;
    cleanup_json json_t *names = vm_rawview_children(volumes, pool, ds);
    size_t i;
    json_t *n;
    json_array_foreach(names, i, n)
        fill(buf, json_string_value(n), NULL, 0, 0);
    return 0;
}

static vm_ent *vm_get(const char *uuid, const char *ds, vm_err *err)
{
    for (vm_ent *m = vms; m; m = m->next)
        if (!strcmp(m->uuid, uuid)) {
            m->refs++;
            return m;
        }
    vm_ent *m = xcalloc(1, sizeof *m);
    m->claim = (vm_rawview_claim)VM_RAWVIEW_CLAIM_INIT;
    if (vm_rawview_claim_vm(ctx_of(), uuid, ds, CLAIM_WAIT_MS, &m->claim, err) < 0) {
        free(m);
        return NULL;
    }
    memcpy(m->uuid, uuid, sizeof m->uuid);
    m->refs = 1;
    m->next = vms;
    vms = m;
    return m;
}

static void vm_put(vm_ent *m)
{
    if (!m || --m->refs > 0)
        return;
    for (vm_ent **pp = &vms; *pp; pp = &(*pp)->next)
        if (*pp == m) {
            *pp = m->next;
            break;
        }
    vm_rawview_release(&m->claim);
    free(m);
}

/* First opener of a volume: claim its VM, start its I/O. */
static vol_ent *vol_open(const char *pool, const char *ds, vm_err *err)
{
    const vm_ctx *ctx = ctx_of();
    char uuid[37];
    vm_ent *m = NULL;
    if (vm_rawview_owner(ds, uuid) && !(m = vm_get(uuid, ds, err)))
        return NULL;
    cleanup_vs_pool vs_pool *p = NULL;
    cleanup_free char *layer = NULL;
    struct stat before, after;
    vs_volio *io = NULL;
    if (vs_pool_open(ctx, pool, &p, err) < 0 || vs_vol_path(p, ds, &layer, err) < 0 || stat(layer, &before) < 0 ||
        vs_volio_open(p, ds, &io, err) < 0 || stat(layer, &after) < 0 || before.st_ino != after.st_ino) {
        if (!err->code)
            vm_err_set(err, VMERR_BUSY, "%s changed while its view was being opened: try again", ds);
        vs_volio_close(io, NULL);
        vm_put(m);
        return NULL;
    }
    vol_ent *v = xcalloc(1, sizeof *v);
    v->layer = steal_ptr(layer);
    v->dev = after.st_dev;
    v->ino = after.st_ino;
    v->dataset = xstrdup(ds);
    v->io = io;
    v->vm = m;
    v->refs = 1;
    v->next = vols;
    vols = v;
    return v;
}

static int zv_open(const char *path, struct fuse_file_info *fi)
{
    cleanup_free char *pool = NULL, *ds = NULL;
    if (resolve(path, &pool, &ds, NULL, NULL) != VM_RAWVIEW_VOLUME)
        return -ENOENT;
    vm_err e = VM_ERR_INIT;
    pthread_mutex_lock(&mu);
    vol_ent *v = vols;
    while (v && strcmp(v->dataset, ds))
        v = v->next;
    if (v)
        v->refs++;
    else
        v = vol_open(pool, ds, &e);
    pthread_mutex_unlock(&mu);
    if (!v)
        return fail(path, &e);
    fi->fh = (uint64_t)(uintptr_t)v;
    /* No page cache: the VM writes the volume between opens, and requests
     * go to the daemon whole (up to 1 MiB each, not page by page). */
    fi->keep_cache = 0;
    fi->direct_io = 1;
    return 0;
}

static int zv_release(const char *path, struct fuse_file_info *fi)
{
    vol_ent *v = (vol_ent *)(uintptr_t)fi->fh;
    vm_err e = VM_ERR_INIT;
    int rc = 0;
    pthread_mutex_lock(&mu);
    if (--v->refs == 0) {
        for (vol_ent **pp = &vols; *pp; pp = &(*pp)->next)
            if (*pp == v) {
                *pp = v->next;
                break;
            }
        if (vs_volio_close(v->io, &e) < 0)
            rc = fail(path, &e);
        vm_put(v->vm);
        free(v->dataset);
        free(v->layer);
        free(v);
    }
    pthread_mutex_unlock(&mu);
    return rc;
}

void zvold_close_all(void)
{
    pthread_mutex_lock(&mu);
    while (vols) {
        vol_ent *v = vols;
        vols = v->next;
        vm_err e = VM_ERR_INIT;
        if (vs_volio_close(v->io, &e) < 0)
            fprintf(stderr, "vmadm-zvold: %s: %s\n", v->dataset, e.msg);
        free(v->dataset);
        free(v->layer);
        free(v);
    }
    while (vms) {
        vm_ent *m = vms;
        vms = m->next;
        vm_rawview_release(&m->claim);
        free(m);
    }
    pthread_mutex_unlock(&mu);
    pthread_mutex_lock(&cache_mu);
    while (caches) {
        pool_cache *c = caches;
        caches = c->next;
        json_decref(c->names);
        json_decref(c->sizes);
        free(c->name);
        free(c);
    }
    pthread_mutex_unlock(&cache_mu);
}

static int zv_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
    vol_ent *v = (vol_ent *)(uintptr_t)fi->fh;
    uint64_t end = vs_volio_size(v->io);
    if (off < 0)
        return -EINVAL;
    if ((uint64_t)off >= end)
        return 0;
    if (size > end - (uint64_t)off)
        size = (size_t)(end - (uint64_t)off);
    vm_err e = VM_ERR_INIT;
    if (vs_volio_pread(v->io, buf, size, (uint64_t)off, &e) < 0)
        return fail(path, &e);
    return (int)size;
}

/* The volume's active layer is still the file the view opened.  A vmstore
 * snapshot, rollback or destroy while a view is open (vmadm's wait for it,
 * vmstore's do not) puts a new file at the layer's path, or none: writes
 * would land in a frozen layer or a removed file, so they fail instead.
 * One stat per write. */
static int check_layer(const char *path, vol_ent *v)
{
    struct stat st;
    if (!v->stale && (stat(v->layer, &st) < 0 || st.st_ino != v->ino || st.st_dev != v->dev))
        v->stale = true; /* once set, never cleared */
    if (!v->stale)
        return 0;
    vm_err e = VM_ERR_INIT;
    vm_err_set(&e, VMERR_IO,
               "%s changed while its view was open (vmstore snapshot, rollback or destroy): writes refused; close "
               "and reopen it",
               v->dataset);
    return fail(path, &e);
}

static int zv_write(const char *path, const char *buf, size_t size, off_t off, struct fuse_file_info *fi)
{
    vol_ent *v = (vol_ent *)(uintptr_t)fi->fh;
    int rc = check_layer(path, v);
    if (rc < 0)
        return rc;
    uint64_t end = vs_volio_size(v->io);
    if (off < 0)
        return -EINVAL;
    if ((uint64_t)off >= end)
        return size ? -ENOSPC : 0; /* a block device's end */
    if (size > end - (uint64_t)off)
        size = (size_t)(end - (uint64_t)off);
    vm_err e = VM_ERR_INIT;
    if (vs_volio_pwrite(v->io, buf, size, (uint64_t)off, &e) < 0)
        return fail(path, &e);
    return (int)size;
}

static int zv_truncate(const char *path, off_t size, struct fuse_file_info *fi)
{
    uint64_t end = 0;
    if (fi && fi->fh) {
        end = vs_volio_size(((vol_ent *)(uintptr_t)fi->fh)->io);
    } else {
        cleanup_free char *ds = NULL;
        if (resolve(path, NULL, &ds, NULL, &end) != VM_RAWVIEW_VOLUME)
            return -ENOENT;
    }
    /* O_TRUNC and truncate(2) leave the bytes as a block device would; the
     * size changes only through vmadm update / vmstore set volsize. */
    return size < 0 ? -EINVAL : (uint64_t)size > end ? -EFBIG : 0;
}

static int zv_utimens(const char *path, const struct timespec tv[2], struct fuse_file_info *fi)
{
    (void)path;
    (void)tv;
    (void)fi;
    return 0; /* no times to keep; O_TRUNC sets them with the size */
}

static int zv_flush(const char *path, struct fuse_file_info *fi)
{
    /* close(2) waits for this (release comes later, asynchronously): what
     * was written is on the volume, qcow2 metadata included, when it returns. */
    vol_ent *v = (vol_ent *)(uintptr_t)fi->fh;
    vm_err e = VM_ERR_INIT;
    return vs_volio_flush(v->io, &e) < 0 ? fail(path, &e) : 0;
}

static int zv_fsync(const char *path, int datasync, struct fuse_file_info *fi)
{
    (void)datasync;
    return zv_flush(path, fi);
}

static int zv_fallocate(const char *path, int mode, off_t off, off_t len, struct fuse_file_info *fi)
{
    vol_ent *v = (vol_ent *)(uintptr_t)fi->fh;
    uint64_t end = vs_volio_size(v->io);
    if (off < 0 || len <= 0)
        return -EINVAL;
    if ((uint64_t)off > end || (uint64_t)len > end - (uint64_t)off)
        return mode & FALLOC_FL_KEEP_SIZE ? -EINVAL : -EFBIG;
    int rc = check_layer(path, v);
    if (rc < 0)
        return rc;
    if (!(mode & FALLOC_FL_PUNCH_HOLE))
        return mode == 0 || mode == FALLOC_FL_KEEP_SIZE ? 0 : -EOPNOTSUPP; /* thin: nothing to reserve */
    vm_err e = VM_ERR_INIT;
    return vs_volio_trim(v->io, (uint64_t)len, (uint64_t)off, &e) < 0 ? fail(path, &e) : 0;
}

/* SEEK_DATA / SEEK_HOLE from the qcow2 allocation: `qemu-img convert` and
 * `cp --sparse` skip what was never written. */
static off_t zv_lseek(const char *path, off_t off, int whence, struct fuse_file_info *fi)
{
    vol_ent *v = (vol_ent *)(uintptr_t)fi->fh;
    if (whence != SEEK_DATA && whence != SEEK_HOLE)
        return -EINVAL;
    if (off < 0 || (uint64_t)off >= vs_volio_size(v->io))
        return -ENXIO;
    uint64_t at;
    vm_err e = VM_ERR_INIT;
    if (vs_volio_seek(v->io, (uint64_t)off, whence == SEEK_DATA, &at, &e) < 0)
        return e.code == VMERR_NOTFOUND ? -ENXIO : fail(path, &e);
    return (off_t)at;
}

static void *zv_init(struct fuse_conn_info *conn, struct fuse_config *cfg)
{
    /* Views come and go with volumes, sizes change with vmadm update. */
    cfg->entry_timeout = 0;
    cfg->attr_timeout = 0;
    cfg->negative_timeout = 0;
    /* O_TRUNC arrives as a truncate, which keeps the size. */
    conn->want &= ~(unsigned)FUSE_CAP_ATOMIC_O_TRUNC;
    clock_gettime(CLOCK_REALTIME, &started);
    return fuse_get_context()->private_data;
}

const struct fuse_operations zvold_ops = {
    .init = zv_init,
    .getattr = zv_getattr,
    .readdir = zv_readdir,
    .open = zv_open,
    .read = zv_read,
    .write = zv_write,
    .truncate = zv_truncate,
    .utimens = zv_utimens,
    .flush = zv_flush,
    .fsync = zv_fsync,
    .fallocate = zv_fallocate,
    .lseek = zv_lseek,
    .release = zv_release,
};
