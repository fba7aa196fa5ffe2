/* The fake runtime: lib/vm's lifecycle, update, snapshot and reprovision
 * logic without QEMU or LXC, for unit tests (the e2e tests are the proof
 * that the real runtimes work).  State lives in run/vms/<uuid>/fake-state
 * so that forked callers (boot-all) share it; each call appends one line to
 * <root>/fake-runtime.log. */
#include "vm/runtime.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"

char vm_fake_runtime_fail_next[128];

static void record(const vm_ctx *ctx, const char *op, const char *uuid, const char *arg)
{
    cleanup_free char *path = xasprintf("%s/fake-runtime.log", ctx->root);
    FILE *f = fopen(path, "a");
    if (!f)
        return;
    fprintf(f, "%s %s%s%s\n", op, uuid ? uuid : "-", arg ? " " : "", arg ? arg : "");
    fclose(f);
}

static char *state_path(const vm_ctx *ctx, const char *uuid)
{
    cleanup_free char *dir = vm_ctx_vm_rundir(ctx, uuid);
    return xasprintf("%s/fake-state", dir);
}

static int failing(vm_err *err)
{
    if (!vm_fake_runtime_fail_next[0])
        return 0;
    vm_err_set(err, VMERR_IO, "%s", vm_fake_runtime_fail_next);
    vm_fake_runtime_fail_next[0] = '\0';
    return -1;
}

static int set_running(const vm_ctx *ctx, const char *uuid, bool on, vm_err *err)
{
    cleanup_free char *dir = vm_ctx_vm_rundir(ctx, uuid);
    cleanup_free char *path = state_path(ctx, uuid);
    if (!on)
        return unlink(path) == 0 || errno == ENOENT ? 0 : vm_err_sys(err, errno, "unlink %s", path);
    if (mkdir_p(dir, 0755, err) < 0)
        return -1;
    char buf[32];
    int n = snprintf(buf, sizeof buf, "%d %lld\n", (int)getpid(), (long long)now_ms());
    return write_file_atomic(path, buf, (size_t)n, 0644, err);
}

static void fake_state(const vm_ctx *ctx, const char *uuid, vm_runstate *rs)
{
    cleanup_free char *path = state_path(ctx, uuid);
    cleanup_free char *buf = NULL;
    size_t len;
    if (read_file(path, &buf, &len, NULL) < 0)
        return;
    long long boot = 0;
    if (sscanf(buf, "%d %lld", &rs->pid, &boot) != 2)
        return;
    rs->running = 1;
    rs->boot_ms = boot;
}

static int fake_start(const vm_ctx *ctx, vs_pool *pool, json_t *vmobj, vm_err *err)
{
    (void)pool;
    const char *uuid = json_string_value(json_object_get(vmobj, "uuid"));
    record(ctx, "start", uuid, NULL);
    if (failing(err) < 0)
        return -1;
    return set_running(ctx, uuid, true, err);
}

static int fake_stop(const vm_ctx *ctx, json_t *vmobj, int force, int timeout_s, vm_err *err)
{
    const char *uuid = json_string_value(json_object_get(vmobj, "uuid"));
    char arg[32];
    snprintf(arg, sizeof arg, "force=%d timeout=%d", force, timeout_s);
    record(ctx, "stop", uuid, arg);
    if (failing(err) < 0)
        return -1;
    return set_running(ctx, uuid, false, err);
}

static int fake_kill(const vm_ctx *ctx, const char *uuid, int sig, vm_err *err)
{
    char arg[16];
    snprintf(arg, sizeof arg, "%d", sig);
    record(ctx, "kill", uuid, arg);
    return set_running(ctx, uuid, false, err);
}

static int fake_reset(const vm_ctx *ctx, const char *uuid, vm_err *err)
{
    (void)err;
    record(ctx, "reset", uuid, NULL);
    return 0;
}

static int fake_grow_disk(const vm_ctx *ctx, const char *uuid, const char *disk_id, uint64_t bytes, vm_err *err)
{
    char arg[160];
    snprintf(arg, sizeof arg, "%s %llu", disk_id ? disk_id : "-", (unsigned long long)bytes);
    record(ctx, "grow_disk", uuid, arg);
    return failing(err);
}

static int fake_snapshot_switch(const vm_ctx *ctx, const char *uuid, json_t *switches, vm_err *err)
{
    char arg[16];
    snprintf(arg, sizeof arg, "%zu", json_array_size(switches));
    record(ctx, "snapshot_switch", uuid, arg);
    return failing(err);
}

static int fake_apply_limits(const vm_ctx *ctx, json_t *vmobj, vm_err *err)
{
    record(ctx, "apply_limits", json_string_value(json_object_get(vmobj, "uuid")), NULL);
    return failing(err);
}

static int fake_net_update(const vm_ctx *ctx, json_t *vmobj, vm_err *err)
{
    char arg[16];
    snprintf(arg, sizeof arg, "%zu", json_array_size(json_object_get(vmobj, "nics")));
    record(ctx, "net_update", json_string_value(json_object_get(vmobj, "uuid")), arg);
    return failing(err);
}

static int fake_forget(const vm_ctx *ctx, const char *uuid, vm_err *err)
{
    (void)err;
    record(ctx, "forget", uuid, NULL);
    return 0;
}

const vm_runtime vm_runtime_fake = {
    .name = "fake",
    .stop_grace_s = 5,
    .state = fake_state,
    .start = fake_start,
    .stop = fake_stop,
    .kill = fake_kill,
    .reset = fake_reset,
    .grow_disk = fake_grow_disk,
    .snapshot_switch = fake_snapshot_switch,
    .apply_limits = fake_apply_limits,
    .net_update = fake_net_update,
    .forget = fake_forget,
};
