/* Talking to vminfod, the VM object cache (reference §5, I1–I30).
 *
 * vmadm reads VM objects through vminfod when it is available (read-through)
 * and, for every mutating command, opens an event stream BEFORE acting and
 * then waits until the stream shows the new state (read-after-write, I18):
 *
 *     vminfo_stream *s;
 *     if (vminfo_stream_open(ctx, "VM.js update (<uuid>)", &s, NULL, err) < 0) ...
 *     ... change the VM ...
 *     vminfo_stream_wait_vm(s, uuid, quota_is_6, NULL, 60000, err);
 *     vminfo_stream_close(s);
 *
 * Transport: our own minimal HTTP/1.1 client (GET only), no fork.  The daemon
 * of this VMADM_ROOT is reached through its unix socket
 * ($VMADM_ROOT/run/vminfod.sock) when present, else over TCP at
 * ctx->vminfod_addr; a daemon that announces a different root
 * (X-Vminfod-Root header) is ignored, so a test root never reads the host's
 * VMs.  ctx->vminfod_addr == "none" disables vminfod entirely.
 *
 * Secrets: the unix socket is root's (0600) and serves whole objects; TCP
 * serves a redacted view (no vnc_password, internal_metadata or
 * customer_metadata *_pw; header X-Vminfod-Redacted).  A root client
 * refuses a redacted answer (vmadm then reads the files itself, and a
 * write does not wait on a stream that could never match); others accept
 * it (`vminfo` as a normal user).
 *
 * Also here because vminfod, vminfo and `vmadm events` share them: the
 * change-object diff (I14–I17) and the event line formatter (C44–C46). */
#ifndef VMINFO_CLIENT_H
#define VMINFO_CLIENT_H

#include <jansson.h>
#include <stdbool.h>

#include "common/ctx.h"
#include "common/err.h"

/* ---- one-shot requests ---- */

/* 1 when a vminfod for this root answers /ping within 100 ms, else 0
 * (always 0 with VMINFOD_ADDR=none).  Never fails. */
int vminfo_client_available(const vm_ctx *ctx);

/* GET /vms/<uuid>: *out is a new reference.  404 → VMERR_NOTFOUND with
 * message `bad statusCode: 404` (I21); other non-200 → VMERR_IO
 * `bad statusCode: <code>`; no daemon → VMERR_IO. */
int vminfo_client_get_vm(const vm_ctx *ctx, const char *uuid, json_t **out, vm_err *err);
/* GET /vms: the JSON array of all VM objects, sorted by uuid. */
int vminfo_client_get_vms(const vm_ctx *ctx, json_t **out, vm_err *err);
/* GET <path>: the body as text (NUL-terminated, *len without the NUL;
 * caller frees), within timeout_ms (< 0: none).  No daemon, a daemon of
 * another root, a non-200 answer or the timeout → -1 with err. */
int vminfo_client_get_text(const vm_ctx *ctx, const char *path, int timeout_ms, char **body, size_t *len, vm_err *err);
/* GET <path> (e.g. "/ping", "/status?full=1"), parsed JSON body. */
int vminfo_client_get_json(const vm_ctx *ctx, const char *path, json_t **out, vm_err *err);

/* ---- event streams ---- */

typedef struct vminfo_stream vminfo_stream;

/* Subscribes to /events and waits (30 s) for the ready event.  `name`
 * (e.g. "VM.js update (<uuid>)") appears in the User-Agent and in timeout
 * messages.  *ready_vms (optional) gets the VM array from the ready event
 * (new reference).  Errors: `VminfodEventStream ready timeout (30000ms)
 * exceeded`, `bad statusCode: <code>`, connection failures. */
int vminfo_stream_open(const vm_ctx *ctx, const char *name, vminfo_stream **s, json_t **ready_vms, vm_err *err);
/* Like vminfo_stream_open, but the ready event carries only the VMs listed
 * in `uuids` (NULL-terminated; none when empty): what a write needs to
 * watch one VM, without the whole host's VMs. */
int vminfo_stream_open_only(const vm_ctx *ctx, const char *name, const char *const *uuids, vminfo_stream **s,
                            vm_err *err);
