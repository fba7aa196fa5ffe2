/* vmadm migrate [-i | -a] [--live] [-D] [-n] [--json] <uuid> <dest>
 *   --estimate [--rate MB/s] <uuid>; --finalize | --rollback | --abort <uuid>
 * (issue 17; lib/migrate/migrate.h has the phases and guarantees). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "migrate/mig_live.h"
#include "migrate/migrate.h"
#include "migrate/vmstream.h"
#include "vmadm.h"

enum { O_LIVE = 1000, O_JSON, O_EST, O_RATE, O_FIN, O_RB, O_ABORT, O_DOWN, O_TCLEAN, O_TINC, O_TFIN, O_OK, O_FAIL };

static void print_event(void *arg, json_t *ev)
{
    bool json = *(bool *)arg;
    if (json) {
        char *s = json_dumps(ev, JSON_COMPACT);
        printf("%s\n", s);
        fflush(stdout);
        free(s);
        return;
    }
    const char *msg = json_string_value(json_object_get(ev, "message"));
    /* A failure's reason is the command's error line (printed once). */
    if (!strcmp(json_string_value(json_object_get(ev, "state")) ?: "", "failed"))
        return;
    json_int_t cur = json_integer_value(json_object_get(ev, "current_progress"));
    json_int_t tot = json_integer_value(json_object_get(ev, "total_progress"));
    bool tty = isatty(STDERR_FILENO);
    if (msg && *msg) {
        fprintf(stderr, "%s%s\n", tty ? "\r\033[K" : "", msg);
    } else if (tty && tot > 0) {
        double rate = (double)json_integer_value(json_object_get(ev, "transfer_bytes_second"));
        int pct = (int)(cur * 100 / tot);
        char bar[41];
        memset(bar, ' ', 40);
        memset(bar, '=', (size_t)(pct * 40 / 100));
        bar[40] = '\0';
        fprintf(stderr, "\r%s [%s] %3d%% %.1f MB/s eta %llds", json_string_value(json_object_get(ev, "phase")), bar,
                pct, rate / 1e6, (long long)(json_integer_value(json_object_get(ev, "eta_ms")) / 1000));
    }
}

static int one_uuid(vm_opts *o, const char *what)
{
    if (o->npos != 1 || !uuid_shape(o->pos[0])) {
        char m[96];
        snprintf(m, sizeof m, "%s takes one VM uuid", what);
        return usage(m);
    }
    return 0;
}

int cmd_migrate(const vm_ctx *ctx, args *a)
{
    static const vm_longopt longs[] = {
        { "live", false, O_LIVE },
        { "json", false, O_JSON },
        { "estimate", false, O_EST },
        { "rate", true, O_RATE },
        { "finalize", false, O_FIN },
        { "rollback", false, O_RB },
        { "abort", false, O_ABORT },
        { "downtime", true, O_DOWN },
        { "target-cleanup", false, O_TCLEAN },
        { "target-incoming", false, O_TINC },
        { "target-finish", false, O_TFIN },
        { "ok", false, O_OK },
        { "fail", false, O_FAIL },
        { NULL, false, 0 },
    };
    mig_opts mo = { .mode = MIG_FULL, .rule = MIG_RULE_DEFAULT, .downtime_ms = 300 };
    bool json = false, ok = false;
    int action = 0;
    double rate = 20;
    vm_opts o;
    int c;
    vm_opts_init(&o, a->argc - 1, a->argv + 1, "iaDnvd", longs, 0);
    while ((c = vm_opts_next(&o)) != -1) {
        switch (c) {
        case 'i': mo.mode = MIG_INCR; break;
        case 'a': mo.mode = MIG_AUTO; break;
        case O_LIVE: mo.mode = MIG_LIVE; break;
        case 'D': mo.allow_older = true; break;
        case 'n': mo.dry_run = true; break;
        case O_JSON: json = true; break;
        case O_EST:
        case O_FIN:
        case O_RB:
        case O_ABORT:
        case O_TCLEAN:
        case O_TINC:
        case O_TFIN: action = c; break;
        case O_OK: ok = true; break;
        case O_FAIL: ok = false; break;
        case O_RATE:
            rate = strtod(o.arg, NULL);
            if (rate <= 0)
                return usage("--rate takes MB/s, a positive number");
            break;
        case O_DOWN: {
            double s = strtod(o.arg, NULL);
            if (s <= 0)
                return usage("--downtime takes seconds, a positive number");
            mo.rule.downtime_s = s;
            mo.downtime_ms = (int)(s * 1000);
            break;
        }
        case 'v':
        case 'd': break;
        default: {
            char m[160];
            vm_opts_error(&o, c, m, sizeof m);
            return usage(m);
        }
        }
    }
    vm_err e = VM_ERR_INIT;
    if (action) {
        int u = one_uuid(&o, "this action");
        if (u)
            return u;
        const char *uuid = o.pos[0];
        int r;
        if (action == O_EST) {
            uint64_t bytes = 0;
            if (mig_send_size(ctx, uuid, NULL, &bytes, &e) < 0)
                return fail(&e);
            cleanup_json json_t *est = mig_estimate_json(bytes, rate, mo.mode == MIG_LIVE);
            print_json(est);
            return 0;
        }
        if (action == O_TINC) {
            cleanup_json json_t *socks = NULL;
            if (mig_target_incoming(ctx, uuid, &socks, &e) < 0)
                return fail(&e);
            print_json(socks);
            return 0;
        }
        r = action == O_TFIN    ? mig_target_finish(ctx, uuid, ok, &e)
            : action == O_FIN   ? mig_finalize(ctx, uuid, &e)
            : action == O_RB    ? mig_rollback(ctx, uuid, &e)
            : action == O_ABORT ? mig_abort(ctx, uuid, &e)
                                : mig_target_cleanup(ctx, uuid, &e);
        if (r < 0)
            return fail(&e);
        if (action != O_TCLEAN && action != O_TFIN)
            fprintf(stderr, "Successfully %s migration of VM %s\n",
                    action == O_FIN      ? "finalized"
                        : action == O_RB ? "rolled back"
                                         : "aborted",
                    uuid);
        return 0;
    }
    if (o.npos != 2 || !uuid_shape(o.pos[0]))
        return usage("Usage: migrate [-i | -a] [--live] [-D] [-n] [--json] <uuid> <[user@]host | root:<path>>");
    mo.event = print_event;
    mo.event_arg = &json;
    if (mig_migrate(ctx, o.pos[0], o.pos[1], &mo, &e) < 0)
        return fail(&e);
    if (mo.dry_run)
        fprintf(stderr, "VM %s can be migrated to %s\n", o.pos[0], o.pos[1]);
    else
        fprintf(stderr, "Successfully migrated VM %s to %s\n", o.pos[0], o.pos[1]);
    return 0;
}
