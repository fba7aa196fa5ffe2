/* vmstore send / receive of volume snapshots over the stream codec
 * (stream.h); the contract is in storage.h.
 *
 * Bytes move through NBD: libnbd starts qemu-nbd on the layer file with
 * systemd socket activation (no port, no path on disk) and reads or writes
 * guest-visible data at offsets.  A full send asks qemu-nbd which extents
 * hold data (base:allocation) and sends only those; an incremental send
 * sends the extents vs_changed_blocks names, zeros included (a guest that
 * overwrote data with zeros changed it). */
#include <errno.h>
#include <fcntl.h>
#include <libnbd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "storage/chainread.h"
#include "storage/qcow2w.h"
#include "storage/send_internal.h"
#include "storage/storage_internal.h"
#include "storage/stream.h"

#define IO_CHUNK (4u << 20)
#define DIRECT_CHUNK IO_CHUNK /* bytes per read of a layer file */
#define IO_DEPTH 4 /* requests in flight: qemu-nbd reads ahead / writes behind */

/* Up to IO_DEPTH NBD requests in flight, each with its own buffer. */
typedef struct io_ring {
    struct nbd_handle *h;
    uint8_t *buf[IO_DEPTH];
    int64_t cookie[IO_DEPTH]; /* 0: slot free */
    uint64_t off[IO_DEPTH];
    size_t len[IO_DEPTH];
} io_ring;

static void ring_init(io_ring *r, struct nbd_handle *h)
{
    memset(r, 0, sizeof *r);
    r->h = h;
    for (int i = 0; i < IO_DEPTH; i++)
        r->buf[i] = xmalloc(IO_CHUNK);
}

static void ring_free(io_ring *r)
{
    for (int i = 0; i < IO_DEPTH; i++)
        free(r->buf[i]);
}

static int nbd_fail(struct nbd_handle *h, const char *what, vm_err *err);

/* Waits until slot i's request has completed (and frees the slot). */
static int ring_wait(io_ring *r, int i, const char *what, vm_err *err)
{
    while (r->cookie[i]) {
        int c = nbd_aio_command_completed(r->h, (uint64_t)r->cookie[i]);
        if (c < 0) {
            r->cookie[i] = 0;
            return nbd_fail(r->h, what, err);
        }
        if (c == 1)
            r->cookie[i] = 0;
        else if (nbd_poll(r->h, -1) < 0)
            return nbd_fail(r->h, what, err);
    }
    return 0;
}

static int ring_drain(io_ring *r, const char *what, vm_err *err)
{
    int rc = 0;
    for (int i = 0; i < IO_DEPTH; i++)
        if (ring_wait(r, i, what, err) < 0)
            rc = -1;
    return rc;
}

/* The server's errno says it best ("No space left on device"); libnbd's
 * text (which names its own functions) only when there is none. */
static int nbd_fail(struct nbd_handle *h, const char *what, vm_err *err)
{
    (void)h;
    int e = nbd_get_errno();
    if (e == ENOSPC)
        return vm_err_set(err, VMERR_NOSPACE, "%s: %s", what, strerror(e));
    if (e > 0 && e != EINVAL)
        return vm_err_sys(err, e, "%s", what);
    return vm_err_set(err, VMERR_IO, "%s: %s", what, nbd_get_error() ? nbd_get_error() : "NBD error");
}

/* qemu-nbd serving `path` (qcow2) to this process only. */
/* qemu-nbd 7.2 has no --force-share: force-share=on (inherited by the
 * backing chain) through image options (a
 * ',' in the path doubled, as QEMU's option syntax wants). */
static char *image_opts(const char *path)
{
    size_t n = strlen(path), k = 0;
    char *esc = xmalloc(2 * n + 1);
    for (size_t i = 0; i < n; i++) {
        esc[k++] = path[i];
        if (path[i] == ',')
            esc[k++] = ',';
    }
    esc[k] = '\0';
    char *o = xasprintf("driver=qcow2,read-only=on,force-share=on,file.driver=file,file.filename=%s", esc);
    free(esc);
    return o;
}

