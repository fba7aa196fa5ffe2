/* vmadm: argument parsing, payload reading, output formatting and exit
 * codes.  Everything else is in lib/vm. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/ctx.h"
#include "common/util.h"
#include "ct/ct.h"
#include "hv/hv.h"
#include "vm/list.h"
#include "vm/select.h"
#include "vm/props.h"
#include "vm/store.h"
#include "vm/sync.h"
#include "vm/vm.h"
#include "vm/vmobj.h"
#include "vminfo/vminfo_client.h"

#define MAX_PAYLOAD (16 * 1024 * 1024)
#define SYNC_TIMEOUT_MS 60000 /* VMINFOD_TIMEOUT (seconds) overrides */

static const char *prog = "vmadm";

static void usage_text(FILE *f)
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
            "\n"
            "For more detailed information on the use of this command,type 'man vmadm'.\n",
            prog);
}

static int usage(const char *msg)
{
    if (msg)
        fprintf(stderr, "%s\n", msg);
    usage_text(stderr);
    return 2;
}

static int fail(const vm_err *e)
{
    fprintf(stderr, "%s\n", e->msg);
    return e->code == VMERR_USAGE ? 2 : 1;
}

/* Arguments split into options (with their values) and positionals; options
 * may come before or after positionals (C8). */
typedef struct args {
    char *pos[64];
    int npos;
    const char *f;    /* -f */
    const char *o;    /* -o */
    const char *s;    /* -s */
    const char *t;    /* -t */
    const char *sig;  /* kill -s */
    bool p, H, h, j, one, F, r, full;
} args;

static int parse_args(int argc, char **argv, int start, const char *valopts, const char *flagopts, args *a)
{
    memset(a, 0, sizeof *a);
    for (int i = start; i < argc; i++) {
        char *x = argv[i];
        if (x[0] == '-' && x[1] && !x[2] && strchr(valopts, x[1])) {
            if (i + 1 >= argc)
                return -1;
            const char *v = argv[++i];
            switch (x[1]) {
            case 'f': a->f = v; break;
            case 'o': a->o = v; break;
            case 's': a->s = v; break;
            case 't': a->t = v; break;
            }
            continue;
        }
        if (x[0] == '-' && x[1] && x[1] != '-' && strspn(x + 1, flagopts) == strlen(x + 1)) {
            for (char *c = x + 1; *c; c++) {
                switch (*c) {
                case 'p': a->p = true; break;
                case 'H': a->H = true; break;
                case 'h': a->h = true; break;
                case 'j': a->j = true; break;
                case '1': a->one = true; break;
                case 'F': a->F = true; break;
                case 'r': a->r = true; break;
                case 'f': a->full = true; break;
                case 'v': case 'd': break; /* accepted, no effect (C8) */
                }
            }
            continue;
        }
        if (!strcmp(x, "--verbose") || !strcmp(x, "--debug"))
            continue;
        if (a->npos < 64)
            a->pos[a->npos++] = x;
    }
    return 0;
}

/* Reads and parses a payload (C10, C11).  "huge", deep, non-UTF-8 and empty
 * inputs each get one line. */
static int read_payload(const char *file, const char *tty_msg, json_t **out)
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

static int need_uuid(args *a, const char *cmd)
{
    if (a->npos < 1 || !uuid_shape(a->pos[0])) {
        char m[128];
        snprintf(m, sizeof m, "Invalid or missing UUID for %s", cmd);
        return usage(m);
    }
    return 0;
}

static void print_json(json_t *j)
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

static int sync_after(vm_sync *s, const char *uuid)
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

static vm_sync *sync_open(const vm_ctx *ctx, const char *what, const char *uuid)
{
    char name[128];
    snprintf(name, sizeof name, "VM.js %s (%s)", what, uuid ? uuid : "-");
    return vm_sync_begin(ctx, name, uuid);
}

/* The tail every mutating command shares: on failure the message (after
 * the command's prefix) and exit 1 — 0 for SmartOS's "already" no-ops; on
 * success wait until vminfod shows the change, then the success line. */
static int write_done(vm_sync *s, const char *uuid, int r, const vm_err *e, const char *fail_prefix,
                      const char *ok_msg)
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

