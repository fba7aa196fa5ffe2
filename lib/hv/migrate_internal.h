/* The migration state machines on one QMP connection (internal to lib/hv;
 * a header so the unit tests can drive them with canned replies).
 * poll_ms: the pause between two status queries. */
#ifndef VM_HV_MIGRATE_INTERNAL_H
#define VM_HV_MIGRATE_INTERNAL_H

#include <stdbool.h>
#include <jansson.h>

#include "hv/migrate.h"
#include "hv/qmp.h"

/* hv_migrate_send once connected: `disks` is the array of disk ids to
 * mirror. */
int hv_migrate_send_conn(qmp_conn *c, json_t *disks, const hv_migrate_target *t, hv_migrate_progress_fn cb, void *arg,
                         hv_migrate_result *res, int poll_ms, vm_err *err);
/* Undoes a migration in progress: migrate_cancel, the vmadm mirrors
 * (jobs "mig-<id>") force-cancelled, their nodes deleted, then waits for
 * QEMU to settle and resumes a guest the migration itself stopped
 * (finish-migrate, postmigrate; a guest paused before stays paused).
 * VMERR_STATE if the migration had completed. */
int hv_migrate_undo(qmp_conn *c, int poll_ms, vm_err *err);
/* The disks to mirror: ids of query-block devices with a writable medium
 * that is not removable (no cdroms). */
json_t *hv_migrate_disks(json_t *query_block);
/* connect(2) to a unix socket path; the fd or -1 with err set. */
int hv_unix_connect(const char *path, vm_err *err);
/* A listening unix socket at path, root 0600 (replacing a stale one). */
int hv_unix_listen(const char *path, vm_err *err);

#endif
