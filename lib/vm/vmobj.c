/* Builds the VM object `vmadm get` prints from the config store, the storage
 * layer and the runtime.  The stored config already holds the properties in
 * their canonical order; this adds what is derived (state, sizes, paths,
 * metadata, timestamps) without forking anything. */
#include "vm/vmobj.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/units.h"
#include "common/util.h"
#include "storage/storage.h"
#include "vm/props.h"
#include "vm/recover.h"
#include "vm/runtime.h"
#include "vm/store.h"
#include "vm/vm.h"
#include "vm/vm_internal.h"
#include "common/lock.h"

/* Pools opened once per load_all. */
typedef struct pool_cache {
    const vm_ctx *ctx;
    size_t n;
    vs_pool *pools[8];
    unsigned parts; /* VMOBJ_* parts to build */
    char server_uuid[37];
} pool_cache;

static vs_pool *cache_pool(pool_cache *pc, const char *name)
{
    for (size_t i = 0; i < pc->n; i++)
        if (!strcmp(vs_pool_name(pc->pools[i]), name))
            return pc->pools[i];
    if (pc->n == sizeof pc->pools / sizeof pc->pools[0])
        return NULL;
    vs_pool *p = NULL;
    vm_err e = VM_ERR_INIT;
    if (vs_pool_open(pc->ctx, name, &p, &e) < 0)
        return NULL;
    pc->pools[pc->n++] = p;
    return p;
}

static void cache_free(pool_cache *pc)
{
    for (size_t i = 0; i < pc->n; i++)
        vs_pool_close(pc->pools[i]);
    pc->n = 0;
}

static int64_t prop_int(json_t *props, const char *name)
{
    json_t *v = json_object_get(json_object_get(props, name), "value");
    if (json_is_integer(v))
        return json_integer_value(v);
    if (json_is_string(v)) {
        int64_t n;
        if (parse_i64(json_string_value(v), &n))
            return n;
    }
    return -1;
}

