#include "common/ctx.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"

static char *strip_trailing_slash(char *s)
{
    size_t n = strlen(s);
    while (n > 1 && s[n - 1] == '/')
        s[--n] = '\0';
    return s;
}

int vm_ctx_init(vm_ctx *ctx, vm_err *err)
{
    const char *root = getenv("VMADM_ROOT");
    const char *pool = getenv("VMADM_POOL");
    const char *accel = getenv("VMADM_ACCEL");
    const char *addr = getenv("VMINFOD_ADDR");

    memset(ctx, 0, sizeof *ctx);
    if (!root || !*root)
        root = "/var/lib/vmadm";
    if (root[0] != '/')
        return vm_err_set(err, VMERR_INVALID, "VMADM_ROOT must be an absolute path: %s", root);
    ctx->root = strip_trailing_slash(xstrdup(root));
    ctx->pool = xstrdup(pool && *pool ? pool : "zones");
    ctx->etc_dir = xasprintf("%s/etc/vms", ctx->root);
    ctx->lock_dir = xasprintf("%s/var/lock", ctx->root);
    ctx->run_dir = xasprintf("%s/run", ctx->root);
    ctx->log_path = xasprintf("%s/var/log/vmadm.log", ctx->root);
    ctx->vminfod_addr = xstrdup(addr && *addr ? addr : "127.0.0.1:9090");
    ctx->accel = VM_ACCEL_AUTO;
    if (accel && !strcmp(accel, "kvm"))
        ctx->accel = VM_ACCEL_KVM;
    else if (accel && !strcmp(accel, "tcg"))
        ctx->accel = VM_ACCEL_TCG;

    cleanup_free char *logdir = xasprintf("%s/var/log", ctx->root);
    if (mkdir_p(ctx->etc_dir, 0755, err) < 0 || mkdir_p(ctx->lock_dir, 0755, err) < 0 ||
        mkdir_p(ctx->run_dir, 0755, err) < 0 || mkdir_p(logdir, 0755, err) < 0) {
        vm_ctx_free(ctx);
        return -1;
    }
    return 0;
}

void vm_ctx_free(vm_ctx *ctx)
{
    free(ctx->root);
    free(ctx->pool);
    free(ctx->etc_dir);
    free(ctx->lock_dir);
    free(ctx->run_dir);
    free(ctx->log_path);
    free(ctx->vminfod_addr);
    memset(ctx, 0, sizeof *ctx);
}

char *vm_ctx_vm_dir(const vm_ctx *ctx, const char *uuid)
{
    return xasprintf("%s/%s", ctx->etc_dir, uuid);
}

char *vm_ctx_vm_rundir(const vm_ctx *ctx, const char *uuid)
{
    return xasprintf("%s/vms/%s", ctx->run_dir, uuid);
}

void vm_log(const vm_ctx *ctx, const char *level, const char *fmt, ...)
{
    char msg[2048], ts[32];
    va_list ap;
    if (!ctx || !ctx->log_path)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    iso_time_ms(now_ms(), ts);
    json_t *rec = json_pack("{s:s,s:s,s:i,s:s}", "time", ts, "level", level, "pid", (int)getpid(), "msg", msg);
    if (!rec)
        return;
    cleanup_free char *line = json_compact(rec);
    json_decref(rec);
    int fd = open(ctx->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    /* One write per record keeps lines whole under O_APPEND. */
    cleanup_free char *buf = xasprintf("%s\n", line);
    ssize_t r = write(fd, buf, strlen(buf));
    (void)r;
    close(fd);
}
