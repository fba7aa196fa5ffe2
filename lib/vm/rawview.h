/* Raw disk views (README "Raw disk views"): every volume of a pool appears
 * as a fixed-size file <zvol dir>/{rdsk,dsk}/<pool>/<dataset...>, served by
 * vmadm-zvold (src/vmadm-zvold) over FUSE.  This module is the policy the
 * daemon and lib/vm share; the daemon only moves bytes.
 *
 *  - Where: /dev/zvol under the default root (SmartOS's path), else
 *    <VMADM_ROOT>/dev/zvol; a disk's `path` in the VM object is its view.
 *  - Tree (pure, vm_rawview_lookup): what a path inside the mount names,
 *    given the pool's volumes; nothing else is visible.
 *  - Claim: a view of a VM's disk (<pool>/<uuid>/...) opens only while the
 *    VM is stopped.  The claim holds the VM's lock (so vmadm's mutations
 *    of that VM — delete, update, snapshot, rollback, reprovision — wait
 *    for the view to close) and the "zvol-<uuid>" lock, which `vmadm start`
 *    checks first to refuse with a message instead of waiting.  Both are
 *    flocks: a killed daemon releases them.  Volumes outside a VM are not
 *    guarded by a VM (vmstore's own operations on an open view's volume
 *    are the operator's business, as with a running QEMU). */
#ifndef VM_RAWVIEW_H
#define VM_RAWVIEW_H

#include <jansson.h>

#include "common/ctx.h"
#include "common/err.h"
#include "common/lock.h"

/* The mount point (caller frees). */
char *vm_rawview_dir(const vm_ctx *ctx);
/* The view of volume `dataset` ("<pool>/<uuid>/disk0"): <dir>/rdsk/<dataset>. */
char *vm_rawview_path(const vm_ctx *ctx, const char *dataset);

/* What a path inside the mount ("/", "/rdsk/zones/<uuid>/disk0") names. */
enum vm_rawview_kind {
    VM_RAWVIEW_NONE = 0, /* nothing: ENOENT */
    VM_RAWVIEW_DIR, /* "/", "/rdsk", "/dsk", a pool, a prefix of a volume */
    VM_RAWVIEW_VOLUME,
};
/* Splits "/<rdsk|dsk>/<pool>/<rest>": *pool and *dataset (nullable, caller
 * frees) get the pool name and the dataset named ("<pool>/<rest>"), NULL
 * when the path is above a pool.  Returns the depth (0: root, 1: class
 * directory, 2: pool, 3+: inside the pool) or -1 for a path no view can
 * have (other top directory, empty or "." / ".." components, "@"). */
int vm_rawview_split(const char *path, char **pool, char **dataset);
/* Kind of `dataset` among `volumes` (vs_list names of the pool's volumes). */
enum vm_rawview_kind vm_rawview_lookup(json_t *volumes, const char *dataset);
/* Directory entries of directory `dataset` (NULL: the pool itself, given
 * as `pool`): the next component of every volume below it, each once.
 * Returns a new array of names. */
json_t *vm_rawview_children(json_t *volumes, const char *pool, const char *dataset);

typedef struct vm_rawview_claim {
    vm_lock vm; /* the VM's lock */
    vm_lock view; /* zvol-<uuid> */
} vm_rawview_claim;
#define VM_RAWVIEW_CLAIM_INIT \
    { \
        VM_LOCK_INIT, VM_LOCK_INIT \
    }

/* *uuid_out (37 bytes) gets the VM owning `dataset` (<pool>/<uuid>/<...>:
 * a VM's disk, also of a VM being created or deleted, whose lock its
 * create or delete holds), or "" for other volumes.  Returns 1 for a
 * VM's disk. */
int vm_rawview_owner(const char *dataset, char uuid_out[37]);
/* Claims VM `uuid`'s disks for a view: waits up to timeout_ms for its lock;
 * refused (VMERR_BUSY) while the VM runs or is being provisioned, with the
 * operator's message: "VM <uuid> is running: stop it before opening its
 * disk <path>".  On success both locks are held until release. */
int vm_rawview_claim_vm(const vm_ctx *ctx, const char *uuid, const char *dataset, int timeout_ms, vm_rawview_claim *c,
                        vm_err *err);
void vm_rawview_release(vm_rawview_claim *c);
/* For `vmadm start` before it takes the VM's lock: waits up to timeout_ms
 * for open views of the VM's disks to close (a FUSE release reaches the
 * daemon after close(2) returns), then refuses with VMERR_BUSY "its disk
 * is open through <dir> (raw disk view); close it first" (vmadm prefixes
 * "Unable to start VM <uuid>: "). */
int vm_rawview_check_start(const vm_ctx *ctx, const char *uuid, int timeout_ms, vm_err *err);

#endif