/* ---------------- commands ---------------- */

static int cmd_create(const vm_ctx *ctx, args *a)
{
    json_t *payload = NULL;
    int r = read_payload(a->f, "Will not create from stdin when stdin is a tty.", &payload);
    if (r)
        return r;
    vm_err e = VM_ERR_INIT;
    char uuid[37];
    vm_sync *s = sync_open(ctx, "create", NULL);
    r = vm_create(ctx, payload, uuid, &e);
    json_decref(payload);
    if (r < 0) {
        vm_sync_end(s);
        return fail(&e);
    }
    if (sync_after(s, uuid))
        return 1;
    fprintf(stderr, "Successfully created VM %s\n", uuid);
    return 0;
}

static int cmd_get(const vm_ctx *ctx, args *a)
{
    int r = need_uuid(a, "get");
    if (r)
        return r;
    json_t *o = NULL;
    vm_err e = VM_ERR_INIT;
    if (vm_select_load_one(ctx, a->pos[0], &o, &e) < 0) {
        if (e.code == VMERR_NOTFOUND)
            fprintf(stderr, "zoneadm: %s: No such zone configured\n", a->pos[0]);
        else
            fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    print_json(o);
    json_decref(o);
    return 0;
}

/* The filters of list/lookup: every positional argument (at most 64). */
static char **positional_filters(args *a, char **filters)
{
    for (int i = 0; i < a->npos && i < 64; i++)
        filters[i] = a->pos[i];
    return filters;
}

static int cmd_list(const vm_ctx *ctx, args *a)
{
    vm_err e = VM_ERR_INIT;
    char *filters[65] = { 0 };
    cleanup_strv char **cols = vm_list_columns(a->o, a->s);
    vm_table *t = vm_select_rows(ctx, (const char *const *)cols, positional_filters(a, filters), "filter", &e);
    if (!t)
        return fail(&e);
    vm_list_opts o = { a->o, a->s, a->p, a->H ? 0 : (a->h ? 1 : -1) };
    cleanup_free char *out = vm_list_render_table(t, &o, &e);
    vm_table_free(t);
    if (!out)
        return fail(&e);
    fputs(out, stdout);
    return 0;
}

static int lookup_uuids(const vm_ctx *ctx, args *a, char **filters)
{
    vm_err e = VM_ERR_INIT;
    static const char *const cols[] = { "uuid", NULL };
    vm_table *t = vm_select_rows(ctx, cols, filters, "lookup", &e);
    if (!t)
        return fail(&e);
    size_t n = vm_table_nrows(t);
    int r = 0;
    if (a->one && n != 1) {
        fprintf(stderr, "Requested unique lookup but found %zu results.\n", n);
        r = 1;
    } else {
        int uc = vm_table_col(t, "uuid");
        for (size_t i = 0; i < n; i++)
            printf("%s\n", vm_table_cell(t, i, (size_t)uc)->text);
    }
    vm_table_free(t);
    return r;
}

static int cmd_lookup(const vm_ctx *ctx, args *a)
{
    vm_err e = VM_ERR_INIT;
    char *filters[65] = { 0 };
    if (a->o && !a->j) {
        fprintf(stderr, "Cannot specify -o without -j\n");
        return 1;
    }
    if (!a->j)
        return lookup_uuids(ctx, a, positional_filters(a, filters));
    cleanup_json json_t *sel = vm_select_objects(ctx, positional_filters(a, filters), "lookup", &e);
    if (!sel)
        return fail(&e);
    size_t i;
    json_t *vm;
    if (a->one && json_array_size(sel) != 1) {
        fprintf(stderr, "Requested unique lookup but found %zu results.\n", json_array_size(sel));
        return 1;
    }
    if (a->o) {
        cleanup_strv char **keys = strv_split(a->o, ",");
        json_t *red = json_array();
        json_array_foreach(sel, i, vm) {
            json_t *x = json_object();
            for (size_t k = 0; keys[k]; k++)
                if (json_object_get(vm, keys[k]))
                    json_object_set(x, keys[k], json_object_get(vm, keys[k]));
            if (json_object_size(x))
                json_array_append_new(red, x);
            else
                json_decref(x);
        }
        print_json(red);
        json_decref(red);
        return 0;
    }
    print_json(sel);
    return 0;
}

static json_t *keyvalue_payload(args *a)
{
    json_t *p = json_object();
    for (int i = 1; i < a->npos; i++) {
        char *eq = strchr(a->pos[i], '=');
        if (!eq)
            json_object_set_new(p, a->pos[i], json_string(""));
        else {
            cleanup_free char *k = xstrndup(a->pos[i], (size_t)(eq - a->pos[i]));
            json_object_set_new(p, k, json_string(eq + 1));
        }
    }
    return p;
}

static int cmd_update(const vm_ctx *ctx, args *a)
{
    int r = need_uuid(a, "update");
    if (r)
        return r;
    json_t *payload = NULL;
    if (a->npos > 1)
        payload = keyvalue_payload(a);
    else if ((r = read_payload(a->f, "Will not update from stdin when stdin is a tty.", &payload)))
        return r;
    vm_err e = VM_ERR_INIT;
    vm_sync *s = sync_open(ctx, "update", a->pos[0]);
    r = vm_update(ctx, a->pos[0], payload, &e);
    json_decref(payload);
    return write_done(s, a->pos[0], r, &e, NULL, "Successfully updated VM");
}

static int cmd_delete(const vm_ctx *ctx, args *a)
{
    int r = need_uuid(a, "delete");
    if (r)
        return r;
    vm_err e = VM_ERR_INIT;
    vm_sync *s = sync_open(ctx, "delete", a->pos[0]);
    r = vm_delete(ctx, a->pos[0], &e);
    return write_done(s, a->pos[0], r, &e, "Failed to delete VM", "Successfully deleted VM");
}

static int cmd_validate(const vm_ctx *ctx, args *a)
{
    json_t *payload = NULL;
    if (a->npos < 1 || (strcmp(a->pos[0], "create") && strcmp(a->pos[0], "update")))
        return usage("Will not validate without a valid action.");
    if (!strcmp(a->pos[0], "update") && a->npos != 2)
        return usage("Will not validate without a valid action and brand.");
    int r = read_payload(a->f, "Will not validate from stdin when stdin is a tty.", &payload);
    if (r)
        return r;
    cleanup_free char *brand = xstrdup(!strcmp(a->pos[0], "update") ? a->pos[1]
                                       : json_string_value(json_object_get(payload, "brand")));
    json_t *res = vm_validate_payload(ctx, a->pos[0], brand, payload);
    json_decref(payload);
    if (!res) {
        fprintf(stderr, "VALID '%s' payload for %s brand VMs.\n", a->pos[0], brand);
        return 0;
    }
    cleanup_free char *s = json_pretty(res);
    fprintf(stderr, "%s\n", s);
    json_decref(res);
    return 1;
}

static int cmd_start(const vm_ctx *ctx, args *a)
{
    int r = need_uuid(a, "start");
    if (r)
        return r;
    for (int i = 1; i < a->npos; i++) {
        cleanup_free char *k = strchr(a->pos[i], '=') ? xstrndup(a->pos[i], (size_t)(strchr(a->pos[i], '=') - a->pos[i]))
                                                      : xstrdup(a->pos[i]);
        char m[256];
        snprintf(m, sizeof m, "Invalid argument to start: %s", k);
        return usage(m);
    }
    vm_err e = VM_ERR_INIT;
    vm_sync *s = sync_open(ctx, "start", a->pos[0]);
    r = vm_start(ctx, a->pos[0], &e);
    return write_done(s, a->pos[0], r, &e, "Unable to start VM", "Successfully started VM");
}

static int cmd_stop(const vm_ctx *ctx, args *a, const char *cmd)
{
    int r = need_uuid(a, "stop");
    (void)cmd;
    if (r)
        return r;
    int64_t t = 0;
    if (a->t && (!parse_i64(a->t, &t) || t <= 0))
        return usage("Invalid timeout");
    vm_err e = VM_ERR_INIT;
    vm_sync *s = sync_open(ctx, "stop", a->pos[0]);
    r = vm_stop(ctx, a->pos[0], a->F, (int)t, &e);
    return write_done(s, a->pos[0], r, &e, NULL, "Successfully completed stop for VM");
}

static int cmd_reboot(const vm_ctx *ctx, args *a)
{
    int r = need_uuid(a, "reboot");
    if (r)
        return r;
    vm_err e = VM_ERR_INIT;
    vm_sync *s = sync_open(ctx, "reboot", a->pos[0]);
    r = vm_reboot(ctx, a->pos[0], a->F, &e);
    return write_done(s, a->pos[0], r, &e, NULL, "Successfully completed reboot for VM");
}

static int parse_signal(const char *s)
{
    static const struct { const char *n; int v; } sigs[] = {
        { "HUP", SIGHUP }, { "INT", SIGINT }, { "QUIT", SIGQUIT }, { "KILL", SIGKILL }, { "USR1", SIGUSR1 },
        { "USR2", SIGUSR2 }, { "TERM", SIGTERM }, { "STOP", SIGSTOP }, { "CONT", SIGCONT }, { "PWR", SIGPWR },
        { NULL, 0 } };
    if (str_has_prefix(s, "SIG"))
        s += 3;
    for (size_t i = 0; sigs[i].n; i++)
        if (!strcasecmp(sigs[i].n, s))
            return sigs[i].v;
    int64_t n;
    return parse_i64(s, &n) && n > 0 && n < 65 ? (int)n : -1;
}

static int cmd_kill(const vm_ctx *ctx, int argc, char **argv)
{
    const char *sig = "SIGTERM";
    const char *uuid = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "-s") && i + 1 < argc)
            sig = argv[++i];
        else if (argv[i][0] == '-' && argv[i][1])
            sig = argv[i] + 1;
        else if (!uuid)
            uuid = argv[i];
        else
            return usage("Too many arguments.");
    }
    if (!uuid || !uuid_shape(uuid))
        return usage("Invalid or missing argument UUID");
    int s = parse_signal(sig);
    if (s < 0)
        return usage("Invalid signal");
    vm_err e = VM_ERR_INIT;
    if (vm_kill(ctx, uuid, s, &e) < 0)
        return fail(&e);
    fprintf(stderr, "Sent signal \"%s\" to init process for VM %s\n", sig, uuid);
    return 0;
}

