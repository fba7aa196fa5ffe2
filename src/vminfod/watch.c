/* The watcher loop: inotify on the directories holding every file a VM is
 * made of, pidfds on VM processes, a periodic full rescan, and a short
 * debounce that coalesces bursts per VM.
 *
 * Files are watched through their parent directory (filtered by name), never
 * by inode: an editor or write_file_atomic() replaces a file by rename, and
 * an inode watch would silently follow the old file.  A path whose directory
 * does not exist yet is watched through its nearest existing ancestor, so
 * its creation is seen and the watch moves down. */
#include "server_internal.h"

#include <errno.h>
#include <libgen.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "common/util.h"

#define WATCH_MASK (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE | \
                    IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_EXCL_UNLINK)
#define RETRY_MS 25
#define BULK_THRESHOLD 16
#define GLOBALS "@globals"
#define LIST "@list"

enum { TAG_INOTIFY = 1, TAG_TIMER, TAG_WAKE, TAG_STOP };

/* ---- watched directories ---- */

static struct wdir *wdir_ref(vminfod *d, const char *path, const char *name, const char *owner)
{
    struct wdir *w = strmap_get(d->dirs, path);

    if (!w) {
        int wd = inotify_add_watch(d->inofd, path, WATCH_MASK);
        if (wd < 0) {
            vminfod_log(d, "warn", "cannot watch %s: %s", path, strerror(errno));
            return NULL;
        }
        char key[16];
        snprintf(key, sizeof key, "%d", wd);
        w = strmap_get(d->wds, key);
        if (!w) {
            /* Same inode reached by another path shares the existing wdir. */
            w = xcalloc(1, sizeof *w);
            w->wd = wd;
            w->path = xstrdup(path);
            pthread_mutex_lock(&d->lock);
            strmap_set(d->dirs, path, w);
            strmap_set(d->wds, key, w);
            pthread_mutex_unlock(&d->lock);
        }
    }
    pthread_mutex_lock(&d->lock);
    if (w->nrefs == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 4;
        w->refs = xrealloc(w->refs, w->cap * sizeof *w->refs);
    }
    w->refs[w->nrefs].name = name ? xstrdup(name) : NULL;
    w->refs[w->nrefs].owner = xstrdup(owner);
    w->nrefs++;
    pthread_mutex_unlock(&d->lock);
    return w;
}

