/* Receive of a filesystem stream object: the applier of fsentry.h's
 * entries under a dataset's root (the safety rules are in send_fs.c's
 * header comment) and vs_receive_fs.
 *
 * Resumable receives (storage.h "Resumable transfers"): every
 * VS_RESUME_CHUNK bytes, at the first record boundary where the parser
 * stands between entries or inside a file's data (vs_fse_where), the
 * directory times received so far are set, the dataset synced (syncfs)
 * and the state saved: the public part (guid, snapshot, base, size,
 * offset) and where the parser stands — "at" ("entry" or "file"),
 * "count", for a file its entry header ("entry", hex), "chunk_off",
 * "chunk_left", "next_min" — plus "dirs": [path, sec, nsec] of the
 * directories received so far that later entries may still change (in
 * send order a directory's contents follow it, and once left it is never
 * entered again: those are the ancestors of the last entry and that entry
 * itself).  A resumed receive restarts its parser there (the partly
 * written file reopened: beneath the root, no symlink, a regular file)
 * and sets those directories' times again at its end.  A state that would
 * not fit a user property (8 KiB: very long paths, large xattrs on the
 * file being written) waits for the next record boundary. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/util.h"
#include "storage/fstree.h"
#include "storage/send_internal.h"
#include "storage/storage_internal.h"

static int open_beneath(int dirfd, const char *path, int flags)
{
    if (!path[0])
        return fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW),
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
    };
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

typedef struct dirtime {
    char *path;
    struct timespec ts[2];
} dirtime;

typedef struct applier {
    int rootfd, flags;
    char *cdir; /* cached parent directory and its fd */
    int cfd;
    const char *base; /* last component of the current entry */
    int fd; /* the file being written, or -1 */
    /* the current entry, copied (the parser's copy is gone by `end`) */
    vs_fse e;
    char *path, *target;
    vs_fse_xattr *xa;
    dirtime *dt;
    size_t ndt;
} applier;

static void add_dirtime(applier *a, const char *path, const struct timespec ts[2])
{
    a->dt = xrealloc(a->dt, (a->ndt + 1) * sizeof *a->dt);
    a->dt[a->ndt].path = xstrdup(path);
    a->dt[a->ndt].ts[0] = ts[0];
    a->dt[a->ndt].ts[1] = ts[1];
    a->ndt++;
}

static void drop_entry(applier *a)
{
    free(a->path);
    free(a->target);
    for (size_t i = 0; i < a->e.nxattr; i++) {
        free((char *)a->xa[i].name);
        free((uint8_t *)a->xa[i].value);
    }
    free(a->xa);
    a->path = a->target = NULL;
    a->xa = NULL;
    a->e.nxattr = 0;
}

static void keep_entry(applier *a, const vs_fse *e)
{
    drop_entry(a);
    a->e = *e;
    a->path = xstrdup(e->path);
    a->target = e->target ? xstrdup(e->target) : NULL;
    a->xa = xcalloc(e->nxattr + 1, sizeof *a->xa);
    for (size_t i = 0; i < e->nxattr; i++) {
        uint8_t *v = xmalloc(e->xattrs[i].len + 1);
        memcpy(v, e->xattrs[i].value, e->xattrs[i].len);
        a->xa[i] = (vs_fse_xattr){ xstrdup(e->xattrs[i].name), v, e->xattrs[i].len };
    }
    a->e.path = a->path;
    a->e.target = a->target;
    a->e.xattrs = a->xa;
}

static void uncache(applier *a)
{
    if (a->cfd >= 0)
        close(a->cfd);
    a->cfd = -1;
    free(a->cdir);
    a->cdir = NULL;
}

/* Opens the parent of `path` (beneath the root, no symlinks); a->base. */
static int parent(applier *a, const char *path, vm_err *err)
{
    const char *slash = strrchr(path, '/');
    cleanup_free char *dir = slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup("");
    a->base = slash ? slash + 1 : path;
    if (a->cdir && !strcmp(a->cdir, dir))
        return a->cfd;
    uncache(a);
    int fd = open_beneath(a->rootfd, dir, O_RDONLY | O_DIRECTORY);
    if (fd < 0) {
        if (errno == ELOOP || errno == EXDEV || errno == ENOTDIR)
            return vm_err_set(err, VMERR_INVALID,
                              "invalid stream: '%s' would be created through a symlink or "
                              "outside the dataset",
                              path);
        return vm_err_sys(err, errno, "cannot open the directory of %s", path);
    }
    a->cfd = fd;
    a->cdir = steal_ptr(dir);
    return fd;
}