static int brand_of(const vm_ctx *ctx, const char *uuid, json_t **obj, vm_err *e)
{
    return vmobj_load(ctx, uuid, obj, e);
}

static int cmd_info(const vm_ctx *ctx, args *a)
{
    int r = need_uuid(a, "info");
    if (r)
        return r;
    cleanup_json json_t *obj = NULL, *out = NULL;
    vm_err e = VM_ERR_INIT;
    if (brand_of(ctx, a->pos[0], &obj, &e) < 0) {
        fprintf(stderr, "Unable to get VM info for VM %s: %s\n", a->pos[0], e.msg);
        return 1;
    }
    const char *brand = json_string_value(json_object_get(obj, "brand"));
    const char *state = json_string_value(json_object_get(obj, "state"));
    if (!vm_brand_is_hvm(brand)) {
        fprintf(stderr, "Unable to get VM info for VM %s: no info types supported for brand %s\n", a->pos[0], brand);
        return 1;
    }
    if (strcmp(state, "running") && strcmp(state, "stopping")) {
        fprintf(stderr, "Unable to get VM info for VM %s: Unable to get info for vm from state \"%s\", must be \"running\" or \"stopping\".\n",
                a->pos[0], state);
        return 1;
    }
    char *types[64] = { 0 };
    int nt = 0;
    char **split[64] = { 0 };
    for (int i = 1; i < a->npos && nt < 60; i++) {
        split[i] = strv_split(a->pos[i], ", ");
        for (size_t k = 0; split[i][k] && nt < 60; k++)
            types[nt++] = split[i][k];
    }
    r = hv_info(ctx, a->pos[0], nt ? types : NULL, &out, &e);
    for (int i = 0; i < 64; i++)
        strv_free(split[i]);
    if (r < 0) {
        fprintf(stderr, "Unable to get VM info for VM %s: %s\n", a->pos[0], e.msg);
        return 1;
    }
    print_json(out);
    return 0;
}

