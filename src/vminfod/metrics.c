/* GET /metrics: the daemon's state in Prometheus text exposition format
 * (version 0.0.4), for a fleet's monitoring to scrape every node.
 *
 * Reuses /status (memory, event history, listeners, refresh errors: one
 * place computes them) and adds what /status does not show: VMs by state
 * and brand (from the cache's packed scalars, no VM parsed), the last
 * cache refresh, and request counts with a latency histogram (counted
 * lock-free around the router; an /events request counts the time to set
 * its stream up, not the stream). */
#include "server_internal.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/util.h"

/* Upper bounds of the latency buckets, seconds (VMINFOD_LAT_BUCKETS). */
static const double lat_bounds[VMINFOD_LAT_BUCKETS] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 1.0 };

uint64_t vminfod_metrics_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void vminfod_metrics_request(vminfod *d, uint64_t started)
{
    uint64_t ns = vminfod_metrics_clock() - started;
    double s = (double)ns / 1e9;
    atomic_fetch_add_explicit(&d->reqs.count, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&d->reqs.sum_ns, ns, memory_order_relaxed);
    for (size_t i = 0; i < VMINFOD_LAT_BUCKETS; i++) {
        if (s <= lat_bounds[i]) {
            atomic_fetch_add_explicit(&d->reqs.le[i], 1, memory_order_relaxed);
            break;
        }
    }
}

struct vmcount {
    char *state, *brand;
    long long n;
};

/* A label value: the JSON string scalar decoded, then escaped as the
 * exposition format wants (\\, \", \n); "unknown" when absent. */
static char *label_value(const char *json_text)
{
    cleanup_json json_t *v = json_text ? json_loads(json_text, JSON_DECODE_ANY, NULL) : NULL;
    const char *s = json_is_string(v) ? json_string_value(v) : "unknown";
    char *o = xmalloc(strlen(s) * 2 + 1), *p = o;
    for (; *s; s++) {
        if (*s == '\\' || *s == '"' || *s == '\n') {
            *p++ = '\\';
            *p++ = *s == '\n' ? 'n' : *s;
        } else {
            *p++ = *s;
        }
    }
    *p = '\0';
    return o;
}

/* Lock held: VMs counted by (state, brand), in first-seen order. */
static struct vmcount *count_vms_locked(vminfod *d, size_t *n)
{
    struct vmcount *c = NULL;
    size_t nc = 0, it = 0, hs = 0, hb = 0;
    const char *uuid;
    void *val;
    *n = 0;
    while (strmap_next(d->cache, &it, &uuid, &val)) {
        const struct vment *e = val;
        cleanup_free char *state = label_value(vminfod_vment_scalar(e, "state", &hs));
        cleanup_free char *brand = label_value(vminfod_vment_scalar(e, "brand", &hb));
        size_t i;
        for (i = 0; i < nc; i++)
            if (!strcmp(c[i].state, state) && !strcmp(c[i].brand, brand))
                break;
        if (i == nc) {
            c = xrealloc(c, (nc + 1) * sizeof *c);
            c[nc++] = (struct vmcount){ xstrdup(state), xstrdup(brand), 0 };
        }
        c[i].n++;
    }
    *n = nc;
    return c;
}

static void metric(FILE *f, const char *name, const char *type, const char *help, double value)
{
    fprintf(f, "# HELP %s %s\n# TYPE %s %s\n%s %.17g\n", name, help, name, type, name, value);
}

static double status_num(json_t *st, const char *obj, const char *key)
{
    json_t *o = obj ? json_object_get(st, obj) : st;
    return (double)json_integer_value(json_object_get(o, key));
}

static void write_requests(FILE *f, vminfod *d)
{
    unsigned long long count = atomic_load(&d->reqs.count), cum = 0;
    fputs("# HELP vminfod_request_duration_seconds Time to answer an HTTP request (an event stream: to set it up).\n"
          "# TYPE vminfod_request_duration_seconds histogram\n",
          f);
    for (size_t i = 0; i < VMINFOD_LAT_BUCKETS; i++) {
        cum += atomic_load(&d->reqs.le[i]);
        /* A request counted between the two loads never makes a bucket
         * exceed the total. */
        fprintf(f, "vminfod_request_duration_seconds_bucket{le=\"%g\"} %llu\n", lat_bounds[i],
                cum < count ? cum : count);
    }
    fprintf(f, "vminfod_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n", count);
    fprintf(f, "vminfod_request_duration_seconds_sum %.9f\n", (double)atomic_load(&d->reqs.sum_ns) / 1e9);
    fprintf(f, "vminfod_request_duration_seconds_count %llu\n", count);
}

