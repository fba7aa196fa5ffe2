/* vmadm migrate --live: the frozen layers travel as VM streams, then only
 * each disk's active layer (QEMU's mirror over NBD) and the RAM (QEMU's
 * migration) cross while the guest runs (lib/hv/migrate.h).  The
 * destination's side runs there as `vmadm migrate --target-incoming` and
 * `--target-finish`; over ssh the two sockets are forwarded with -L. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "hv/hv.h"
#include "hv/migrate.h"
#include "migrate/mig_live.h"
#include "migrate/vmstream.h"
#include "vm/store.h"
#include "vm/vm.h"
#include "vm/vmobj.h"

/* ---- destination ---- */

static char *target_dir(const vm_ctx *ctx, const char *uuid)
{
    return xasprintf("%s/migrate/%s", ctx->run_dir, uuid);
}

int mig_target_incoming(const vm_ctx *ctx, const char *uuid, json_t **out, vm_err *err)
{
    cleanup_json json_t *obj = NULL;
    cleanup_vs_pool vs_pool *pool = NULL;
    if (vmobj_load(ctx, uuid, &obj, err) < 0)
        return -1;
    /* Only a migration's hidden, stopped copy waits for a guest. */
    if (!json_is_true(json_object_get(obj, "do_not_inventory")))
        return vm_err_set(err, VMERR_STATE, "VM %s is not a migration target here", uuid);
    if (strcmp(json_string_value(json_object_get(obj, "state")) ?: "", "stopped") != 0)
        return vm_err_set(err, VMERR_STATE, "VM %s is %s, not stopped", uuid,
                          json_string_value(json_object_get(obj, "state")));
    cleanup_free char *dir = target_dir(ctx, uuid);
    rm_rf(dir, NULL);
    if (vm_store_private_dir(dir, err) < 0 ||
        vs_pool_open(ctx, json_string_value(json_object_get(obj, "zpool")), &pool, err) < 0 ||
        hv_migrate_incoming(ctx, pool, obj, dir, err) < 0)
        return -1;
    *out = json_pack("{s:s+,s:s+}", "nbd_sock", dir, "/nbd.sock", "mig_sock", dir, "/mig.sock");
    return 0;
}

int mig_target_finish(const vm_ctx *ctx, const char *uuid, bool ok, vm_err *err)
{
    int r = hv_migrate_incoming_finish(ctx, uuid, ok, err);
    if (r < 0 && ok) {
        vm_err e2 = VM_ERR_INIT;
        hv_migrate_incoming_finish(ctx, uuid, 0, &e2);
    }
    cleanup_free char *dir = target_dir(ctx, uuid);
    rm_rf(dir, NULL);
    return r;
}

/* ---- source ---- */

/* Over ssh: `ssh -N -L local:remote` for both sockets, until killed. */
static int forward(const mig_dest *d, const char *dir, json_t *remote, pid_t *pid, json_t **local, vm_err *err)
{
    cleanup_free char *nbd = xasprintf("%s/nbd.sock", dir), *mig = xasprintf("%s/mig.sock", dir);
    unlink(nbd);
    unlink(mig);
    cleanup_free char *l1 = xasprintf("%s:%s", nbd, json_string_value(json_object_get(remote, "nbd_sock")));
    cleanup_free char *l2 = xasprintf("%s:%s", mig, json_string_value(json_object_get(remote, "mig_sock")));
    char **opts = strv_split(getenv("VMADM_SSH_OPTS") ?: "", " ");
    size_t no = strv_len(opts), k = 0;
    char **argv = xcalloc(no + 16, sizeof *argv);
    argv[k++] = "ssh";
    argv[k++] = "-oBatchMode=yes";
    argv[k++] = "-oExitOnForwardFailure=yes";
    argv[k++] = "-oStreamLocalBindUnlink=yes";
    for (size_t i = 0; i < no; i++)
        argv[k++] = opts[i];
    argv[k++] = "-N";
    argv[k++] = "-L";
    argv[k++] = l1;
    argv[k++] = "-L";
    argv[k++] = l2;
    argv[k++] = "--";
    argv[k++] = d->host;
    pid_t p = fork();
    if (p == 0) {
        execvp("ssh", argv);
        _exit(127);
    }
    free(argv);
    strv_free(opts);
    if (p < 0)
        return vm_err_sys(err, errno, "cannot fork ssh");
    /* Forwarded once both local sockets exist. */
    for (int i = 0; i < 1000 && !(path_exists(nbd) && path_exists(mig)); i++) {
        int st;
        if (waitpid(p, &st, WNOHANG) == p)
            return vm_err_set(err, VMERR_IO, "ssh cannot forward the migration sockets to %s", d->host);
        usleep(10000);
    }
    if (!path_exists(nbd) || !path_exists(mig)) {
        kill(p, SIGTERM);
        waitpid(p, NULL, 0);
        return vm_err_set(err, VMERR_IO, "ssh did not forward the migration sockets to %s", d->host);
    }
    *pid = p;
    *local = json_pack("{s:s,s:s}", "nbd_sock", nbd, "mig_sock", mig);
    return 0;
}