static struct nbd_handle *nbd_serve(const char *path, bool writable, vm_err *err)
{
    struct nbd_handle *h = nbd_create();
    if (!h) {
        vm_err_set(err, VMERR_INTERNAL, "libnbd: %s", nbd_get_error());
        return NULL;
    }
    /* Writes: no fsync per request (receive syncs the file once at the end).
     * Reads are of frozen snapshot layers, which a running QEMU may still
     * hold (with the image lock of a layer it created as a live-snapshot
     * overlay): immutable by the storage's contract, so shared. */
    cleanup_free char *opts = image_opts(path);
    char *rw[] = { "qemu-nbd", "-f", "qcow2", "--cache=unsafe", (char *)path, NULL };
    char *ro[] = { "qemu-nbd", "--read-only", "--image-opts", opts, NULL };
    char **argv = writable ? rw : ro;
    /* qemu-nbd allocates a buffer per request: at IO_CHUNK those are
     * mmap()s, and the page faults of a fresh buffer every 4 MiB cost
     * three times the copying (measured here: 1 GiB sent in 7.6 s, 2.3 s
     * with malloc keeping its buffers).  Its environment only. */
    const char *old = getenv("GLIBC_TUNABLES");
    cleanup_free char *saved = old ? xstrdup(old) : NULL;
    cleanup_free char *tun = xasprintf("%s%sglibc.malloc.mmap_threshold=67108864:glibc.malloc.trim_threshold=268435456",
                                       old ? old : "", old && *old ? ":" : "");
    setenv("GLIBC_TUNABLES", tun, 1);
    int rc = (!writable && nbd_add_meta_context(h, LIBNBD_CONTEXT_BASE_ALLOCATION) < 0) ||
        nbd_connect_systemd_socket_activation(h, argv) < 0;
    if (saved)
        setenv("GLIBC_TUNABLES", saved, 1);
    else
        unsetenv("GLIBC_TUNABLES");
    if (rc) {
        nbd_fail(h, "cannot serve the volume through qemu-nbd", err);
        nbd_close(h);
        return NULL;
    }
    return h;
}

/* ------------------------------------------------------------------ send */

typedef struct extents {
    json_t *list; /* [{"offset", "length"}], as vs_changed_blocks */
} extents;

static int collect(void *arg, const char *ctx, uint64_t off, uint32_t *ents, size_t n, int *error)
{
    (void)ctx;
    (void)error;
    extents *x = arg;
    for (size_t i = 0; i + 1 < n; i += 2) {
        /* Not a hole reading as zero: NBD_STATE_ZERO clear. */
        if (!(ents[i + 1] & LIBNBD_STATE_ZERO))
            json_array_append_new(x->list,
                                  json_pack("{s:I,s:I}", "offset", (json_int_t)off, "length", (json_int_t)ents[i]));
        off += ents[i];
    }
    return 0;
}

/* The extents of the guest view that hold data (full send). */
static int data_extents(struct nbd_handle *h, uint64_t size, json_t **out, vm_err *err)
{
    extents x = { json_array() };
    uint64_t off = 0;
    while (off < size) {
        size_t before = json_array_size(x.list);
        uint64_t want = size - off < (1ULL << 30) ? size - off : (1ULL << 30);
        if (nbd_block_status(h, want, off, (nbd_extent_callback){ .callback = collect, .user_data = &x }, 0) < 0) {
            json_decref(x.list);
            return nbd_fail(h, "cannot map the volume", err);
        }
        /* The reply covers at least one extent from off; find where it ended. */
        json_t *last = json_array_get(x.list, json_array_size(x.list) - 1);
        uint64_t end = off + want;
        if (json_array_size(x.list) > before)
            end = (uint64_t)json_integer_value(json_object_get(last, "offset")) +
                (uint64_t)json_integer_value(json_object_get(last, "length"));
        off = end > off ? end : off + want;
    }
    *out = x.list;
    return 0;
}

/* Reads the extents with IO_DEPTH requests in flight and writes them to
 * the stream in order. */
