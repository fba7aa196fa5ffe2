/* vminfod cache, events, listeners and request routing. */
#include "server_internal.h"

#include <errno.h>
#include <malloc.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "vminfo/vminfo_client.h"

#define MAX_REFRESH_ERRORS 20
#define MAX_REFRESH_LOG 10
#define RETRY_LIMIT 40

struct vms_blob {
    atomic_int refs;
    size_t len;
    char data[];
};

void vminfod_opts_default(vminfod_opts *o)
{
    o->rescan_ms = 60000;
    o->debounce_ms = 1;
    o->ring_events = 4096;
    o->ring_bytes = 2u << 20;
    o->client_buffer = 2u << 20;
}

void vminfod_log(vminfod *d, const char *level, const char *fmt, ...)
{
    char msg[2048], ts[32];
    va_list ap;

    (void)d;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    iso_time_ms(now_ms(), ts);
    cleanup_json json_t *rec = json_pack("{s:s, s:s, s:s, s:s, s:i}", "time", ts, "level", level,
                                         "name", "vminfod", "msg", msg, "pid", (int)getpid());
    cleanup_free char *line = rec ? json_compact(rec) : NULL;
    if (line)
        fprintf(stderr, "%s\n", line);
}

int vminfod_new(const vm_ctx *ctx, const vminfod_loader *loader, const vminfod_opts *opts,
                vminfod **out, vm_err *err)
{
    vminfod *d = xcalloc(1, sizeof *d);

    (void)err;
    d->ctx = ctx;
    d->loader = *loader;
    if (opts)
        d->opts = *opts;
    else
        vminfod_opts_default(&d->opts);
    d->start_ms = now_ms();
    pthread_mutex_init(&d->lock, NULL);
    d->cache = strmap_new();
    d->dirs = strmap_new();
    d->wds = strmap_new();
    d->vmw = strmap_new();
    d->dirty = strmap_new();
    d->refresh_errors = json_array();
    d->refresh_log = json_array();
    /* Sequence numbers start at start-time × 1000 so they keep increasing
     * across restarts: a client resuming with a seq from an earlier daemon
     * is always older than this ring and gets a resync. */
    vminfo_ring_init(&d->ring, d->opts.ring_events, d->opts.ring_bytes,
                     (long long)d->start_ms * 1000);
    d->epfd = d->inofd = d->timerfd = d->wakefd = -1;
    *out = d;
    return 0;
}

const char *vminfod_root(const vminfod *d)
{
    return d->ctx->root;
}

static void vment_free(void *p)
{
    struct vment *e = p;
    if (e) {
        free(e->text);
        free(e->scalars);
        free(e->frag);
        free(e);
    }
}

void vminfod_blob_unref(void *p)
{
    struct vms_blob *b = p;
    if (b && atomic_fetch_sub(&b->refs, 1) == 1)
        free(b);
}

/* Lock held: the cached VMs changed, so a kept answer is stale. */
static void cache_changed_locked(vminfod *d)
{
    vminfod_blob_unref(d->proj);
    d->proj = NULL;
    free(d->proj_fields);
    d->proj_fields = NULL;
}

void vminfod_free(vminfod *d)
{
    if (!d)
        return;
    vminfod_watch_free_all(d);
    while (d->listeners)
        vminfod_listener_free(d, d->listeners);
    strmap_free(d->cache, vment_free);
    strmap_free(d->dirs, NULL);
    strmap_free(d->wds, NULL);
    strmap_free(d->vmw, NULL);
    strmap_free(d->dirty, free);
    cache_changed_locked(d);
    free(d->frag_fields);
    vminfo_ring_free(&d->ring);
    json_decref(d->refresh_errors);
    json_decref(d->refresh_log);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

void vminfod_record_error(vminfod *d, const char *msg)
{
    char ts[32];
    iso_time_ms(now_ms(), ts);
    pthread_mutex_lock(&d->lock);
    json_array_append_new(d->refresh_errors, json_pack("{s:s, s:s, s:I}", "err", msg, "time", ts,
                                                       "timeMs", (json_int_t)now_ms()));
    while (json_array_size(d->refresh_errors) > MAX_REFRESH_ERRORS)
        json_array_remove(d->refresh_errors, 0);
    pthread_mutex_unlock(&d->lock);
    vminfod_log(d, "warn", "%s", msg);
}

/* ---- events ---- */

struct wake {
    const vminfod_listener_ops *ops;
    void *conn;
};

struct wakes {
    struct wake *v;
    size_t n, cap;
};

static void wakes_add(struct wakes *w, struct vminfod_listener *l)
{
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 8;
        w->v = xrealloc(w->v, w->cap * sizeof *w->v);
    }
    w->v[w->n].ops = l->ops;
    w->v[w->n].conn = l->conn;
    w->n++;
}

static void wakes_run(struct wakes *w)
{
    for (size_t i = 0; i < w->n; i++)
        if (w->v[i].ops && w->v[i].ops->resume)
            w->v[i].ops->resume(w->v[i].conn);
    free(w->v);
    w->v = NULL;
    w->n = w->cap = 0;
}

static void listener_drop(vminfod *d, struct vminfod_listener *l, const char *why)
{
    l->dead = 1;
    /* shutdown() under the lock: the connection cannot be freed while the
     * listener is still in the list. */
    if (l->ops && l->ops->kill)
        l->ops->kill(l->conn);
    vminfod_log(d, "warn", "dropping events listener %s (%s): %s", l->uuid,
                l->ua ? l->ua : "-", why);
}

