/* hvtool: drives lib/hv directly (no VM store) for the real-QEMU tests and
 * the start benchmark.  VM objects come from a JSON file whose disks carry
 * plain file paths.
 *
 *   hvtool start VM.json          hvtool argv VM.json [kvm|tcg]
 *   hvtool stop UUID [-F] [-t S]  hvtool runstate UUID
 *   hvtool kill UUID [SIGNUM]     hvtool info UUID [TYPE...]
 *   hvtool sysrq UUID TYPE        hvtool resize UUID DISK BYTES
 *   hvtool qmp UUID JSON          hvtool console UUID
 *   hvtool accel
 *
 * Disks of hand-made VMs are plain files outside any pool, which lib/hv
 * refuses unless the operator allow-lists their directories: `start`
 * writes $VMADM_ROOT/etc/hvm-paths.allow with the directory of each disk
 * (as an operator would) when that file does not exist yet; a test that
 * wants the refusal creates the file first. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ctx.h"
#include "common/util.h"
#include "hv/hv.h"

static int usage(void)
{
    fprintf(stderr, "usage: hvtool start|argv|stop|runstate|kill|info|sysrq|resize|qmp|console|accel ...\n");
    return 2;
}

static int print_json(json_t *j)
{
    cleanup_free char *s = json_pretty(j);
    printf("%s\n", s);
    return 0;
}

static void allow_disk_dirs(const vm_ctx *ctx, json_t *vm)
{
    cleanup_free char *file = xasprintf("%s/etc/hvm-paths.allow", ctx->root);
    if (path_exists(file))
        return;
    cleanup_free char *text = xstrdup("");
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(vm, "disks"), i, d) {
        const char *p = json_string_value(json_object_get(d, "path"));
        const char *slash = p ? strrchr(p, '/') : NULL;
        if (!slash || slash == p)
            continue;
        char *t = xasprintf("%s%.*s\n", text, (int)(slash - p), p);
        free(text);
        text = t;
    }
    cleanup_free char *dir = xasprintf("%s/etc", ctx->root);
    vm_err e = VM_ERR_INIT;
    if (mkdir_p(dir, 0755, &e) == 0)
        (void)write_file_atomic(file, text, strlen(text), 0644, &e);
}

static int run(vm_ctx *ctx, int argc, char **argv, vm_err *err)
{
    const char *cmd = argv[1];
    if (!strcmp(cmd, "accel")) {
        char a[8], w[256];
        if (hv_accel(ctx, a, w, err) < 0)
            return -1;
        printf("%s\n%s%s", a, w, *w ? "\n" : "");
        return 0;
    }
    if (argc < 3)
        return vm_err_set(err, VMERR_USAGE, "missing argument");
    if (!strcmp(cmd, "start") || !strcmp(cmd, "argv")) {
        cleanup_json json_t *vm = NULL;
        if (read_json_file(argv[2], &vm, err) < 0)
            return -1;
        if (!strcmp(cmd, "start")) {
            allow_disk_dirs(ctx, vm);
            return hv_start(ctx, NULL, vm, err);
        }
        cleanup_strv char **av = NULL;
        if (hv_build_argv(ctx, NULL, vm, argc > 3 ? argv[3] : "tcg", &av, err) < 0)
            return -1;
        for (char **a = av; *a; a++)
            printf("%s\n", *a);
        return 0;
    }
    const char *uuid = argv[2];
    if (!strcmp(cmd, "stop")) {
        int force = 0, t = 180;
        for (int i = 3; i < argc; i++) {
            if (!strcmp(argv[i], "-F"))
                force = 1;
            else if (!strcmp(argv[i], "-t") && i + 1 < argc)
                t = atoi(argv[++i]);
        }
        return hv_stop(ctx, uuid, force, t, err);
    }
    if (!strcmp(cmd, "runstate")) {
        vm_runstate rs;
        hv_runstate(ctx, uuid, &rs);
        cleanup_json json_t *j =
            json_pack("{s:b,s:s,s:i,s:I,s:b,s:i,s:I,s:s,s:s}", "running", rs.running, "zone_state", rs.zone_state,
                      "pid", rs.pid, "boot_ms", (json_int_t)rs.boot_ms, "has_exit", rs.has_exit, "exit_status",
                      rs.exit_status, "exit_ms", (json_int_t)rs.exit_ms, "accel", rs.accel, "warning", rs.warning);
        return print_json(j);
    }
    if (!strcmp(cmd, "kill"))
        return hv_kill(ctx, uuid, argc > 3 ? atoi(argv[3]) : SIGTERM, err);
    if (!strcmp(cmd, "info")) {
        cleanup_json json_t *out = NULL;
        if (hv_info(ctx, uuid, argc > 3 ? argv + 3 : NULL, &out, err) < 0)
            return -1;
        return print_json(out);
    }
    if (!strcmp(cmd, "sysrq") && argc > 3) {
        cleanup_json json_t *out = NULL;
        if (hv_sysrq(ctx, uuid, argv[3], &out, err) < 0)
            return -1;
        return print_json(out);
    }
    if (!strcmp(cmd, "resize") && argc > 4)
        return hv_block_resize(ctx, uuid, argv[3], strtoull(argv[4], NULL, 10), err);
    if (!strcmp(cmd, "qmp") && argc > 3) {
        cleanup_json json_t *c = json_loads(argv[3], 0, NULL);
        cleanup_json json_t *r = NULL;
        if (!c)
            return vm_err_set(err, VMERR_USAGE, "bad JSON");
        if (hv_qmp_command(ctx, uuid, c, &r, err) < 0)
            return -1;
        return print_json(r);
    }
    if (!strcmp(cmd, "console"))
        return hv_console(ctx, uuid, err);
    return vm_err_set(err, VMERR_USAGE, "unknown command %s", cmd);
}

int main(int argc, char **argv)
{
    vm_ctx ctx;
    vm_err err = VM_ERR_INIT;
    if (argc < 2)
        return usage();
    if (vm_ctx_init(&ctx, &err) < 0) {
        fprintf(stderr, "hvtool: %s\n", err.msg);
        return 1;
    }
    int rc = run(&ctx, argc, argv, &err);
    vm_ctx_free(&ctx);
    if (rc < 0) {
        fprintf(stderr, "hvtool: %s\n", err.msg);
        return err.code == VMERR_USAGE ? 2 : 1;
    }
    return 0;
}
