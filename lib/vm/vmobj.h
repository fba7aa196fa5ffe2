/* Loading VM objects: the exact JSON that `vmadm get` prints (reference §7),
 * built from the config store, the storage layer and the runtime state.
 * Used by vmadm (direct load) and vminfod (cache fill/refresh). */
#ifndef VM_VMOBJ_H
#define VM_VMOBJ_H

#include <jansson.h>
#include <stdbool.h>
#include "common/ctx.h"
#include "common/err.h"

/* One VM; VMERR_NOTFOUND if no such VM.  *out is a new reference. */
int vmobj_load(const vm_ctx *ctx, const char *uuid, json_t **out, vm_err *err);
/* Every committed VM, as a JSON array sorted by uuid. */
int vmobj_load_all(const vm_ctx *ctx, json_t **out, vm_err *err);
/* The expensive parts of a VM object; readers that show only some fields
 * (vmadm list) skip the rest.  The fields they do get are exact. */
enum vmobj_parts {
    VMOBJ_DISKS = 1, /* per-disk storage properties, free_space */
    VMOBJ_META = 2, /* customer/internal metadata, tags, routes */
    VMOBJ_SNAPSHOTS = 4,
    VMOBJ_HOLDS = 8, /* indestructible_* */
    VMOBJ_ALL = 15,
};
/* Parts needed to show `fields` (top-level or dotted names; NULL: all). */
unsigned vmobj_parts_for(const char *const *fields);
int vmobj_load_all_parts(const vm_ctx *ctx, unsigned parts, json_t **out, vm_err *err);
/* Builds the VMs `want` accepts (NULL: all), one at a time, and hands each
 * to fn, which owns it: memory stays at one VM object however many there
 * are, and files shared by many VMs (pool metadata) are still read once.
 * Stops when fn returns -1. */
typedef bool (*vmobj_want_fn)(void *arg, const char *uuid);
typedef int (*vmobj_each_fn)(void *arg, const char *uuid, json_t *vm);
int vmobj_load_each(const vm_ctx *ctx, unsigned parts, vmobj_want_fn want, vmobj_each_fn fn, void *arg, vm_err *err);
/* UUIDs of every committed VM (directory scan only). */
int vmobj_list_uuids(const vm_ctx *ctx, json_t **out, vm_err *err);

/* Files whose change can change the VM object of `uuid` (for inotify):
 * JSON array of absolute paths (config, storage metadata, runtime dir). */
json_t *vmobj_watch_paths(const vm_ctx *ctx, const char *uuid);

#endif