static int send_extents(struct nbd_handle *h, json_t *list, vs_stream_writer *w, vm_err *err)
{
    io_ring ring;
    ring_init(&ring, h);
    size_t ext = 0, issued = 0, done = 0;
    uint64_t off = 0, left = 0;
    int rc = 0;
    for (;;) {
        /* Issue reads while there is a free slot and data left. */
        while (rc == 0 && issued - done < IO_DEPTH) {
            while (!left && ext < json_array_size(list)) {
                json_t *e = json_array_get(list, ext++);
                off = (uint64_t)json_integer_value(json_object_get(e, "offset"));
                left = (uint64_t)json_integer_value(json_object_get(e, "length"));
            }
            if (!left)
                break;
            int i = (int)(issued % IO_DEPTH);
            size_t n = left < IO_CHUNK ? (size_t)left : IO_CHUNK;
            int64_t c = nbd_aio_pread(h, ring.buf[i], n, off, NBD_NULL_COMPLETION, 0);
            if (c < 0) {
                rc = nbd_fail(h, "cannot read the volume", err);
                break;
            }
            ring.cookie[i] = c;
            ring.off[i] = off;
            ring.len[i] = n;
            off += n;
            left -= n;
            issued++;
        }
        if (rc < 0 || done == issued)
            break;
        int i = (int)(done % IO_DEPTH);
        if (ring_wait(&ring, i, "cannot read the volume", err) < 0 ||
            vs_stream_data(w, ring.off[i], ring.buf[i], ring.len[i], err) < 0)
            rc = -1;
        done++;
    }
    vm_err e2 = VM_ERR_INIT;
    ring_drain(&ring, "cannot read the volume", &e2);
    ring_free(&ring);
    return rc;
}

/* The extents' bytes read from the layer files (chainread.h). */
static int send_direct(vs_chainread *c, json_t *list, vs_stream_writer *w, vm_err *err)
{
    cleanup_free uint8_t *buf = xmalloc(DIRECT_CHUNK);
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e) {
        uint64_t off = (uint64_t)json_integer_value(json_object_get(e, "offset"));
        uint64_t left = (uint64_t)json_integer_value(json_object_get(e, "length"));
        while (left) {
            size_t n = left < DIRECT_CHUNK ? (size_t)left : DIRECT_CHUNK;
            uint8_t *at = vs_stream_data_buf(w, n); /* read straight into the stream's queue */
            if (at ? vs_chainread_pread(c, at, n, off, err) < 0 || vs_stream_data_commit(w, off, at, n, err) < 0
                   : vs_chainread_pread(c, buf, n, off, err) < 0 || vs_stream_data(w, off, buf, n, err) < 0)
                return -1;
            off += n;
            left -= n;
        }
    }
    return 0;
}

/* The file of a snapshot's frozen layer and the volume's size then. */
static int snapshot_layer(vs_pool *pool, const char *snapname, char **path, uint64_t *volsize, char **guid, vm_err *err)
{
    vs_view v;
    json_t *ds, *snap;
    if (vs_view_open(pool, &v, err) < 0)
        return -1;
    int r = vs_view_find(&v, snapname, &ds, &snap, err);
    if (r == 0 && (!snap || vs_ds_type(ds) != VS_VOLUME))
        r = vm_err_set(err, VMERR_INVALID, "'%s' is not a snapshot of a volume", snapname);
    if (r == 0) {
        *path = pool->drv->path(pool, vs_jstr(snap, "layer"), VS_VOLUME);
        json_t *vs = json_object_get(snap, "volsize");
        *volsize = (uint64_t)json_integer_value(vs ? vs : json_object_get(ds, "volsize"));
        if (guid)
            *guid = xstrdup(vs_jstr(snap, "guid") ?: "");
    }
    vs_view_close(&v);
    return r;
}

int vs_send_resolve(vs_pool *pool, const char *snapname, const char *from, int *type, vs_send_base *base, vm_err *err)
{
    vs_view v;
    json_t *ds, *snap, *fds, *fsnap;
    base->snap = NULL;
    base->origin = false;
    if (vs_view_open(pool, &v, err) < 0)
        return -1;
    int r = vs_view_find(&v, snapname, &ds, &snap, err);
    if (r == 0 && !snap)
        r = vm_err_set(err, VMERR_INVALID, "'%s' is not a snapshot", snapname);
    if (r == 0)
        *type = vs_ds_type(ds);
    if (r == 0 && from)
        r = vs_view_find(&v, from, &fds, &fsnap, err);
    if (r == 0 && from) {
        const char *sn, *fsn;
        cleanup_free char *dsname = vs_split_snap(snapname, &sn);
        cleanup_free char *fdsname = vs_split_snap(from, &fsn);
        const char *origin = vs_jstr(ds, "origin");
        if (fsnap && !strcmp(fdsname, dsname) && vs_find_snap(ds, fsn) < vs_find_snap(ds, sn))
            base->snap = from;
        else if (fsnap && origin && !strcmp(origin, from))
            base->snap = from, base->origin = true;
        else
            r = vm_err_set(err, VMERR_INVALID,
                           "incremental source '%s' is neither an earlier snapshot of '%s' nor its origin", from,
                           dsname);
    }
    vs_view_close(&v);
    return r;
}

