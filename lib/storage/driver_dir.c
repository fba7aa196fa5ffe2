/* Driver "dir": volumes are qcow2 files driven by qemu-img, filesystems are
 * directories; both live in <pool dir>/data under guid-based names that
 * also carry the creating pid ("<guid>-p<pid>.qcow2", "<guid>-p<pid>.d"),
 * so garbage collection can tell a crashed creator's leftovers from a
 * concurrent creator's work in progress.  Layout and reasoning:
 * lib/storage/README.md. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "storage/layers.h"
#include "storage/qcow2new.h"
#include "storage/storage_internal.h"

/* Leftovers of a live process are kept this long in case its pid was
 * reused by an unrelated process. */
#define GC_GRACE_S 600

static char *new_dataname(const char *ext)
{
    cleanup_free char *guid = vs_new_guid();
    return xasprintf("%s-p%ld%s", guid, (long)getpid(), ext);
}

static char *dpath(vs_pool *pool, const char *dataname)
{
    return xasprintf("%s/%s", pool->datadir, dataname);
}

static char *dir_path(vs_pool *pool, const char *dataname, int type)
{
    if (type == VS_FILESYSTEM)
        return xasprintf("%s/%s/fs", pool->datadir, dataname);
    return dpath(pool, dataname);
}

static int qemu_img(char *const argv[], char **out, vm_err *err)
{
    if (run_cmd(argv, out, err) != 0) {
        if (!vm_err_is_set(err))
            vm_err_set(err, VMERR_IO, "qemu-img failed");
        return -1;
    }
    return 0;
}

static int dir_init(vs_pool *pool, vm_err *err)
{
    return mkdir_p(pool->datadir, 0700, err);
}

static int dir_fs_create(vs_pool *pool, json_t *ds, vm_err *err)
{
    cleanup_free char *name = new_dataname(".d");
    cleanup_free char *fs = dir_path(pool, name, VS_FILESYSTEM);
    if (mkdir_p(fs, 0755, err) < 0)
        return -1;
    json_object_set_new(ds, "file", json_string(name));
    return 0;
}

static int create_qcow2(vs_pool *pool, const char *backing, uint64_t size, char **namep, vm_err *err)
{
    cleanup_free char *name = new_dataname(".qcow2");
    cleanup_free char *path = dpath(pool, name);
    cleanup_free char *sz = xasprintf("%llu", (unsigned long long)size);
    /* Backing names are relative (resolved next to the overlay), so the
     * whole root can be moved. */
    /* -u: the size is given, so the backing file need not be opened, and
     * it may be the active image of a running QEMU, which holds its lock. */
    char *argv[] = {
        "qemu-img",      "create", "-q",    "-f", "qcow2", "-o", "lazy_refcounts=off", "-u", backing ? "-b" : sz,
        (char *)backing, "-F",     "qcow2", path, sz,      NULL
    };
    if (!backing) {
        argv[7] = path;
        argv[8] = sz;
        argv[9] = NULL;
    }
    /* The same bytes without a qemu-img process where qcow2new.h can. */
    int made = vs_qcow2_new(path, size, backing, err);
    if (made < 0)
        return -1;
    if (!made && qemu_img(argv, NULL, err) < 0) {
        unlink(path);
        return -1;
    }
    *namep = steal_ptr(name);
    return 0;
}

static int dir_vol_create(vs_pool *pool, json_t *ds, uint64_t volsize, vm_err *err)
{
    char *name = NULL;
    if (create_qcow2(pool, NULL, volsize, &name, err) < 0)
        return -1;
    json_object_set_new(ds, "file", json_string(name));
    free(name);
    return 0;
}

/* The virtual size in a qcow2 header (big-endian u64 at byte 24), or 0. */
static uint64_t qcow2_virtual_size(const char *path)
{
    unsigned char h[32];
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || pread(fd, h, sizeof h, 0) != (ssize_t)sizeof h || memcmp(h, "QFI\xfb", 4) != 0)
        return 0;
    uint64_t v = 0;
    for (int i = 24; i < 32; i++)
        v = v << 8 | h[i];
    return v;
}

