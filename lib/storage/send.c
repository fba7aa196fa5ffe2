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
#include <libnbd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "storage/storage_internal.h"
#include "storage/stream.h"

#define IO_CHUNK (4u << 20)

static int nbd_fail(struct nbd_handle *h, const char *what, vm_err *err)
{
    (void)h;
    return vm_err_set(err, VMERR_IO, "%s: %s", what, nbd_get_error() ? nbd_get_error() : "NBD error");
}

/* qemu-nbd serving `path` (qcow2) to this process only. */
static struct nbd_handle *nbd_serve(const char *path, bool writable, vm_err *err)
{
    struct nbd_handle *h = nbd_create();
    if (!h) {
        vm_err_set(err, VMERR_INTERNAL, "libnbd: %s", nbd_get_error());
        return NULL;
    }
    char *argv[] = { "qemu-nbd", "-f", "qcow2", writable ? "--cache=writeback" : "--read-only", (char *)path, NULL };
    if ((!writable && nbd_add_meta_context(h, LIBNBD_CONTEXT_BASE_ALLOCATION) < 0) ||
        nbd_connect_systemd_socket_activation(h, argv) < 0) {
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

static int send_extents(struct nbd_handle *h, json_t *list, vs_stream_writer *w, vm_err *err)
{
    cleanup_free uint8_t *buf = xmalloc(IO_CHUNK);
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e) {
        uint64_t off = (uint64_t)json_integer_value(json_object_get(e, "offset"));
        uint64_t len = (uint64_t)json_integer_value(json_object_get(e, "length"));
        while (len) {
            size_t n = len < IO_CHUNK ? (size_t)len : IO_CHUNK;
            if (nbd_pread(h, buf, n, off, 0) < 0)
                return nbd_fail(h, "cannot read the volume", err);
            if (vs_stream_data(w, off, buf, n, err) < 0)
                return -1;
            off += n;
            len -= n;
        }
    }
    return 0;
}

/* The file of a snapshot's frozen layer and the volume's size then. */
static int snapshot_layer(vs_pool *pool, const char *snapname, char **path, uint64_t *volsize, vm_err *err)
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
    }
    vs_view_close(&v);
    return r;
}

int vs_send_volume(vs_pool *pool, const char *snapname, const char *from, vs_stream_writer *w, vm_err *err)
{
    cleanup_free char *path = NULL;
    uint64_t volsize = 0;
    if (snapshot_layer(pool, snapname, &path, &volsize, err) < 0)
        return -1;
    cleanup_json json_t *list = NULL;
    if (from && vs_changed_blocks(pool, from, snapname, &list, err) < 0)
        return -1;
    /* The snapshot cannot go while it is read. */
    cleanup_free char *tag = xasprintf(".send-%d", (int)getpid());
    if (vs_hold(pool, tag, snapname, err) < 0)
        return -1;
    const char *sn, *fsn = NULL;
    cleanup_free char *dsname = vs_split_snap(snapname, &sn);
    cleanup_free char *fds = from ? vs_split_snap(from, &fsn) : NULL;
    struct nbd_handle *h = nbd_serve(path, false, err);
    int r = h ? 0 : -1;
    if (r == 0 && !from)
        r = data_extents(h, volsize, &list, err);
    if (r == 0) {
        cleanup_json json_t *desc = json_pack("{s:s, s:s, s:s, s:I, s:I}", "kind", "volume", "name", dsname,
                                              "snapshot", sn, "volsize", (json_int_t)volsize, "size",
                                              (json_int_t)volsize);
        if (fsn)
            json_object_set_new(desc, "from", json_string(fsn));
        uint32_t id;
        r = vs_stream_object(w, desc, &id, err);
    }
    if (r == 0)
        r = send_extents(h, list, w, err);
    if (r == 0)
        r = vs_stream_object_end(w, err);
    if (h) {
        nbd_shutdown(h, 0);
        nbd_close(h);
    }
    vm_err e2 = VM_ERR_INIT;
    vs_release(pool, tag, snapname, &e2);
    return r;
}

/* --------------------------------------------------------------- receive */

static const char *desc_str(json_t *obj, const char *k)
{
    return json_string_value(json_object_get(obj, k));
}

/* An incremental stream lands on `name` whose most recent snapshot is the
 * stream's base, unchanged since. */
