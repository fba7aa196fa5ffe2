/* Shared between watch.c (the loop: inotify, pidfds, timers, the dirty
 * set) and watchset.c (which directories and processes are watched for
 * which VM).  Called from the loop thread only; the tables marked shared
 * are written under *lock (see watch.h). */
#ifndef VMINFOD_WATCH_INTERNAL_H
#define VMINFOD_WATCH_INTERNAL_H

#include <stdint.h>

#include "strmap.h"
#include "watch.h"

/* Owners of the refs on etc/vms and run/vms: the directory listings are
 * the VMs (LIST), the directories themselves appearing (GLOBALS). */
#define GLOBALS "@globals"
#define LIST "@list"

/* A watched directory; refs say which entries matter to whom. */
struct wref {
    char *name; /* entry name, NULL for any entry */
    char *owner; /* VM uuid, or "@list" / "@globals" */
};

struct wdir {
    int wd; /* -1 once the kernel dropped the watch */
    char *path;
    struct wref *refs;
    size_t nrefs, cap;
};

/* Watcher-side state of one VM (exists while the VM, or its directory, does). */
struct vmw {
    char uuid[37];
    struct wdir **dirs; /* one entry per ref this VM holds (parallel to names) */
    char **names;
    size_t n;
    int pid;
    int pidfd;
    int retries;
};

struct vminfod_watch {
    const vm_ctx *ctx;
    int rescan_ms, debounce_ms;
    const vminfod_watch_ops *ops;
    void *arg;

    /* ---- shared: written under *lock by the loop thread, which reads them
     * freely (their only writer) ---- */
    pthread_mutex_t *lock;
    strmap *dirs; /* path → struct wdir */
    strmap *wds; /* "%d" wd → struct wdir */
    strmap *vmw; /* uuid → struct vmw */
    size_t npending; /* VMs waiting for reload */
    long long overflows;

    /* ---- loop thread only ---- */
    int epfd, inofd, timerfd, wakefd;
    strmap *dirty; /* uuid → due time (int64_t *) */
    int rescan_pending;
    const char *rescan_reason;
    int stopping;
    int64_t last_keepalive;
};

/* watch.c: a log line through the owner's ops. */
void vminfod_watch_log(vminfod_watch *wt, const char *level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* watchset.c, for the loop */

/* (Re)watches etc/vms and run/vms (or their nearest existing ancestors). */
void vminfod_watch_sync_globals(vminfod_watch *wt);
/* The kernel dropped the watch (directory removed): forget the wd, keep the
 * struct until its owners let go of it. */
void vminfod_watch_dir_gone(vminfod_watch *wt, struct wdir *w);
/* The VM process ended (its pidfd became readable). */
void vminfod_watch_pidfd_close(vminfod_watch *wt, struct vmw *w);
/* Drops every VM's watches and pidfd (vminfod_watch_free). */
void vminfod_watch_drop_all(vminfod_watch *wt);

#endif