static int dir_vol_import(vs_pool *pool, json_t *ds, const char *src, const char *src_fmt, uint64_t volsize,
                          vm_err *err)
{
    /* Written without the pool lock (import.c): ".work." names are
     * collected only once their creator is gone, never for their age. */
    cleanup_free char *name = new_dataname(".work.qcow2");
    cleanup_free char *path = dpath(pool, name);
    cleanup_free char *sz = xasprintf("%llu", (unsigned long long)volsize);
    char *conv[] = { "qemu-img",      "convert",   "-q", "-O", "qcow2", src_fmt ? "-f" : (char *)src,
                     (char *)src_fmt, (char *)src, path, NULL };
    if (!src_fmt) {
        conv[6] = path;
        conv[7] = NULL;
    }
    if (qemu_img(conv, NULL, err) < 0)
        goto fail;
    /* Grown to the volume size only when the image is smaller (a resize
     * costs another qemu-img run). */
    char *rs[] = { "qemu-img", "resize", "-q", "-f", "qcow2", path, sz, NULL };
    if (qcow2_virtual_size(path) != volsize && qemu_img(rs, NULL, err) < 0)
        goto fail;
    json_object_set_new(ds, "file", json_string(name));
    return 0;
fail:
    unlink(path);
    return -1;
}

int ly_copy_tree(const char *src, const char *dst, vm_err *err)
{
    char *argv[] = { "cp", "-a", "--reflink=auto", (char *)src, (char *)dst, NULL };
    if (run_cmd(argv, NULL, err) != 0) {
        if (!vm_err_is_set(err))
            vm_err_set(err, VMERR_IO, "cp failed");
        return -1;
    }
    return 0;
}

/* Copies a filesystem's files to a new data dir, leaving out the links of
 * child datasets (they are datasets of their own, not content). */
/* ext: ".d", or ".work.d" for a copy made without the pool lock. */
static int fs_copy(vs_pool *pool, const char *from, json_t *children, const char *ext, char **namep, vm_err *err)
{
    cleanup_free char *name = new_dataname(ext);
    cleanup_free char *top = dpath(pool, name);
    cleanup_free char *src = dir_path(pool, from, VS_FILESYSTEM);
    cleanup_free char *dst = dir_path(pool, name, VS_FILESYSTEM);
    size_t i;
    json_t *c;

    if (ly_is_layered(pool->datadir, from) && ly_mount(pool->datadir, from, err) < 0)
        return -1;
    if (mkdir_p(top, 0700, err) < 0)
        return -1;
    if (ly_copy_tree(src, dst, err) < 0)
        goto fail;
    json_array_foreach(children, i, c) {
        cleanup_free char *l = xasprintf("%s/%s", dst, json_string_value(c));
        struct stat st;
        if (lstat(l, &st) == 0 && S_ISLNK(st.st_mode))
            unlink(l);
    }
    *namep = steal_ptr(name);
    return 0;
fail:
    rm_rf(top, NULL);
    return -1;
}

/* Removes data: every mount beneath it first (a layered view), so the
 * removal never walks into a merged view. */
static int remove_dir(vs_pool *pool, const char *dataname, vm_err *err)
{
    cleanup_free char *p = dpath(pool, dataname);
    if (ly_umount_under(p, err) < 0)
        return -1;
    return rm_rf(p, err);
}

/* A snapshot of layered data: its upper frozen by a copy (the changes
 * only), on the same lowers. */
static int layered_freeze(vs_pool *pool, const char *file, json_t *children, char **namep, vm_err *err)
{
    cleanup_free char *name = new_dataname(".d");
    cleanup_json json_t *lowers = NULL;
    if (ly_lowers(pool->datadir, file, &lowers, err) < 0)
        return -1;
    if (ly_create(pool->datadir, name, lowers, file, children, false, err) < 0) {
        remove_dir(pool, name, NULL);
        return -1;
    }
    *namep = steal_ptr(name);
    return 0;
}

/* Rollback to a layered snapshot: a writable copy of its frozen upper on
 * its lowers. */
