/* Layered filesystem data: overlayfs stacks under the pool's data dir
 * (promises in layers.h). */
#include "storage/layers.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/fsuid.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "common/cmd.h"
#include "common/util.h"

#define OVERLAYFS_MAGIC 0x794c7630
#define OPTS_MAX 4000 /* mount(2) copies one page of options */

/* ---- pure helpers ---- */

static bool opt_safe(const char *p)
{
    return p && p[0] == '/' && !strpbrk(p, ",:\\\n");
}

char *ly_mount_opts(json_t *lowers, const char *upper, const char *work)
{
    size_t i;
    json_t *l;
    if (!json_is_array(lowers) || json_array_size(lowers) == 0 || (!upper != !work))
        return NULL;
    if (!upper && json_array_size(lowers) < 2)
        return NULL; /* overlayfs needs two lowers for a read-only view */
    cleanup_free char *s = xstrdup("lowerdir=");
    json_array_foreach(lowers, i, l) {
        if (!opt_safe(json_string_value(l)))
            return NULL;
        char *n = xasprintf("%s%s%s", s, i ? ":" : "", json_string_value(l));
        free(s);
        s = n;
    }
    if (upper) {
        if (!opt_safe(upper) || !opt_safe(work))
            return NULL;
        char *n = xasprintf("%s,upperdir=%s,workdir=%s", s, upper, work);
        free(s);
        s = n;
    }
    /* Fixed behaviour whatever the module defaults: no redirects or
     * metacopy (a frozen upper must be a self-contained layer), no index
     * (layers are shared between many mounts). */
    char *n = xasprintf("%s,redirect_dir=off,metacopy=off,index=off", s);
    free(s);
    s = n;
    if (strlen(s) > OPTS_MAX)
        return NULL;
    return steal_ptr(s);
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static char *unescape(const char *s, size_t n)
{
    char *o = xmalloc(n + 1), *w = o;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 3 < n + 1 && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' && s[i + 2] <= '7' &&
            s[i + 3] >= '0' && s[i + 3] <= '7') {
            *w++ = (char)((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
            i += 3;
        } else {
            *w++ = s[i];
        }
    }
    *w = '\0';
    return o;
}

static int by_len_desc(const void *a, const void *b)
{
    size_t la = strlen(json_string_value(*(json_t *const *)a)), lb = strlen(json_string_value(*(json_t *const *)b));
    return la < lb ? 1 : la > lb ? -1 : 0;
}

json_t *ly_mounts_under(const char *mountinfo, const char *dir)
{
    json_t *out = json_array();
    size_t dl = strlen(dir);
    for (const char *line = mountinfo; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        /* field 5: the mount point */
        const char *f = line, *lim = line + len;
        for (int k = 0; k < 4 && f < lim; k++) {
            f = memchr(f, ' ', (size_t)(lim - f));
            f = f ? f + 1 : lim;
        }
        const char *fe = f < lim ? memchr(f, ' ', (size_t)(lim - f)) : NULL;
        if (fe) {
            cleanup_free char *mp = unescape(f, (size_t)(fe - f));
            if (!strncmp(mp, dir, dl) && (mp[dl] == '\0' || mp[dl] == '/'))
                json_array_append_new(out, json_string(mp));
        }
        line = end ? end + 1 : NULL;
    }
    size_t n = json_array_size(out);
    if (n > 1) {
        json_t **v = xcalloc(n, sizeof *v);
        for (size_t i = 0; i < n; i++)
            v[i] = json_incref(json_array_get(out, i));
        qsort(v, n, sizeof *v, by_len_desc);
        json_array_clear(out);
        for (size_t i = 0; i < n; i++)
            json_array_append_new(out, v[i]);
        free(v);
    }
    return out;
}

json_t *ly_parse_lowers(const char *text)
{
    cleanup_json json_t *out = json_array();
    for (const char *line = text; line && *line;) {
        const char *end = strchr(line, '\n');
        size_t len = end ? (size_t)(end - line) : strlen(line);
        cleanup_free char *l = xstrndup(line, len);
        if (!*l || l[0] == '/' || strstr(l, "..") || strpbrk(l, ",:\\"))
            return NULL;
        json_array_append_new(out, json_string(l));
        line = end ? end + 1 : NULL;
    }
    return json_array_size(out) ? steal_ptr(out) : NULL;
}

/* ---- data dirs ---- */

int ly_wanted(void)
{
    const char *v = getenv(LY_SWITCH_ENV);
    if (v && !strcmp(v, "copy"))
        return LY_COPY;
    return v && !strcmp(v, "overlay") ? LY_ASKED : LY_LAYERED;
}

bool ly_kernel_ok(void)
{
    struct utsname u;
    int major = 0, minor = 0;
    if (uname(&u) < 0 || sscanf(u.release, "%d.%d", &major, &minor) != 2)
        return false;
    return major > LY_KERNEL_MAJOR || (major == LY_KERNEL_MAJOR && minor >= LY_KERNEL_MINOR);
}

static char *lower_file(const char *datadir, const char *dataname)
{
    return xasprintf("%s/%s/" LY_LOWER_FILE, datadir, dataname);
}

bool ly_is_layered(const char *datadir, const char *dataname)
{
    if (!dataname)
        return false;
    cleanup_free char *p = lower_file(datadir, dataname);
    return path_exists(p);
}

int ly_lowers(const char *datadir, const char *dataname, json_t **out, vm_err *err)
{
    cleanup_free char *p = lower_file(datadir, dataname);
    cleanup_free char *text = NULL;
    size_t len;
    if (read_file(p, &text, &len, err) < 0)
        return -1;
    *out = ly_parse_lowers(text);
    if (!*out)
        return vm_err_set(err, VMERR_IO, "%s: malformed layer list", p);
    return 0;
}

int ly_stack_of(const char *datadir, const char *layer, json_t **out, vm_err *err)
{
    json_t *below = NULL;
    if (!ly_is_layered(datadir, layer)) {
        *out = json_pack("[s+]", layer, "/fs");
        return 0;
    }
    if (ly_lowers(datadir, layer, &below, err) < 0)
        return -1;
    *out = json_pack("[s+]", layer, "/upper");
    json_array_extend(*out, below);
    json_decref(below);
    return 0;
}

/* A fresh upper/ whose root has the attributes of the topmost lower's
 * root (the merged root takes them from the upper). */
static int new_upper(const char *datadir, const char *upper, json_t *lowers, vm_err *err)
{
    cleanup_free char *top = xasprintf("%s/%s", datadir, json_string_value(json_array_get(lowers, 0)));
    struct stat st;
    if (stat(top, &st) < 0)
        return vm_err_sys(err, errno, "cannot read layer %s", top);
    if (mkdir(upper, 0700) < 0 || chown(upper, st.st_uid, st.st_gid) < 0 || chmod(upper, st.st_mode & 07777) < 0)
        return vm_err_sys(err, errno, "cannot create %s", upper);
    return 0;
}

static int write_lowers(const char *datadir, const char *name, json_t *lowers, vm_err *err)
{
    cleanup_free char *text = xstrdup("");
    size_t i;
    json_t *l;
    json_array_foreach(lowers, i, l) {
        char *n = xasprintf("%s%s\n", text, json_string_value(l));
        free(text);
        text = n;
    }
    cleanup_free char *p = lower_file(datadir, name);
    return write_file_atomic(p, text, strlen(text), 0600, err);
}

int ly_create(const char *datadir, const char *name, json_t *lowers, const char *upper_from, json_t *children,
              bool writable, vm_err *err)
{
    cleanup_free char *top = xasprintf("%s/%s", datadir, name);
    cleanup_free char *upper = xasprintf("%s/upper", top);
    cleanup_free char *work = xasprintf("%s/work", top);
    cleanup_free char *fs = xasprintf("%s/fs", top);
    size_t i;
    json_t *c;

    if (mkdir(top, 0700) < 0)
        return vm_err_sys(err, errno, "cannot create %s", top);
    if (upper_from) {
        cleanup_free char *src = xasprintf("%s/%s/upper", datadir, upper_from);
        if (ly_copy_tree(src, upper, err) < 0)
            return -1;
    } else if (new_upper(datadir, upper, lowers, err) < 0) {
        return -1;
    }
    json_array_foreach(children, i, c) {
        cleanup_free char *l = xasprintf("%s/%s", upper, json_string_value(c));
        struct stat st;
        if (lstat(l, &st) == 0 && S_ISLNK(st.st_mode))
            unlink(l);
    }
    if ((writable && mkdir(work, 0700) < 0) || mkdir(fs, 0755) < 0)
        return vm_err_sys(err, errno, "cannot create %s", writable ? work : fs);
    return write_lowers(datadir, name, lowers, err);
}

/* The lower layers of layered data as absolute paths, each checked to be
 * a directory. */
static int abs_lowers(const char *datadir, const char *dataname, json_t **out, vm_err *err)
{
    cleanup_json json_t *rel = NULL;
    cleanup_json json_t *abs = json_array();
    size_t i;
    json_t *l;
    if (ly_lowers(datadir, dataname, &rel, err) < 0)
        return -1;
    json_array_foreach(rel, i, l) {
        cleanup_free char *p = xasprintf("%s/%s", datadir, json_string_value(l));
        struct stat st;
        if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode))
            return vm_err_set(err, VMERR_IO, "cannot mount %s/%s/fs: its layer %s is missing", datadir, dataname, p);
        json_array_append_new(abs, json_string(p));
    }
    *out = steal_ptr(abs);
    return 0;
}