/* Drops what lies below `offset` from an extent list (a resumed send). */
static void trim_below(json_t *list, uint64_t offset)
{
    for (size_t i = 0; i < json_array_size(list);) {
        json_t *e = json_array_get(list, i);
        uint64_t o = (uint64_t)json_integer_value(json_object_get(e, "offset"));
        uint64_t l = (uint64_t)json_integer_value(json_object_get(e, "length"));
        if (o + l <= offset) {
            json_array_remove(list, i);
            continue;
        }
        if (o < offset) {
            json_object_set_new(e, "offset", json_integer((json_int_t)offset));
            json_object_set_new(e, "length", json_integer((json_int_t)(o + l - offset)));
        }
        i++;
    }
}

static int send_volume(vs_pool *pool, const char *snapname, const vs_send_base *base, uint64_t offset,
                       vs_stream_writer *w, vm_err *err)
{
    cleanup_free char *path = NULL, *guid = NULL;
    uint64_t volsize = 0;
    if (snapshot_layer(pool, snapname, &path, &volsize, &guid, err) < 0)
        return -1;
    if (offset >= volsize && offset > 0)
        return vm_err_set(err, VMERR_INVALID, "cannot resume '%s' at byte %llu: the volume has %llu", snapname,
                          (unsigned long long)offset, (unsigned long long)volsize);
    cleanup_json json_t *list = NULL;
    if (base->snap && vs_changed_blocks(pool, base->snap, snapname, &list, err) < 0)
        return -1;
    /* The snapshot cannot go while it is read. */
    cleanup_free char *tag = xasprintf(".send-%d", (int)getpid());
    if (vs_hold(pool, tag, snapname, err) < 0)
        return -1;
    const char *sn;
    cleanup_free char *dsname = vs_split_snap(snapname, &sn);
    /* The object first: the receiver makes its layer while the extents
     * are mapped here. */
    cleanup_json json_t *desc =
        json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}", "kind", "volume", "name", dsname, "snapshot", sn, "volsize",
                  (json_int_t)volsize, "size", (json_int_t)volsize, "guid", guid);
    if (base->snap)
        json_object_set_new(desc, base->origin ? "origin" : "from",
                            json_string(base->origin ? base->snap : strchr(base->snap, '@') + 1));
    if (offset)
        json_object_set_new(desc, "resume_offset", json_integer((json_int_t)offset));
    uint32_t id;
    int r = vs_stream_object(w, desc, &id, err);
    /* Straight from the layer files when qemu maps every extent to one;
     * through qemu-nbd otherwise. */
    vs_chainread *c = NULL;
    struct nbd_handle *h = NULL;
    if (r == 0)
        r = vs_chainread_open(path, &c, err);
    if (r == 0 && !(h = nbd_serve(path, false, err)))
        r = -1;
    else if (r == 1)
        r = 0;
    if (r == 0 && !base->snap && c)
        list = vs_chainread_data(c);
    else if (r == 0 && !base->snap)
        r = data_extents(h, volsize, &list, err);
    if (r == 0)
        trim_below(list, offset);
    if (r == 0)
        r = c ? send_direct(c, list, w, err) : send_extents(h, list, w, err);
    if (r == 0)
        r = vs_stream_object_end(w, err);
    vs_chainread_close(c);
    if (h) {
        nbd_shutdown(h, 0);
        nbd_close(h);
    }
    vm_err e2 = VM_ERR_INIT;
    vs_release(pool, tag, snapname, &e2);
    return r;
}

int vs_send_volume(vs_pool *pool, const char *snapname, const char *from, vs_stream_writer *w, vm_err *err)
{
    int type;
    vs_send_base base;
    if (vs_send_resolve(pool, snapname, from, &type, &base, err) < 0)
        return -1;
    if (type != VS_VOLUME)
        return vm_err_set(err, VMERR_INVALID, "'%s' is not a snapshot of a volume", snapname);
    return send_volume(pool, snapname, &base, 0, w, err);
}

int vs_send_at(vs_pool *pool, const char *snapname, const char *from, uint64_t offset, vs_stream_writer *w, vm_err *err)
{
    int type;
    vs_send_base base;
    if (vs_send_resolve(pool, snapname, from, &type, &base, err) < 0)
        return -1;
    return type == VS_VOLUME ? send_volume(pool, snapname, &base, offset, w, err)
                             : vs_send_fs(pool, snapname, &base, offset, w, err);
}

int vs_send(vs_pool *pool, const char *snapname, const char *from, vs_stream_writer *w, vm_err *err)
{
    return vs_send_at(pool, snapname, from, 0, w, err);
}

