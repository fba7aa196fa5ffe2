/* The QEMU command line for a VM.  Kept free of side effects so it can be
 * unit-tested and reused by the benchmark ("start the same argv by hand"). */
#include "hv/hv_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "common/util.h"

typedef struct strvec {
    char **v;
    size_t n, cap;
} strvec;

static void sv_add(strvec *s, char *owned)
{
    if (s->n + 2 > s->cap) {
        s->cap = s->cap ? s->cap * 2 : 64;
        s->v = xrealloc(s->v, s->cap * sizeof *s->v);
    }
    s->v[s->n++] = owned;
    s->v[s->n] = NULL;
}

static void sv_add2(strvec *s, const char *opt, char *owned_val)
{
    sv_add(s, xstrdup(opt));
    sv_add(s, owned_val);
}

/* QEMU option values separate with ','; a literal comma is written ",,". */
static char *qesc(const char *s)
{
    size_t n = 0;
    for (const char *p = s; *p; p++)
        n += *p == ',' ? 2 : 1;
    char *out = xmalloc(n + 1), *o = out;
    for (const char *p = s; *p; p++) {
        *o++ = *p;
        if (*p == ',')
            *o++ = ',';
    }
    *o = '\0';
    return out;
}

static int parse_num(const char *s, size_t len, int max, int *out)
{
    if (len == 0 || len > 3)
        return -1;
    int v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

int hv_parse_pci_slot(const char *s, int *bus, int *dev, int *fn, vm_err *err)
{
    int f[3], nf = 0;
    const char *p = s, *start = s;
    if (!s)
        return vm_err_set(err, VMERR_INVALID, "pci_slot is not a string");
    for (;; p++) {
        if (*p == ':' || *p == '\0') {
            if (nf == 3)
                goto bad;
            /* Ranges are checked below once we know which field is which. */
            if (parse_num(start, (size_t)(p - start), 255, &f[nf]) < 0)
                goto bad;
            nf++;
            if (*p == '\0')
                break;
            start = p + 1;
        }
    }
    int b = 0, d, fu = 0;
    if (nf == 3) {
        b = f[0]; d = f[1]; fu = f[2];
    } else if (nf == 2) {
        d = f[0]; fu = f[1];
    } else {
        d = f[0];
    }
    if (d > 31 || fu > 7)
        goto bad;
    *bus = b;
    *dev = d;
    *fn = fu;
    return 0;
bad:
    return vm_err_set(err, VMERR_INVALID, "pci_slot \"%s\" is not valid", s);
}

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

static int json_int_or(json_t *o, const char *key, long def, long *out, vm_err *err)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return 0;
    }
    if (json_is_integer(v)) {
        *out = (long)json_integer_value(v);
        return 0;
    }
    if (json_is_string(v)) {
        int64_t n;
        if (parse_i64(json_string_value(v), &n)) {
            *out = (long)n;
            return 0;
        }
        if (json_string_value(v)[0] == '-' && parse_i64(json_string_value(v) + 1, &n)) {
            *out = -(long)n;
            return 0;
        }
    }
    return vm_err_set(err, VMERR_INVALID, "%s must be an integer", key);
}

static bool plain_word(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("_.,+=-", *s))
            return false;
    return true;
}

/* guest_block_size "N" or "N/M" → QEMU logical/physical block sizes. */
static int block_size_opts(const char *gbs, char **out, vm_err *err)
{
    unsigned long l, p;
    char extra;
    int n = sscanf(gbs, "%lu/%lu%c", &l, &p, &extra);
    if (n == 1)
        p = l;
    if ((n != 1 && n != 2) || !l || (l & (l - 1)) || !p || (p & (p - 1)) || l < 512 || p < l ||
        p > 65536)
        return vm_err_set(err, VMERR_INVALID, "guest_block_size \"%s\" is not valid", gbs);
    *out = xasprintf(",logical_block_size=%lu,physical_block_size=%lu", l, p);
    return 0;
}

typedef struct disk_plan {
    char *id;
    char *file;
    const char *fmt;
    const char *model;
    bool cdrom, boot, notrim;
    int dev, fn;
    char *bs_opts;
    const char *serial;
} disk_plan;

