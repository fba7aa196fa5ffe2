/* imgadm: SmartOS imgadm(8) subset on top of lib/image. */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/ctx.h"
#include "common/util.h"
#include "image/image.h"
#include "vm/vmobj.h"

static const char usage_text[] =
    "Usage: imgadm <command> [options]\n"
    "\n"
    "Commands:\n"
    "  imgadm install -m <manifest> -f <file> [-P <pool>] [-q] [--allow-setuid]\n"
    "      Install an image from a manifest and its file.\n"
    "  imgadm list [-j] [-H] [-o field,...] [-P <pool>] [field=value ...]\n"
    "      List installed images (default columns: uuid,name,version,os,type,pub).\n"
    "  imgadm get [-P <pool>] <uuid>\n"
    "      Print an installed image's manifest.\n"
    "  imgadm delete [-P <pool>] <uuid>\n"
    "      Delete an installed image (refused while VMs use it).\n"
    "  imgadm create [-o <outdir>] [-c zstd|gzip|none] [-q] <vm uuid> name=<name> version=<version> [field=value ...]\n"
    "      Build an image (manifest + file) from a stopped VM's disk or zone root.\n"
    "  imgadm help\n";

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "imgadm: error: ");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n%s", usage_text);
    return 2;
}

static int fail(const vm_err *err)
{
    fprintf(stderr, "imgadm: error: %s\n", err->msg);
    return err->code == VMERR_USAGE ? 2 : 1;
}

/* ---- progress bar on a TTY ---- */

typedef struct bar {
    int on;
    char phase[16];
    int last_pct;
    int64_t last_ms;
    int drawn;
} bar;

static void human(uint64_t v, char out[16])
{
    const char *u = "BKMGT";
    double d = (double)v;
    int i = 0;
    while (d >= 1024 && i < 4) {
        d /= 1024;
        i++;
    }
    snprintf(out, 16, i ? "%.1f%c" : "%.0f%c", d, u[i]);
}

static void bar_cb(void *arg, const char *phase, uint64_t done, uint64_t total)
{
    bar *b = arg;
    if (!b->on)
        return;
    int pct = total ? (int)(done * 100 / total) : -1;
    int64_t now = now_ms();
    bool newphase = strcmp(b->phase, phase) != 0;
    if (!newphase && pct == b->last_pct && now - b->last_ms < 250)
        return;
    snprintf(b->phase, sizeof(b->phase), "%s", phase);
    b->last_pct = pct;
    b->last_ms = now;
    char d[16], t[16];
    human(done, d);
    if (total) {
        human(total, t);
        int fill = pct * 30 / 100;
        fprintf(stderr, "\r%-10s [%.*s%*s] %3d%% %s/%s\033[K", phase, fill,
                "##############################", 30 - fill, "", pct, d, t);
    } else {
        fprintf(stderr, "\r%-10s %s\033[K", phase, done ? d : "...");
    }
    b->drawn = 1;
}

static void bar_end(bar *b)
{
    if (b->on && b->drawn)
        fprintf(stderr, "\r\033[K");
}

/* ---- commands ---- */

static int cmd_install(vm_ctx *ctx, int argc, char **argv)
{
    const char *manifest = NULL, *file = NULL, *pool = NULL;
    int quiet = 0, flags = 0;
    static const struct option lo[] = { { "allow-setuid", no_argument, NULL, 'S' }, { 0, 0, 0, 0 } };
    int c;
    while ((c = getopt_long(argc, argv, "+m:f:P:qh", lo, NULL)) != -1) {
        switch (c) {
        case 'm': manifest = optarg; break;
        case 'f': file = optarg; break;
        case 'P': pool = optarg; break;
        case 'q': quiet = 1; break;
        case 'S': flags |= IMG_INSTALL_ALLOW_SETUID; break;
        case 'h': fputs(usage_text, stdout); return 0;
        default: return usage_error("%s", "bad option for install");
        }
    }
    if (!manifest || !file)
        return usage_error("%s", "install needs -m <manifest> and -f <file>");
    if (optind < argc)
        return usage_error("unexpected argument \"%s\"", argv[optind]);
    bar b = { .on = !quiet && isatty(2), .last_pct = -2 };
    img_install_opts o = { .progress = bar_cb, .progress_arg = &b, .flags = flags };
    vm_err err = VM_ERR_INIT;
    int rc = img_install(ctx, pool, manifest, file, &o, &err);
    bar_end(&b);
    if (rc < 0)
        return fail(&err);
    cleanup_json json_t *m = NULL;
    vm_err e2 = VM_ERR_INIT;
    if (read_json_file(manifest, &m, &e2) == 0 && !quiet)
        printf("Installed image %s (%s@%s)\n", json_string_value(json_object_get(m, "uuid")),
               json_string_value(json_object_get(m, "name")), json_string_value(json_object_get(m, "version")));
    return 0;
}