int vs_send_size(vs_pool *pool, const char *snapname, const char *from, uint64_t *bytes, vm_err *err)
{
    int type;
    vs_send_base base;
    if (vs_send_resolve(pool, snapname, from, &type, &base, err) < 0)
        return -1;
    if (type != VS_VOLUME)
        return vs_send_fs_size(pool, snapname, &base, bytes, err);
    cleanup_free char *path = NULL;
    uint64_t volsize = 0;
    cleanup_json json_t *list = NULL;
    if (snapshot_layer(pool, snapname, &path, &volsize, NULL, err) < 0)
        return -1;
    if (base.snap && vs_changed_blocks(pool, base.snap, snapname, &list, err) < 0)
        return -1;
    vs_chainread *c = NULL;
    int d = base.snap ? 0 : vs_chainread_open(path, &c, err);
    if (d < 0)
        return -1;
    if (c) {
        list = vs_chainread_data(c);
        vs_chainread_close(c);
    } else if (!base.snap) {
        struct nbd_handle *h = nbd_serve(path, false, err);
        if (!h)
            return -1;
        int r = data_extents(h, volsize, &list, err);
        nbd_shutdown(h, 0);
        nbd_close(h);
        if (r < 0)
            return -1;
    }
    *bytes = 0;
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
        *bytes += (uint64_t)json_integer_value(json_object_get(e, "length"));
    return 0;
}

/* --------------------------------------------------------------- receive */

static const char *desc_str(json_t *obj, const char *k)
{
    return json_string_value(json_object_get(obj, k));
}

/* Removes what receivers of `name` that are gone left ("<name>-vmstore-recv-<pid>"). */
static void remove_dead_work(vs_pool *pool, const char *name)
{
    cleanup_free char *parent = vs_parent_name(name);
    cleanup_free char *prefix = xasprintf("%s-vmstore-recv-", name);
    cleanup_json json_t *names = NULL;
    vm_err e2 = VM_ERR_INIT;
    if (!parent || vs_list(pool, parent, VS_FILESYSTEM | VS_VOLUME, VS_RECURSIVE, &names, &e2) < 0)
        return;
    size_t i;
    json_t *n;
    json_array_foreach(names, i, n) {
        const char *s = json_string_value(n);
        char *end;
        long pid = str_has_prefix(s, prefix) ? strtol(s + strlen(prefix), &end, 10) : 0;
        if (pid > 0 && !*end && pid != (long)getpid() && kill((pid_t)pid, 0) < 0 && errno == ESRCH)
            vs_destroy(pool, s, VS_RECURSIVE, &e2);
    }
}

int vs_recv_begin(vs_pool *pool, const char *name, const char *from, const char *origin, json_t *clone_props,
                  vs_modified_fn modified, vs_create_fn create, void *arg, const char *workname, char **work,
                  bool *created, vm_err *err)
{
    *created = false;
    *work = NULL;
    if (from) {
        /* An incremental stream lands on `name` whose most recent snapshot
         * is the stream's base, unchanged since. */
        cleanup_json json_t *snaps = NULL;
        if (!vs_exists(pool, name))
            return vm_err_set(err, VMERR_NOTFOUND, "cannot receive incremental stream: destination '%s' does not exist",
                              name);
        if (vs_list(pool, name, VS_SNAPSHOT, 0, &snaps, err) < 0)
            return -1;
        const char *last = json_string_value(json_array_get(snaps, json_array_size(snaps) - 1));
        cleanup_free char *want = xasprintf("%s@%s", name, from);
        if (!last || strcmp(last, want) != 0)
            return vm_err_set(err, VMERR_INVALID,
                              "cannot receive incremental stream: most recent snapshot of '%s' does not match "
                              "incremental source '%s'",
                              name, want);
        bool mod = false;
        if (modified(pool, name, want, &mod, err) < 0)
            return -1;
        if (mod)
            return vm_err_set(err, VMERR_BUSY,
                              "cannot receive incremental stream: destination '%s' has been modified since most "
                              "recent snapshot",
                              name);
        *work = xstrdup(name);
        return 0;
    }
    if (vs_exists(pool, name))
        return vm_err_set(err, VMERR_EXISTS, "cannot receive new filesystem stream: destination '%s' exists", name);
    if (origin && !vs_exists(pool, origin))
        return vm_err_set(err, VMERR_NOTFOUND, "cannot receive incremental stream: origin '%s' does not exist", origin);
    remove_dead_work(pool, name);
    cleanup_free char *w = workname ? xstrdup(workname) : xasprintf("%s-vmstore-recv-%ld", name, (long)getpid());
    if (origin ? vs_clone(pool, origin, w, clone_props, err) < 0 : create(pool, w, arg, err) < 0) {
        /* The messages name the dataset being made: say `name`. */
        cleanup_free char *msg = xstrdup(err->msg);
        char *at = strstr(msg, w);
        if (at)
            vm_err_set(err, err->code, "%.*s%s%s", (int)(at - msg), msg, name, at + strlen(w));
        return -1;
    }
    *work = steal_ptr(w);
    *created = true;
    return 0;
}

