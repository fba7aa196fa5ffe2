/* The VM object cache: one compact JSON text per VM, kept current from the
 * loader (one VM, a set in one load_each pass, or everything), with every
 * change committed together with its event.  Only the watcher thread (or a
 * test standing in for it) changes the cache. */
#include "server_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/util.h"
#include "vminfo/vminfo_client.h"

#define MAX_REFRESH_ERRORS 20
#define MAX_REFRESH_LOG 10

void vminfod_vment_free(void *p)
{
    struct vment *e = p;
    if (e) {
        free(e->text);
        free(e->rtext);
        free(e->scalars);
        free(e->frag);
        free(e);
    }
}

/* Logs msg as a warning and keeps it for /status (the last few). */
static void record_error(vminfod *d, const char *msg)
{
    char ts[32];
    iso_time_ms(now_ms(), ts);
    pthread_mutex_lock(&d->lock);
    json_array_append_new(d->refresh_errors,
                          json_pack("{s:s, s:s, s:I}", "err", msg, "time", ts, "timeMs", (json_int_t)now_ms()));
    while (json_array_size(d->refresh_errors) > MAX_REFRESH_ERRORS)
        json_array_remove(d->refresh_errors, 0);
    pthread_mutex_unlock(&d->lock);
    vminfod_log(d, "warn", "%s", msg);
}

/* Commits one change of the cache and its event atomically, so a listener
 * sees either the old snapshot plus the event, or the new snapshot. */
static void commit(vminfod *d, const char *type, const char *uuid, json_t *vm, char *text, size_t len, json_t *changes)
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
    vminfod_vment_redact(vm, e);
    if (vm)
        vminfod_vment_scalars(vm, e);
    vminfod_cache_changed_locked(d);

    cleanup_json json_t *ev = json_object();
    json_object_set_new(ev, "type", json_string(type));
    json_object_set_new(ev, "date", json_string(date));
    json_object_set_new(ev, "zonename", json_string(zn ? zn : uuid));
    json_object_set_new(ev, "uuid", json_string(uuid));
    if (vm)
        json_object_set(ev, "vm", vm);
    if (changes)
        json_object_set(ev, "changes", changes);
    vminfod_event_push_locked(d, ev, &w);
    pthread_mutex_unlock(&d->lock);
    vminfod_wakes_run(&w);
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
            vminfod_vment_redact(vm, e);
            vminfod_vment_scalars(vm, e);
            text = NULL;
            vminfod_cache_changed_locked(d);
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
    cleanup_json json_t *ev = json_pack("{s:s, s:s, s:s, s:s}", "type", "delete", "date", date, "zonename",
                                        json_is_string(zn) ? json_string_value(zn) : uuid, "uuid", uuid);
    pthread_mutex_lock(&d->lock);
    vminfod_vment_free(strmap_del(d->cache, uuid));
    vminfod_cache_changed_locked(d);
    vminfod_event_push_locked(d, ev, &w);
    pthread_mutex_unlock(&d->lock);
    vminfod_wakes_run(&w);
    return 1;
}

int vminfod_refresh_vm(vminfod *d, const char *uuid)
{
    vm_err err = VM_ERR_INIT;
    cleanup_json json_t *vm = NULL;
    cleanup_free char *dir = vm_ctx_vm_dir(d->ctx, uuid);

    if (d->loader.load_one(d->loader.arg, uuid, &vm, &err) == 0 && vm) {
        apply_loaded(d, uuid, vm);
        vminfod_watch_vm(d->watch, uuid, VMINFOD_VM_LOADED);
        return 0;
    }
    if (err.code == VMERR_NOTFOUND && !dir_exists(dir)) {
        /* Only a VM whose directory is gone is deleted (I13, I29): a config
         * file being replaced leaves the directory in place. */
        apply_gone(d, uuid);
        vminfod_watch_vm(d->watch, uuid, VMINFOD_VM_GONE);
        return 0;
    }
    if (vminfod_watch_vm(d->watch, uuid, VMINFOD_VM_BROKEN) == 1)
        return 1;
    char msg[VM_ERR_MSGLEN + 64];
    snprintf(msg, sizeof msg, "cannot load VM %s: %s", uuid, err.msg);
    record_error(d, msg);
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
        vminfod_watch_vm(p->d->watch, uuid, VMINFOD_VM_LOADED);
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
        record_error(d, msg);
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
                          json_pack("{s:s, s:i, s:I, s:I}", "reason", reason, "vmChanges", changes, "started",
                                    (json_int_t)started, "ended", (json_int_t)ended));
    while (json_array_size(d->refresh_log) > MAX_REFRESH_LOG)
        json_array_remove(d->refresh_log, 0);
    if (changes && strcmp(reason, "startup"))
        d->events_lost_rescans++;
    size_t nvms = strmap_count(d->cache);
    pthread_mutex_unlock(&d->lock);

    if (changes && strcmp(reason, "startup"))
        vminfod_log(d, "warn", "%s rescan found %d VM(s) changed without an event: events were lost", reason, changes);
    vminfod_log(d, "info", "%s refresh done: %zu VMs, %d changed, %lld ms", reason, nvms, changes,
                (long long)(ended - started));
}
