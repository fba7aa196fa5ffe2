/* Per-VM (and per-resource) advisory locks on files under var/lock.
 * A lock name must be a VM uuid or "<kind>-<uuid>" ("image-<uuid>"),
 * checked (uuid_valid) before any path is built: anything else fails with
 * VMERR_NOTFOUND `VM <name> not found` (VMERR_INVALID for image names)
 * and creates nothing, so a name from the command line cannot place a
 * lock file outside var/lock (issue 14 #15).
 * Mutating commands on one VM take its lock exclusively, so they run one
 * after another; different VMs never contend.  Lock files are never removed
 * (removing them would race with waiters). */
#ifndef VM_LOCK_H
#define VM_LOCK_H

#include <stdbool.h>
#include "common/ctx.h"

typedef struct vm_lock {
    int fd;
} vm_lock;

#define VM_LOCK_INIT \
    { \
        -1 \
    }

/* Blocks until the lock named `name` is held (timeout_ms < 0: forever).
 * Fails with VMERR_BUSY on timeout. */
int vm_lock_acquire(const vm_ctx *ctx, const char *name, int timeout_ms, vm_lock *lk, vm_err *err);
/* Non-blocking: returns 1 if acquired, 0 if held by someone else. */
int vm_lock_try(const vm_ctx *ctx, const char *name, vm_lock *lk, vm_err *err);
/* Shared (read) variant, used by repair-on-read. */
void vm_lock_release(vm_lock *lk);
void cleanup_lockp(vm_lock *lk);
#define cleanup_lock __attribute__((cleanup(cleanup_lockp)))

#endif
