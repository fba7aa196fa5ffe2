/* vmadm send: the VM as one stream (vmstream.h), and the snapshots
 * migration takes and drops. */
#include <string.h>
#include <unistd.h>

#include "common/lock.h"
#include "common/util.h"
#include "migrate/mig_internal.h"
#include "storage/storage.h"
#include "storage/stream.h"
#include "vm/props.h"
#include "vm/runtime.h"
#include "vm/store.h"

/* The VM's datasets, parents first: [{"name", "rel"}]. */
int mig_datasets(vs_pool *pool, const char *uuid, json_t **out, vm_err *err)
{
    cleanup_free char *top = xasprintf("%s/%s", vs_pool_name(pool), uuid);
    cleanup_json json_t *names = NULL;
    if (vs_list(pool, top, VS_FILESYSTEM | VS_VOLUME, VS_RECURSIVE, &names, err) < 0)
        return -1;
    json_t *list = json_array();
    size_t i;
    json_t *n;
    size_t tl = strlen(top);
    json_array_foreach(names, i, n) {
        const char *name = json_string_value(n);
        const char *rel = name[tl] == '/' ? name + tl + 1 : "";
        if (strstr(rel, "-vmstore-")) /* a receive's work, not the VM's */
            continue;
        json_array_append_new(list, json_pack("{s:s,s:s}", "name", name, "rel", rel));
    }
    *out = list;
    return 0;
}

int mig_open_vm(const vm_ctx *ctx, const char *uuid, json_t **cfg, vs_pool **pool, json_t **dss, vm_err *err)
{
    if (vm_store_load_config(ctx, uuid, cfg, err) < 0 ||
        vs_pool_open(ctx, json_string_value(json_object_get(*cfg, "zpool")), pool, err) < 0)
        return -1;
    return dss ? mig_datasets(*pool, uuid, dss, err) : 0;
}

bool mig_valid_rel(const char *rel)
{
    size_t n = strlen(rel);
    return n <= 64 && strspn(rel, "abcdefghijklmnopqrstuvwxyz0123456789_-.") == n && strcmp(rel, ".") != 0 &&
        strcmp(rel, "..") != 0;
}

/* The snapshot names (after '@') of dataset `name`, oldest first. */
static int snap_names(vs_pool *pool, const char *name, json_t **out, vm_err *err)
{
    cleanup_json json_t *snaps = NULL;
    if (vs_list(pool, name, VS_SNAPSHOT, 0, &snaps, err) < 0)
        return -1;
    json_t *list = json_array();
    size_t i;
    json_t *s;
    json_array_foreach(snaps, i, s) {
        const char *at = strchr(json_string_value(s), '@');
        if (at)
            json_array_append_new(list, json_string(at + 1));
    }
    *out = list;
    return 0;
}

static ssize_t index_of(json_t *arr, const char *s)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
        if (s && !strcmp(json_string_value(v), s))
            return (ssize_t)i;
    return -1;
}

/* The origin snapshot of a clone, or NULL. */
static char *origin_of(vs_pool *pool, const char *name)
{
    char *o = NULL;
    vm_err e = VM_ERR_INIT;
    if (vs_get_str(pool, name, "origin", &o, &e) < 0 || !o || !strchr(o, '@')) {
        free(o);
        return NULL;
    }
    return o;
}