static int same_name(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static void wdir_unref(vminfod *d, struct wdir *w, const char *name, const char *owner)
{
    char key[16];

    pthread_mutex_lock(&d->lock);
    for (size_t i = 0; i < w->nrefs; i++) {
        if (same_name(w->refs[i].name, name) && !strcmp(w->refs[i].owner, owner)) {
            free(w->refs[i].name);
            free(w->refs[i].owner);
            w->refs[i] = w->refs[--w->nrefs];
            break;
        }
    }
    if (w->nrefs) {
        pthread_mutex_unlock(&d->lock);
        return;
    }
    if (strmap_get(d->dirs, w->path) == w)
        strmap_del(d->dirs, w->path);
    if (w->wd >= 0) {
        snprintf(key, sizeof key, "%d", w->wd);
        if (strmap_get(d->wds, key) == w)
            strmap_del(d->wds, key);
    }
    pthread_mutex_unlock(&d->lock);
    if (w->wd >= 0)
        inotify_rm_watch(d->inofd, w->wd);
    free(w->refs);
    free(w->path);
    free(w);
}

/* The kernel dropped the watch (directory removed): forget the wd, keep the
 * struct until its owners let go of it. */
static void wdir_gone(vminfod *d, struct wdir *w)
{
    char key[16];
    snprintf(key, sizeof key, "%d", w->wd);
    pthread_mutex_lock(&d->lock);
    if (strmap_get(d->wds, key) == w)
        strmap_del(d->wds, key);
    if (strmap_get(d->dirs, w->path) == w)
        strmap_del(d->dirs, w->path);
    w->wd = -1;
    pthread_mutex_unlock(&d->lock);
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Directory to watch and entry name to filter on (NULL: whole directory). */
static void resolve_target(const char *path, char **dir, char **name)
{
    cleanup_free char *p = xstrdup(path);
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/')
        p[--n] = '\0';
    if (is_dir(p)) {
        *dir = steal_ptr(p);
        *name = NULL;
        return;
    }
    for (;;) {
        char *slash = strrchr(p, '/');
        if (!slash) {
            *dir = xstrdup("/");
            *name = xstrdup(p);
            return;
        }
        cleanup_free char *base = xstrdup(slash + 1);
        if (slash == p)
            slash[1] = '\0';
        else
            *slash = '\0';
        if (is_dir(p)) {
            *dir = steal_ptr(p);
            *name = steal_ptr(base);
            return;
        }
    }
}

/* ---- per-VM watch sets ---- */

struct target {
    char *dir, *name;
};

static void targets_add(struct target **v, size_t *n, const char *path)
{
    char *dir, *name;
    resolve_target(path, &dir, &name);
    for (size_t i = 0; i < *n; i++) {
        if (!strcmp((*v)[i].dir, dir) && same_name((*v)[i].name, name)) {
            free(dir);
            free(name);
            return;
        }
    }
    *v = xrealloc(*v, (*n + 1) * sizeof **v);
    (*v)[*n].dir = dir;
    (*v)[*n].name = name;
    (*n)++;
}

static void targets_free(struct target *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(v[i].dir);
        free(v[i].name);
    }
    free(v);
}

/* Swaps the refs held by `owner` for the new target set; refs are taken
 * before the old ones are dropped, so a directory watched before and after
 * is never unwatched in between (no lost events). */
static void set_targets(vminfod *d, struct vmw *w, const char *owner, struct target *t, size_t n)
{
    int same = n == w->n;
    for (size_t i = 0; same && i < n; i++)
        same = w->dirs[i] && w->dirs[i]->wd >= 0 && !strcmp(w->dirs[i]->path, t[i].dir) &&
               same_name(w->names[i], t[i].name);
    if (same)
        return;

    struct wdir **dirs = xcalloc(n + 1, sizeof *dirs);
    char **names = xcalloc(n + 1, sizeof *names);
    for (size_t i = 0; i < n; i++) {
        dirs[i] = wdir_ref(d, t[i].dir, t[i].name, owner);
        names[i] = t[i].name ? xstrdup(t[i].name) : NULL;
    }
    for (size_t i = 0; i < w->n; i++) {
        if (w->dirs[i])
            wdir_unref(d, w->dirs[i], w->names[i], owner);
        free(w->names[i]);
    }
    free(w->dirs);
    free(w->names);
    w->dirs = dirs;
    w->names = names;
    w->n = n;
}

static void pidfd_close(vminfod *d, struct vmw *w)
{
    if (w->pidfd >= 0) {
        epoll_ctl(d->epfd, EPOLL_CTL_DEL, w->pidfd, NULL);
        close(w->pidfd);
        w->pidfd = -1;
    }
}

/* A VM process ending is seen at once through its pidfd, before anything
 * (lastexited) is written. */
static void pidfd_sync(vminfod *d, struct vmw *w)
{
    cleanup_free char *rundir = vm_ctx_vm_rundir(d->ctx, w->uuid);
    cleanup_free char *pidpath = xasprintf("%s/pid", rundir);
    cleanup_free char *buf = NULL;
    vm_err err = VM_ERR_INIT;
    int64_t pid = 0;

    if (read_file(pidpath, &buf, NULL, &err) == 0) {
        char *nl = strchr(buf, '\n');
        if (nl)
            *nl = '\0';
        if (!parse_i64(buf, &pid) || pid > 0x7fffffff)
            pid = 0;
    }
    if (pid == w->pid)
        return;
    pidfd_close(d, w);
    w->pid = (int)pid;
    if (pid <= 0 || d->epfd < 0)
        return;
    int fd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
    if (fd < 0)
        return; /* already gone: the reload that follows the pid file change saw it */
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = w };
    if (epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        close(fd);
        return;
    }
    w->pidfd = fd;
}

static void vmw_free(vminfod *d, struct vmw *w, const char *owner)
{
    pidfd_close(d, w);
    set_targets(d, w, owner, NULL, 0);
    free(w->dirs);
    free(w->names);
    free(w);
}