static int layered_thaw(vs_pool *pool, const char *layer, char **namep, vm_err *err)
{
    cleanup_free char *name = new_dataname(".d");
    cleanup_json json_t *lowers = NULL;
    if (ly_lowers(pool->datadir, layer, &lowers, err) < 0)
        return -1;
    if (ly_create(pool->datadir, name, lowers, layer, NULL, true, err) < 0 || ly_mount(pool->datadir, name, err) < 0) {
        remove_dir(pool, name, NULL);
        return -1;
    }
    *namep = steal_ptr(name);
    return 0;
}

/* A filesystem clone: layered on the snapshot (O(1)) unless the switch
 * says copy, when overlayfs mounts here (the mount is the probe), else a
 * copy; a failed probe is logged (and printed when layers were asked for
 * explicitly) and copies. */
static int fs_clone(vs_pool *pool, const char *layer, char **namep, vm_err *err)
{
    int want = ly_wanted();
    if (want != LY_COPY && !ly_kernel_ok()) {
        if (want == LY_ASKED)
            fprintf(stderr, "warning: layered filesystems need Linux %d.%d or later; copying the filesystem instead\n",
                    LY_KERNEL_MAJOR, LY_KERNEL_MINOR);
        vm_log(pool->ctx, "warn", "layered filesystems need Linux %d.%d or later; copying the filesystem instead",
               LY_KERNEL_MAJOR, LY_KERNEL_MINOR);
        want = LY_COPY;
    }
    if (want != LY_COPY) {
        cleanup_free char *name = new_dataname(".work.d");
        cleanup_json json_t *stack = NULL;
        vm_err e = VM_ERR_INIT;
        if (ly_stack_of(pool->datadir, layer, &stack, err) < 0)
            return -1;
        if (ly_create(pool->datadir, name, stack, NULL, NULL, true, &e) == 0 &&
            ly_mount(pool->datadir, name, &e) == 0) {
            *namep = steal_ptr(name);
            return 0;
        }
        remove_dir(pool, name, NULL);
        if (want == LY_ASKED)
            fprintf(stderr, "warning: overlayfs layers unavailable (%s); copying the filesystem instead\n", e.msg);
        vm_log(pool->ctx, "warn", "overlayfs layers unavailable (%s); copying the filesystem instead", e.msg);
    }
    return fs_copy(pool, layer, NULL, ".work.d", namep, err);
}

static int dir_snapshot(vs_pool *pool, json_t *ds, json_t *snap, json_t *children, vm_err *err)
{
    const char *file = vs_jstr(ds, "file");
    char *name = NULL;

    if (vs_ds_type(ds) == VS_FILESYSTEM) {
        if (ly_is_layered(pool->datadir, file)) {
            if (layered_freeze(pool, file, children, &name, err) < 0)
                return -1;
        } else if (fs_copy(pool, file, children, ".d", &name, err) < 0) {
            return -1;
        }
        json_object_set_new(snap, "layer", json_string(name));
        free(name);
        return 0;
    }
    /* The active file keeps its name: its current inode gets a second name
     * (the frozen layer) and a fresh overlay on that layer will be renamed
     * over the active name after the commit. */
    cleanup_free char *layer = new_dataname(".qcow2");
    cleanup_free char *lpath = dpath(pool, layer);
    cleanup_free char *apath = dpath(pool, file);
    if (link(apath, lpath) < 0)
        return vm_err_sys(err, errno, "cannot link %s", lpath);
    if (create_qcow2(pool, layer, vs_ds_prop_u64(ds, "volsize"), &name, err) < 0) {
        unlink(lpath);
        return -1;
    }
    json_object_set_new(snap, "layer", json_string(layer));
    json_object_set_new(ds, "pending", json_string(name));
    free(name);
    return 0;
}

static int dir_clone(vs_pool *pool, json_t *snap, json_t *nds, uint64_t volsize, vm_err *err)
{
    char *name = NULL;
    const char *layer = vs_jstr(snap, "layer");
    int r;
    if (vs_ds_type(nds) == VS_FILESYSTEM)
        r = fs_clone(pool, layer, &name, err); /* unlocked: clone.c */
    else
        r = create_qcow2(pool, layer, volsize, &name, err);
    if (r < 0)
        return -1;
    json_object_set_new(nds, "file", json_string(name));
    free(name);
    return 0;
}

