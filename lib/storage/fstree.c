/* Filesystem tree walk and send plan (fstree.h). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/util.h"
#include "storage/fstree.h"

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *join(const char *dir, const char *name)
{
    return dir[0] ? xasprintf("%s/%s", dir, name) : xstrdup(name);
}

/* The xattrs of `name` in dirfd, read through /proc without following it. */
static int read_xattrs(int dirfd, const char *name, fs_node *n, vm_err *err)
{
    char p[64 + 256];
    snprintf(p, sizeof p, "/proc/self/fd/%d/%s", dirfd, name[0] ? name : ".");
    ssize_t len = llistxattr(p, NULL, 0);
    if (len < 0 && (errno == ENOTSUP || errno == ENODATA))
        return 0;
    if (len < 0)
        return vm_err_sys(err, errno, "cannot list xattrs of %s", n->path);
    if (len == 0)
        return 0;
    cleanup_free char *names = xmalloc((size_t)len);
    len = llistxattr(p, names, (size_t)len);
    if (len < 0)
        return vm_err_sys(err, errno, "cannot list xattrs of %s", n->path);
    for (char *k = names; k < names + len; k += strlen(k) + 1) {
        ssize_t vl = lgetxattr(p, k, NULL, 0);
        if (vl < 0 || vl > VS_FSE_XATTR_MAX || strlen(k) > 255)
            return vm_err_set(err, VMERR_IO, "cannot read xattr %s of %s", k, n->path);
        uint8_t *v = xmalloc((size_t)vl + 1);
        vl = lgetxattr(p, k, v, (size_t)vl);
        if (vl < 0) {
            free(v);
            return vm_err_sys(err, errno, "cannot read xattr %s of %s", k, n->path);
        }
        n->xa = xrealloc(n->xa, (n->nxa + 1) * sizeof *n->xa);
        n->xa[n->nxa++] = (vs_fse_xattr){ xstrdup(k), v, (uint32_t)vl };
    }
    return 0;
}

/* Data extents of a regular file (holes left out). */
static int read_extents(int dirfd, const char *name, fs_node *n, vm_err *err)
{
    cleanup_close int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return vm_err_sys(err, errno, "cannot open %s", n->path);
    off_t size = n->st.st_size, off = 0;
    while (off < size) {
        off_t d = lseek(fd, off, SEEK_DATA);
        if (d < 0 && errno == ENXIO)
            break;
        if (d < 0)
            return vm_err_sys(err, errno, "cannot map %s", n->path);
        off_t h = lseek(fd, d, SEEK_HOLE);
        if (h < 0)
            return vm_err_sys(err, errno, "cannot map %s", n->path);
        if (h > size)
            h = size;
        if (h <= d)
            break;
        n->ext = xrealloc(n->ext, (n->next + 1) * 2 * sizeof *n->ext);
        n->ext[2 * n->next] = (uint64_t)d;
        n->ext[2 * n->next + 1] = (uint64_t)(h - d);
        n->next++;
        off = h;
    }
    return 0;
}

static fs_node *add(fs_tree *t, char *path, const struct stat *st)
{
    if (t->len == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 256;
        t->n = xrealloc(t->n, t->cap * sizeof *t->n);
    }
    fs_node *n = &t->n[t->len];
    memset(n, 0, sizeof *n);
    n->path = path;
    n->st = *st;
    json_object_set_new(t->index, path, json_integer((json_int_t)t->len));
    t->len++;
    return n;
}

typedef struct walk {
    fs_tree *t;
    json_t *inodes; /* "dev:ino" -> primary path */
    const char *skip;
} walk;

static int walk_dir(walk *w, int dirfd, const char *dir, vm_err *err);

static int walk_one(walk *w, int dirfd, const char *dir, const char *name, vm_err *err)
{
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return vm_err_sys(err, errno, "cannot stat %s/%s", dir, name);
    char target[VS_FSE_PATH_MAX + 2];
    ssize_t tl = 0;
    if (S_ISLNK(st.st_mode)) {
        tl = readlinkat(dirfd, name, target, sizeof target - 1);
        if (tl <= 0 || tl > VS_FSE_PATH_MAX)
            return vm_err_set(err, VMERR_IO, "cannot read symlink %s/%s", dir, name);
        target[tl] = '\0';
        if (!dir[0] && w->skip && str_has_prefix(target, w->skip))
            return 0;
    }
    fs_node *n = add(w->t, join(dir, name), &st);
    size_t idx = w->t->len - 1;
    if (tl)
        n->target = xstrdup(target);
    if (read_xattrs(dirfd, name, n, err) < 0)
        return -1;
    if (S_ISREG(st.st_mode) && st.st_nlink > 1) {
        char key[64];
        snprintf(key, sizeof key, "%llu:%llu", (unsigned long long)st.st_dev, (unsigned long long)st.st_ino);
        json_t *p = json_object_get(w->inodes, key);
        if (p)
            n->primary = xstrdup(json_string_value(p));
        else
            json_object_set_new(w->inodes, key, json_string(n->path));
    }
    if (S_ISREG(st.st_mode) && !n->primary && read_extents(dirfd, name, n, err) < 0)
        return -1;
    if (!S_ISDIR(st.st_mode))
        return 0;
    cleanup_close int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return vm_err_sys(err, errno, "cannot open %s", w->t->n[idx].path);
    cleanup_free char *sub = xstrdup(w->t->n[idx].path);
    return walk_dir(w, fd, sub, err);
}

