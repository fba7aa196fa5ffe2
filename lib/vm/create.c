/* vmadm create: every check first, then storage under a staging directory,
 * then one rename commits the VM (store.h). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/lock.h"
#include "common/units.h"
#include "common/util.h"
#include "image/image.h"
#include "storage/storage.h"
#include "vm/defaults.h"
#include "vm/disks.h"
#include "vm/props.h"
#include "vm/store.h"
#include "vm/validate.h"
#include "vm/vm.h"
#include "vm/vm_internal.h"

/* The order vm.json (and so `vmadm get`) keeps properties in (O8). */
static const char *const cfg_order[] = {
    "autoboot",
    "brand",
    "limit_priv",
    "v",
    "create_timestamp",
    "cpu_shares",
    "cpu_cap",
    "max_lwps",
    "max_msg_ids",
    "max_sem_ids",
    "max_shm_ids",
    "max_shm_memory",
    "zfs_io_priority",
    "max_physical_memory",
    "max_locked_memory",
    "max_swap",
    "tmpfs",
    "billing_id",
    "owner_uuid",
    "alias",
    "hostname",
    "dns_domain",
    "image_uuid",
    "kernel_version",
    "package_name",
    "package_version",
    "ram",
    "vcpus",
    "cpu_type",
    "bootrom",
    "boot",
    "disk_driver",
    "nic_driver",
    "vnc_port",
    "vnc_password",
    "qemu_extra_opts",
    "flexible_disk_size",
    "disks",
    "nics",
    "datasets",
    "com1",
    "com2",
    "zlog_mode",
    "zlog_name",
    "resolvers",
    "firewall_enabled",
    "do_not_inventory",
    "archive_on_delete",
    "maintain_resolvers",
    "mdata_exec_timeout",
    "quota",
    "zfs_root_compression",
    "zfs_root_recsize",
    "zpool",
    NULL,
};

json_t *vm_cfg_canonical(json_t *cfg)
{
    json_t *o = json_object();
    for (size_t i = 0; cfg_order[i]; i++) {
        json_t *v = json_object_get(cfg, cfg_order[i]);
        if (v && !json_is_null(v))
            json_object_set(o, cfg_order[i], v);
    }
    const char *k;
    json_t *v;
    json_object_foreach(cfg, k, v)
        if (!json_object_get(o, k) && !json_is_null(v))
            json_object_set(o, k, v);
    return o;
}

static const char *const meta_keys[] = { "customer_metadata", "internal_metadata", "tags", "routes", NULL };

/* NICs get a MAC, an interface name and a primary flag (V14). */
static int prepare_nics(const vm_ctx *ctx, json_t *cfg, vm_err *err)
{
    json_t *nics = json_object_get(cfg, "nics");
    const char *brand = json_string_value(json_object_get(cfg, "brand"));
    /* HVM brands' NICs are emulated devices: they need a model. */
    bool hvm = vm_brand_is_hvm(brand);
    const char *driver = json_string_value(json_object_get(cfg, "nic_driver"));
    size_t i, primaries = 0;
    json_t *n;

    json_array_foreach(nics, i, n) {
        json_t *p = json_object_get(n, "primary");
        if (p && !json_is_true(p)) {
            cleanup_free char *s = json_compact(p);
            return vm_err_set(err, VMERR_INVALID, "invalid value for NIC's primary flag: %s (must be true)", s);
        }
        if (p)
            primaries++;
    }
    if (primaries > 1)
        return vm_err_set(err, VMERR_INVALID, "payload specifies more than 1 primary NIC");
    if (hvm && json_array_size(nics) > VM_MAX_HVM_NICS)
        return vm_err_set(err, VMERR_INVALID, "VM would have %zu NICs, but is limited to %d", json_array_size(nics),
                          VM_MAX_HVM_NICS);
    json_array_foreach(nics, i, n) {
        cleanup_free char *given = json_compact(n);
        if (hvm && !json_object_get(n, "model") && !driver)
            return vm_err_set(err, VMERR_INVALID, "missing .model option for NIC: %s", given);
        if (vm_nic_check(ctx, n, err) < 0 || vm_nic_normalize(n, err) < 0)
            return -1;
        if (!json_object_get(n, "interface")) {
            char ifn[16];
            vm_nic_free_interface(nics, vm_nic_interface_prefix(brand), ifn);
            json_object_set_new(n, "interface", json_string(ifn));
        }
        if (!json_object_get(n, "mac")) {
            char mac[18];
            vm_random_mac(mac);
            json_object_set_new(n, "mac", json_string(mac));
        }
        if (hvm && !json_object_get(n, "model")) {
            if (!driver) {
                cleanup_free char *s = json_compact(n);
                return vm_err_set(err, VMERR_INVALID, "missing .model option for NIC: %s", s);
            }
            json_object_set_new(n, "model", json_string(driver));
        }
        if (!primaries && i == 0)
            json_object_set_new(n, "primary", json_true());
        for (size_t j = 0; j < i; j++) {
            const char *a = json_string_value(json_object_get(json_array_get(nics, j), "mac"));
            const char *b = json_string_value(json_object_get(n, "mac"));
            if (a && b && !strcasecmp(a, b))
                return vm_err_set(err, VMERR_INVALID, "Cannot add multiple NICs with the same MAC: %s", b);
        }
    }
    return 0;
}

