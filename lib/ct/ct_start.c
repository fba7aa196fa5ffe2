/* ct_start: checks, the LXC config, then a detached supervisor that owns
 * the container's lifetime (see the process model in ct.h). */
#include "ct/ct.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <lxc/lxccontainer.h>

#include "common/proc.h"
#include "common/util.h"
#include "ct/ct_config.h"
#include "ct/ct_internal.h"
#include "storage/layers.h"

/* How long the supervisor waits for LXC to report init running. */
#define CT_START_TIMEOUT_MS 30000

/* Last lines of a log, for error messages. */
static char *log_tail(const char *path, int nlines)
{
    cleanup_free char *buf = vm_run_read(path);
    if (!buf || !*buf)
        return NULL;
    size_t len = strlen(buf);
    int seen = 0;
    char *p = buf + len;
    while (p > buf) {
        if (p[-1] == '\n' && ++seen == nlines)
            break;
        p--;
    }
    return xstrdup(p);
}

/* Reports back to ct_start: "OK <pid>" or "ERR <message>". */
static void sync_report(int fd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sync_report(int fd, const char *fmt, ...)
{
    char buf[VM_ERR_MSGLEN + 16];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    if ((size_t)n >= sizeof buf)
        n = sizeof buf - 1;
    for (ssize_t off = 0; off < n;) {
        ssize_t w = write(fd, buf + off, (size_t)(n - off));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += w;
    }
}

/* The LXC monitor: liblxc start, not daemonized, so it returns init's
 * wait status when the container ends.  Sends "<ok> <status>" up the pipe. */
static void __attribute__((noreturn)) run_monitor(const char *uuid, const char *lxcpath, int stfd)
{
    struct lxc_container *c = ct_lxc_new(uuid, lxcpath);
    int ok = 0, status = 0;
    if (c) {
        c->want_daemonize(c, false);
        c->want_close_all_fds(c, false);
        ok = c->start(c, 0, NULL);
        status = c->error_num;
    }
    char buf[64];
    int n = snprintf(buf, sizeof buf, "%d %d\n", ok, status);
    if (write(stfd, buf, (size_t)n) < 0) {
        /* supervisor gone: nothing left to tell */
    }
    _exit(ok ? 0 : 1);
}

static int exit_code_of(int wstatus)
{
    if (WIFEXITED(wstatus))
        return WEXITSTATUS(wstatus);
    if (WIFSIGNALED(wstatus))
        return -WTERMSIG(wstatus);
    /* liblxc reports a killed init as "sig << 8 | 0x7f", which is the
     * shape of a stopped status. */
    if (WIFSTOPPED(wstatus))
        return -WSTOPSIG(wstatus);
    return 0;
}

/* Reads the monitor's "<ok> <status>" (blocking); -1 if it died silently. */
static int read_monitor(int stfd, int *ok, int *status)
{
    char buf[64];
    size_t len = 0;
    for (;;) {
        ssize_t r = read(stfd, buf + len, sizeof buf - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
        if (len >= sizeof buf - 1)
            break;
    }
    buf[len] = '\0';
    return sscanf(buf, "%d %d", ok, status) == 2 ? 0 : -1;
}

/* Keeps only the sync pipe (as fd 3) and /dev/null as stdio: an inherited
 * fd (e.g. vmadm's VM lock) would otherwise stay held for the container's
 * whole life.  Returns the new sync fd. */
static int supervisor_detach(int syncfd)
{
    if (syncfd != 3) {
        if (dup2(syncfd, 3) < 0)
            _exit(1);
        syncfd = 3;
    }
    int devnull = open("/dev/null", O_RDWR);
    if (devnull >= 0) {
        dup2(devnull, 0);
        dup2(devnull, 1);
        dup2(devnull, 2);
    }
    close_range(4, ~0U, 0);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    signal(SIGCHLD, SIG_DFL);
    return syncfd;
}

/* Polls LXC until init runs (its pid), the monitor reported (*mon_done:
 * the start failed) or the start timeout passed (0). */
static pid_t wait_for_init(struct lxc_container *c, int stfd, bool *mon_done)
{
    pid_t init = 0;
    int64_t deadline = now_ms() + CT_START_TIMEOUT_MS;
    *mon_done = false;
    while (c && now_ms() < deadline) {
        struct pollfd pfd = { stfd, POLLIN, 0 };
        if (poll(&pfd, 1, 10) > 0) {
            *mon_done = true;
            break;
        }
        const char *s = c->state(c);
        if (s && !strcmp(s, "RUNNING")) {
            init = c->init_pid(c);
            if (init > 0)
                break;
        }
    }
    return init;
}

/* Init runs: writes ctinit, boot and pid, and reports to ct_start. */
static void record_started(const vm_ctx *ctx, const ct_paths *p, const char *uuid, struct lxc_container *c, pid_t init,
                           unsigned long long init_start, unsigned long long sup_start, int syncfd)
{
    vm_err e = VM_ERR_INIT;
    char buf[128];
    int64_t boot = now_ms();
    snprintf(buf, sizeof buf, "%llu %d %llu\n", init_start, (int)getpid(), sup_start);
    char bootbuf[32], pidbuf[32];
    snprintf(bootbuf, sizeof bootbuf, "%lld\n", (long long)boot);
    snprintf(pidbuf, sizeof pidbuf, "%d\n", (int)init);
    unlink(p->state);
    /* pid last: its presence means the rest is there. */
    if (vm_run_write(p->ctinit, buf, 0644, VM_RUN_SYNCED, &e) < 0 ||
        vm_run_write(p->boot, bootbuf, 0644, VM_RUN_SYNCED, &e) < 0 ||
        vm_run_write(p->pid, pidbuf, 0644, VM_RUN_SYNCED, &e) < 0) {
        c->stop(c);
        sync_report(syncfd, "ERR %s", e.msg);
    } else {
        vm_log(ctx, "info", "container %s started, init pid %d", uuid, (int)init);
        sync_report(syncfd, "OK %d", (int)init);
    }
}

/* Never ran (or ended at once): report why, leave nothing behind. */
static void __attribute__((noreturn)) start_failed(const ct_paths *p, const char *uuid, struct lxc_container *c,
                                                   int stfd, pid_t mon, bool mon_done, int syncfd)
{
    if (!mon_done && c) {
        c->stop(c);
    }
    int ok = 0, status = 0;
    bool have = read_monitor(stfd, &ok, &status) == 0;
    waitpid(mon, NULL, 0);
    cleanup_free char *tail = log_tail(p->lxclog, 6);
    cleanup_free char *ctail = log_tail(p->consolelog, 4);
    if (have && ok)
        sync_report(syncfd, "ERR container init exited at once (status %d)%s%s", exit_code_of(status),
                    ctail ? "; console:\n" : "", ctail ? ctail : "");
    else if (!mon_done)
        sync_report(syncfd, "ERR LXC did not start the container within %d s%s%s", CT_START_TIMEOUT_MS / 1000,
                    tail ? "; LXC log:\n" : "", tail ? tail : "");
    else
        sync_report(syncfd, "ERR LXC failed to start the container%s%s", tail ? "; LXC log:\n" : " (no LXC log)",
                    tail ? tail : "");
    if (c)
        ct_lxc_put(c);
    ct_clean_running_files(p, uuid, NULL);
    _exit(1);
}

/* An unprivileged container on a layered root: the supervisor moves to a
 * private mount namespace (the monitor and LXC inherit it) and mounts the
 * container's view of the root there (ly_mount_shifted), over the host's
 * view: the mount lives exactly as long as the supervisor and the
 * container, whatever kills them.  *hostns: the host's namespace, to go
 * back to once the container ended. */
static int mount_layered_root(const ct_root *root, const ct_inputs *in, int *hostns, vm_err *err)
{
    if (!root->ly_datadir || in->privileged)
        return 0;
    *hostns = open("/proc/self/ns/mnt", O_RDONLY | O_CLOEXEC);
    if (*hostns < 0)
        return vm_err_sys(err, errno, "cannot open the host's mount namespace");
    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return vm_err_sys(err, errno, "cannot make a private mount namespace for the layered root");
    return ly_mount_shifted(root->ly_datadir, root->ly_dataname, *hostns, in->idmap_base, CT_IDMAP_SIZE, err);
}

/* Back in the host's namespace (the private one, and the container's view
 * with it, goes when the supervisor exits), the host's view is remounted:
 * it would show stale lookups of what the container wrote. */
static void refresh_host_view(const vm_ctx *ctx, const char *uuid, const ct_root *root, int hostns)
{
    vm_err e = VM_ERR_INIT;
    if (hostns < 0)
        return;
    if (setns(hostns, CLONE_NEWNS) < 0)
        vm_log(ctx, "warn", "container %s: cannot return to the host's mount namespace: %s", uuid, strerror(errno));
    else if (ly_refresh(root->ly_datadir, root->ly_dataname, &e) < 0)
        vm_log(ctx, "warn", "container %s: %s", uuid, e.msg);
}

/* Detached process that owns the container's lifetime: starts the monitor,
 * reports init's pid, and records the exit. */
static void __attribute__((noreturn))
supervise(const vm_ctx *ctx, const char *uuid, const ct_root *root, const ct_inputs *in, int syncfd)
{
    cleanup_paths ct_paths p;
    ct_paths_init(ctx, uuid, &p);
    vm_err e = VM_ERR_INIT;

    syncfd = supervisor_detach(syncfd);
    int hostns = -1;
    if (mount_layered_root(root, in, &hostns, &e) < 0) {
        sync_report(syncfd, "ERR %s", e.msg);
        ct_clean_running_files(&p, uuid, NULL);
        _exit(1);
    }

    int st[2];
    if (pipe2(st, O_CLOEXEC) < 0) {
        sync_report(syncfd, "ERR cannot create pipe: %s", strerror(errno));
        ct_clean_running_files(&p, uuid, NULL);
        _exit(1);
    }
    pid_t mon = fork();
    if (mon < 0) {
        sync_report(syncfd, "ERR cannot fork: %s", strerror(errno));
        ct_clean_running_files(&p, uuid, NULL);
        _exit(1);
    }
    if (mon == 0) {
        close(st[0]);
        close(syncfd);
        if (hostns >= 0)
            close(hostns);
        run_monitor(uuid, p.lxcpath, st[1]);
    }
    close(st[1]);

    struct lxc_container *c = ct_lxc_new(uuid, p.lxcpath);
    bool mon_done;
    pid_t init = wait_for_init(c, st[0], &mon_done);
    unsigned long long init_start = 0, sup_start = 0;
    if (!(init > 0 && ct_proc_stat(init, NULL, &init_start) == 0 && ct_proc_stat(getpid(), NULL, &sup_start) == 0))
        start_failed(&p, uuid, c, st[0], mon, mon_done, syncfd);
    record_started(ctx, &p, uuid, c, init, init_start, sup_start, syncfd);
    close(syncfd);
    if (c)
        ct_lxc_put(c);

    int ok = 0, status = 0;
    bool have = read_monitor(st[0], &ok, &status) == 0;
    waitpid(mon, NULL, 0);
    /* Before the exit is recorded: a stop returns with the view fresh. */
    refresh_host_view(ctx, uuid, root, hostns);
    if (have) {
        if (vm_runstate_write_exit(p.rundir, exit_code_of(status), &e) < 0)
            vm_log(ctx, "warn", "container %s: %s", uuid, e.msg);
        vm_log(ctx, "info", "container %s ended, status %d", uuid, exit_code_of(status));
    } else {
        vm_log(ctx, "warn", "container %s: LXC monitor died without reporting", uuid);
    }
    ct_clean_running_files(&p, uuid, NULL);
    _exit(0);
}

/* Forks the detached supervisor; returns the read end of its report pipe. */
static int spawn_supervisor(const vm_ctx *ctx, const char *uuid, const ct_root *root, const ct_inputs *in, vm_err *err)
{
    int sp[2];
    if (pipe2(sp, O_CLOEXEC) < 0)
        return vm_err_sys(err, errno, "pipe");
    pid_t child = fork();
    if (child < 0) {
        vm_err_sys(err, errno, "fork");
        close(sp[0]);
        close(sp[1]);
        return -1;
    }
    if (child == 0) {
        /* Own session, then orphan the supervisor so no vmadm process is
         * its parent (and no terminal signal reaches it). */
        close(sp[0]);
        setsid();
        pid_t s = fork();
        if (s == 0)
            supervise(ctx, uuid, root, in, sp[1]);
        _exit(s < 0 ? 1 : 0);
    }
    close(sp[1]);
    int wst;
    while (waitpid(child, &wst, 0) < 0 && errno == EINTR)
        ;
    return sp[0];
}

/* The supervisor's "OK <pid>" or "ERR <message>" (it cleaned up after
 * itself on failure).  Closes rfd. */
static int await_supervisor(int rfd, const char *uuid, vm_err *err)
{
    char msg[VM_ERR_MSGLEN + 16];
    size_t len = 0;
    for (;;) {
        ssize_t r = read(rfd, msg + len, sizeof msg - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
        if (len >= sizeof msg - 1)
            break;
    }
    close(rfd);
    msg[len] = '\0';
    if (str_has_prefix(msg, "OK "))
        return 0;
    if (str_has_prefix(msg, "ERR "))
        vm_err_set(err, VMERR_INTERNAL, "cannot start container %s: %s", uuid, msg + 4);
    else
        vm_err_set(err, VMERR_INTERNAL, "cannot start container %s: supervisor exited without reporting", uuid);
    return -1;
}

int ct_start(const vm_ctx *ctx, vs_pool *pool, json_t *vmobj, vm_err *err)
{
    const char *uuid = json_string_value(json_object_get(vmobj, "uuid"));
    if (!uuid || !uuid_valid(uuid))
        return vm_err_set(err, VMERR_INVALID, "VM object has no valid uuid");
    vm_runstate rs;
    ct_runstate(ctx, uuid, &rs);
    if (rs.running)
        return vm_err_set(err, VMERR_STATE, "container %s is already running", uuid);

    cleanup_root ct_root root = CT_ROOT_INIT;
    if (ct_root_check(pool, vmobj, &root, err) < 0)
        return -1;

    cleanup_paths ct_paths p;
    ct_paths_init(ctx, uuid, &p);
    ct_host host;
    ct_host_probe(&host);
    ct_inputs in = { .rootfs = root.rootfs,
                     .rundir = p.rundir,
                     .dataset_dirs = root.dataset_dirs,
                     .init_is_systemd = root.init_is_systemd,
                     .shifted_root = root.ly_datadir != NULL };
    /* The id range is recorded at the first start and kept (see ct.h). */
    if (ct_privileged_wanted(ctx, vmobj, &in.privileged, err) < 0 ||
        (!in.privileged && ct_idmap_get(ctx, uuid, &in.idmap_base, err) < 0))
        return -1;
    if (in.privileged)
        vm_log(ctx, "warn", "container %s runs privileged (no user namespace): allowed by %s", uuid,
               CT_ALLOW_PRIVILEGED);
    /* NICs: their tags must exist (checked here, plugged in below). */
    __attribute__((cleanup(ct_net_planp))) net_plan *plan = NULL;
    cleanup_json json_t *peers = NULL;
    if (ct_net_prepare(ctx, vmobj, &plan, &peers, err) < 0)
        return -1;
    in.nic_peers = peers;
    cleanup_json json_t *items = NULL;
    cleanup_json json_t *notes = json_array();
    if (ct_config_build(vmobj, &host, &in, &items, notes, err) < 0)
        return -1;
    size_t i;
    json_t *note;
    json_array_foreach(notes, i, note)
        vm_log(ctx, "info", "container %s: %s", uuid, json_string_value(note));

    /* Everything checked: from here on we change state. */
    if (mkdir_p(p.rundir, 0700, err) < 0 || rm_rf(p.lxcpath, err) < 0)
        return -1;
    cleanup_free char *cdir = xasprintf("%s/%s", p.lxcpath, uuid);
    if (mkdir_p(cdir, 0711, err) < 0)
        return -1;
    unlink(p.lxclog);
    unlink(p.consolelog);
    unlink(p.state);
    if (!in.privileged) {
        /* Container root must reach its LXC dir and its bind mount sources
         * (nothing else: the rootfs is mounted by the privileged parent). */
        const char *limit = pool ? ctx->root : NULL;
        cleanup_free char *zonedir = xstrdup(root.rootfs);
        *strrchr(zonedir, '/') = '\0';
        size_t zl = strlen(zonedir);
        /* The zone dir itself: its root/ is container root's (uid 0 on
         * disk), no other host user may reach it. */
        if (ct_grant_search(cdir, p.rundir, in.idmap_base, limit, err) < 0 ||
            ct_grant_search(zonedir, zonedir, in.idmap_base, limit, err) < 0)
            return -1;
        json_t *d;
        json_array_foreach(root.dataset_dirs, i, d) {
            const char *dd = json_string_value(d);
            /* Under the zone dir (the test hook), or in a directory of its
             * own (lib/storage: .../<id>.d/fs): that one is the boundary,
             * /data itself keeps the mode the container gave it. */
            bool under = !strncmp(dd, zonedir, zl) && dd[zl] == '/';
            cleanup_free char *own = xstrdup(dd);
            char *slash = strrchr(own, '/');
            if (slash && slash != own)
                *slash = '\0';
            if (ct_grant_search(dd, under ? zonedir : own, in.idmap_base, limit, err) < 0)
                return -1;
        }
    }
    cleanup_free char *seccomp = xasprintf("%s/seccomp", cdir);
    const char *prof = ct_seccomp_profile();
    int rfd = -1;
    if (write_file_atomic(seccomp, prof, strlen(prof), 0644, err) < 0 ||
        ct_root_write_resolvers(root.rootfd, vmobj, err) < 0 || ct_lxc_save_config(uuid, p.lxcpath, items, err) < 0 ||
        ct_net_plug(ctx, plan, err) < 0 || (rfd = spawn_supervisor(ctx, uuid, &root, &in, err)) < 0) {
        vm_err e2 = VM_ERR_INIT;
        rm_rf(p.lxcpath, &e2);
        ct_net_unplug(ctx, plan);
        return -1;
    }
    if (await_supervisor(rfd, uuid, err) < 0) {
        ct_net_unplug(ctx, plan);
        return -1;
    }
    return 0;
}
