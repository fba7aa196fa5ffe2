/* vmadm receive: a VM stream into this host (vmstream.h: checks, commit
 * points, resume). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/fdq.h"
#include "common/cmd.h"
#include "common/lock.h"
#include "common/util.h"
#include "migrate/mig_internal.h"
#include "net/nictag.h"
#include "storage/stream.h"
#include "vm/props.h"
#include "vm/rawview.h"
#include "vm/runtime.h"
#include "vm/store.h"
#include "vm/vm_internal.h"

typedef struct recv_ctx {
    const vm_ctx *ctx;
    json_t *header;
    const char *uuid, *brand, *poolname;
    json_t *config, *meta, *objects;
    bool incremental;
    vs_pool *pool;
    int fd; /* the stream's */
    vs_fdq *ahead; /* its read-ahead, once the objects come */
} recv_ctx;

static int bad(vm_err *err, const char *what)
{
    return vm_err_set(err, VMERR_INVALID, "invalid stream: %s", what);
}

/* The header is untrusted: every name the receiver will build from it is
 * checked here, before anything is looked up. */
static int check_header(recv_ctx *c, vm_err *err)
{
    json_t *h = c->header;
    if (strcmp(json_string_value(json_object_get(h, "kind")) ?: "", "vm") != 0)
        return bad(err, "not a VM stream (vmstore receive takes dataset streams)");
    if (json_integer_value(json_object_get(h, "format")) != 1)
        return bad(err, "unsupported VM stream format");
    c->uuid = json_string_value(json_object_get(h, "uuid"));
    c->brand = json_string_value(json_object_get(h, "brand"));
    c->poolname = json_string_value(json_object_get(h, "zpool"));
    c->config = json_object_get(h, "config");
    c->meta = json_object_get(h, "meta");
    c->objects = json_object_get(h, "objects");
    if (!c->uuid || !uuid_valid(c->uuid))
        return bad(err, "bad uuid");
    if (!c->brand || !vm_brand_bit(c->brand))
        return bad(err, "bad brand");
    if (!c->poolname || !vs_valid_name(c->poolname) || strchr(c->poolname, '/'))
        return bad(err, "bad zpool");
    if (!json_is_object(c->config) || !json_is_object(c->meta) || !json_is_array(c->objects))
        return bad(err, "header lacks config, meta or objects");
    if (strcmp(json_string_value(json_object_get(c->config, "brand")) ?: "", c->brand) != 0)
        return bad(err, "config brand differs from header");
    json_t *zp = json_object_get(c->config, "zpool");
    if (zp && strcmp(json_string_value(zp) ?: "", c->poolname) != 0)
        return bad(err, "config zpool differs from header");
    c->incremental = json_is_string(json_object_get(h, "from"));
    size_t i;
    json_t *o;
    json_array_foreach(c->objects, i, o) {
        const char *rel = json_string_value(json_object_get(o, "dataset"));
        const char *sn = json_string_value(json_object_get(o, "snapshot"));
        const char *from = json_string_value(json_object_get(o, "from"));
        const char *origin = json_string_value(json_object_get(o, "origin"));
        if (!rel || !mig_valid_rel(rel) || !sn || !vs_valid_snap_component(sn) ||
            (from && !vs_valid_snap_component(from)))
            return bad(err, "bad object name");
        /* An origin must be an image's snapshot in the same pool. */
        if (origin) {
            cleanup_free char *want = xasprintf("%s/", c->poolname);
            const char *at = strchr(origin, '@');
            if (!str_has_prefix(origin, want) || !at || !vs_valid_name(origin) ||
                memchr(origin + strlen(want), '/', (size_t)(at - origin - (ptrdiff_t)strlen(want))))
                return bad(err, "bad origin");
        }
    }
    /* Disks are the VM's own volumes: a dataset <zpool>/<uuid>/<rel> and a
     * path that is that volume's raw view at the source (whatever root it
     * had: the receiver writes its own path). */
    json_t *d;
    json_array_foreach(json_object_get(c->config, "disks"), i, d) {
        const char *p = json_string_value(json_object_get(d, "path"));
        const char *z = json_string_value(json_object_get(d, "zfs_filesystem"));
        cleanup_free char *zpre = xasprintf("%s/%s/", c->poolname, c->uuid);
        if (!z || !str_has_prefix(z, zpre) || !z[strlen(zpre)] || !mig_valid_rel(z + strlen(zpre)))
            return bad(err, "disk outside the VM's datasets");
        cleanup_free char *tail = xasprintf("/dev/zvol/rdsk/%s", z);
        if (p && !str_has_suffix(p, tail))
            return bad(err, "disk path outside the VM's datasets");
    }
    return 0;
}

