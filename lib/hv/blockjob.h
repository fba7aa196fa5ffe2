/* QEMU block jobs over one QMP connection (internal to lib/hv; a header so
 * the unit tests can drive it with canned replies).  Used by the live
 * snapshot delete (block-stream, hv_block_merge) and by live migration
 * (blockdev-mirror, migrate.c).
 *
 * A job is followed through its JOB_STATUS_CHANGE events on the connection
 * that started it (QEMU sends every event to every QMP client), so a
 * caller starts jobs with auto-dismiss off: a job that failed stays
 * "concluded" until hv_job_finish has read its error and dismissed it.
 * hv_job_start clears the connection's event list first, so statuses of an
 * earlier job with the same id are never mistaken for this one's. */
#ifndef VM_HV_BLOCKJOB_H
#define VM_HV_BLOCKJOB_H

#include <stdbool.h>
#include <sys/types.h>
#include <jansson.h>

#include "common/err.h"
#include "hv/qmp.h"

/* The latest status of job `id` among the events seen so far ("" if none). */
const char *hv_job_status(const qmp_conn *c, const char *id);
/* Runs the job-starting command `cmd` (args borrowed) after clearing the
 * event list. */
int hv_job_start(qmp_conn *c, const char *cmd, json_t *args, vm_err *err);
/* Waits up to timeout_ms for job `id` to reach `want` ("ready",
 * "concluded") or an end ("concluded", "null", "aborting").  *got (may be
 * NULL) is the status reached.  VMERR_TIMEOUT if neither came. */
int hv_job_wait(qmp_conn *c, const char *id, const char *want, int timeout_ms, const char **got, vm_err *err);
/* For a concluded job: its error (query-jobs "error") becomes err
 * ("<what>: <error>", -1), then job-dismiss; 0 when it succeeded.  A job
 * QEMU no longer knows (already dismissed) counts as succeeded only if its
 * last event said so. */
int hv_job_finish(qmp_conn *c, const char *id, const char *what, vm_err *err);
/* block-job-cancel of `id` (force: no final sync of a ready mirror), then
 * waits for it to conclude and dismisses it; errors are ignored (best
 * effort: the job may be gone already). */
void hv_job_cancel(qmp_conn *c, const char *id, bool force, int timeout_ms);

/* The qcow2 format node whose image file is the inode of `path`, found
 * through the fd sets QEMU (pid) holds: *node (caller frees), *fdset its
 * set, *ro whether QEMU has it read-only.  VMERR_NOTFOUND when the file is
 * not in QEMU's graph. */
int hv_node_of_file(qmp_conn *c, pid_t pid, const char *path, char **node, int64_t *fdset, bool *ro, vm_err *err);

/* Merges the layer `m` describes (storage's vs_merge_fn descriptor:
 * "layer", "above", "below"?, "backing"?) into `above` with block-stream
 * and waits for it (timeout_ms), QEMU process `pid`.  On failure the chain
 * is as before (a cancelled stream leaves `above` with more data, same
 * content). */
int hv_stream_layer(qmp_conn *c, pid_t pid, json_t *m, int timeout_ms, vm_err *err);

/* hv_snapshot_switch on a connection: each overlay is handed over (fd
 * set), added as a node with image locking off and no backing, then one
 * transaction of blockdev-snapshot moves every disk onto its overlay; on
 * failure the added nodes and sets go again. */
int hv_snapshot_switch_conn(qmp_conn *c, json_t *switches, vm_err *err);

#endif