static int cmd_sysrq(const vm_ctx *ctx, args *a)
{
    if (a->npos != 2)
        return usage("Wrong number of parameters to \"sysrq\"");
    if (strcmp(a->pos[1], "nmi") && strcmp(a->pos[1], "screenshot")) {
        char m[128];
        snprintf(m, sizeof m, "Invalid sysrq type: %s", a->pos[1]);
        return usage(m);
    }
    int r = need_uuid(a, "sysrq");
    if (r)
        return r;
    cleanup_json json_t *out = NULL;
    vm_err e = VM_ERR_INIT;
    if (hv_sysrq(ctx, a->pos[0], a->pos[1], &out, &e) < 0)
        return fail(&e);
    if (!strcmp(a->pos[1], "nmi"))
        fprintf(stderr, "Sent NMI to VM %s\n", a->pos[0]);
    else {
        if (out)
            print_json(out);
        fprintf(stderr, "Sent %s sysrq to VM %s\n", a->pos[1], a->pos[0]);
    }
    return 0;
}

static int cmd_console(const vm_ctx *ctx, args *a)
{
    int r = need_uuid(a, "console");
    if (r)
        return r;
    cleanup_json json_t *obj = NULL;
    vm_err e = VM_ERR_INIT;
    if (vmobj_load(ctx, a->pos[0], &obj, &e) < 0)
        return fail(&e);
    const char *state = json_string_value(json_object_get(obj, "state"));
    if (strcmp(state, "running")) {
        fprintf(stderr, "cannot connect to console when state is \"%s\" must be \"running\".\n", state);
        return 1;
    }
    const char *brand = json_string_value(json_object_get(obj, "brand"));
    r = vm_brand_is_hvm(brand) ? hv_console(ctx, a->pos[0], &e) : ct_console(ctx, a->pos[0], &e);
    return r < 0 ? fail(&e) : 0;
}

