/* What every vmadm verb shares: argument splitting, payload reading,
 * usage and failure output, and the wait-for-vminfod tail of writes. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmadm.h"

#define MAX_PAYLOAD (16 * 1024 * 1024)
#define SYNC_TIMEOUT_MS 60000 /* VMINFOD_TIMEOUT (seconds) overrides */

static const char *const prog = "vmadm";

void usage_text(FILE *f)
{
    fprintf(f,
            "Usage: %s <command> [options]\n"
            "\n"
            "create [-f <filename>]\n"
            "create-snapshot <uuid> <snapname>\n"
            "console <uuid>\n"
            "delete <uuid>\n"
            "delete-snapshot <uuid> <snapname>\n"
            "disks <uuid> [-H] [-o field,...]\n"
            "events [-fjr] [uuid]\n"
            "get <uuid>\n"
            "info <uuid> [type,...]\n"
            "kill [-s SIGNAL|-SIGNAL] <uuid>\n"
            "list [-p] [-H] [-o field,...] [-s field,...] [field=value ...]\n"
            "login <uuid> [command ...]\n"
            "lookup [-j|-1] [-o field,...] [field=value ...]\n"
            "reboot <uuid> [-F]\n"
            "reprovision <uuid> [-f <filename>]\n"
            "rollback-snapshot <uuid> <snapname>\n"
            "start <uuid> [option=value ...]\n"
            "stop <uuid> [-F] [-t timeout]\n"
            "sysrq <uuid> <nmi|screenshot>\n"
            "update <uuid> [-f <filename>]\n"
            " -or- update <uuid> property=value [property=value ...]\n"
            "validate create [-f <filename>]\n"
            "validate update <brand> [-f <filename>]\n"
            "boot-all\n"
            "sysinfo\n"
            "send [-i <snapshot>] <uuid>\n"
            "receive [-n] [-j] [-s]\n"
            "receive -A <uuid>\n"
            "migrate [-i | -a] [--live] [-D] [-n] [--json] [--downtime <s>] <uuid> <[user@]host | root:<path>>\n"
            "migrate --estimate [--rate <MB/s>] <uuid>\n"
            "migrate --finalize | --rollback | --abort <uuid>\n"
            "\n"
            "For more detailed information on the use of this command,type 'man vmadm'.\n",
            prog);
}

int usage(const char *msg)
{
    if (msg)
        fprintf(stderr, "%s\n", msg);
    usage_text(stderr);
    return 2;
}

int fail(const vm_err *e)
{
    fprintf(stderr, "%s\n", e->msg);
    return e->code == VMERR_USAGE ? 2 : 1;
}

int parse_args(int argc, char **argv, const vmadm_verb *v, args *a)
{
    static const vm_longopt longs[] = { { "verbose", false, 'v' }, { "debug", false, 'd' }, { NULL, false, 0 } };
    char spec[64];
    snprintf(spec, sizeof spec, "%svd", v->spec);
    vm_opts o;
    int c;
    vm_opts_init(&o, argc, argv, spec, longs, v->flags);
    while ((c = vm_opts_next(&o)) != -1) {
        switch (c) {
        case 'f':
            if (o.arg)
                a->f = o.arg;
            else
                a->full = true; /* events -f */
            break;
        case 'o': a->o = o.arg; break;
        case 's': a->s = o.arg; break;
        case 't': a->t = o.arg; break;
        case 'p': a->p = true; break;
        case 'H': a->H = true; break;
        case 'h': a->h = true; break;
        case 'j': a->j = true; break;
        case '1': a->one = true; break;
        case 'F': a->F = true; break;
        case 'r': a->r = true; break;
        case 'v':
        case 'd': break; /* accepted, no effect (C8) */
        default: {
            char m[160];
            vm_opts_error(&o, c, m, sizeof m);
            return usage(m);
        }
        }
    }
    a->pos = o.pos;
    a->npos = o.npos;
    return 0;
}

/* Reads and parses a payload (C10, C11).  "huge", deep, non-UTF-8 and empty
 * inputs each get one line. */