static int dir_rollback(vs_pool *pool, json_t *ds, json_t *snap, vm_err *err)
{
    char *name = NULL;
    int r;
    if (vs_ds_type(ds) == VS_FILESYSTEM && ly_is_layered(pool->datadir, vs_jstr(snap, "layer")))
        r = layered_thaw(pool, vs_jstr(snap, "layer"), &name, err);
    else if (vs_ds_type(ds) == VS_FILESYSTEM)
        r = fs_copy(pool, vs_jstr(snap, "layer"), NULL, ".d", &name, err);
    else
        r = create_qcow2(pool, vs_jstr(snap, "layer"), (uint64_t)json_integer_value(json_object_get(snap, "volsize")),
                         &name, err);
    if (r < 0)
        return -1;
    json_object_set_new(ds, "pending", json_string(name));
    free(name);
    return 0;
}

static int dir_snap_detach(vs_pool *pool, json_t *ds, size_t idx, vm_err *err)
{
    json_t *snaps = json_object_get(ds, "snaps");
    const char *above, *below;

    if (vs_ds_type(ds) == VS_FILESYSTEM)
        return 0; /* filesystem snapshots are whole copies */
    above = idx + 1 < json_array_size(snaps) ? vs_jstr(json_array_get(snaps, idx + 1), "layer") : vs_jstr(ds, "file");
    below = idx > 0 ? vs_jstr(json_array_get(snaps, idx - 1), "layer") : vs_jstr(ds, "origin_layer");
    cleanup_free char *apath = dpath(pool, above);
    /* Safe-mode rebase copies into `above` whatever it used to read through
     * the layer going away; the visible content never changes, so an
     * interruption leaves a valid (if larger) chain. */
    char *argv[] = { "qemu-img",           "rebase", "-q",  "-f", "qcow2", "-b", below ? (char *)below : "",
                     below ? "-F" : apath, "qcow2",  apath, NULL };
    if (!below)
        argv[8] = NULL;
    return qemu_img(argv, NULL, err);
}

static int dir_resize(vs_pool *pool, json_t *ds, uint64_t volsize, vm_err *err)
{
    cleanup_free char *path = dpath(pool, vs_jstr(ds, "file"));
    cleanup_free char *sz = xasprintf("%llu", (unsigned long long)volsize);
    char *argv[] = { "qemu-img", "resize", "-q", "--shrink", "-f", "qcow2", path, sz, NULL };
    return qemu_img(argv, NULL, err);
}

static void dir_apply_pending(vs_pool *pool, json_t *ds)
{
    const char *pending = vs_jstr(ds, "pending");
    if (!pending || vs_ds_type(ds) != VS_VOLUME)
        return;
    cleanup_free char *from = dpath(pool, pending);
    cleanup_free char *to = dpath(pool, vs_jstr(ds, "file"));
    if (rename(from, to) == 0) {
        /* The previous inode now only lives on as a snapshot layer. */
        json_t *snaps = json_object_get(ds, "snaps");
        size_t n = json_array_size(snaps);
        if (n) {
            cleanup_free char *l = dpath(pool, vs_jstr(json_array_get(snaps, n - 1), "layer"));
            chmod(l, 0400);
        }
        fsync_dir(pool->datadir);
    }
}

static int dir_remove_data(vs_pool *pool, const char *dataname, vm_err *err)
{
    return remove_dir(pool, dataname, err);
}

static bool dir_data_exists(vs_pool *pool, const char *dataname)
{
    cleanup_free char *p = dpath(pool, dataname);
    return path_exists(p);
}

/* The creating pid in a data name ("<guid>-p<pid>..."), or 0. */
static long data_pid(const char *name)
{
    const char *p = strstr(name, "-p");
    if (!p)
        return 0;
    long pid = strtol(p + 2, NULL, 10);
    return pid > 0 ? pid : 0;
}

static bool pid_gone(const char *name)
{
    long pid = data_pid(name);
    if (pid <= 0)
        return true;
    if (pid == (long)getpid())
        return false;
    return kill((pid_t)pid, 0) < 0 && errno == ESRCH;
}