static bool is_mounted(const char *fs)
{
    struct statx stx;
    struct statfs sf;
    if (statx(AT_FDCWD, fs, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) < 0 ||
        !(stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) || !(stx.stx_attributes & STATX_ATTR_MOUNT_ROOT))
        return false;
    return statfs(fs, &sf) == 0 && sf.f_type == OVERLAYFS_MAGIC;
}

/* The overlayfs options of layered data's own view (host ids, no idmap):
 * read-write on upper/ + work/, or read-only for a frozen layer. */
static int view_opts(const char *datadir, const char *dataname, char **opts, bool *writable, vm_err *err)
{
    cleanup_free char *top = xasprintf("%s/%s", datadir, dataname);
    cleanup_free char *upper = xasprintf("%s/upper", top);
    cleanup_free char *work = xasprintf("%s/work", top);
    cleanup_json json_t *abs = NULL;
    if (abs_lowers(datadir, dataname, &abs, err) < 0)
        return -1;
    *writable = path_exists(work);
    if (!*writable)
        json_array_insert_new(abs, 0, json_string(upper));
    *opts = ly_mount_opts(abs, *writable ? upper : NULL, *writable ? work : NULL);
    if (!*opts)
        return vm_err_set(err, VMERR_UNSUPPORTED, "cannot mount %s/fs: its layer paths cannot be overlayfs options",
                          top);
    return 0;
}