/* The objects a send of every dataset up to `snap` (after `from`) carries. */
static int plan_dataset(vs_pool *pool, json_t *dss, const char *from, const char *snap, json_t **out, vm_err *err)
{
    json_t *objs = json_array();
    size_t i;
    json_t *d;
    json_array_foreach(dss, i, d) {
        const char *name = json_string_value(json_object_get(d, "name"));
        const char *rel = json_string_value(json_object_get(d, "rel"));
        cleanup_json json_t *snaps = NULL;
        if (snap_names(pool, name, &snaps, err) < 0)
            goto fail;
        ssize_t last = index_of(snaps, snap), base = index_of(snaps, from);
        if (last < 0) {
            vm_err_set(err, VMERR_NOTFOUND, "dataset %s has no snapshot %s", name, snap);
            goto fail;
        }
        if (base > last)
            base = -1;
        cleanup_free char *origin = base < 0 ? origin_of(pool, name) : NULL;
        cleanup_free char *type = NULL;
        if (vs_get_str(pool, name, "type", &type, err) < 0)
            goto fail;
        for (ssize_t k = base + 1; k <= last; k++) {
            const char *sn = json_string_value(json_array_get(snaps, (size_t)k));
            json_t *o = json_pack("{s:s,s:s,s:s}", "dataset", rel, "snapshot", sn, "kind", type);
            /* A snapshot's guid names it for a resumed receive (volumes
             * and filesystems resume within an object). */
            cleanup_free char *full = xasprintf("%s@%s", name, sn);
            char *guid = NULL;
            vm_err ge = VM_ERR_INIT;
            if (vs_get_str(pool, full, "guid", &guid, &ge) == 0 && guid)
                json_object_set_new(o, "guid", json_string(guid));
            free(guid);
            /* Each snapshot on the one before it; the first on the base,
             * or the clone's origin, or nothing (full). */
            if (k > base + 1 || base >= 0)
                json_object_set_new(o, "from", json_incref(json_array_get(snaps, (size_t)k - 1)));
            else if (origin)
                json_object_set_new(o, "origin", json_string(origin));
            json_array_append_new(objs, o);
        }
    }
    *out = objs;
    return 0;
fail:
    json_decref(objs);
    return -1;
}

int mig_plan_objects(vs_pool *pool, const char *uuid, const char *from, const char *snap, json_t **out, vm_err *err)
{
    cleanup_json json_t *dss = NULL;
    if (mig_datasets(pool, uuid, &dss, err) < 0)
        return -1;
    return plan_dataset(pool, dss, from, snap, out, err);
}

/* Runs `fn` for every dataset's @name: snapshot (live when a running HVM
 * holds the disks) or destroy. */
static int live_switch(void *arg, json_t *switches, vm_err *err)
{
    const char **a = arg; /* {ctx as char*, uuid, rt} */
    const vm_runtime *rt = (const vm_runtime *)(const void *)a[2];
    return rt->snapshot_switch((const vm_ctx *)(const void *)a[0], a[1], switches, err);
}

int mig_snapshot(const vm_ctx *ctx, const char *uuid, const char *name, vm_err *err)
{
    cleanup_lock vm_lock lk = VM_LOCK_INIT;
    cleanup_json json_t *cfg = NULL;
    cleanup_vs_pool vs_pool *pool = NULL;
    if (vm_lock_acquire(ctx, uuid, -1, &lk, err) < 0 || vm_store_load_config(ctx, uuid, &cfg, err) < 0 ||
        vs_pool_open(ctx, json_string_value(json_object_get(cfg, "zpool")), &pool, err) < 0)
        return -1;
    const vm_runtime *rt = vm_runtime_of(cfg);
    cleanup_free char *snap = xasprintf("%s/%s@%s", vs_pool_name(pool), uuid, name);
    vm_runstate rs;
    vm_runtime_state(ctx, json_string_value(json_object_get(cfg, "brand")), uuid, &rs);
    if (rs.running && rt->snapshot_switch) {
        const void *a[3] = { ctx, uuid, rt };
        int r = vs_snapshot_live(pool, snap, VS_RECURSIVE, live_switch, (void *)a, err);
        return r < 0 ? -1 : 0;
    }
    return vs_snapshot(pool, snap, VS_RECURSIVE, err);
}

bool mig_has_snapshot(const vm_ctx *ctx, const char *uuid, const char *name)
{
    cleanup_json json_t *cfg = NULL;
    cleanup_vs_pool vs_pool *pool = NULL;
    vm_err e = VM_ERR_INIT;
    if (mig_open_vm(ctx, uuid, &cfg, &pool, NULL, &e) < 0)
        return false;
    cleanup_free char *s = xasprintf("%s/%s@%s", vs_pool_name(pool), uuid, name);
    return vs_exists(pool, s);
}