static const char *zoneroot_type(const char *brand)
{
    return !strcmp(brand, "lx") ? "lx-dataset" : "zone-dataset";
}

/* Creates every dataset; on failure destroys what it made. */
static int create_storage(const vm_ctx *ctx, vs_pool *pool, json_t *cfg, json_t *plan, vm_err *err)
{
    const char *uuid = json_string_value(json_object_get(cfg, "uuid"));
    const char *brand = json_string_value(json_object_get(cfg, "brand"));
    const char *poolname = vs_pool_name(pool);
    /* The brand's storage layout rule: HVM brands get disks, the others a zone root. */
    bool hvm = vm_brand_is_hvm(brand);
    cleanup_free char *ds = xasprintf("%s/%s", poolname, uuid);
    long long quota_gib = json_integer_value(json_object_get(cfg, "quota"));
    size_t i;
    json_t *pe;

    if (hvm) {
        cleanup_json json_t *props = json_object();
        if (quota_gib > 0)
            json_object_set_new(props, "refquota", json_integer(quota_gib * VM_GiB));
        if (vs_create_fs(pool, ds, props, err) < 0)
            return -1;
    } else {
        const char *image = json_string_value(json_object_get(cfg, "image_uuid"));
        cleanup_free char *snap = xasprintf("%s/%s@final", poolname, image);
        cleanup_json json_t *props = json_object();
        if (quota_gib > 0)
            json_object_set_new(props, "quota", json_integer(quota_gib * VM_GiB));
        if (vs_clone(pool, snap, ds, props, err) < 0)
            return -1;
        if (json_array_size(json_object_get(cfg, "datasets")) > 0) {
            cleanup_free char *data = xasprintf("%s/data", ds);
            if (vs_create_fs(pool, data, NULL, err) < 0)
                goto fail;
        }
    }
    json_array_foreach(plan, i, pe) {
        const char *name = json_string_value(json_object_get(pe, "dataset"));
        const char *origin = json_string_value(json_object_get(pe, "origin"));
        json_t *props = json_object_get(pe, "props");
        uint64_t volsize = (uint64_t)json_integer_value(json_object_get(pe, "volsize"));
        if (!name)
            continue;
        if (origin) {
            cleanup_json json_t *p = json_dup(props);
            json_object_set_new(p, "volsize", json_integer((json_int_t)volsize));
            if (vs_clone(pool, origin, name, p, err) < 0)
                goto fail;
        } else if (vs_create_vol(pool, name, volsize, props, err) < 0) {
            goto fail;
        }
    }
    if (vm_space_apply(ctx, pool, cfg, err) < 0)
        goto fail;
    if (json_is_true(json_object_get(cfg, "indestructible_zoneroot")) && vm_set_indestructible(pool, ds, true, err) < 0)
        goto fail;
    if (json_is_true(json_object_get(cfg, "indestructible_delegated")) &&
        json_array_size(json_object_get(cfg, "datasets")) > 0) {
        cleanup_free char *data = xasprintf("%s/data", ds);
        if (vm_set_indestructible(pool, data, true, err) < 0)
            goto fail;
    }
    return 0;
fail:;
    vm_err e2 = VM_ERR_INIT;
    if (vs_exists(pool, ds))
        vs_destroy(pool, ds, VS_RECURSIVE | VS_FORCE, &e2);
    return -1;
}

/* Everything vm_create decided and built; plan_free releases it. */
typedef struct create_plan {
    json_t *cfg; /* the payload, completed into the stored config (borrowed) */
    const char *uuid, *brand, *poolname;
    vs_pool *pool;
    json_t *plan; /* disk storage actions (disks.h) */
    json_t *meta; /* metadata, split off the config */
    json_t *canon; /* the config as vm.json stores it */
    char *staging, *mpath;
    bool staged; /* the staging directory exists: a failure removes it */
} create_plan;

static void plan_free(create_plan *p)
{
    vs_pool_close(p->pool);
    json_decref(p->plan);
    json_decref(p->meta);
    json_decref(p->canon);
    free(p->staging);
    free(p->mpath);
}