static int rm_tree_at(int pfd, const char *name, vm_err *err)
{
    int fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (!d) {
        if (fd >= 0)
            close(fd);
        return vm_err_sys(err, errno, "cannot remove %s", name);
    }
    struct dirent *de;
    int r = 0;
    while (r == 0 && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        struct stat st;
        if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            r = vm_err_sys(err, errno, "cannot remove %s", de->d_name);
        else if (S_ISDIR(st.st_mode))
            r = rm_tree_at(dirfd(d), de->d_name, err);
        else if (unlinkat(dirfd(d), de->d_name, 0) < 0)
            r = vm_err_sys(err, errno, "cannot remove %s", de->d_name);
    }
    closedir(d);
    if (r == 0 && unlinkat(pfd, name, AT_REMOVEDIR) < 0)
        r = vm_err_sys(err, errno, "cannot remove %s", name);
    return r;
}

/* Removes what is at pfd/base (keep_dir: an existing directory stays). */
static int clear(applier *a, int pfd, bool keep_dir, bool *kept, vm_err *err)
{
    struct stat st;
    *kept = false;
    if (fstatat(pfd, a->base, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : vm_err_sys(err, errno, "cannot stat %s", a->e.path);
    if (S_ISDIR(st.st_mode)) {
        if (keep_dir) {
            *kept = true;
            return 0;
        }
        int r = rm_tree_at(pfd, a->base, err);
        uncache(a); /* the cached directory may have been inside */
        return r;
    }
    if (unlinkat(pfd, a->base, 0) < 0)
        return vm_err_sys(err, errno, "cannot remove %s", a->e.path);
    return 0;
}

/* Sets exactly the entry's xattrs on the inode fd refers to (an O_PATH
 * fd works: through /proc the call reaches the inode, link or not). */
static int set_xattrs(applier *a, int fd, vm_err *err)
{
    char p[64];
    snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
    char names[65536];
    ssize_t len = listxattr(p, names, sizeof names);
    for (ssize_t o = 0; len > 0 && o < len; o += (ssize_t)strlen(names + o) + 1) {
        bool keep = false;
        for (size_t i = 0; i < a->e.nxattr && !keep; i++)
            keep = !strcmp(a->xa[i].name, names + o);
        if (!keep && removexattr(p, names + o) < 0)
            return vm_err_sys(err, errno, "cannot remove xattr %s of %s", names + o, a->e.path);
    }
    for (size_t i = 0; i < a->e.nxattr; i++)
        if (setxattr(p, a->xa[i].name, a->xa[i].value, a->xa[i].len, 0) < 0)
            return vm_err_sys(err, errno, "cannot set xattr %s of %s", a->xa[i].name, a->e.path);
    return 0;
}

/* Owner, mode, xattrs (times: the caller). fd: the inode, O_PATH or not. */
static int set_meta(applier *a, int fd, int pfd, vm_err *err)
{
    const char *path = a->e.path[0] ? a->e.path : "/";
    if (fchownat(fd, "", a->e.uid, a->e.gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
        return vm_err_sys(err, errno, "cannot set the owner of %s", path);
    int t = a->e.type, r = 0;
    if (t == VS_FSE_FILE || t == VS_FSE_DIR)
        r = fchmod(fd, a->e.mode);
    else if (t != VS_FSE_SYMLINK)
        r = fchmodat(pfd, a->base, a->e.mode, 0); /* a node made just now, not a link */
    if (r < 0)
        return vm_err_sys(err, errno, "cannot set the mode of %s", path);
    return set_xattrs(a, fd, err);
}

static void times_of(const vs_fse *e, struct timespec ts[2])
{
    ts[0].tv_sec = 0;
    ts[0].tv_nsec = UTIME_OMIT;
    ts[1].tv_sec = (time_t)e->mtime_sec;
    ts[1].tv_nsec = (long)e->mtime_nsec;
}

static int on_dir(applier *a, int pfd, vm_err *err)
{
    bool kept = false;
    int fd;
    if (!a->e.path[0]) {
        fd = fcntl(a->rootfd, F_DUPFD_CLOEXEC, 0);
    } else {
        if (clear(a, pfd, true, &kept, err) < 0)
            return -1;
        pfd = parent(a, a->e.path, err); /* clear may have uncached it */
        if (pfd < 0)
            return -1;
        if (!kept && mkdirat(pfd, a->base, 0700) < 0)
            return vm_err_sys(err, errno, "cannot create %s", a->e.path);
        fd = openat(pfd, a->base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    }
    if (fd < 0)
        return vm_err_sys(err, errno, "cannot open %s", a->e.path);
    int r = set_meta(a, fd, pfd, err);
    close(fd);
    struct timespec ts[2];
    times_of(&a->e, ts);
    add_dirtime(a, a->e.path, ts);
    return r;
}

/* The file a resumed receive was writing when it stopped: written on
 * where it is (it must be a regular file, reached without a symlink). */
static int reopen(applier *a, int pfd, vm_err *err)
{
    struct stat st, st2;
    if (fstatat(pfd, a->base, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
        a->fd = openat(pfd, a->base, O_WRONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    if (a->fd < 0 || fstat(a->fd, &st2) < 0 || !S_ISREG(st2.st_mode) || st2.st_ino != st.st_ino ||
        st2.st_dev != st.st_dev)
        return vm_err_set(err, VMERR_INVALID, "cannot resume receive: '%s' is not the file received in part",
                          a->e.path);
    return 0;
}

static int on_entry(void *arg, const vs_fse *e, vm_err *err)
{
    applier *a = arg;
    keep_entry(a, e);
    if ((e->type == VS_FSE_CHR || e->type == VS_FSE_BLK) && !(a->flags & VS_RECV_DEVICES))
        return vm_err_set(err, VMERR_INVALID, "unsafe stream: entry \"%s\" is a device node", e->path);
    if ((a->flags & VS_RECV_NO_SETUID) && e->type != VS_FSE_DIR && (e->mode & (S_ISUID | S_ISGID)))
        return vm_err_set(err, VMERR_INVALID, "unsafe stream: entry \"%s\" is setuid or setgid", e->path);
    int pfd = parent(a, e->path, err);
    if (pfd < 0)
        return -1;
    if (e->resumed)
        return reopen(a, pfd, err);
    bool kept;
    if (e->op == VS_FSE_DELETE)
        return clear(a, pfd, false, &kept, err);
    if (e->type == VS_FSE_DIR)
        return on_dir(a, pfd, err);
    if (clear(a, pfd, false, &kept, err) < 0 || (pfd = parent(a, e->path, err)) < 0)
        return -1;
    int r = 0;
    switch (e->type) {
    case VS_FSE_FILE:
        a->fd = openat(pfd, a->base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        r = a->fd;
        break;
    case VS_FSE_SYMLINK: r = symlinkat(e->target, pfd, a->base); break;
    case VS_FSE_HARDLINK: {
        const char *slash = strrchr(e->target, '/');
        cleanup_free char *tdir = slash ? xstrndup(e->target, (size_t)(slash - e->target)) : xstrdup("");
        cleanup_close int tfd = open_beneath(a->rootfd, tdir, O_PATH | O_DIRECTORY);
        if (tfd < 0)
            return vm_err_set(err, VMERR_INVALID, "invalid stream: hardlink target '%s' of '%s' is not in the dataset",
                              e->target, e->path);
        r = linkat(tfd, slash ? slash + 1 : e->target, pfd, a->base, 0);
        break;
    }
    case VS_FSE_CHR: r = mknodat(pfd, a->base, S_IFCHR | 0600, (dev_t)e->rdev); break;
    case VS_FSE_BLK: r = mknodat(pfd, a->base, S_IFBLK | 0600, (dev_t)e->rdev); break;
    case VS_FSE_FIFO: r = mknodat(pfd, a->base, S_IFIFO | 0600, 0); break;
    default: r = mknodat(pfd, a->base, S_IFSOCK | 0600, 0); break;
    }
    return r < 0 ? vm_err_sys(err, errno, "cannot create %s", e->path) : 0;
}

static int on_data(void *arg, uint64_t off, const uint8_t *buf, size_t len, vm_err *err)
{
    applier *a = arg;
    while (len) {
        ssize_t w = pwrite(a->fd, buf, len, (off_t)off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return vm_err_sys(err, errno, "cannot write %s", a->e.path);
        buf += w;
        len -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

static int on_end(void *arg, vm_err *err)
{
    applier *a = arg;
    int t = a->e.type;
    if (a->e.op == VS_FSE_DELETE || t == VS_FSE_DIR || t == VS_FSE_HARDLINK)
        return 0;
    struct timespec ts[2];
    times_of(&a->e, ts);
    if (t == VS_FSE_FILE) {
        int fd = a->fd, r = 0;
        a->fd = -1;
        if (ftruncate(fd, (off_t)a->e.size) < 0)
            r = vm_err_sys(err, errno, "cannot write %s", a->e.path);
        if (r == 0)
            r = set_meta(a, fd, a->cfd, err);
        if (r == 0 && futimens(fd, ts) < 0)
            r = vm_err_sys(err, errno, "cannot set the times of %s", a->e.path);
        close(fd);
        return r;
    }
    cleanup_close int fd = openat(a->cfd, a->base, O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return vm_err_sys(err, errno, "cannot open %s", a->e.path);
    if (set_meta(a, fd, a->cfd, err) < 0)
        return -1;
    if (utimensat(a->cfd, a->base, ts, AT_SYMLINK_NOFOLLOW) < 0)
        return vm_err_sys(err, errno, "cannot set the times of %s", a->e.path);
    return 0;
}

/* Directory times, deepest (last sent) first. */
static int dir_times(applier *a, vm_err *err)
{
    int r = 0;
    for (size_t i = a->ndt; i-- > 0;) {
        cleanup_close int fd = open_beneath(a->rootfd, a->dt[i].path, O_RDONLY | O_DIRECTORY);
        if (r == 0 && (fd < 0 || futimens(fd, a->dt[i].ts) < 0))
            r = vm_err_sys(err, errno, "cannot set the times of %s", a->dt[i].path[0] ? a->dt[i].path : "/");
    }
    return r;
}

/* A resumable receive's checkpoints: the dataset holding the state, the
 * state (NULL: not resumable), the bytes fed since the last one. */
typedef struct fs_ckpt {
    vs_pool *pool;
    const char *ds;
    json_t *state;
    uint64_t since;
} fs_ckpt;

static bool is_at_or_above(const char *dir, const char *path)
{
    size_t n = strlen(dir);
    return !n || (!strncmp(dir, path, n) && (path[n] == '/' || !path[n]));
}

static char *to_hex(const uint8_t *b, size_t n)
{
    char *h = xmalloc(2 * n + 1);
    for (size_t i = 0; i < n; i++)
        snprintf(h + 2 * i, 3, "%02x", b[i]);
    h[2 * n] = '\0';
    return h;
}

/* The state at this point (above), or NULL when it does not fit a property. */
static json_t *state_here(applier *a, const vs_fse_pos *pos, json_t *base)
{
    json_t *st = json_deep_copy(base), *dirs = json_array();
    const char *cur = a->path ? a->path : "";
    for (size_t i = 0; i < a->ndt; i++)
        if (is_at_or_above(a->dt[i].path, cur))
            json_array_append_new(dirs,
                                  json_pack("[s,I,I]", a->dt[i].path, (json_int_t)a->dt[i].ts[1].tv_sec,
                                            (json_int_t)a->dt[i].ts[1].tv_nsec));
    json_object_set_new(st, "dirs", dirs);
    json_object_set_new(st, "count", json_integer((json_int_t)pos->count));
    json_object_set_new(st, "at", json_string(pos->at == VS_FSE_AT_FILE ? "file" : "entry"));
    if (pos->at == VS_FSE_AT_FILE) {
        size_t hl;
        cleanup_free uint8_t *h = vs_fse_encode(&a->e, &hl);
        cleanup_free char *hx = to_hex(h, hl);
        json_object_set_new(st, "entry", json_string(hx));
        json_object_set_new(st, "chunk_off", json_integer((json_int_t)pos->off));
        json_object_set_new(st, "chunk_left", json_integer((json_int_t)pos->left));
        json_object_set_new(st, "next_min", json_integer((json_int_t)pos->next_min));
    }
    cleanup_free char *js = json_dumps(st, JSON_COMPACT);
    if (!js || strlen(js) > 8000) {
        json_decref(st);
        return NULL;
    }
    return st;
}

/* 1: a checkpoint at `offset` is saved; 0: none possible here. */
static int checkpoint(applier *a, vs_fse_parser *p, fs_ckpt *ck, uint64_t offset, vm_err *err)
{
    vs_fse_pos pos;
    vs_fse_where(p, &pos);
    if (pos.at == VS_FSE_AT_OTHER)
        return 0;
    cleanup_json json_t *st = state_here(a, &pos, ck->state);
    if (!st)
        return 0;
    if (dir_times(a, err) < 0)
        return -1;
    if (syncfs(a->rootfd) < 0)
        return vm_err_sys(err, errno, "cannot sync the received files");
    if (vs_resume_save(ck->pool, ck->ds, st, offset, err) < 0)
        return -1;
    /* The directories left behind have their final times now. */
    const char *cur = a->path ? a->path : "";
    size_t k = 0;
    for (size_t i = 0; i < a->ndt; i++) {
        if (is_at_or_above(a->dt[i].path, cur))
            a->dt[k++] = a->dt[i];
        else
            free(a->dt[i].path);
    }
    a->ndt = k;
    ck->since = 0;
    return 1;
}

static json_int_t jint(json_t *o, const char *k)
{
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? json_integer_value(v) : -1;
}

/* A resumed receive's parser and directories as the saved state says. */
static int restore(applier *a, vs_fse_parser *p, json_t *st, vm_err *err)
{
    const char *at = json_string_value(json_object_get(st, "at"));
    const char *hex = json_string_value(json_object_get(st, "entry"));
    vs_fse_pos pos = { .at = !at                  ? -1
                           : !strcmp(at, "entry") ? VS_FSE_AT_ENTRY
                           : !strcmp(at, "file")  ? VS_FSE_AT_FILE
                                                  : -1 };
    json_int_t v[4] = { jint(st, "count"), jint(st, "chunk_off"), jint(st, "chunk_left"), jint(st, "next_min") };
    size_t hl = hex ? strlen(hex) / 2 : 0;
    cleanup_free uint8_t *hdr = xmalloc(hl + 1);
    bool ok = pos.at >= 0 && v[0] >= 0 &&
        (pos.at == VS_FSE_AT_ENTRY || (hex && strlen(hex) % 2 == 0 && v[1] >= 0 && v[2] >= 0 && v[3] >= 0));
    for (size_t i = 0; ok && i < hl; i++) {
        int x = hex_digit(hex[2 * i]), y = hex_digit(hex[2 * i + 1]);
        ok = x >= 0 && y >= 0;
        hdr[i] = (uint8_t)(x * 16 + y);
    }
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(st, "dirs"), i, d) {
        const char *path = json_string_value(json_array_get(d, 0));
        json_t *sec = json_array_get(d, 1), *ns = json_array_get(d, 2);
        if (!path || !vs_fse_path_ok(path, strlen(path), true) || !json_is_integer(sec) || !json_is_integer(ns) ||
            json_integer_value(ns) < 0 || json_integer_value(ns) >= 1000000000) {
            ok = false;
            break;
        }
        struct timespec ts[2] = { { 0, UTIME_OMIT },
                                  { (time_t)json_integer_value(sec), (long)json_integer_value(ns) } };
        add_dirtime(a, path, ts);
    }
    if (!ok)
        return vm_err_set(err, VMERR_INVALID,
                          "cannot resume receive: the saved state of the partial receive is damaged");
    pos.count = (uint64_t)v[0];
    pos.off = (uint64_t)v[1];
    pos.left = (uint64_t)v[2];
    pos.next_min = (uint64_t)v[3];
    return vs_fse_restart(p, &pos, hex ? hdr : NULL, hl, err);
}

/* Applies the object's entries (its DATA from roff up to OBJECT_END)
 * under rootfd; saved: the state a resumed receive (roff > 0) goes on from. */
static int apply(int rootfd, vs_stream_reader *r, uint32_t id, uint64_t size, int flags, fs_ckpt *ck, uint64_t roff,
                 json_t *saved, vm_err *err)
{
    applier a = { .rootfd = rootfd, .flags = flags, .cfd = -1, .fd = -1 };
    vs_fse_ops ops = { on_entry, on_data, on_end };
    vs_fse_parser *p = vs_fse_parser_new(&ops, &a);
    vs_stream_rec rec;
    uint64_t fed = roff;
    int rc = roff ? restore(&a, p, saved, err) : 0;
    while (rc == 0 && (rc = vs_stream_next(r, &rec, err)) == 1) {
        if (rec.type == VS_REC_OBJECT_END)
            break;
        if (rec.type != VS_REC_DATA || rec.object != id || rec.offset != fed) {
            rc = vm_err_set(err, VMERR_INVALID, "invalid stream: unexpected record in a filesystem object");
            break;
        }
        fed += rec.len;
        ck->since += rec.len;
        if (vs_fse_feed(p, rec.data, rec.len, err) < 0 ||
            (ck->state && ck->since >= VS_RESUME_CHUNK && fed < size && checkpoint(&a, p, ck, fed, err) < 0)) {
            rc = -1;
            break;
        }
        rc = 0;
    }
    if (rc == 0)
        rc = vm_err_set(err, VMERR_INVALID, "invalid stream: it ends inside a filesystem object");
    if (rc == 1 && fed != size)
        rc = vm_err_set(err, VMERR_INVALID, "invalid stream: filesystem object data is not contiguous");
    if (rc == 1 && (vs_fse_finish(p, err) < 0 || dir_times(&a, err) < 0 || syncfs(rootfd) < 0))
        rc = err->code ? -1 : vm_err_sys(err, errno, "cannot sync the received files");
    vs_fse_parser_free(p);
    if (a.fd >= 0)
        close(a.fd);
    uncache(&a);
    drop_entry(&a);
    for (size_t i = 0; i < a.ndt; i++)
        free(a.dt[i].path);
    free(a.dt);
    return rc < 0 ? -1 : 0;
}

/* The live tree differs from snapshot `snap` (quick check, fstree.h). */
static int fs_modified(vs_pool *pool, const char *name, const char *snap, bool *modified, vm_err *err)
{
    cleanup_free char *live = NULL;
    vs_view v;
    json_t *ds, *sn;
    if (vs_fs_path(pool, name, &live, err) < 0 || vs_view_open(pool, &v, err) < 0)
        return -1;
    int r = vs_view_find(&v, snap, &ds, &sn, err);
    cleanup_free char *sdir = r == 0 ? pool->drv->path(pool, vs_jstr(sn, "layer"), VS_FILESYSTEM) : NULL;
    vs_view_close(&v);
    if (r < 0)
        return -1;
    fs_tree a = { 0 }, b = { 0 };
    cleanup_free char *links = xasprintf("%s/", pool->datadir);
    cleanup_json json_t *dels = NULL;
    r = fs_tree_walk(sdir, NULL, &a, err);
    if (r == 0)
        r = fs_tree_walk(live, links, &b, err);
    if (r == 0)
        *modified = fs_tree_diff(&a, &b, &dels) > 0;
    fs_tree_free(&a);
    fs_tree_free(&b);
    return r;
}

static int create_fs(vs_pool *pool, const char *name, void *arg, vm_err *err)
{
    (void)arg;
    return vs_create_fs(pool, name, NULL, err);
}

/* The descriptor's resume_offset (0: none); -1 when it is not valid. */
static int64_t resume_offset_of(json_t *obj, json_int_t size)
{
    json_t *ro = json_object_get(obj, "resume_offset");
    if (!ro)
        return 0;
    const char *guid = json_string_value(json_object_get(obj, "guid"));
    if (!json_is_integer(ro) || json_integer_value(ro) <= 0 || json_integer_value(ro) > size || !guid || !*guid)
        return -1;
    return json_integer_value(ro);
}

int vs_receive_fs(vs_pool *pool, const char *name, vs_stream_reader *r, json_t *obj, int flags, vm_err *err)
{
    const char *snap = json_string_value(json_object_get(obj, "snapshot"));
    const char *from = json_string_value(json_object_get(obj, "from"));
    const char *origin = json_string_value(json_object_get(obj, "origin"));
    const char *guid = json_string_value(json_object_get(obj, "guid"));
    json_t *size = json_object_get(obj, "size");
    uint32_t id = (uint32_t)json_integer_value(json_object_get(obj, "id"));
    int64_t roff = json_is_integer(size) ? resume_offset_of(obj, json_integer_value(size)) : -1;
    if (!snap || !vs_valid_snap_component(snap) || !json_is_integer(size) || json_integer_value(size) < 0 ||
        strcmp(json_string_value(json_object_get(obj, "encoding")) ?: "", "fsentry-1") != 0 ||
        (from && !vs_valid_snap_component(from)) || (origin && (!vs_valid_name(origin) || !strchr(origin, '@'))) ||
        (from && origin) || roff < 0)
        return vm_err_set(err, VMERR_INVALID, "invalid stream: not a filesystem object this vmstore can receive");
    bool resumable = (flags & VS_RECV_RESUMABLE) && guid && *guid;
    if (roff && !resumable)
        return vm_err_set(err, VMERR_INVALID, "cannot receive '%s': the stream resumes a partial receive (-s)", name);
    /* The descriptor lives until the reader's next record: keep copies. */
    cleanup_free char *snapc = xstrdup(snap);
    cleanup_free char *fromc = from ? xstrdup(from) : NULL;
    uint64_t sz = (uint64_t)json_integer_value(size);
    cleanup_json json_t *state = resumable ? json_pack("{s:s,s:s,s:I,s:I}", "guid", guid, "snapshot", snap, "size",
                                                       (json_int_t)sz, "offset", (json_int_t)roff)
                                           : NULL;
    if (state && (from || origin))
        json_object_set_new(state, from ? "from" : "origin", json_string(from ? from : origin));
    snap = snapc;
    from = fromc;
    bool created = false;
    char *work = NULL;
    cleanup_free char *partial = vs_partial_name(name);
    cleanup_json json_t *saved = NULL;
    if (roff) {
        const char *ds = from ? name : partial;
        if (vs_resume_check(pool, name, ds, state, &saved, err) < 0)
            return -1;
        work = xstrdup(ds);
        created = !from;
    } else {
        vm_err e2 = VM_ERR_INIT;
        if (resumable && vs_receive_abort(pool, name, &e2) < 0)
            return vm_err_set(err, e2.code, "cannot discard the partial receive of '%s': %s", name, e2.msg);
        if (vs_recv_begin(pool, name, from, origin, NULL, fs_modified, create_fs, NULL,
                          resumable && !from ? partial : NULL, &work, &created, err) < 0)
            return -1;
    }
    cleanup_free char *dir = NULL;
    int rc = vs_fs_path(pool, work, &dir, err);
    /* From byte 0 the state needs no parser point: a resume from 0 is a
     * new receive. */
    if (rc == 0 && state && !roff)
        rc = vs_resume_save(pool, work, state, 0, err);
    if (rc == 0) {
        fs_ckpt ck = { pool, work, state, 0 };
        cleanup_close int rootfd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        rc = rootfd < 0 ? vm_err_sys(err, errno, "cannot open %s", dir)
                        : apply(rootfd, r, id, sz, flags, &ck, (uint64_t)roff, saved, err);
    }
    if (rc == 0 && state)
        rc = vs_inherit(pool, work, VS_RESUME_PROP, err);
    return vs_recv_end(pool, name, &work, snap, from, created, r, state ? flags | VS_RECV_KEEP : flags & ~VS_RECV_KEEP,
                       rc, err);
}
