/* QEMU confinement (issue 14 #10): who QEMU runs as, which host files a VM
 * may name, and the qcow2 backing chains vmadm opens on QEMU's behalf.
 *
 * The protection, as a whole:
 *   - QEMU never runs as root.  The supervisor's child switches to the
 *     system user vmadm-qemu (created with useradd --system on first use;
 *     supplementary group kvm when the host has one, for /dev/kvm), sets
 *     no_new_privs and only then execs QEMU: a non-root uid has no
 *     capabilities.  QEMU also runs under its own seccomp filter
 *     (-sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,
 *     resourcecontrol=deny).
 *   - QEMU opens no host path of a VM by itself: vmadm (root) opens every
 *     disk layer, the UEFI NVRAM, the console log and binds the QMP and
 *     console sockets, and QEMU inherits the descriptors (-add-fd,
 *     /dev/fdset/N, chardev fd=N).  The files stay root-owned 0600; the
 *     QEMU user can read no other VM's disks.  Live snapshots hand QEMU the
 *     new overlay the same way (QMP add-fd, see ops.c).
 *   - A disk or cdrom `path` (nocreate disks, cdroms) must resolve (symlinks
 *     followed, checked on the opened file) inside the VM's own dataset
 *     (<pool>/<uuid>'s mountpoint) or a directory listed in
 *     $VMADM_ROOT/etc/hvm-paths.allow; block devices only where that line
 *     says "block".  qcow2 backing layers of a pool volume must be in the
 *     pool's data directory, those of a path disk pass the same path rule.
 * There is no opt-out of the first two; the allow-list file is the opt-in
 * for host paths (empty or absent: none). */
#include "hv/confine.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cmd.h"
#include "common/util.h"
#include "hv/hv.h"

/* ---------------- the QEMU user ---------------- */

static int lookup_ids(hv_ids *out)
{
    struct passwd *pw = getpwnam(HV_QEMU_USER);
    if (!pw)
        return -1;
    out->uid = pw->pw_uid;
    out->gid = pw->pw_gid;
    struct group *gr = getgrnam("kvm");
    out->has_kvm = gr != NULL;
    out->kvm_gid = gr ? gr->gr_gid : 0;
    return 0;
}

int hv_qemu_ids(hv_ids *out, vm_err *err)
{
    if (lookup_ids(out) == 0)
        goto check;
    char *argv[] = {
        "useradd",           "--system",     "--no-create-home", "--home-dir",           "/nonexistent", "--shell",
        "/usr/sbin/nologin", "--user-group", "--comment",        "vmadm QEMU processes", HV_QEMU_USER,   NULL
    };
    vm_err e = VM_ERR_INIT;
    int rc = run_cmd(argv, NULL, &e);
    /* Another vmadm may have created it at the same moment. */
    if (lookup_ids(out) < 0) {
        if (rc != 0)
            return vm_err_set(err, VMERR_INTERNAL, "cannot create the QEMU user %s: %s", HV_QEMU_USER, e.msg);
        return vm_err_set(err, VMERR_INTERNAL, "the QEMU user %s does not exist", HV_QEMU_USER);
    }
check:
    if (out->uid == 0 || out->gid == 0)
        return vm_err_set(err, VMERR_INTERNAL, "the QEMU user %s must not have uid or gid 0", HV_QEMU_USER);
    return 0;
}

int hv_drop_privileges(const hv_ids *ids)
{
    gid_t groups[1] = { ids->kvm_gid };
    if (setgroups(ids->has_kvm ? 1 : 0, groups) < 0 || setresgid(ids->gid, ids->gid, ids->gid) < 0 ||
        setresuid(ids->uid, ids->uid, ids->uid) < 0)
        return -errno;
    /* From root to a non-root uid without SECBIT_KEEP_CAPS clears the
     * permitted and effective sets; make sure, and forbid regaining any. */
    if (geteuid() == 0 || getuid() == 0)
        return -EPERM;
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
        return -errno;
    return 0;
}

/* ---------------- host paths ---------------- */

