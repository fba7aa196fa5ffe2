/* What is watched for whom: the directories holding every file a VM is
 * made of (refcounted, shared between VMs), and the pidfd of its process.
 *
 * Files are watched through their parent directory (filtered by name), never
 * by inode: an editor or write_file_atomic() replaces a file by rename, and
 * an inode watch would silently follow the old file.  A path whose directory
 * does not exist yet is watched through its nearest existing ancestor, so
 * its creation is seen and the watch moves down. */
#include "watch_internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/util.h"

#define WATCH_MASK \
    (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_CLOSE_WRITE | IN_ATTRIB | IN_DELETE_SELF | \
     IN_MOVE_SELF | IN_ONLYDIR | IN_EXCL_UNLINK)
#define RETRY_LIMIT 40

/* ---- watched directories ---- */

static struct wdir *wdir_ref(vminfod_watch *wt, const char *path, const char *name, const char *owner)
{
    struct wdir *w = strmap_get(wt->dirs, path);

    if (!w) {
        int wd = inotify_add_watch(wt->inofd, path, WATCH_MASK);
        if (wd < 0) {
            vminfod_watch_log(wt, "warn", "cannot watch %s: %s", path, strerror(errno));
            return NULL;
        }
        char key[16];
        snprintf(key, sizeof key, "%d", wd);
        w = strmap_get(wt->wds, key);
        if (!w) {
            /* Same inode reached by another path shares the existing wdir. */
            w = xcalloc(1, sizeof *w);
            w->wd = wd;
            w->path = xstrdup(path);
            pthread_mutex_lock(wt->lock);
            strmap_set(wt->dirs, path, w);
            strmap_set(wt->wds, key, w);
            pthread_mutex_unlock(wt->lock);
        }
    }
    pthread_mutex_lock(wt->lock);
    if (w->nrefs == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 4;
        w->refs = xrealloc(w->refs, w->cap * sizeof *w->refs);
    }
    w->refs[w->nrefs].name = name ? xstrdup(name) : NULL;
    w->refs[w->nrefs].owner = xstrdup(owner);
    w->nrefs++;
    pthread_mutex_unlock(wt->lock);
    return w;
}

static int same_name(const char *a, const char *b)
{
    return (!a && !b) || (a && b && !strcmp(a, b));
}

static void wdir_unref(vminfod_watch *wt, struct wdir *w, const char *name, const char *owner)
{
    char key[16];

    pthread_mutex_lock(wt->lock);
    for (size_t i = 0; i < w->nrefs; i++) {
        if (same_name(w->refs[i].name, name) && !strcmp(w->refs[i].owner, owner)) {
            free(w->refs[i].name);
            free(w->refs[i].owner);
            w->refs[i] = w->refs[--w->nrefs];
            break;
        }
    }
    if (w->nrefs) {
        pthread_mutex_unlock(wt->lock);
        return;
    }
    if (strmap_get(wt->dirs, w->path) == w)
        strmap_del(wt->dirs, w->path);
    if (w->wd >= 0) {
        snprintf(key, sizeof key, "%d", w->wd);
        if (strmap_get(wt->wds, key) == w)
            strmap_del(wt->wds, key);
    }
    pthread_mutex_unlock(wt->lock);
    if (w->wd >= 0)
        inotify_rm_watch(wt->inofd, w->wd);
    free(w->refs);
    free(w->path);
    free(w);
}

void vminfod_watch_dir_gone(vminfod_watch *wt, struct wdir *w)
{
    char key[16];
    snprintf(key, sizeof key, "%d", w->wd);
    pthread_mutex_lock(wt->lock);
    if (strmap_get(wt->wds, key) == w)
        strmap_del(wt->wds, key);
    if (strmap_get(wt->dirs, w->path) == w)
        strmap_del(wt->dirs, w->path);
    w->wd = -1;
    pthread_mutex_unlock(wt->lock);
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
static void set_targets(vminfod_watch *wt, struct vmw *w, const char *owner, struct target *t, size_t n)
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
        dirs[i] = wdir_ref(wt, t[i].dir, t[i].name, owner);
        names[i] = t[i].name ? xstrdup(t[i].name) : NULL;
    }
    for (size_t i = 0; i < w->n; i++) {
        if (w->dirs[i])
            wdir_unref(wt, w->dirs[i], w->names[i], owner);
        free(w->names[i]);
    }
    free(w->dirs);
    free(w->names);
    w->dirs = dirs;
    w->names = names;
    w->n = n;
}

void vminfod_watch_pidfd_close(vminfod_watch *wt, struct vmw *w)
{
    if (w->pidfd >= 0) {
        epoll_ctl(wt->epfd, EPOLL_CTL_DEL, w->pidfd, NULL);
        close(w->pidfd);
        w->pidfd = -1;
    }
}

/* A VM process ending is seen at once through its pidfd, before anything
 * (lastexited) is written. */