int vs_recv_end(vs_pool *pool, const char *name, char **work, const char *snap, const char *from, bool created,
                vs_stream_reader *r, int flags, int rc, vm_err *err)
{
    cleanup_free char *w = steal_ptr(*work);
    vs_stream_rec rec;
    if (rc == 0 && (flags & VS_RECV_LAST) && vs_stream_next(r, &rec, err) != 0)
        rc = err->code ? -1 : vm_err_set(err, VMERR_INVALID, "invalid stream: more than one dataset");
    cleanup_free char *target = xasprintf("%s@%s", w, snap);
    if (rc == 0)
        rc = vs_snapshot(pool, target, 0, err);
    if (rc == 0 && created)
        rc = vs_rename(pool, w, name, err);
    if (rc < 0 && (flags & VS_RECV_KEEP))
        return -1; /* kept for a resumed receive */
    if (rc < 0) {
        /* Leave the destination as it was. */
        vm_err e2 = VM_ERR_INIT;
        cleanup_free char *base = from ? xasprintf("%s@%s", name, from) : NULL;
        if (created)
            vs_destroy(pool, w, VS_RECURSIVE, &e2);
        else if (base)
            vs_rollback(pool, base, 0, &e2);
        return -1;
    }
    return 0;
}

/* The live volume differs from snapshot `snap`. */
static int vol_modified(vs_pool *pool, const char *name, const char *snap, bool *modified, vm_err *err)
{
    (void)name;
    cleanup_json json_t *changed = NULL;
    if (vs_changed_blocks(pool, snap, NULL, &changed, err) < 0)
        return -1;
    *modified = json_array_size(changed) > 0;
    return 0;
}

static int create_vol(vs_pool *pool, const char *name, void *arg, vm_err *err)
{
    return vs_create_vol(pool, name, *(uint64_t *)arg, NULL, err);
}

/* Where a receive's bytes go: straight into a fresh layer file
 * (qcow2w.h: no qemu, O_DIRECT), or through qemu-nbd (a resumed or
 * non-empty layer, or a stream whose writes are not whole clusters). */
typedef struct vol_sink {
    const char *path;
    uint64_t volsize;
    vs_qcow2w *q;
    struct nbd_handle *h;
    io_ring ring;
    size_t n; /* NBD writes issued */
} vol_sink;

static int sink_open(vol_sink *s, bool fresh, vm_err *err)
{
    if (fresh) {
        int r = vs_qcow2w_open(s->path, s->volsize, &s->q, err);
        if (r != 0)
            return r < 0 ? -1 : 0;
    }
    if (!(s->h = nbd_serve(s->path, true, err)))
        return -1;
    ring_init(&s->ring, s->h);
    return 0;
}

/* Everything written reaches the file (the direct writer's image made
 * consistent, qemu-nbd's writes flushed). */
static int sink_flush(vol_sink *s, vm_err *err)
{
    if (s->q)
        return vs_qcow2w_sync(s->q, err);
    if (ring_drain(&s->ring, "cannot write the volume", err) < 0)
        return -1;
    if (nbd_flush(s->h, 0) < 0)
        return nbd_fail(s->h, "cannot flush the volume", err);
    return 0;
}