void vminfod_watch_vm(vminfod *d, const char *uuid, int present)
{
    struct vmw *w = strmap_get(d->vmw, uuid);

    if (d->inofd < 0)
        return;
    if (!present) {
        if (w) {
            pthread_mutex_lock(&d->lock);
            strmap_del(d->vmw, uuid);
            pthread_mutex_unlock(&d->lock);
            vmw_free(d, w, uuid);
        }
        return;
    }
    if (!w) {
        w = xcalloc(1, sizeof *w);
        snprintf(w->uuid, sizeof w->uuid, "%s", uuid);
        w->pidfd = -1;
        pthread_mutex_lock(&d->lock);
        strmap_set(d->vmw, uuid, w);
        pthread_mutex_unlock(&d->lock);
    }

    struct target *t = NULL;
    size_t n = 0;
    /* The runtime directory always: its pid file drives the pidfd. */
    cleanup_free char *rundir = vm_ctx_vm_rundir(d->ctx, uuid);
    targets_add(&t, &n, rundir);
    cleanup_json json_t *paths = d->loader.watch_paths ? d->loader.watch_paths(d->loader.arg, uuid)
                                                       : NULL;
    size_t i;
    json_t *p;
    json_array_foreach(paths, i, p)
        if (json_is_string(p) && json_string_value(p)[0] == '/')
            targets_add(&t, &n, json_string_value(p));
    set_targets(d, w, uuid, t, n);
    targets_free(t, n);
    pidfd_sync(d, w);
}

/* etc/vms and run/vms: entries appearing and disappearing are VMs. */
static void sync_globals(vminfod *d)
{
    struct vmw *g = strmap_get(d->vmw, GLOBALS);
    if (!g) {
        g = xcalloc(1, sizeof *g);
        snprintf(g->uuid, sizeof g->uuid, "%s", GLOBALS);
        g->pidfd = -1;
        pthread_mutex_lock(&d->lock);
        strmap_set(d->vmw, GLOBALS, g);
        pthread_mutex_unlock(&d->lock);
    }
    /* Owners differ per target here, so manage the refs directly. */
    for (size_t i = 0; i < g->n; i++) {
        if (g->dirs[i])
            wdir_unref(d, g->dirs[i], g->names[i], g->names[i] ? GLOBALS : LIST);
        free(g->names[i]);
    }
    free(g->dirs);
    free(g->names);
    g->dirs = xcalloc(3, sizeof *g->dirs);
    g->names = xcalloc(3, sizeof *g->names);
    g->n = 0;

    cleanup_free char *runvms = xasprintf("%s/vms", d->ctx->run_dir);
    const char *paths[] = { d->ctx->etc_dir, runvms };
    for (size_t k = 0; k < 2; k++) {
        char *dir, *name;
        resolve_target(paths[k], &dir, &name);
        g->dirs[g->n] = wdir_ref(d, dir, name, name ? GLOBALS : LIST);
        g->names[g->n] = name;
        g->n++;
        free(dir);
    }
}

void vminfod_watch_free_all(vminfod *d)
{
    size_t it = 0;
    const char *k;
    void *v;
    cleanup_json json_t *keys = json_array();

    while (strmap_next(d->vmw, &it, &k, &v))
        json_array_append_new(keys, json_string(k));
    size_t i;
    json_t *key;
    json_array_foreach(keys, i, key) {
        const char *u = json_string_value(key);
        struct vmw *w = strmap_get(d->vmw, u);
        pthread_mutex_lock(&d->lock);
        strmap_del(d->vmw, u);
        pthread_mutex_unlock(&d->lock);
        if (!strcmp(u, GLOBALS)) {
            for (size_t j = 0; j < w->n; j++) {
                if (w->dirs[j])
                    wdir_unref(d, w->dirs[j], w->names[j], w->names[j] ? GLOBALS : LIST);
                free(w->names[j]);
            }
            free(w->dirs);
            free(w->names);
            free(w);
        } else {
            vmw_free(d, w, u);
        }
    }
    int *fds[] = { &d->epfd, &d->inofd, &d->timerfd, &d->wakefd };
    for (size_t f = 0; f < sizeof fds / sizeof fds[0]; f++) {
        if (*fds[f] >= 0)
            close(*fds[f]);
        *fds[f] = -1;
    }
}

/* ---- dirty set ---- */

