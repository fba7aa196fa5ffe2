/* Runtimes: what runs a VM.  QEMU answers for the HVM brands (bhyve, kvm),
 * LXC for the zone brands (joyent, joyent-minimal, lx); a fake runtime runs
 * the same lib/vm logic in unit tests without either.
 *
 * The rule every runtime keeps (and every caller relies on):
 *   - `state` is cheap (no fork, no QMP round trip) and reports the real
 *     process, never what vmadm last wrote (see common/runstate.h);
 *   - start/stop/kill/reset act on a VM whose lock the caller holds and
 *     whose state lib/vm already checked: a runtime does not re-check
 *     "already running" and never edits vm.json (autoboot, intents: lib/vm);
 *   - start returns once the VM runs (or has failed, with the reason);
 *     stop returns once it stopped (forced after timeout_s);
 *   - every other operation is optional: NULL means the runtime cannot do
 *     it, and the caller says so ("... not supported for brand X") through
 *     vm_runtime_unsupported().  Wave-2 hooks (networking, migration) are
 *     added here as optional members, filled by the runtimes that can.
 *
 * The table is chosen once from the brand (vm_runtime_for); outside this
 * table and the brand/property rules (props, defaults, validation, space),
 * lib/vm does not ask whether a brand is HVM. */
#ifndef VM_RUNTIME_H
#define VM_RUNTIME_H

#include <stdint.h>
#include <jansson.h>
#include "common/ctx.h"
#include "common/err.h"
#include "common/runstate.h"
#include "storage/storage.h"

typedef struct vm_runtime {
    const char *name; /* "qemu", "lxc", "fake" */
    int stop_grace_s; /* default stop timeout before forcing */

    /* ---- required ---- */
    void (*state)(const vm_ctx *ctx, const char *uuid, vm_runstate *rs);
    int (*start)(const vm_ctx *ctx, vs_pool *pool, json_t *vmobj, vm_err *err);
    int (*stop)(const vm_ctx *ctx, json_t *vmobj, int force, int timeout_s, vm_err *err);
    int (*kill)(const vm_ctx *ctx, const char *uuid, int sig, vm_err *err);

    /* ---- optional (NULL: not supported by this runtime) ---- */
    /* Hard reset of a running VM (reboot -F); NULL: stop + start. */
    int (*reset)(const vm_ctx *ctx, const char *uuid, vm_err *err);
    /* Attaches the caller's terminal to the VM's console until CTRL-]. */
    int (*console)(const vm_ctx *ctx, const char *uuid, vm_err *err);
    /* Runs argv (NULL: a login shell) inside the VM; *status its exit. */
    int (*login)(const vm_ctx *ctx, const char *uuid, char *const argv[], int *status, vm_err *err);
    /* `vmadm info` types (NULL types: all). */
    int (*info)(const vm_ctx *ctx, const char *uuid, char **types, json_t **out, vm_err *err);
    int (*sysrq)(const vm_ctx *ctx, const char *uuid, const char *type, json_t **out, vm_err *err);
    /* Tells the running VM a disk grew to `bytes`. */
    int (*grow_disk)(const vm_ctx *ctx, const char *uuid, const char *disk_id, uint64_t bytes, vm_err *err);
    /* Moves every disk of a running VM onto the overlays storage made for a
     * live snapshot (storage's vs_switch_fn contract: all or nothing). */
    int (*snapshot_switch)(const vm_ctx *ctx, const char *uuid, json_t *switches, vm_err *err);
    /* Merges a snapshot's layer into the file above it while the VM runs
     * (storage's vs_merge_fn contract: nothing changed on failure). */
    int (*snapshot_merge)(const vm_ctx *ctx, const char *uuid, json_t *merge, vm_err *err);
    /* Applies resource limits of vmobj to the running VM, live. */
    int (*apply_limits)(const vm_ctx *ctx, json_t *vmobj, vm_err *err);
    /* Refuses a host path (a nocreate disk, a cdrom) the runtime would not
     * open for this VM (outside its datasets and the operator's allow-list);
     * lib/vm asks at create and update, the runtime enforces it at start. */
    int (*check_disk_path)(const vm_ctx *ctx, const char *pool, const char *uuid, const char *path, vm_err *err);
    /* The VM is being deleted: release what the runtime holds for it
     * across starts (e.g. a container's id range). */
    int (*forget)(const vm_ctx *ctx, const char *uuid, vm_err *err);
    /* Networking (lib/net): makes the running VM's NIC protection (the
     * allow_* flags, allowed_ips, allowed_dhcp_cids of vmobj's nics) what
     * vmobj says, in one transaction.  lib/vm calls it after an update that
     * changed only those on a running VM; NULL: the change applies at the
     * next start. */
    int (*net_update)(const vm_ctx *ctx, json_t *vmobj, vm_err *err);
} vm_runtime;

extern const vm_runtime vm_runtime_qemu;
extern const vm_runtime vm_runtime_lxc;
extern const vm_runtime vm_runtime_fake;

/* The runtime of a brand (never NULL: unknown brands are refused long
 * before, by validation; they get LXC's, as zone brands). */
const vm_runtime *vm_runtime_for(const char *brand);
/* Same, from a VM config or object ("brand" key). */
const vm_runtime *vm_runtime_of(json_t *cfg);

/* Every runtime forgets the VM (their `forget` hooks are uuid-based and
 * idempotent): the repair of a delete interrupted after its commit, which
 * no longer knows the brand.  Failures are logged. */
void vm_runtime_forget_all(const vm_ctx *ctx, const char *uuid);

/* Tests only: every brand gets `rt` (NULL restores the real runtimes). */
void vm_runtime_override(const vm_runtime *rt);

/* The error for an optional operation a runtime lacks:
 * "<what> is not supported for brand <brand>" (VMERR_UNSUPPORTED). */
int vm_runtime_unsupported(const char *what, const char *brand, vm_err *err);

/* Fills rs from the VM's runtime (cheap, no fork); zone_state defaults to
 * "running"/"installed". */
void vm_runtime_state(const vm_ctx *ctx, const char *brand, const char *uuid, vm_runstate *rs);

/* The fake runtime keeps its state in files, so forked callers (boot-all)
 * see it too: run/vms/<uuid>/pid holds the test process's pid while
 * "running"; every call is appended to <root>/fake-runtime.log as one line
 * "<op> <uuid>[ <arg>]".  fake_fail_next (tests set it) makes the next
 * start/stop fail with that message. */
extern char vm_fake_runtime_fail_next[128];

#endif
