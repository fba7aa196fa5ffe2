/* Hardware VMs (brands bhyve, kvm) run by QEMU.
 *
 * Each running VM is one qemu-system-x86_64 process whose parent is a tiny
 * supervisor process (forked from the caller, detached with setsid, holding
 * none of the caller's fds).  The supervisor reaps QEMU the moment it ends and
 * records the end in the runtime directory, so a guest that powers itself
 * off is "stopped" at once and exit_status is real.
 *
 * Runtime directory run/vms/<uuid>/ (see common/runstate.h for the shared
 * contract; files beyond it are lib/hv's own):
 *   pid, boot, lastexited, state, accel   the runstate.h contract
 *   accel_warning   why KVM was not used (only with accel tcg after a probe)
 *   supervisor      pid of the supervisor process
 *   qmp.sock        QMP monitor (unix socket, bound by vmadm, root 0600)
 *   console.sock    serial console (likewise; one client at a time)
 *   mdata.sock      guest metadata on COM2 (bound by vmadm, root 0600; QEMU
 *                   listens on it, vminfod's metadata service connects)
 *   cidata.iso      the NoCloud seed of a VM with "nocloud" (root 0600)
 *   console.log     everything the guest wrote to its serial port this boot
 *   qemu.log        QEMU's stdout/stderr (and the supervisor's notes)
 *   vnc.json        {host, port, display[, password]} (mode 0600)
 *   screenshot.ppm  last `sysrq screenshot`
 *   vnc/vnc.sock    VNC without a password (dir 0700, the QEMU user's)
 *   migrate.pid     the process running hv_migrate_send (migrate.h), and
 *   migrate.cancel  hv_migrate_cancel's request to it
 * Persistent per-VM state: etc/vms/<uuid>/uefi-vars.fd (UEFI NVRAM, created
 * from OVMF_VARS_4M.fd on the first UEFI start).
 *
 * Drive / device ids ("disk ids"): a disk whose zfs_filesystem (or path) ends
 * in "disk<N>" has id "disk<N>"; other disks get "cdrom<i>" (media cdrom) or
 * "file<i>" where i is the disk's index in disks[].  The id names the QEMU
 * block backend (query-block "device", block_resize) and the guest-visible
 * device (query-pci "qdev_id"; an ahci disk's controller is "sata-<id>").
 *
 * Confinement (confine.c): QEMU runs as the system user vmadm-qemu, never
 * root, with no capabilities, no_new_privs and -sandbox on (obsolete,
 * elevateprivileges, spawn, resourcecontrol denied); it opens no VM file
 * by path: vmadm passes every disk layer, the NVRAM, the console log,
 * the sockets and each NIC's tap as descriptors.
 *
 * NICs (argv_nics.c): one tap per NIC, made by lib/net on the nic tag's
 * bridge after the NIC's nftables protection is in place, not persistent
 * (it goes when QEMU exits); device net<N> at PCI 0:6:<i> (i-th NIC by
 * interface number).  hv_start fails, creating nothing, when a NIC's tag
 * does not exist.  The protection is removed by the runtime (lib/vm) once
 * the VM stopped.  VNC is off unless vnc_port or vnc_password
 * is given; with a vnc_password it listens on 127.0.0.1 with VNC password
 * authentication, without one on run/vms/<uuid>/vnc/vnc.sock only.
 *
 * None of these take the per-VM lock: the caller (lib/vm) serialises
 * mutating operations on a VM. */
#ifndef VM_HV_H
#define VM_HV_H

#include <stdint.h>
#include <jansson.h>

#include "common/ctx.h"
#include "common/err.h"
#include "common/runstate.h"
#include "storage/storage.h"

/* Starts the VM and returns once QMP query-status says "running".  Fails
 * (leaving no pid/socket files) on a missing disk, bad pci_slot, ram above
 * host memory, or if QEMU exits or stops with internal-error while starting;
 * the message then carries the tail of qemu.log.  `pool` may be NULL when
 * every disk has a plain `path`.  VMERR_ALREADY if it is already running. */
int hv_start(const vm_ctx *ctx, vs_pool *pool, json_t *vmobj, vm_err *err);

/* Graceful (force == 0): ACPI power button, wait up to timeout_s seconds for
 * QEMU to exit, then QMP quit, then SIGKILL.  force: QMP quit at once.
 * Returns once QEMU is gone and lastexited is written.  VMERR_STATE if the
 * VM is not running. */