int mig_header_check(json_t *header, vm_err *err)
{
    recv_ctx c = { .header = header };
    return check_header(&c, err);
}

char *mig_qemu_version(void)
{
    char *out = NULL;
    vm_err e = VM_ERR_INIT;
    char *argv[] = { "qemu-system-x86_64", "--version", NULL };
    if (run_cmd(argv, &out, &e) < 0) {
        free(out);
        return NULL;
    }
    char *v = strstr(out, "version ");
    char *r = v ? xstrndup(v + 8, strcspn(v + 8, " \n")) : NULL;
    free(out);
    return r;
}

/* Compares dotted versions ("7.2.19" < "8.0"): <0, 0, >0. */
static int vercmp(const char *a, const char *b)
{
    int x[3] = { 0 }, y[3] = { 0 };
    sscanf(a, "%d.%d.%d", &x[0], &x[1], &x[2]);
    sscanf(b, "%d.%d.%d", &y[0], &y[1], &y[2]);
    for (int i = 0; i < 3; i++)
        if (x[i] != y[i])
            return x[i] < y[i] ? -1 : 1;
    return 0;
}

/* The transfer snapshot a resumable full receive kept its staging for. */
static char *staged_snapshot(recv_ctx *c)
{
    cleanup_free char *staging = vm_store_staging_dir(c->ctx, c->uuid);
    cleanup_free char *p = xasprintf("%s/" VM_STORE_RESUME_FILE, staging);
    cleanup_json json_t *j = NULL;
    vm_err e = VM_ERR_INIT;
    if (!path_exists(p) || read_json_file(p, &j, &e) < 0)
        return NULL;
    const char *s = json_string_value(json_object_get(j, "snapshot"));
    return s ? xstrdup(s) : NULL;
}

static char *target_name(recv_ctx *c, json_t *o)
{
    const char *rel = json_string_value(json_object_get(o, "dataset"));
    return xasprintf("%s/%s%s%s", c->poolname, c->uuid, *rel ? "/" : "", rel);
}

/* The sender left every object out: it found them all here. */
static bool all_present(recv_ctx *c)
{
    size_t i;
    json_t *o;
    json_array_foreach(c->objects, i, o)
        if (!json_is_true(json_object_get(o, "present")))
            return false;
    return json_array_size(c->objects) > 0;
}

/* Every object of the header is here already (a receive that completed
 * while its sender was cut: the sender's re-run finds it done). */
static bool holds_all(recv_ctx *c)
{
    if (!c->pool || !json_array_size(c->objects))
        return false;
    size_t i;
    json_t *o;
    json_array_foreach(c->objects, i, o) {
        cleanup_free char *name = target_name(c, o);
        cleanup_free char *full = xasprintf("%s@%s", name, json_string_value(json_object_get(o, "snapshot")));
        if (!vs_exists(c->pool, full))
            return false;
    }
    return true;
}

/* This stream would go on from what a resumable receive kept here: the
 * staging of the same transfer snapshot, or the VM itself (incremental). */
static bool resumes_here(recv_ctx *c)
{
    const char *snap = json_string_value(json_object_get(c->header, "snapshot"));
    if (c->incremental || vm_store_exists(c->ctx, c->uuid))
        return vm_store_exists(c->ctx, c->uuid) && (c->incremental || holds_all(c));
    cleanup_free char *staged = staged_snapshot(c);
    return snap && staged && !strcmp(staged, snap);
}