int mig_snapshot_destroy(const vm_ctx *ctx, const char *uuid, const char *name, vm_err *err)
{
    cleanup_json json_t *cfg = NULL;
    cleanup_vs_pool vs_pool *pool = NULL;
    cleanup_json json_t *dss = NULL;
    if (mig_open_vm(ctx, uuid, &cfg, &pool, &dss, err) < 0)
        return -1;
    size_t i;
    json_t *d;
    json_array_foreach(dss, i, d) {
        cleanup_free char *s = xasprintf("%s@%s", json_string_value(json_object_get(d, "name")), name);
        if (vs_exists(pool, s) && vs_destroy(pool, s, 0, err) < 0)
            return -1;
    }
    return 0;
}

/* "<pool>/<uuid>[/<dataset>]@<object's key>" of a send object. */
static char *object_snap(vs_pool *pool, const char *uuid, json_t *ob, const char *key)
{
    const char *rel = json_string_value(json_object_get(ob, "dataset"));
    return xasprintf("%s/%s%s%s@%s", vs_pool_name(pool), uuid, *rel ? "/" : "", rel,
                     json_string_value(json_object_get(ob, key)));
}

static json_t *header_of(const vm_ctx *ctx, const char *uuid, json_t *cfg, vs_pool *pool, vm_err *err)
{
    cleanup_free char *zonepath = vm_store_zonepath(ctx, vs_pool_name(pool), uuid);
    json_t *meta = NULL;
    if (vm_store_load_meta(zonepath, &meta, err) < 0) {
        json_decref(meta);
        return NULL;
    }
    /* What a create set on the volumes (thick provisioning) goes along:
     * the space rule reads it. */
    json_t *props = json_object();
    cleanup_json json_t *dss = NULL;
    vm_err e2 = VM_ERR_INIT;
    if (mig_datasets(pool, uuid, &dss, &e2) == 0) {
        size_t i;
        json_t *d;
        json_array_foreach(dss, i, d) {
            int64_t rr = 0;
            if (vs_get_int(pool, json_string_value(json_object_get(d, "name")), "refreservation", &rr, &e2) == 0 &&
                rr > 0)
                json_object_set_new(props, json_string_value(json_object_get(d, "rel")),
                                    json_pack("{s:I}", "refreservation", (json_int_t)rr));
        }
    }
    return json_pack("{s:s,s:i,s:s,s:O,s:s,s:O,s:o,s:o}", "kind", "vm", "format", 1, "uuid", uuid, "brand",
                     json_object_get(cfg, "brand"), "zpool", vs_pool_name(pool), "config", cfg, "meta", meta, "props",
                     props);
}

/* The receiver's resume entry for a send object (same dataset and
 * snapshot), or NULL. */
static json_t *resume_of(json_t *resume, json_t *ob)
{
    size_t i;
    json_t *e;
    json_array_foreach(resume, i, e)
        if (json_equal(json_object_get(e, "dataset"), json_object_get(ob, "dataset")) &&
            json_equal(json_object_get(e, "snapshot"), json_object_get(ob, "snapshot")))
            return e;
    return NULL;
}

/* What a full receive will take at the destination: each dataset's data
 * (per: rel -> bytes), or its reservation (a thick volume's
 * refreservation) where that is more. */
static uint64_t space_needed(json_t *header, json_t *per)
{
    uint64_t total = 0;
    const char *rel;
    json_t *v;
    json_object_foreach(per, rel, v) {
        json_int_t rr = json_integer_value(
            json_object_get(json_object_get(json_object_get(header, "props"), rel), "refreservation"));
        total += (uint64_t)(rr > json_integer_value(v) ? rr : json_integer_value(v));
    }
    json_object_foreach(json_object_get(header, "props"), rel, v)
        if (!json_object_get(per, rel))
            total += (uint64_t)json_integer_value(json_object_get(v, "refreservation"));
    return total;
}