/* A manifest field by dotted path, as text ("" if absent). */
static char *field_text(json_t *m, const char *field)
{
    if (strcmp(field, "pub") == 0) {
        const char *p = json_string_value(json_object_get(m, "published_at"));
        return p ? xstrndup(p, 10) : xstrdup("-");
    }
    if (strcmp(field, "size") == 0)
        field = "files.0.size";
    cleanup_strv char **parts = strv_split(field, ".");
    json_t *v = m;
    for (size_t i = 0; parts[i] && v; i++) {
        char *end;
        long idx = strtol(parts[i], &end, 10);
        if (json_is_array(v) && *end == 0)
            v = json_array_get(v, (size_t)idx);
        else
            v = json_object_get(v, parts[i]);
    }
    if (!v || json_is_null(v))
        return xstrdup("-");
    if (json_is_string(v))
        return xstrdup(json_string_value(v));
    if (json_is_integer(v))
        return xasprintf("%lld", (long long)json_integer_value(v));
    if (json_is_true(v))
        return xstrdup("true");
    if (json_is_false(v))
        return xstrdup("false");
    return json_compact(v);
}

static int cmd_list(vm_ctx *ctx, int argc, char **argv)
{
    const char *pool = NULL, *fields = "uuid,name,version,os,type,pub";
    int as_json = 0, no_header = 0, c;
    while ((c = getopt(argc, argv, "+jHo:P:h")) != -1) {
        switch (c) {
        case 'j': as_json = 1; break;
        case 'H': no_header = 1; break;
        case 'o': fields = optarg; break;
        case 'P': pool = optarg; break;
        case 'h': fputs(usage_text, stdout); return 0;
        default: return usage_error("%s", "bad option for list");
        }
    }
    for (int i = optind; i < argc; i++)
        if (!strchr(argv[i], '=') || argv[i][0] == '=')
            return usage_error("filters are field=value, not \"%s\"", argv[i]);
    vm_err err = VM_ERR_INIT;
    cleanup_json json_t *all = NULL;
    if (img_list(ctx, pool, &all, &err) < 0)
        return fail(&err);
    cleanup_json json_t *sel = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(all, i, m) {
        bool ok = true;
        for (int k = optind; k < argc && ok; k++) {
            cleanup_free char *key = xstrndup(argv[k], (size_t)(strchr(argv[k], '=') - argv[k]));
            cleanup_free char *val = field_text(m, key);
            ok = strcmp(val, strchr(argv[k], '=') + 1) == 0;
        }
        if (ok)
            json_array_append(sel, m);
    }
    const char *pn = pool && *pool ? pool : ctx->pool;
    if (as_json) {
        cleanup_json json_t *out = json_array();
        json_array_foreach(sel, i, m)
            json_array_append_new(out, json_pack("{sOss}", "manifest", m, "zpool", pn));
        cleanup_free char *s = json_pretty(out);
        printf("%s\n", s);
        return 0;
    }
    cleanup_strv char **cols = strv_split(fields, ",");
    size_t nc = strv_len(cols), nr = json_array_size(sel);
    if (nc == 0)
        return usage_error("%s", "-o needs at least one field");
    char ***cells = xcalloc(nr + 1, sizeof(char **));
    size_t *w = xcalloc(nc, sizeof(size_t));
    cells[0] = xcalloc(nc, sizeof(char *));
    for (size_t k = 0; k < nc; k++) {
        cells[0][k] = xstrdup(cols[k]);
        for (char *p = cells[0][k]; *p; p++)
            *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
        if (!no_header)
            w[k] = strlen(cells[0][k]);
    }
    json_array_foreach(sel, i, m) {
        cells[i + 1] = xcalloc(nc, sizeof(char *));
        for (size_t k = 0; k < nc; k++) {
            cells[i + 1][k] = field_text(m, cols[k]);
            size_t l = strlen(cells[i + 1][k]);
            if (l > w[k])
                w[k] = l;
        }
    }
    for (size_t r = no_header ? 1 : 0; r <= nr; r++)
        for (size_t k = 0; k < nc; k++) {
            if (k + 1 < nc)
                printf("%-*s  ", (int)w[k], cells[r][k]);
            else
                printf("%s\n", cells[r][k]);
        }
    for (size_t r = 0; r <= nr; r++) {
        for (size_t k = 0; k < nc; k++)
            free(cells[r][k]);
        free(cells[r]);
    }
    free(cells);
    free(w);
    return 0;
}

static int pool_and_uuid(int argc, char **argv, const char *cmd, const char **pool, const char **uuid)
{
    int c;
    while ((c = getopt(argc, argv, "+P:h")) != -1) {
        switch (c) {
        case 'P': *pool = optarg; break;
        case 'h': fputs(usage_text, stdout); return 0;
        default: return usage_error("bad option for %s", cmd);
        }
    }
    if (optind + 1 != argc)
        return usage_error("%s needs exactly one image uuid", cmd);
    *uuid = argv[optind];
    return -1;
}