/* Every check of a preflight, each failure a named reason. */
static json_t *run_checks(recv_ctx *c, bool older_ok)
{
    json_t *reasons = json_array();
    bool exists = vm_store_exists(c->ctx, c->uuid);
    if (!c->incremental && exists && !holds_all(c))
        json_array_append_new(reasons, json_sprintf("uuid already there: VM with UUID %s already exists", c->uuid));
    if (c->incremental && !exists)
        json_array_append_new(reasons, json_sprintf("uuid missing: VM %s does not exist here", c->uuid));
    if (!c->pool)
        json_array_append_new(reasons, json_sprintf("zpool missing: %s", c->poolname));
    if (vm_brand_is_hvm(c->brand)) {
        cleanup_free char *mine = mig_qemu_version();
        const char *theirs = json_string_value(json_object_get(c->header, "qemu_version"));
        if (!mine)
            json_array_append_new(reasons, json_string("brand runtime missing: QEMU is not installed"));
        else if (theirs && !older_ok && vercmp(mine, theirs) < 0)
            json_array_append_new(
                reasons, json_sprintf("QEMU version: destination has %s, source %s (-D allows it)", mine, theirs));
    } else if (!path_exists("/usr/bin/lxc-start") && !path_exists("/usr/sbin/lxc-start")) {
        json_array_append_new(reasons, json_string("brand runtime missing: LXC is not installed"));
    }
    size_t i;
    json_t *o;
    json_array_foreach(c->objects, i, o) {
        const char *origin = json_string_value(json_object_get(o, "origin"));
        if (origin && c->pool && !vs_exists(c->pool, origin))
            json_array_append_new(reasons, json_sprintf("image missing: %s", origin));
    }
    json_t *n;
    json_array_foreach(json_object_get(c->config, "nics"), i, n) {
        const char *tag = json_string_value(json_object_get(n, "nic_tag"));
        net_tag t;
        vm_err e = VM_ERR_INIT;
        if (tag && net_tag_get(c->ctx, tag, &t, &e) < 0)
            json_array_append_new(reasons, json_sprintf("nic_tag missing: %s", tag));
    }
    json_int_t need = json_integer_value(json_object_get(c->header, "size_bytes"));
    /* A new VM takes its thick volumes' reservations too (what the
     * sender counted: each dataset's data or reservation, the larger). */
    json_int_t space = json_integer_value(json_object_get(c->header, "space_bytes"));
    if (!c->incremental && space > need)
        need = space;
    /* What a resumed receive has here already counts as received. */
    int64_t have = 0;
    cleanup_free char *top = xasprintf("%s/%s", c->poolname, c->uuid);
    vm_err he = VM_ERR_INIT;
    if (c->pool && !c->incremental && resumes_here(c) && vs_get_int(c->pool, top, "used", &have, &he) == 0 && have > 0)
        need = need > have ? need - have : 0;
    vs_space sp;
    vm_err e = VM_ERR_INIT;
    if (c->pool && vs_pool_space(c->pool, &sp, &e) == 0 && need > 0 && (uint64_t)need > sp.available)
        json_array_append_new(reasons,
                              json_sprintf("not enough space: %lld bytes needed, %llu available", (long long)need,
                                           (unsigned long long)sp.available));
    return reasons;
}

/* Reads the records of an object already here, up to its OBJECT_END. */
static int skip_object(vs_stream_reader *r, vm_err *err)
{
    vs_stream_rec rec;
    for (;;) {
        int k = vs_stream_next(r, &rec, err);
        if (k <= 0)
            return k < 0 ? -1 : bad(err, "object not ended");
        if (rec.type == VS_REC_OBJECT_END)
            return 0;
    }
}

/* Every object, then END.  *skipped counts objects already received:
 * left out by the sender ("present", checked here) or sent again. */
