/* vminfo: command-line client of vminfod (I23–I26). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "vminfo/vminfo_client.h"

static const char usage_text[] =
    "Usage: vminfo [command] [args]\n"
    "\n"
    "Commands\n"
    "  ping               get vminfod ping     (GET /ping)\n"
    "  status [-jf]       get vminfod status   (GET /status)\n"
    "  vms                get all vms          (GET /vms)\n"
    "  vm <uuid>          get vm info          (GET /vms/:uuid)\n"
    "  events [-jfr]      trace vminfod events (GET /events)\n";

/* SmartOS prints usage (and its message) on stdout, errors or not. */
static void usage(const char *msg)
{
    if (msg)
        printf("%s\n\n", msg);
    fputs(usage_text, stdout);
}

/* Parses the command's own flags from `letters`; returns -1 on an unknown one. */
static int parse_flags(int argc, char **argv, const char *letters, int *flags)
{
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt(argc, argv, letters)) != -1) {
        const char *p = strchr(letters, c);
        if (c == '?' || !p)
            return -1;
        flags[p - letters] = 1;
    }
    return 0;
}

/* Path segment with everything but unreserved characters percent-encoded. */
static char *url_segment(const char *s)
{
    char *o = xmalloc(strlen(s) * 3 + 1), *p = o;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            strchr("-._~", c))
            *p++ = (char)c;
        else
            p += sprintf(p, "%%%02X", c);
    }
    *p = '\0';
    return o;
}

static int fail(const vm_err *err)
{
    fprintf(stderr, "%s\n", err->msg);
    return 1;
}

static int print_pretty(json_t *j)
{
    cleanup_free char *s = json_pretty(j);
    printf("%s\n", s);
    return 0;
}

static const char *jstr(json_t *o, const char *k, const char *dflt)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : dflt;
}

static const char *jbool(json_t *o, const char *k)
{
    return json_is_true(json_object_get(o, k)) ? "true" : "false";
}

static long long jint(json_t *o, const char *k)
{
    return (long long)json_number_value(json_object_get(o, k));
}

static int do_status(const vm_ctx *ctx, int argc, char **argv)
{
    int fl[2] = { 0, 0 }; /* f, j */
    vm_err err = VM_ERR_INIT;
    cleanup_json json_t *st = NULL;

    if (parse_flags(argc, argv, "fj", fl) < 0) {
        usage(NULL);
        return 1;
    }
    if (vminfo_client_get_json(ctx, fl[0] ? "/status?full=true" : "/status", &st, &err) < 0)
        return fail(&err);
    if (fl[1])
        return print_pretty(st);

    json_t *q = json_object_get(st, "queue");
    json_t *vq = json_object_get(q, "vasync_queue");
    json_t *lr = json_object_get(st, "lastRefresh");
    printf("state: %s (%s)\n", jstr(st, "state", "undefined"), jstr(st, "status", "undefined"));
    printf("pid: %lld\n", jint(st, "pid"));
    printf("uptime: %s\n", jstr(st, "uptime", "undefined"));
    printf("rss: %.2fmb\n", json_number_value(json_object_get(json_object_get(st, "memory"),
                                                                "rss")) / 1024.0 / 1024.0);
    printf("numVms: %lld\n", jint(st, "numVms"));
    printf("queue\n  paused: %s\n  idle: %s\n  npending: %lld\n  nqueued: %lld\n",
           jbool(q, "paused"), jbool(q, "idle"), jint(vq, "npending"), jint(vq, "nqueued"));
    printf("fullRefresh\n  lastRefresh: %s\n", json_is_string(lr) ? json_string_value(lr) : "null");

    json_t *errs = json_object_get(st, "refreshErrors");
    size_t i;
    json_t *e;
    if (json_array_size(errs) > 0) {
        printf("  refreshErrors: (%zu items)\n", json_array_size(errs));
        json_array_foreach(errs, i, e)
            printf("    - %s (%s)\n", jstr(e, "err", ""), jstr(e, "ago", ""));
    }
    json_t *rl = json_object_get(st, "refreshLog");
    if (json_array_size(rl) > 0) {
        printf("  refreshLog: (%zu items)\n", json_array_size(rl));
        json_array_foreach(rl, i, e)
            printf("    - %zu cacheChanges / %lld vmChanges - %s ago\n",
                   json_array_size(json_object_get(e, "cacheChanges")), jint(e, "vmChanges"),
                   jstr(e, "endedAgo", ""));
    }
    json_t *fw = json_object_get(st, "fswatcher");
    if (fw) {
        printf("fswatcher\n  running: %s\n  pid: %lld\n  watching: %zu\n  tryingToWatch: %zu\n"
               "  pendingActions: %zu\n", jbool(fw, "running"), jint(fw, "watcher_pid"),
               json_array_size(json_object_get(fw, "watching")),
               json_array_size(json_object_get(fw, "not_yet_watching")),
               json_object_size(json_object_get(fw, "pending_actions")));
    }
    json_t *ls = json_object_get(st, "eventsListeners");
    const char *k;
    printf("eventsListeners: (%zu listeners)\n", json_object_size(ls));
    json_object_foreach(ls, k, e)
        printf("  - %s\n    %s created %s ago\n\n", jstr(e, "userAgent", ""), k,
               jstr(e, "createdAgo", ""));
    return 0;
}

