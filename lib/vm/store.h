/* The crash-safe VM config store.
 *
 * A committed VM is the directory etc/vms/<uuid>/ holding vm.json (every
 * property that is not metadata) — plus <zonepath>/config/{metadata,tags,
 * routes}.json, as on SmartOS, so that reprovision carries them over and a
 * snapshot rollback reverts them.
 *
 * Commit points, so that kill -9 anywhere leaves a consistent listing:
 *  - create: everything is built under etc/vms/.creating-<uuid>/ and the VM
 *    exists from the rename to etc/vms/<uuid>/ on;
 *  - delete: the rename to etc/vms/.deleting-<uuid>/ removes it from view,
 *    storage is destroyed afterwards;
 *  - update: the new contents of every file are first written to
 *    journal.json; the journal is then applied and removed.  A journal found
 *    later is applied again (roll forward; applying is idempotent).
 * vm_store_repair() finishes or rolls back what a dead process left.
 *
 * Each commit point also refreshes etc/zones/<uuid>.xml (0644: uuid,
 * brand, zonepath, autoboot, the do-not-inventory attr), SmartOS's zone
 * index that Triton's node-vmadm checks before every per-VM call; it
 * exists exactly while the VM does (best effort: derived, never read). 
 *
 * Privacy (vm.json holds vnc_password, metadata.json customer and internal
 * metadata): every directory of the store — etc/vms/<uuid>/, the staging
 * and deleting directories, <zonepath>/config/ and the runtime directory
 * run/vms/<uuid>/ — is 0700 and every file 0600, root-owned; a rewrite by
 * any writer keeps the file's mode (write_file_atomic never widens it).
 * No opt-out: local users read VMs through vminfod's redacted TCP view. */
#ifndef VM_STORE_H
#define VM_STORE_H

#include <stdbool.h>
#include <jansson.h>

#include "common/ctx.h"
#include "storage/storage.h"

char *vm_store_dir(const vm_ctx *ctx, const char *uuid);
/* Creates path (parents 0755) and makes it 0700. */
int vm_store_private_dir(const char *path, vm_err *err);
/* write_json_atomic with mode 0600 (config, metadata, journal). */
int vm_store_write_json(const char *path, json_t *j, vm_err *err);
char *vm_store_config_path(const vm_ctx *ctx, const char *uuid);
/* <root>/<pool>/<uuid>: the mount view of the VM's dataset. */
char *vm_store_zonepath(const vm_ctx *ctx, const char *pool, const char *uuid);

bool vm_store_exists(const vm_ctx *ctx, const char *uuid);
/* vm.json of a committed VM (journal applied first). */
int vm_store_load_config(const vm_ctx *ctx, const char *uuid, json_t **cfg, vm_err *err);
/* The metadata files: {customer_metadata, internal_metadata, tags, routes}.
 * Missing files read as empty.  A damaged file also reads as empty (so
 * readers still show the VM) but fails with its reason: writers must stop,
 * or they would replace what they could not read. */
int vm_store_load_meta(const char *zonepath, json_t **meta, vm_err *err);
/* Sorted uuids of committed VMs. */
int vm_store_list(const vm_ctx *ctx, json_t **uuids, vm_err *err);

/* A set of file writes applied all-or-nothing (roll-forward journal). */
typedef struct vm_txn vm_txn;
vm_txn *vm_txn_new(void);
void vm_txn_free(vm_txn *t);
void cleanup_txnp(vm_txn **t);
#define cleanup_txn __attribute__((cleanup(cleanup_txnp)))
void vm_txn_write(vm_txn *t, const char *path, json_t *content); /* content borrowed, copied */
/* Writes vm.json and the metadata files of `meta` under zonepath/config. */
void vm_txn_write_vm(vm_txn *t, const vm_ctx *ctx, const char *uuid, json_t *cfg, const char *zonepath, json_t *meta);
int vm_txn_commit(const vm_ctx *ctx, const char *uuid, vm_txn *t, vm_err *err);
/* Storage operations that belong to the same change.  They are recorded in
 * the journal before they run, so a crash mid-way is rolled forward.  Each
 * op is idempotent: {"op":"create_vol",name,volsize,props},
 * {"op":"clone",origin,name,props}, {"op":"resize",name,volsize},
 * {"op":"set",name,prop,value}, {"op":"destroy",name}. */
void vm_txn_op(vm_txn *t, json_t *op); /* steals op */
/* The change moves disk space: recovery recomputes quota/reservation. */
void vm_txn_set_space(vm_txn *t);
/* Writes the journal (ops + writes): from here on the change completes. */
int vm_txn_begin(const vm_ctx *ctx, const char *uuid, vm_txn *t, vm_err *err);
/* Applies the file writes and removes the journal. */
int vm_txn_finish(const vm_ctx *ctx, const char *uuid, vm_txn *t, vm_err *err);
/* Drops the journal (the caller undid what it had done). */
void vm_txn_abort(const vm_ctx *ctx, const char *uuid);
/* Runs one op (idempotent); used by update and by recovery. */
int vm_store_apply_op(vs_pool *pool, json_t *op, vm_err *err);
/* Applies a leftover journal of `uuid` (caller holds the VM lock). */
int vm_store_recover(const vm_ctx *ctx, const char *uuid, vm_err *err);

/* Create staging.  A staging directory holding VM_STORE_RESUME_FILE is a
 * resumable receive's (lib/migrate/vmstream.h): repair leaves it, and
 * vm_store_discard_staging (the receive's abort) removes it with its
 * datasets. */
#define VM_STORE_RESUME_FILE "receive-resume.json"
char *vm_store_staging_dir(const vm_ctx *ctx, const char *uuid);
int vm_store_discard_staging(const vm_ctx *ctx, const char *uuid, vm_err *err);
int vm_store_commit_create(const vm_ctx *ctx, const char *uuid, vm_err *err);
/* Delete: hide (commit), then clean up. */
int vm_store_begin_delete(const vm_ctx *ctx, const char *uuid, vm_err *err);
int vm_store_finish_delete(const vm_ctx *ctx, const char *uuid, vm_err *err);

/* Rolls back interrupted creates and finishes interrupted deletes whose
 * owner is gone (its VM lock is free).  Cheap when there is nothing to do:
 * one readdir. */
int vm_store_repair(const vm_ctx *ctx, vm_err *err);

#endif
