#include "vm/disks.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/units.h"
#include "common/util.h"
#include "image/image.h"
#include "vm/rawview.h"
#include "vm/runtime.h"
#include "vm/validate.h"

static const char *const compressions =
    "on, off, gzip, gzip-1, gzip-2, gzip-3, gzip-4, gzip-5, gzip-6, gzip-7, gzip-8, gzip-9, lz4, lzjb, zle";

static int parse_uint(const char *s, int max, int *out)
{
    if (!*s || strlen(s) > 3)
        return -1;
    for (const char *p = s; *p; p++)
        if (!isdigit((unsigned char)*p))
            return -1;
    int v = atoi(s);
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

int vm_pci_parse(const char *s, int *bus, int *dev, int *fn)
{
    cleanup_free char *c = xstrdup(s);
    char *parts[4] = { 0 };
    int n = 0;
    /* strtok would merge empty fields ("4::1"); split by hand. */
    char *p = c;
    parts[n++] = p;
    for (; *p; p++) {
        if (*p == ':') {
            *p = '\0';
            if (n == 3)
                return -1;
            parts[n++] = p + 1;
        }
    }
    *bus = 0;
    *fn = 0;
    if (n == 1)
        return parse_uint(parts[0], 31, dev);
    if (n == 2)
        return (parse_uint(parts[0], 31, dev) < 0 || parse_uint(parts[1], 7, fn) < 0) ? -1 : 0;
    return (parse_uint(parts[0], 255, bus) < 0 || parse_uint(parts[1], 31, dev) < 0 || parse_uint(parts[2], 7, fn) < 0)
        ? -1
        : 0;
}

static const char *media_of(json_t *d)
{
    const char *m = json_string_value(json_object_get(d, "media"));
    return m ? m : "disk";
}

int vm_disks_assign_slots(json_t *disks, vm_err *err)
{
    /* owner[dev][fn] = index+1 of the disk in that bus-0 slot. */
    int owner[32][8];
    size_t i;
    json_t *d;
    int boots = 0;

    memset(owner, 0, sizeof owner);
    json_array_foreach(disks, i, d)
        if (json_is_true(json_object_get(d, "boot")))
            boots++;
    if (boots > 1) {
        cleanup_free char *s = json_compact(disks);
        return vm_err_set(err, VMERR_INVALID, "multiple boot disks: %s", s);
    }
    json_array_foreach(disks, i, d) {
        const char *slot = json_string_value(json_object_get(d, "pci_slot"));
        int bus, dev, fn;
        if (!slot)
            continue;
        if (vm_pci_parse(slot, &bus, &dev, &fn) < 0)
            return vm_err_set(err, VMERR_INVALID, "pci_slot \"%s\" is not valid", slot);
        if (bus != 0)
            continue; /* other buses are not tracked (D25) */
        if (dev == 0 || dev == 6 || dev == 30 || dev == 31)
            return vm_err_set(err, VMERR_INVALID, "pci_slot \"%s\" invalid: PCI device %d is reserved", slot, dev);
        if (owner[dev][fn]) {
            json_t *o = json_array_get(disks, (size_t)owner[dev][fn] - 1);
            return vm_err_set(err, VMERR_INVALID, "VM has multiple disks in pci_slot \"%s\": \"%s\" and \"%s\"", slot,
                              json_string_value(json_object_get(o, "path")),
                              json_string_value(json_object_get(d, "path")));
        }
        owner[dev][fn] = (int)i + 1;
    }
    /* Boot disk first, then the others in order (D27). */
    for (int pass = 0; pass < 2; pass++) {
        json_array_foreach(disks, i, d) {
            bool boot = json_is_true(json_object_get(d, "boot"));
            if ((pass == 0) != boot || json_object_get(d, "pci_slot"))
                continue;
            const char *media = media_of(d);
            int dev;
            if (!strcmp(media, "cdrom"))
                dev = 3;
            else if (!strcmp(media, "disk"))
                dev = 4;
            else
                return vm_err_set(
                    err, VMERR_INVALID,
                    "VM has no PCI bus or slot assigned for %s devices; automatic pci_slot assignment not possible",
                    media);
            int fn = 0;
            while (fn < 8 && owner[dev][fn])
                fn++;
            if (fn == 8)
                return vm_err_set(err, VMERR_INVALID, "VM has more than 8 %s devices on PCI device %d", media, dev);
            owner[dev][fn] = (int)i + 1;
            char buf[16];
            snprintf(buf, sizeof buf, "0:%d:%d", dev, fn);
            json_object_set_new(d, "pci_slot", json_string(buf));
        }
    }
    return 0;
}

const char *vm_disk_dataset(json_t *disk)
{
    const char *z = json_string_value(json_object_get(disk, "zfs_filesystem"));
    return z;
}

int vm_disk_index(json_t *disk)
{
    const char *p = json_string_value(json_object_get(disk, "path"));
    const char *s = p ? strrchr(p, '/') : NULL;
    if (!s || strncmp(s, "/disk", 5) != 0)
        return -1;
    int64_t n;
    if (!s[5] || strspn(s + 5, "0123456789") != strlen(s + 5))
        return -1;
    return parse_i64(s + 5, &n) && n >= 0 && n < VM_DISK_INDEX_MAX ? (int)n : -1;
}

static bool power_of_two(int64_t v)
{
    return v > 0 && (v & (v - 1)) == 0;
}

/* The VM and the disks planned so far, while vm_disks_plan_add runs. */
typedef struct disk_planner {
    const vm_ctx *ctx;
    const char *uuid, *brand, *pool, *disk_driver;
    const char *disk0_model; /* model of the VM's first existing disk */
    json_t *all; /* existing + new stored configs, for slots and uuids */
    json_t *plan; /* the new disks' plan entries (disks.h) */
    bool used_index[VM_DISK_INDEX_MAX];
} disk_planner;

/* The payload's model, else the VM's disk_driver, else the first disk's. */
static const char *disk_model(const disk_planner *dp, json_t *d, size_t i)
{
    const char *model = json_string_value(json_object_get(d, "model"));
    if (!model)
        model = dp->disk_driver;
    if (!model && json_array_size(dp->all) > 0)
        model =
            dp->disk0_model ? dp->disk0_model : json_string_value(json_object_get(json_array_get(dp->all, 0), "model"));
    if (!model && i > 0)
        model = json_string_value(json_object_get(json_object_get(json_array_get(dp->plan, 0), "disk"), "model"));
    return model;
}

/* The rules on one payload disk alone, in SmartOS's order. */
static int check_disk(const disk_planner *dp, json_t *d, size_t i, const char *model, vm_err *err)
{
    const char *media = json_string_value(json_object_get(d, "media"));
    bool cdrom = media && !strcmp(media, "cdrom");
    bool nocreate = json_is_true(json_object_get(d, "nocreate"));
    const char *path = json_string_value(json_object_get(d, "path"));
    json_t *bsz = json_object_get(d, "block_size");
    const char *comp = json_string_value(json_object_get(d, "compression"));

    if (!model) {
        cleanup_free char *s = json_compact(d);
        return vm_err_set(err, VMERR_INVALID, "missing .model option for disk: %s", s);
    }
    if (!vm_disk_model_known(model))
        return vm_err_set(err, VMERR_INVALID,
                          "\"%s\" is not a valid disk model for %s brand. Valid are: virtio,ahci,nvme", model,
                          dp->brand);
    if (path && !cdrom && !nocreate)
        return vm_err_set(err, VMERR_INVALID, "you cannot specify a path for a disk unless you set nocreate=true");
    if (json_is_integer(bsz) &&
        (!power_of_two(json_integer_value(bsz)) || json_integer_value(bsz) < 512 || json_integer_value(bsz) > 131072))
        return vm_err_set(err, VMERR_INVALID, "invalid .block_size(%lld), must be 512-131072 and a power of 2.",
                          (long long)json_integer_value(bsz));
    if (bsz && json_string_value(json_object_get(d, "image_uuid")))
        return vm_err_set(err, VMERR_INVALID, "setting both .block_size and .image_uuid on a volume is invalid");
    if (comp && !vm_compression_known(comp))
        return vm_err_set(err, VMERR_INVALID, "invalid compression setting for disk, must be one of: %s", compressions);
    if ((cdrom || nocreate) && !path)
        return vm_err_set(err, VMERR_INVALID, "Missing required properties: disks.%zu.path", i);
    /* A host path the runtime would refuse is refused now; one that does
     * not exist yet is the start's business (it may appear later). */
    const vm_runtime *rt = vm_runtime_for(dp->brand);
    struct stat st;
    if ((cdrom || nocreate) && rt->check_disk_path && stat(path, &st) == 0 &&
        rt->check_disk_path(dp->ctx, dp->pool, dp->uuid, path, err) < 0)
        return -1;
    return 0;
}

/* A disk made from an image: the image must be a zvol at most `size_mib`
 * (-1: none given, the disk takes the image's size).  Records the image in
 * the stored config; *origin is the snapshot to clone. */
static int plan_image_disk(const disk_planner *dp, json_t *d, size_t i, json_t *c, int64_t size_mib, int64_t *volsize,
                           char **origin, vm_err *err)
{
    const char *image = json_string_value(json_object_get(d, "image_uuid"));
    cleanup_json json_t *man = NULL;
    vm_err e2 = VM_ERR_INIT;
    if (img_get(dp->ctx, dp->pool, image, &man, &e2) < 0 ||
        strcmp(json_string_value(json_object_get(man, "type")) ?: "", "zvol") != 0)
        return vm_err_set(err, VMERR_INVALID, "Invalid value(s) for: disks.%zu.image_uuid", i);
    json_t *isz = json_object_get(man, "image_size");
    int64_t img_mib = json_is_integer(isz) ? json_integer_value(isz) : 0, img_bytes;
    if (img_mib < 0 || !mib_to_bytes(img_mib, &img_bytes))
        return vm_err_set(err, VMERR_INVALID, "Invalid value(s) for: disks.%zu.image_uuid", i);
    json_t *given = json_object_get(d, "image_size");
    if (json_is_integer(given) && json_integer_value(given) != img_mib)
        return vm_err_set(err, VMERR_INVALID, "Invalid value(s) for: disks.%zu.image_size", i);
    if (size_mib >= 0 && size_mib < img_mib)
        return vm_err_set(err, VMERR_INVALID, "Invalid value(s) for: size");
    if (size_mib < 0)
        *volsize = img_bytes;
    json_object_set_new(c, "image_uuid", json_string(image));
    json_object_set_new(c, "image_size", json_integer(img_mib));
    *origin = xasprintf("%s/%s@final", dp->pool, image);
    return 0;
}

/* The storage action of a new volume disk<idx>: its dataset, size, origin
 * and properties. */
static void plan_volume(const disk_planner *dp, json_t *pe, json_t *c, json_t *d, int idx, int64_t volsize,
                        const char *origin)
{
    const char *comp = json_string_value(json_object_get(d, "compression"));
    json_t *bsz = json_object_get(d, "block_size");
    char *ds = xasprintf("%s/%s/disk%d", dp->pool, dp->uuid, idx);
    json_object_set_new(c, "zfs_filesystem", json_string(ds));
    json_object_set_new(pe, "dataset", json_string(ds));
    free(ds);
    json_object_set_new(pe, "volsize", json_integer(volsize));
    json_object_set_new(pe, "origin", origin ? json_string(origin) : json_null());
    json_t *props = json_object();
    if (comp)
        json_object_set_new(props, "compression", json_string(comp));
    if (json_is_integer(bsz))
        json_object_set(props, "volblocksize", bsz);
    json_t *rr = json_object_get(d, "refreservation");
    int64_t rr_bytes;
    if (json_is_integer(rr) && mib_to_bytes(json_integer_value(rr), &rr_bytes))
        json_object_set_new(props, "refreservation", json_integer(rr_bytes));
    else
        json_object_set_new(props, "refreservation", json_string("auto"));
    json_object_set_new(pe, "props", props);
}

/* One payload disk: its plan entry (appended first), checks, stored config
 * and storage action. */
static int plan_disk(disk_planner *dp, json_t *d, size_t i, vm_err *err)
{
    json_t *c = json_object();
    const char *media = json_string_value(json_object_get(d, "media"));
    bool cdrom = media && !strcmp(media, "cdrom");
    bool nocreate = json_is_true(json_object_get(d, "nocreate"));
    json_t *size = json_object_get(d, "size");
    int64_t size_mib = json_is_integer(size) ? json_integer_value(size) : -1;

    json_array_append_new(dp->plan, json_pack("{s:o}", "disk", c));
    const char *model = disk_model(dp, d, i);
    if (check_disk(dp, d, i, model, err) < 0)
        return -1;

    /* Stored config, in the order vmadm get shows it (O8). */
    int idx = -1;
    if (!cdrom && !nocreate) {
        for (idx = 0; idx < VM_DISK_INDEX_MAX && dp->used_index[idx]; idx++)
            ;
        if (idx == VM_DISK_INDEX_MAX)
            return vm_err_set(err, VMERR_INVALID, "VM has no free disk index (disk0-disk%d are all in use)",
                              VM_DISK_INDEX_MAX - 1);
        dp->used_index[idx] = true;
        cleanup_free char *ds = xasprintf("%s/%s/disk%d", dp->pool, dp->uuid, idx);
        cleanup_free char *p = vm_rawview_path(dp->ctx, ds); /* a real view (vmadm-zvold) */
        json_object_set_new(c, "path", json_string(p));
    } else {
        json_object_set_new(c, "path", json_string(json_string_value(json_object_get(d, "path"))));
    }
    json_object_set_new(c, "boot", json_boolean(json_is_true(json_object_get(d, "boot"))));
    json_object_set_new(c, "model", json_string(model));
    json_object_set_new(c, "media", json_string(cdrom ? "cdrom" : "disk"));

    int64_t volsize = 0;
    if (size_mib > 0 && !mib_to_bytes(size_mib, &volsize))
        return vm_err_set(err, VMERR_INVALID, "Invalid value(s) for: disks.%zu.size", i);
    cleanup_free char *origin = NULL;
    if (json_string_value(json_object_get(d, "image_uuid"))) {
        if (plan_image_disk(dp, d, i, c, size_mib, &volsize, &origin, err) < 0)
            return -1;
    } else if (!cdrom && !nocreate && size_mib <= 0) {
        return vm_err_set(err, VMERR_INVALID, "Invalid value(s) for: disks.%zu.size", i);
    }
    if (json_object_get(d, "pci_slot"))
        json_object_set(c, "pci_slot", json_object_get(d, "pci_slot"));
    const char *du = json_string_value(json_object_get(d, "uuid"));
    char nu[37];
    if (!du) {
        uuid_new(nu);
        du = nu;
    }
    json_object_set_new(c, "uuid", json_string(du));
    if (json_object_get(d, "notrim"))
        json_object_set_new(c, "notrim", json_boolean(json_is_true(json_object_get(d, "notrim"))));
    if (json_object_get(d, "guest_block_size"))
        json_object_set(c, "guest_block_size", json_object_get(d, "guest_block_size"));

    json_t *pe = json_array_get(dp->plan, json_array_size(dp->plan) - 1);
    if (idx >= 0)
        plan_volume(dp, pe, c, d, idx, volsize, origin);
    else
        json_object_set_new(pe, "dataset", json_null());
    json_array_append(dp->all, c);
    return 0;
}

int vm_disks_plan_add(const vm_ctx *ctx, json_t *vm, json_t *payload_disks, json_t **plan_out, vm_err *err)
{
    disk_planner dp = {
        .ctx = ctx,
        .uuid = json_string_value(json_object_get(vm, "uuid")),
        .brand = json_string_value(json_object_get(vm, "brand")),
        .pool = json_string_value(json_object_get(vm, "zpool")),
        .disk_driver = json_string_value(json_object_get(vm, "disk_driver")),
    };
    cleanup_json json_t *all = dp.all = json_array();
    cleanup_json json_t *plan = dp.plan = json_array();
    size_t i;
    json_t *d;

    if (!dp.pool)
        dp.pool = ctx->pool;
    /* The limit holds whatever the caller validated (issue 14 #7). */
    size_t total = json_array_size(json_object_get(vm, "disks")) + json_array_size(payload_disks);
    if (total > VM_MAX_DISKS)
        return vm_err_set(err, VMERR_INVALID, "VM would have %zu disks, but is limited to %d", total, VM_MAX_DISKS);
    json_array_foreach(json_object_get(vm, "disks"), i, d) {
        json_array_append(all, d);
        int n = vm_disk_index(d);
        if (n >= 0)
            dp.used_index[n] = true;
        if (i == 0)
            dp.disk0_model = json_string_value(json_object_get(d, "model"));
    }
    json_array_foreach(payload_disks, i, d)
        if (plan_disk(&dp, d, i, err) < 0)
            return -1;

    /* Disk uuids are unique within the VM (D30). */
    json_array_foreach(all, i, d) {
        const char *u = json_string_value(json_object_get(d, "uuid"));
        for (size_t j = i + 1; u && j < json_array_size(all); j++)
            if (!strcmp(u, json_string_value(json_object_get(json_array_get(all, j), "uuid")) ?: ""))
                return vm_err_set(err, VMERR_INVALID, "duplicate disk uuid %s", u);
    }
    if (vm_disks_assign_slots(all, err) < 0)
        return -1;
    *plan_out = steal_ptr(plan);
    return 0;
}

void vm_disks_sort(json_t *disks)
{
    /* Insertion sort: a handful of disks, and stable. */
    size_t n = json_array_size(disks);
    for (size_t i = 1; i < n; i++) {
        for (size_t j = i; j > 0; j--) {
            json_t *a = json_array_get(disks, j - 1), *b = json_array_get(disks, j);
            int ia = vm_disk_index(a), ib = vm_disk_index(b);
            bool swap = (ia < 0 && ib >= 0) || (ia >= 0 && ib >= 0 && ib < ia);
            if (!swap)
                break;
            json_incref(a);
            json_array_set(disks, j - 1, b);
            json_array_set_new(disks, j, a);
        }
    }
}