static void dir_gc(vs_pool *pool, json_t *keep, json_t *removed)
{
    DIR *d = opendir(pool->datadir);
    struct dirent *de;
    time_t now = time(NULL);
    if (!d)
        return;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || json_object_get(keep, de->d_name))
            continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        bool unlocked_work = strstr(de->d_name, ".work.") != NULL;
        if (pid_gone(de->d_name) || (!unlocked_work && now - st.st_ctime > GC_GRACE_S)) {
            if (remove_dir(pool, de->d_name, NULL) == 0 && removed)
                json_array_append_new(removed, json_string(de->d_name));
        }
    }
    closedir(d);
}

static __thread uint64_t du_total;
static int du_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)p;
    (void)flag;
    (void)f;
    du_total += (uint64_t)st->st_blocks * 512;
    return 0;
}

static uint64_t dir_written(vs_pool *pool, const char *dataname, int type)
{
    struct stat st;
    if (!dataname)
        return 0;
    if (type == VS_FILESYSTEM && ly_is_layered(pool->datadir, dataname))
        return ly_written(pool->datadir, dataname);
    cleanup_free char *p = dir_path(pool, dataname, type);
    if (type == VS_FILESYSTEM) {
        du_total = 0;
        nftw(p, du_cb, 16, FTW_PHYS | FTW_MOUNT);
        return du_total;
    }
    if (stat(p, &st) < 0)
        return 0;
    /* A qcow2 layer with no data still holds its header, refcount table
     * and block (3 clusters) and its L1 table; like an empty ZFS snapshot it has written
     * nothing, so that is not charged. */
    uint64_t alloc = (uint64_t)st.st_blocks * 512, empty = 3 * 65536 + 4096; /* + L1 table page */
    return alloc > empty ? alloc - empty : 0;
}

/* A layered filesystem's path is its merged view: mounted on demand. */
static void ensure_view(vs_pool *pool, const char *dataname)
{
    vm_err e = VM_ERR_INIT;
    if (!ly_is_layered(pool->datadir, dataname) || ly_mount(pool->datadir, dataname, &e) == 0)
        return;
    fprintf(stderr, "warning: %s\n", e.msg);
    vm_log(pool->ctx, "warn", "%s", e.msg);
}

static char *dir_path_pub(vs_pool *pool, const char *dataname, int type)
{
    if (type == VS_FILESYSTEM)
        ensure_view(pool, dataname);
    return dir_path(pool, dataname, type);
}

static int dir_fs_ready(vs_pool *pool, const char *dataname, vm_err *err)
{
    return ly_is_layered(pool->datadir, dataname) ? ly_mount(pool->datadir, dataname, err) : 0;
}

static uint64_t dir_shared(vs_pool *pool, const char *dataname, int type)
{
    return type == VS_FILESYSTEM && ly_is_layered(pool->datadir, dataname) ? ly_shared(pool->datadir, dataname) : 0;
}

/* After a host reboot nothing is mounted: every layered dataset's view
 * comes back here (a stat per filesystem when nothing is layered). */
static void dir_activate(vs_pool *pool, json_t *meta)
{
    const char *name;
    json_t *ds;
    json_object_foreach(json_object_get(meta, "datasets"), name, ds) {
        const char *f = vs_jstr(ds, "file");
        if (vs_ds_type(ds) == VS_FILESYSTEM && f && ly_is_layered(pool->datadir, f))
            ly_mount(pool->datadir, f, NULL);
    }
}

static int dir_layer_extents(vs_pool *pool, const char *dataname, json_t *out, vm_err *err)
{
    cleanup_free char *p = dpath(pool, dataname);
    cleanup_free char *txt = NULL;
    cleanup_json json_t *map = NULL;
    char *argv[] = { "qemu-img", "map", "-U", "-f", "qcow2", "--output=json", p, NULL };
    json_error_t je;
    size_t i;
    json_t *e;

    if (qemu_img(argv, &txt, err) < 0)
        return -1;
    map = json_loads(txt, 0, &je);
    if (!json_is_array(map))
        return vm_err_set(err, VMERR_IO, "qemu-img map: unexpected output for %s", p);
    /* depth 0 and present: the cluster is allocated in this layer itself
     * (data or an explicit zero write), i.e. it changed here. */
    json_array_foreach(map, i, e) {
        if (json_integer_value(json_object_get(e, "depth")) != 0 || !json_is_true(json_object_get(e, "present")))
            continue;
        json_array_append_new(out,
                              json_pack("[II]", json_integer_value(json_object_get(e, "start")),
                                        json_integer_value(json_object_get(e, "length"))));
    }
    return 0;
}

