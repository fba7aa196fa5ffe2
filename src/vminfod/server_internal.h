/* Shared between the parts of the vminfod core behind server.h:
 *   server.c  lifecycle, log, and the watcher (watch.h) wiring
 *   cache.c   the VM object cache and its refresh through the loader
 *   vms.c     the /vms answers: whole cache, ?fields= projection
 *   events.c  the event history and the /events listeners
 *   status.c  /status
 *   metrics.c /metrics and the request counters
 *   routes.c  request routing and responses
 * watch.c does not see this: it reports through its vminfod_watch_ops.
 *
 * Locking: everything under "shared" is read and written with d->lock
 * held; functions named *_locked expect it held, the others take it. */
#ifndef VMINFOD_SERVER_INTERNAL_H
#define VMINFOD_SERVER_INTERNAL_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "server.h"
#include "strmap.h"
#include "vminfo/ring.h"
#include "watch.h"

/* One cached VM: its compact JSON text, exactly what /vms/<uuid> sends. */
struct vment {
    char *text;
    size_t len;
    /* The same without secrets (the TCP view); NULL when it has none. */
    char *rtext;
    size_t rlen;
    /* Top-level scalar properties for /vms?fields=, packed as
     * "key\0<value as JSON>\0..." (a few hundred bytes per VM). */
    char *scalars;
    size_t scalars_len;
    /* This VM's object in the /vms?fields= answer for vminfod.frag_fields
     * (NULL until asked, and again after the VM changed). */
    char *frag;
    size_t frag_len;
};

/* An immutable response body shared by reference (vminfod_blob_unref). */
struct vms_blob {
    atomic_int refs;
    size_t len;
    char data[];
};

struct vminfod_listener {
    struct vminfod_listener *prev, *next;
    char uuid[37];
    char *ua;
    int64_t created;
    char *head; /* first line (ready / resumed / resync) */
    size_t head_len, head_off;
    long long next_seq; /* next ring event to send */
    size_t off; /* bytes of it already sent */
    int dead, closing, suspended;
    int redact; /* the TCP view: redacted lines and ready snapshot */
    int trusted; /* root on the unix socket: no per-client cap */
    char *peer; /* "ip:<addr>", "uid:<n>" or NULL */
    int64_t progress_ms; /* when the client last took bytes */
    const vminfod_listener_ops *ops;
    void *conn;
};

/* Request count and latency histogram (metrics.c), updated lock-free. */
#define VMINFOD_LAT_BUCKETS 8
struct vminfod_reqstats {
    atomic_ullong count, sum_ns;
    atomic_ullong le[VMINFOD_LAT_BUCKETS]; /* per bucket, not cumulative */
};

struct vminfod {
    const vm_ctx *ctx;
    vminfod_loader loader;
    vminfod_opts opts;
    int64_t start_ms;
    vminfod_watch *watch; /* its tables are written under lock too */
    struct vminfod_reqstats reqs;

    /* ---- shared: under lock ---- */
    pthread_mutex_t lock;
    strmap *cache; /* uuid → struct vment */
    struct vms_blob *proj; /* last /vms?fields= answer, until the cache changes */
    char *proj_fields; /* ... and the fields it was asked for */
    bool proj_all; /* ... and whether do_not_inventory VMs were in it */
    char *frag_fields; /* the fields of every vment.frag */
    vminfo_ring ring;
    struct vminfod_listener *listeners;
    size_t nlisteners;
    uint64_t listeners_dropped; /* /events streams cut for being slow or gone */
    json_t *refresh_errors; /* [{err, time}] newest last */
    json_t *refresh_log; /* [{reason, cacheChanges, vmChanges, started, ended}] */
    int64_t last_refresh_ms;
    int refreshing;
    long long events_lost_rescans;
};

/* Listeners to resume once the lock is released (a push wakes them). */
struct wake {
    const vminfod_listener_ops *ops;
    void *conn;
};

struct wakes {
    struct wake *v;
    size_t n, cap;
};

/* ---- cache.c ---- */

void vminfod_vment_free(void *p);
/* Reloads these VMs (array of uuids) in one load_each pass; returns the
 * uuids to retry (new array). */
json_t *vminfod_refresh_many(vminfod *d, json_t *uuids);

/* ---- vms.c ---- */

/* Lock held: the cached VMs changed, so a kept /vms?fields= answer is stale. */
void vminfod_cache_changed_locked(vminfod *d);
/* Lock held: "[<vm>,...]" of the VMs in only (uuids; NULL: every VM),
 * sorted by uuid, redacted for the TCP view; a new blob the caller
 * releases. */
struct vms_blob *vminfod_vms_locked(vminfod *d, char **only, int redact, bool all);
/* Lock held: /vms?fields=<fields> (kept until the cache changes); a
 * reference the caller releases. */
struct vms_blob *vminfod_vms_fields_locked(vminfod *d, const char *fields, bool all);
/* Lock held, for cache.c: repacks e's scalars from vm (drops e->frag). */
void vminfod_vment_scalars(json_t *vm, struct vment *e);
/* Lock held: the JSON text of e's top-level scalar key, or NULL; *hint is
 * where the previous VM had it (start at 0). */
const char *vminfod_vment_scalar(const struct vment *e, const char *key, size_t *hint);

/* ---- events.c ---- */

/* Lock held: appends the event (its "seq" added here) to the history and
 * tells the listeners; the ones to wake land in w (vminfod_wakes_run once
 * the lock is released). */
void vminfod_event_push_locked(vminfod *d, json_t *ev, struct wakes *w);
void vminfod_wakes_run(struct wakes *w);
/* A new listener from ?since / ?vms= (registered; see server.h), or NULL
 * with *status 429/503 and *why set when the request is over the caps. */
struct vminfod_listener *vminfod_listener_new(vminfod *d, const vminfod_req *req, int has_since, long long since,
                                              char **only, int *status, const char **why);

/* ---- redact.c ---- */

/* A top-level property the TCP view never serves. */
bool vminfod_secret_field(const char *name);
/* A copy of vm without its secrets, or NULL when it has none. */
json_t *vminfod_redact_vm(json_t *vm);
/* A copy of an event without secrets (in vm and changes), or NULL when it
 * carries none. */
json_t *vminfod_redact_event(json_t *ev);
/* Lock held: sets e->rtext from vm (NULL when nothing to hide). */
void vminfod_vment_redact(json_t *vm, struct vment *e);

/* ---- status.c ---- */

json_t *vminfod_status_json(vminfod *d, int full);

/* ---- metrics.c ---- */

/* A monotonic timestamp (ns) to pass to vminfod_metrics_request. */
uint64_t vminfod_metrics_clock(void);
/* Counts one answered request that began at started. */
void vminfod_metrics_request(vminfod *d, uint64_t started);
/* GET /metrics: the Prometheus text exposition (malloc'd). */
char *vminfod_metrics_text(vminfod *d);

#endif
