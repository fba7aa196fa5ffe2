/* Layered filesystem data: overlayfs stacks under the pool's data dir
 * (promises in layers.h). */
#include "storage/layers.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
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

bool ly_wanted(void)
{
    const char *v = getenv(LY_SWITCH_ENV);
    return v && !strcmp(v, "overlay");
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

static int cp_a(const char *src, const char *dst, vm_err *err)
{
    char *argv[] = { "cp", "-a", "--reflink=auto", (char *)src, (char *)dst, NULL };
    if (run_cmd(argv, NULL, err) != 0) {
        if (!vm_err_is_set(err))
            vm_err_set(err, VMERR_IO, "cp failed");
        return -1;
    }
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
        if (cp_a(src, upper, err) < 0)
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

static bool is_mounted(const char *fs)
{
    struct statx stx;
    struct statfs sf;
    if (statx(AT_FDCWD, fs, AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &stx) < 0 ||
        !(stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) || !(stx.stx_attributes & STATX_ATTR_MOUNT_ROOT))
        return false;
    return statfs(fs, &sf) == 0 && sf.f_type == OVERLAYFS_MAGIC;
}

static int do_mount(const char *datadir, const char *dataname, vm_err *err)
{
    cleanup_free char *top = xasprintf("%s/%s", datadir, dataname);
    cleanup_free char *fs = xasprintf("%s/fs", top);
    cleanup_free char *upper = xasprintf("%s/upper", top);
    cleanup_free char *work = xasprintf("%s/work", top);
    cleanup_json json_t *rel = NULL;
    cleanup_json json_t *abs = json_array();
    size_t i;
    json_t *l;

    if (is_mounted(fs))
        return 0;
    if (ly_lowers(datadir, dataname, &rel, err) < 0)
        return -1;
    bool writable = path_exists(work);
    if (!writable)
        json_array_append_new(abs, json_string(upper));
    json_array_foreach(rel, i, l) {
        char *p = xasprintf("%s/%s", datadir, json_string_value(l));
        struct stat st;
        if (stat(p, &st) < 0 || !S_ISDIR(st.st_mode)) {
            vm_err_set(err, VMERR_IO, "cannot mount %s: its layer %s is missing", fs, p);
            free(p);
            return -1;
        }
        json_array_append_new(abs, json_string(p));
        free(p);
    }
    cleanup_free char *opts = ly_mount_opts(abs, writable ? upper : NULL, writable ? work : NULL);
    if (!opts)
        return vm_err_set(err, VMERR_UNSUPPORTED, "cannot mount %s: its layer paths cannot be overlayfs options", fs);
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
