/* The migration record (record.c; format in migrate.h):
 * {"uuid", "dest", "mode", "phase": "sync" | "switching" | "switched",
 *  "was_running", "pid", "pid_start", "snapshots": [transfer snapshots
 *  both sides hold, oldest first], "started"}. */
#ifndef VM_MIGRATE_RECORD_H
#define VM_MIGRATE_RECORD_H

#include <stdbool.h>
#include <jansson.h>

#include "common/ctx.h"
#include "common/err.h"
#include "migrate/migrate.h"

/* 1 and *out, 0 (none), -1. */
int mig_record_load(const vm_ctx *ctx, const char *uuid, json_t **out, vm_err *err);
int mig_record_save(const vm_ctx *ctx, const char *uuid, json_t *rec, vm_err *err);
int mig_record_phase(const vm_ctx *ctx, const char *uuid, json_t *rec, const char *phase, vm_err *err);
void mig_record_remove(const vm_ctx *ctx, const char *uuid);
/* The process that wrote the record still runs (pid and start time). */
bool mig_record_owner_alive(json_t *rec);
unsigned long long mig_self_start(void);

#endif
