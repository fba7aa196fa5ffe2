/* vminfod core: the VM object cache, the event history, event listeners,
 * request routing and the file/process watcher loop.  Everything but the
 * HTTP transport (httpd.c) and the real VM loader (main.c), so unit tests
 * and the fuzz harness drive it with a fake loader.  Its parts are listed
 * in server_internal.h; the watcher (watch.h) reports to it through a table
 * of callbacks and never calls back into it.
 *
 * Threads: vminfod_run() is the only writer (one thread: watcher loop);
 * request handling and listener reads come from the HTTP threads.  All
 * shared state sits behind one mutex, held only for short copies — never
 * across a VM load or a socket write. */
#ifndef VMINFOD_SERVER_H
#define VMINFOD_SERVER_H

#include <jansson.h>
#include <stddef.h>
#include <stdbool.h>
#include <sys/types.h>

#include "common/ctx.h"
#include "common/err.h"

typedef bool (*vminfod_want_fn)(void *fnarg, const char *uuid);
typedef int (*vminfod_each_fn)(void *fnarg, const char *uuid, json_t *vm);

/* Where VM objects come from (lib/vm in the daemon, fakes in tests). */
typedef struct vminfod_loader {
    void *arg;
    /* Every committed VM `want` accepts (want NULL: all), built one at a
     * time and handed to fn, which owns it: a full refresh never holds more
     * than one VM object.  Stops when fn returns -1. */
    int (*load_each)(void *arg, vminfod_want_fn want, vminfod_each_fn fn, void *fnarg, vm_err *err);
    /* One VM; VMERR_NOTFOUND when it does not exist. */
    int (*load_one)(void *arg, const char *uuid, json_t **out, vm_err *err);
    /* UUIDs of every committed VM, array of strings. */
    int (*list_uuids)(void *arg, json_t **out, vm_err *err);
    /* Absolute paths (files or directories) whose change can change the
     * VM; new reference, may be NULL. */
    json_t *(*watch_paths)(void *arg, const char *uuid);
} vminfod_loader;

/* Reads etc/vms/<uuid>/vm.json as the whole VM object (plus uuid/zonename
 * when absent).  For tests and the fuzz harness; `vminfod --loader=files`. */
void vminfod_files_loader(const vm_ctx *ctx, vminfod_loader *out);

typedef struct vminfod_opts {
    int rescan_ms; /* periodic full rescan; default 60000, 0 = never */
    int debounce_ms; /* coalescing window for bursts; default 1 */
    size_t ring_events; /* event history kept for ?since; default 4096 */
    size_t ring_bytes; /* ... and its byte bound; default 4 MiB */
    size_t client_buffer; /* per-listener unsent bytes before disconnect; 4 MiB */
    /* Event stream caps, counted per transport (TCP, unix socket), so
     * streams held by local users over TCP never lock out root's unix
     * socket: at most max_streams streams (503 beyond), at most
     * max_client_streams per client — TCP address or unix peer uid; root
     * on the unix socket is exempt — (429 beyond).  Defaults 256 and 32;
     * other requests are always answered. */
    size_t max_streams, max_client_streams;
    /* A stream with unsent data whose client has read nothing for this
     * long is dropped (a client that never reads); default 60000. */
    int stall_ms;
} vminfod_opts;

void vminfod_opts_default(vminfod_opts *o);

typedef struct vminfod vminfod;

int vminfod_new(const vm_ctx *ctx, const vminfod_loader *loader, const vminfod_opts *opts, vminfod **out, vm_err *err);
void vminfod_free(vminfod *d);
/* The VMADM_ROOT served (sent as X-Vminfod-Root so clients of another root
 * never trust this daemon). */
const char *vminfod_root(const vminfod *d);