static int receive_objects(recv_ctx *c, vs_stream_reader *r, int flags, size_t *done, size_t *skipped, vm_err *err)
{
    /* From here the pipe is drained while a record is verified (the fd is
     * the receiver's standard input, which carries only the stream) — not
     * before: until the VM's lock is ours a sender waits on a full pipe. */
    if (!c->ahead && (c->ahead = vs_fdq_reader(c->fd)))
        vs_stream_reader_set_source(r, vs_fdq_read, c->ahead);
    vs_stream_rec rec;
    size_t n = json_array_size(c->objects);
    for (size_t i = 0;; i++) {
        for (; i < n && json_is_true(json_object_get(json_array_get(c->objects, i), "present")); i++) {
            json_t *o = json_array_get(c->objects, i);
            cleanup_free char *name = target_name(c, o);
            cleanup_free char *full = xasprintf("%s@%s", name, json_string_value(json_object_get(o, "snapshot")));
            if (!vs_exists(c->pool, full))
                return vm_err_set(err, VMERR_INVALID, "invalid stream: %s is left out as received, but it is not here",
                                  full);
            (*skipped)++;
        }
        int k = vs_stream_next(r, &rec, err);
        if (k < 0)
            return -1;
        if (k == 0)
            return i == n ? 0 : bad(err, "fewer objects than the header lists");
        if (rec.type != VS_REC_OBJECT || i >= n)
            return bad(err, "unexpected record");
        json_t *o = json_array_get(c->objects, i);
        const char *sn = json_string_value(json_object_get(o, "snapshot"));
        if (strcmp(json_string_value(json_object_get(rec.json, "snapshot")) ?: "", sn) != 0)
            return bad(err, "object differs from the header");
        cleanup_free char *name = target_name(c, o);
        cleanup_free char *full = xasprintf("%s@%s", name, sn);
        if (vs_exists(c->pool, full)) {
            if (skip_object(r, err) < 0)
                return -1;
            (*skipped)++;
            continue;
        }
        /* The descriptor is the storage's; origin is re-checked there, the
         * dataset name is ours. */
        if (vs_receive(c->pool, name, r, rec.json, (flags & MIG_RECV_RESUMABLE) ? VS_RECV_RESUMABLE : 0, err) < 0)
            return -1;
        (*done)++;
    }
}

/* Per object of the header: here already, or where a partial receive of
 * it stands — only where the receive would go on from there. */
static json_t *resume_report(recv_ctx *c)
{
    json_t *out = json_array();
    if (!c->pool || !resumes_here(c))
        return out;
    size_t i;
    json_t *o;
    json_array_foreach(c->objects, i, o) {
        cleanup_free char *name = target_name(c, o);
        const char *sn = json_string_value(json_object_get(o, "snapshot"));
        cleanup_free char *full = xasprintf("%s@%s", name, sn);
        json_t *e = json_pack("{s:O,s:s}", "dataset", json_object_get(o, "dataset"), "snapshot", sn);
        cleanup_json json_t *st = NULL;
        vs_resume_state(c->pool, name, &st);
        if (vs_exists(c->pool, full))
            json_object_set_new(e, "have", json_true());
        else if (st && json_equal(json_object_get(st, "guid"), json_object_get(o, "guid")) &&
                 !strcmp(json_string_value(json_object_get(st, "snapshot")) ?: "", sn))
            json_object_set(e, "offset", json_object_get(st, "offset"));
        json_array_append_new(out, e);
    }
    return out;
}

/* The VM's quota and reservation as a create sets them.  The snapshots a
 * stream brings (a migration's transfer snapshots of thick volumes) may
 * use more than that quota already — as they do at the source, where
 * they were taken after the quota was set, which ZFS's rules (and ours)
 * allow but a quota set afterwards below the use does not: then the VM
 * has no quota until the transfer snapshots go (mig_target_cleanup at
 * --finalize applies the rule again). */