/* The payload's own rules: uuid, brand, validation (nothing looked up yet
 * but whether the uuid is taken). */
static int check_payload(const vm_ctx *ctx, create_plan *p, char uuid_out[37], vm_err *err)
{
    json_t *payload = p->cfg;
    if (vm_payload_normalize(payload, "create", err) < 0)
        return -1;
    json_t *pu = json_object_get(payload, "uuid");
    if (json_is_string(pu) && uuid_valid(json_string_value(pu)))
        snprintf(uuid_out, 37, "%s", json_string_value(pu));
    else if (!pu)
        uuid_new(uuid_out);
    if (uuid_out[0] && vm_store_exists(ctx, uuid_out))
        return vm_err_set(err, VMERR_EXISTS, "VM with UUID %s already exists", uuid_out);

    if (!json_object_get(payload, "brand"))
        json_object_set_new(payload, "brand", json_string("joyent"));
    p->brand = json_string_value(json_object_get(payload, "brand"));
    if (!p->brand)
        return vm_err_set(err, VMERR_INVALID, "Invalid value(s) for: brand");
    if (!vm_brand_bit(p->brand))
        return vm_err_set(err, VMERR_INVALID, "Unsupported brand: %s", p->brand);
    /* flexible_disk_size only means something for bhyve; SmartOS drops it
     * silently elsewhere (issue: flexible disks §5). */
    if (strcmp(p->brand, "bhyve") != 0)
        json_object_del(payload, "flexible_disk_size");
    cleanup_json json_t *verr = vm_validate(p->brand, "create", payload);
    if (vm_validate_err(verr, p->brand, "create", err) < 0)
        return -1;
    /* A null alias means "no alias" (V20). */
    if (json_is_null(json_object_get(payload, "alias")))
        json_object_del(payload, "alias");
    json_t *vp = json_object_get(payload, "vnc_password");
    if (json_is_string(vp) && strlen(json_string_value(vp)) > 8)
        return vm_err_set(err, VMERR_INVALID, "VNC password is too long, maximum length is 8 characters.");
    return 0;
}

/* Disks (HVM) or the delegated dataset (containers), then the space check. */
static int plan_storage(const vm_ctx *ctx, create_plan *p, vm_err *err)
{
    json_t *cfg = p->cfg;
    /* The brand's storage layout rule: HVM brands get disks, the others a zone root. */
    if (vm_brand_is_hvm(p->brand)) {
        json_t *disks = json_object_get(cfg, "disks");
        cleanup_json json_t *pdisks = disks ? json_incref(disks) : json_array();
        json_object_set_new(cfg, "disks", json_array());
        if (vm_disks_plan_add(ctx, cfg, pdisks, &p->plan, err) < 0)
            return -1;
        json_t *nd = json_array();
        size_t i;
        json_t *pe;
        json_array_foreach(p->plan, i, pe)
            json_array_append(nd, json_object_get(pe, "disk"));
        json_object_set_new(cfg, "disks", nd);
    } else {
        p->plan = json_array();
        if (json_is_true(json_object_get(cfg, "delegate_dataset"))) {
            cleanup_free char *data = xasprintf("%s/%s/data", p->poolname, p->uuid);
            json_object_set_new(cfg, "datasets", json_pack("[s]", data));
        }
    }
    return vm_space_check_create(ctx, p->pool, cfg, p->plan, err);
}

/* Defaults, pool, image, NICs and storage: the whole VM, checked; nothing
 * is written. */
static int plan_create(const vm_ctx *ctx, create_plan *p, vm_err *err)
{
    json_t *cfg = p->cfg;
    vm_apply_defaults(cfg, ctx->pool);
    vm_fix_memory_create(cfg);
    json_object_set_new(cfg, "uuid", json_string(p->uuid));
    p->poolname = json_string_value(json_object_get(cfg, "zpool"));
    if (strcmp(p->poolname, ctx->pool) != 0 && !vs_pool_exists(ctx, p->poolname))
        return vm_err_set(err, VMERR_INVALID, "Invalid value(s) for: zpool");
    if (vs_pool_open(ctx, p->poolname, &p->pool, err) < 0)
        return -1;

    /* Zone root image (V6). */
    const char *image = json_string_value(json_object_get(cfg, "image_uuid"));
    /* The brand's storage layout rule: only a zone root is cloned from the image. */
    if (image && !vm_brand_is_hvm(p->brand)) {
        cleanup_json json_t *man = NULL;
        vm_err e2 = VM_ERR_INIT;
        if (img_get(ctx, p->poolname, image, &man, &e2) < 0 ||
            strcmp(json_string_value(json_object_get(man, "type")) ?: "", zoneroot_type(p->brand)) != 0)
            return vm_err_set(err, VMERR_INVALID, "Invalid value(s) for: image_uuid");
    }
    if (prepare_nics(ctx, cfg, err) < 0)
        return -1;
    return plan_storage(ctx, p, err);
}