static int do_events(const vm_ctx *ctx, int argc, char **argv)
{
    int fl[3] = { 0, 0, 0 }; /* f, j, r */
    vm_err err = VM_ERR_INIT;
    vminfo_stream *s = NULL;
    const char *envname = getenv("VMINFOD_NAME");
    cleanup_free char *name = envname && *envname ? xasprintf("%s (Vminfod CLI)", envname)
                                                 : xstrdup("Vminfod CLI");

    if (parse_flags(argc, argv, "fjr", fl) < 0) {
        usage(NULL);
        return 1;
    }
    int flags = (fl[0] ? VMINFO_FMT_FULL : 0) | (fl[1] ? VMINFO_FMT_JSON : 0);
    if (vminfo_stream_open(ctx, name, &s, NULL, &err) < 0)
        return fail(&err);
    if (fl[2]) {
        cleanup_free char *line = vminfo_format_event(vminfo_stream_ready_event(s), flags);
        fputs(line, stdout);
        fflush(stdout);
    }
    for (;;) {
        cleanup_json json_t *ev = NULL;
        int r = vminfo_stream_next(s, &ev, -1, &err);
        if (r < 0)
            break;
        if (r == 0)
            continue;
        cleanup_free char *line = vminfo_format_event(ev, flags);
        fputs(line, stdout);
        fflush(stdout);
    }
    vminfo_stream_close(s);
    return fail(&err);
}

int main(int argc, char **argv)
{
    vm_ctx ctx;
    vm_err err = VM_ERR_INIT;
    int rc;

    if (argc > 1 && argv[1][0] == '-') {
        if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
            usage(NULL);
            return 0;
        }
        usage(NULL);
        return 1;
    }
    if (argc < 2) {
        usage("Command must be specified as the first argument");
        return 1;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "help")) {
        usage(NULL);
        return 0;
    }
    if (strcmp(cmd, "ping") && strcmp(cmd, "status") && strcmp(cmd, "vms") && strcmp(cmd, "vm") &&
        strcmp(cmd, "events")) {
        char msg[512];
        snprintf(msg, sizeof msg, "Unknown command: %s", cmd);
        usage(msg);
        return 1;
    }
    if (!strcmp(cmd, "vm") && argc < 3) {
        usage("vm zonename must be specified");
        return 1;
    }
    if (vm_ctx_init(&ctx, &err) < 0)
        return fail(&err);

    cleanup_json json_t *j = NULL;
    if (!strcmp(cmd, "ping")) {
        rc = vminfo_client_get_json(&ctx, "/ping", &j, &err) < 0 ? fail(&err) : 0;
        if (!rc)
            printf("%s\n", jstr(j, "ping", "undefined"));
    } else if (!strcmp(cmd, "status")) {
        rc = do_status(&ctx, argc - 1, argv + 1);
    } else if (!strcmp(cmd, "vms")) {
        rc = vminfo_client_get_vms(&ctx, &j, &err) < 0 ? fail(&err) : print_pretty(j);
    } else if (!strcmp(cmd, "vm")) {
        cleanup_free char *seg = url_segment(argv[2]);
        cleanup_free char *path = xasprintf("/vms/%s", seg);
        rc = vminfo_client_get_json(&ctx, path, &j, &err) < 0 ? fail(&err) : print_pretty(j);
    } else {
        rc = do_events(&ctx, argc - 1, argv + 1);
    }
    vm_ctx_free(&ctx);
    return rc;
}
