/* ct_stop and ct_kill: signals to the container's init through a pidfd
 * pinned to the recorded identity. */
#include "ct/ct.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include <lxc/lxccontainer.h>

#include "common/proc.h"
#include "common/util.h"
#include "ct/ct_internal.h"

/* How long ct_stop waits for the supervisor to record the exit. */
#define CT_REAP_TIMEOUT_MS 15000
#define CT_DEFAULT_STOP_TIMEOUT 60

static int open_init(const ct_paths *p, const char *uuid, pid_t *pid_out, vm_err *err)
{
    pid_t pid;
    if (ct_check_init(p, &pid, NULL) != CT_ALIVE)
        return vm_err_set(err, VMERR_STATE, "container %s is not running", uuid);
    int fd = vm_pidfd_open(pid);
    ct_ident id;
    unsigned long long start;
    /* Re-check after opening: the pidfd now pins this very process. */
    if (fd < 0 || ct_read_ident(p, &id) < 0 || ct_proc_stat(pid, NULL, &start) < 0 || start != id.init_start) {
        if (fd >= 0)
            close(fd);
        return vm_err_set(err, VMERR_STATE, "container %s is not running", uuid);
    }
    if (pid_out)
        *pid_out = pid;
    return fd;
}

int ct_kill(const vm_ctx *ctx, const char *uuid, int sig, vm_err *err)
{
    cleanup_paths ct_paths p;
    if (!uuid_valid(uuid))
        return vm_err_set(err, VMERR_INVALID, "invalid uuid: %s", uuid);
    ct_paths_init(ctx, uuid, &p);
    cleanup_close int fd = open_init(&p, uuid, NULL, err);
    if (fd < 0)
        return -1;
    if (vm_pidfd_signal(fd, sig) < 0)
        return vm_err_sys(err, errno, "cannot signal container %s", uuid);
    return 0;
}

int ct_stop(const vm_ctx *ctx, json_t *vmobj, int force, int timeout_s, vm_err *err)
{
    const char *uuid = json_string_value(json_object_get(vmobj, "uuid"));
    if (!uuid || !uuid_valid(uuid))
        return vm_err_set(err, VMERR_INVALID, "VM object has no valid uuid");
    cleanup_paths ct_paths p;
    ct_paths_init(ctx, uuid, &p);
    pid_t pid;
    cleanup_close int pfd = open_init(&p, uuid, &pid, err);
    if (pfd < 0)
        return -1;
    if (timeout_s <= 0)
        timeout_s = CT_DEFAULT_STOP_TIMEOUT;
    if (vm_runstate_write_stopping(p.rundir, VM_RUN_SYNCED, err) < 0)
        return -1;

    cleanup_lxc struct lxc_container *c = ct_lxc_new(uuid, p.lxcpath);
    bool stopped = false;
    if (c && !force) {
        stopped = c->shutdown(c, timeout_s);
        if (!stopped)
            vm_log(ctx, "info", "container %s did not halt within %d s, killing it", uuid, timeout_s);
    }
    if (!stopped) {
        if (!c || !c->stop(c)) {
            /* No monitor to ask: kill init ourselves. */
            if (vm_pidfd_signal(pfd, SIGKILL) < 0 && errno != ESRCH)
                return vm_err_sys(err, errno, "cannot kill container %s", uuid);
        }
    }
    if (ct_wait_ended(&p, uuid, CT_REAP_TIMEOUT_MS) < 0) {
        unlink(p.state);
        return vm_err_set(err, VMERR_TIMEOUT, "container %s did not stop", uuid);
    }
    return 0;
}