int hv_stop(const vm_ctx *ctx, const char *uuid, int force, int timeout_s, vm_err *err);
/* Sends a signal to the QEMU process (VMERR_STATE if not running). */
int hv_kill(const vm_ctx *ctx, const char *uuid, int sig, vm_err *err);
/* Hard reset (QMP system_reset), for `reboot -F`. */
int hv_reset(const vm_ctx *ctx, const char *uuid, vm_err *err);

/* No fork, no QMP: pid file + /proc check + lastexited.  A pid file whose
 * process is gone or is not this VM's QEMU is removed (with the stale
 * sockets) when nobody holds the VM's lock.  Never fails for a VM that was
 * never started (all zero, zone_state "installed"). */
int hv_runstate(const vm_ctx *ctx, const char *uuid, vm_runstate *out);

/* Runtime info, SmartOS `vmadm info` style: *out = {"<type>": ...} for each
 * requested type (NULL or "all" = every type).  Types: block, blockstats,
 * chardev, cpus, pci, version, vnc, status.  Unknown type → VMERR_INVALID
 * "unknown info type <type>". */
int hv_info(const vm_ctx *ctx, const char *uuid, char **types, json_t **out, vm_err *err);
/* Attaches stdin/stdout to the serial console; CTRL-] (0x1d) detaches. */
int hv_console(const vm_ctx *ctx, const char *uuid, vm_err *err);
/* type "nmi" (*out = {}) or "screenshot" (*out = {"path": ".../screenshot.ppm"}). */
int hv_sysrq(const vm_ctx *ctx, const char *uuid, const char *type, json_t **out, vm_err *err);
/* Online resize of a disk (disk id as above).  Does not refuse shrinking:
 * the caller decides (dangerous_allow_shrink). */
int hv_block_resize(const vm_ctx *ctx, const char *uuid, const char *disk_id, uint64_t bytes, vm_err *err);
/* Moves every disk of the running VM onto the overlays storage prepared
 * for a live snapshot (vs_switch_fn's `switches`), all at once (one QMP
 * transaction), or none. */
int hv_snapshot_switch(const vm_ctx *ctx, const char *uuid, json_t *switches, vm_err *err);
/* Deletes a snapshot layer from a running VM's disk chain: `merge` is
 * storage's vs_merge_fn descriptor; QEMU block-streams the layer into the
 * file above it (blockjob.c says why stream, not commit) and the call
 * returns once the job ended.  On failure QEMU's chain still reads the
 * same data and the storage must keep the snapshot. */
int hv_block_merge(const vm_ctx *ctx, const char *uuid, json_t *merge, vm_err *err);
/* Runs one QMP command object {"execute":..., "arguments":...}. */
int hv_qmp_command(const vm_ctx *ctx, const char *uuid, json_t *cmd, json_t **ret, vm_err *err);

/* Which accelerator VMs use on this host: ctx->accel if forced, else the
 * probe result cached in var/cache/accel.json (key: kernel release, QEMU
 * binary identity, /dev/kvm presence).  `warning` is "" or the TCG fallback
 * warning. */
int hv_accel(const vm_ctx *ctx, char accel[8], char warning[256], vm_err *err);

/* The exact QEMU argv for a VM: a pure function of vmobj, the resolved disk
 * paths and ctx's directories (creates nothing).  *argv: NULL-terminated,
 * free with strv_free. */
int hv_build_argv(const vm_ctx *ctx, vs_pool *pool, json_t *vmobj, const char *accel, char ***argv, vm_err *err);

/* The host-path rule for a disk or cdrom `path` (a nocreate disk, a cdrom):
 * it must exist and resolve inside the VM's own dataset (<pool>/<uuid>'s
 * mountpoint; pool may be NULL) or a directory listed in
 * $VMADM_ROOT/etc/hvm-paths.allow (one absolute directory per line, `#`
 * comments; a block device only under a "<directory> block" line).
 * hv_start applies it to the file it opens; lib/vm calls it at create and
 * update to refuse early.  Messages: "disk path <p> is outside the VM's own
 * dataset and the directories allowed in <file>", "disk path <p> is a block
 * device: allowed only under a \"<directory> block\" line in <file>",
 * "disk path <p> is neither a regular file nor a block device",
 * "disk <p> is not usable: <strerror>". */
int hv_check_disk_path(const vm_ctx *ctx, vs_pool *pool, const char *uuid, const char *path, vm_err *err);

/* PCI slot "b:d:f" | "d:f" | "d" (D23).  Returns -1 (message
 * `pci_slot "<v>" is not valid`) on bad syntax or range. */
int hv_parse_pci_slot(const char *s, int *bus, int *dev, int *fn, vm_err *err);
/* The disk id (see above) of disks[index]; caller frees. */
char *hv_disk_id(json_t *disk, size_t index);

#endif