void vminfod_keepalive(vminfod *d)
{
    struct wakes w = { 0 };
    pthread_mutex_lock(&d->lock);
    for (struct vminfod_listener *l = d->listeners; l; l = l->next) {
        if (l->dead || l->closing || !l->ops || !l->ops->peer_gone || !l->ops->peer_gone(l->conn))
            continue;
        listener_drop(d, l, "the client went away");
        /* A suspended connection must run once for the server to reap it. */
        if (l->suspended) {
            l->suspended = 0;
            wakes_add(&w, l);
        }
    }
    pthread_mutex_unlock(&d->lock);
    wakes_run(&w);
}

/* After a push (lock held): wake idle listeners, drop the ones that fell
 * too far behind.  The daemon never waits for a client. */
static void listeners_after_push(vminfod *d, struct wakes *w)
{
    long long oldest = vminfo_ring_oldest(&d->ring);
    for (struct vminfod_listener *l = d->listeners; l; l = l->next) {
        if (l->dead || l->closing)
            continue;
        if (l->next_seq < oldest) {
            listener_drop(d, l, "its next event left the history");
        } else {
            long long pending = d->ring.total - vminfo_ring_pos(&d->ring, l->next_seq) -
                                (long long)l->off;
            if (pending > (long long)d->opts.client_buffer)
                listener_drop(d, l, "client buffer limit exceeded");
        }
        if (l->suspended) {
            l->suspended = 0;
            wakes_add(w, l);
        }
    }
}

/* Lock held: appends the event (its "seq" added here) to the history and
 * tells the listeners. */
static void push_event_locked(vminfod *d, json_t *ev, struct wakes *w)
{
    json_object_set_new(ev, "seq", json_integer(d->ring.next_seq));
    char *line = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
    size_t n = strlen(line);
    line = xrealloc(line, n + 2);
    line[n++] = '\n';
    line[n] = '\0';
    vminfo_ring_push(&d->ring, line, n);
    listeners_after_push(d, w);
}

/* The top-level scalar properties of a VM: everything `vmadm list` can
 * show without dotted paths, kept parsed so /vms?fields= costs a copy of a
 * few values per VM instead of a parse of every VM. */
static void scalar_summary(json_t *vm, struct vment *e)
{
    size_t cap = 512, n = 0;
    char *b = xmalloc(cap);
    const char *k;
    json_t *v;
    json_object_foreach(vm, k, v) {
        if (json_is_object(v) || json_is_array(v))
            continue;
        cleanup_free char *val = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        size_t kl = strlen(k) + 1, vl = strlen(val) + 1;
        if (n + kl + vl > cap) {
            cap = (n + kl + vl) * 2;
            b = xrealloc(b, cap);
        }
        memcpy(b + n, k, kl);
        memcpy(b + n + kl, val, vl);
        n += kl + vl;
    }
    free(e->scalars);
    e->scalars = xrealloc(b, n ? n : 1);
    free(e->frag);
    e->frag = NULL;
    e->scalars_len = n;
}

/* The JSON text of scalar `key` of a cached VM, or NULL.  *hint is the
 * key's offset in the previous VM's pack: VMs list their properties in the
 * same order, so the first guess is nearly always right. */
static const char *scalar_get(const struct vment *e, const char *key, size_t *hint)
{
    const char *p = e->scalars, *end = e->scalars + e->scalars_len;
    if (!p)
        return NULL;
    if (*hint < e->scalars_len && (*hint == 0 || p[*hint - 1] == '\0') && !strcmp(p + *hint, key))
        return p + *hint + strlen(key) + 1;
    while (p < end) {
        const char *val = p + strlen(p) + 1;
        if (!strcmp(p, key)) {
            *hint = (size_t)(p - e->scalars);
            return val;
        }
        p = val + strlen(val) + 1;
    }
    return NULL;
}

/* Commits one change of the cache and its event atomically, so a listener
 * sees either the old snapshot plus the event, or the new snapshot. */
static void commit(vminfod *d, const char *type, const char *uuid, json_t *vm, char *text,
                   size_t len, json_t *changes)
{
    char date[32];
    struct wakes w = { 0 };
    const char *zn = NULL;

    iso_time_ms(now_ms(), date);
    if (vm && json_is_string(json_object_get(vm, "zonename")))
        zn = json_string_value(json_object_get(vm, "zonename"));

    pthread_mutex_lock(&d->lock);
    struct vment *e = strmap_get(d->cache, uuid);
    if (!e) {
        e = xcalloc(1, sizeof *e);
        strmap_set(d->cache, uuid, e);
    }
    free(e->text);
    e->text = text;
    e->len = len;
    if (vm)
        scalar_summary(vm, e);
    cache_changed_locked(d);

    cleanup_json json_t *ev = json_object();
    json_object_set_new(ev, "type", json_string(type));
    json_object_set_new(ev, "date", json_string(date));
    json_object_set_new(ev, "zonename", json_string(zn ? zn : uuid));
    json_object_set_new(ev, "uuid", json_string(uuid));
    if (vm)
        json_object_set(ev, "vm", vm);
    if (changes)
        json_object_set(ev, "changes", changes);
    push_event_locked(d, ev, &w);
    pthread_mutex_unlock(&d->lock);
    wakes_run(&w);
}

static char *cached_text(vminfod *d, const char *uuid)
{
    char *t = NULL;
    pthread_mutex_lock(&d->lock);
    struct vment *e = strmap_get(d->cache, uuid);
    if (e)
        t = xstrndup(e->text, e->len);
    pthread_mutex_unlock(&d->lock);
    return t;
}