static void pidfd_sync(vminfod_watch *wt, struct vmw *w)
{
    cleanup_free char *rundir = vm_ctx_vm_rundir(wt->ctx, w->uuid);
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
    vminfod_watch_pidfd_close(wt, w);
    w->pid = (int)pid;
    if (pid <= 0 || wt->epfd < 0)
        return;
    int fd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
    if (fd < 0)
        return; /* already gone: the reload that follows the pid file change saw it */
    struct epoll_event ev = { .events = EPOLLIN, .data.ptr = w };
    if (epoll_ctl(wt->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
        close(fd);
        return;
    }
    w->pidfd = fd;
}

static void vmw_free(vminfod_watch *wt, struct vmw *w, const char *owner)
{
    vminfod_watch_pidfd_close(wt, w);
    set_targets(wt, w, owner, NULL, 0);
    free(w->dirs);
    free(w->names);
    free(w);
}

int vminfod_watch_vm(vminfod_watch *wt, const char *uuid, enum vminfod_vm_state state)
{
    struct vmw *w = strmap_get(wt->vmw, uuid);

    if (wt->inofd < 0)
        return 0;
    if (state == VMINFOD_VM_GONE) {
        if (w) {
            pthread_mutex_lock(wt->lock);
            strmap_del(wt->vmw, uuid);
            pthread_mutex_unlock(wt->lock);
            vmw_free(wt, w, uuid);
        }
        return 0;
    }
    if (!w) {
        w = xcalloc(1, sizeof *w);
        snprintf(w->uuid, sizeof w->uuid, "%s", uuid);
        w->pidfd = -1;
        pthread_mutex_lock(wt->lock);
        strmap_set(wt->vmw, uuid, w);
        pthread_mutex_unlock(wt->lock);
    }

    struct target *t = NULL;
    size_t n = 0;
    /* The runtime directory always: its pid file drives the pidfd. */
    cleanup_free char *rundir = vm_ctx_vm_rundir(wt->ctx, uuid);
    targets_add(&t, &n, rundir);
    cleanup_json json_t *paths = wt->ops->paths(wt->arg, uuid);
    size_t i;
    json_t *p;
    json_array_foreach(paths, i, p)
        if (json_is_string(p) && json_string_value(p)[0] == '/')
            targets_add(&t, &n, json_string_value(p));
    set_targets(wt, w, uuid, t, n);
    targets_free(t, n);
    pidfd_sync(wt, w);
    if (state == VMINFOD_VM_BROKEN && ++w->retries <= RETRY_LIMIT)
        return 1;
    w->retries = 0;
    return 0;
}

/* etc/vms and run/vms: entries appearing and disappearing are VMs. */
void vminfod_watch_sync_globals(vminfod_watch *wt)
{
    struct vmw *g = strmap_get(wt->vmw, GLOBALS);
    if (!g) {
        g = xcalloc(1, sizeof *g);
        snprintf(g->uuid, sizeof g->uuid, "%s", GLOBALS);
        g->pidfd = -1;
        pthread_mutex_lock(wt->lock);
        strmap_set(wt->vmw, GLOBALS, g);
        pthread_mutex_unlock(wt->lock);
    }
    /* Owners differ per target here, so manage the refs directly. */
    for (size_t i = 0; i < g->n; i++) {
        if (g->dirs[i])
            wdir_unref(wt, g->dirs[i], g->names[i], g->names[i] ? GLOBALS : LIST);
        free(g->names[i]);
    }
    free(g->dirs);
    free(g->names);
    g->dirs = xcalloc(3, sizeof *g->dirs);
    g->names = xcalloc(3, sizeof *g->names);
    g->n = 0;

    cleanup_free char *runvms = xasprintf("%s/vms", wt->ctx->run_dir);
    const char *paths[] = { wt->ctx->etc_dir, runvms };
    for (size_t k = 0; k < 2; k++) {
        char *dir, *name;
        resolve_target(paths[k], &dir, &name);
        g->dirs[g->n] = wdir_ref(wt, dir, name, name ? GLOBALS : LIST);
        g->names[g->n] = name;
        g->n++;
        free(dir);
    }
}

void vminfod_watch_drop_all(vminfod_watch *wt)
{
    size_t it = 0;
    const char *k;
    void *v;
    cleanup_json json_t *keys = json_array();

    while (strmap_next(wt->vmw, &it, &k, &v))
        json_array_append_new(keys, json_string(k));
    size_t i;
    json_t *key;
    json_array_foreach(keys, i, key) {
        const char *u = json_string_value(key);
        struct vmw *w = strmap_get(wt->vmw, u);
        pthread_mutex_lock(wt->lock);
        strmap_del(wt->vmw, u);
        pthread_mutex_unlock(wt->lock);
        if (!strcmp(u, GLOBALS)) {
            for (size_t j = 0; j < w->n; j++) {
                if (w->dirs[j])
                    wdir_unref(wt, w->dirs[j], w->names[j], w->names[j] ? GLOBALS : LIST);
                free(w->names[j]);
            }
            free(w->dirs);
            free(w->names);
            free(w);
        } else {
            vmw_free(wt, w, u);
        }
    }
}

json_t *vminfod_watch_status_locked(const vminfod_watch *wt)
{
    json_t *watching = json_array(), *notyet = json_array(), *pending = json_object();
    size_t it = 0;
    const char *k;
    void *v;
    while (strmap_next(wt->dirs, &it, &k, &v)) {
        struct wdir *w = v;
        for (size_t r = 0; r < w->nrefs; r++) {
            if (!w->refs[r].name)
                continue;
            cleanup_free char *p = xasprintf("%s/%s", w->path, w->refs[r].name);
            /* A name ref on a directory that is not its parent means the
             * target does not exist yet (we watch its nearest ancestor). */
            json_array_append_new(path_exists(p) ? watching : notyet, json_string(p));
        }
        json_array_append_new(watching, json_string(w->path));
    }
    it = 0;
    while (strmap_next(wt->dirty, &it, &k, NULL))
        json_object_set_new(pending, k, json_string("refresh"));
    return json_pack("{s:b, s:i, s:o, s:o, s:o, s:i}", "running", wt->inofd >= 0, "watcher_pid", (int)getpid(),
                     "watching", watching, "not_yet_watching", notyet, "pending_actions", pending, "inotifyWatches",
                     (int)strmap_count(wt->wds));
}