int mig_space_apply(const vm_ctx *ctx, vs_pool *pool, json_t *cfg, vm_err *err)
{
    vm_err e = VM_ERR_INIT;
    if (vm_space_apply(ctx, pool, cfg, &e) == 0)
        return 0;
    const char *uuid = json_string_value(json_object_get(cfg, "uuid"));
    cleanup_free char *ds = xasprintf("%s/%s", vs_pool_name(pool), uuid);
    if (vs_set(pool, ds, "quota", "none", err) < 0)
        return -1;
    vm_log(ctx, "warn", "VM %s: no quota until its transfer snapshots go (%s)", uuid, e.msg);
    return 0;
}

/* The header's dataset properties (refreservation of volumes): numbers
 * for datasets of this VM only. */
static int apply_props(recv_ctx *c, vm_err *err)
{
    const char *rel;
    json_t *p;
    json_object_foreach(json_object_get(c->header, "props"), rel, p) {
        json_int_t rr = json_integer_value(json_object_get(p, "refreservation"));
        if (!mig_valid_rel(rel) || rr <= 0)
            continue;
        cleanup_free char *name = xasprintf("%s/%s%s%s", c->poolname, c->uuid, *rel ? "/" : "", rel);
        char buf[32];
        snprintf(buf, sizeof buf, "%lld", (long long)rr);
        if (vs_exists(c->pool, name) && vs_set(c->pool, name, "refreservation", buf, err) < 0)
            return -1;
    }
    return 0;
}

/* The config as this host stores it: each disk's path is its view here. */
static json_t *local_config(recv_ctx *c)
{
    json_t *cfg = json_deep_copy(c->config);
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(cfg, "disks"), i, d) {
        const char *z = json_string_value(json_object_get(d, "zfs_filesystem"));
        if (z && json_object_get(d, "path")) {
            cleanup_free char *view = vm_rawview_path(c->ctx, z);
            json_object_set_new(d, "path", json_string(view));
        }
    }
    return cfg;
}

static bool carries_zone_dataset(recv_ctx *c)
{
    size_t i;
    json_t *o;
    json_array_foreach(c->objects, i, o)
        if (!strcmp(json_string_value(json_object_get(o, "dataset")) ?: "-", ""))
            return true;
    return false;
}

