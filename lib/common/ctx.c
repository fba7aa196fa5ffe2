#include "common/ctx.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"

static char *strip_trailing_slash(char *s)
{
    size_t n = strlen(s);
    while (n > 1 && s[n - 1] == '/')
        s[--n] = '\0';
    return s;
}

/* path (parents 0755) with exactly `mode`: an existing directory from an
 * older version is tightened too.  Not being able to tighten a directory
 * we do not own (a non-root caller on a shared root) is not fatal here:
 * every write below it fails anyway. */
static int private_dir(const char *path, mode_t mode, vm_err *err)
{
    struct stat st;
    if (mkdir_p(path, 0755, err) < 0)
        return -1;
    if (stat(path, &st) < 0)
        return vm_err_sys(err, errno, "cannot stat %s", path);
    if ((st.st_mode & 07777) != mode && chmod(path, mode) < 0 && errno != EPERM)
        return vm_err_sys(err, errno, "cannot set the mode of %s", path);
    return 0;
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

    /* Secrets stay with root: VM configs (vnc_password, metadata) under a
     * 0700 etc/vms; run/vms is 0711 so a VM's own 0700 runtime directory
     * (console log, QMP socket) can be handed to an unprivileged runtime
     * user without letting anyone list the VMs; the log is 0600. */
    cleanup_free char *logdir = xasprintf("%s/var/log", ctx->root);
    cleanup_free char *runvms = xasprintf("%s/vms", ctx->run_dir);
    if (private_dir(ctx->etc_dir, 0700, err) < 0 || mkdir_p(ctx->lock_dir, 0755, err) < 0 ||
        mkdir_p(ctx->run_dir, 0755, err) < 0 || private_dir(runvms, 0711, err) < 0 || mkdir_p(logdir, 0755, err) < 0) {
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
    int fd = open(ctx->log_path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    fchmod(fd, 0600); /* a log from an older version was 0644 */
    /* One write per record keeps lines whole under O_APPEND. */
    cleanup_free char *buf = xasprintf("%s\n", line);
    ssize_t r = write(fd, buf, strlen(buf));
    (void)r;
    close(fd);
}

static vm_notice_fn notice_fn;

void vm_set_notice_fn(vm_notice_fn fn)
{
    notice_fn = fn;
}

void vm_notice(const vm_ctx *ctx, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    vm_log(ctx, "info", "%s", msg);
    if (notice_fn)
        notice_fn(msg);
}