typedef struct live_cb {
    mig_live_progress_fn fn;
    void *arg;
} live_cb;

static int on_progress(void *arg, const hv_migrate_progress *p)
{
    live_cb *c = arg;
    return c->fn(c->arg, p->phase, p->transferred, p->total, p->rate);
}

int mig_live_send(const vm_ctx *ctx, const char *uuid, const mig_dest *d, int downtime_ms, mig_live_progress_fn fn,
                  void *arg, json_t **result, vm_err *err)
{
    char *inc[] = { "migrate", "--target-incoming", (char *)uuid, NULL };
    cleanup_free char *out = NULL;
    if (mig_dest_run(d, inc, &out, err) < 0)
        return -1;
    json_error_t je;
    cleanup_json json_t *remote = json_loads(out, 0, &je);
    if (!json_is_string(json_object_get(remote, "nbd_sock")) || !json_is_string(json_object_get(remote, "mig_sock"))) {
        char *fin[] = { "migrate", "--target-finish", (char *)uuid, "--fail", NULL };
        vm_err e2 = VM_ERR_INIT;
        mig_dest_run(d, fin, NULL, &e2);
        return vm_err_set(err, VMERR_INTERNAL, "destination did not say where it listens");
    }
    pid_t fwd = 0;
    cleanup_json json_t *local = NULL;
    cleanup_free char *fdir = xasprintf("%s/migrate/%s.fwd", ctx->run_dir, uuid);
    int r = 0;
    if (d->host) {
        r = vm_store_private_dir(fdir, err);
        if (r == 0)
            r = forward(d, fdir, remote, &fwd, &local, err);
    } else {
        local = json_incref(remote);
    }
    hv_migrate_result res = { 0 };
    live_cb cb = { fn, arg };
    if (r == 0) {
        hv_migrate_target t = { .nbd_sock = json_string_value(json_object_get(local, "nbd_sock")),
                                .mig_sock = json_string_value(json_object_get(local, "mig_sock")),
                                .downtime_limit_ms = downtime_ms };
        r = hv_migrate_send(ctx, uuid, &t, on_progress, &cb, &res, err);
    }
    if (fwd > 0) {
        kill(fwd, SIGTERM);
        waitpid(fwd, NULL, 0);
    }
    rm_rf(fdir, NULL);
    /* Too late to abort (VMERR_STATE): the destination has the guest. */
    bool moved = r == 0 || err->code == VMERR_STATE;
    char *fin[] = { "migrate", "--target-finish", (char *)uuid, moved ? "--ok" : "--fail", NULL };
    vm_err fe = VM_ERR_INIT;
    int rf = mig_dest_run(d, fin, NULL, &fe);
    if (moved && rf < 0) {
        /* The guest did not come up there: the source, paused, resumes. */
        cleanup_json json_t *cont = json_pack("{s:s}", "execute", "cont");
        vm_err ce = VM_ERR_INIT;
        if (hv_qmp_command(ctx, uuid, cont, NULL, &ce) < 0)
            vm_log(ctx, "error", "VM %s: resuming the source after a failed switch: %s", uuid, ce.msg);
        *err = fe;
        return -1;
    }
    if (!moved)
        return -1;
    *result = json_pack("{s:I,s:I,s:I,s:I,s:I}", "downtime_ms", (json_int_t)res.downtime_ms, "total_ms",
                        (json_int_t)res.total_ms, "elapsed_ms", (json_int_t)res.elapsed_ms, "ram_bytes",
                        (json_int_t)res.ram_bytes, "disk_bytes", (json_int_t)res.disk_bytes);
    return 0;
}
