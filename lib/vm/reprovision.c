/* vmadm reprovision (issue "reprovision"; reference R1–R35).
 *
 * Every check runs before anything changes.  Then one strategy per brand
 * family, both built the same way: the new boot disk (HVM) or zone root
 * (containers) is made aside as a clone of <pool>/<image>@final, tagged
 * with a one-time token (user property vmadm:reprovision), and swapped in
 * with vs_swap(), a single storage commit.  vm.json carries the intent
 * (`_reprovision`) and the transition while this runs, so an interrupted
 * reprovision is finished or rolled back by the next command that looks
 * at the VM: if the live dataset carries the token the swap happened and
 * we roll forward, otherwise we roll back.  The old disk/root is destroyed
 * only after the swap is committed.  Data disks and the delegated dataset
 * are never touched (the delegated dataset moves with the new root in the
 * same swap). */
#include <string.h>

#include "common/lock.h"
#include "common/units.h"
#include "common/util.h"
#include "image/image.h"
#include "storage/storage.h"
#include "vm/disks.h"
#include "vm/props.h"
#include "vm/store.h"
#include "vm/vm.h"
#include "vm/recover.h"
#include "vm/vm_internal.h"
#include "vm/vmobj.h"

#define PROVISION_TIMEOUT_MS 300000

#define TOKEN_PROP "vmadm:reprovision"

static const char *allowed_type(const char *brand)
{
    /* The brand's storage layout rule: HVM brands boot from a disk image. */
    if (vm_brand_is_hvm(brand))
        return "zvol";
    if (!strcmp(brand, "lx"))
        return "lx-dataset";
    return "zone-dataset";
}

static json_t *find_disk0(json_t *disks)
{
    size_t i;
    json_t *d;
    json_array_foreach(disks, i, d) {
        const char *p = json_string_value(json_object_get(d, "path"));
        if (p && str_has_suffix(p, "/disk0"))
            return d;
    }
    return NULL;
}

static int write_cfg(const vm_ctx *ctx, const char *uuid, json_t *cfg, vm_err *err)
{
    cleanup_free char *path = vm_store_config_path(ctx, uuid);
    return write_json_atomic(path, cfg, err);
}

/* Names of the aside dataset (built new, then holding the old after the
 * swap).  Outside the VM's dataset, so that the VM's quota (RFD 154: no
 * slack without flexible_disk_size) need not hold two boot disks. */
static char *aside_name(const char *pool, const char *uuid, bool hvm)
{
    return hvm ? xasprintf("%s/%s-reprov-disk0", pool, uuid) : xasprintf("%s/%s-reprov", pool, uuid);
}

/* Finishes (token on the live dataset) or rolls back an interrupted
 * reprovision.  Caller holds the VM lock; cfg is updated and written. */
static int recover(const vm_ctx *ctx, vs_pool *pool, const char *uuid, json_t *cfg, vm_err *err)
{
    json_t *rp = json_object_get(cfg, "_reprovision");
    const char *brand = json_string_value(json_object_get(cfg, "brand"));
    /* The brand's storage layout rule: HVM brands swap disk0, the others the zone root. */
    bool hvm = vm_brand_is_hvm(brand);
    const char *token = json_string_value(json_object_get(rp, "token"));
    const char *image = json_string_value(json_object_get(rp, "image_uuid"));
    cleanup_free char *live =
        hvm ? xasprintf("%s/%s/disk0", vs_pool_name(pool), uuid) : xasprintf("%s/%s", vs_pool_name(pool), uuid);
    cleanup_free char *aside = aside_name(vs_pool_name(pool), uuid, hvm);
    cleanup_free char *have = NULL;
    vm_err e2 = VM_ERR_INIT;

    if (!rp)
        return 0;
    bool swapped = token && vs_get_str(pool, live, TOKEN_PROP, &have, &e2) == 0 && have && !strcmp(have, token);
    if (!swapped && !hvm) {
        /* The delegated dataset may already sit under the new root. */
        cleanup_free char *moved = xasprintf("%s/data", aside);
        cleanup_free char *home = xasprintf("%s/data", live);
        if (vs_exists(pool, moved) && !vs_exists(pool, home) && vs_rename(pool, moved, home, err) < 0)
            return -1;
    }
    if (vs_exists(pool, aside) && vs_destroy(pool, aside, VS_RECURSIVE | VS_FORCE, err) < 0)
        return -1;
    if (swapped) {
        if (hvm) {
            json_t *d0 = find_disk0(json_object_get(cfg, "disks"));
            if (d0)
                json_object_set_new(d0, "image_uuid", json_string(image));
        } else {
            json_object_set_new(cfg, "image_uuid", json_string(image));
        }
    } else if (json_object_get(rp, "autoboot")) {
        /* Rolled back: the VM is as it was, except that it is stopped. */
        json_object_set(cfg, "autoboot", json_object_get(rp, "autoboot"));
    }
    json_object_del(cfg, "_reprovision");
    json_object_del(cfg, "transition");
    if (write_cfg(ctx, uuid, cfg, err) < 0)
        return -1;
    vm_log(ctx, "warn", "VM %s: %s an interrupted reprovision", uuid, swapped ? "completed" : "rolled back");
    return 0;
}