static int dir_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Compares a freshly loaded VM with the cache and emits what changed.
 * Returns 1 if an event was emitted. */
static int apply_loaded(vminfod *d, const char *uuid, json_t *vm)
{
    char *text = json_dumps(vm, JSON_COMPACT | JSON_PRESERVE_ORDER);
    size_t len = strlen(text);
    cleanup_free char *old = cached_text(d, uuid);

    if (!old) {
        commit(d, "create", uuid, vm, text, len, NULL);
        return 1;
    }
    if (!strcmp(old, text)) {
        free(text);
        return 0;
    }
    cleanup_json json_t *oldvm = json_loads(old, 0, NULL);
    cleanup_json json_t *changes = vminfo_diff(oldvm, vm);
    if (json_array_size(changes) == 0) {
        /* Same content in another key order: refresh the text silently. */
        pthread_mutex_lock(&d->lock);
        struct vment *e = strmap_get(d->cache, uuid);
        if (e) {
            free(e->text);
            e->text = text;
            e->len = len;
            scalar_summary(vm, e);
            text = NULL;
            cache_changed_locked(d);
        }
        pthread_mutex_unlock(&d->lock);
        free(text);
        return 0;
    }
    commit(d, "modify", uuid, vm, text, len, changes);
    return 1;
}

static int apply_gone(vminfod *d, const char *uuid)
{
    cleanup_free char *old = cached_text(d, uuid);
    if (!old)
        return 0;
    cleanup_json json_t *oldvm = json_loads(old, 0, NULL);
    json_t *zn = json_object_get(oldvm, "zonename");
    struct wakes w = { 0 };
    char date[32];

    iso_time_ms(now_ms(), date);
    /* delete events carry no "vm" (I12). */
    cleanup_json json_t *ev = json_pack("{s:s, s:s, s:s, s:s}", "type", "delete", "date", date,
                                        "zonename",
                                        json_is_string(zn) ? json_string_value(zn) : uuid,
                                        "uuid", uuid);
    pthread_mutex_lock(&d->lock);
    vment_free(strmap_del(d->cache, uuid));
    cache_changed_locked(d);
    push_event_locked(d, ev, &w);
    pthread_mutex_unlock(&d->lock);
    wakes_run(&w);
    return 1;
}

int vminfod_refresh_vm(vminfod *d, const char *uuid)
{
    vm_err err = VM_ERR_INIT;
    cleanup_json json_t *vm = NULL;
    cleanup_free char *dir = vm_ctx_vm_dir(d->ctx, uuid);

    if (d->loader.load_one(d->loader.arg, uuid, &vm, &err) == 0 && vm) {
        apply_loaded(d, uuid, vm);
        vminfod_watch_vm(d, uuid, 1);
        struct vmw *w = strmap_get(d->vmw, uuid);
        if (w)
            w->retries = 0;
        return 0;
    }
    if (err.code == VMERR_NOTFOUND && !dir_exists(dir)) {
        /* Only a VM whose directory is gone is deleted (I13, I29): a config
         * file being replaced leaves the directory in place. */
        apply_gone(d, uuid);
        vminfod_watch_vm(d, uuid, 0);
        return 0;
    }
    vminfod_watch_vm(d, uuid, 1);
    struct vmw *w = strmap_get(d->vmw, uuid);
    if (w && ++w->retries <= RETRY_LIMIT)
        return 1;
    if (w)
        w->retries = 0;
    char msg[VM_ERR_MSGLEN + 64];
    snprintf(msg, sizeof msg, "cannot load VM %s: %s", uuid, err.msg);
    vminfod_record_error(d, msg);
    return 0;
}

struct refresh_pass {
    vminfod *d;
    json_t *only;
    json_t *seen;
    int changes;
};

static bool pass_wants(void *arg, const char *uuid)
{
    struct refresh_pass *p = arg;
    return !p->only || json_object_get(p->only, uuid);
}

static int pass_apply(void *arg, const char *listed, json_t *vm)
{
    struct refresh_pass *p = arg;
    const char *uuid = json_string_value(json_object_get(vm, "uuid"));
    (void)listed;
    if (uuid && uuid_valid(uuid) && pass_wants(p, uuid)) {
        json_object_set_new(p->seen, uuid, json_true());
        p->changes += apply_loaded(p->d, uuid, vm);
        vminfod_watch_vm(p->d, uuid, 1);
        struct vmw *w = strmap_get(p->d->vmw, uuid);
        if (w)
            w->retries = 0;
    }
    json_decref(vm);
    return 0;
}

/* Reloads a set of VMs (NULL: every VM, and cached ones that vanished)
 * through load_each, so files shared by many VMs (pool metadata) are read
 * once rather than once per VM, and only one VM object exists at a time.
 * Appends VMs to retry to `retry`.  Returns the number of VMs whose object
 * changed. */
