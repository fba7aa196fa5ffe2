/* QEMU live migration with storage not shared (issue 17 `--live`): the
 * primitives lib/migrate drives on both hosts.
 *
 * Before these run, the destination root has the VM (same uuid) whose
 * volumes hold every frozen layer up to a snapshot S the source took
 * live, with an empty active layer; the source's active layers hold only
 * what the guest wrote since S.  So only the active layers cross: the
 * source mirrors each disk's top layer (blockdev-mirror sync=top,
 * copy-mode write-blocking — QEMU 7.2 has no block-job-change — so once
 * READY every guest write reaches both sides) into the destination's NBD
 * export of that disk, then RAM moves with pause-before-switchover: at
 * the pause the guest is stopped and each mirror is cancelled (a READY
 * mirror cancelled is a point-in-time copy, QEMU's documented way to end
 * a storage migration without pivoting), then the switch completes.
 *
 * Sockets: the destination binds <dir>/nbd.sock (NBD server) and
 * <dir>/mig.sock (migration listener), root 0600, and hands QEMU the
 * listening descriptors (QEMU runs confined and opens nothing by path).
 * The source connects to the paths it is given (local unix sockets: over
 * ssh the caller forwards them with ssh -L) as root and hands QEMU the
 * connected descriptors.
 *
 * The guarantee: until hv_migrate_send returns 0 the source VM runs as it
 * did (on any failure, or hv_migrate_cancel from another process, the
 * migration is cancelled, the mirrors cancelled, their NBD nodes removed
 * and a guest paused by the migration resumed); the destination QEMU runs
 * only after hv_migrate_incoming_finish(ok=1). */
#ifndef VM_HV_MIGRATE_H
#define VM_HV_MIGRATE_H

#include <stdint.h>
#include <jansson.h>

#include "common/ctx.h"
#include "common/err.h"
#include "storage/storage.h"

typedef struct hv_migrate_target {
    const char *nbd_sock; /* the destination's <dir>/nbd.sock (or its forward) */
    const char *mig_sock; /* the destination's <dir>/mig.sock (or its forward) */
    int downtime_limit_ms; /* 0: 300 (QEMU's default) */
    uint64_t bandwidth; /* bytes/s, 0 = unlimited */
} hv_migrate_target;

typedef struct hv_migrate_progress {
    const char *phase; /* "disks" (mirrors converging), "memory", "switch" */
    const char *state; /* QEMU's migration status ("" during "disks") */
    uint64_t transferred; /* bytes sent in this phase */
    uint64_t remaining; /* bytes left in this phase (QEMU's estimate) */
    uint64_t total; /* bytes of this phase */
    uint64_t rate; /* bytes/s, 0 if not known yet */
} hv_migrate_progress;
/* Called about every 100 ms while hv_migrate_send works; a return < 0
 * aborts the migration (as hv_migrate_cancel). */
typedef int (*hv_migrate_progress_fn)(void *arg, const hv_migrate_progress *p);

typedef struct hv_migrate_result {
    int64_t downtime_ms; /* QEMU's measured downtime */
    int64_t total_ms; /* QEMU's total migration time (RAM phase) */
    int64_t elapsed_ms; /* the whole call, mirrors included */
    uint64_t ram_bytes; /* RAM bytes transferred */
    uint64_t disk_bytes; /* bytes the mirrors copied */
} hv_migrate_result;

/* Destination: starts the VM's QEMU as hv_start does (same argv,
 * confinement, NICs, metadata) but waiting for a migration, exports every
 * disk's active layer over NBD (export name = hv_disk_id, writable) on
 * <dir>/nbd.sock and listens for the migration on <dir>/mig.sock.
 * Returns once both listen.  On failure nothing is left running. */
int hv_migrate_incoming(const vm_ctx *ctx, vs_pool *pool, json_t *vmobj, const char *dir, vm_err *err);
/* Destination, after the source's hv_migrate_send returned: ok = 1 waits
 * (up to 60 s) for the incoming migration to complete and the guest to
 * run (resumed if needed), then stops the NBD server; failure (the
 * migration failed) leaves the destination QEMU for the caller to end
 * with ok = 0.  ok = 0 kills the destination QEMU and its NIC protection:
 * nothing of it is left running. */
int hv_migrate_incoming_finish(const vm_ctx *ctx, const char *uuid, int ok, vm_err *err);

/* Source: mirrors the disks, then migrates RAM and switches (see above).
 * cb may be NULL; the call has no time limit of its own (a migration
 * that does not converge goes on until cb or hv_migrate_cancel aborts
 * it).  On success *res is filled and the source QEMU is paused
 * ("postmigrate"): the caller stops it.  Any failure: the guarantee above,
 * and the message says which step failed — except VMERR_STATE: the
 * migration completed after all (an abort came too late), the destination
 * has the VM and the source stays paused.  While it runs,
 * run/vms/<uuid>/migrate.pid names the calling process. */
int hv_migrate_send(const vm_ctx *ctx, const char *uuid, const hv_migrate_target *t, hv_migrate_progress_fn cb,
                    void *arg, hv_migrate_result *res, vm_err *err);
/* Source, usable from another process (SIGINT, --abort): cancels a
 * migration in progress with the same guarantee.  VMERR_STATE when the
 * migration has already completed (the destination has the VM: that is a
 * rollback, not an abort). */
int hv_migrate_cancel(const vm_ctx *ctx, const char *uuid, vm_err *err);

#endif
