/* Shared inside lib/migrate. */
#ifndef VM_MIGRATE_INTERNAL_H
#define VM_MIGRATE_INTERNAL_H

#include <stdbool.h>
#include <jansson.h>

#include "common/err.h"
#include "migrate/vmstream.h"
#include "storage/storage.h"

/* The VM's datasets, parents first: [{"name", "rel"}] (rel "" for the
 * VM's own dataset). */
int mig_datasets(vs_pool *pool, const char *uuid, json_t **out, vm_err *err);
/* The VM's config, its pool and (dss not NULL) its datasets. */
int mig_open_vm(const vm_ctx *ctx, const char *uuid, json_t **cfg, vs_pool **pool, json_t **dss, vm_err *err);
/* A dataset name relative to the VM's: "" or one component. */
bool mig_valid_rel(const char *rel);
/* The header's "objects" for a send up to snapshot `snap` after `from`. */
int mig_plan_objects(vs_pool *pool, const char *uuid, const char *from, const char *snap, json_t **out, vm_err *err);
/* An object's incremental base as vs_send takes it (caller frees), or NULL. */
char *mig_object_base(vs_pool *pool, const char *uuid, json_t *ob);

/* vm_space_apply, or (when received snapshots already use more) a quota
 * of the space in use. */
int mig_space_apply(const vm_ctx *ctx, vs_pool *pool, json_t *cfg, vm_err *err);

/* This host's QEMU version ("7.2.22"), or NULL when QEMU is missing. */
char *mig_qemu_version(void);

#endif
