/* Loading VM objects: the exact JSON that `vmadm get` prints (reference §7),
 * built from the config store, the storage layer and the runtime state.
 * Used by vmadm (direct load) and vminfod (cache fill/refresh). */
#ifndef VM_VMOBJ_H
#define VM_VMOBJ_H

#include <jansson.h>
#include "common/ctx.h"
#include "common/err.h"

/* One VM; VMERR_NOTFOUND if no such VM.  *out is a new reference. */
int vmobj_load(const vm_ctx *ctx, const char *uuid, json_t **out, vm_err *err);
/* Every committed VM, as a JSON array sorted by uuid. */
int vmobj_load_all(const vm_ctx *ctx, json_t **out, vm_err *err);
/* UUIDs of every committed VM (directory scan only). */
int vmobj_list_uuids(const vm_ctx *ctx, json_t **out, vm_err *err);

/* Files whose change can change the VM object of `uuid` (for inotify):
 * JSON array of absolute paths (config, storage metadata, runtime dir). */
json_t *vmobj_watch_paths(const vm_ctx *ctx, const char *uuid);

#endif