int read_payload(const char *file, const char *tty_msg, json_t **out)
{
    const char *name = file && strcmp(file, "-") ? file : "/dev/stdin";
    FILE *f;
    if (!file || !strcmp(file, "-")) {
        if (isatty(0))
            return usage(tty_msg);
        f = stdin;
    } else {
        if (access(file, F_OK) != 0) {
            fprintf(stderr, "File: %s does not exist.\n", file);
            return 1;
        }
        f = fopen(file, "r");
        if (!f) {
            fprintf(stderr, "Error reading: %s {\"code\":\"%s\"}\n", name, strerror(errno));
            return 1;
        }
    }
    size_t cap = 65536, n = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (n + 1 >= cap) {
            if (cap > MAX_PAYLOAD) {
                free(buf);
                if (f != stdin)
                    fclose(f);
                fprintf(stderr, "Invalid JSON payload: payload larger than %d MiB\n", MAX_PAYLOAD >> 20);
                return 1;
            }
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        size_t r = fread(buf + n, 1, cap - n - 1, f);
        if (r == 0)
            break;
        n += r;
        if (n > MAX_PAYLOAD) {
            free(buf);
            if (f != stdin)
                fclose(f);
            fprintf(stderr, "Invalid JSON payload: payload larger than %d MiB\n", MAX_PAYLOAD >> 20);
            return 1;
        }
    }
    if (f != stdin)
        fclose(f);
    buf[n] = '\0';
    size_t ws = strspn(buf, " \t\r\n");
    if (ws == n) {
        free(buf);
        fprintf(stderr, "Invalid JSON payload: Unexpected end of JSON input\n");
        return 1;
    }
    json_error_t je;
    json_t *j = json_loadb(buf, n, JSON_REJECT_DUPLICATES, &je);
    free(buf);
    if (!j) {
        fprintf(stderr, "Invalid JSON payload: %s at line %d column %d\n", je.text, je.line, je.column);
        return 1;
    }
    *out = j;
    return 0;
}

int need_uuid(args *a, const char *cmd)
{
    if (a->npos < 1 || !uuid_shape(a->pos[0])) {
        char m[128];
        snprintf(m, sizeof m, "Invalid or missing UUID for %s", cmd);
        return usage(m);
    }
    return 0;
}

void print_json(json_t *j)
{
    cleanup_free char *s = json_pretty(j);
    printf("%s\n", s);
}

static int sync_timeout_ms(void)
{
    const char *t = getenv("VMINFOD_TIMEOUT");
    int64_t v;
    return t && parse_i64(t, &v) && v > 0 && v < 86400 ? (int)(v * 1000) : SYNC_TIMEOUT_MS;
}

int sync_after(vm_sync *s, const char *uuid)
{
    vm_err e = VM_ERR_INIT;
    int r = vm_sync_wait(s, uuid, sync_timeout_ms(), &e);
    vm_sync_end(s);
    if (r < 0) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    return 0;
}

vm_sync *sync_open(const vm_ctx *ctx, const char *what, const char *uuid)
{
    char name[128];
    snprintf(name, sizeof name, "VM.js %s (%s)", what, uuid ? uuid : "-");
    return vm_sync_begin(ctx, name, uuid);
}

/* The tail every mutating command shares: on failure the message (after
 * the command's prefix) and exit 1 — 0 for SmartOS's "already" no-ops; on
 * success wait until vminfod shows the change, then the success line. */
int write_done(vm_sync *s, const char *uuid, int r, const vm_err *e, const char *fail_prefix, const char *ok_msg)
{
    if (r < 0) {
        vm_sync_end(s);
        if (fail_prefix)
            fprintf(stderr, "%s %s: ", fail_prefix, uuid);
        fprintf(stderr, "%s\n", e->msg);
        return e->code == VMERR_ALREADY ? 0 : e->code == VMERR_USAGE ? 2 : 1;
    }
    if (sync_after(s, uuid))
        return 1;
    fprintf(stderr, "%s %s\n", ok_msg, uuid);
    return 0;
}

/* VMADM_DEBUG_LEVEL (SmartOS: bunyan's level for the stderr log): at
 * "debug" or "trace" the command is logged on stderr as a bunyan record
 * before it runs, so a failure's message is the last of several stderr
 * lines — where node-vmadm takes a failed create's reason from. */
void debug_log_start(int argc, char **argv)
{
    const char *lv = getenv("VMADM_DEBUG_LEVEL");
    if (!lv || (strcmp(lv, "debug") && strcmp(lv, "trace")))
        return;
    char host[256] = "", t[32];
    gethostname(host, sizeof host - 1);
    iso_time_ms(now_ms(), t);
    json_t *args = json_array();
    for (int i = 1; i < argc; i++)
        json_array_append_new(args, json_string(argv[i]));
    cleanup_json json_t *rec =
        json_pack("{s:s,s:s,s:i,s:i,s:o,s:s,s:s,s:i}", "name", "vmadm", "hostname", host, "pid", (int)getpid(), "level",
                  !strcmp(lv, "trace") ? 10 : 20, "args", args, "msg", "vmadm starting", "time", t, "v", 0);
    const char *req = getenv("REQ_ID");
    json_t *rj = req ? json_string(req) : NULL; /* NULL when not UTF-8 */
    if (rec && rj)
        json_object_set_new(rec, "req_id", rj);
    else
        json_decref(rj);
    cleanup_free char *line = rec ? json_compact(rec) : NULL;
    if (line)
        fprintf(stderr, "%s\n", line);
}
