/* The zone root of a container: what a start checks before changing
 * anything (root dir, init, delegated dataset dirs), and /etc/resolv.conf. */
#include "ct/ct.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/util.h"
#include "ct/ct_internal.h"
#include "storage/layers.h"

static int openat2_in_root(int rootfd, const char *rel, int flags)
{
    struct open_how how = {
        .flags = (uint64_t)flags | O_CLOEXEC,
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    return (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof how);
}

/* <root><init> must be an executable regular file, symlinks followed inside
 * the root (an absolute link like /sbin/init -> /lib/systemd/systemd must
 * not be judged against the host). */
static int check_init_file(int rootfd, const char *rootfs, const char *init, bool *is_systemd, vm_err *err)
{
    cleanup_close int fd = openat2_in_root(rootfd, init + 1, O_PATH);
    struct stat st;
    if (fd < 0) {
        if (errno == ENOENT)
            return vm_err_set(err, VMERR_NOTFOUND, "cannot start container: init %s is missing in zone root %s", init,
                              rootfs);
        return vm_err_sys(err, errno, "cannot start container: init %s in zone root %s", init, rootfs);
    }
    if (fstat(fd, &st) < 0)
        return vm_err_sys(err, errno, "stat %s%s", rootfs, init);
    if (!S_ISREG(st.st_mode) || !(st.st_mode & 0111))
        return vm_err_set(err, VMERR_INVALID,
                          "cannot start container: init %s in zone root %s is not an executable file", init, rootfs);
    char link[64], target[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    *is_systemd = false;
    if (n > 0) {
        target[n] = '\0';
        const char *base = strrchr(target, '/');
        *is_systemd = base && !strcmp(base + 1, "systemd");
    }
    return 0;
}

/* /etc/resolv.conf from vmobj.resolvers, written without following any
 * symlink out of the root. */
int ct_root_write_resolvers(int rootfd, json_t *vmobj, vm_err *err)
{
    json_t *res = json_object_get(vmobj, "resolvers");
    if (!json_is_array(res) || json_array_size(res) == 0)
        return 0;
    cleanup_free char *text = xstrdup("# written by vmadm from the VM's resolvers\n");
    size_t i;
    json_t *r;
    json_array_foreach(res, i, r) {
        const char *s = json_string_value(r);
        if (!s || !*s || strpbrk(s, " \t\r\n#;"))
            return vm_err_set(err, VMERR_INVALID, "invalid resolver: %s", s ? s : "(not a string)");
        char *t = xasprintf("%snameserver %s\n", text, s);
        free(text);
        text = t;
    }
    mkdirat(rootfd, "etc", 0755);
    cleanup_close int etc = openat2_in_root(rootfd, "etc", O_PATH | O_DIRECTORY);
    if (etc < 0)
        return vm_err_sys(err, errno, "cannot open /etc in the zone root");
    cleanup_close int fd =
        openat(etc, ".resolv.conf.vmadm", O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return vm_err_sys(err, errno, "cannot write /etc/resolv.conf in the zone root");
    size_t len = strlen(text);
    if (write(fd, text, len) != (ssize_t)len || fsync(fd) < 0) {
        int e = errno;
        unlinkat(etc, ".resolv.conf.vmadm", 0);
        return vm_err_sys(err, e, "cannot write /etc/resolv.conf in the zone root");
    }
    if (renameat(etc, ".resolv.conf.vmadm", etc, "resolv.conf") < 0) {
        int e = errno;
        unlinkat(etc, ".resolv.conf.vmadm", 0);
        return vm_err_sys(err, e, "cannot write /etc/resolv.conf in the zone root");
    }
    return 0;
}

/* Is `p` (length n) a strict prefix directory of `of`? */
static bool is_ancestor(const char *p, size_t n, const char *of)
{
    return strlen(of) > n && strncmp(p, of, n) == 0 && (of[n] == '/' || n == 1);
}

int ct_grant_search(const char *dir, const char *boundary, unsigned gid, const char *limit, vm_err *err)
{
    cleanup_free char *path = xstrdup(dir);
    size_t lim = limit ? strlen(limit) : 0;
    while (lim > 1 && limit[lim - 1] == '/')
        lim--;
    /* Each prefix ending at a '/' (and the whole path), root "/" excluded. */
    for (char *p = path + 1;; p++) {
        bool end = *p == '\0';
        if (!end && *p != '/')
            continue;
        char saved = *p;
        *p = '\0';
        struct stat st;
        size_t n = (size_t)(p - path);
        if (stat(path, &st) < 0)
            return vm_err_sys(err, errno, "cannot start container: %s", path);
        if (S_ISDIR(st.st_mode) && !strcmp(path, boundary)) {
            /* The VM's own directory: searchable by its container root's
             * group only, nobody else (what container root writes is uid 0
             * on disk: no host user may reach it). */
            if (st.st_uid != 0)
                return vm_err_set(err, VMERR_INVALID, "cannot start container: %s is not owned by root", path);
            mode_t m = (st.st_mode & 07700) | S_IXGRP;
            if ((st.st_gid != gid && chown(path, (uid_t)-1, gid) < 0) ||
                ((st.st_mode & 07777) != m && chmod(path, m) < 0))
                return vm_err_sys(err, errno, "cannot start container: giving %s to the container's group", path);
        } else if (S_ISDIR(st.st_mode) && !(st.st_mode & S_IXOTH)) {
            bool shared = is_ancestor(path, n, boundary);
            bool inside =
                !limit || !shared || (strncmp(path, limit, lim) == 0 && (path[lim] == '\0' || path[lim] == '/'));
            if (!inside || st.st_uid != 0)
                return vm_err_set(err, VMERR_INVALID,
                                  "cannot start container: %s is not searchable by the container's root "
                                  "(an unprivileged host uid); grant it search permission (chmod o+x)",
                                  path);
            if (chmod(path, (st.st_mode & 07777) | S_IXOTH) < 0)
                return vm_err_sys(err, errno, "cannot start container: chmod o+x %s", path);
        }
        *p = saved;
        if (end)
            break;
    }
    return 0;
}

static int resolve_fs(vs_pool *pool, json_t *vmobj, const char *dsname, char **out, vm_err *err)
{
    if (pool)
        return vs_fs_path(pool, dsname, out, err);
    /* Test hook without storage: <zonepath> is the VM's dataset, and a
     * delegated dataset ".../<name>" is <zonepath>/<name>. */
    const char *zp = json_string_value(json_object_get(vmobj, "zonepath"));
    if (!zp || zp[0] != '/')
        return vm_err_set(err, VMERR_INVALID, "VM object has no zonepath");
    const char *zfs = json_string_value(json_object_get(vmobj, "zfs_filesystem"));
    if (zfs && !strcmp(dsname, zfs)) {
        *out = xstrdup(zp);
        return 0;
    }
    const char *slash = strrchr(dsname, '/');
    *out = xasprintf("%s/%s", zp, slash ? slash + 1 : dsname);
    return 0;
}

void ct_root_free(ct_root *r)
{
    free(r->rootfs);
    if (r->rootfd >= 0)
        close(r->rootfd);
    json_decref(r->dataset_dirs);
    free(r->ly_datadir);
    free(r->ly_dataname);
    r->ly_datadir = r->ly_dataname = NULL;
    r->rootfs = NULL;
    r->rootfd = -1;
    r->dataset_dirs = NULL;
}

int ct_root_check(vs_pool *pool, json_t *vmobj, ct_root *r, vm_err *err)
{
    const char *zfs = json_string_value(json_object_get(vmobj, "zfs_filesystem"));
    if (pool && !zfs)
        return vm_err_set(err, VMERR_INVALID, "VM object has no zfs_filesystem");
    cleanup_free char *zonedir = NULL;
    if (resolve_fs(pool, vmobj, zfs ? zfs : "", &zonedir, err) < 0)
        return -1;
    r->rootfs = xasprintf("%s/root", zonedir);
    /* A layered root: the host's view is remounted first (the container's
     * last run wrote through a view of its own). */
    if (pool && ly_view_of(zonedir, &r->ly_datadir, &r->ly_dataname) &&
        ly_refresh(r->ly_datadir, r->ly_dataname, err) < 0)
        return -1;
    r->rootfd = open(r->rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (r->rootfd < 0 && (errno == ENOENT || errno == ENOTDIR))
        return vm_err_set(err, VMERR_NOTFOUND, "cannot start container: zone root %s is missing", r->rootfs);
    if (r->rootfd < 0)
        return vm_err_sys(err, errno, "cannot start container: zone root %s", r->rootfs);
    /* A layered root/ is copied up through the host's view: the container's
     * view cannot copy it up into the zone dir, whose group (the VM's, see
     * ct_grant_search) has no id in its idmapped upper layer (EPERM). */
    struct stat st;
    if (r->ly_datadir &&
        (fstat(r->rootfd, &st) < 0 || fchownat(r->rootfd, "", st.st_uid, st.st_gid, AT_EMPTY_PATH) < 0))
        return vm_err_sys(err, errno, "cannot start container: zone root %s", r->rootfs);

    const char *init = json_string_value(json_object_get(vmobj, "init_name"));
    if (!init || !*init)
        init = "/sbin/init";
    if (init[0] != '/')
        return vm_err_set(err, VMERR_INVALID, "invalid value for init_name: must be an absolute path");
    if (check_init_file(r->rootfd, r->rootfs, init, &r->init_is_systemd, err) < 0)
        return -1;

    r->dataset_dirs = json_array();
    json_t *datasets = json_object_get(vmobj, "datasets");
    size_t i;
    json_t *ds;
    json_array_foreach(datasets, i, ds) {
        cleanup_free char *dir = NULL;
        struct stat st;
        if (!json_is_string(ds))
            return vm_err_set(err, VMERR_INVALID, "invalid value for datasets: must be names");
        if (resolve_fs(pool, vmobj, json_string_value(ds), &dir, err) < 0)
            return -1;
        if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
            return vm_err_set(err, VMERR_NOTFOUND, "cannot start container: delegated dataset %s has no directory %s",
                              json_string_value(ds), dir);
        json_array_append_new(r->dataset_dirs, json_string(dir));
    }
    return 0;
}