static void mark_dirty(vminfod *d, const char *uuid, int64_t due)
{
    int64_t *cur = strmap_get(d->dirty, uuid);
    if (cur) {
        if (due < *cur)
            *cur = due;
        return;
    }
    cur = xmalloc(sizeof *cur);
    *cur = due;
    strmap_set(d->dirty, uuid, cur);
}

static void handle_list_entry(vminfod *d, const char *name, int64_t due)
{
    if (str_has_prefix(name, ".deleting-"))
        name += strlen(".deleting-");
    if (uuid_valid(name))
        mark_dirty(d, name, due);
}

static void request_rescan(vminfod *d, const char *reason)
{
    d->rescan_pending = 1;
    d->rescan_reason = reason;
}

static void read_inotify(vminfod *d)
{
    char buf[65536] __attribute__((aligned(__alignof__(struct inotify_event))));
    int64_t due = now_ms() + d->opts.debounce_ms;

    for (;;) {
        ssize_t len = read(d->inofd, buf, sizeof buf);
        if (len <= 0)
            return;
        for (char *p = buf; p < buf + len;) {
            struct inotify_event *ev = (struct inotify_event *)p;
            p += sizeof *ev + ev->len;
            if (ev->mask & IN_Q_OVERFLOW) {
                pthread_mutex_lock(&d->lock);
                d->overflows++;
                pthread_mutex_unlock(&d->lock);
                vminfod_log(d, "warn", "inotify queue overflowed: file events were lost, "
                            "rescanning all VMs");
                request_rescan(d, "overflow");
                continue;
            }
            char key[16];
            snprintf(key, sizeof key, "%d", ev->wd);
            struct wdir *w = strmap_get(d->wds, key);
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
                        handle_list_entry(d, name, due);
                    else
                        mark_dirty(d, GLOBALS, due);
                } else {
                    mark_dirty(d, r->owner, due);
                }
            }
            if (ev->mask & IN_IGNORED)
                wdir_gone(d, w);
        }
    }
}

static void process_dirty(vminfod *d, int64_t now)
{
    cleanup_json json_t *due = json_array();
    size_t it = 0, i;
    const char *k;
    void *v;
    json_t *u;

    while (strmap_next(d->dirty, &it, &k, &v))
        if (*(int64_t *)v <= now)
            json_array_append_new(due, json_string(k));
    json_array_foreach(due, i, u)
        free(strmap_del(d->dirty, json_string_value(u)));
    cleanup_json json_t *vms = json_array();
    json_array_foreach(due, i, u) {
        if (!strcmp(json_string_value(u), GLOBALS))
            sync_globals(d);
        else
            json_array_append(vms, u);
    }
    if (json_array_size(vms) > BULK_THRESHOLD) {
        /* Many VMs at once (a shared file such as the pool metadata changed):
         * one load_all pass reads shared files once. */
        cleanup_json json_t *retry = vminfod_refresh_many(d, vms);
        json_array_foreach(retry, i, u)
            mark_dirty(d, json_string_value(u), now_ms() + RETRY_MS);
        return;
    }
    json_array_foreach(vms, i, u) {
        const char *uuid = json_string_value(u);
        if (vminfod_refresh_vm(d, uuid) == 1)
            mark_dirty(d, uuid, now_ms() + RETRY_MS);
    }
}

#define KEEPALIVE_MS 5000
#define TRIM_IDLE_MS 200
#define TRIM_BUSY_MS 1000