static int walk_dir(walk *w, int dirfd, const char *dir, vm_err *err)
{
    int dfd = dup(dirfd);
    DIR *d = dfd < 0 ? NULL : fdopendir(dfd);
    if (!d) {
        if (dfd >= 0)
            close(dfd);
        return vm_err_sys(err, errno, "cannot read %s", dir[0] ? dir : "/");
    }
    char **names = NULL;
    size_t nn = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        names = xrealloc(names, (nn + 1) * sizeof *names);
        names[nn++] = xstrdup(de->d_name);
    }
    closedir(d);
    if (nn)
        qsort(names, nn, sizeof *names, cmp_str);
    int r = 0;
    for (size_t i = 0; i < nn; i++) {
        if (r == 0)
            r = walk_one(w, dirfd, dir, names[i], err);
        free(names[i]);
    }
    free(names);
    return r;
}

int fs_tree_walk(const char *root, const char *skip_links_into, fs_tree *t, vm_err *err)
{
    memset(t, 0, sizeof *t);
    t->index = json_object();
    cleanup_close int fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) < 0)
        return vm_err_sys(err, errno, "cannot open %s", root);
    fs_node *n = add(t, xstrdup(""), &st);
    if (read_xattrs(fd, "", n, err) < 0)
        return -1;
    cleanup_json json_t *inodes = json_object();
    walk w = { t, inodes, skip_links_into };
    return walk_dir(&w, fd, "", err);
}

void fs_tree_free(fs_tree *t)
{
    for (size_t i = 0; i < t->len; i++) {
        fs_node *n = &t->n[i];
        free(n->path);
        free(n->target);
        free(n->primary);
        for (size_t k = 0; k < n->nxa; k++) {
            free((char *)n->xa[k].name);
            free((uint8_t *)n->xa[k].value);
        }
        free(n->xa);
        free(n->ext);
    }
    free(t->n);
    json_decref(t->index);
    memset(t, 0, sizeof *t);
}