/* JSON-lines log record on stderr: {"time","level","msg"}. */
void vminfod_log(vminfod *d, const char *level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- cache maintenance (watcher thread) ---- */

/* Loads every VM and emits create/modify/delete for what differs from the
 * cache; `reason` is logged ("startup", "periodic", "overflow"). */
void vminfod_refresh_all(vminfod *d, const char *reason);
/* Reloads one VM and emits its event if it changed.  Returns 1 when the
 * VM should be retried shortly (its directory exists but it could not be
 * loaded, e.g. a config file being replaced). */
int vminfod_refresh_vm(vminfod *d, const char *uuid);

/* Sets up the watches and fills the cache (before serving requests). */
int vminfod_start(vminfod *d, vm_err *err);
/* Runs the watcher loop (inotify, pidfds, rescan timer) until stop_fd
 * becomes readable or vminfod_stop() is called (vminfod_start first if not
 * done yet). */
int vminfod_run(vminfod *d, int stop_fd, vm_err *err);
/* Thread-safe request to end vminfod_run. */
void vminfod_stop(vminfod *d);

/* ---- requests (any thread) ---- */

typedef struct vminfod_req {
    const char *method;
    const char *path; /* URL path, without query */
    /* Query argument lookup (NULL if absent; "" for a bare key). */
    const char *(*arg)(void *cls, const char *key);
    void *arg_cls;
    const char *user_agent; /* may be NULL */
    /* Set by the transport.  redact: the TCP view — secrets (vnc_password,
     * internal_metadata, customer_metadata *_pw) are never served (see
     * redact.c).  peer: the client for the stream caps ("ip:<addr>",
     * "uid:<n>"; NULL: unknown, counted together); trusted: root on the
     * unix socket (no per-client cap). */
    int redact;
    const char *peer;
    int trusted;
} vminfod_req;

enum { VMINFOD_RESP_BODY = 0, VMINFOD_RESP_EVENTS };

typedef struct vminfod_listener vminfod_listener;

typedef struct vminfod_resp {
    int status;
    int kind;
    char *body; /* malloc'd (BODY); may be NULL for empty */
    size_t len;
    void *blob; /* shared body (/vms): release with vminfod_blob_unref */
    vminfod_listener *listener; /* EVENTS: registered, owned by the transport */
    const char *ctype; /* static Content-Type; NULL: application/json */
} vminfod_resp;

/* Routes one request (I2–I9).  Never fails: errors become responses (an
 * /events over the caps is a 429 or 503 with {"error"}). */
void vminfod_handle(vminfod *d, const vminfod_req *req, vminfod_resp *resp);
/* Frees body/blob (not the listener). */
void vminfod_resp_free(vminfod_resp *resp);
void vminfod_blob_unref(void *blob);

/* Parses `a=1&b&c=x%20y` and returns the decoded value of key (malloc'd),
 * "" for a bare key, NULL if absent.  Used by tests and the fuzz harness
 * (the HTTP library parses queries itself). */
char *vminfod_query_get(const char *query, const char *key);

/* ---- event listeners ---- */

/* Transport hooks: suspend is called (with the daemon lock held) when a
 * listener has nothing to send; resume/kill are called without the lock. */
typedef struct vminfod_listener_ops {
    void (*suspend)(void *conn);
    void (*resume)(void *conn);
    void (*kill)(void *conn); /* shut the socket down (slow client) */
    int (*peer_gone)(void *conn); /* 1 when the client closed its end */
} vminfod_listener_ops;

void vminfod_listener_attach(vminfod *d, vminfod_listener *l, const vminfod_listener_ops *ops, void *conn);
/* Copies up to max bytes of the stream.  Returns bytes (>0), 0 when nothing
 * is pending (suspend was called if attached), -1 at end of stream (daemon
 * stopping), -2 when the listener was dropped (too slow). */
ssize_t vminfod_listener_read(vminfod *d, vminfod_listener *l, char *buf, size_t max);
/* Unregisters and frees. */
void vminfod_listener_free(vminfod *d, vminfod_listener *l);
/* Ends every stream (shutdown): streams return -1 once drained of their
 * current line; suspended ones are resumed. */
void vminfod_close_listeners(vminfod *d);
size_t vminfod_listener_count(vminfod *d);

/* Drops event listeners whose client closed its end of the connection: an
 * idle stream is never written to, so nothing else would notice (called
 * every few seconds). */
void vminfod_keepalive(vminfod *d);

#endif
