/* The watcher loop: inotify events, pidfds of VM processes, a periodic
 * full rescan, and a short debounce that coalesces bursts per VM (the dirty
 * set) before the owner is told to reload. */
#include "watch_internal.h"

#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "common/util.h"

#define RETRY_MS 25
#define BULK_THRESHOLD 16

enum { TAG_INOTIFY = 1, TAG_TIMER, TAG_WAKE, TAG_STOP };

void vminfod_watch_log(vminfod_watch *wt, const char *level, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    wt->ops->log(wt->arg, level, msg);
}

vminfod_watch *vminfod_watch_new(const vm_ctx *ctx, int rescan_ms, int debounce_ms, pthread_mutex_t *lock,
                                 const vminfod_watch_ops *ops, void *arg)
{
    vminfod_watch *wt = xcalloc(1, sizeof *wt);

    wt->ctx = ctx;
    wt->rescan_ms = rescan_ms;
    wt->debounce_ms = debounce_ms;
    wt->lock = lock;
    wt->ops = ops;
    wt->arg = arg;
    wt->dirs = strmap_new();
    wt->wds = strmap_new();
    wt->vmw = strmap_new();
    wt->dirty = strmap_new();
    wt->epfd = wt->inofd = wt->timerfd = wt->wakefd = -1;
    return wt;
}

void vminfod_watch_free(vminfod_watch *wt)
{
    vminfod_watch_drop_all(wt);
    int *fds[] = { &wt->epfd, &wt->inofd, &wt->timerfd, &wt->wakefd };
    for (size_t f = 0; f < sizeof fds / sizeof fds[0]; f++) {
        if (*fds[f] >= 0)
            close(*fds[f]);
        *fds[f] = -1;
    }
    strmap_free(wt->dirs, NULL);
    strmap_free(wt->wds, NULL);
    strmap_free(wt->vmw, NULL);
    strmap_free(wt->dirty, free);
    free(wt);
}

/* ---- dirty set ---- */

static void mark_dirty(vminfod_watch *wt, const char *uuid, int64_t due)
{
    int64_t *cur = strmap_get(wt->dirty, uuid);
    if (cur) {
        if (due < *cur)
            *cur = due;
        return;
    }
    cur = xmalloc(sizeof *cur);
    *cur = due;
    strmap_set(wt->dirty, uuid, cur);
}

static void handle_list_entry(vminfod_watch *wt, const char *name, int64_t due)
{
    if (str_has_prefix(name, ".deleting-"))
        name += strlen(".deleting-");
    if (uuid_valid(name))
        mark_dirty(wt, name, due);
}

static void request_rescan(vminfod_watch *wt, const char *reason)
{
    wt->rescan_pending = 1;
    wt->rescan_reason = reason;
}

static void read_inotify(vminfod_watch *wt)
{
    char buf[65536] __attribute__((aligned(__alignof__(struct inotify_event))));
    int64_t due = now_ms() + wt->debounce_ms;

    for (;;) {
        ssize_t len = read(wt->inofd, buf, sizeof buf);
        if (len <= 0)
            return;
        for (char *p = buf; p < buf + len;) {
            struct inotify_event *ev = (struct inotify_event *)p;
            p += sizeof *ev + ev->len;
            if (ev->mask & IN_Q_OVERFLOW) {
                pthread_mutex_lock(wt->lock);
                wt->overflows++;
                pthread_mutex_unlock(wt->lock);
                vminfod_watch_log(wt, "warn",
                                  "inotify queue overflowed: file events were lost, "
                                  "rescanning all VMs");
                request_rescan(wt, "overflow");
                continue;
            }
            char key[16];
            snprintf(key, sizeof key, "%d", ev->wd);
            struct wdir *w = strmap_get(wt->wds, key);
            if (!w)
                continue;
            const char *name = ev->len ? ev->name : NULL;
            int self = (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED)) != 0;
            for (size_t i = 0; i < w->nrefs; i++) {
                struct wref *r = &w->refs[i];
                if (!self && r->name && (!name || strcmp(name, r->name)))
                    continue;
                if (!strcmp(r->owner, LIST)) {
                    if (name)
                        handle_list_entry(wt, name, due);
                    else
                        mark_dirty(wt, GLOBALS, due);
                } else {
                    mark_dirty(wt, r->owner, due);
                }
            }
            if (ev->mask & IN_IGNORED)
                vminfod_watch_dir_gone(wt, w);
        }
    }
}