static const char *prop_str(json_t *props, const char *name)
{
    json_t *v = json_object_get(json_object_get(props, name), "value");
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static void mtime_max(const char *path, int64_t *max_ms)
{
    struct stat st;
    if (stat(path, &st) == 0) {
        int64_t ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
        if (ms > *max_ms)
            *max_ms = ms;
    }
}

static void add_disk_storage(vs_pool *pool, json_t *disk, int64_t *sum_vol, int64_t *sum_snap)
{
    json_t *zfs = json_object_get(disk, "zfs_filesystem");
    cleanup_json json_t *props = NULL;
    vm_err e = VM_ERR_INIT;

    if (!json_is_string(zfs))
        return;
    static const char *const want[] = { "volsize",         "refreservation", "volblocksize",
                                        "usedbysnapshots", "compression",    NULL };
    if (!pool || vs_get_some(pool, json_string_value(zfs), want, &props, &e) < 0) {
        json_object_set_new(disk, "missing", json_true());
        return;
    }
    int64_t volsize = prop_int(props, "volsize");
    int64_t refres = prop_int(props, "refreservation");
    int64_t bs = prop_int(props, "volblocksize");
    int64_t snaps = prop_int(props, "usedbysnapshots");
    const char *comp = prop_str(props, "compression");
    json_object_set_new(disk, "zpool", json_string(vs_pool_name(pool)));
    if (volsize >= 0) {
        json_object_set_new(disk, "size", json_integer((json_int_t)(volsize / VM_MiB)));
        *sum_vol += volsize;
    }
    json_object_set_new(disk, "compression", json_string(comp ? comp : "off"));
    json_object_set_new(disk, "refreservation",
                        json_integer(refres > 0 ? (json_int_t)ceil((double)refres / VM_MiB) : 0));
    if (bs > 0)
        json_object_set_new(disk, "block_size", json_integer(bs));
    if (snaps > 0)
        *sum_snap += snaps;
}

/* vmsnap-* snapshots of the zone root, newest first (S15). */
static json_t *vm_snapshots(vs_pool *pool, const char *ds)
{
    json_t *out = json_array();
    cleanup_json json_t *names = NULL;
    vm_err e = VM_ERR_INIT;
    if (!pool || vs_list(pool, ds, VS_SNAPSHOT, 0, &names, &e) < 0)
        return out;
    size_t i = json_array_size(names);
    while (i-- > 0) {
        const char *sn = json_string_value(json_array_get(names, i));
        const char *at = strchr(sn, '@');
        if (!at || !str_has_prefix(at + 1, "vmsnap-") || strchr(at + 1, '/'))
            continue;
        if (strncmp(sn, ds, (size_t)(at - sn)) != 0 || strlen(ds) != (size_t)(at - sn))
            continue;
        cleanup_json json_t *props = NULL;
        char ts[32] = "";
        int64_t size = 0;
        static const char *const swant[] = { "creation", "used", NULL };
        if (vs_get_some(pool, sn, swant, &props, &e) == 0) {
            int64_t c = prop_int(props, "creation");
            if (c > 0)
                iso_time_ms(c * 1000, ts);
            size = prop_int(props, "used");
        }
        json_array_append_new(out,
                              json_pack("{s:s,s:I,s:s}", "name", at + 1 + strlen("vmsnap-"), "size",
                                        (json_int_t)(size > 0 ? size / VM_MiB : 0), "created_at", ts));
    }
    return out;
}

static const char *hostinfo_server_uuid(pool_cache *pc)
{
    if (!pc->server_uuid[0]) {
        cleanup_free char *mid = NULL;
        vm_err e = VM_ERR_INIT;
        strcpy(pc->server_uuid, "00000000-0000-0000-0000-000000000000");
        if (read_file("/etc/machine-id", &mid, NULL, &e) == 0 && strlen(mid) >= 32)
            snprintf(pc->server_uuid, 37, "%.8s-%.4s-%.4s-%.4s-%.12s", mid, mid + 8, mid + 12, mid + 16, mid + 20);
    }
    return pc->server_uuid;
}

/* The stored config; an interrupted reprovision or rollback whose owner is
 * gone is finished or undone first, so no reader sees it half done. */
static int load_config(const vm_ctx *ctx, const char *uuid, json_t **cfg, vm_err *err)
{
    if (vm_store_load_config(ctx, uuid, cfg, err) < 0)
        return -1;
    if (vm_has_intents(*cfg)) {
        cleanup_lock vm_lock lk = VM_LOCK_INIT;
        vm_err e2 = VM_ERR_INIT;
        if (vm_lock_try(ctx, uuid, &lk, &e2) == 1) {
            json_decref(*cfg);
            *cfg = NULL;
            if (vm_store_load_config(ctx, uuid, cfg, err) < 0)
                return -1;
            vm_recover_intents(ctx, uuid, *cfg, &e2);
        }
    }
    return 0;
}

/* One VM object being built, in the order its keys are shown. */
typedef struct obj_build {
    const vm_ctx *ctx;
    pool_cache *pc;
    const char *uuid, *brand, *poolname;
    bool hvm;
    vs_pool *pool; /* NULL when the pool cannot be opened */
    const char *zonepath, *ds;
    json_t *cfg; /* stored config */
    json_t *o; /* the object */
    vm_runstate rs;
} obj_build;

/* Config part: the stored properties, without internal bookkeeping. */
static void obj_config(obj_build *b)
{
    json_object_set_new(b->o, "zonename", json_string(b->uuid));
    const char *k;
    json_t *v;
    json_object_foreach(b->cfg, k, v) {
        /* Internal bookkeeping keys start with '_' or are transition markers. */
        if (k[0] == '_' || !strcmp(k, "transition") || !strcmp(k, "provisioning"))
            continue;
        json_object_set(b->o, k, v);
    }
}

/* Runtime and state (O1–O4): asks the runtime once; the state itself is
 * shown later (obj_state). */
static void obj_runtime(obj_build *b)
{
    vm_runtime_state(b->ctx, b->brand, b->uuid, &b->rs);
    json_object_set_new(b->o, "uuid", json_string(b->uuid));
    json_object_set_new(b->o, "zone_state", json_string(b->rs.zone_state));
    json_object_set_new(b->o, "zonepath", json_string(b->zonepath));
    json_object_set_new(b->o, "hvm", json_boolean(b->hvm));
}

/* Storage part, disks and space (O6, D12). */
static void obj_disks(obj_build *b)
{
    int64_t sum_vol = 0, sum_snap = 0;
    if (!b->hvm || !(b->pc->parts & VMOBJ_DISKS))
        return;
    json_t *disks = json_object_get(b->o, "disks");
    json_t *nd = json_array();
    size_t i;
    json_t *d;
    json_array_foreach(disks, i, d) {
        json_t *c = json_dup(d);
        add_disk_storage(b->pool, c, &sum_vol, &sum_snap);
        json_array_append_new(nd, c);
    }
    json_object_set_new(b->o, "disks", nd);
    json_t *fds = json_object_get(b->cfg, "flexible_disk_size");
    if (json_is_integer(fds)) {
        double free_mib = (double)json_integer_value(fds) - (double)sum_vol / VM_MiB - (double)sum_snap / VM_MiB;
        json_object_set_new(b->o, "free_space", json_integer((json_int_t)floor(free_mib)));
    }
}

/* Empty lists for absent ones, the last change to any of the VM's files,
 * and the host. */
static void obj_host(obj_build *b)
{
    json_t *o = b->o;
    if (!json_object_get(o, "nics"))
        json_object_set_new(o, "nics", json_array());

    int64_t lm = 0;
    cleanup_free char *cfgpath = vm_store_config_path(b->ctx, b->uuid);
    cleanup_free char *p1 = xasprintf("%s/config/metadata.json", b->zonepath);
    cleanup_free char *p2 = xasprintf("%s/config/tags.json", b->zonepath);
    cleanup_free char *p3 = xasprintf("%s/config/routes.json", b->zonepath);
    cleanup_free char *p4 = xasprintf("%s/vms/%s/lastexited", b->ctx->run_dir, b->uuid);
    mtime_max(cfgpath, &lm);
    mtime_max(p1, &lm);
    mtime_max(p2, &lm);
    mtime_max(p3, &lm);
    mtime_max(p4, &lm);
    char ts[32];
    iso_time_ms(lm - lm % 1000, ts);
    json_object_set_new(o, "last_modified", json_string(ts));
    if (!json_object_get(o, "resolvers"))
        json_object_set_new(o, "resolvers", json_array());
    if (!json_object_get(o, "firewall_enabled"))
        json_object_set_new(o, "firewall_enabled", json_false());
    json_object_set_new(o, "server_uuid", json_string(hostinfo_server_uuid(b->pc)));
    json_object_set_new(o, "platform_buildstamp", json_string(VMADM_BUILDSTAMP));
}

/* Runtime-state part.  state (O2): transition first, then failed,
 * provisioning, runtime; then the process or its exit. */
static void obj_state(obj_build *b)
{
    json_t *o = b->o;
    const vm_runstate *rs = &b->rs;
    const char *tr = json_string_value(json_object_get(b->cfg, "transition"));
    char tstate[32] = "", tto[32] = "", ts[32];
    long long texp = 0;
    if (tr && sscanf(tr, "%31[^:]:%31[^:]:%lld", tstate, tto, &texp) == 3) {
        json_object_set_new(o, "state", json_string(tstate));
        json_object_set_new(o, "transition_to", json_string(tto));
        json_object_set_new(o, "transition_expire", json_integer(texp));
    } else if (json_object_get(b->cfg, "failed")) {
        json_object_set_new(o, "state", json_string("failed"));
    } else if (rs->running) {
        json_object_set_new(o, "state", json_string(!strcmp(rs->zone_state, "running") ? "running" : rs->zone_state));
    } else {
        json_object_set_new(o, "state", json_string("stopped"));
    }
    if (rs->running) {
        json_object_set_new(o, "pid", json_integer(rs->pid));
        if (rs->boot_ms > 0) {
            iso_time_ms(rs->boot_ms, ts);
            json_object_set_new(o, "boot_timestamp", json_string(ts));
        }
        if (rs->accel[0])
            json_object_set_new(o, "accel", json_string(rs->accel));
        if (rs->warning[0])
            json_object_set_new(o, "warning", json_string(rs->warning));
    } else if (rs->has_exit) {
        json_object_set_new(o, "exit_status", json_integer(rs->exit_status));
        iso_time_ms(rs->exit_ms, ts);
        json_object_set_new(o, "exit_timestamp", json_string(ts));
    }
    /* A migration's last progress event (lib/migrate writes it; vminfod
     * sees the file change and sends the VM's modify event). */
    cleanup_free char *rundir = vm_ctx_vm_rundir(b->ctx, b->uuid);
    cleanup_free char *mpath = xasprintf("%s/migration.json", rundir);
    json_t *mig = json_load_file(mpath, 0, NULL);
    if (json_is_object(mig))
        json_object_set_new(o, "migration", mig);
    else
        json_decref(mig);
}

/* Metadata part: empty when not asked for; a damaged file is shown empty. */
static void obj_metadata(obj_build *b)
{
    cleanup_json json_t *meta = NULL;
    vm_err me = VM_ERR_INIT;
    if (!(b->pc->parts & VMOBJ_META))
        meta = json_pack("{s:{},s:{},s:{},s:{}}", "customer_metadata", "internal_metadata", "routes", "tags");
    else if (vm_store_load_meta(b->zonepath, &meta, &me) < 0)
        vm_log(b->ctx, "warn", "VM %s: %s (shown empty)", b->uuid, me.msg);
    json_object_set(b->o, "customer_metadata", json_object_get(meta, "customer_metadata"));
    json_object_set(b->o, "internal_metadata", json_object_get(meta, "internal_metadata"));
    json_object_set(b->o, "routes", json_object_get(meta, "routes"));
    json_object_set(b->o, "tags", json_object_get(meta, "tags"));
}

/* Storage part, the root dataset (D10): quota is refquota for bhyve/kvm,
 * quota otherwise; then the snapshots. */
static void obj_root_dataset(obj_build *b)
{
    json_t *o = b->o;
    cleanup_json json_t *rprops = NULL;
    vm_err e2 = VM_ERR_INIT;
    static const char *const rwant[] = { "quota", "refquota", NULL };
    if (b->pool && vs_get_some(b->pool, b->ds, rwant, &rprops, &e2) == 0) {
        int64_t q = prop_int(rprops, b->hvm ? "refquota" : "quota");
        if (q > 0)
            json_object_set_new(o, "quota", json_integer((json_int_t)(q / VM_GiB)));
        json_object_set_new(o, "zfs_filesystem", json_string(b->ds));
        json_object_set_new(o, "zpool", json_string(b->poolname));
        /* indestructible_* are holds on @indestructible snapshots (§7.2). */
        if (b->pc->parts & VMOBJ_HOLDS) {
            if (vm_is_indestructible(b->pool, b->ds))
                json_object_set_new(o, "indestructible_zoneroot", json_true());
            cleanup_free char *data = xasprintf("%s/data", b->ds);
            if (vm_is_indestructible(b->pool, data))
                json_object_set_new(o, "indestructible_delegated", json_true());
        }
    } else {
        json_object_set_new(o, "zfs_filesystem", json_string(b->ds));
        json_object_set_new(o, "zpool", json_string(b->poolname));
    }
    json_object_set_new(o, "snapshots", (b->pc->parts & VMOBJ_SNAPSHOTS) ? vm_snapshots(b->pool, b->ds) : json_array());
}

static int build_obj(const vm_ctx *ctx, pool_cache *pc, const char *uuid, json_t **out, vm_err *err)
{
    cleanup_json json_t *cfg = NULL;
    if (load_config(ctx, uuid, &cfg, err) < 0)
        return -1;
    obj_build b = { .ctx = ctx, .pc = pc, .uuid = uuid, .cfg = cfg };
    b.brand = json_string_value(json_object_get(cfg, "brand"));
    b.poolname = json_string_value(json_object_get(cfg, "zpool"));
    if (!b.brand)
        return vm_err_set(err, VMERR_INTERNAL, "VM %s has a config without brand", uuid);
    if (!b.poolname)
        b.poolname = ctx->pool;
    b.hvm = vm_brand_is_hvm(b.brand);
    b.pool = cache_pool(pc, b.poolname);
    cleanup_free char *zonepath = vm_store_zonepath(ctx, b.poolname, uuid);
    cleanup_free char *ds = xasprintf("%s/%s", b.poolname, uuid);
    b.zonepath = zonepath;
    b.ds = ds;

    b.o = json_object();
    obj_config(&b);
    obj_runtime(&b);
    obj_disks(&b);
    obj_host(&b);
    obj_state(&b);
    obj_metadata(&b);
    obj_root_dataset(&b);
    *out = b.o;
    return 0;
}

int vmobj_load(const vm_ctx *ctx, const char *uuid, json_t **out, vm_err *err)
{
    pool_cache pc = { .ctx = ctx, .parts = VMOBJ_ALL };
    if (!uuid_valid(uuid) || !vm_store_exists(ctx, uuid))
        return vm_err_set(err, VMERR_NOTFOUND, "VM %s not found", uuid);
    int r = build_obj(ctx, &pc, uuid, out, err);
    cache_free(&pc);
    return r;
}

int vmobj_list_uuids(const vm_ctx *ctx, json_t **out, vm_err *err)
{
    return vm_store_list(ctx, out, err);
}

int vmobj_load_all(const vm_ctx *ctx, json_t **out, vm_err *err)
{
    return vmobj_load_all_parts(ctx, VMOBJ_ALL, out, err);
}

unsigned vmobj_parts_for(const char *const *fields)
{
    unsigned p = 0;
    if (!fields)
        return VMOBJ_ALL;
    for (size_t i = 0; fields[i]; i++) {
        const char *f = fields[i];
        size_t n = strcspn(f, ".");
        if (!strncmp(f, "disks", n) || !strncmp(f, "free_space", n))
            p |= VMOBJ_DISKS;
        else if (!strncmp(f, "customer_metadata", n) || !strncmp(f, "internal_metadata", n) || !strncmp(f, "tags", n) ||
                 !strncmp(f, "routes", n))
            p |= VMOBJ_META;
        else if (!strncmp(f, "snapshots", n))
            p |= VMOBJ_SNAPSHOTS;
        else if (!strncmp(f, "indestructible_zoneroot", n) || !strncmp(f, "indestructible_delegated", n))
            p |= VMOBJ_HOLDS;
    }
    return p;
}

int vmobj_load_each(const vm_ctx *ctx, unsigned parts, vmobj_want_fn want, vmobj_each_fn fn, void *arg, vm_err *err)
{
    pool_cache pc = { .ctx = ctx, .parts = parts };
    cleanup_json json_t *uuids = NULL;
    if (vm_store_list(ctx, &uuids, err) < 0)
        return -1;
    size_t i;
    json_t *u;
    int r = 0;
    json_array_foreach(uuids, i, u) {
        const char *uuid = json_string_value(u);
        json_t *o = NULL;
        vm_err e = VM_ERR_INIT;
        if (want && !want(arg, uuid))
            continue;
        /* A VM deleted between the readdir and its load simply drops out. */
        if (build_obj(ctx, &pc, uuid, &o, &e) == 0 && fn(arg, uuid, o) < 0) {
            r = -1;
            break;
        }
    }
    cache_free(&pc);
    return r;
}

static int append_vm(void *arg, const char *uuid, json_t *vm)
{
    (void)uuid;
    return json_array_append_new(arg, vm);
}

int vmobj_load_all_parts(const vm_ctx *ctx, unsigned parts, json_t **out, vm_err *err)
{
    json_t *arr = json_array();
    if (vmobj_load_each(ctx, parts, NULL, append_vm, arr, err) < 0) {
        json_decref(arr);
        return -1;
    }
    *out = arr;
    return 0;
}

json_t *vmobj_watch_paths(const vm_ctx *ctx, const char *uuid)
{
    json_t *a = json_array();
    cleanup_free char *dir = vm_store_dir(ctx, uuid);
    cleanup_free char *cfg = vm_store_config_path(ctx, uuid);
    cleanup_free char *rundir = vm_ctx_vm_rundir(ctx, uuid);
    cleanup_json json_t *c = NULL;
    vm_err e = VM_ERR_INIT;
    const char *pool = ctx->pool;
    if (read_json_file(cfg, &c, &e) == 0 && json_is_string(json_object_get(c, "zpool")))
        pool = json_string_value(json_object_get(c, "zpool"));
    cleanup_free char *zp = vm_store_zonepath(ctx, pool, uuid);
    json_array_append_new(a, json_string(dir));
    json_array_append_new(a, json_string(cfg));
    json_array_append_new(a, json_pack("s+", zp, "/config"));
    json_array_append_new(a, json_string(rundir));
    /* pool.json itself: dataset properties (quota, sizes) live there. */
    json_array_append_new(a, json_pack("s+s+s+", ctx->root, "/var/vmstore/", pool, "/pool.json"));
    return a;
}