int hv_build_argv_full(const vm_ctx *ctx, vs_pool *pool, json_t *vmobj, const char *accel,
                       char ***argv_out, json_t **files_out, char **uefi_out, json_t **vnc_out,
                       vm_err *err)
{
    strvec a = { 0 };
    disk_plan *plans = NULL;
    size_t nplans = 0;
    int rc = -1;
    cleanup_json json_t *files = json_array();
    cleanup_json json_t *vnc = NULL;
    cleanup_free char *uefi_vars = NULL;
    cleanup_free char *rundir = NULL;
    cleanup_free char *cpu = NULL;
    unsigned char used[32] = { 0 }; /* bit f set = function f of bus-0 device d in use */

    const char *uuid = json_string_value(json_object_get(vmobj, "uuid"));
    if (!uuid || !uuid_valid(uuid)) {
        vm_err_set(err, VMERR_INVALID, "VM object has no valid uuid");
        goto out;
    }
    if (!accel || (strcmp(accel, "kvm") && strcmp(accel, "tcg"))) {
        vm_err_set(err, VMERR_INVALID, "accelerator must be kvm or tcg");
        goto out;
    }
    long ram, vcpus, vnc_port;
    if (json_int_or(vmobj, "ram", 256, &ram, err) < 0 ||
        json_int_or(vmobj, "vcpus", 1, &vcpus, err) < 0 ||
        json_int_or(vmobj, "vnc_port", 0, &vnc_port, err) < 0)
        goto out;
    if (ram < 1) {
        vm_err_set(err, VMERR_INVALID, "ram must be at least 1 (MiB)");
        goto out;
    }
    if (vcpus < 1 || vcpus > 255) {
        vm_err_set(err, VMERR_INVALID, "vcpus must be between 1 and 255");
        goto out;
    }

    rundir = vm_ctx_vm_rundir(ctx, uuid);
    {
        /* Fail before anything exists rather than with QEMU's bind error. */
        struct sockaddr_un sa;
        cleanup_free char *longest = xasprintf("%s/console.sock", rundir);
        if (strlen(longest) >= sizeof sa.sun_path) {
            vm_err_set(err, VMERR_INVALID,
                       "socket path %s is too long (%zu bytes, unix sockets allow %zu): "
                       "use a shorter VMADM_ROOT",
                       longest, strlen(longest), sizeof sa.sun_path - 1);
            goto out;
        }
    }

    /* ---- CPU ---- */
    const char *cpu_type = json_string_value(json_object_get(vmobj, "cpu_type"));
    if (!cpu_type || !*cpu_type)
        cpu = xstrdup("qemu64");
    else if (!strcmp(cpu_type, "host"))
        /* KVM: the nested hosts we run on reject IA32_ARCH_CAPABILITIES;
         * TCG has no "host" model, "max" is its closest equivalent. */
        cpu = xstrdup(!strcmp(accel, "kvm") ? "host,-arch-capabilities" : "max");
    else if (plain_word(cpu_type))
        cpu = xstrdup(cpu_type);
    else {
        vm_err_set(err, VMERR_INVALID, "cpu_type \"%s\" is not valid", cpu_type);
        goto out;
    }

    /* ---- disks: resolve and place ---- */
    json_t *disks = json_object_get(vmobj, "disks");
    if (disks && !json_is_array(disks)) {
        vm_err_set(err, VMERR_INVALID, "disks must be an array");
        goto out;
    }
    nplans = json_array_size(disks);
    plans = xcalloc(nplans ? nplans : 1, sizeof *plans);
    int nboot = 0;
    for (size_t i = 0; i < nplans; i++) {
        json_t *d = json_array_get(disks, i);
        disk_plan *p = &plans[i];
        p->id = hv_disk_id(d, i);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(plans[j].id, p->id)) {
                vm_err_set(err, VMERR_INVALID, "two disks map to the same id %s", p->id);
                goto out;
            }
        const char *media = json_string_value(json_object_get(d, "media"));
        p->cdrom = media && !strcmp(media, "cdrom");
        if (media && !p->cdrom && strcmp(media, "disk")) {
            vm_err_set(err, VMERR_INVALID, "disk %s: media \"%s\" is not valid", p->id, media);
            goto out;
        }
        p->model = json_string_value(json_object_get(d, "model"));
        if (!p->model)
            p->model = p->cdrom ? "ahci" : "virtio";
        if (strcmp(p->model, "virtio") && strcmp(p->model, "ahci") && strcmp(p->model, "nvme")) {
            vm_err_set(err, VMERR_INVALID, "disk %s: model \"%s\" is not valid", p->id, p->model);
            goto out;
        }
        p->boot = json_is_true(json_object_get(d, "boot"));
        p->notrim = json_is_true(json_object_get(d, "notrim"));
        nboot += p->boot;
        p->serial = json_string_value(json_object_get(d, "uuid"));
        const char *zfs = json_string_value(json_object_get(d, "zfs_filesystem"));
        const char *path = json_string_value(json_object_get(d, "path"));
        if (zfs && pool && !p->cdrom) {
            if (vs_vol_path(pool, zfs, &p->file, err) < 0) {
                vm_err_prefix(err, "disk %s: ", p->id);
                goto out;
            }
            p->fmt = "qcow2";
        } else if (path && *path) {
            p->file = xstrdup(path);
            p->fmt = str_has_suffix(path, ".qcow2") ? "qcow2" : "raw";
        } else {
            vm_err_set(err, VMERR_INVALID, "disk %s has neither a volume nor a path", p->id);
            goto out;
        }
        json_array_append_new(files, json_string(p->file));
        const char *gbs = json_string_value(json_object_get(d, "guest_block_size"));
        if (gbs && block_size_opts(gbs, &p->bs_opts, err) < 0)
            goto out;
        const char *slot = json_string_value(json_object_get(d, "pci_slot"));
        if (!slot) {
            vm_err_set(err, VMERR_INVALID, "disk %s has no pci_slot", p->id);
            goto out;
        }
        int bus;
        if (hv_parse_pci_slot(slot, &bus, &p->dev, &p->fn, err) < 0)
            goto out;
        if (bus != 0) {
            vm_err_set(err, VMERR_UNSUPPORTED,
                       "pci_slot \"%s\": only PCI bus 0 is supported on this host", slot);
            goto out;
        }
        if (p->dev == 0 || p->dev == 31 || (p->dev == 30 && vnc_port != -1)) {
            vm_err_set(err, VMERR_INVALID, "pci_slot \"%s\" invalid: PCI device %d is reserved",
                       slot, p->dev);
            goto out;
        }
        if (used[p->dev] & (1u << p->fn)) {
            vm_err_set(err, VMERR_INVALID, "VM has multiple disks in pci_slot \"%s\"", slot);
            goto out;
        }
        used[p->dev] |= (unsigned char)(1u << p->fn);
    }
    if (nboot > 1) {
        vm_err_set(err, VMERR_INVALID, "multiple boot disks");
        goto out;
    }

    /* ---- assemble ---- */
    sv_add(&a, xstrdup(HV_QEMU_BIN));
    sv_add2(&a, "-name", xasprintf("%s,debug-threads=on", uuid));
    sv_add2(&a, "-uuid", xstrdup(uuid));
    sv_add2(&a, "-machine", xstrdup("q35"));
    sv_add2(&a, "-accel", xstrdup(accel));
    sv_add2(&a, "-cpu", xstrdup(cpu));
    sv_add2(&a, "-m", xasprintf("%ld", ram));
    sv_add2(&a, "-smp", xasprintf("%ld", vcpus));
    sv_add(&a, xstrdup("-no-user-config"));
    sv_add(&a, xstrdup("-nodefaults"));
    sv_add2(&a, "-display", xstrdup("none"));
    sv_add2(&a, "-msg", xstrdup("timestamp=on"));
    {
        cleanup_free char *r = qesc(rundir);
        sv_add2(&a, "-chardev", xasprintf("socket,id=qmp,path=%s/qmp.sock,server=on,wait=off", r));
        sv_add2(&a, "-mon", xstrdup("chardev=qmp,mode=control"));
        sv_add2(&a, "-chardev",
                xasprintf("socket,id=serial0,path=%s/console.sock,server=on,wait=off,"
                          "logfile=%s/console.log",
                          r, r));
        sv_add2(&a, "-serial", xstrdup("chardev:serial0"));
    }

    const char *bootrom = json_string_value(json_object_get(vmobj, "bootrom"));
    if (!bootrom || !strcmp(bootrom, "bios")) {
        /* SeaBIOS is QEMU's default firmware. */
    } else if (!strcmp(bootrom, "uefi")) {
        cleanup_free char *vmdir = vm_ctx_vm_dir(ctx, uuid);
        uefi_vars = xasprintf("%s/uefi-vars.fd", vmdir);
        cleanup_free char *v = qesc(uefi_vars);
        sv_add2(&a, "-drive",
                xasprintf("if=pflash,format=raw,unit=0,readonly=on,file=%s", HV_OVMF_CODE));
        sv_add2(&a, "-drive", xasprintf("if=pflash,format=raw,unit=1,file=%s", v));
    } else if (bootrom[0] == '/') {
        sv_add2(&a, "-bios", xstrdup(bootrom));
    } else {
        vm_err_set(err, VMERR_INVALID, "bootrom \"%s\" is not valid", bootrom);
        goto out;
    }

    if (vnc_port != -1) {
        if (vnc_port != 0 && (vnc_port < 5900 || vnc_port > 65535)) {
            vm_err_set(err, VMERR_INVALID,
                       "vnc_port %ld is not usable: QEMU serves VNC on ports 5900-65535", vnc_port);
            goto out;
        }
        const char *pw = json_string_value(json_object_get(vmobj, "vnc_password"));
        int disp = vnc_port ? (int)(vnc_port - 5900) : 0;
        /* Port 0 = the first free display from 5900 on, as SmartOS picks one. */
        sv_add2(&a, "-vnc",
                xasprintf("127.0.0.1:%d%s%s", disp, vnc_port ? "" : ",to=99",
                          pw && *pw ? ",password=on" : ""));
        /* The framebuffer sits on device 30 like bhyve's fbuf (D25). */
        sv_add2(&a, "-device", xstrdup("VGA,id=video0,bus=pcie.0,addr=0x1e.0"));
        vnc = json_pack("{s:s,s:i,s:b}", "host", "127.0.0.1", "display", disp, "auto",
                        vnc_port == 0);
        if (pw && *pw)
            json_object_set_new(vnc, "password", json_string(pw));
    }

    for (size_t i = 0; i < nplans; i++) {
        disk_plan *p = &plans[i];
        cleanup_free char *f = qesc(p->file);
        bool multi = p->fn == 0 && (used[p->dev] & ~1u);
        cleanup_free char *addr = xasprintf("bus=pcie.0,addr=0x%x.%d%s", p->dev, p->fn,
                                            multi ? ",multifunction=on" : "");
        const char *boot = p->boot ? ",bootindex=0" : "";
        const char *bs = p->bs_opts ? p->bs_opts : "";
        if (p->cdrom)
            sv_add2(&a, "-drive",
                    xasprintf("if=none,id=%s,format=raw,media=cdrom,readonly=on,file=%s", p->id, f));
        else
            sv_add2(&a, "-drive",
                    xasprintf("if=none,id=%s,format=%s,file=%s%s", p->id, p->fmt, f,
                              p->notrim ? "" : ",discard=unmap"));
        if (p->cdrom || !strcmp(p->model, "ahci")) {
            sv_add2(&a, "-device", xasprintf("ich9-ahci,id=sata-%s,%s", p->id, addr));
            sv_add2(&a, "-device",
                    xasprintf("%s,id=%s,drive=%s,bus=sata-%s.0%s%s",
                              p->cdrom ? "ide-cd" : "ide-hd", p->id, p->id, p->id, boot, bs));
        } else if (!strcmp(p->model, "nvme")) {
            cleanup_free char *serial = qesc(p->serial ? p->serial : p->id);
            sv_add2(&a, "-device",
                    xasprintf("nvme,id=%s,drive=%s,serial=%s,%s%s%s", p->id, p->id, serial, addr,
                              boot, bs));
        } else {
            sv_add2(&a, "-device",
                    xasprintf("virtio-blk-pci,id=%s,drive=%s,%s%s%s", p->id, p->id, addr, boot, bs));
        }
    }

    /* Networking is not provided yet; say so explicitly. */
    sv_add2(&a, "-nic", xstrdup("none"));

    const char *extra = json_string_value(json_object_get(vmobj, "qemu_extra_opts"));
    if (extra) {
        cleanup_strv char **x = strv_split(extra, " ");
        for (char **e = x; e && *e; e++)
            sv_add(&a, xstrdup(*e));
    }

    *argv_out = steal_ptr(a.v);
    if (files_out)
        *files_out = json_incref(files);
    if (uefi_out)
        *uefi_out = steal_ptr(uefi_vars);
    if (vnc_out)
        *vnc_out = json_incref(vnc);
    rc = 0;
out:
    if (a.v)
        strv_free(a.v);
    for (size_t i = 0; i < nplans; i++) {
        free(plans[i].id);
        free(plans[i].file);
        free(plans[i].bs_opts);
    }
    free(plans);
    return rc;
}

int hv_build_argv(const vm_ctx *ctx, vs_pool *pool, json_t *vmobj, const char *accel, char ***argv,
                  vm_err *err)
{
    return hv_build_argv_full(ctx, pool, vmobj, accel, argv, NULL, NULL, NULL, err);
}

long hv_host_mem_mib(void)
{
    FILE *f = fopen("/proc/meminfo", "re");
    char line[256];
    long kb = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemTotal: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb / 1024;
}
