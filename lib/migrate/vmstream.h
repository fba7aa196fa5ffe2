/* `vmadm send` / `vmadm receive` (issue 17): a whole VM as one send stream
 * (storage/stream.h), the unit migration moves between hosts.
 *
 * The stream's HEADER describes the VM, and only it names anything:
 *   {"kind": "vm", "format": 1, "uuid", "brand", "zpool",
 *    "config": vm.json as stored, "meta": {customer_metadata,
 *    internal_metadata, tags, routes}, "snapshot": the transfer snapshot,
 *    "from": the base snapshot of an incremental stream (or absent),
 *    "objects": [{"dataset": "" | "data" | "disk<N>", "snapshot", "from"?,
 *                 "origin"?, "kind": "volume" | "filesystem"}, ...],
 *    "size_bytes": data bytes the objects carry,
 *    "space_bytes": what a full receive takes — per dataset its data or
 *    its refreservation, the larger (the preflight's space check)}
 * followed by one stream object per entry of "objects", in that order
 * (storage's vs_send: each dataset's snapshots oldest first, parents before
 * children), then END {"uuid"}.  Dataset names are relative to the VM's
 * dataset <zpool>/<uuid>: the receiver builds every name itself from its
 * own pool and the uuid, so a stream cannot reach another VM's data or a
 * host path.  Snapshots carried: every snapshot of every dataset up to the
 * transfer snapshot (VM snapshots included, so they survive a move).
 *
 * Full send of a dataset cloned from an image sends only what the clone
 * changed ("origin": the image's snapshot, which the receiver must have).
 *
 * Commit points of receive:
 *  - full: built like a create (the store's staging directory, so an
 *    interrupted receive is rolled back by vm_store_repair); the VM exists
 *    from the commit rename after END was read and every object verified;
 *    any failure before destroys what was received.
 *  - incremental: onto a VM that exists here, is not running and whose
 *    datasets stand at the stream's base; each dataset advances on its own
 *    (storage's receive is atomic per object); the config is replaced only
 *    after END.  A failure leaves every dataset at its base or at the
 *    stream's snapshot, and the config as it was: re-running the same
 *    stream skips objects already received (their snapshot exists) — the
 *    resume unit is one dataset snapshot.
 *
 * Messages: "VM with UUID <uuid> already exists", "invalid stream: ...",
 * "VM <uuid> is running: stop it before receiving an incremental stream",
 * "cannot receive VM <uuid>: <check>" for a failed check. */
#ifndef VM_MIGRATE_VMSTREAM_H
#define VM_MIGRATE_VMSTREAM_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "common/ctx.h"
#include "common/err.h"
#include "storage/stream.h"

#define MIG_SNAP_PREFIX "vmadm-xfer-"

typedef struct mig_send_opts {
    /* Incremental base: a snapshot name as the VM's datasets carry it
     * (vmsnap-<name> for a VM snapshot, or a transfer snapshot). */
    const char *from;
    /* Send up to this existing snapshot (same form); NULL: take a new
     * transfer snapshot now (live for a running HVM VM). */
    const char *snapshot;
    /* Only the HEADER and END (preflight: the receiver checks and stops). */
    bool header_only;
    /* Extra keys merged into the header (migration's). */
    json_t *extra;
    /* The receiver's "resume" report (mig_receive): objects it has are
     * left out, partial volumes resume at their offset. */
    json_t *resume;
    /* Out: the data bytes the stream will carry, set before the first
     * byte is written (progress totals); the bytes resuming skips. */
    uint64_t planned, resumed;
} mig_send_opts;

/* Writes the stream for VM uuid through fn (vs_stream_fd_write with an
 * int * for a file descriptor).  *snap_out (may be NULL) gets the
 * transfer snapshot's name (caller frees). */
int mig_send(const vm_ctx *ctx, const char *uuid, mig_send_opts *o, vs_stream_write_fn fn, void *arg, char **snap_out,
             vm_err *err);

/* The bytes a send would carry (no stream written, no snapshot taken:
 * the live state counts as the transfer snapshot). */
int mig_send_size(const vm_ctx *ctx, const char *uuid, const char *from, uint64_t *bytes, vm_err *err);
/* The same, and per dataset (per: an object, rel -> bytes, added to). */
int mig_send_size_per(const vm_ctx *ctx, const char *uuid, const char *from, uint64_t *bytes, json_t *per, vm_err *err);

/* Takes snapshot `name` of every dataset of the VM (live for a running
 * HVM VM: QEMU moves onto the new layers). */
int mig_snapshot(const vm_ctx *ctx, const char *uuid, const char *name, vm_err *err);
/* The VM's own dataset has @name. */
bool mig_has_snapshot(const vm_ctx *ctx, const char *uuid, const char *name);
/* Destroys every dataset's @name (missing ones skipped). */
int mig_snapshot_destroy(const vm_ctx *ctx, const char *uuid, const char *name, vm_err *err);

/* The header's own rules (names, kinds, disk paths): what receive checks
 * before it looks anything up.  Pure; fuzzed (tests/fuzz/vmheader_fuzz.c). */
int mig_header_check(json_t *header, vm_err *err);

enum {
    MIG_RECV_CHECK = 1, /* read the header, run the checks, receive nothing */
    MIG_RECV_HIDDEN = 2, /* the received VM gets do_not_inventory (a migration target) */
    MIG_RECV_RESUMABLE = 4, /* -s: an interrupted receive keeps what it got (below) */
};
/* Reads a stream from fd and creates (full) or advances (incremental) the
 * VM.  *report (may be NULL) gets {"uuid", "incremental", "objects",
 * "skipped", "bytes"} — with MIG_RECV_CHECK the checks' result
 * {"uuid", "ok", "reasons": [...], "space_available", "qemu_version",
 *  "resume": [{"dataset", "snapshot", "have": true} | {..., "offset": n}]}:
 * per object of the header, whether it is here already or where a partial
 * receive of it stands.
 *
 * Resumable receive (MIG_RECV_RESUMABLE, `vmadm receive -s`; migration
 * always): a receive that fails or is killed keeps what it received — a
 * full receive its staging directory (marked by MIG_RESUME_FILE, which
 * vm_store_repair leaves alone) and datasets, each volume its partial
 * state (storage.h, "Resumable transfers").  The sender asks first
 * (MIG_RECV_CHECK with the same header) and then leaves out objects marked
 * "present" in its header (the receiver checks they are here) and resumes
 * partial volumes at their offset: a cut costs at most one chunk
 * (VS_RESUME_CHUNK) per volume.  A full receive of another transfer
 * snapshot discards the partial one first; mig_receive_abort (`vmadm
 * receive -A <uuid>`) discards it on request. */
int mig_receive(const vm_ctx *ctx, int fd, int flags, json_t **report, vm_err *err);
int mig_receive_abort(const vm_ctx *ctx, const char *uuid, vm_err *err);

#endif