static int check_base(vs_pool *pool, const char *name, const char *from, vm_err *err)
{
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
                          "cannot receive incremental stream: most recent snapshot of '%s' does not match incremental "
                          "source '%s'",
                          name, want);
    cleanup_json json_t *changed = NULL;
    if (vs_changed_blocks(pool, want, NULL, &changed, err) < 0)
        return -1;
    if (json_array_size(changed))
        return vm_err_set(err, VMERR_BUSY,
                          "cannot receive incremental stream: destination '%s' has been modified since most recent "
                          "snapshot",
                          name);
    return 0;
}

static int write_object(struct nbd_handle *h, vs_stream_reader *r, uint32_t id, vm_err *err)
{
    vs_stream_rec rec;
    int rc;
    while ((rc = vs_stream_next(r, &rec, err)) == 1) {
        if (rec.type == VS_REC_OBJECT_END)
            return nbd_flush(h, 0) < 0 ? nbd_fail(h, "cannot flush the volume", err) : 0;
        if (rec.type != VS_REC_DATA || rec.object != id)
            return vm_err_set(err, VMERR_INVALID, "invalid stream: unexpected record in a volume object");
        if (nbd_pwrite(h, rec.data, rec.len, rec.offset, 0) < 0)
            return nbd_fail(h, "cannot write the volume", err);
    }
    return rc == 0 ? vm_err_set(err, VMERR_INVALID, "invalid stream: it ends inside a volume object") : -1;
}

int vs_receive_volume(vs_pool *pool, const char *name, vs_stream_reader *r, json_t *obj, int flags, vm_err *err)
{
    const char *snap = desc_str(obj, "snapshot"), *from = desc_str(obj, "from");
    json_t *vsz = json_object_get(obj, "volsize");
    uint32_t id = (uint32_t)json_integer_value(json_object_get(obj, "id"));
    if (strcmp(desc_str(obj, "kind") ?: "", "volume") != 0 || !snap || !vs_valid_snap_component(snap) ||
        !json_is_integer(vsz) || json_integer_value(vsz) <= 0 ||
        json_integer_value(vsz) != json_integer_value(json_object_get(obj, "size")) ||
        (from && !vs_valid_snap_component(from)))
        return vm_err_set(err, VMERR_INVALID, "invalid stream: not a volume object this vmstore can receive");
    uint64_t volsize = (uint64_t)json_integer_value(vsz);
    cleanup_free char *target = xasprintf("%s@%s", name, snap);
    bool created = false;
    if (from) {
        if (check_base(pool, name, from, err) < 0)
            return -1;
        int64_t cur = 0;
        if (vs_get_int(pool, name, "volsize", &cur, err) < 0 ||
            ((uint64_t)cur != volsize && vs_resize(pool, name, volsize, VS_ALLOW_SHRINK, err) < 0))
            return -1;
    } else {
        if (vs_exists(pool, name))
            return vm_err_set(err, VMERR_EXISTS, "cannot receive new filesystem stream: destination '%s' exists",
                              name);
        if (vs_create_vol(pool, name, volsize, NULL, err) < 0)
            return -1;
        created = true;
    }
    cleanup_free char *path = NULL;
    struct nbd_handle *h = NULL;
    int rc = vs_vol_path(pool, name, &path, err);
    if (rc == 0 && !(h = nbd_serve(path, true, err)))
        rc = -1;
    if (rc == 0)
        rc = write_object(h, r, id, err);
    if (h) {
        nbd_shutdown(h, 0);
        nbd_close(h);
    }
    vs_stream_rec rec;
    if (rc == 0 && (flags & VS_RECV_LAST) && vs_stream_next(r, &rec, err) != 0)
        rc = err->code ? -1 : vm_err_set(err, VMERR_INVALID, "invalid stream: more than one dataset");
    if (rc == 0)
        rc = vs_snapshot(pool, target, 0, err);
    if (rc < 0) {
        /* Leave the destination as it was. */
        vm_err e2 = VM_ERR_INIT;
        cleanup_free char *base = from ? xasprintf("%s@%s", name, from) : NULL;
        if (created)
            vs_destroy(pool, name, VS_RECURSIVE, &e2);
        else if (base)
            vs_rollback(pool, base, 0, &e2);
    }
    return rc;
}