static int receive_full(recv_ctx *c, vs_stream_reader *r, int flags, size_t *done, size_t *skipped, vm_err *err)
{
    cleanup_lock vm_lock lk = VM_LOCK_INIT;
    /* A receive killed earlier left its staging directory and datasets:
     * rolled back first (the store's rule for interrupted creates) —
     * unless it was resumable: then resumed if this stream goes on from
     * it (the same transfer snapshot), discarded otherwise. */
    vm_err re = VM_ERR_INIT;
    vm_store_repair(c->ctx, &re);
    if (vm_lock_acquire(c->ctx, c->uuid, -1, &lk, err) < 0)
        return -1;
    if (vm_store_exists(c->ctx, c->uuid))
        return vm_err_set(err, VMERR_EXISTS, "VM with UUID %s already exists", c->uuid);
    bool resumable = flags & MIG_RECV_RESUMABLE;
    const char *snap = json_string_value(json_object_get(c->header, "snapshot"));
    cleanup_free char *staged = staged_snapshot(c);
    bool resuming = resumable && staged && snap && !strcmp(staged, snap);
    cleanup_free char *staging = vm_store_staging_dir(c->ctx, c->uuid);
    if (!resuming && staged && vm_store_discard_staging(c->ctx, c->uuid, err) < 0)
        return -1;
    if (!resuming)
        rm_rf(staging, NULL);
    if (vm_store_private_dir(staging, err) < 0)
        return -1;
    cleanup_free char *mpath = xasprintf("%s/vm.json", staging);
    cleanup_free char *rpath = xasprintf("%s/" VM_STORE_RESUME_FILE, staging);
    cleanup_json json_t *marker = json_pack("{s:s,s:s}", "uuid", c->uuid, "zpool", c->poolname);
    cleanup_json json_t *rmark = json_pack("{s:s?}", "snapshot", snap);
    int rc = vm_store_write_json(mpath, marker, err);
    if (rc == 0 && resumable && snap)
        rc = vm_store_write_json(rpath, rmark, err);
    if (rc == 0)
        rc = receive_objects(c, r, flags, done, skipped, err);
    cleanup_json json_t *cfg = local_config(c);
    if (flags & MIG_RECV_HIDDEN)
        json_object_set_new(cfg, "do_not_inventory", json_true());
    cleanup_free char *zonepath = vm_store_zonepath(c->ctx, c->poolname, c->uuid);
    if (rc == 0)
        rc = apply_props(c, err);
    if (rc == 0) {
        /* The space rule reads the uuid, which vm.json does not hold. */
        cleanup_json json_t *sc = json_dup(cfg);
        json_object_set_new(sc, "uuid", json_string(c->uuid));
        rc = mig_space_apply(c->ctx, c->pool, sc, err);
    }
    /* The VM's own dataset carries config/ (metadata, tags, routes) as it
     * was at the snapshot; written again only if the stream lacks it. */
    if (rc == 0 && !carries_zone_dataset(c))
        rc = vm_write_meta(zonepath, c->meta, err);
    if (rc == 0)
        rc = vm_store_write_json(mpath, cfg, err);
    if (rc == 0 && resumable && unlink(rpath) < 0 && errno != ENOENT)
        rc = vm_err_sys(err, errno, "cannot remove %s", rpath);
    if (rc == 0)
        rc = vm_store_commit_create(c->ctx, c->uuid, err);
    if (rc < 0 && resumable && path_exists(rpath)) {
        vm_log(c->ctx, "info", "VM %s: receive interrupted, kept to resume (vmadm receive -A %s discards it)", c->uuid,
               c->uuid);
        return -1;
    }
    if (rc < 0) {
        vm_err e2 = VM_ERR_INIT;
        cleanup_free char *ds = xasprintf("%s/%s", c->poolname, c->uuid);
        if (vs_exists(c->pool, ds))
            vs_destroy(c->pool, ds, VS_RECURSIVE | VS_FORCE, &e2);
        rm_rf(staging, NULL);
        return -1;
    }
    vm_log(c->ctx, "info", "VM %s received (brand %s)", c->uuid, c->brand);
    return 0;
}

static int receive_incremental(recv_ctx *c, vs_stream_reader *r, int flags, size_t *done, size_t *skipped, vm_err *err)
{
    cleanup_lock vm_lock lk = VM_LOCK_INIT;
    cleanup_json json_t *cur = NULL;
    if (vm_lock_acquire(c->ctx, c->uuid, -1, &lk, err) < 0 || vm_load_locked(c->ctx, c->uuid, &cur, err) < 0)
        return -1;
    vm_runstate rs;
    vm_runtime_state(c->ctx, c->brand, c->uuid, &rs);
    if (rs.running)
        return vm_err_set(err, VMERR_STATE, "VM %s is running: stop it before receiving an incremental stream",
                          c->uuid);
    if (receive_objects(c, r, flags, done, skipped, err) < 0)
        return -1;
    cleanup_json json_t *cfg = local_config(c);
    json_t *dni = json_object_get(cur, "do_not_inventory");
    if (dni)
        json_object_set(cfg, "do_not_inventory", dni);
    else
        json_object_del(cfg, "do_not_inventory");
    cleanup_txn vm_txn *t = vm_txn_new();
    cleanup_free char *zonepath = vm_store_zonepath(c->ctx, c->poolname, c->uuid);
    /* Only vm.json: the metadata came with the VM's dataset, which must
     * stay as received for the next incremental. */
    vm_txn_write_vm(t, c->ctx, c->uuid, cfg, carries_zone_dataset(c) ? NULL : zonepath, c->meta);
    return vm_txn_commit(c->ctx, c->uuid, t, err);
}