static int refresh_set(vminfod *d, json_t *only, json_t *retry)
{
    vm_err err = VM_ERR_INIT;
    cleanup_json json_t *seen = json_object();
    struct refresh_pass pass = { d, only, seen, 0 };
    size_t i;
    json_t *u;

    if (d->loader.load_each(d->loader.arg, pass_wants, pass_apply, &pass, &err) < 0) {
        char msg[VM_ERR_MSGLEN + 32];
        snprintf(msg, sizeof msg, "full refresh failed: %s", err.msg);
        vminfod_record_error(d, msg);
    }
    int changes = pass.changes;

    /* The rest one by one: deleted VMs, VMs load_all skipped (broken). */
    cleanup_json json_t *rest = json_array();
    const char *k;
    if (only) {
        json_t *v;
        json_object_foreach(only, k, v)
            if (!json_object_get(seen, k))
                json_array_append_new(rest, json_string(k));
    } else {
        size_t it = 0;
        pthread_mutex_lock(&d->lock);
        while (strmap_next(d->cache, &it, &k, NULL))
            if (!json_object_get(seen, k))
                json_array_append_new(rest, json_string(k));
        pthread_mutex_unlock(&d->lock);
        cleanup_json json_t *uuids = NULL;
        vm_err e2 = VM_ERR_INIT;
        if (d->loader.list_uuids(d->loader.arg, &uuids, &e2) == 0)
            json_array_foreach(uuids, i, u)
                if (json_is_string(u) && !json_object_get(seen, json_string_value(u)) &&
                    !strmap_get(d->cache, json_string_value(u)))
                    json_array_append(rest, u);
    }
    json_array_foreach(rest, i, u) {
        const char *uuid = json_string_value(u);
        cleanup_free char *before = cached_text(d, uuid);
        if (vminfod_refresh_vm(d, uuid) == 1 && retry)
            json_array_append(retry, u);
        cleanup_free char *after = cached_text(d, uuid);
        if ((before == NULL) != (after == NULL) || (before && after && strcmp(before, after)))
            changes++;
    }
    return changes;
}

json_t *vminfod_refresh_many(vminfod *d, json_t *uuids)
{
    json_t *retry = json_array();
    cleanup_json json_t *only = json_object();
    size_t i;
    json_t *u;
    json_array_foreach(uuids, i, u)
        json_object_set(only, json_string_value(u), json_true());
    refresh_set(d, only, retry);
    return retry;
}

void vminfod_refresh_all(vminfod *d, const char *reason)
{
    int64_t started = now_ms();

    pthread_mutex_lock(&d->lock);
    d->refreshing = 1;
    pthread_mutex_unlock(&d->lock);

    int changes = refresh_set(d, NULL, NULL);

    int64_t ended = now_ms();
    pthread_mutex_lock(&d->lock);
    d->refreshing = 0;
    d->last_refresh_ms = ended;
    json_array_append_new(d->refresh_log,
                          json_pack("{s:s, s:i, s:I, s:I}", "reason", reason, "vmChanges", changes,
                                    "started", (json_int_t)started, "ended", (json_int_t)ended));
    while (json_array_size(d->refresh_log) > MAX_REFRESH_LOG)
        json_array_remove(d->refresh_log, 0);
    if (changes && strcmp(reason, "startup"))
        d->events_lost_rescans++;
    size_t nvms = strmap_count(d->cache);
    pthread_mutex_unlock(&d->lock);

    if (changes && strcmp(reason, "startup"))
        vminfod_log(d, "warn", "%s rescan found %d VM(s) changed without an event: events were lost",
                    reason, changes);
    vminfod_log(d, "info", "%s refresh done: %zu VMs, %d changed, %lld ms", reason, nvms, changes,
                (long long)(ended - started));
}

/* ---- the /vms body ---- */

struct sortent {
    const char *uuid;
    struct vment *e;
};

static int cmp_sortent(const void *a, const void *b)
{
    return strcmp(((const struct sortent *)a)->uuid, ((const struct sortent *)b)->uuid);
}

/* Lock held: the VMs sorted by uuid (caller frees). */
static struct sortent *sorted_vms(vminfod *d, size_t *n)
{
    size_t cnt = strmap_count(d->cache), i = 0, it = 0;
    struct sortent *v = xcalloc(cnt + 1, sizeof *v);
    const char *k;
    void *val;
    while (strmap_next(d->cache, &it, &k, &val)) {
        v[i].uuid = k;
        v[i].e = val;
        i++;
    }
    qsort(v, cnt, sizeof *v, cmp_sortent);
    *n = cnt;
    return v;
}

static struct vms_blob *blob_new(size_t cap)
{
    struct vms_blob *b = xmalloc(sizeof *b + cap);
    atomic_init(&b->refs, 1);
    b->len = 0;
    return b;
}

/* Lock held.  Concatenation of the cached texts of the VMs in `only`
 * (uuids; NULL: every VM), sorted by uuid.  Not kept: it costs a memcpy per
 * request, and holding it would double the daemon's memory. */
static struct vms_blob *blob_get_only(vminfod *d, char **only)
{
    size_t n, total = 3;
    struct sortent *v;
    if (only) {
        v = xcalloc(strv_len(only) + 1, sizeof *v);
        n = 0;
        for (size_t i = 0; only[i]; i++) {
            struct vment *e = strmap_get(d->cache, only[i]);
            bool dup = false;
            for (size_t j = 0; j < n && !dup; j++)
                dup = !strcmp(v[j].uuid, only[i]);
            if (e && !dup)
                v[n++] = (struct sortent){ only[i], e };
        }
        qsort(v, n, sizeof *v, cmp_sortent);
    } else {
        v = sorted_vms(d, &n);
    }
    for (size_t i = 0; i < n; i++)
        total += v[i].e->len + 1;
    struct vms_blob *b = blob_new(total);
    char *p = b->data;
    *p++ = '[';
    for (size_t i = 0; i < n; i++) {
        if (i)
            *p++ = ',';
        memcpy(p, v[i].e->text, v[i].e->len);
        p += v[i].e->len;
    }
    *p++ = ']';
    *p = '\0';
    b->len = (size_t)(p - b->data);
    free(v);
    return b;
}

static struct vms_blob *blob_get(vminfod *d)
{
    return blob_get_only(d, NULL);
}