static int cmd_login(const vm_ctx *ctx, int argc, char **argv)
{
    if (argc < 3 || !uuid_shape(argv[2]))
        return usage("Invalid or missing UUID for login");
    const char *uuid = argv[2];
    cleanup_json json_t *obj = NULL;
    vm_err e = VM_ERR_INIT;
    if (vmobj_load(ctx, uuid, &obj, &e) < 0)
        return fail(&e);
    const char *brand = json_string_value(json_object_get(obj, "brand"));
    const char *state = json_string_value(json_object_get(obj, "state"));
    if (vm_brand_is_hvm(brand)) {
        fprintf(stderr, "login is only supported for container brands; use vmadm console for %s VMs\n", brand);
        return 1;
    }
    if (strcmp(state, "running")) {
        fprintf(stderr, "cannot login when state is \"%s\" must be \"running\".\n", state);
        return 1;
    }
    int status = 0;
    if (ct_login(ctx, uuid, argc > 3 ? argv + 3 : NULL, &status, &e) < 0)
        return fail(&e);
    return status;
}

static int cmd_reprovision(const vm_ctx *ctx, args *a)
{
    int r = need_uuid(a, "reprovision");
    if (r)
        return r;
    json_t *payload = NULL;
    if ((r = read_payload(a->f, "Will not take payload from stdin when stdin is a tty.", &payload)))
        return r;
    vm_err e = VM_ERR_INIT;
    vm_sync *s = sync_open(ctx, "reprovision", a->pos[0]);
    r = vm_reprovision(ctx, a->pos[0], payload, &e);
    json_decref(payload);
    if (r < 0 && e.code == VMERR_ALREADY)
        e.code = VMERR_INVALID; /* a reprovision error is never a no-op */
    return write_done(s, a->pos[0], r, &e, "Failed to reprovision VM", "Successfully reprovisioned VM");
}