static void add_bytes(json_t *per, const char *rel, uint64_t n)
{
    json_object_set_new(per, rel, json_integer(json_integer_value(json_object_get(per, rel)) + (json_int_t)n));
}

int mig_send(const vm_ctx *ctx, const char *uuid, mig_send_opts *o, vs_stream_write_fn fn, void *arg, char **snap_out,
             vm_err *err)
{
    cleanup_json json_t *cfg = NULL;
    cleanup_vs_pool vs_pool *pool = NULL;
    if (mig_open_vm(ctx, uuid, &cfg, &pool, NULL, err) < 0)
        return -1;
    cleanup_free char *snap = o->snapshot ? xstrdup(o->snapshot) : NULL;
    if (!snap && !o->header_only) {
        snap = xasprintf(MIG_SNAP_PREFIX "%lld", (long long)now_ms());
        if (mig_snapshot(ctx, uuid, snap, err) < 0)
            return -1;
    }
    cleanup_json json_t *header = header_of(ctx, uuid, cfg, pool, err);
    if (!header)
        return -1;
    cleanup_json json_t *objs = NULL;
    cleanup_json json_t *per = json_object();
    uint64_t total = 0;
    if (snap) {
        if (mig_plan_objects(pool, uuid, o->from, snap, &objs, err) < 0)
            return -1;
        json_object_set_new(header, "snapshot", json_string(snap));
    } else {
        objs = json_array();
        if (mig_send_size_per(ctx, uuid, o->from, &total, per, err) < 0)
            return -1;
    }
    if (o->from)
        json_object_set_new(header, "from", json_string(o->from));
    /* A preflight of a pending round lists its objects: the receiver says
     * which it has. */
    json_object_set_new(header, "objects", o->header_only && !o->snapshot ? json_array() : json_incref(objs));
    if (o->extra)
        json_object_update(header, o->extra);
    size_t i;
    json_t *ob;
    uint64_t skip = 0;
    json_array_foreach(objs, i, ob) {
        uint64_t n = 0;
        cleanup_free char *sn = object_snap(pool, uuid, ob, "snapshot");
        cleanup_free char *from = mig_object_base(pool, uuid, ob);
        if (vs_send_size(pool, sn, from, &n, err) < 0)
            return -1;
        total += n;
        add_bytes(per, json_string_value(json_object_get(ob, "dataset")), n);
        json_t *st = resume_of(o->resume, ob);
        uint64_t off = (uint64_t)json_integer_value(json_object_get(st, "offset"));
        if (json_is_true(json_object_get(st, "have"))) {
            json_object_set_new(ob, "present", json_true());
            skip += n;
        } else if (off) {
            json_object_set_new(ob, "resume_offset", json_integer((json_int_t)off));
            skip += off < n ? off : n;
        }
    }
    json_object_set_new(header, "size_bytes", json_integer((json_int_t)total));
    json_object_set_new(header, "space_bytes", json_integer((json_int_t)space_needed(header, per)));
    o->planned = total - skip;
    o->resumed = skip;

    vs_stream_writer *w = NULL;
    int r = vs_stream_writer_open(fn, arg, header, &w, err);
    json_array_foreach(o->header_only ? NULL : objs, i, ob) {
        if (r < 0)
            break;
        if (json_is_true(json_object_get(ob, "present")))
            continue;
        cleanup_free char *sn = object_snap(pool, uuid, ob, "snapshot");
        cleanup_free char *from = mig_object_base(pool, uuid, ob);
        r = vs_send_at(pool, sn, from, (uint64_t)json_integer_value(json_object_get(ob, "resume_offset")), w, err);
    }
    if (r == 0) {
        cleanup_json json_t *trailer = json_pack("{s:s}", "uuid", uuid);
        r = vs_stream_writer_finish(w, trailer, err);
    }
    vs_stream_writer_free(w);
    if (r == 0 && snap_out)
        *snap_out = xstrdup(snap ? snap : "");
    return r;
}