static int do_mount(const char *datadir, const char *dataname, vm_err *err)
{
    cleanup_free char *fs = xasprintf("%s/%s/fs", datadir, dataname);
    cleanup_free char *opts = NULL;
    bool writable;
    if (is_mounted(fs))
        return 0;
    if (view_opts(datadir, dataname, &opts, &writable, err) < 0)
        return -1;
    unsigned long fl = MS_NOSUID | MS_NODEV | (writable ? 0 : MS_RDONLY);
    if (mount("overlay", fs, "overlay", fl, opts) < 0)
        return vm_err_sys(err, errno, "cannot mount the layers of %s (overlayfs)", fs);
    return 0;
}

int ly_mount(const char *datadir, const char *dataname, vm_err *err)
{
    cleanup_free char *lf = lower_file(datadir, dataname);
    /* The flock makes check-and-mount atomic between processes (no
     * overlay stacked twice on one fs/). */
    cleanup_close int fd = open(lf, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vm_err_sys(err, errno, "cannot open %s", lf);
    if (flock(fd, LOCK_EX) < 0)
        return vm_err_sys(err, errno, "cannot lock %s", lf);
    return do_mount(datadir, dataname, err);
}

int ly_umount_under(const char *dir, vm_err *err)
{
    cleanup_free char *real = realpath(dir, NULL);
    cleanup_free char *mi = NULL;
    size_t len;
    if (!real)
        return 0;
    if (read_file("/proc/self/mountinfo", &mi, &len, err) < 0)
        return -1;
    cleanup_json json_t *mps = ly_mounts_under(mi, real);
    size_t i;
    json_t *m;
    json_array_foreach(mps, i, m) {
        if (umount2(json_string_value(m), MNT_DETACH | UMOUNT_NOFOLLOW) < 0 && errno != EINVAL && errno != ENOENT)
            return vm_err_sys(err, errno, "cannot unmount %s", json_string_value(m));
    }
    return 0;
}

static __thread uint64_t du_sum;
static int du_cb(const char *p, const struct stat *st, int flag, struct FTW *f)
{
    (void)p;
    (void)flag;
    (void)f;
    du_sum += (uint64_t)st->st_blocks * 512;
    return 0;
}

static uint64_t du(const char *path)
{
    du_sum = 0;
    nftw(path, du_cb, 16, FTW_PHYS | FTW_MOUNT);
    return du_sum;
}

uint64_t ly_written(const char *datadir, const char *dataname)
{
    cleanup_free char *p = xasprintf("%s/%s/upper", datadir, dataname);
    return du(p);
}

uint64_t ly_shared(const char *datadir, const char *dataname)
{
    cleanup_json json_t *rel = NULL;
    uint64_t sum = 0;
    size_t i;
    json_t *l;
    if (ly_lowers(datadir, dataname, &rel, NULL) < 0)
        return 0;
    json_array_foreach(rel, i, l) {
        cleanup_free char *p = xasprintf("%s/%s", datadir, json_string_value(l));
        sum += du(p);
    }
    return sum;
}

/* ---- container roots (issue 18 part 2) ---- */

#ifndef MOVE_MOUNT_BENEATH
#define MOVE_MOUNT_BENEATH 0x00000200
#endif
#define LY_CTWORK "ctwork"

int ly_view_of(const char *fs, char **datadir, char **dataname)
{
    *datadir = *dataname = NULL;
    cleanup_free char *real = realpath(fs, NULL);
    if (!real)
        return 0;
    char *slash = strrchr(real, '/');
    if (!slash || strcmp(slash, "/fs") != 0)
        return 0;
    *slash = '\0';
    char *name = strrchr(real, '/');
    if (!name || name == real)
        return 0;
    *name++ = '\0';
    if (!ly_is_layered(real, name))
        return 0;
    *dataname = xstrdup(name);
    *datadir = steal_ptr(real);
    return 1;
}

/* A detached overlayfs mount (nosuid, nodev) from a mount(2) option
 * string (no value holds ',': ly_mount_opts). */
static int overlay_from_opts(const char *opts, bool rdonly, vm_err *err)
{
    cleanup_close int fsfd = fsopen("overlay", FSOPEN_CLOEXEC);
    if (fsfd < 0)
        return vm_err_sys(err, errno, "overlayfs: fsopen");
    cleanup_free char *copy = xstrdup(opts);
    char *save = NULL;
    for (char *kv = strtok_r(copy, ",", &save); kv; kv = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(kv, '=');
        if (eq)
            *eq = '\0';
        if (fsconfig(fsfd, eq ? FSCONFIG_SET_STRING : FSCONFIG_SET_FLAG, kv, eq ? eq + 1 : NULL, 0) < 0)
            return vm_err_sys(err, errno, "overlayfs: option %s", kv);
    }
    if (fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
        return vm_err_sys(err, errno, "overlayfs: cannot create the mount");
    int m = fsmount(fsfd, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | (rdonly ? MOUNT_ATTR_RDONLY : 0));
    if (m < 0)
        return vm_err_sys(err, errno, "overlayfs: fsmount");
    return m;
}

int ly_refresh(const char *datadir, const char *dataname, vm_err *err)
{
    cleanup_free char *lf = lower_file(datadir, dataname);
    cleanup_free char *fs = xasprintf("%s/%s/fs", datadir, dataname);
    cleanup_close int fd = open(lf, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vm_err_sys(err, errno, "cannot open %s", lf);
    if (flock(fd, LOCK_EX) < 0)
        return vm_err_sys(err, errno, "cannot lock %s", lf);
    if (!is_mounted(fs))
        return do_mount(datadir, dataname, err);
    cleanup_free char *opts = NULL;
    bool writable;
    if (view_opts(datadir, dataname, &opts, &writable, err) < 0)
        return -1;
    cleanup_close int m = overlay_from_opts(opts, !writable, err);
    if (m < 0)
        return -1;
    /* The fresh view goes beneath the stale one, which is then detached:
     * fs/ never shows the empty directory to a concurrent reader. */
    if (move_mount(m, "", AT_FDCWD, fs, MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_BENEATH) < 0)
        return vm_err_sys(err, errno, "cannot remount the layers of %s", fs);
    if (umount2(fs, MNT_DETACH | UMOUNT_NOFOLLOW) < 0)
        return vm_err_sys(err, errno, "cannot detach the old view of %s", fs);
    return 0;
}

static bool write_map(pid_t pid, const char *which, const char *map)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", (int)pid, which);
    cleanup_close int fd = open(path, O_WRONLY | O_CLOEXEC);
    return fd >= 0 && write(fd, map, strlen(map)) == (ssize_t)strlen(map);
}

/* A user namespace mapping ids 0..count-1 to host base..: what an idmapped
 * mount shifts by (on-disk 0 is seen as host `base`). */
static int userns_fd(unsigned base, unsigned count, vm_err *err)
{
    pid_t pid = fork();
    if (pid < 0)
        return vm_err_sys(err, errno, "fork");
    if (pid == 0) {
        if (unshare(CLONE_NEWUSER) < 0)
            _exit(1);
        raise(SIGSTOP);
        _exit(0);
    }
    int st, fd = -1;
    if (waitpid(pid, &st, WUNTRACED) == pid && WIFSTOPPED(st)) {
        char map[64], path[64];
        snprintf(map, sizeof map, "0 %u %u\n", base, count);
        snprintf(path, sizeof path, "/proc/%d/ns/user", (int)pid);
        if (write_map(pid, "uid_map", map) && write_map(pid, "gid_map", map))
            fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            vm_err_sys(err, errno, "cannot make the id mapping user namespace");
    } else {
        vm_err_set(err, VMERR_IO, "cannot make the id mapping user namespace");
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return fd;
}

/* An idmapped bind mount of `path` (nosuid, nodev; read-only for a lower
 * layer) attached over `path` itself: overlayfs refuses detached layers
 * ("failed to clone upperpath"), and in the caller's private namespace
 * nobody else sees it. */
static int idmapped(const char *path, int ns, bool rdonly, vm_err *err)
{
    cleanup_close int fd = open_tree(AT_FDCWD, path, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC);
    if (fd < 0)
        return vm_err_sys(err, errno, "cannot clone a mount of %s", path);
    struct mount_attr a = { .attr_set = MOUNT_ATTR_IDMAP | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                                (rdonly ? MOUNT_ATTR_RDONLY : 0),
                            .userns_fd = (uint64_t)ns };
    if (mount_setattr(fd, "", AT_EMPTY_PATH, &a, sizeof a) < 0)
        return vm_err_sys(err, errno, "cannot make an idmapped mount of %s", path);
    if (move_mount(fd, "", AT_FDCWD, path, MOVE_MOUNT_F_EMPTY_PATH) < 0)
        return vm_err_sys(err, errno, "cannot attach the idmapped mount of %s", path);
    return steal_fd(fd);
}

/* fsuid/fsgid `id` with the effective capabilities kept (setfsuid drops the
 * file capabilities); id 0 restores root's. */
static int as_fsid(unsigned id, vm_err *err)
{
    setfsuid(id);
    setfsgid(id);
    struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
    struct __user_cap_data_struct d[2];
    if (syscall(SYS_capget, &h, d) < 0)
        return vm_err_sys(err, errno, "capget");
    d[0].effective = d[0].permitted;
    d[1].effective = d[1].permitted;
    if (syscall(SYS_capset, &h, d) < 0)
        return vm_err_sys(err, errno, "capset");
    return 0;
}

/* Creates the overlay superblock of `fsfd` as the container's root id. */
static int create_as(int fsfd, unsigned base, vm_err *err)
{
    if (as_fsid(base, err) < 0)
        return -1;
    int r = fsconfig(fsfd, FSCONFIG_CMD_CREATE, NULL, NULL, 0);
    int e = errno;
    vm_err e2 = VM_ERR_INIT;
    as_fsid(0, &e2);
    if (r < 0)
        return vm_err_sys(err, e, "overlayfs over idmapped layers: cannot create the mount");
    return 0;
}

static int add_layers(int fsfd, const char *top, json_t *lowers, int ns, vm_err *err)
{
    static const char *const fixed[] = { "redirect_dir", "metacopy", "index" };
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++)
        if (fsconfig(fsfd, FSCONFIG_SET_STRING, fixed[i], "off", 0) < 0)
            return vm_err_sys(err, errno, "overlayfs: option %s", fixed[i]);
    size_t i;
    json_t *l;
    json_array_foreach(lowers, i, l) {
        cleanup_close int fd = idmapped(json_string_value(l), ns, true, err);
        if (fd < 0)
            return -1;
        if (fsconfig(fsfd, FSCONFIG_SET_FD, "lowerdir+", NULL, fd) < 0)
            return vm_err_sys(err, errno, "overlayfs: lower layer %s", json_string_value(l));
    }
    cleanup_close int tfd = idmapped(top, ns, false, err);
    if (tfd < 0)
        return -1;
    cleanup_close int up = openat(tfd, "upper", O_PATH | O_DIRECTORY | O_CLOEXEC);
    cleanup_close int wk = openat(tfd, LY_CTWORK, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (up < 0 || wk < 0)
        return vm_err_sys(err, errno, "cannot open the upper layer of %s", top);
    if (fsconfig(fsfd, FSCONFIG_SET_FD, "upperdir", NULL, up) < 0 ||
        fsconfig(fsfd, FSCONFIG_SET_FD, "workdir", NULL, wk) < 0)
        return vm_err_sys(err, errno, "overlayfs: upper layer of %s", top);
    return 0;
}

int ly_mount_shifted(const char *datadir, const char *dataname, int hostns, unsigned base, unsigned count, vm_err *err)
{
    cleanup_free char *top = xasprintf("%s/%s", datadir, dataname);
    cleanup_free char *fs = xasprintf("%s/fs", top);
    cleanup_free char *work = xasprintf("%s/%s", top, LY_CTWORK);
    cleanup_json json_t *lowers = NULL;
    struct stat self, host;
    /* Never in the host's namespace: the layer mounts go over the layers. */
    if (stat("/proc/self/ns/mnt", &self) < 0 || fstat(hostns, &host) < 0 || self.st_ino == host.st_ino)
        return vm_err_set(err, VMERR_INTERNAL, "the container's view of %s needs a private mount namespace", fs);
    if (abs_lowers(datadir, dataname, &lowers, err) < 0 || rm_rf(work, err) < 0)
        return -1;
    if (mkdir(work, 0700) < 0)
        return vm_err_sys(err, errno, "cannot create %s", work);
    cleanup_close int ns = userns_fd(base, count, err);
    if (ns < 0)
        return -1;
    cleanup_close int fsfd = fsopen("overlay", FSOPEN_CLOEXEC);
    if (fsfd < 0)
        return vm_err_sys(err, errno, "overlayfs: fsopen");
    if (add_layers(fsfd, top, lowers, ns, err) < 0 || create_as(fsfd, base, err) < 0)
        return -1;
    cleanup_close int m = fsmount(fsfd, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV);
    if (m < 0)
        return vm_err_sys(err, errno, "overlayfs over idmapped layers: fsmount");
    if (move_mount(m, "", AT_FDCWD, fs, MOVE_MOUNT_F_EMPTY_PATH) < 0)
        return vm_err_sys(err, errno, "cannot mount the container's view of %s", fs);
    return 0;
}