static int next_timeout(vminfod *d, int64_t trim_at)
{
    if (d->rescan_pending)
        return 0;
    /* Wake at least every KEEPALIVE_MS for the listener keepalive. */
    int64_t ka = d->last_keepalive + KEEPALIVE_MS - now_ms();
    if (ka < 0)
        ka = 0;
    int64_t min = -1;
    size_t it = 0;
    void *v;
    while (strmap_next(d->dirty, &it, NULL, &v))
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

static int add_fd(vminfod *d, int fd, uint64_t tag)
{
    struct epoll_event ev = { .events = EPOLLIN, .data.u64 = tag };
    return epoll_ctl(d->epfd, EPOLL_CTL_ADD, fd, &ev);
}

void vminfod_stop(vminfod *d)
{
    uint64_t one = 1;
    if (d->wakefd >= 0 && write(d->wakefd, &one, sizeof one) < 0) {
        /* counter overflow only; the loop is already woken */
    }
}

int vminfod_start(vminfod *d, vm_err *err)
{
    d->epfd = epoll_create1(EPOLL_CLOEXEC);
    d->inofd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    d->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (d->epfd < 0 || d->inofd < 0 || d->wakefd < 0)
        return vm_err_sys(err, errno, "vminfod: cannot set up the watcher");
    if (add_fd(d, d->inofd, TAG_INOTIFY) < 0 || add_fd(d, d->wakefd, TAG_WAKE) < 0)
        return vm_err_sys(err, errno, "vminfod: epoll");
    if (d->opts.rescan_ms > 0) {
        d->timerfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
        struct itimerspec its = {
            .it_interval = { d->opts.rescan_ms / 1000, (long)(d->opts.rescan_ms % 1000) * 1000000 },
            .it_value = { d->opts.rescan_ms / 1000, (long)(d->opts.rescan_ms % 1000) * 1000000 },
        };
        if (d->timerfd < 0 || timerfd_settime(d->timerfd, 0, &its, NULL) < 0 ||
            add_fd(d, d->timerfd, TAG_TIMER) < 0)
            return vm_err_sys(err, errno, "vminfod: rescan timer");
    }

    /* Watch first, then load: a change racing the initial fill is either
     * in the load or queued as an event. */
    sync_globals(d);
    vminfod_refresh_all(d, "startup");
    malloc_trim(0);
    return 0;
}

int vminfod_run(vminfod *d, int stop_fd, vm_err *err)
{
    if (d->epfd < 0 && vminfod_start(d, err) < 0)
        return -1;
    if (stop_fd >= 0 && add_fd(d, stop_fd, TAG_STOP) < 0)
        return vm_err_sys(err, errno, "vminfod: epoll");

    /* Freed memory goes back to the system once a burst of changes settles
     * (TRIM_IDLE_MS without one), and at least every TRIM_BUSY_MS during a
     * long burst: RSS follows the VMs, not the busiest moment. */
    int64_t last_trim = now_ms(), trim_at = -1;
    while (!d->stopping) {
        struct epoll_event evs[64];
        int n = epoll_wait(d->epfd, evs, 64, next_timeout(d, trim_at));
        if (n < 0 && errno != EINTR)
            return vm_err_sys(err, errno, "vminfod: epoll_wait");
        for (int i = 0; i < n; i++) {
            uint64_t tag = evs[i].data.u64, junk;
            if (tag == TAG_INOTIFY) {
                read_inotify(d);
            } else if (tag == TAG_TIMER) {
                if (read(d->timerfd, &junk, sizeof junk) > 0)
                    request_rescan(d, "periodic");
            } else if (tag == TAG_WAKE || tag == TAG_STOP) {
                d->stopping = 1;
            } else {
                struct vmw *w = evs[i].data.ptr;
                pidfd_close(d, w);
                mark_dirty(d, w->uuid, now_ms());
            }
        }
        if (d->stopping)
            break;
        if (now_ms() - d->last_keepalive >= KEEPALIVE_MS) {
            d->last_keepalive = now_ms();
            vminfod_keepalive(d);
        }
        if (d->rescan_pending) {
            d->rescan_pending = 0;
            /* Directory events first: new VMs get watched by the rescan. */
            process_dirty(d, now_ms());
            vminfod_refresh_all(d, d->rescan_reason ? d->rescan_reason : "periodic");
            malloc_trim(0);
        }
        bool busy = strmap_count(d->dirty) > 0;
        process_dirty(d, now_ms());
        pthread_mutex_lock(&d->lock);
        d->npending = strmap_count(d->dirty);
        pthread_mutex_unlock(&d->lock);
        if (busy)
            trim_at = now_ms() + TRIM_IDLE_MS;
        if ((trim_at >= 0 && now_ms() >= trim_at && !strmap_count(d->dirty)) ||
            (busy && now_ms() - last_trim > TRIM_BUSY_MS)) {
            malloc_trim(0);
            last_trim = now_ms();
            trim_at = -1;
        }
    }
    if (stop_fd >= 0)
        epoll_ctl(d->epfd, EPOLL_CTL_DEL, stop_fd, NULL);
    d->stopping = 0;
    return 0;
}