static int vm_reprovision_recover(const vm_ctx *ctx, const char *uuid, json_t *cfg, vm_err *err)
{
    if (!json_object_get(cfg, "_reprovision"))
        return 0;
    cleanup_vs_pool vs_pool *pool = NULL;
    if (vs_pool_open(ctx, json_string_value(json_object_get(cfg, "zpool")), &pool, err) < 0)
        return -1;
    return recover(ctx, pool, uuid, cfg, err);
}

static int check_holds(vs_pool *pool, const char *ds, vm_err *err)
{
    cleanup_json json_t *snaps = NULL;
    vm_err e2 = VM_ERR_INIT;
    if (!vs_exists(pool, ds) || vs_list(pool, ds, VS_SNAPSHOT, VS_RECURSIVE, &snaps, &e2) < 0)
        return 0;
    cleanup_free char *msg = xstrdup("Cannot reprovision: disk0 has snapshots with holds that must be released first:");
    bool any = false;
    size_t i;
    json_t *s;
    json_array_foreach(snaps, i, s) {
        cleanup_json json_t *tags = NULL;
        if (vs_holds(pool, json_string_value(s), &tags, &e2) < 0 || !json_array_size(tags))
            continue;
        size_t n = json_array_size(tags);
        char **tv = xcalloc(n + 1, sizeof *tv);
        for (size_t k = 0; k < n; k++)
            tv[k] = xstrdup(json_string_value(json_array_get(tags, k)));
        cleanup_free char *joined = strv_join(tv, ", ");
        strv_free(tv);
        char *m2 = xasprintf("%s\n  - %s (holds: %s)", msg, json_string_value(s), joined);
        free(msg);
        msg = m2;
        any = true;
    }
    return any ? vm_err_set(err, VMERR_BUSY, "%s", msg) : 0;
}

