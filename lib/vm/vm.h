/* The VM operations vmadm exposes.  Each validates everything before it
 * changes anything, holds the VM's lock while it works, and leaves the VM
 * either as it was or fully changed.  Messages are SmartOS's (reference
 * C*, V*, R*, D*) unless an issue says otherwise. */
#ifndef VM_VM_H
#define VM_VM_H

#include <jansson.h>
#include "common/ctx.h"
#include "common/err.h"

#define VMADM_BUILDSTAMP "vmadm-0.1.0"

/* Create from a payload (consumed: normalised in place).  uuid_out gets the
 * VM's uuid even on failure (C12). */
int vm_create(const vm_ctx *ctx, json_t *payload, char uuid_out[37], vm_err *err);
int vm_update(const vm_ctx *ctx, const char *uuid, json_t *payload, vm_err *err);
int vm_delete(const vm_ctx *ctx, const char *uuid, vm_err *err);

/* Lifecycle.  VMERR_ALREADY marks SmartOS's exit-0 no-ops. */
int vm_start(const vm_ctx *ctx, const char *uuid, vm_err *err);
/* vm_start with SmartOS's HVM start arguments order= / once= (boot device
 * letters, for this start only); either may be NULL.  VMERR_USAGE for a
 * non-HVM brand or bad letters. */
int vm_start_boot(const vm_ctx *ctx, const char *uuid, const char *order, const char *once, vm_err *err);
int vm_stop(const vm_ctx *ctx, const char *uuid, int force, int timeout_s, vm_err *err);
int vm_reboot(const vm_ctx *ctx, const char *uuid, int force, vm_err *err);
int vm_kill(const vm_ctx *ctx, const char *uuid, int sig, vm_err *err);
/* Starts every VM with autoboot=true, a bounded number at a time
 * (VMADM_BOOT_PARALLEL, default 2 per CPU); *report = [{uuid, ok, error}]
 * names every such VM, including those that could not even be tried. */
int vm_boot_all(const vm_ctx *ctx, json_t **report, vm_err *err);

/* Reaching into a running VM (state and brand checked here; the runtime
 * does it or says it cannot: VMERR_UNSUPPORTED). */
int vm_console(const vm_ctx *ctx, const char *uuid, vm_err *err);
/* argv NULL: a login shell; *status is the command's exit status. */
int vm_login(const vm_ctx *ctx, const char *uuid, char *const argv[], int *status, vm_err *err);
/* types: NULL-terminated `vmadm info` types, NULL for all. */
int vm_info(const vm_ctx *ctx, const char *uuid, char **types, json_t **out, vm_err *err);
int vm_sysrq(const vm_ctx *ctx, const char *uuid, const char *type, json_t **out, vm_err *err);

/* `vmadm validate create|update`: NULL when valid, else SmartOS's error object. */
json_t *vm_validate_payload(const vm_ctx *ctx, const char *action, const char *brand, json_t *payload);

/* `vmadm disks`: {"disks": [{slot, uuid, boot, image, size, snapshot_size,
 * pci_slot, model, media}], "total_space", "free_space"} in MiB. */
int vm_disk_view(const vm_ctx *ctx, const char *uuid, json_t **out, vm_err *err);

/* The VMs with a NIC on nic tag `tag`: *uuids a sorted array of strings
 * (nictagadm delete refuses a tag in use; nictagadm vms lists them). */
int vm_nictag_users(const vm_ctx *ctx, const char *tag, json_t **uuids, vm_err *err);

/* Snapshots <zfs_filesystem>@vmsnap-<name> (S13–S23). */
int vm_snapshot_create(const vm_ctx *ctx, const char *uuid, const char *name, vm_err *err);
int vm_snapshot_delete(const vm_ctx *ctx, const char *uuid, const char *name, vm_err *err);
int vm_snapshot_rollback(const vm_ctx *ctx, const char *uuid, const char *name, int no_start, vm_err *err);

int vm_reprovision(const vm_ctx *ctx, const char *uuid, json_t *payload, vm_err *err);

#endif