int mig_receive(const vm_ctx *ctx, int fd, int flags, json_t **report, vm_err *err)
{
    vs_stream_reader *r = NULL;
    json_t *header = NULL;
    if (vs_stream_reader_open(vs_stream_fd_read, &fd, &r, &header, err) < 0)
        return -1;
    /* The reader's header lives until its next record: keep our own. */
    cleanup_json json_t *hdr = json_incref(header);
    recv_ctx c = { .ctx = ctx, .header = hdr, .fd = fd };
    int rc = check_header(&c, err);
    vm_err pe = VM_ERR_INIT;
    if (rc == 0 && (!strcmp(c.poolname, ctx->pool) || vs_pool_exists(ctx, c.poolname)) &&
        vs_pool_open(ctx, c.poolname, &c.pool, &pe) < 0)
        c.pool = NULL;
    cleanup_json json_t *reasons =
        rc == 0 ? run_checks(&c, json_is_true(json_object_get(header, "allow_older"))) : NULL;
    if (rc == 0 && (flags & MIG_RECV_CHECK)) {
        if (report) {
            vs_space sp = { 0 };
            vm_err e2 = VM_ERR_INIT;
            if (c.pool)
                vs_pool_space(c.pool, &sp, &e2);
            cleanup_free char *qv = mig_qemu_version();
            *report = json_pack("{s:s,s:b,s:O,s:I,s:s?,s:o}", "uuid", c.uuid, "ok", json_array_size(reasons) == 0,
                                "reasons", reasons, "space_available", (json_int_t)sp.available, "qemu_version", qv,
                                "resume", resume_report(&c));
        }
    } else if (rc == 0 && json_array_size(reasons)) {
        rc = vm_err_set(err, VMERR_INVALID, "cannot receive VM %s: %s", c.uuid,
                        json_string_value(json_array_get(reasons, 0)));
    } else if (rc == 0) {
        size_t done = 0, skipped = 0;
        rc = c.incremental                     ? receive_incremental(&c, r, flags, &done, &skipped, err)
            : all_present(&c) && holds_all(&c) ? receive_objects(&c, r, flags, &done, &skipped, err)
                                               : receive_full(&c, r, flags, &done, &skipped, err);
        if (rc == 0 && report)
            *report = json_pack("{s:s,s:b,s:I,s:I,s:I}", "uuid", c.uuid, "incremental", c.incremental, "objects",
                                (json_int_t)done, "skipped", (json_int_t)skipped, "bytes",
                                (json_int_t)vs_stream_reader_bytes(r));
    }
    vs_pool_close(c.pool);
    vs_stream_reader_free(r);
    vs_fdq_close(c.ahead);
    return rc;
}

int mig_receive_abort(const vm_ctx *ctx, const char *uuid, vm_err *err)
{
    cleanup_lock vm_lock lk = VM_LOCK_INIT;
    if (!uuid_valid(uuid))
        return vm_err_set(err, VMERR_INVALID, "Invalid UUID: %s", uuid);
    if (vm_lock_acquire(ctx, uuid, -1, &lk, err) < 0)
        return -1;
    cleanup_free char *staging = vm_store_staging_dir(ctx, uuid);
    if (!vm_store_exists(ctx, uuid))
        return path_exists(staging) ? vm_store_discard_staging(ctx, uuid, err) : 0;
    /* A partial incremental: every volume back to its base, every new
     * dataset's partial receive gone. */
    cleanup_json json_t *cfg = NULL;
    cleanup_vs_pool vs_pool *pool = NULL;
    if (mig_open_vm(ctx, uuid, &cfg, &pool, NULL, err) < 0)
        return -1;
    cleanup_free char *top = xasprintf("%s/%s", vs_pool_name(pool), uuid);
    cleanup_json json_t *names = NULL;
    if (vs_list(pool, top, VS_FILESYSTEM | VS_VOLUME, VS_RECURSIVE, &names, err) < 0)
        return -1;
    size_t i;
    json_t *n;
    json_array_foreach(names, i, n) {
        const char *name = json_string_value(n);
        if (str_has_suffix(name, "-vmstore-partial") ? vs_destroy(pool, name, VS_RECURSIVE, err) < 0
                                                     : vs_receive_abort(pool, name, err) < 0)
            return -1;
    }
    return 0;
}