static void process_dirty(vminfod_watch *wt, int64_t now)
{
    cleanup_json json_t *due = json_array();
    size_t it = 0, i;
    const char *k;
    void *v;
    json_t *u;

    while (strmap_next(wt->dirty, &it, &k, &v))
        if (*(int64_t *)v <= now)
            json_array_append_new(due, json_string(k));
    json_array_foreach(due, i, u)
        free(strmap_del(wt->dirty, json_string_value(u)));
    cleanup_json json_t *vms = json_array();
    json_array_foreach(due, i, u) {
        if (!strcmp(json_string_value(u), GLOBALS))
            vminfod_watch_sync_globals(wt);
        else
            json_array_append(vms, u);
    }
    if (json_array_size(vms) > BULK_THRESHOLD) {
        /* Many VMs at once (a shared file such as the pool metadata changed):
         * one load_all pass reads shared files once. */
        cleanup_json json_t *retry = wt->ops->changed_many(wt->arg, vms);
        json_array_foreach(retry, i, u)
            mark_dirty(wt, json_string_value(u), now_ms() + RETRY_MS);
        return;
    }
    json_array_foreach(vms, i, u) {
        const char *uuid = json_string_value(u);
        if (wt->ops->changed(wt->arg, uuid) == 1)
            mark_dirty(wt, uuid, now_ms() + RETRY_MS);
    }
}

#define KEEPALIVE_MS 5000
#define TRIM_IDLE_MS 200
#define TRIM_BUSY_MS 1000

static int next_timeout(vminfod_watch *wt, int64_t trim_at)
{
    if (wt->rescan_pending)
        return 0;
    /* Wake at least every KEEPALIVE_MS for the listener keepalive. */
    int64_t ka = wt->last_keepalive + KEEPALIVE_MS - now_ms();
    if (ka < 0)
        ka = 0;
    int64_t min = -1;
    size_t it = 0;
    void *v;
    while (strmap_next(wt->dirty, &it, NULL, &v))
        if (min < 0 || *(int64_t *)v < min)
            min = *(int64_t *)v;
    if (trim_at >= 0 && (min < 0 || trim_at < min))
        min = trim_at;
    if (min < 0)
        return (int)ka;
    int64_t t = min - now_ms();
    if (t > ka)
        t = ka;
    return t < 0 ? 0 : (int)t;
}

static int add_fd(vminfod_watch *wt, int fd, uint64_t tag)
{
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };
    return epoll_ctl(wt->epfd, EPOLL_CTL_ADD, fd, &ev);
}

void vminfod_watch_stop(vminfod_watch *wt)
{
    uint64_t one = 1;
    if (wt->wakefd >= 0 && write(wt->wakefd, &one, sizeof one) < 0) {
        /* counter overflow only; the loop is already woken */
    }
}

