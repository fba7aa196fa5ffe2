/* Tarball extraction into an image root without ever following a symlink.
 *
 * libarchive's archive_write_disk resolves path text: a symlink chain made
 * by earlier entries (a -> /tmp, a/b -> ../../etc) or a directory replaced by
 * a symlink before its deferred chmod could send a write outside the root.
 * Here every path is resolved against the tree itself: the parent directory
 * of each entry is opened one component at a time with openat2(RESOLVE_BENEATH
 * | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV) from an fd
 * on the root, and the entry is created relative to that fd with
 * O_NOFOLLOW/O_EXCL (an existing entry is removed first, as tar does).  A
 * symlink anywhere on the way is an error, so nothing is ever written
 * outside the root, whatever the archive's symlinks say.  Every write error
 * (data, owner, mode, xattr, times) fails the extraction: no warnings. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/util.h"
#include "image/internal.h"

typedef struct dir_fix {
    char *rel;
    mode_t perm;
    uid_t uid;
    gid_t gid;
    struct timespec ts[2]; /* atime, mtime (UTIME_OMIT when unset) */
} dir_fix;

struct img_extract {
    int rootfd;
    bool owner; /* root: restore owners */
    char *cdir; /* cached parent directory (relative path) */
    int cfd;
    dir_fix *fix;
    size_t nfix, capfix;
};

