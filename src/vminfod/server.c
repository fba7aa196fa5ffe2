/* The vminfod daemon object: options, log, and the wiring of the watcher
 * (watch.h) to the cache: the watcher says which VMs changed, cache.c
 * reloads them. */
#include "server_internal.h"

#include <malloc.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/util.h"

void vminfod_opts_default(vminfod_opts *o)
{
    o->rescan_ms = 60000;
    o->debounce_ms = 1;
    o->ring_events = 4096;
    o->ring_bytes = 2u << 20;
    o->client_buffer = 2u << 20;
    o->max_streams = 256;
    o->max_client_streams = 32;
    o->stall_ms = 60000;
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
    cleanup_json json_t *rec = json_pack("{s:s, s:s, s:s, s:s, s:i}", "time", ts, "level", level, "name", "vminfod",
                                         "msg", msg, "pid", (int)getpid());
    cleanup_free char *line = rec ? json_compact(rec) : NULL;
    if (line)
        fprintf(stderr, "%s\n", line);
}

/* ---- the watcher's reports ---- */

static int watch_changed(void *arg, const char *uuid)
{
    return vminfod_refresh_vm(arg, uuid);
}

static json_t *watch_changed_many(void *arg, json_t *uuids)
{
    return vminfod_refresh_many(arg, uuids);
}

static void watch_rescan(void *arg, const char *reason)
{
    vminfod_refresh_all(arg, reason);
    malloc_trim(0);
}

static void watch_tick(void *arg)
{
    vminfod_keepalive(arg);
}

static json_t *watch_paths(void *arg, const char *uuid)
{
    vminfod *d = arg;
    return d->loader.watch_paths ? d->loader.watch_paths(d->loader.arg, uuid) : NULL;
}

static void watch_log(void *arg, const char *level, const char *msg)
{
    vminfod_log(arg, level, "%s", msg);
}

static const vminfod_watch_ops watch_ops = {
    watch_changed, watch_changed_many, watch_rescan, watch_tick, watch_paths, watch_log,
};

int vminfod_new(const vm_ctx *ctx, const vminfod_loader *loader, const vminfod_opts *opts, vminfod **out, vm_err *err)
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
    d->watch = vminfod_watch_new(ctx, d->opts.rescan_ms, d->opts.debounce_ms, &d->lock, &watch_ops, d);
    d->refresh_errors = json_array();
    d->refresh_log = json_array();
    /* Sequence numbers start at start-time × 1000 so they keep increasing
     * across restarts: a client resuming with a seq from an earlier daemon
     * is always older than this ring and gets a resync. */
    vminfo_ring_init(&d->ring, d->opts.ring_events, d->opts.ring_bytes, (long long)d->start_ms * 1000);
    *out = d;
    return 0;
}

const char *vminfod_root(const vminfod *d)
{
    return d->ctx->root;
}

void vminfod_free(vminfod *d)
{
    if (!d)
        return;
    vminfod_watch_free(d->watch);
    while (d->listeners)
        vminfod_listener_free(d, d->listeners);
    strmap_free(d->cache, vminfod_vment_free);
    vminfod_cache_changed_locked(d);
    free(d->frag_fields);
    vminfo_ring_free(&d->ring);
    json_decref(d->refresh_errors);
    json_decref(d->refresh_log);
    pthread_mutex_destroy(&d->lock);
    free(d);
}

int vminfod_start(vminfod *d, vm_err *err)
{
    /* Watch first, then load: a change racing the initial fill is either
     * in the load or queued as an event. */
    if (vminfod_watch_start(d->watch, err) < 0)
        return -1;
    vminfod_refresh_all(d, "startup");
    malloc_trim(0);
    return 0;
}

int vminfod_run(vminfod *d, int stop_fd, vm_err *err)
{
    if (!vminfod_watch_started(d->watch) && vminfod_start(d, err) < 0)
        return -1;
    return vminfod_watch_run(d->watch, stop_fd, err);
}

void vminfod_stop(vminfod *d)
{
    vminfod_watch_stop(d->watch);
}