/* Like vminfo_stream_open but resumes after event `since` (its "seq"): the
 * first event is {"type":"resumed",...} when every later event is still in
 * the daemon's ring, else {"type":"resync","vms":"<array as string>",...}. */
int vminfo_stream_open_since(const vm_ctx *ctx, const char *name, long long since, vminfo_stream **s, vm_err *err);

/* The ready (or resumed/resync) event the stream opened with; borrowed. */
json_t *vminfo_stream_ready_event(vminfo_stream *s);

/* Next event from the stream, consumed.  *ev is a new reference.  Returns 1
 * with an event, 0 on timeout (timeout_ms < 0: wait forever), -1 on error
 * (`VminfodEventStream ended prematurely` when the daemon went away). */
int vminfo_stream_next(vminfo_stream *s, json_t **ev, int timeout_ms, vm_err *err);

/* The waits below consume events in order: each returns once the events read
 * so far satisfy it, so consecutive waits see consecutive happenings (a
 * reboot waits for "stopped" and then for "running").  The stream keeps the
 * VM objects of the ready event updated with every consumed event. */

/* Until an event matches `tmpl` (I20 objSameValues: every key of tmpl present
 * and deeply equal).  Timeout → VMERR_TIMEOUT
 * `vminfod watchForEvent "<name>" timeout exceeded`. */
int vminfo_stream_wait_event(vminfo_stream *s, json_t *tmpl, int timeout_ms, vm_err *err);
/* Until every entry of `wanted` (array of change templates, each possibly an
 * array of alternatives) has matched a change of a modify event for `uuid`
 * (I20: path arrays of equal length, null in the template matches any
 * element, other keys objSameValues).  Empty list succeeds at once.  Timeout
 * → VMERR_TIMEOUT `vminfod watchForChanges "<name>" timeout exceeded`. */
int vminfo_stream_wait_changes(vminfo_stream *s, const char *uuid, json_t *wanted, int timeout_ms, vm_err *err);
/* Until pred(vm, arg) != 0 for the stream's current object of `uuid` (vm ==
 * NULL once deleted / when unknown); checked first against the state already
 * known, so a change that happened before the call is not missed.  Timeout
 * → VMERR_TIMEOUT `vminfod watchForChanges "<name>" timeout exceeded`. */
int vminfo_stream_wait_vm(vminfo_stream *s, const char *uuid, int (*pred)(json_t *vm, void *arg), void *arg,
                          int timeout_ms, vm_err *err);
/* The stream's current object of `uuid` (borrowed; NULL if unknown). */
json_t *vminfo_stream_vm(vminfo_stream *s, const char *uuid);
void vminfo_stream_close(vminfo_stream *s);

/* ---- matching (I20), exposed for tests ---- */
bool vminfo_obj_same_values(json_t *tmpl, json_t *obj);
bool vminfo_change_matches(json_t *wanted, json_t *change);

/* ---- change objects (I14–I17) ---- */

/* diff(a, b) with map {disks: "path", nics: "mac"}; NULL a/b = undefined.
 * Returns a new array (empty when equal). */
json_t *vminfo_diff(json_t *a, json_t *b);
/* Same with an explicit identifier map (object key → identifier key; NULL:
 * no map). */
json_t *vminfo_diff_map(json_t *a, json_t *b, json_t *map);
/* I17: ["nics","192.168.1.1","name"] → "nics[192.168.1.1].name". */
char *vminfo_pretty_path(json_t *path);

/* ---- event lines (C44–C46) ---- */

enum {
    VMINFO_FMT_FULL = 1, /* -f: full ISO date and zonename */
    VMINFO_FMT_JSON = 2, /* -j: one-line JSON; overrides -f */
};
/* The lines `vmadm events` / `vminfo events` print for one event, each ending
 * in '\n' (several for a modify with several changes).  A ready event gives
 * the -r line; with -j its "vms" string becomes an object keyed by zonename.
 * Caller frees. */
char *vminfo_format_event(json_t *ev, int flags);

#endif