static int cmd_events(const vm_ctx *ctx, args *a)
{
    const char *uuid = a->npos > 0 && uuid_shape(a->pos[0]) ? a->pos[0] : NULL;
    vm_err e = VM_ERR_INIT;
    vminfo_stream *s = NULL;
    if (!vminfo_client_available(ctx)) {
        fprintf(stderr, "vminfod is not running (start it with: vminfod)\n");
        return 1;
    }
    if (vminfo_stream_open(ctx, "vmadm events", &s, NULL, &e) < 0)
        return fail(&e);
    if (uuid && !vminfo_stream_vm(s, uuid)) {
        vminfo_stream_close(s);
        fprintf(stderr, "VM %s not found\n", uuid);
        return 1;
    }
    int flags = (a->full ? 1 : 0) | (a->j ? 2 : 0);
    if (a->r) {
        cleanup_free char *line = vminfo_format_event(vminfo_stream_ready_event(s), flags);
        if (line)
            fputs(line, stdout);
        fflush(stdout);
    }
    for (;;) {
        json_t *ev = NULL;
        int r = vminfo_stream_next(s, &ev, -1, &e);
        if (r < 0) {
            vminfo_stream_close(s);
            return fail(&e);
        }
        if (r == 0)
            continue;
        const char *eu = json_string_value(json_object_get(ev, "uuid"));
        if (!uuid || (eu && !strcmp(eu, uuid))) {
            cleanup_free char *line = vminfo_format_event(ev, flags);
            if (line)
                fputs(line, stdout);
            fflush(stdout);
        }
        json_decref(ev);
    }
}

static int cmd_disks(const vm_ctx *ctx, args *a)
{
    int r = need_uuid(a, "disks");
    if (r)
        return r;
    cleanup_json json_t *v = NULL;
    vm_err e = VM_ERR_INIT;
    if (vm_disk_view(ctx, a->pos[0], &v, &e) < 0)
        return fail(&e);
    if (!a->H && !a->o) {
        print_json(v);
        return 0;
    }
    /* Table: one row per disk, like `vmadm list` (-H: no header). */
    const char *cols = a->o ? a->o : "slot,boot,image,size,snapshot_size,pci_slot";
    cleanup_strv char **c = strv_split(cols, ",");
    if (!a->H) {
        cleanup_free char *hl = xstrdup("");
        for (size_t k = 0; c[k]; k++) {
            cleanup_free char *h = xstrdup(c[k]);
            for (char *p = h; *p; p++)
                *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
            char *n = xasprintf("%s%s%-*s", hl, k ? "  " : "", !strcmp(c[k], "image") ? 36 : 13, h);
            free(hl);
            hl = n;
        }
        size_t l = strlen(hl);
        while (l && hl[l - 1] == ' ')
            hl[--l] = '\0';
        printf("%s\n", hl);
    }
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(v, "disks"), i, d) {
        cleanup_free char *line = xstrdup("");
        for (size_t k = 0; c[k]; k++) {
            json_t *x = json_object_get(d, c[k]);
            if (!x)
                x = json_object_get(v, c[k]);
            if (!x && !strstr("slot,boot,image,size,snapshot_size,pci_slot,uuid,model,media,total_space,free_space", c[k])) {
                fprintf(stderr, "invalid field: %s\n", c[k]);
                return 1;
            }
            cleanup_free char *s = vm_list_cell(x);
            char *n = xasprintf("%s%s%-*s", line, k ? "  " : "", !strcmp(c[k], "image") ? 36 : 13, s ? s : "-");
            free(line);
            line = n;
        }
        size_t l = strlen(line);
        while (l && line[l - 1] == ' ')
            line[--l] = '\0';
        printf("%s\n", line);
    }
    return 0;
}

static int cmd_snapshot(const vm_ctx *ctx, args *a, const char *cmd)
{
    if (a->npos != 2) {
        char m[128];
        snprintf(m, sizeof m, "Wrong number of parameters to \"%s\"", cmd);
        return usage(m);
    }
    int r = need_uuid(a, cmd);
    if (r)
        return r;
    vm_err e = VM_ERR_INIT;
    const char *u = a->pos[0], *n = a->pos[1];
    vm_sync *s = sync_open(ctx, cmd, u);
    cleanup_free char *ok = NULL;
    /* Snapshot names may contain '%': double it for the message format. */
    char esc[160];
    size_t k = 0;
    for (const char *p = n; *p && k + 2 < sizeof esc; p++) {
        if (*p == '%')
            esc[k++] = '%';
        esc[k++] = *p;
    }
    esc[k] = '\0';
    if (!strcmp(cmd, "create-snapshot")) {
        r = vm_snapshot_create(ctx, u, n, &e);
        ok = xasprintf("Created snapshot %s for VM", esc);
    } else if (!strcmp(cmd, "delete-snapshot")) {
        r = vm_snapshot_delete(ctx, u, n, &e);
        ok = xasprintf("Deleted snapshot %s for VM", esc);
    } else {
        r = vm_snapshot_rollback(ctx, u, n, 0, &e);
        ok = xasprintf("Rolled back snapshot %s for VM", esc);
    }
    return write_done(s, u, r, &e, NULL, ok);
}