char *vminfod_metrics_text(vminfod *d)
{
    cleanup_json json_t *st = vminfod_status_json(d, 0);
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    size_t nc;
    double refresh_s = -1, refresh_at = 0;

    if (!f)
        return xstrdup("");
    pthread_mutex_lock(&d->lock);
    struct vmcount *c = count_vms_locked(d, &nc);
    json_t *last = json_array_get(d->refresh_log, json_array_size(d->refresh_log) - 1);
    if (last) {
        int64_t started = json_integer_value(json_object_get(last, "started"));
        int64_t ended = json_integer_value(json_object_get(last, "ended"));
        refresh_s = (double)(ended - started) / 1000.0;
        refresh_at = (double)(now_ms() - ended) / 1000.0;
    }
    double lost_rescans = (double)d->events_lost_rescans;
    pthread_mutex_unlock(&d->lock);

    fputs("# HELP vminfod_vms VMs in the cache by state and brand.\n# TYPE vminfod_vms gauge\n", f);
    for (size_t i = 0; i < nc; i++) {
        fprintf(f, "vminfod_vms{state=\"%s\",brand=\"%s\"} %lld\n", c[i].state, c[i].brand, c[i].n);
        free(c[i].state);
        free(c[i].brand);
    }
    free(c);
    metric(f, "vminfod_vms_cached", "gauge", "VMs in the cache.", status_num(st, NULL, "numVms"));
    metric(f, "vminfod_event_subscribers", "gauge", "Open /events streams.",
           (double)json_object_size(json_object_get(st, "eventsListeners")));
    pthread_mutex_lock(&d->lock);
    double dropped = (double)d->listeners_dropped;
    pthread_mutex_unlock(&d->lock);
    metric(f, "vminfod_event_subscribers_dropped_total", "counter",
           "/events streams dropped (a client that read nothing for too long, or went away).", dropped);
    /* server.c seeds the sequence with start_ms × 1000 (unique across restarts). */
    metric(f, "vminfod_events_total", "counter", "Change events published since start.",
           status_num(st, "events", "lastSeq") + 1 - (double)d->start_ms * 1000);
    metric(f, "vminfod_events_history", "gauge", "Events kept for /events?since=.",
           status_num(st, "events", "historyEvents"));
    metric(f, "vminfod_watch_overflows_total", "counter", "Kernel inotify queue overflows (each forces a rescan).",
           status_num(st, "events", "overflows"));
    metric(f, "vminfod_rescans_lost_events_total", "counter",
           "Rescans that found VMs changed without an event (events were lost).", lost_rescans);
    metric(f, "vminfod_refresh_errors", "gauge", "Recent cache refresh errors kept by /status.",
           (double)json_array_size(json_object_get(st, "refreshErrors")));
    if (refresh_s >= 0) {
        metric(f, "vminfod_cache_refresh_duration_seconds", "gauge", "Duration of the last full cache refresh.",
               refresh_s);
        metric(f, "vminfod_cache_refresh_age_seconds", "gauge", "Seconds since the last full cache refresh ended.",
               refresh_at);
    }
    metric(f, "vminfod_refreshing", "gauge", "1 while a full cache refresh runs.",
           !strcmp(json_string_value(json_object_get(st, "state")), "refreshing"));
    metric(f, "vminfod_heap_in_use_bytes", "gauge", "malloc heap in use.", status_num(st, "memory", "heapInUse"));
    metric(f, "vminfod_heap_held_bytes", "gauge", "malloc heap held from the system.",
           status_num(st, "memory", "heapHeld"));
    metric(f, "vminfod_resident_memory_bytes", "gauge", "Resident set size.", status_num(st, "memory", "rss"));
    metric(f, "vminfod_uptime_seconds", "gauge", "Seconds since vminfod started.",
           (double)(now_ms() - d->start_ms) / 1000.0);
    metric(f, "vminfod_requests_total", "counter", "HTTP requests answered.", (double)atomic_load(&d->reqs.count));
    write_requests(f, d);
    fclose(f);
    return buf;
}
