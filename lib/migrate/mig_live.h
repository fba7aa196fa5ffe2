/* --live inside lib/migrate (live.c): both sides of a QEMU live
 * migration, on top of lib/hv/migrate.h. */
#ifndef VM_MIGRATE_LIVE_H
#define VM_MIGRATE_LIVE_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "common/ctx.h"
#include "common/err.h"
#include "migrate/migrate.h"

/* Destination (`vmadm migrate --target-incoming <uuid>`): the hidden,
 * stopped copy's QEMU waits for the guest; *out {nbd_sock, mig_sock}. */
int mig_target_incoming(const vm_ctx *ctx, const char *uuid, json_t **out, vm_err *err);
/* Destination (`--target-finish <uuid> --ok|--fail`): the guest runs
 * there, or nothing of it does. */
int mig_target_finish(const vm_ctx *ctx, const char *uuid, bool ok, vm_err *err);

/* A return < 0 aborts. */
typedef int (*mig_live_progress_fn)(void *arg, const char *phase, uint64_t done, uint64_t total, uint64_t rate);
/* Source: incoming there, mirror + RAM from here, finish there.  0: the
 * guest runs at the destination and the source QEMU is paused (*result:
 * QEMU's downtime_ms, total_ms, elapsed_ms, ram_bytes, disk_bytes); -1:
 * the source runs as before and nothing runs there. */
int mig_live_send(const vm_ctx *ctx, const char *uuid, const mig_dest *d, int downtime_ms, mig_live_progress_fn fn,
                  void *arg, json_t **result, vm_err *err);

#endif
