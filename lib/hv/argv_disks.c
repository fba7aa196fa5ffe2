/* Disks and cdroms (the VM's disks[]) on the QEMU command line. */
#include "hv/argv_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/units.h"
#include "common/util.h"
#include "hv/confine.h"
#include "hv/hv.h"

/* Trailing "disk<N>" of a dataset name or path, or -1. */
static long trailing_disk_n(const char *s)
{
    if (!s)
        return -1;
    const char *b = strrchr(s, '/');
    b = b ? b + 1 : s;
    if (strncmp(b, "disk", 4) != 0 || !b[4])
        return -1;
    int64_t n;
    if (!parse_i64(b + 4, &n) || n > 9999)
        return -1;
    return (long)n;
}

char *hv_disk_id(json_t *disk, size_t index)
{
    long n = trailing_disk_n(json_string_value(json_object_get(disk, "zfs_filesystem")));
    if (n < 0)
        n = trailing_disk_n(json_string_value(json_object_get(disk, "path")));
    if (n >= 0)
        return xasprintf("disk%ld", n);
    const char *media = json_string_value(json_object_get(disk, "media"));
    if (media && !strcmp(media, "cdrom"))
        return xasprintf("cdrom%zu", index);
    return xasprintf("file%zu", index);
}

/* guest_block_size "N" or "N/M" → QEMU logical/physical block sizes. */
static int block_size_opts(const char *gbs, char **out, vm_err *err)
{
    unsigned long l, p;
    char extra;
    int n = sscanf(gbs, "%lu/%lu%c", &l, &p, &extra);
    if (n == 1)
        p = l;
    if ((n != 1 && n != 2) || !l || (l & (l - 1)) || !p || (p & (p - 1)) || l < 512 || p < l || p > 65536)
        return vm_err_set(err, VMERR_INVALID, "guest_block_size \"%s\" is not valid", gbs);
    *out = xasprintf(",logical_block_size=%lu,physical_block_size=%lu", l, p);
    return 0;
}

/* What QEMU gets for disk `d`: a volume of `pool`, else its path, and
 * the qcow2 backing layers below it. */
static int disk_file(vs_pool *pool, json_t *d, hv_disk *p, vm_err *err)
{
    const char *zfs = json_string_value(json_object_get(d, "zfs_filesystem"));
    const char *path = json_string_value(json_object_get(d, "path"));
    if (zfs && pool && !p->cdrom) {
        if (vs_vol_path(pool, zfs, &p->file, err) < 0) {
            vm_err_prefix(err, "disk %s: ", p->id);
            return -1;
        }
        p->fmt = "qcow2";
        p->volume = true;
        p->volume_dir = xstrdup(p->file);
        char *slash = strrchr(p->volume_dir, '/');
        if (slash)
            *(slash == p->volume_dir ? slash + 1 : slash) = '\0';
    } else if (path && *path) {
        p->file = xstrdup(path);
        p->fmt = !p->cdrom && str_has_suffix(path, ".qcow2") ? "qcow2" : "raw";
    } else {
        return vm_err_set(err, VMERR_INVALID, "disk %s has neither a volume nor a path", p->id);
    }
    p->layers = json_array();
    if (!strcmp(p->fmt, "qcow2") && hv_qcow2_chain(p->file, p->layers, err) < 0) {
        vm_err_prefix(err, "disk %s: ", p->id);
        return -1;
    }
    return 0;
}

/* disks[i] → *p (p->id already set). */
static int plan_disk(vs_pool *pool, json_t *d, hv_pci_bus *bus, hv_disk *p, vm_err *err)
{
    const char *media = json_string_value(json_object_get(d, "media"));
    p->cdrom = media && !strcmp(media, "cdrom");
    if (media && !p->cdrom && strcmp(media, "disk"))
        return vm_err_set(err, VMERR_INVALID, "disk %s: media \"%s\" is not valid", p->id, media);
    p->model = json_string_value(json_object_get(d, "model"));
    if (!p->model)
        p->model = p->cdrom ? "ahci" : "virtio";
    if (!vm_disk_model_known(p->model))
        return vm_err_set(err, VMERR_INVALID, "disk %s: model \"%s\" is not valid", p->id, p->model);
    p->boot = json_is_true(json_object_get(d, "boot"));
    p->notrim = json_is_true(json_object_get(d, "notrim"));
    p->serial = json_string_value(json_object_get(d, "uuid"));
    if (disk_file(pool, d, p, err) < 0)
        return -1;
    const char *gbs = json_string_value(json_object_get(d, "guest_block_size"));
    if (gbs && block_size_opts(gbs, &p->bs_opts, err) < 0)
        return -1;
    const char *slot = json_string_value(json_object_get(d, "pci_slot"));
    if (!slot)
        return vm_err_set(err, VMERR_INVALID, "disk %s has no pci_slot", p->id);
    return hv_pci_claim(bus, slot, "disks", &p->dev, &p->fn, err);
}