int vminfod_watch_start(vminfod_watch *wt, vm_err *err)
{
    wt->epfd = epoll_create1(EPOLL_CLOEXEC);
    wt->inofd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    wt->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wt->epfd < 0 || wt->inofd < 0 || wt->wakefd < 0)
        return vm_err_sys(err, errno, "vminfod: cannot set up the watcher");
    if (add_fd(wt, wt->inofd, TAG_INOTIFY) < 0 || add_fd(wt, wt->wakefd, TAG_WAKE) < 0)
        return vm_err_sys(err, errno, "vminfod: epoll");
    if (wt->rescan_ms > 0) {
        wt->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        struct itimerspec its = {
            .it_interval = { wt->rescan_ms / 1000, (long)(wt->rescan_ms % 1000) * 1000000 },
            .it_value = { wt->rescan_ms / 1000, (long)(wt->rescan_ms % 1000) * 1000000 },
        };
        if (wt->timerfd < 0 || timerfd_settime(wt->timerfd, 0, &its, NULL) < 0 ||
            add_fd(wt, wt->timerfd, TAG_TIMER) < 0)
            return vm_err_sys(err, errno, "vminfod: rescan timer");
    }

    vminfod_watch_sync_globals(wt);
    return 0;
}

bool vminfod_watch_started(const vminfod_watch *wt)
{
    return wt->epfd >= 0;
}

int vminfod_watch_run(vminfod_watch *wt, int stop_fd, vm_err *err)
{
    if (stop_fd >= 0 && add_fd(wt, stop_fd, TAG_STOP) < 0)
        return vm_err_sys(err, errno, "vminfod: epoll");

    /* Freed memory goes back to the system once a burst of changes settles
     * (TRIM_IDLE_MS without one), and at least every TRIM_BUSY_MS during a
     * long burst: RSS follows the VMs, not the busiest moment. */
    int64_t last_trim = now_ms(), trim_at = -1;
    while (!wt->stopping) {
        struct epoll_event evs[64];
        int n = epoll_wait(wt->epfd, evs, 64, next_timeout(wt, trim_at));
        if (n < 0 && errno != EINTR)
            return vm_err_sys(err, errno, "vminfod: epoll_wait");
        for (int i = 0; i < n; i++) {
            uint64_t tag = evs[i].data.u64, junk;
            if (tag == TAG_INOTIFY) {
                read_inotify(wt);
            } else if (tag == TAG_TIMER) {
                if (read(wt->timerfd, &junk, sizeof junk) > 0)
                    request_rescan(wt, "periodic");
            } else if (tag == TAG_WAKE || tag == TAG_STOP) {
                wt->stopping = 1;
            } else {
                struct vmw *w = evs[i].data.ptr;
                vminfod_watch_pidfd_close(wt, w);
                mark_dirty(wt, w->uuid, now_ms());
            }
        }
        if (wt->stopping)
            break;
        if (now_ms() - wt->last_keepalive >= KEEPALIVE_MS) {
            wt->last_keepalive = now_ms();
            wt->ops->tick(wt->arg);
        }
        if (wt->rescan_pending) {
            wt->rescan_pending = 0;
            /* Directory events first: new VMs get watched by the rescan. */
            process_dirty(wt, now_ms());
            wt->ops->rescan(wt->arg, wt->rescan_reason ? wt->rescan_reason : "periodic");
        }
        bool busy = strmap_count(wt->dirty) > 0;
        process_dirty(wt, now_ms());
        pthread_mutex_lock(wt->lock);
        wt->npending = strmap_count(wt->dirty);
        pthread_mutex_unlock(wt->lock);
        if (busy)
            trim_at = now_ms() + TRIM_IDLE_MS;
        if ((trim_at >= 0 && now_ms() >= trim_at && !strmap_count(wt->dirty)) ||
            (busy && now_ms() - last_trim > TRIM_BUSY_MS)) {
            malloc_trim(0);
            last_trim = now_ms();
            trim_at = -1;
        }
    }
    if (stop_fd >= 0)
        epoll_ctl(wt->epfd, EPOLL_CTL_DEL, stop_fd, NULL);
    wt->stopping = 0;
    return 0;
}

size_t vminfod_watch_npending_locked(const vminfod_watch *wt)
{
    return wt->npending;
}

long long vminfod_watch_overflows_locked(const vminfod_watch *wt)
{
    return wt->overflows;
}
