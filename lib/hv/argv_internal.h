/* The pieces of the QEMU command line builder, shared by lib/hv/argv*.c.
 *
 *   hv_argv       a growable NULL-terminated argv; every add copies.
 *   hv_pci_bus    the one PCI slot allocator of bus 0 (pcie.0): reserved
 *                 devices, sticky slots claimed from the VM config, and the
 *                 "bus=pcie.0,addr=..." property of each device.  Disks use
 *                 it today; NICs, serial ports and other PCI devices claim
 *                 their slots through it too.
 *   argv_add_<class>()  one function per device class, called by
 *                 hv_build_argv_full (argv.c) in command-line order.
 *
 * The builder is pure: nothing here touches the filesystem except
 * vs_vol_path's metadata read and the qcow2 headers of the disk files
 * (their backing chains).  Fallible functions set `err` with the
 * operator-facing message; the order of the checks (and so which message
 * a config with several faults gets) is fixed by hv_build_argv_full. */
#ifndef VM_HV_ARGV_INTERNAL_H
#define VM_HV_ARGV_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "common/ctx.h"
#include "common/err.h"
#include "storage/storage.h"

/* ---- argv ---- */
typedef struct hv_argv {
    char **v; /* NULL-terminated once anything was added */
    size_t n, cap;
} hv_argv;