/* Every check, in the order; nothing is changed here. */
static int preflight(const vm_ctx *ctx, vs_pool *pool, const char *uuid, json_t *cfg, json_t *payload,
                     json_t **manifest, vm_err *err)
{
    const char *brand = json_string_value(json_object_get(cfg, "brand"));
    const char *poolname = vs_pool_name(pool);
    if (!vm_brand_bit(brand))
        return vm_err_set(err, VMERR_UNSUPPORTED, "brand \"%s\" does not yet support reprovision", brand);
    if (!json_is_object(payload) || !json_object_get(payload, "image_uuid"))
        return vm_err_set(err, VMERR_INVALID, "payload is missing image_uuid");
    json_t *iu = json_object_get(payload, "image_uuid");
    if (!json_is_string(iu) || !uuid_valid(json_string_value(iu))) {
        cleanup_free char *s = json_is_string(iu) ? xstrdup(json_string_value(iu)) : json_compact(iu);
        return vm_err_set(err, VMERR_INVALID, "invalid uuid: \"%s\"", s);
    }
    const char *image = json_string_value(iu);
    if (img_get(ctx, poolname, image, manifest, err) < 0)
        return -1;
    cleanup_free char *ds = xasprintf("%s/%s", poolname, uuid);
    if (vm_is_indestructible(pool, ds))
        return vm_err_set(err, VMERR_BUSY, "indestructible_zoneroot is set, cannot reprovision");
    const char *type = json_string_value(json_object_get(*manifest, "type"));
    const char *want = allowed_type(brand);
    if (!type || strcmp(type, want) != 0)
        return vm_err_set(err, VMERR_INVALID, "image %s is type %s, but must be one of: [\"%s\"]", image,
                          type ? type : "unknown", want);
    cleanup_free char *snap = xasprintf("%s/%s@final", poolname, image);
    if (!vs_exists(pool, snap))
        return vm_err_set(err, VMERR_NOTFOUND, "Image %s not found in zpool %s", image, poolname);
    /* The brand's storage layout rule: HVM brands need disk0, the others a zone root. */
    if (vm_brand_is_hvm(brand)) {
        json_t *disks = json_object_get(cfg, "disks");
        if (!json_array_size(disks))
            return vm_err_set(err, VMERR_INVALID, "No disks found for %s VM", brand);
        json_t *d0 = find_disk0(disks);
        if (!d0)
            return vm_err_set(err, VMERR_INVALID, "disk0 not found for %s VM", brand);
        if (!json_is_true(json_object_get(d0, "boot")))
            return vm_err_set(
                err, VMERR_INVALID,
                "disk0 found but does not have boot property set to true - reprovision requires a bootable disk0");
        const char *d0ds = vm_disk_dataset(d0);
        int64_t volsize = 0;
        if (!d0ds || vs_get_int(pool, d0ds, "volsize", &volsize, err) < 0)
            return -1;
        json_t *isz = json_object_get(*manifest, "image_size");
        if (!json_is_integer(isz))
            return vm_err_set(err, VMERR_INVALID, "Missing image_size in manifest");
        if (json_integer_value(isz) * VM_MiB > volsize)
            return vm_err_set(err, VMERR_INVALID, "Cannot reprovision: image (%lld MiB) > disk0 (%lld MiB)",
                              (long long)json_integer_value(isz), (long long)(volsize / VM_MiB));
        if (check_holds(pool, d0ds, err) < 0)
            return -1;
    } else {
        json_t *dsets = json_object_get(cfg, "datasets");
        if (json_array_size(dsets) > 1)
            return vm_err_set(err, VMERR_INVALID, "cannot support reprovision with multiple delegated datasets");
        if (json_array_size(dsets) == 1) {
            cleanup_free char *std = xasprintf("%s/data", ds);
            const char *d = json_string_value(json_array_get(dsets, 0));
            if (!d || strcmp(d, std))
                return vm_err_set(err, VMERR_INVALID, "cannot support reprovision with non-standard \"%s\" dataset",
                                  d ? d : "");
        }
    }
    return 0;
}

/* Copies <old root>/config/ into the new root (R26). */
static int copy_config(vs_pool *pool, const char *from_ds, const char *to_ds, vm_err *err)
{
    cleanup_free char *from = NULL, *to = NULL;
    if (vs_fs_path(pool, from_ds, &from, err) < 0 || vs_fs_path(pool, to_ds, &to, err) < 0)
        return -1;
    cleanup_free char *src = xasprintf("%s/config", from);
    cleanup_free char *dst = xasprintf("%s/config", to);
    rm_rf(dst, NULL);
    if (mkdir_p(dst, 0755, err) < 0)
        return -1;
    if (!path_exists(src))
        return 0;
    cleanup_free char *srcdot = xasprintf("%s/.", src);
    char *argv[] = { "cp", "-pPR", srcdot, dst, NULL };
    return run_cmd(argv, NULL, err) == 0 ? 0 : -1;
}

/* One reprovision past its checks; the names are the VM's datasets. */
typedef struct reprov {
    const vm_ctx *ctx;
    vs_pool *pool;
    const char *uuid, *image;
    json_t *cfg;
    bool hvm, autoboot;
    const char *ds, *snap, *aside, *live;
    char token[37];
} reprov;