static int sink_write(vol_sink *s, const uint8_t *data, size_t len, uint64_t off, vm_err *err)
{
    if (s->q && !vs_qcow2w_fits(s->q, off, len)) {
        /* qemu takes over from a consistent image */
        int r = vs_qcow2w_close(s->q, true, err);
        s->q = NULL;
        if (r < 0 || sink_open(s, false, err) < 0)
            return -1;
    }
    if (s->q)
        return vs_qcow2w_write(s->q, off, data, len, err);
    for (size_t done = 0; done < len;) {
        int i = (int)(s->n++ % IO_DEPTH);
        size_t n = len - done < IO_CHUNK ? len - done : IO_CHUNK;
        if (ring_wait(&s->ring, i, "cannot write the volume", err) < 0)
            return -1;
        memcpy(s->ring.buf[i], data + done, n);
        s->ring.cookie[i] = nbd_aio_pwrite(s->h, s->ring.buf[i], n, off + done, NBD_NULL_COMPLETION, 0);
        if (s->ring.cookie[i] < 0) {
            s->ring.cookie[i] = 0;
            return nbd_fail(s->h, "cannot write the volume", err);
        }
        done += n;
    }
    return 0;
}

/* ok: flush first (the data must be kept); otherwise only stop. */
static int sink_close(vol_sink *s, bool ok, vm_err *err)
{
    vm_err e2 = VM_ERR_INIT; /* a failure after a failure adds nothing */
    int rc = 0;
    if (s->q) {
        rc = vs_qcow2w_close(s->q, ok, ok ? err : &e2);
        s->q = NULL;
    } else if (s->h) {
        if (ok)
            rc = sink_flush(s, err);
        ring_drain(&s->ring, "cannot write the volume", &e2);
        ring_free(&s->ring);
        nbd_shutdown(s->h, 0);
        nbd_close(s->h); /* waits for qemu-nbd to exit */
        s->h = NULL;
    }
    return rc;
}

/* A resumable receive's checkpoints (storage.h): the layer file, the
 * dataset holding the state, the state, and the data bytes written since
 * the last one. */
typedef struct checkpoint {
    vs_pool *pool;
    const char *path, *ds;
    json_t *state; /* NULL: not resumable */
    uint64_t from; /* the resume offset: no data below */
    uint64_t since;
} checkpoint;

static int sync_file(const char *path, vm_err *err);

/* Everything written is made durable (sink_flush; qemu-nbd runs
 * cache=unsafe, whose flush still writes back, then fsync), then the state
 * says where the stream stands. */
static int checkpoint_now(vol_sink *s, checkpoint *cp, uint64_t offset, vm_err *err)
{
    if (sink_flush(s, err) < 0 || sync_file(cp->path, err) < 0 ||
        vs_resume_save(cp->pool, cp->ds, cp->state, offset, err) < 0)
        return -1;
    cp->since = 0;
    return 0;
}

/* Writes the object's data (each record's bytes copied: the reader's
 * buffer is reused by its next call). */
static int write_object(vol_sink *s, vs_stream_reader *r, uint32_t id, checkpoint *cp, vm_err *err)
{
    vs_stream_rec rec;
    int rc;
    while ((rc = vs_stream_next(r, &rec, err)) == 1) {
        if (rec.type == VS_REC_OBJECT_END)
            break;
        if (rec.type != VS_REC_DATA || rec.object != id || rec.offset < cp->from) {
            rc = vm_err_set(err, VMERR_INVALID, "invalid stream: unexpected record in a volume object");
            break;
        }
        if (sink_write(s, rec.data, rec.len, rec.offset, err) < 0) {
            rc = -1;
            break;
        }
        cp->since += rec.len;
        if (cp->state && cp->since >= VS_RESUME_CHUNK && checkpoint_now(s, cp, rec.offset + rec.len, err) < 0) {
            rc = -1;
            break;
        }
    }
    if (rc == 0)
        return vm_err_set(err, VMERR_INVALID, "invalid stream: it ends inside a volume object");
    return rc < 0 ? -1 : 0;
}

/* qemu-nbd writes with cache=unsafe (no fsync per request, which halves the
 * receive time); the volume is made durable here, once, before the snapshot
 * that commits it. */
static int sync_file(const char *path, vm_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) < 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return vm_err_sys(err, e, "cannot sync %s", path);
    }
    close(fd);
    return 0;
}