static int cmd_get(vm_ctx *ctx, int argc, char **argv)
{
    const char *pool = NULL, *uuid = NULL;
    int r = pool_and_uuid(argc, argv, "get", &pool, &uuid);
    if (r >= 0)
        return r;
    vm_err err = VM_ERR_INIT;
    cleanup_json json_t *m = NULL;
    if (img_get(ctx, pool, uuid, &m, &err) < 0)
        return fail(&err);
    cleanup_json json_t *out = json_pack("{sOss}", "manifest", m, "zpool", pool && *pool ? pool : ctx->pool);
    cleanup_free char *s = json_pretty(out);
    printf("%s\n", s);
    return 0;
}

static int cmd_delete(vm_ctx *ctx, int argc, char **argv)
{
    const char *pool = NULL, *uuid = NULL;
    int r = pool_and_uuid(argc, argv, "delete", &pool, &uuid);
    if (r >= 0)
        return r;
    vm_err err = VM_ERR_INIT;
    if (img_delete(ctx, pool, uuid, &err) < 0)
        return fail(&err);
    printf("Deleted image %s\n", uuid);
    return 0;
}

static int cmd_create(vm_ctx *ctx, int argc, char **argv)
{
    const char *outdir = ".", *comp = "zstd", *vmfile = NULL;
    int quiet = 0, c;
    static const struct option lo[] = { { "vmobj", required_argument, NULL, 'V' }, { 0, 0, 0, 0 } };
    while ((c = getopt_long(argc, argv, "+o:c:qh", lo, NULL)) != -1) {
        switch (c) {
        case 'o': outdir = optarg; break;
        case 'c': comp = optarg; break;
        case 'q': quiet = 1; break;
        case 'V': vmfile = optarg; break;
        case 'h': fputs(usage_text, stdout); return 0;
        default: return usage_error("%s", "bad option for create");
        }
    }
    if (optind >= argc)
        return usage_error("%s", "create needs a VM uuid");
    const char *vmuuid = argv[optind++];
    cleanup_json json_t *ov = json_object();
    for (int i = optind; i < argc; i++) {
        const char *eq = strchr(argv[i], '=');
        if (!eq || eq == argv[i])
            return usage_error("manifest fields are field=value, not \"%s\"", argv[i]);
        cleanup_free char *key = xstrndup(argv[i], (size_t)(eq - argv[i]));
        const char *val = eq + 1;
        if (strcmp(key, "public") == 0 || strcmp(key, "disabled") == 0) {
            if (strcmp(val, "true") && strcmp(val, "false"))
                return usage_error("%s must be true or false", key);
            json_object_set_new(ov, key, json_boolean(strcmp(val, "true") == 0));
        } else {
            json_object_set_new(ov, key, json_string(val));
        }
    }
    vm_err err = VM_ERR_INIT;
    if (!uuid_valid(vmuuid)) {
        vm_err_set(&err, VMERR_INVALID, "invalid uuid: \"%s\"", vmuuid);
        return fail(&err);
    }
    cleanup_json json_t *vm = NULL;
    if (vmfile) {
        if (read_json_file(vmfile, &vm, &err) < 0)
            return fail(&err);
    } else {
        if (vmobj_load(ctx, vmuuid, &vm, &err) < 0)
            return fail(&err);
    }
    bar b = { .on = !quiet && isatty(2), .last_pct = -2 };
    img_create_opts o = { .progress = bar_cb, .progress_arg = &b, .compression = comp };
    cleanup_json json_t *m = NULL;
    int rc = img_create(ctx, vm, ov, outdir, &o, &m, &err);
    bar_end(&b);
    if (rc < 0)
        return fail(&err);
    if (!quiet)
        printf("Created image %s (%s@%s) in %s\n", json_string_value(json_object_get(m, "uuid")),
               json_string_value(json_object_get(m, "name")),
               json_string_value(json_object_get(m, "version")), outdir);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage_error("%s", "no command given");
    const char *cmd = argv[1];
    if (!strcmp(cmd, "help") || !strcmp(cmd, "-h") || !strcmp(cmd, "--help")) {
        fputs(usage_text, stdout);
        return 0;
    }
    static const struct { const char *name; int (*fn)(vm_ctx *, int, char **); } cmds[] = {
        { "install", cmd_install }, { "list", cmd_list }, { "get", cmd_get },
        { "delete", cmd_delete }, { "create", cmd_create },
    };
    for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        if (strcmp(cmd, cmds[i].name) != 0)
            continue;
        vm_ctx ctx;
        vm_err err = VM_ERR_INIT;
        if (vm_ctx_init(&ctx, &err) < 0)
            return fail(&err);
        optind = 1;
        int rc = cmds[i].fn(&ctx, argc - 1, argv + 1);
        vm_ctx_free(&ctx);
        return rc;
    }
    return usage_error("unknown command \"%s\"", cmd);
}