/* Stops a running VM gracefully (forced after the stop timeout). */
static int stop_vm(reprov *r, vm_err *err)
{
    cleanup_json json_t *obj = NULL;
    if (vmobj_load(r->ctx, r->uuid, &obj, err) < 0)
        return -1;
    const char *state = json_string_value(json_object_get(obj, "state"));
    if (state && strcmp(state, "stopped") != 0) {
        vm_err se = VM_ERR_INIT;
        if (vm_stop_locked(r->ctx, r->uuid, r->cfg, 0, 0, false, &se) < 0 && se.code != VMERR_ALREADY) {
            *err = se;
            return -1;
        }
    }
    return 0;
}

/* Intent and transition in one write (R13, R35). */
static int record_intent(reprov *r, vm_err *err)
{
    uuid_new(r->token);
    char tr[96];
    snprintf(tr, sizeof tr, "provisioning:running:%lld", (long long)(now_ms() + PROVISION_TIMEOUT_MS));
    json_object_set_new(r->cfg, "transition", json_string(tr));
    json_object_set_new(r->cfg, "_reprovision",
                        json_pack("{s:s,s:s,s:b}", "image_uuid", r->image, "token", r->token, "autoboot", r->autoboot));
    return write_cfg(r->ctx, r->uuid, r->cfg, err);
}

/* The new boot disk aside: the old one's size, compression and space
 * guarantee. */
static int build_disk(reprov *r, json_t *props, vm_err *err)
{
    int64_t volsize = 0;
    cleanup_free char *comp = NULL;
    if (vs_get_int(r->pool, r->live, "volsize", &volsize, err) < 0)
        return -1;
    /* Keep the operator's disk size (SmartOS shrinks it back). */
    json_object_set_new(props, "volsize", json_integer(volsize));
    if (vs_get_str(r->pool, r->live, "compression", &comp, err) == 0 && comp)
        json_object_set_new(props, "compression", json_string(comp));
    vm_err_clear(err);
    /* The new disk keeps the old one's space guarantee. */
    int64_t refres = 0;
    vm_err e2 = VM_ERR_INIT;
    if (vs_get_int(r->pool, r->live, "refreservation", &refres, &e2) == 0 && refres > 0)
        json_object_set_new(props, "refreservation", refres >= volsize ? json_string("auto") : json_integer(refres));
    return vs_clone(r->pool, r->snap, r->aside, props, err);
}

/* The new zone root aside: the old quota and config, and the delegated
 * dataset moved under it. */
static int build_root(reprov *r, json_t *props, vm_err *err)
{
    int64_t quota = 0;
    vm_err e2 = VM_ERR_INIT;
    if (vs_get_int(r->pool, r->ds, "quota", &quota, &e2) == 0 && quota > 0)
        json_object_set_new(props, "quota", json_integer(quota));
    if (vs_clone(r->pool, r->snap, r->aside, props, err) < 0)
        return -1;
    if (copy_config(r->pool, r->ds, r->aside, err) < 0)
        return -1;
    cleanup_free char *data = xasprintf("%s/data", r->ds);
    cleanup_free char *moved = xasprintf("%s/data", r->aside);
    if (vs_exists(r->pool, data) && vs_rename(r->pool, data, moved, err) < 0)
        return -1;
    return 0;
}

/* Builds the new boot disk / zone root aside, tagged with the token. */
static int build_aside(reprov *r, vm_err *err)
{
    if (vs_exists(r->pool, r->aside))
        vs_destroy(r->pool, r->aside, VS_RECURSIVE | VS_FORCE, err);
    cleanup_json json_t *props = json_object();
    json_object_set_new(props, TOKEN_PROP, json_string(r->token));
    return r->hvm ? build_disk(r, props, err) : build_root(r, props, err);
}