int vs_receive_volume(vs_pool *pool, const char *name, vs_stream_reader *r, json_t *obj, int flags, vm_err *err)
{
    const char *snap = desc_str(obj, "snapshot"), *from = desc_str(obj, "from"), *origin = desc_str(obj, "origin");
    const char *guid = desc_str(obj, "guid");
    json_t *vsz = json_object_get(obj, "volsize"), *ro = json_object_get(obj, "resume_offset");
    uint32_t id = (uint32_t)json_integer_value(json_object_get(obj, "id"));
    if (strcmp(desc_str(obj, "kind") ?: "", "volume") != 0 || !snap || !vs_valid_snap_component(snap) ||
        !json_is_integer(vsz) || json_integer_value(vsz) <= 0 ||
        json_integer_value(vsz) != json_integer_value(json_object_get(obj, "size")) ||
        (from && !vs_valid_snap_component(from)) || (origin && (!vs_valid_name(origin) || !strchr(origin, '@'))) ||
        (from && origin) ||
        (ro &&
         (!json_is_integer(ro) || json_integer_value(ro) <= 0 || json_integer_value(ro) >= json_integer_value(vsz) ||
          !guid)))
        return vm_err_set(err, VMERR_INVALID, "invalid stream: not a volume object this vmstore can receive");
    bool resumable = (flags & VS_RECV_RESUMABLE) && guid && *guid;
    if (ro && !resumable)
        return vm_err_set(err, VMERR_INVALID, "cannot receive '%s': the stream resumes a partial receive (-s)", name);
    uint64_t roff = ro ? (uint64_t)json_integer_value(ro) : 0;
    /* The descriptor lives until the reader's next record: keep copies. */
    cleanup_free char *snapc = xstrdup(snap);
    cleanup_free char *fromc = from ? xstrdup(from) : NULL;
    cleanup_json json_t *state = resumable ? json_pack("{s:s,s:s,s:I,s:I}", "guid", guid, "snapshot", snap, "volsize",
                                                       json_integer_value(vsz), "offset", (json_int_t)roff)
                                           : NULL;
    if (state && (from || origin))
        json_object_set_new(state, from ? "from" : "origin", json_string(from ? from : origin));
    snap = snapc;
    from = fromc;
    uint64_t volsize = (uint64_t)json_integer_value(vsz);
    bool created = false;
    char *work = NULL;
    cleanup_free char *partial = vs_partial_name(name);
    if (roff) {
        const char *ds = from ? name : partial;
        if (vs_resume_check(pool, name, ds, state, NULL, err) < 0)
            return -1;
        work = xstrdup(ds);
        created = !from;
    } else {
        cleanup_json json_t *cprops = json_pack("{s:I}", "volsize", (json_int_t)volsize);
        vm_err e2 = VM_ERR_INIT;
        if (resumable && vs_receive_abort(pool, name, &e2) < 0)
            return vm_err_set(err, e2.code, "cannot discard the partial receive of '%s': %s", name, e2.msg);
        if (vs_recv_begin(pool, name, from, origin, cprops, vol_modified, create_vol, &volsize,
                          resumable && !from ? partial : NULL, &work, &created, err) < 0)
            return -1;
    }
    int64_t cur = 0;
    int rc = 0;
    if (from &&
        (vs_get_int(pool, name, "volsize", &cur, err) < 0 ||
         ((uint64_t)cur != volsize && vs_resize(pool, name, volsize, VS_ALLOW_SHRINK, err) < 0)))
        rc = -1;
    cleanup_free char *path = NULL;
    if (rc == 0)
        rc = vs_vol_path(pool, work, &path, err);
    if (rc == 0 && state)
        rc = vs_resume_save(pool, work, state, roff, err);
    checkpoint cp = { .pool = pool, .path = path, .ds = work, .state = state, .from = roff };
    vol_sink sink = { .path = path, .volsize = volsize };
    if (rc == 0)
        rc = sink_open(&sink, !roff, err);
    if (rc == 0)
        rc = write_object(&sink, r, id, &cp, err);
    if (sink_close(&sink, rc == 0, err) < 0)
        rc = -1;
    if (rc < 0 && err->code != VMERR_INVALID)
        vm_err_prefix(err, "cannot receive '%s': ", name);
    if (rc == 0)
        rc = sync_file(path, err);
    if (rc == 0 && state)
        rc = vs_inherit(pool, work, VS_RESUME_PROP, err);
    return vs_recv_end(pool, name, &work, snap, from, created, r, state ? flags | VS_RECV_KEEP : flags, rc, err);
}

int vs_receive(vs_pool *pool, const char *name, vs_stream_reader *r, json_t *obj, int flags, vm_err *err)
{
    const char *kind = desc_str(obj, "kind");
    if (kind && !strcmp(kind, "volume"))
        return vs_receive_volume(pool, name, r, obj, flags, err);
    if (kind && !strcmp(kind, "filesystem"))
        return vs_receive_fs(pool, name, r, obj, flags, err);
    return vm_err_set(err, VMERR_INVALID, "invalid stream: object of unknown kind '%s'", kind ? kind : "");
}
