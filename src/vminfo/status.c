/* vminfo status [-jf]: vminfod's /status, as SmartOS's summary or as JSON. */
#include <stdio.h>

#include "common/util.h"
#include "vminfo/vminfo_client.h"
#include "vminfo_cli.h"

static const char *jbool(json_t *o, const char *k)
{
    return json_is_true(json_object_get(o, k)) ? "true" : "false";
}

static long long jint(json_t *o, const char *k)
{
    return (long long)json_number_value(json_object_get(o, k));
}

int vminfo_cmd_status(const vm_ctx *ctx, int argc, char **argv)
{
    int fl[2] = { 0, 0 }; /* f, j */
    vm_err err = VM_ERR_INIT;
    cleanup_json json_t *st = NULL;

    if (vminfo_parse_flags(argc, argv, "fj", fl) < 0) {
        vminfo_usage(NULL);
        return 1;
    }
    if (vminfo_client_get_json(ctx, fl[0] ? "/status?full=true" : "/status", &st, &err) < 0)
        return vminfo_fail(&err);
    if (fl[1])
        return vminfo_print_pretty(st);

    json_t *q = json_object_get(st, "queue");
    json_t *vq = json_object_get(q, "vasync_queue");
    json_t *lr = json_object_get(st, "lastRefresh");
    printf("state: %s (%s)\n", vminfo_jstr(st, "state", "undefined"), vminfo_jstr(st, "status", "undefined"));
    printf("pid: %lld\n", jint(st, "pid"));
    printf("uptime: %s\n", vminfo_jstr(st, "uptime", "undefined"));
    printf("rss: %.2fmb\n", json_number_value(json_object_get(json_object_get(st, "memory"), "rss")) / 1024.0 / 1024.0);
    printf("numVms: %lld\n", jint(st, "numVms"));
    printf("queue\n  paused: %s\n  idle: %s\n  npending: %lld\n  nqueued: %lld\n", jbool(q, "paused"), jbool(q, "idle"),
           jint(vq, "npending"), jint(vq, "nqueued"));
    printf("fullRefresh\n  lastRefresh: %s\n", json_is_string(lr) ? json_string_value(lr) : "null");

    json_t *errs = json_object_get(st, "refreshErrors");
    size_t i;
    json_t *e;
    if (json_array_size(errs) > 0) {
        printf("  refreshErrors: (%zu items)\n", json_array_size(errs));
        json_array_foreach(errs, i, e)
            printf("    - %s (%s)\n", vminfo_jstr(e, "err", ""), vminfo_jstr(e, "ago", ""));
    }
    json_t *rl = json_object_get(st, "refreshLog");
    if (json_array_size(rl) > 0) {
        printf("  refreshLog: (%zu items)\n", json_array_size(rl));
        json_array_foreach(rl, i, e)
            printf("    - %zu cacheChanges / %lld vmChanges - %s ago\n",
                   json_array_size(json_object_get(e, "cacheChanges")), jint(e, "vmChanges"),
                   vminfo_jstr(e, "endedAgo", ""));
    }
    json_t *fw = json_object_get(st, "fswatcher");
    if (fw) {
        printf("fswatcher\n  running: %s\n  pid: %lld\n  watching: %zu\n  tryingToWatch: %zu\n"
               "  pendingActions: %zu\n",
               jbool(fw, "running"), jint(fw, "watcher_pid"), json_array_size(json_object_get(fw, "watching")),
               json_array_size(json_object_get(fw, "not_yet_watching")),
               json_object_size(json_object_get(fw, "pending_actions")));
    }
    json_t *ls = json_object_get(st, "eventsListeners");
    const char *k;
    printf("eventsListeners: (%zu listeners)\n", json_object_size(ls));
    json_object_foreach(ls, k, e)
        printf("  - %s\n    %s created %s ago\n\n", vminfo_jstr(e, "userAgent", ""), k,
               vminfo_jstr(e, "createdAgo", ""));
    return 0;
}
