/* vminfod's file/process watcher: inotify on the directories holding every
 * file a VM is made of, pidfds on VM processes, a periodic full rescan and a
 * short per-VM debounce.  It knows nothing of the cache or the events: it
 * says which VMs to reload through the vminfod_watch_ops its owner (the
 * server) registers, so the dependency goes one way (server -> watcher).
 *
 * Threads: one thread runs the loop and is the only writer of the watch
 * tables; it writes them under the lock given to vminfod_watch_new (the
 * daemon's), so the *_locked readers below may run on any thread holding
 * it.  The ops are called from the loop thread, without the lock. */
#ifndef VMINFOD_WATCH_H
#define VMINFOD_WATCH_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "common/ctx.h"
#include "common/err.h"

typedef struct vminfod_watch_ops {
    /* A VM's files or process changed (debounced): reload it.  Returns 1 to
     * have it tried again shortly (see vminfod_watch_vm). */
    int (*changed)(void *arg, const char *uuid);
    /* Many VMs changed at once (a shared file): reload them in one pass.
     * Returns the uuids to try again shortly (new array). */
    json_t *(*changed_many)(void *arg, json_t *uuids);
    /* Reload everything; reason is "periodic" or "overflow" (file events
     * were lost). */
    void (*rescan)(void *arg, const char *reason);
    /* Called at least every few seconds (listener keepalive). */
    void (*tick)(void *arg);
    /* Absolute paths whose change can change the VM; new reference, may be
     * NULL. */
    json_t *(*paths)(void *arg, const char *uuid);
    /* One log line (vminfod_log's levels). */
    void (*log)(void *arg, const char *level, const char *msg);
} vminfod_watch_ops;

typedef struct vminfod_watch vminfod_watch;

/* Nothing is watched until vminfod_watch_start.  ctx, lock and ops must
 * outlive the watcher; rescan_ms 0 = no periodic rescan. */
vminfod_watch *vminfod_watch_new(const vm_ctx *ctx, int rescan_ms, int debounce_ms, pthread_mutex_t *lock,
                                 const vminfod_watch_ops *ops, void *arg);
/* Drops every watch and closes the loop's descriptors. */
void vminfod_watch_free(vminfod_watch *w);

/* Sets up the loop's descriptors and watches etc/vms and run/vms (before
 * the caller's initial load: a change racing it is then queued). */
int vminfod_watch_start(vminfod_watch *w, vm_err *err);
bool vminfod_watch_started(const vminfod_watch *w);
/* Runs the loop until stop_fd becomes readable or vminfod_watch_stop is
 * called (the watcher must be started). */
int vminfod_watch_run(vminfod_watch *w, int stop_fd, vm_err *err);
/* Thread-safe request to end vminfod_watch_run. */
void vminfod_watch_stop(vminfod_watch *w);

/* What a reload of a VM found, for vminfod_watch_vm. */
enum vminfod_vm_state {
    VMINFOD_VM_LOADED, /* the VM loaded */
    VMINFOD_VM_BROKEN, /* its directory exists but it could not be loaded */
    VMINFOD_VM_GONE, /* it and its directory are gone */
};

/* Keeps the watches and the pidfd of a VM current (LOADED, BROKEN) or drops
 * them (GONE); no-op before vminfod_watch_start.  For BROKEN, returns 1 when
 * the VM should be tried again shortly (fewer than 40 failures in a row, a
 * config file being replaced), 0 when the caller should give up and report
 * the error (the count starts over); 0 otherwise. */
int vminfod_watch_vm(vminfod_watch *w, const char *uuid, enum vminfod_vm_state state);

/* Lock held: VMs waiting for their reload, and inotify queue overflows. */
size_t vminfod_watch_npending_locked(const vminfod_watch *w);
long long vminfod_watch_overflows_locked(const vminfod_watch *w);
/* Lock held: the "fswatcher" object of /status?full (new reference). */
json_t *vminfod_watch_status_locked(const vminfod_watch *w);

#endif
