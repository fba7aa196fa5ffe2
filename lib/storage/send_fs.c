/* Send and receive of filesystem datasets over the stream codec: one
 * stream object per snapshot, {"kind": "filesystem", "name", "snapshot",
 * "from"? | "origin"?, "encoding": "fsentry-1", "entries", "size", "guid"
 * (the snapshot's), "resume_offset"?}, whose DATA, contiguous from offset
 * 0 (or resume_offset: a resumed send, storage.h), is the entry sequence
 * of fsentry.h.  What is sent (full: every entry; incremental: the
 * quick-check diff) is fstree.h's plan; the walk's order makes it the
 * same bytes every time for the same snapshots.
 *
 * Receive never creates anything outside the dataset: every path is
 * checked by the parser (relative, no "." / ".." / empty components), its
 * parent directory is opened with openat2(RESOLVE_BENEATH |
 * RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV) from an fd
 * on the dataset's root (a symlink anywhere on the way is an error), and
 * the entry itself is made relative to that fd with O_NOFOLLOW / O_EXCL /
 * AT_SYMLINK_NOFOLLOW (whatever is there is removed first, a directory
 * with its contents, never following a link).  Metadata order per entry:
 * owner, mode, xattrs (security.capability survives), times; directory
 * times last of all, deepest first.  Device nodes only with
 * VS_RECV_DEVICES; setuid/setgid files refused with VS_RECV_NO_SETUID. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/util.h"
#include "storage/fstree.h"
#include "storage/send_internal.h"
#include "storage/storage_internal.h"

#define EMIT_BUF (4u << 20)

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

/* The directory of a filesystem snapshot's frozen copy (and its guid). */
static int snap_dir(vs_pool *pool, const char *snapname, char **dir, char **guid, vm_err *err)
{
    vs_view v;
    json_t *ds, *snap;
    if (vs_view_open(pool, &v, err) < 0)
        return -1;
    int r = vs_view_find(&v, snapname, &ds, &snap, err);
    if (r == 0 && (!snap || vs_ds_type(ds) != VS_FILESYSTEM))
        r = vm_err_set(err, VMERR_INVALID, "'%s' is not a snapshot of a filesystem", snapname);
    if (r == 0)
        *dir = pool->drv->path(pool, vs_jstr(snap, "layer"), VS_FILESYSTEM);
    if (r == 0 && guid)
        *guid = xstrdup(vs_jstr(snap, "guid") ?: "");
    vs_view_close(&v);
    return r;
}

/* Walks snapname's tree and marks what a send relative to base carries. */
static int plan(vs_pool *pool, const char *snapname, const vs_send_base *base, fs_tree *cur, json_t **deletes,
                char **root, char **guid, vm_err *err)
{
    fs_tree old = { 0 };
    cleanup_free char *bdir = NULL;
    memset(cur, 0, sizeof *cur);
    if (snap_dir(pool, snapname, root, guid, err) < 0 ||
        (base->snap && snap_dir(pool, base->snap, &bdir, NULL, err) < 0))
        return -1;
    int r = fs_tree_walk(*root, NULL, cur, err);
    if (r == 0 && bdir)
        r = fs_tree_walk(bdir, NULL, &old, err);
    if (r == 0)
        fs_tree_diff(bdir ? &old : NULL, cur, deletes);
    fs_tree_free(&old);
    return r;
}

int vs_send_fs_size(vs_pool *pool, const char *snapname, const vs_send_base *base, uint64_t *bytes, vm_err *err)
{
    fs_tree cur;
    cleanup_json json_t *deletes = NULL;
    cleanup_free char *root = NULL;
    int r = plan(pool, snapname, base, &cur, &deletes, &root, NULL, err);
    if (r == 0)
        *bytes = fs_plan_size(&cur, deletes);
    fs_tree_free(&cur);
    return r;
}

/* ------------------------------------------------------------------ send */

/* The object's bytes from `start` on (a resumed send: what lies below is
 * counted, not written — nor read, for file data). */
typedef struct emitter {
    vs_stream_writer *w;
    uint8_t *buf;
    size_t len;
    uint64_t off; /* object offset of buf[0] */
    uint64_t pos; /* object offset of the next byte put, skipped or not */
    uint64_t start;
} emitter;

static int em_flush(emitter *em, vm_err *err)
{
    if (em->len && vs_stream_data(em->w, em->off, em->buf, em->len, err) < 0)
        return -1;
    em->off += em->len;
    em->len = 0;
    return 0;
}

static int em_put(emitter *em, const void *p, size_t n, vm_err *err)
{
    if (em->pos < em->start) {
        uint64_t skip = em->start - em->pos < n ? em->start - em->pos : n;
        em->pos += skip;
        p = (const uint8_t *)p + skip;
        n -= (size_t)skip;
    }
    em->pos += n;
    while (n) {
        size_t k = EMIT_BUF - em->len < n ? EMIT_BUF - em->len : n;
        memcpy(em->buf + em->len, p, k);
        em->len += k;
        p = (const uint8_t *)p + k;
        n -= k;
        if (em->len == EMIT_BUF && em_flush(em, err) < 0)
            return -1;
    }
    return 0;
}