void argv_add(hv_argv *a, const char *arg);
void argv_addf(hv_argv *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Option `opt` followed by its formatted value: argv_optf(a, "-m", "%ld", ram). */
void argv_optf(hv_argv *a, const char *opt, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The vector, handed to the caller (free with strv_free); `a` is emptied. */
char **argv_steal(hv_argv *a);
void argv_free(hv_argv *a);
/* QEMU option values separate with ','; a literal comma is written ",,".
 * Caller frees. */
char *qemu_opt_escape(const char *s);

/* ---- descriptors QEMU inherits ----
 * QEMU opens no VM file by path (confine.c): every file and socket is an
 * entry here, opened by hv_start and found by QEMU at fd HV_FD_BASE + its
 * index.  Entries: {"kind", "path"[, "dir"]}, kinds
 *   listen   a unix socket vmadm binds (0600) and QEMU accepts on
 *   log      created/truncated 0600, write-only
 *   file, file-ro    vmadm's own file (UEFI NVRAM), read-write / read-only
 *   vol-rw, vol-ro    the top layer of a pool volume
 *   path-rw, path-ro  a disk/cdrom path, checked by the path rule
 *   seed     run/vms/<uuid>/cidata.iso, the NoCloud seed hv_start has just
 *            written (hv_nocloud_prepare), read-only
 *   layer    a qcow2 backing layer, read-only, inside "dir" (a pool's data
 *            directory) or, without "dir", allowed by the list
 *   tap      the tap device of the NIC whose interface is "path", created,
 *            bridged and protected by lib/net (argv_nics.c) */
#define HV_FD_BASE 4

typedef struct hv_fdplan {
    json_t *fds; /* array of entries, index i = fd HV_FD_BASE + i */
    int next_set; /* next -add-fd set id */
} hv_fdplan;

/* Adds an entry; returns its fd number. */
int hv_fd_add(hv_fdplan *p, const char *kind, const char *path, const char *dir);
/* "-add-fd fd=<n>,set=<set>,opaque=<opaque>" for a new entry.  A disk's
 * opaque is its path: `vmadm info block` shows it instead of /dev/fdset/N. */
void argv_add_fd(hv_argv *a, hv_fdplan *p, int set, const char *kind, const char *path, const char *dir,
                 const char *opaque);

/* ---- PCI bus 0 ---- */
#define HV_PCI_VGA_DEV 30 /* the framebuffer, where bhyve has its fbuf (D25) */

typedef struct hv_pci_bus {
    unsigned char used[32]; /* bit f set: function f of device d is taken */
    unsigned int reserved; /* bit d set: device d is not for the config's slots */
} hv_pci_bus;

/* Device 0 (host bridge) and 31 (ICH9 LPC) are always reserved; device 30
 * too when the VM has a VGA framebuffer. */
void hv_pci_init(hv_pci_bus *bus, bool vga);
/* Takes the sticky slot `slot` (D23 syntax) recorded in the VM config for
 * one of the VM's `what` ("disks"): fails on bad syntax, a bus other than 0,
 * a reserved device or a slot already taken. */
int hv_pci_claim(hv_pci_bus *bus, const char *slot, const char *what, int *dev, int *fn, vm_err *err);
/* "bus=pcie.0,addr=0x<dev>.<fn>", plus ",multifunction=on" on function 0
 * of a device with other functions taken.  Caller frees. */
char *hv_pci_addr(const hv_pci_bus *bus, int dev, int fn);

/* ---- the VM as a whole ---- */
typedef struct hv_machine {
    const char *uuid;
    const char *accel; /* "kvm" or "tcg" */
    long ram, vcpus; /* MiB, count */
    long vnc_port; /* -1 off, 0 first free display, else the TCP port */
    bool vnc_unix; /* VNC on, no password: unix socket rundir/vnc/vnc.sock */
    char *cpu; /* -cpu value */
    char *rundir; /* the VM's runtime directory */
} hv_machine;

/* Reads and checks uuid, ram, vcpus, vnc_port, cpu_type (and the socket
 * path length under ctx's run directory). */
int hv_machine_parse(const vm_ctx *ctx, json_t *vmobj, const char *accel, hv_machine *m, vm_err *err);
void hv_machine_free(hv_machine *m);

/* ---- disks (disks[], including cdroms) ---- */
typedef struct hv_disk {
    char *id; /* see hv.h "disk ids" */
    char *file; /* what QEMU opens */
    const char *fmt; /* "qcow2" or "raw" */
    bool volume; /* file is a pool volume (trusted); else a checked path */
    char *volume_dir; /* the pool's data directory (volumes) */
    json_t *layers; /* qcow2 backing layers below file, top first */
    const char *model; /* "virtio", "ahci" or "nvme" */
    const char *serial;
    bool cdrom, boot, notrim;
    int dev, fn; /* PCI slot on bus 0 */
    char *bs_opts; /* ",logical_block_size=..,physical_block_size=.." or NULL */
} hv_disk;

typedef struct hv_disks {
    hv_disk *v;
    size_t n;
} hv_disks;

/* Resolves every disk (volume path through `pool`, else its path), checks
 * it, reads its qcow2 backing chain and claims its pci_slot on `bus`. */
int hv_disks_plan(vs_pool *pool, json_t *vmobj, hv_pci_bus *bus, hv_disks *out, vm_err *err);
void hv_disks_free(hv_disks *d);

/* ---- NICs (nics[]) ---- */
typedef struct hv_nic {
    char *id; /* the NIC's interface (net<N>): netdev and device id */
    long number; /* N of the interface name */
    const char *mac;
    const char *device; /* QEMU device: virtio-net-pci, e1000, rtl8139 */
    long mtu; /* 0: not set */
    int dev, fn; /* PCI slot on bus 0 */
} hv_nic;

typedef struct hv_nics {
    hv_nic *v; /* sorted by interface number */
    size_t n;
} hv_nics;

/* Checks every NIC and claims its slot on `bus` (argv_nics.c). */
int hv_nics_plan(json_t *vmobj, hv_pci_bus *bus, hv_nics *out, vm_err *err);
void hv_nics_free(hv_nics *n);

/* ---- device classes, in command-line order ---- */
void argv_add_machine(hv_argv *a, const hv_machine *m); /* machine, cpu, memory */
void argv_add_monitor(hv_argv *a, hv_fdplan *p, const hv_machine *m); /* QMP */
void argv_add_serial(hv_argv *a, hv_fdplan *p, const hv_machine *m); /* console */
void argv_add_mdata(hv_argv *a, hv_fdplan *p, const hv_machine *m); /* COM2 metadata + SMBIOS (argv_mdata.c) */
/* bootrom: SeaBIOS, UEFI (*uefi_vars = the NVRAM path) or a ROM file. */
int argv_add_firmware(hv_argv *a, hv_fdplan *p, const vm_ctx *ctx, const hv_machine *m, json_t *vmobj, char **uefi_vars,
                      vm_err *err);
/* VNC and its framebuffer; *vnc as hv_build_argv_full describes. */
int argv_add_display(hv_argv *a, const hv_machine *m, const hv_pci_bus *bus, json_t *vmobj, json_t **vnc, vm_err *err);
void argv_add_disk(hv_argv *a, hv_fdplan *p, const hv_pci_bus *bus, const hv_disk *d);
void argv_add_cdrom(hv_argv *a, hv_fdplan *p, const hv_pci_bus *bus, const hv_disk *d);
/* The NoCloud seed cdrom when vmobj has "nocloud": true (argv_nocloud.c). */
#define HV_NOCLOUD_SEED "cidata.iso"
void argv_add_nocloud(hv_argv *a, hv_fdplan *p, const hv_machine *m, json_t *vmobj);
/* NICs: tap descriptors, model, mac, PCI slot (argv_nics.c). */
void argv_add_nics(hv_argv *a, hv_fdplan *p, const hv_pci_bus *bus, const hv_nics *nics);
void argv_add_extra(hv_argv *a, json_t *vmobj); /* qemu_extra_opts */

#endif