/* Appends n bytes to the blob *bp, growing it (cap tracks its room). */
static void blob_put(struct vms_blob **bp, size_t *cap, const char *s, size_t n)
{
    if ((*bp)->len + n + 1 > *cap) {
        while ((*bp)->len + n + 1 > *cap)
            *cap *= 2;
        *bp = xrealloc(*bp, sizeof **bp + *cap);
    }
    memcpy((*bp)->data + (*bp)->len, s, n);
    (*bp)->len += n;
    (*bp)->data[(*bp)->len] = '\0';
}

/* Lock held.  /vms?fields=: the top-level scalars `fields` of every VM,
 * sorted by uuid, written from the packed values.  The last answer is kept
 * until the cache changes: `vmadm list` asks the same question over and
 * over, and projecting 1,000 VMs costs milliseconds, sending it micro-
 * seconds. */
static struct vms_blob *proj_get(vminfod *d, const char *fields)
{
    if (d->proj && !strcmp(d->proj_fields, fields)) {
        atomic_fetch_add(&d->proj->refs, 1);
        return d->proj;
    }
    /* Each VM's part of the answer is kept too, until that VM changes or
     * other fields are asked for: after one change only one VM is
     * projected again, the rest is a copy. */
    if (!d->frag_fields || strcmp(d->frag_fields, fields)) {
        size_t it = 0;
        const char *k;
        void *val;
        while (strmap_next(d->cache, &it, &k, &val)) {
            struct vment *e = val;
            free(e->frag);
            e->frag = NULL;
        }
        free(d->frag_fields);
        d->frag_fields = xstrdup(fields);
    }
    cleanup_strv char **f = strv_split(fields, ",");
    size_t nf = strv_len(f);
    cleanup_strv char **kq = xcalloc(nf + 1, sizeof *kq);
    cleanup_free size_t *hint = xcalloc(nf + 1, sizeof *hint);
    for (size_t j = 0; j < nf; j++) {
        /* A field asked for twice is written once. */
        for (size_t q = 0; q < j; q++)
            if (!strcmp(f[q], f[j])) {
                f[j][0] = '\0';
                break;
            }
        json_t *ks = json_string(f[j]);
        kq[j] = ks ? json_dumps(ks, JSON_ENCODE_ANY) : xstrdup("\"\"");
        json_decref(ks);
    }
    size_t n, cap = 4096, total = 2;
    cleanup_free struct sortent *v = sorted_vms(d, &n);
    for (size_t i = 0; i < n; i++) {
        struct vment *e = v[i].e;
        if (!e->frag) {
            size_t fcap = 256;
            struct vms_blob *fb = blob_new(fcap);
            blob_put(&fb, &fcap, "{", 1);
            for (size_t j = 0; j < nf; j++) {
                const char *x = f[j][0] ? scalar_get(e, f[j], &hint[j]) : NULL;
                if (!x)
                    continue;
                if (fb->len > 1)
                    blob_put(&fb, &fcap, ",", 1);
                blob_put(&fb, &fcap, kq[j], strlen(kq[j]));
                blob_put(&fb, &fcap, ":", 1);
                blob_put(&fb, &fcap, x, strlen(x));
            }
            blob_put(&fb, &fcap, "}", 1);
            e->frag_len = fb->len;
            e->frag = xmalloc(fb->len + 1);
            memcpy(e->frag, fb->data, fb->len + 1);
            free(fb);
        }
        total += e->frag_len + 1;
    }
    cap = total + 1;
    struct vms_blob *b = blob_new(cap);
    blob_put(&b, &cap, "[", 1);
    for (size_t i = 0; i < n; i++) {
        if (i)
            blob_put(&b, &cap, ",", 1);
        blob_put(&b, &cap, v[i].e->frag, v[i].e->frag_len);
    }
    blob_put(&b, &cap, "]", 1);
    cache_changed_locked(d);
    d->proj = b;
    d->proj_fields = xstrdup(fields);
    atomic_fetch_add(&b->refs, 1);
    return b;
}

/* ---- status ---- */

static char *pretty_duration(int64_t ms)
{
    int64_t s = ms / 1000;
    int64_t days = s / 86400, h = (s / 3600) % 24, m = (s / 60) % 60, sec = s % 60;
    if (days)
        return xasprintf("%lldd %lldh %lldm %llds", (long long)days, (long long)h, (long long)m,
                         (long long)sec);
    if (h)
        return xasprintf("%lldh %lldm %llds", (long long)h, (long long)m, (long long)sec);
    if (m)
        return xasprintf("%lldm %llds", (long long)m, (long long)sec);
    return xasprintf("%.3fs", (double)ms / 1000.0);
}

static json_t *memory_json(void)
{
    json_t *m = json_object();
    FILE *f = fopen("/proc/self/status", "re");
    char line[256];
    static const struct { const char *key, *name; } keys[] = {
        { "VmRSS:", "rss" }, { "VmHWM:", "peakRss" }, { "VmSize:", "vsz" }, { "VmData:", "data" },
    };
    if (!f)
        return m;
    while (fgets(line, sizeof line, f)) {
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            long long kb;
            if (str_has_prefix(line, keys[i].key) &&
                sscanf(line + strlen(keys[i].key), "%lld", &kb) == 1)
                json_object_set_new(m, keys[i].name, json_integer(kb * 1024));
        }
    }
    fclose(f);
    /* Heap in use vs held: tells a leak (in use grows) from fragmentation
     * (held grows, in use does not). */
    struct mallinfo2 mi = mallinfo2();
    json_object_set_new(m, "heapInUse", json_integer((json_int_t)(mi.uordblks + mi.hblkhd)));
    json_object_set_new(m, "heapHeld", json_integer((json_int_t)(mi.arena + mi.hblkhd)));
    return m;
}