static int em_file(emitter *em, int rootfd, const fs_node *n, vm_err *err)
{
    uint64_t span = 16; /* the file's chunks, end chunk included */
    for (size_t x = 0; x < n->next; x++)
        span += 16 + n->ext[2 * x + 1];
    if (em->pos + span <= em->start) {
        em->pos += span;
        return 0;
    }
    cleanup_close int fd = open_beneath(rootfd, n->path, O_RDONLY | O_NOCTTY);
    if (fd < 0)
        return vm_err_sys(err, errno, "cannot open %s", n->path);
    uint8_t ch[16];
    for (size_t x = 0; x < n->next; x++) {
        uint64_t off = n->ext[2 * x], left = n->ext[2 * x + 1];
        vs_fse_chunk(ch, off, left);
        if (em_put(em, ch, 16, err) < 0)
            return -1;
        if (em->pos < em->start) {
            uint64_t skip = em->start - em->pos < left ? em->start - em->pos : left;
            em->pos += skip;
            off += skip;
            left -= skip;
        }
        while (left) {
            if (em->len == EMIT_BUF && em_flush(em, err) < 0)
                return -1;
            size_t want = EMIT_BUF - em->len < left ? EMIT_BUF - em->len : (size_t)left;
            ssize_t got = pread(fd, em->buf + em->len, want, (off_t)off);
            if (got < 0 && errno == EINTR)
                continue;
            if (got < 0)
                return vm_err_sys(err, errno, "cannot read %s", n->path);
            if (got == 0)
                return vm_err_set(err, VMERR_IO, "%s changed while being sent", n->path);
            em->len += (size_t)got;
            em->pos += (uint64_t)got;
            off += (uint64_t)got;
            left -= (uint64_t)got;
        }
    }
    vs_fse_chunk(ch, 0, 0);
    return em_put(em, ch, 16, err);
}

static int emit(emitter *em, int rootfd, fs_tree *cur, json_t *deletes, vm_err *err)
{
    size_t k;
    json_t *d;
    json_array_foreach(deletes, k, d) {
        vs_fse e = { .op = VS_FSE_DELETE, .path = json_string_value(d) };
        size_t len;
        cleanup_free uint8_t *h = vs_fse_encode(&e, &len);
        if (em_put(em, h, len, err) < 0)
            return -1;
    }
    for (size_t i = 0; i < cur->len; i++) {
        const fs_node *n = &cur->n[i];
        if (!n->send)
            continue;
        vs_fse e;
        fs_node_entry(n, &e);
        size_t len;
        cleanup_free uint8_t *h = vs_fse_encode(&e, &len);
        if (em_put(em, h, len, err) < 0 || (e.type == VS_FSE_FILE && em_file(em, rootfd, n, err) < 0))
            return -1;
    }
    return em_flush(em, err);
}

int vs_send_fs(vs_pool *pool, const char *snapname, const vs_send_base *base, uint64_t offset, vs_stream_writer *w,
               vm_err *err)
{
    cleanup_free char *tag = xasprintf(".send-%d", (int)getpid());
    if (vs_hold(pool, tag, snapname, err) < 0)
        return -1;
    if (base->snap && vs_hold(pool, tag, base->snap, err) < 0) {
        vm_err e2 = VM_ERR_INIT;
        vs_release(pool, tag, snapname, &e2);
        return -1;
    }
    fs_tree cur;
    cleanup_json json_t *deletes = NULL;
    cleanup_free char *root = NULL, *guid = NULL;
    int r = plan(pool, snapname, base, &cur, &deletes, &root, &guid, err);
    cleanup_close int rootfd = r == 0 ? open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) : -1;
    if (r == 0 && rootfd < 0)
        r = vm_err_sys(err, errno, "cannot open %s", root);
    uint64_t size = r == 0 ? fs_plan_size(&cur, deletes) : 0;
    if (r == 0 && offset > size)
        r = vm_err_set(err, VMERR_INVALID, "cannot resume '%s' at byte %llu: the object has %llu", snapname,
                       (unsigned long long)offset, (unsigned long long)size);
    if (r == 0) {
        const char *sn;
        cleanup_free char *dsname = vs_split_snap(snapname, &sn);
        size_t count = json_array_size(deletes);
        for (size_t i = 0; i < cur.len; i++)
            count += cur.n[i].send;
        cleanup_json json_t *desc =
            json_pack("{s:s, s:s, s:s, s:s, s:I, s:I, s:s}", "kind", "filesystem", "name", dsname, "snapshot", sn,
                      "encoding", "fsentry-1", "entries", (json_int_t)count, "size", (json_int_t)size, "guid", guid);
        if (offset)
            json_object_set_new(desc, "resume_offset", json_integer((json_int_t)offset));
        if (base->snap && base->origin)
            json_object_set_new(desc, "origin", json_string(base->snap));
        else if (base->snap)
            json_object_set_new(desc, "from", json_string(strchr(base->snap, '@') + 1));
        uint32_t id;
        r = vs_stream_object(w, desc, &id, err);
    }
    if (r == 0) {
        emitter em = { w, xmalloc(EMIT_BUF), 0, offset, 0, offset };
        r = emit(&em, rootfd, &cur, deletes, err);
        if (r == 0 && em.off != size)
            r = vm_err_set(err, VMERR_IO, "%s changed while being sent", snapname);
        free(em.buf);
    }
    if (r == 0)
        r = vs_stream_object_end(w, err);
    fs_tree_free(&cur);
    vm_err e2 = VM_ERR_INIT;
    vs_release(pool, tag, snapname, &e2);
    if (base->snap)
        vs_release(pool, tag, base->snap, &e2);
    return r;
}
