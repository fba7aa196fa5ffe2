/* ct_login and ct_console: a command or the console of a running container
 * on our stdin/stdout. */
#include "ct/ct.h"

/* errno.h before attach_options.h: LXC_ATTACH_OPTIONS_DEFAULT uses EBADF. */
#include <errno.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <lxc/attach_options.h>
#include <lxc/lxccontainer.h>

#include "common/tty.h"
#include "common/util.h"
#include "ct/ct_internal.h"

int ct_login(const vm_ctx *ctx, const char *uuid, char *const argv[], int *exit_status, vm_err *err)
{
    cleanup_paths ct_paths p;
    if (!uuid_valid(uuid))
        return vm_err_set(err, VMERR_INVALID, "invalid uuid: %s", uuid);
    ct_paths_init(ctx, uuid, &p);
    cleanup_lxc struct lxc_container *c = ct_running_handle(&p, uuid, err);
    if (!c)
        return -1;

    char *shell[] = { "/bin/sh", "-l", NULL };
    char **cmd = argv && argv[0] ? (char **)argv : shell;
    char *env[] = { "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME=/root", "LOGNAME=root",
                    "USER=root", NULL };
    char *keep[] = { "TERM", NULL };
    lxc_attach_options_t opts = LXC_ATTACH_OPTIONS_DEFAULT;
    opts.env_policy = LXC_ATTACH_CLEAR_ENV;
    opts.extra_env_vars = env;
    opts.extra_keep_env = keep;
    opts.initial_cwd = "/root";
    if (isatty(0))
        opts.attach_flags |= LXC_ATTACH_TERMINAL;
    lxc_attach_command_t ac = { .program = cmd[0], .argv = cmd };
    pid_t pid = -1;
    if (c->attach(c, ct_lxc_run_command(), &ac, &opts, &pid) < 0 || pid <= 0)
        return vm_err_set(err, VMERR_INTERNAL, "cannot attach to container %s", uuid);
    int st;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR)
            return vm_err_sys(err, errno, "waiting for the command in container %s", uuid);
    }
    *exit_status = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 1;
    return 0;
}

int ct_console(const vm_ctx *ctx, const char *uuid, vm_err *err)
{
    cleanup_paths ct_paths p;
    if (!uuid_valid(uuid))
        return vm_err_set(err, VMERR_INVALID, "invalid uuid: %s", uuid);
    ct_paths_init(ctx, uuid, &p);
    cleanup_lxc struct lxc_container *c = ct_running_handle(&p, uuid, err);
    if (!c)
        return -1;
    /* Our own relay instead of c->console(): LXC's escape is a two-key
     * sequence (<escape> q), the console must detach on CTRL-] alone. */
    int ttynum = 0, ptx = -1;
    cleanup_close int keep = c->console_getfd(c, &ttynum, &ptx);
    if (keep < 0 || ptx < 0)
        return vm_err_set(err, VMERR_BUSY,
                          "cannot attach to the console of container %s "
                          "(another console session may be attached)",
                          uuid);
    cleanup_close int ptxfd = ptx;
    vm_tty_opts opts = { .tcsa = TCSAFLUSH, .quiet_ms = 300 };
    return vm_tty_relay(ptxfd, &opts, err);
}
