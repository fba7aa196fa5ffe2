/* Shared between server.c (cache, events, requests) and watch.c (loop). */
#ifndef VMINFOD_SERVER_INTERNAL_H
#define VMINFOD_SERVER_INTERNAL_H

#include <pthread.h>
#include <stdint.h>

#include "server.h"
#include "strmap.h"
#include "vminfo/ring.h"

/* One cached VM: its compact JSON text, exactly what /vms/<uuid> sends. */
struct vment {
    char *text;
    size_t len;
    /* Top-level scalar properties for /vms?fields=, packed as
     * "key\0<value as JSON>\0..." (a few hundred bytes per VM). */
    char *scalars;
    size_t scalars_len;
    /* This VM's object in the /vms?fields= answer for vminfod.frag_fields
     * (NULL until asked, and again after the VM changed). */
    char *frag;
    size_t frag_len;
};

/* A watched directory; refs say which entries matter to whom. */
struct wref {
    char *name;        /* entry name, NULL for any entry */
    char *owner;       /* VM uuid, or "@list" / "@globals" */
};

struct wdir {
    int wd;            /* -1 once the kernel dropped the watch */
    char *path;
    struct wref *refs;
    size_t nrefs, cap;
};

/* Watcher-side state of one VM (exists while the VM, or its directory, does). */
struct vmw {
    char uuid[37];
    struct wdir **dirs;   /* one entry per ref this VM holds (parallel to names) */
    char **names;
    size_t n;
    int pid;
    int pidfd;
    int retries;
};

struct vminfod_listener {
    struct vminfod_listener *prev, *next;
    char uuid[37];
    char *ua;
    int64_t created;
    char *head;            /* first line (ready / resumed / resync) */
    size_t head_len, head_off;
    long long next_seq;    /* next ring event to send */
    size_t off;            /* bytes of it already sent */
    int dead, closing, suspended;
    const vminfod_listener_ops *ops;
    void *conn;
};

struct vminfod {
    const vm_ctx *ctx;
    vminfod_loader loader;
    vminfod_opts opts;
    int64_t start_ms;
    int64_t last_keepalive;      /* watch thread only */

    /* ---- shared: under lock ---- */
    pthread_mutex_t lock;
    strmap *cache;               /* uuid → struct vment */
    struct vms_blob *proj;       /* last /vms?fields= answer, until the cache changes */
    char *proj_fields;           /* ... and the fields it was asked for */
    char *frag_fields;           /* the fields of every vment.frag */
    vminfo_ring ring;
    struct vminfod_listener *listeners;
    size_t nlisteners;
    json_t *refresh_errors;      /* [{err, time}] newest last */
    json_t *refresh_log;         /* [{reason, cacheChanges, vmChanges, started, ended}] */
    int64_t last_refresh_ms;
    int refreshing;
    size_t npending;             /* VMs waiting for reload */
    long long overflows;
    long long events_lost_rescans;
    /* the watch tables below are written under lock, read freely by the
     * watcher thread (their only writer) */
    strmap *dirs;                /* path → struct wdir */
    strmap *wds;                 /* "%d" wd → struct wdir */
    strmap *vmw;                 /* uuid → struct vmw */

    /* ---- watcher thread only ---- */
    int epfd, inofd, timerfd, wakefd;
    strmap *dirty;               /* uuid → due time (int64_t *) */
    int rescan_pending;
    const char *rescan_reason;
    int stopping;
};

/* server.c, for watch.c */
void vminfod_record_error(vminfod *d, const char *msg);
/* Reloads these VMs (array of uuids) in one load_all pass; returns the
 * uuids to retry (new array). */
json_t *vminfod_refresh_many(vminfod *d, json_t *uuids);
/* watch.c, for server.c: keep watches and the pidfd of a VM current
 * (present = the VM or its directory exists), or drop them. */
void vminfod_watch_vm(vminfod *d, const char *uuid, int present);
void vminfod_watch_free_all(vminfod *d);

#endif