static json_t *status_json(vminfod *d, int full)
{
    int64_t now = now_ms();
    char date[32];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    iso_time_ms(now, date);
    cleanup_free char *uptime = pretty_duration(now - d->start_ms);
    cleanup_free char *curtime = xasprintf("%lld.%09ld", (long long)ts.tv_sec, ts.tv_nsec);
    json_t *st = json_object();

    json_object_set_new(st, "pid", json_integer(getpid()));
    json_object_set_new(st, "uptime", json_string(uptime));
    json_object_set_new(st, "memory", memory_json());
    pthread_mutex_lock(&d->lock);
    json_object_set_new(st, "state", json_string(d->refreshing ? "refreshing" : "running"));
    json_object_set_new(st, "status", json_string(json_array_size(d->refresh_errors) ? "degraded"
                                                                                   : "ok"));
    json_object_set_new(st, "root", json_string(d->ctx->root));
    json_object_set_new(st, "numVms", json_integer((json_int_t)strmap_count(d->cache)));
    json_object_set_new(st, "curDate", json_string(date));
    json_object_set_new(st, "curTime", json_string(curtime));
    json_object_set_new(st, "queue", json_pack("{s:I, s:b, s:b, s:{s:i, s:I, s:I, s:{}, s:[]}}",
        "now", (json_int_t)now, "paused", 0, "idle", d->npending == 0 && !d->refreshing,
        "vasync_queue", "concurrency", 1, "npending", (json_int_t)d->npending,
        "nqueued", (json_int_t)0, "pending", "queued"));
    if (d->last_refresh_ms) {
        cleanup_free char *ago = pretty_duration(now - d->last_refresh_ms);
        json_object_set_new(st, "lastRefresh", json_string(ago));
    } else {
        json_object_set_new(st, "lastRefresh", json_null());
    }
    json_t *errs = json_array();
    size_t i;
    json_t *e;
    json_array_foreach(d->refresh_errors, i, e) {
        cleanup_free char *ago =
            pretty_duration(now - json_integer_value(json_object_get(e, "timeMs")));
        json_array_append_new(errs, json_pack("{s:O, s:O, s:s}", "err", json_object_get(e, "err"),
                                              "time", json_object_get(e, "time"), "ago", ago));
    }
    json_object_set_new(st, "refreshErrors", errs);
    json_object_set_new(st, "events", json_pack("{s:I, s:I, s:I, s:I, s:I}",
        "lastSeq", (json_int_t)(d->ring.next_seq - 1),
        "oldestSeq", (json_int_t)vminfo_ring_oldest(&d->ring),
        "historyEvents", (json_int_t)d->ring.count, "historyBytes", (json_int_t)d->ring.bytes,
        "overflows", (json_int_t)d->overflows));
    json_t *ls = json_object();
    for (struct vminfod_listener *l = d->listeners; l; l = l->next) {
        char cd[32];
        iso_time_ms(l->created, cd);
        cleanup_free char *ago = pretty_duration(now - l->created);
        json_object_set_new(ls, l->uuid, json_pack("{s:s, s:I, s:s, s:s}", "userAgent",
            l->ua ? l->ua : "", "createdTime", (json_int_t)l->created, "createdDate", cd,
            "createdAgo", ago));
    }
    json_object_set_new(st, "eventsListeners", ls);
    if (full) {
        json_t *rl = json_array();
        json_array_foreach(d->refresh_log, i, e) {
            cleanup_free char *ago = pretty_duration(now - json_integer_value(
                                                         json_object_get(e, "ended")));
            json_t *c = json_copy(e);
            json_object_set_new(c, "endedAgo", ago ? json_string(ago) : json_null());
            json_object_set_new(c, "cacheChanges", json_array());
            json_array_append_new(rl, c);
        }
        json_object_set_new(st, "refreshLog", rl);
        json_t *watching = json_array(), *notyet = json_array(), *pending = json_object();
        size_t it = 0;
        const char *k;
        void *v;
        while (strmap_next(d->dirs, &it, &k, &v)) {
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
        while (strmap_next(d->dirty, &it, &k, NULL))
            json_object_set_new(pending, k, json_string("refresh"));
        json_object_set_new(st, "fswatcher", json_pack("{s:b, s:i, s:o, s:o, s:o, s:i}",
            "running", d->inofd >= 0, "watcher_pid", (int)getpid(), "watching", watching,
            "not_yet_watching", notyet, "pending_actions", pending,
            "inotifyWatches", (int)strmap_count(d->wds)));
    }
    pthread_mutex_unlock(&d->lock);
    return st;
}

/* ---- listeners ---- */

/* JSON string contents for s (without the quotes). */
static char *json_escape(const char *s, size_t len, size_t *outlen)
{
    size_t cap = len + len / 8 + 16, n = 0;
    char *o = xmalloc(cap);
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (n + 8 > cap) {
            cap *= 2;
            o = xrealloc(o, cap);
        }
        if (c == '"' || c == '\\') {
            o[n++] = '\\';
            o[n++] = (char)c;
        } else if (c < 0x20) {
            o[n++] = '\\';
            o[n++] = 'u';
            o[n++] = '0';
            o[n++] = '0';
            o[n++] = hex[c >> 4];
            o[n++] = hex[c & 15];
        } else {
            o[n++] = (char)c;
        }
    }
    o[n] = '\0';
    *outlen = n;
    return o;
}