/* root is a resolved directory (or file); p a resolved path. */
static bool path_under(const char *p, const char *root)
{
    size_t n = strlen(root);
    while (n > 1 && root[n - 1] == '/')
        n--;
    if (strncmp(p, root, n) != 0)
        return false;
    return p[n] == '\0' || p[n] == '/' || (n == 1 && root[0] == '/');
}

static char *allow_file(const vm_ctx *ctx)
{
    return xasprintf("%s/etc/hvm-paths.allow", ctx->root);
}

/* Is resolved `real` (of mode `mode`) allowed by the operator's list? */
static bool allowed_by_list(const vm_ctx *ctx, const char *real, mode_t mode)
{
    cleanup_free char *file = allow_file(ctx);
    cleanup_free char *text = NULL;
    size_t len;
    vm_err e = VM_ERR_INIT;
    if (read_file(file, &text, &len, &e) < 0)
        return false;
    cleanup_strv char **lines = strv_split(text, "\n");
    for (char **l = lines; l && *l; l++) {
        char *s = *l + strspn(*l, " \t");
        if (*s != '/')
            continue; /* blank, comment, or not absolute */
        cleanup_strv char **w = strv_split(s, " \t\r");
        bool block = w[1] && !strcmp(w[1], "block");
        char dir[PATH_MAX];
        if (!realpath(w[0], dir))
            continue;
        if (!path_under(real, dir))
            continue;
        if (S_ISREG(mode) || (S_ISBLK(mode) && block))
            return true;
    }
    return false;
}

static char *fd_real_path(int fd)
{
    char link[64], buf[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, buf, sizeof buf - 1);
    if (n <= 0)
        return NULL;
    buf[n] = '\0';
    return xstrdup(buf);
}

/* The rule for a disk/cdrom path, on an O_PATH descriptor of it. */
static int check_opened(const vm_ctx *ctx, vs_pool *pool, const char *uuid, const char *path, int pfd, vm_err *err)
{
    struct stat sb;
    cleanup_free char *real = fd_real_path(pfd);
    if (fstat(pfd, &sb) < 0 || !real)
        return vm_err_sys(err, errno ? errno : EIO, "disk %s is not usable", path);
    cleanup_free char *list = allow_file(ctx);
    if (!S_ISREG(sb.st_mode) && !S_ISBLK(sb.st_mode))
        return vm_err_set(err, VMERR_INVALID, "disk path %s is neither a regular file nor a block device", path);
    if (S_ISREG(sb.st_mode) && pool && uuid) {
        cleanup_free char *ds = xasprintf("%s/%s", vs_pool_name(pool), uuid);
        cleanup_free char *mp = vs_mountpoint(pool, ds);
        char dir[PATH_MAX];
        if (mp && realpath(mp, dir) && path_under(real, dir))
            return 0;
    }
    if (allowed_by_list(ctx, real, sb.st_mode))
        return 0;
    if (S_ISBLK(sb.st_mode))
        return vm_err_set(err, VMERR_INVALID,
                          "disk path %s is a block device: allowed only under a \"<directory> block\" line "
                          "in %s",
                          path, list);
    return vm_err_set(err, VMERR_INVALID,
                      "disk path %s is outside the VM's own dataset and the directories allowed in %s", path, list);
}

int hv_check_disk_path(const vm_ctx *ctx, vs_pool *pool, const char *uuid, const char *path, vm_err *err)
{
    if (!path || path[0] != '/')
        return vm_err_set(err, VMERR_INVALID, "disk path %s is not an absolute path", path ? path : "(null)");
    cleanup_close int pfd = open(path, O_PATH | O_CLOEXEC);
    if (pfd < 0)
        return vm_err_sys(err, errno, "disk %s is not usable", path);
    return check_opened(ctx, pool, uuid, path, pfd, err);
}

int hv_open_disk_path(const vm_ctx *ctx, vs_pool *pool, const char *uuid, const char *path, int flags, vm_err *err)
{
    cleanup_close int pfd = open(path, O_PATH | O_CLOEXEC);
    if (pfd < 0)
        return vm_err_sys(err, errno, "disk %s is not usable", path);
    if (check_opened(ctx, pool, uuid, path, pfd, err) < 0)
        return -1;
    /* Reopen the very file that was checked, not the path again. */
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", pfd);
    int fd = open(link, flags | O_CLOEXEC);
    if (fd < 0)
        return vm_err_sys(err, errno, "disk %s is not usable", path);
    return fd;
}