/* Points `link` at `target` (replacing whatever is there, atomically). */
static void set_link(const char *link, const char *target)
{
    char buf[4096];
    ssize_t n = readlink(link, buf, sizeof buf - 1);
    if (n >= 0) {
        buf[n] = '\0';
        if (!strcmp(buf, target))
            return;
    }
    cleanup_free char *tmp = xasprintf("%s.vstmp%ld", link, (long)getpid());
    unlink(tmp);
    if (symlink(target, tmp) == 0 && rename(tmp, link) < 0)
        unlink(tmp);
}

static void dir_view_sync(vs_pool *pool, json_t *meta)
{
    json_t *dss = json_object_get(meta, "datasets"), *ds;
    const char *name;
    cleanup_free char *prefix = xasprintf("%s/", pool->datadir);

    /* Child links live inside the parents' views: mount those first. */
    dir_activate(pool, meta);
    json_object_foreach(dss, name, ds) {
        if (vs_ds_type(ds) != VS_FILESYSTEM || !vs_jstr(ds, "file"))
            continue;
        cleanup_free char *target = dir_path(pool, vs_jstr(ds, "file"), VS_FILESYSTEM);
        cleanup_free char *parent = vs_parent_name(name);
        if (!parent) {
            cleanup_free char *l = xasprintf("%s/%s", pool->ctx->root, name);
            set_link(l, target);
        } else {
            json_t *pds = json_object_get(dss, parent);
            if (!pds || vs_ds_type(pds) != VS_FILESYSTEM)
                continue;
            cleanup_free char *pdir = dir_path(pool, vs_jstr(pds, "file"), VS_FILESYSTEM);
            cleanup_free char *l = xasprintf("%s/%s", pdir, strrchr(name, '/') + 1);
            set_link(l, target);
        }
        /* Drop links of children that no longer exist (renamed/destroyed). */
        DIR *d = opendir(target);
        struct dirent *de;
        if (!d)
            continue;
        while ((de = readdir(d))) {
            if (de->d_type != DT_LNK)
                continue;
            char buf[4096];
            ssize_t n = readlinkat(dirfd(d), de->d_name, buf, sizeof buf - 1);
            if (n < 0)
                continue;
            buf[n] = '\0';
            if (!str_has_prefix(buf, prefix))
                continue;
            cleanup_free char *child = xasprintf("%s/%s", name, de->d_name);
            json_t *cds = json_object_get(dss, child);
            if (!cds || vs_ds_type(cds) != VS_FILESYSTEM)
                unlinkat(dirfd(d), de->d_name, 0);
        }
        closedir(d);
    }
}

static int dir_space(vs_pool *pool, uint64_t *size, uint64_t *used, uint64_t *free_, vm_err *err)
{
    struct statvfs sv;
    if (statvfs(pool->datadir, &sv) < 0)
        return vm_err_sys(err, errno, "cannot statvfs %s", pool->datadir);
    *size = (uint64_t)sv.f_blocks * sv.f_frsize;
    *used = (uint64_t)(sv.f_blocks - sv.f_bfree) * sv.f_frsize;
    *free_ = (uint64_t)sv.f_bavail * sv.f_frsize;
    return 0;
}

const vs_driver vs_driver_dir = {
    .name = "dir",
    .init = dir_init,
    .fs_create = dir_fs_create,
    .vol_create = dir_vol_create,
    .vol_import = dir_vol_import,
    .snapshot = dir_snapshot,
    .clone = dir_clone,
    .rollback = dir_rollback,
    .snap_detach = dir_snap_detach,
    .resize = dir_resize,
    .apply_pending = dir_apply_pending,
    .remove_data = dir_remove_data,
    .data_exists = dir_data_exists,
    .gc = dir_gc,
    .written = dir_written,
    .path = dir_path_pub,
    .layer_extents = dir_layer_extents,
    .view_sync = dir_view_sync,
    .activate = dir_activate,
    .fs_ready = dir_fs_ready,
    .shared = dir_shared,
    .space = dir_space,
};