static bool same_str(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static bool same_xattrs(const fs_node *a, const fs_node *b)
{
    if (a->nxa != b->nxa)
        return false;
    for (size_t i = 0; i < a->nxa; i++) {
        bool found = false;
        for (size_t k = 0; k < b->nxa && !found; k++)
            found = !strcmp(a->xa[i].name, b->xa[k].name) && a->xa[i].len == b->xa[k].len &&
                !memcmp(a->xa[i].value, b->xa[k].value, a->xa[i].len);
        if (!found)
            return false;
    }
    return true;
}

/* The quick check (fstree.h). */
static bool unchanged(const fs_node *a, const fs_node *b)
{
    const struct stat *x = &a->st, *y = &b->st;
    if (x->st_mode != y->st_mode || x->st_uid != y->st_uid || x->st_gid != y->st_gid ||
        !same_str(a->target, b->target) || !same_str(a->primary, b->primary) || !same_xattrs(a, b))
        return false;
    if (S_ISDIR(x->st_mode))
        return x->st_mtim.tv_sec == y->st_mtim.tv_sec && x->st_mtim.tv_nsec == y->st_mtim.tv_nsec;
    if ((S_ISCHR(x->st_mode) || S_ISBLK(x->st_mode)) && x->st_rdev != y->st_rdev)
        return false;
    return x->st_size == y->st_size && x->st_mtim.tv_sec == y->st_mtim.tv_sec &&
        x->st_mtim.tv_nsec == y->st_mtim.tv_nsec;
}

static fs_node *lookup(fs_tree *t, const char *path)
{
    json_t *i = json_object_get(t->index, path);
    return i ? &t->n[json_integer_value(i)] : NULL;
}

static void mark_ancestors(fs_tree *t, const char *path)
{
    cleanup_free char *p = xstrdup(path);
    for (;;) {
        char *slash = strrchr(p, '/');
        if (slash)
            *slash = '\0';
        else
            p[0] = '\0';
        fs_node *n = lookup(t, p);
        if (!n || n->send)
            return; /* an ancestor marked has its own marked already */
        n->send = true;
        if (!p[0])
            return;
    }
}

size_t fs_tree_diff(fs_tree *base, fs_tree *cur, json_t **deletes)
{
    size_t changed = 0;
    *deletes = json_array();
    cleanup_json json_t *groups = json_object(); /* primary path of a sent member */
    for (size_t i = 0; i < cur->len; i++) {
        fs_node *n = &cur->n[i], *o = base ? lookup(base, n->path) : NULL;
        n->send = !o || !unchanged(o, n);
        if (n->send) {
            changed++;
            if (S_ISREG(n->st.st_mode) && n->st.st_nlink > 1)
                json_object_set_new(groups, n->primary ? n->primary : n->path, json_true());
        }
    }
    /* A hardlink group travels whole: a new inode at one of its paths
     * must be the inode of all of them. */
    for (size_t i = 0; i < cur->len; i++) {
        fs_node *n = &cur->n[i];
        if (!n->send && S_ISREG(n->st.st_mode) && n->st.st_nlink > 1 &&
            json_object_get(groups, n->primary ? n->primary : n->path)) {
            n->send = true;
            changed++;
        }
    }
    for (size_t i = 0; base && i < base->len; i++) {
        fs_node *o = &base->n[i];
        if (lookup(cur, o->path))
            continue;
        /* Under a directory deleted or replaced: removed with it. */
        char *slash = strrchr(o->path, '/');
        cleanup_free char *parent = slash ? xstrndup(o->path, (size_t)(slash - o->path)) : xstrdup("");
        fs_node *pn = lookup(cur, parent), *po = lookup(base, parent);
        if (!pn || !S_ISDIR(pn->st.st_mode) || !po || !S_ISDIR(po->st.st_mode))
            continue;
        json_array_append_new(*deletes, json_string(o->path));
        changed++;
    }
    for (size_t i = 0; i < cur->len; i++)
        if (cur->n[i].send)
            mark_ancestors(cur, cur->n[i].path);
    size_t k;
    json_t *d;
    json_array_foreach(*deletes, k, d)
        mark_ancestors(cur, json_string_value(d));
    return changed;
}

void fs_node_entry(const fs_node *n, vs_fse *e)
{
    memset(e, 0, sizeof *e);
    e->op = VS_FSE_ENTRY;
    e->path = n->path;
    mode_t m = n->st.st_mode;
    e->type = n->primary ? VS_FSE_HARDLINK
        : S_ISREG(m)     ? VS_FSE_FILE
        : S_ISDIR(m)     ? VS_FSE_DIR
        : S_ISLNK(m)     ? VS_FSE_SYMLINK
        : S_ISCHR(m)     ? VS_FSE_CHR
        : S_ISBLK(m)     ? VS_FSE_BLK
        : S_ISFIFO(m)    ? VS_FSE_FIFO
                         : VS_FSE_SOCK;
    e->mode = m & 07777;
    e->uid = n->st.st_uid;
    e->gid = n->st.st_gid;
    e->mtime_sec = n->st.st_mtim.tv_sec;
    e->mtime_nsec = (uint32_t)n->st.st_mtim.tv_nsec;
    if (e->type == VS_FSE_CHR || e->type == VS_FSE_BLK)
        e->rdev = n->st.st_rdev;
    e->nxattr = n->nxa;
    e->xattrs = n->xa;
    e->target = n->primary ? n->primary : n->target;
    if (e->type == VS_FSE_FILE)
        e->size = (uint64_t)n->st.st_size;
}

/* Header bytes of an entry, without encoding it. */
static uint64_t header_size(const vs_fse *e)
{
    uint64_t s = 3 + strlen(e->path);
    if (e->op == VS_FSE_DELETE)
        return s;
    s += 1 + 4 * 3 + 8 + 4 + 8 + 2 + 2 + (e->target ? strlen(e->target) : 0);
    for (size_t i = 0; i < e->nxattr; i++)
        s += 1 + strlen(e->xattrs[i].name) + 4 + e->xattrs[i].len;
    return e->type == VS_FSE_FILE ? s + 8 : s;
}

uint64_t fs_plan_size(const fs_tree *cur, json_t *deletes)
{
    uint64_t total = 0;
    size_t k;
    json_t *d;
    json_array_foreach(deletes, k, d) {
        vs_fse e = { .op = VS_FSE_DELETE, .path = json_string_value(d) };
        total += header_size(&e);
    }
    for (size_t i = 0; i < cur->len; i++) {
        const fs_node *n = &cur->n[i];
        if (!n->send)
            continue;
        vs_fse e;
        fs_node_entry(n, &e);
        total += header_size(&e);
        if (e.type != VS_FSE_FILE)
            continue;
        for (size_t x = 0; x < n->next; x++)
            total += 16 + n->ext[2 * x + 1];
        total += 16;
    }
    return total;
}
