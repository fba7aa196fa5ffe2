/* vmadm-zvold: serves the raw disk views of every pool under VMADM_ROOT at
 * lib/vm's view directory (/dev/zvol, or $VMADM_ROOT/dev/zvol), in the
 * foreground (systemd: etc/systemd/vmadm-zvold.service).
 *
 * One daemon per root (run/vmadm-zvold.lock).  A mount left behind by a
 * killed daemon ("Transport endpoint is not connected") is detached before
 * mounting again; the locks a killed daemon held were flocks and its
 * qemu-nbd processes end with their connection, so nothing else is left.
 * SIGTERM/SIGINT/SIGHUP: unmount, flush and close open volumes, exit 0. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "vm/rawview.h"
#include "zvold.h"

/* True when `dir` is a mount point (or a dead FUSE mount). */
static bool mounted(const char *dir)
{
    struct stat a, b;
    if (stat(dir, &a) < 0)
        return errno == ENOTCONN;
    cleanup_free char *parent = xasprintf("%s/..", dir);
    return stat(parent, &b) == 0 && a.st_dev != b.st_dev;
}

static int prepare_dir(const char *dir, vm_err *err)
{
    if (mounted(dir)) {
        /* Ours (the lock is held): a previous daemon's, dead or stuck. */
        fprintf(stderr, "vmadm-zvold: detaching a stale mount at %s\n", dir);
        if (umount2(dir, MNT_DETACH) < 0)
            return vm_err_sys(err, errno, "cannot detach the stale mount at %s", dir);
    }
    return mkdir_p(dir, 0755, err);
}

static int take_daemon_lock(const vm_ctx *ctx, vm_err *err)
{
    cleanup_free char *path = xasprintf("%s/vmadm-zvold.lock", ctx->run_dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return vm_err_sys(err, errno, "cannot open %s", path);
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        close(fd);
        return vm_err_set(err, VMERR_BUSY, "already running for %s", ctx->root);
    }
    return fd; /* held until exit */
}

static int serve(vm_ctx *ctx, const char *dir)
{
    char *fargv[] = { "vmadm-zvold", "-o", "fsname=vmadm-zvol,subtype=zvol,default_permissions", NULL };
    struct fuse_args args = FUSE_ARGS_INIT(3, fargv);
    struct fuse *f = fuse_new(&args, &zvold_ops, sizeof zvold_ops, ctx);
    int rc = 1;
    if (!f)
        return 1;
    if (fuse_mount(f, dir) == 0) {
        struct fuse_session *se = fuse_get_session(f);
        if (fuse_set_signal_handlers(se) == 0) {
            vm_log(ctx, "info", "vmadm-zvold: serving raw disk views at %s", dir);
            struct fuse_loop_config *lc = fuse_loop_cfg_create();
            fuse_loop_cfg_set_max_threads(lc, 16);
            rc = fuse_loop_mt(f, lc) < 0 ? 1 : 0; /* > 0: the signal that ended it */
            fuse_loop_cfg_destroy(lc);
            fuse_remove_signal_handlers(se);
        }
        fuse_unmount(f);
    }
    zvold_close_all();
    fuse_destroy(f);
    fuse_opt_free_args(&args);
    return rc;
}

int main(int argc, char **argv)
{
    vm_ctx ctx;
    vm_err err = VM_ERR_INIT;
    if (argc > 1) {
        fprintf(stderr, "usage: vmadm-zvold (no arguments; VMADM_ROOT selects the root)\n");
        return 2;
    }
    (void)argv;
    if (vm_ctx_init(&ctx, &err) < 0) {
        fprintf(stderr, "vmadm-zvold: %s\n", err.msg);
        return 1;
    }
    cleanup_free char *dir = vm_rawview_dir(&ctx);
    int lockfd = take_daemon_lock(&ctx, &err);
    int rc = 1;
    if (lockfd < 0 || prepare_dir(dir, &err) < 0)
        fprintf(stderr, "vmadm-zvold: %s\n", err.msg);
    else
        rc = serve(&ctx, dir);
    if (lockfd >= 0)
        close(lockfd);
    vm_ctx_free(&ctx);
    return rc;
}
