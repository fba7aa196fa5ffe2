/* Read-after-write through vminfod (reference I18): a mutating command
 * subscribes before it acts and, once done, waits until vminfod's copy of
 * the VM equals what was written.  Without a vminfod nothing waits. */
#ifndef VM_SYNC_H
#define VM_SYNC_H

#include "common/ctx.h"
#include "common/err.h"

typedef struct vm_sync vm_sync;

/* Opens the event stream if a vminfod serves this root (else a no-op
 * handle).  name: "VM.js update (<uuid>)" style stream name; uuid: the VM
 * the command changes (NULL for create: a VM that does not exist yet).
 * The stream starts from that VM alone, not from every VM on the host. */
vm_sync *vm_sync_begin(const vm_ctx *ctx, const char *name, const char *uuid);
/* Waits (timeout_ms) until vminfod shows `uuid` as it is now on disk, or
 * gone when it no longer exists.  Timeout: `vminfod watchForChanges "<name>"
 * timeout exceeded`. */
int vm_sync_wait(vm_sync *s, const char *uuid, int timeout_ms, vm_err *err);
void vm_sync_end(vm_sync *s);

#endif