/* Under the VM's lock: the staging directory, with the pool recorded first
 * so a crash can be rolled back (store.c). */
static int stage_create(const vm_ctx *ctx, create_plan *p, vm_err *err)
{
    if (vm_store_exists(ctx, p->uuid))
        return vm_err_set(err, VMERR_EXISTS, "VM with UUID %s already exists", p->uuid);
    p->staging = vm_store_staging_dir(ctx, p->uuid);
    rm_rf(p->staging, NULL);
    if (vm_store_private_dir(p->staging, err) < 0)
        return -1;
    p->staged = true;
    cleanup_json json_t *marker = json_pack("{s:s,s:s}", "uuid", p->uuid, "zpool", p->poolname);
    p->mpath = xasprintf("%s/vm.json", p->staging);
    return vm_store_write_json(p->mpath, marker, err);
}

/* Version and timestamp in; metadata and creation-only keys out. */
static void split_config(create_plan *p)
{
    json_t *cfg = p->cfg;
    char ts[32];
    iso_time_ms(now_ms(), ts);
    json_object_set_new(cfg, "v", json_integer(1));
    json_object_set_new(cfg, "create_timestamp", json_string(ts));
    p->meta = json_object();
    for (size_t i = 0; meta_keys[i]; i++) {
        json_t *m = json_object_get(cfg, meta_keys[i]);
        json_object_set_new(p->meta, meta_keys[i], m ? json_incref(m) : json_object());
        json_object_del(cfg, meta_keys[i]);
    }
    json_object_del(cfg, "delegate_dataset");
}

/* Storage, then the config files, then the rename that commits the VM; a
 * failure after the storage exists destroys it. */
static int commit_create(const vm_ctx *ctx, create_plan *p, vm_err *err)
{
    json_t *cfg = p->cfg;
    if (create_storage(ctx, p->pool, cfg, p->plan, err) < 0)
        return -1;
    json_object_del(cfg, "indestructible_zoneroot");
    json_object_del(cfg, "indestructible_delegated");
    json_object_del(cfg, "uuid");
    json_object_del(cfg, "zonename");
    p->canon = vm_cfg_canonical(cfg);
    cleanup_free char *zonepath = vm_store_zonepath(ctx, p->poolname, p->uuid);
    cleanup_free char *cdir = xasprintf("%s/config", zonepath);
    if (vm_store_private_dir(cdir, err) < 0 || vm_write_meta(zonepath, p->meta, err) < 0 ||
        vm_store_write_json(p->mpath, p->canon, err) < 0 || vm_store_commit_create(ctx, p->uuid, err) < 0) {
        vm_err e2 = VM_ERR_INIT;
        cleanup_free char *ds = xasprintf("%s/%s", p->poolname, p->uuid);
        if (vs_exists(p->pool, ds))
            vs_destroy(p->pool, ds, VS_RECURSIVE | VS_FORCE, &e2);
        return -1;
    }
    return 0;
}

/* Past the commit: an autoboot VM is started; failing to start leaves it
 * created. */
static int autostart(const vm_ctx *ctx, create_plan *p, vm_err *err)
{
    if (json_is_true(json_object_get(p->canon, "autoboot"))) {
        vm_err se = VM_ERR_INIT;
        if (vm_start(ctx, p->uuid, &se) < 0 && se.code != VMERR_ALREADY)
            return vm_err_set(err, se.code, "VM %s was created but failed to start: %s", p->uuid, se.msg);
    }
    return 0;
}

int vm_create(const vm_ctx *ctx, json_t *payload, char uuid_out[37], vm_err *err)
{
    create_plan p = { .cfg = payload, .uuid = uuid_out };
    vm_lock lk = VM_LOCK_INIT;
    int r = -1;

    uuid_out[0] = '\0';
    /* Everything is checked before the VM's lock is taken to build it. */
    if (check_payload(ctx, &p, uuid_out, err) == 0 && plan_create(ctx, &p, err) == 0 &&
        vm_lock_acquire(ctx, p.uuid, -1, &lk, err) == 0) {
        if (stage_create(ctx, &p, err) == 0) {
            split_config(&p);
            r = commit_create(ctx, &p, err);
        }
        if (r < 0 && p.staged) {
            rm_rf(p.staging, NULL);
        } else if (r == 0) {
            vm_log(ctx, "info", "VM %s created (brand %s)", p.uuid, p.brand);
            vm_lock_release(&lk);
            r = autostart(ctx, &p, err);
        }
    }
    vm_lock_release(&lk);
    plan_free(&p);
    return r;
}