int hv_disks_plan(vs_pool *pool, json_t *vmobj, hv_pci_bus *bus, hv_disks *out, vm_err *err)
{
    json_t *disks = json_object_get(vmobj, "disks");
    if (disks && !json_is_array(disks))
        return vm_err_set(err, VMERR_INVALID, "disks must be an array");
    out->n = json_array_size(disks);
    out->v = xcalloc(out->n ? out->n : 1, sizeof *out->v);
    int nboot = 0;
    for (size_t i = 0; i < out->n; i++) {
        json_t *d = json_array_get(disks, i);
        hv_disk *p = &out->v[i];
        p->id = hv_disk_id(d, i);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(out->v[j].id, p->id))
                return vm_err_set(err, VMERR_INVALID, "two disks map to the same id %s", p->id);
        if (plan_disk(pool, d, bus, p, err) < 0)
            return -1;
        nboot += p->boot;
    }
    if (nboot > 1)
        return vm_err_set(err, VMERR_INVALID, "multiple boot disks");
    return 0;
}

void hv_disks_free(hv_disks *d)
{
    for (size_t i = 0; i < d->n; i++) {
        free(d->v[i].id);
        free(d->v[i].file);
        free(d->v[i].bs_opts);
        free(d->v[i].volume_dir);
        json_decref(d->v[i].layers);
    }
    free(d->v);
    *d = (hv_disks){ 0 };
}

/* An ICH9 AHCI controller in the disk's slot with one IDE device on it. */
static void add_ahci(hv_argv *a, const char *addr, const hv_disk *d, const char *ide)
{
    argv_optf(a, "-device", "ich9-ahci,id=sata-%s,%s", d->id, addr);
    argv_optf(a, "-device", "%s,id=%s,drive=%s,bus=sata-%s.0%s%s", ide, d->id, d->id, d->id,
              d->boot ? ",bootindex=0" : "", d->bs_opts ? d->bs_opts : "");
}

void argv_add_cdrom(hv_argv *a, hv_fdplan *fp, const hv_pci_bus *bus, const hv_disk *d)
{
    cleanup_free char *addr = hv_pci_addr(bus, d->dev, d->fn);
    int set = fp->next_set++;
    argv_add_fd(a, fp, set, "path-ro", d->file, NULL, d->file);
    argv_optf(a, "-drive", "if=none,id=%s,format=raw,media=cdrom,readonly=on,file=/dev/fdset/%d,file.locking=off",
              d->id, set);
    add_ahci(a, addr, d, "ide-cd");
}

/* The descriptors of a disk's file and backing layers, and the -drive
 * options naming them: "file=/dev/fdset/N[,backing.driver=qcow2,
 * backing.file.filename=/dev/fdset/M[,backing.backing....]]". */
static char *disk_fds(hv_argv *a, hv_fdplan *fp, const hv_disk *d)
{
    int set = fp->next_set++;
    argv_add_fd(a, fp, set, d->volume ? "vol-rw" : "path-rw", d->file, NULL, d->file);
    /* read-only too: a live snapshot reopens this layer read-only */
    argv_add_fd(a, fp, set, d->volume ? "vol-ro" : "path-ro", d->file, NULL, d->file);
    /* locking=off: QEMU's image locks (OFD locks) stay on the descriptors
     * kept in the fd set and would block its own reopen (resize, live
     * snapshot); the files are root-only and the VM's lock serialises
     * vmadm's own users. */
    char *opts = xasprintf("file=/dev/fdset/%d,file.locking=off", set);
    cleanup_free char *prefix = xstrdup("");
    size_t i;
    json_t *l;
    json_array_foreach(d->layers, i, l) {
        int lset = fp->next_set++;
        argv_add_fd(a, fp, lset, "layer", json_string_value(l), d->volume ? d->volume_dir : NULL, json_string_value(l));
        char *np = xasprintf("%sbacking.", prefix);
        free(prefix);
        prefix = np;
        char *no = xasprintf("%s,%sdriver=qcow2,%sfile.filename=/dev/fdset/%d,%sfile.locking=off", opts, prefix, prefix,
                             lset, prefix);
        free(opts);
        opts = no;
    }
    return opts;
}

void argv_add_disk(hv_argv *a, hv_fdplan *fp, const hv_pci_bus *bus, const hv_disk *d)
{
    cleanup_free char *addr = hv_pci_addr(bus, d->dev, d->fn);
    const char *boot = d->boot ? ",bootindex=0" : "";
    const char *bs = d->bs_opts ? d->bs_opts : "";
    cleanup_free char *files = disk_fds(a, fp, d);
    argv_optf(a, "-drive", "if=none,id=%s,format=%s,%s%s", d->id, d->fmt, files, d->notrim ? "" : ",discard=unmap");
    if (!strcmp(d->model, "ahci")) {
        add_ahci(a, addr, d, "ide-hd");
    } else if (!strcmp(d->model, "nvme")) {
        cleanup_free char *serial = qemu_opt_escape(d->serial ? d->serial : d->id);
        argv_optf(a, "-device", "nvme,id=%s,drive=%s,serial=%s,%s%s%s", d->id, d->id, serial, addr, boot, bs);
    } else {
        argv_optf(a, "-device", "virtio-blk-pci,id=%s,drive=%s,%s%s%s", d->id, d->id, addr, boot, bs);
    }
}