static int cmd_boot_all(const vm_ctx *ctx)
{
    cleanup_json json_t *rep = NULL;
    vm_err e = VM_ERR_INIT;
    if (vm_boot_all(ctx, &rep, &e) < 0)
        return fail(&e);
    size_t i, bad = 0;
    json_t *x;
    json_array_foreach(rep, i, x) {
        const char *u = json_string_value(json_object_get(x, "uuid"));
        if (json_is_true(json_object_get(x, "ok")))
            fprintf(stderr, "Successfully started VM %s\n", u);
        else {
            fprintf(stderr, "Unable to start VM %s: %s\n", u, json_string_value(json_object_get(x, "error")));
            bad++;
        }
    }
    return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
    vm_ctx ctx;
    vm_err e = VM_ERR_INIT;
    args a;

    if (argc < 2)
        return usage(NULL);
    const char *cmd = argv[1];
    if (!strcmp(cmd, "help") || !strcmp(cmd, "-h") || !strcmp(cmd, "-?") || !strcmp(cmd, "--help")) {
        usage_text(stdout);
        return 0;
    }
    if (vm_ctx_init(&ctx, &e) < 0)
        return fail(&e);
    int r;
    if (!strcmp(cmd, "kill"))
        r = cmd_kill(&ctx, argc, argv);
    else if (!strcmp(cmd, "login"))
        r = cmd_login(&ctx, argc, argv);
    else if (parse_args(argc, argv, 2, !strcmp(cmd, "events") ? "" : "fost", "pHhj1FrfvdF", &a) < 0)
        r = usage("Option requires an argument");
    else if (!strcmp(cmd, "create"))
        r = cmd_create(&ctx, &a);
    else if (!strcmp(cmd, "get") || !strcmp(cmd, "json"))
        r = cmd_get(&ctx, &a);
    else if (!strcmp(cmd, "list"))
        r = cmd_list(&ctx, &a);
    else if (!strcmp(cmd, "lookup"))
        r = cmd_lookup(&ctx, &a);
    else if (!strcmp(cmd, "update"))
        r = cmd_update(&ctx, &a);
    else if (!strcmp(cmd, "delete") || !strcmp(cmd, "destroy"))
        r = cmd_delete(&ctx, &a);
    else if (!strcmp(cmd, "validate"))
        r = cmd_validate(&ctx, &a);
    else if (!strcmp(cmd, "start") || !strcmp(cmd, "boot"))
        r = cmd_start(&ctx, &a);
    else if (!strcmp(cmd, "stop") || !strcmp(cmd, "halt"))
        r = cmd_stop(&ctx, &a, cmd);
    else if (!strcmp(cmd, "reboot"))
        r = cmd_reboot(&ctx, &a);
    else if (!strcmp(cmd, "info"))
        r = cmd_info(&ctx, &a);
    else if (!strcmp(cmd, "sysrq"))
        r = cmd_sysrq(&ctx, &a);
    else if (!strcmp(cmd, "console"))
        r = cmd_console(&ctx, &a);
    else if (!strcmp(cmd, "reprovision"))
        r = cmd_reprovision(&ctx, &a);
    else if (!strcmp(cmd, "events"))
        r = cmd_events(&ctx, &a);
    else if (!strcmp(cmd, "create-snapshot") || !strcmp(cmd, "delete-snapshot") ||
             !strcmp(cmd, "rollback-snapshot"))
        r = cmd_snapshot(&ctx, &a, cmd);
    else if (!strcmp(cmd, "disks"))
        r = cmd_disks(&ctx, &a);
    else if (!strcmp(cmd, "boot-all"))
        r = cmd_boot_all(&ctx);
    else {
        char m[256];
        snprintf(m, sizeof m, "Invalid command: \"%s\".", cmd);
        r = usage(m);
    }
    vm_ctx_free(&ctx);
    return r;
}