/* ---------------- qcow2 backing chains ---------------- */

static uint64_t be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

static bool is_qcow2_fd(int fd)
{
    unsigned char m[4];
    return pread(fd, m, 4, 0) == 4 && !memcmp(m, "QFI\xfb", 4);
}

/* The backing file name in a qcow2 header ("" if none); caller frees. */
static int backing_name(int fd, const char *path, char **out, vm_err *err)
{
    unsigned char h[20];
    if (pread(fd, h, sizeof h, 0) != (ssize_t)sizeof h || memcmp(h, "QFI\xfb", 4))
        return vm_err_set(err, VMERR_INVALID, "disk layer %s is not a qcow2 image", path);
    uint64_t off = be64(h + 8);
    uint32_t len = (uint32_t)h[16] << 24 | (uint32_t)h[17] << 16 | (uint32_t)h[18] << 8 | h[19];
    if (!off) {
        *out = xstrdup("");
        return 0;
    }
    if (!len || len > 1023)
        return vm_err_set(err, VMERR_INVALID, "disk layer %s has a bad backing file name", path);
    char name[1024];
    if (pread(fd, name, len, (off_t)off) != (ssize_t)len || memchr(name, '\0', len))
        return vm_err_set(err, VMERR_INVALID, "disk layer %s has a bad backing file name", path);
    name[len] = '\0';
    *out = xstrdup(name);
    return 0;
}

int hv_qcow2_chain(const char *top, json_t *layers, vm_err *err)
{
    cleanup_free char *cur = xstrdup(top);
    for (int depth = 0;; depth++) {
        if (depth >= HV_MAX_LAYERS)
            return vm_err_set(err, VMERR_INVALID, "disk %s: backing chain longer than %d layers", top, HV_MAX_LAYERS);
        cleanup_close int fd = open(cur, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            if (depth == 0 && errno == ENOENT)
                return 0; /* start reports the missing disk */
            return vm_err_sys(err, errno, "disk layer %s is not usable", cur);
        }
        if (depth == 0 && !is_qcow2_fd(fd))
            return 0; /* not qcow2 (yet): no chain to follow */
        cleanup_free char *name = NULL;
        if (backing_name(fd, cur, &name, err) < 0)
            return -1;
        if (!*name)
            return 0;
        char *next;
        if (name[0] == '/') {
            next = xstrdup(name);
        } else {
            cleanup_free char *dir = xstrdup(cur);
            char *slash = strrchr(dir, '/');
            if (slash)
                *slash = '\0';
            next = slash ? xasprintf("%s/%s", *dir ? dir : "", name) : xstrdup(name);
        }
        json_array_append_new(layers, json_string(next));
        free(cur);
        cur = next;
    }
}

int hv_open_layer(const vm_ctx *ctx, const char *layer, const char *volume_dir, vm_err *err)
{
    cleanup_close int pfd = open(layer, O_PATH | O_CLOEXEC);
    if (pfd < 0)
        return vm_err_sys(err, errno, "disk layer %s is not usable", layer);
    struct stat sb;
    cleanup_free char *real = fd_real_path(pfd);
    if (fstat(pfd, &sb) < 0 || !real || !S_ISREG(sb.st_mode))
        return vm_err_set(err, VMERR_INVALID, "disk layer %s is not a regular file", layer);
    bool ok;
    if (volume_dir) {
        char dir[PATH_MAX];
        ok = realpath(volume_dir, dir) && path_under(real, dir);
    } else {
        ok = allowed_by_list(ctx, real, sb.st_mode);
    }
    if (!ok)
        return vm_err_set(err, VMERR_INVALID, "disk layer %s is outside the %s", layer,
                          volume_dir ? "pool's data directory" : "directories allowed in hvm-paths.allow");
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", pfd);
    int fd = open(link, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vm_err_sys(err, errno, "disk layer %s is not usable", layer);
    if (!is_qcow2_fd(fd)) {
        close(fd);
        return vm_err_set(err, VMERR_INVALID, "disk layer %s is not a qcow2 image", layer);
    }
    return fd;
}