/* An object's incremental base as vs_send wants it: "ds@from", the
 * origin snapshot, or NULL (full). */
char *mig_object_base(vs_pool *pool, const char *uuid, json_t *ob)
{
    const char *origin = json_string_value(json_object_get(ob, "origin"));
    if (json_object_get(ob, "from"))
        return object_snap(pool, uuid, ob, "from");
    return origin ? xstrdup(origin) : NULL;
}

/* What a send up to a snapshot taken now would carry, without taking one
 * (a running HVM VM could not drop it again): the objects up to each
 * dataset's newest snapshot, plus what was written since — a volume's
 * changed blocks, a filesystem's referenced bytes when it has no snapshot
 * yet (its changes since a snapshot are not tracked: counted as 0). */
int mig_send_size(const vm_ctx *ctx, const char *uuid, const char *from, uint64_t *bytes, vm_err *err)
{
    return mig_send_size_per(ctx, uuid, from, bytes, NULL, err);
}

int mig_send_size_per(const vm_ctx *ctx, const char *uuid, const char *from, uint64_t *bytes, json_t *per, vm_err *err)
{
    cleanup_json json_t *cfg = NULL;
    cleanup_vs_pool vs_pool *pool = NULL;
    cleanup_json json_t *dss = NULL;
    if (mig_open_vm(ctx, uuid, &cfg, &pool, &dss, err) < 0)
        return -1;
    uint64_t total = 0;
    size_t i;
    json_t *d;
    json_array_foreach(dss, i, d) {
        const char *name = json_string_value(json_object_get(d, "name"));
        const char *rel = json_string_value(json_object_get(d, "rel"));
        cleanup_json json_t *snaps = NULL;
        cleanup_free char *type = NULL;
        if (snap_names(pool, name, &snaps, err) < 0 || vs_get_str(pool, name, "type", &type, err) < 0)
            return -1;
        const char *newest = json_string_value(json_array_get(snaps, json_array_size(snaps) - 1));
        uint64_t before = total;
        if (!newest) {
            int64_t ref = 0;
            if (strcmp(type, "volume") == 0) {
                cleanup_free char *origin = origin_of(pool, name);
                if (vs_get_int(pool, name, origin ? "used" : "referenced", &ref, err) < 0)
                    return -1;
            } else if (vs_get_int(pool, name, "referenced", &ref, err) < 0) {
                return -1;
            }
            total += ref > 0 ? (uint64_t)ref : 0;
            if (per)
                add_bytes(per, rel, total - before);
            continue;
        }
        cleanup_json json_t *objs = NULL;
        cleanup_json json_t *one = json_pack("[{s:s,s:s}]", "name", name, "rel", rel);
        if (plan_dataset(pool, one, from, newest, &objs, err) < 0)
            return -1;
        size_t k;
        json_t *ob;
        json_array_foreach(objs, k, ob) {
            uint64_t n = 0;
            cleanup_free char *sn = xasprintf("%s@%s", name, json_string_value(json_object_get(ob, "snapshot")));
            cleanup_free char *base = mig_object_base(pool, uuid, ob);
            if (vs_send_size(pool, sn, base, &n, err) < 0)
                return -1;
            total += n;
        }
        if (strcmp(type, "volume") == 0) {
            cleanup_json json_t *ext = NULL;
            cleanup_free char *sn = xasprintf("%s@%s", name, newest);
            if (vs_changed_blocks(pool, sn, NULL, &ext, err) < 0)
                return -1;
            json_t *e;
            json_array_foreach(ext, k, e)
                total += (uint64_t)json_integer_value(json_object_get(e, "length"));
        }
        if (per)
            add_bytes(per, rel, total - before);
    }
    *bytes = total;
    return 0;
}