static int open_beneath(int dirfd, const char *path, int flags)
{
    struct open_how how = {
        .flags = (uint64_t)(flags | O_CLOEXEC | O_NOFOLLOW),
        .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV,
    };
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

int img_extract_open(const char *root, img_extract **out, vm_err *err)
{
    int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return vm_err_sys(err, errno, "cannot open %s", root);
    img_extract *x = xcalloc(1, sizeof(*x));
    x->rootfd = fd;
    x->cfd = -1;
    x->owner = geteuid() == 0;
    *out = x;
    return 0;
}

static void drop_cache(img_extract *x)
{
    if (x->cfd >= 0)
        close(x->cfd);
    x->cfd = -1;
    free(x->cdir);
    x->cdir = NULL;
}

void img_extract_free(img_extract *x)
{
    if (!x)
        return;
    drop_cache(x);
    for (size_t i = 0; i < x->nfix; i++)
        free(x->fix[i].rel);
    free(x->fix);
    close(x->rootfd);
    free(x);
}

static int fail_errno(int e, const char *rel, const char *what, vm_err *err)
{
    if (e == ELOOP)
        return vm_err_set(err, VMERR_INVALID, "cannot extract \"%s\": %s goes through a symlink", rel, what);
    vm_err_sys(err, e, "cannot extract \"%s\": %s", rel, what);
    if (e == ENOSPC || e == EDQUOT)
        err->code = VMERR_NOSPACE;
    return -1;
}

/* fd of directory dir (relative, "" = root), made (0755) where missing. */
static int parent_fd(img_extract *x, const char *dir, const char *rel, int *out, vm_err *err)
{
    if (!dir[0]) {
        *out = x->rootfd;
        return 0;
    }
    if (x->cdir && strcmp(x->cdir, dir) == 0) {
        *out = x->cfd;
        return 0;
    }
    drop_cache(x);
    cleanup_strv char **parts = strv_split(dir, "/");
    int cur = x->rootfd;
    size_t plen = 0; /* length of the prefix of dir walked so far */
    for (size_t i = 0; parts[i]; i++) {
        int fd = open_beneath(cur, parts[i], O_RDONLY | O_DIRECTORY);
        if (fd < 0 && errno == ENOENT) {
            if (mkdirat(cur, parts[i], 0755) < 0 && errno != EEXIST) {
                int e = errno;
                if (cur != x->rootfd)
                    close(cur);
                return fail_errno(e, rel, "cannot create its directory", err);
            }
            fd = open_beneath(cur, parts[i], O_RDONLY | O_DIRECTORY);
        }
        int e = errno;
        struct stat st;
        if (fd < 0 && (e == ENOTDIR || e == ELOOP) && fstatat(cur, parts[i], &st, AT_SYMLINK_NOFOLLOW) == 0)
            e = S_ISLNK(st.st_mode) ? ELOOP : ENOTDIR;
        if (cur != x->rootfd)
            close(cur);
        plen += strlen(parts[i]) + (i ? 1 : 0);
        if (fd < 0 && e == ELOOP)
            return vm_err_set(err, VMERR_INVALID, "cannot extract \"%s\": \"%.*s\" is a symlink", rel, (int)plen, dir);
        if (fd < 0)
            return fail_errno(e, rel, e == ENOTDIR ? "a parent is not a directory" : "cannot open its directory", err);
        cur = fd;
    }
    x->cdir = xstrdup(dir);
    x->cfd = cur;
    *out = cur;
    return 0;
}

/* Removes what is at name unless keep_dir and it is a directory (1). */
static int clear_name(img_extract *x, int pfd, const char *name, bool keep_dir, const char *rel, vm_err *err)
{
    struct stat st;
    if (fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : fail_errno(errno, rel, "cannot stat", err);
    if (S_ISDIR(st.st_mode)) {
        if (keep_dir)
            return 1;
        drop_cache(x);
        if (unlinkat(pfd, name, AT_REMOVEDIR) < 0)
            return fail_errno(errno, rel, "cannot replace the directory there", err);
        return 0;
    }
    if (unlinkat(pfd, name, 0) < 0)
        return fail_errno(errno, rel, "cannot replace the file there", err);
    return 0;
}

static void entry_times(struct archive_entry *e, struct timespec ts[2])
{
    ts[0].tv_sec = archive_entry_atime(e);
    ts[0].tv_nsec = archive_entry_atime_is_set(e) ? archive_entry_atime_nsec(e) : UTIME_OMIT;
    ts[1].tv_sec = archive_entry_mtime(e);
    ts[1].tv_nsec = archive_entry_mtime_is_set(e) ? archive_entry_mtime_nsec(e) : UTIME_OMIT;
}

static mode_t entry_perm(img_extract *x, struct archive_entry *e)
{
    mode_t perm = archive_entry_perm(e) & 07777;
    return x->owner ? perm : perm & ~(mode_t)(S_ISUID | S_ISGID);
}

/* Owner, mode (after the owner: chown clears setuid), xattrs of an open fd. */
static int fd_meta(img_extract *x, int fd, struct archive_entry *e, const char *rel, vm_err *err)
{
    if (x->owner && fchown(fd, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e)) < 0)
        return fail_errno(errno, rel, "cannot set its owner", err);
    if (fchmod(fd, entry_perm(x, e)) < 0)
        return fail_errno(errno, rel, "cannot set its mode", err);
    const char *name;
    const void *val;
    size_t size;
    archive_entry_xattr_reset(e);
    while (archive_entry_xattr_next(e, &name, &val, &size) == ARCHIVE_OK)
        if (fsetxattr(fd, name, val, size, 0) < 0)
            return fail_errno(errno, rel, "cannot set an extended attribute", err);
    return 0;
}

static int write_all_at(int fd, const void *buf, size_t len, int64_t off)
{
    const char *p = buf;
    while (len) {
        ssize_t n = pwrite(fd, p, len, (off_t)off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
        off += n;
    }
    return 0;
}

static int extract_file(img_extract *x, struct archive *a, struct archive_entry *e, int pfd, const char *name,
                        const char *rel, vm_err *err)
{
    cleanup_close int fd = openat(pfd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return fail_errno(errno, rel, "cannot create", err);
    if (archive_entry_size(e) > 0) {
        const void *buf;
        size_t len;
        la_int64_t off;
        int r;
        while ((r = archive_read_data_block(a, &buf, &len, &off)) == ARCHIVE_OK)
            if (len && write_all_at(fd, buf, len, off) < 0)
                return fail_errno(errno, rel, "cannot write", err);
        if (r != ARCHIVE_EOF)
            return IMG_EXTRACT_READ_ERROR;
    }
    if (ftruncate(fd, (off_t)archive_entry_size(e)) < 0)
        return fail_errno(errno, rel, "cannot write", err);
    if (fd_meta(x, fd, e, rel, err) < 0)
        return -1;
    struct timespec ts[2];
    entry_times(e, ts);
    if (futimens(fd, ts) < 0)
        return fail_errno(errno, rel, "cannot set its times", err);
    return 0;
}

static int extract_hardlink(img_extract *x, int pfd, const char *name, const char *rel, const char *target, vm_err *err)
{
    cleanup_close int tfd = open_beneath(x->rootfd, target, O_PATH);
    if (tfd < 0)
        return fail_errno(errno, rel, "cannot open its hardlink target", err);
    struct stat st;
    if (fstat(tfd, &st) < 0 || !S_ISREG(st.st_mode))
        return vm_err_set(err, VMERR_INVALID, "cannot extract \"%s\": hardlink target \"%s\" is not a regular file",
                          rel, target);
    if (linkat(tfd, "", pfd, name, AT_EMPTY_PATH) == 0)
        return 0;
    char p[64];
    snprintf(p, sizeof p, "/proc/self/fd/%d", tfd);
    if (linkat(AT_FDCWD, p, pfd, name, AT_SYMLINK_FOLLOW) < 0)
        return fail_errno(errno, rel, "cannot create the hardlink", err);
    return 0;
}

/* Symlinks and FIFOs: made by name under pfd, never opened or followed. */
static int extract_special(img_extract *x, struct archive_entry *e, int pfd, const char *name, const char *rel,
                           vm_err *err)
{
    bool link = archive_entry_filetype(e) == AE_IFLNK;
    if (link) {
        const char *target = archive_entry_symlink(e);
        if (!target || symlinkat(target, pfd, name) < 0)
            return fail_errno(target ? errno : EINVAL, rel, "cannot create the symlink", err);
    } else if (mknodat(pfd, name, S_IFIFO | 0600, 0) < 0) {
        return fail_errno(errno, rel, "cannot create the fifo", err);
    }
    if (x->owner &&
        fchownat(pfd, name, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e), AT_SYMLINK_NOFOLLOW) < 0)
        return fail_errno(errno, rel, "cannot set its owner", err);
    if (!link) {
        cleanup_close int fd = open_beneath(pfd, name, O_PATH);
        char p[64];
        snprintf(p, sizeof p, "/proc/self/fd/%d", fd);
        if (fd < 0 || chmod(p, entry_perm(x, e)) < 0)
            return fail_errno(errno, rel, "cannot set its mode", err);
    }
    struct timespec ts[2];
    entry_times(e, ts);
    if (utimensat(pfd, name, ts, AT_SYMLINK_NOFOLLOW) < 0)
        return fail_errno(errno, rel, "cannot set its times", err);
    return 0;
}

static int extract_dir(img_extract *x, struct archive_entry *e, int pfd, const char *name, const char *rel, vm_err *err)
{
    if (rel[0]) {
        int r = clear_name(x, pfd, name, true, rel, err);
        if (r < 0)
            return -1;
        if (r == 0 && mkdirat(pfd, name, 0700) < 0)
            return fail_errno(errno, rel, "cannot create the directory", err);
        cleanup_close int fd = open_beneath(pfd, name, O_RDONLY | O_DIRECTORY);
        if (fd < 0)
            return fail_errno(errno, rel, "cannot open the directory", err);
        if (x->owner && fchown(fd, (uid_t)archive_entry_uid(e), (gid_t)archive_entry_gid(e)) < 0)
            return fail_errno(errno, rel, "cannot set its owner", err);
        const char *xn;
        const void *xv;
        size_t xs;
        archive_entry_xattr_reset(e);
        while (archive_entry_xattr_next(e, &xn, &xv, &xs) == ARCHIVE_OK)
            if (fsetxattr(fd, xn, xv, xs, 0) < 0)
                return fail_errno(errno, rel, "cannot set an extended attribute", err);
    }
    /* Mode and times once everything is inside (img_extract_finish). */
    if (x->nfix == x->capfix) {
        x->capfix = x->capfix ? x->capfix * 2 : 64;
        x->fix = xrealloc(x->fix, x->capfix * sizeof(*x->fix));
    }
    dir_fix *f = &x->fix[x->nfix++];
    f->rel = xstrdup(rel);
    f->perm = entry_perm(x, e);
    f->uid = (uid_t)archive_entry_uid(e);
    f->gid = (gid_t)archive_entry_gid(e);
    entry_times(e, f->ts);
    return 0;
}

int img_extract_entry(img_extract *x, struct archive *a, struct archive_entry *e, const char *rel, const char *hardlink,
                      vm_err *err)
{
    mode_t type = archive_entry_filetype(e);
    if (!rel[0] && (type != AE_IFDIR || hardlink))
        return vm_err_set(err, VMERR_INVALID, "cannot extract: the archive's root entry is not a directory");
    cleanup_free char *dir = xstrdup(rel);
    char *slash = strrchr(dir, '/');
    const char *name = slash ? rel + (slash - dir) + 1 : rel;
    if (slash)
        *slash = 0;
    else
        dir[0] = 0;
    if (!rel[0])
        name = ".";
    int pfd = -1;
    if (parent_fd(x, dir, rel, &pfd, err) < 0)
        return -1;
    if (type == AE_IFDIR && !hardlink)
        return extract_dir(x, e, pfd, name, rel, err);
    if (clear_name(x, pfd, name, false, rel, err) < 0)
        return -1;
    if (hardlink)
        return extract_hardlink(x, pfd, name, rel, hardlink, err);
    switch (type) {
    case AE_IFREG: return extract_file(x, a, e, pfd, name, rel, err);
    case AE_IFLNK:
    case AE_IFIFO: return extract_special(x, e, pfd, name, rel, err);
    default: return vm_err_set(err, VMERR_INVALID, "cannot extract \"%s\": unsupported entry type", rel);
    }
}

int img_extract_finish(img_extract *x, vm_err *err)
{
    drop_cache(x);
    /* Deepest last-made first, so a parent's times survive its children. */
    for (size_t i = x->nfix; i-- > 0;) {
        dir_fix *f = &x->fix[i];
        int fd = f->rel[0] ? open_beneath(x->rootfd, f->rel, O_RDONLY | O_DIRECTORY) : dup(x->rootfd);
        if (fd < 0) {
            if (errno == ELOOP || errno == ENOTDIR || errno == ENOENT)
                continue; /* replaced by a later entry: nothing to fix, never followed */
            return fail_errno(errno, f->rel, "cannot open the directory", err);
        }
        int rc = 0;
        if (!f->rel[0] && x->owner && fchown(fd, f->uid, f->gid) < 0)
            rc = fail_errno(errno, ".", "cannot set its owner", err);
        if (rc == 0 && fchmod(fd, f->perm) < 0)
            rc = fail_errno(errno, f->rel, "cannot set its mode", err);
        if (rc == 0 && futimens(fd, f->ts) < 0)
            rc = fail_errno(errno, f->rel, "cannot set its times", err);
        close(fd);
        if (rc < 0)
            return -1;
    }
    return 0;
}