static struct vminfod_listener *listener_new(vminfod *d, const char *ua, int has_since,
                                             long long since, char **only)
{
    struct vminfod_listener *l = xcalloc(1, sizeof *l);
    char date[32];
    struct vms_blob *blob = NULL;
    long long last;
    int resume;

    uuid_new(l->uuid);
    l->ua = ua ? xstrdup(ua) : NULL;
    l->created = now_ms();
    iso_time_ms(l->created, date);

    pthread_mutex_lock(&d->lock);
    last = d->ring.next_seq - 1;
    resume = has_since && vminfo_ring_can_resume(&d->ring, since);
    if (resume) {
        l->next_seq = since + 1;
    } else {
        blob = blob_get_only(d, only);
        l->next_seq = d->ring.next_seq;
    }
    l->next = d->listeners;
    if (d->listeners)
        d->listeners->prev = l;
    d->listeners = l;
    d->nlisteners++;
    pthread_mutex_unlock(&d->lock);

    if (resume) {
        l->head = xasprintf("{\"type\":\"resumed\",\"date\":\"%s\",\"uuid\":\"%s\","
                            "\"since\":%lld,\"seq\":%lld}\n", date, l->uuid, since, last);
    } else {
        /* Escaping the snapshot outside the lock: the blob is immutable and
         * the listener already counts from the matching seq. */
        size_t elen;
        cleanup_free char *esc = json_escape(blob->data, blob->len, &elen);
        cleanup_free char *pre = has_since
            ? xasprintf("{\"type\":\"resync\",\"date\":\"%s\",\"uuid\":\"%s\",\"since\":%lld,"
                        "\"oldest\":%lld,\"vms\":\"", date, l->uuid, since,
                        vminfo_ring_oldest(&d->ring))
            : xasprintf("{\"type\":\"ready\",\"date\":\"%s\",\"uuid\":\"%s\",\"vms\":\"", date,
                        l->uuid);
        cleanup_free char *post = xasprintf("\",\"seq\":%lld}\n", last);
        size_t pl = strlen(pre), ql = strlen(post);
        char *h = xmalloc(pl + elen + ql + 1);
        memcpy(h, pre, pl);
        memcpy(h + pl, esc, elen);
        memcpy(h + pl + elen, post, ql + 1);
        vminfod_blob_unref(blob);
        pthread_mutex_lock(&d->lock);
        l->head = h;
        l->head_len = pl + elen + ql;
        pthread_mutex_unlock(&d->lock);
        return l;
    }
    pthread_mutex_lock(&d->lock);
    l->head_len = strlen(l->head);
    pthread_mutex_unlock(&d->lock);
    return l;
}

void vminfod_listener_attach(vminfod *d, vminfod_listener *l, const vminfod_listener_ops *ops,
                             void *conn)
{
    pthread_mutex_lock(&d->lock);
    l->ops = ops;
    l->conn = conn;
    pthread_mutex_unlock(&d->lock);
}

ssize_t vminfod_listener_read(vminfod *d, vminfod_listener *l, char *buf, size_t max)
{
    size_t n = 0;

    pthread_mutex_lock(&d->lock);
    if (l->dead) {
        pthread_mutex_unlock(&d->lock);
        return -2;
    }
    if (l->head_off < l->head_len) {
        n = l->head_len - l->head_off;
        if (n > max)
            n = max;
        memcpy(buf, l->head + l->head_off, n);
        l->head_off += n;
        if (l->head_off == l->head_len) {
            free(l->head);
            l->head = NULL;
            l->head_off = l->head_len = 0;
        }
        pthread_mutex_unlock(&d->lock);
        return (ssize_t)n;
    }
    while (n < max) {
        const vminfo_ring_ev *e = vminfo_ring_get(&d->ring, l->next_seq);
        if (!e)
            break;
        size_t k = e->len - l->off;
        if (k > max - n)
            k = max - n;
        memcpy(buf + n, e->text + l->off, k);
        n += k;
        l->off += k;
        if (l->off == e->len) {
            l->next_seq++;
            l->off = 0;
        }
    }
    if (n == 0) {
        if (l->next_seq < vminfo_ring_oldest(&d->ring)) {
            l->dead = 1;
            pthread_mutex_unlock(&d->lock);
            return -2;
        }
        if (l->closing) {
            pthread_mutex_unlock(&d->lock);
            return -1;
        }
        if (l->ops && l->ops->suspend) {
            l->suspended = 1;
            l->ops->suspend(l->conn);
        }
    }
    pthread_mutex_unlock(&d->lock);
    return (ssize_t)n;
}

void vminfod_listener_free(vminfod *d, vminfod_listener *l)
{
    pthread_mutex_lock(&d->lock);
    if (l->prev)
        l->prev->next = l->next;
    else
        d->listeners = l->next;
    if (l->next)
        l->next->prev = l->prev;
    d->nlisteners--;
    pthread_mutex_unlock(&d->lock);
    free(l->head);
    free(l->ua);
    free(l);
}

void vminfod_close_listeners(vminfod *d)
{
    struct wakes w = { 0 };
    pthread_mutex_lock(&d->lock);
    for (struct vminfod_listener *l = d->listeners; l; l = l->next) {
        l->closing = 1;
        if (l->suspended) {
            l->suspended = 0;
            wakes_add(&w, l);
        }
    }
    pthread_mutex_unlock(&d->lock);
    wakes_run(&w);
}

size_t vminfod_listener_count(vminfod *d)
{
    pthread_mutex_lock(&d->lock);
    size_t n = d->nlisteners;
    pthread_mutex_unlock(&d->lock);
    return n;
}

