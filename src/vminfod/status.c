/* /status: the daemon, its cache, its event history, its listeners and
 * (with ?full) its refresh log and watches. */
#include "server_internal.h"

#include <malloc.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"

static char *pretty_duration(int64_t ms)
{
    int64_t s = ms / 1000;
    int64_t days = s / 86400, h = (s / 3600) % 24, m = (s / 60) % 60, sec = s % 60;
    if (days)
        return xasprintf("%lldd %lldh %lldm %llds", (long long)days, (long long)h, (long long)m, (long long)sec);
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
    static const struct {
        const char *key, *name;
    } keys[] = {
        { "VmRSS:", "rss" },
        { "VmHWM:", "peakRss" },
        { "VmSize:", "vsz" },
        { "VmData:", "data" },
    };
    if (!f)
        return m;
    while (fgets(line, sizeof line, f)) {
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            long long kb;
            if (str_has_prefix(line, keys[i].key) && sscanf(line + strlen(keys[i].key), "%lld", &kb) == 1)
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

json_t *vminfod_status_json(vminfod *d, int full)
{
    int64_t now = now_ms();
    char date[32];
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    iso_time_ms(now, date);
    cleanup_free char *uptime = pretty_duration(now - d->start_ms);
    cleanup_free char *curtime = xasprintf("%lld.%09ld", (long long)ts.tv_sec, ts.tv_nsec);
    json_t *st = json_object();
    size_t npending;

    json_object_set_new(st, "pid", json_integer(getpid()));
    json_object_set_new(st, "uptime", json_string(uptime));
    json_object_set_new(st, "memory", memory_json());
    pthread_mutex_lock(&d->lock);
    npending = vminfod_watch_npending_locked(d->watch);
    json_object_set_new(st, "state", json_string(d->refreshing ? "refreshing" : "running"));
    json_object_set_new(st, "status", json_string(json_array_size(d->refresh_errors) ? "degraded" : "ok"));
    json_object_set_new(st, "root", json_string(d->ctx->root));
    json_object_set_new(st, "numVms", json_integer((json_int_t)strmap_count(d->cache)));
    json_object_set_new(st, "curDate", json_string(date));
    json_object_set_new(st, "curTime", json_string(curtime));
    json_object_set_new(st, "queue",
                        json_pack("{s:I, s:b, s:b, s:{s:i, s:I, s:I, s:{}, s:[]}}", "now", (json_int_t)now, "paused", 0,
                                  "idle", npending == 0 && !d->refreshing, "vasync_queue", "concurrency", 1, "npending",
                                  (json_int_t)npending, "nqueued", (json_int_t)0, "pending", "queued"));
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
        cleanup_free char *ago = pretty_duration(now - json_integer_value(json_object_get(e, "timeMs")));
        json_array_append_new(errs,
                              json_pack("{s:O, s:O, s:s}", "err", json_object_get(e, "err"), "time",
                                        json_object_get(e, "time"), "ago", ago));
    }
    json_object_set_new(st, "refreshErrors", errs);
    json_object_set_new(st, "events",
                        json_pack("{s:I, s:I, s:I, s:I, s:I}", "lastSeq", (json_int_t)(d->ring.next_seq - 1),
                                  "oldestSeq", (json_int_t)vminfo_ring_oldest(&d->ring), "historyEvents",
                                  (json_int_t)d->ring.count, "historyBytes", (json_int_t)d->ring.bytes, "overflows",
                                  (json_int_t)vminfod_watch_overflows_locked(d->watch)));
    json_t *ls = json_object();
    for (struct vminfod_listener *l = d->listeners; l; l = l->next) {
        char cd[32];
        iso_time_ms(l->created, cd);
        cleanup_free char *ago = pretty_duration(now - l->created);
        json_object_set_new(ls, l->uuid,
                            json_pack("{s:s, s:I, s:s, s:s}", "userAgent", l->ua ? l->ua : "", "createdTime",
                                      (json_int_t)l->created, "createdDate", cd, "createdAgo", ago));
    }
    json_object_set_new(st, "eventsListeners", ls);
    if (full) {
        json_t *rl = json_array();
        json_array_foreach(d->refresh_log, i, e) {
            cleanup_free char *ago = pretty_duration(now - json_integer_value(json_object_get(e, "ended")));
            json_t *c = json_copy(e);
            json_object_set_new(c, "endedAgo", ago ? json_string(ago) : json_null());
            json_object_set_new(c, "cacheChanges", json_array());
            json_array_append_new(rl, c);
        }
        json_object_set_new(st, "refreshLog", rl);
        json_object_set_new(st, "fswatcher", vminfod_watch_status_locked(d->watch));
    }
    pthread_mutex_unlock(&d->lock);
    return st;
}