/* Past the swap: config follows it; then the old disk/root goes. */
static int finish_swap(reprov *r, vm_err *err)
{
    if (r->hvm) {
        json_t *d0 = find_disk0(json_object_get(r->cfg, "disks"));
        json_object_set_new(d0, "image_uuid", json_string(r->image));
    } else {
        json_object_set_new(r->cfg, "image_uuid", json_string(r->image));
    }
    json_object_set_new(r->cfg, "autoboot", json_boolean(r->autoboot));
    /* The intent stays recorded until the old disk/root is gone, so a crash
     * here is completed (not leaked) by the next command. */
    {
        vm_err e2 = VM_ERR_INIT;
        if (vs_destroy(r->pool, r->aside, VS_RECURSIVE | VS_FORCE, &e2) < 0)
            vm_log(r->ctx, "warn", "VM %s: old %s not destroyed: %s", r->uuid, r->aside, e2.msg);
    }
    json_object_del(r->cfg, "_reprovision");
    json_object_del(r->cfg, "transition");
    if (write_cfg(r->ctx, r->uuid, r->cfg, err) < 0)
        return -1; /* the next command rolls forward */
    if (r->hvm) {
        vm_err e2 = VM_ERR_INIT;
        json_object_set_new(r->cfg, "uuid", json_string(r->uuid));
        vm_space_apply(r->ctx, r->pool, r->cfg, &e2);
        json_object_del(r->cfg, "uuid");
    }
    return 0;
}

int vm_reprovision(const vm_ctx *ctx, const char *uuid, json_t *payload, vm_err *err)
{
    cleanup_lock vm_lock lk = VM_LOCK_INIT;
    cleanup_json json_t *cfg = NULL, *manifest = NULL;
    cleanup_vs_pool vs_pool *pool = NULL;

    if (!uuid_valid(uuid) || !vm_store_exists(ctx, uuid))
        return vm_err_set(err, VMERR_NOTFOUND, "VM %s not found", uuid);
    if (vm_lock_acquire(ctx, uuid, -1, &lk, err) < 0 || vm_load_locked(ctx, uuid, &cfg, err) < 0)
        return -1;
    const char *poolname = json_string_value(json_object_get(cfg, "zpool"));
    if (vs_pool_open(ctx, poolname, &pool, err) < 0)
        return -1;
    if (recover(ctx, pool, uuid, cfg, err) < 0)
        return -1;
    if (preflight(ctx, pool, uuid, cfg, payload, &manifest, err) < 0)
        return -1;

    reprov r = { .ctx = ctx, .pool = pool, .uuid = uuid, .cfg = cfg };
    /* The brand's storage layout rule: HVM brands swap disk0, the others the zone root. */
    r.hvm = vm_brand_is_hvm(json_string_value(json_object_get(cfg, "brand")));
    r.image = json_string_value(json_object_get(payload, "image_uuid"));
    cleanup_free char *ds = xasprintf("%s/%s", poolname, uuid);
    cleanup_free char *snap = xasprintf("%s/%s@final", poolname, r.image);
    cleanup_free char *aside = aside_name(poolname, uuid, r.hvm);
    cleanup_free char *live = r.hvm ? xasprintf("%s/disk0", ds) : xstrdup(ds);
    r.ds = ds;
    r.snap = snap;
    r.aside = aside;
    r.live = live;
    r.autoboot = json_is_true(json_object_get(cfg, "autoboot"));

    if (stop_vm(&r, err) < 0 || record_intent(&r, err) < 0)
        return -1;
    /* The commit: one storage transaction exchanges old and new. */
    if (build_aside(&r, err) < 0 || vs_swap(pool, live, aside, err) < 0) {
        vm_err e2 = VM_ERR_INIT;
        recover(ctx, pool, uuid, cfg, &e2);
        return -1;
    }
    vm_log(ctx, "info", "VM %s: reprovision to image %s committed", uuid, r.image);
    if (finish_swap(&r, err) < 0)
        return -1;
    /* HVM: start again if it was autoboot (R20); native zones always boot
     * after reprovision (R31). */
    if (!r.hvm || r.autoboot) {
        vm_err se = VM_ERR_INIT;
        if (vm_start_locked(ctx, uuid, cfg, &se) < 0 && se.code != VMERR_ALREADY)
            return vm_err_set(err, se.code, "reprovisioned to image %s, but the VM failed to start: %s", r.image,
                              se.msg);
    }
    return 0;
}

VM_INTENT(reprovision, "_reprovision", vm_reprovision_recover)