/* ---- routing ---- */

static int hexv(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static char *url_decode(const char *s, size_t n)
{
    char *o = xmalloc(n + 1);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            o[j++] = ' ';
        } else if (s[i] == '%' && i + 2 < n && hexv(s[i + 1]) >= 0 && hexv(s[i + 2]) >= 0) {
            o[j++] = (char)(hexv(s[i + 1]) * 16 + hexv(s[i + 2]));
            i += 2;
        } else {
            o[j++] = s[i];
        }
    }
    o[j] = '\0';
    return o;
}

char *vminfod_query_get(const char *query, const char *key)
{
    const char *p = query;
    if (!p)
        return NULL;
    if (*p == '?')
        p++;
    while (*p) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        size_t klen = eq ? (size_t)(eq - p) : len;
        cleanup_free char *k = url_decode(p, klen);
        if (!strcmp(k, key))
            return eq ? url_decode(eq + 1, len - klen - 1) : xstrdup("");
        p += len;
        if (*p == '&')
            p++;
    }
    return NULL;
}

static void set_body(vminfod_resp *r, int status, char *body)
{
    r->status = status;
    r->body = body;
    r->len = body ? strlen(body) : 0;
}

static void respond_json(vminfod_resp *r, int status, json_t *j)
{
    set_body(r, status, json_compact(j));
}

/* Path segments after normalisation (empty and "." dropped, ".." pops). */
static char **split_path(const char *path, size_t *n)
{
    char **segs = xcalloc(strlen(path) / 2 + 2, sizeof *segs);
    size_t k = 0;
    const char *p = path;

    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 1 && p[0] == '.') {
            /* skip */
        } else if (len == 2 && p[0] == '.' && p[1] == '.') {
            if (k)
                free(segs[--k]);
            segs[k] = NULL;
        } else {
            segs[k++] = xstrndup(p, len);
        }
        p += len;
    }
    segs[k] = NULL;
    *n = k;
    return segs;
}

void vminfod_handle(vminfod *d, const vminfod_req *req, vminfod_resp *resp)
{
    size_t n;

    memset(resp, 0, sizeof *resp);
    if (!req->method || strcmp(req->method, "GET")) {
        set_body(resp, 400, NULL);
        return;
    }
    cleanup_strv char **seg = split_path(req->path ? req->path : "/", &n);
    if (n == 1 && !strcmp(seg[0], "ping")) {
        set_body(resp, 200, xstrdup("{\"ping\":\"pong\"}"));
    } else if (n == 1 && !strcmp(seg[0], "status")) {
        const char *full = req->arg ? req->arg(req->arg_cls, "full") : NULL;
        cleanup_json json_t *st = status_json(d, full != NULL);
        respond_json(resp, 200, st);
    } else if (n == 1 && !strcmp(seg[0], "vms") && req->arg && req->arg(req->arg_cls, "fields")) {
        pthread_mutex_lock(&d->lock);
        struct vms_blob *b = proj_get(d, req->arg(req->arg_cls, "fields"));
        pthread_mutex_unlock(&d->lock);
        resp->status = 200;
        resp->blob = b;
        resp->body = b->data;
        resp->len = b->len;
    } else if (n == 1 && !strcmp(seg[0], "vms")) {
        pthread_mutex_lock(&d->lock);
        struct vms_blob *b = blob_get(d);
        pthread_mutex_unlock(&d->lock);
        resp->status = 200;
        resp->blob = b;
        resp->body = b->data;
        resp->len = b->len;
    } else if (n == 2 && !strcmp(seg[0], "vms")) {
        char *text = NULL;
        pthread_mutex_lock(&d->lock);
        struct vment *e = strmap_get(d->cache, seg[1]);
        if (e)
            text = xstrndup(e->text, e->len);
        pthread_mutex_unlock(&d->lock);
        if (text)
            set_body(resp, 200, text);
        else
            set_body(resp, 404, xasprintf("VM Not Found: %s", seg[1]));
    } else if (n == 1 && !strcmp(seg[0], "events")) {
        const char *since = req->arg ? req->arg(req->arg_cls, "since") : NULL;
        int64_t s = 0;
        if (since && !parse_i64(since, &s)) {
            cleanup_json json_t *e = json_pack("{s:s}", "error", "since must be a sequence number");
            respond_json(resp, 400, e);
            return;
        }
        /* ?vms=<uuid>,..: the ready (or resync) event carries only these
         * VMs (none for "?vms="), so a vmadm write on a host with thousands
         * of VMs does not receive and parse all of them. */
        const char *vms = req->arg ? req->arg(req->arg_cls, "vms") : NULL;
        cleanup_strv char **only = vms ? strv_split(vms, ",") : NULL;
        for (size_t i = 0; only && only[i]; i++) {
            if (!uuid_valid(only[i])) {
                cleanup_json json_t *e = json_pack("{s:s}", "error", "vms must be a list of VM uuids");
                respond_json(resp, 400, e);
                return;
            }
        }
        resp->status = 200;
        resp->kind = VMINFOD_RESP_EVENTS;
        resp->listener = listener_new(d, req->user_agent, since != NULL, (long long)s, only);
    } else {
        set_body(resp, 404, xstrdup("Unsupported URL Path"));
    }
}

void vminfod_resp_free(vminfod_resp *resp)
{
    if (resp->blob) {
        vminfod_blob_unref(resp->blob);
        resp->blob = NULL;
    } else {
        free(resp->body);
    }
    resp->body = NULL;
}
