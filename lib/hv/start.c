/* Starting a VM: the supervisor process and the wait for "running". */
#include "hv/hv.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/lock.h"
#include "common/proc.h"
#include "common/util.h"
#include "hv/argv_internal.h"
#include "hv/confine.h"
#include "hv/hv_internal.h"
#include "hv/hv_proc.h"
#include "hv/qmp.h"
#include "net/net.h"

/* How long QEMU may take to open its QMP socket and report "running". */
#define START_TIMEOUT_MS 30000

/* Runtime files describe live processes and are meaningless after a host
 * crash, so rename() atomicity is enough: no fsync on the start path. */
static void write_quiet(const char *path, const char *text, mode_t mode)
{
    vm_err e = VM_ERR_INIT;
    (void)vm_run_write(path, text, mode, VM_RUN_FAST, &e);
}

static int write_run(const char *path, const char *text, mode_t mode, vm_err *err)
{
    return vm_run_write(path, text, mode, VM_RUN_FAST, err);
}

static void status_write(int fd, const char *s)
{
    ssize_t r = write(fd, s, strlen(s));
    (void)r;
}

/* What QEMU is given besides its argv: the descriptors it inherits (moved
 * to HV_FD_BASE + i), who it runs as, and its working directory. */
typedef struct launch_spec {
    const int *fds;
    size_t nfds;
    hv_ids ids;
    const char *cwd;
} launch_spec;

/* Moves spec->fds out of the way (above every target number), so that the
 * stdio set-up and the final dup2s clobber nothing. */
static int stash_fds(const launch_spec *spec, int *tmp)
{
    for (size_t i = 0; i < spec->nfds; i++) {
        tmp[i] = fcntl(spec->fds[i], F_DUPFD_CLOEXEC, HV_FD_BASE + (int)spec->nfds);
        if (tmp[i] < 0)
            return -1;
    }
    return 0;
}

/* In QEMU's process, just before exec: its descriptors, cwd, and the QEMU
 * user (confine.c).  Returns -errno. */
static int become_qemu(const launch_spec *spec, const int *tmp)
{
    for (size_t i = 0; i < spec->nfds; i++)
        if (dup2(tmp[i], HV_FD_BASE + (int)i) < 0)
            return -errno;
    /* Everything else here is close-on-exec. */
    if (chdir(spec->cwd ? spec->cwd : "/") < 0)
        return -errno;
    return hv_drop_privileges(&spec->ids);
}

/* The supervisor: QEMU's parent for its whole life.  Runs in its own
 * session with only /dev/null, qemu.log and the status pipe open, so it
 * holds none of the caller's locks or terminals.  Never returns. */
static void __attribute__((noreturn)) supervise(const char *rundir, char **argv, int status_fd, const launch_spec *spec)
{
    char path[4096];
    int *tmp = xcalloc(spec->nfds + 1, sizeof *tmp);
    if (stash_fds(spec, tmp) < 0) {
        status_write(status_fd, "E cannot pass descriptors to QEMU\n");
        _exit(1);
    }
    setsid();
    prctl(PR_SET_NAME, HV_SUPERVISOR_COMM, 0, 0, 0);
    signal(SIGHUP, SIG_IGN);
    signal(SIGINT, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);

    snprintf(path, sizeof path, "%s/qemu.log", rundir);
    int logfd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    int nullfd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (logfd < 0 || nullfd < 0) {
        status_write(status_fd, "E cannot open qemu.log\n");
        _exit(1);
    }
    dup2(nullfd, 0);
    dup2(logfd, 1);
    dup2(logfd, 2);
    if (status_fd != 3) {
        dup2(status_fd, 3);
        status_fd = 3;
    }
    fcntl(status_fd, F_SETFD, FD_CLOEXEC);
    /* Keep only stdio, the status pipe and the stashed descriptors. */
    int top = 3;
    for (size_t i = 0; i < spec->nfds; i++)
        top = tmp[i] > top ? tmp[i] : top;
    for (int fd = 4; fd <= top; fd++) {
        bool keep = false;
        for (size_t i = 0; i < spec->nfds && !keep; i++)
            keep = tmp[i] == fd;
        if (!keep)
            close(fd);
    }
    close_range((unsigned)top + 1, ~0U, 0);

    snprintf(path, sizeof path, "%s/supervisor", rundir);
    char num[32];
    snprintf(num, sizeof num, "%d\n", (int)getpid());
    write_quiet(path, num, 0644);

    int ep[2];
    if (pipe2(ep, O_CLOEXEC) < 0) {
        status_write(status_fd, "E pipe failed\n");
        _exit(1);
    }
    /* Out of the way of QEMU's descriptor numbers too. */
    for (int i = 0; i < 2; i++) {
        int hi = fcntl(ep[i], F_DUPFD_CLOEXEC, HV_FD_BASE + (int)spec->nfds);
        if (hi < 0) {
            status_write(status_fd, "E pipe failed\n");
            _exit(1);
        }
        close(ep[i]);
        ep[i] = hi;
    }
    pid_t qpid = fork();
    if (qpid < 0) {
        status_write(status_fd, "E fork failed\n");
        _exit(1);
    }
    if (qpid == 0) {
        signal(SIGHUP, SIG_DFL);
        signal(SIGINT, SIG_DFL);
        signal(SIGPIPE, SIG_DFL);
        close(ep[0]);
        int e = -become_qemu(spec, tmp);
        if (!e) {
            execvp(argv[0], argv);
            e = errno;
        }
        ssize_t r = write(ep[1], &e, sizeof e);
        (void)r;
        _exit(127);
    }
    close(ep[1]);
    /* QEMU has its own copies now. */
    for (size_t i = 0; i < spec->nfds; i++)
        close(tmp[i]);
    int eno = 0;
    ssize_t got;
    do
        got = read(ep[0], &eno, sizeof eno);
    while (got < 0 && errno == EINTR);
    close(ep[0]);
    if (got == (ssize_t)sizeof eno) {
        char msg[256];
        waitpid(qpid, NULL, 0);
        snprintf(msg, sizeof msg, "E cannot run %s: %s\n", argv[0], strerror(eno));
        status_write(status_fd, msg);
        snprintf(path, sizeof path, "%s/supervisor", rundir);
        unlink(path);
        _exit(1);
    }

    /* QEMU is running our argv now, so the pid file never names a process
     * that would fail the /proc identity check. */
    snprintf(path, sizeof path, "%s/pid", rundir);
    snprintf(num, sizeof num, "%d\n", (int)qpid);
    write_quiet(path, num, 0644);
    char msg[64];
    snprintf(msg, sizeof msg, "P %d %d\n", (int)qpid, (int)getpid());
    status_write(status_fd, msg);
    close(status_fd);

    int st = 0;
    while (waitpid(qpid, &st, 0) < 0 && errno == EINTR)
        ;
    int code = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? -WTERMSIG(st) : -1;
    vm_err e = VM_ERR_INIT;
    (void)vm_runstate_write_exit(rundir, code, &e);
    hv_remove_run_files(rundir, qpid);
    _exit(0);
}

/* Reads the supervisor's one-line report ("P <qemu> <sup>" or "E <msg>"). */
static int read_status(int fd, char *buf, size_t size, int timeout_ms)
{
    size_t len = 0;
    int64_t deadline = now_ms() + timeout_ms;
    while (len + 1 < size) {
        struct pollfd p = { .fd = fd, .events = POLLIN };
        int64_t left = deadline - now_ms();
        if (left <= 0)
            break;
        int r = poll(&p, 1, (int)left);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        ssize_t n = read(fd, buf + len, size - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (memchr(buf, '\n', len))
            break;
    }
    buf[len] = '\0';
    return (int)len;
}

/* Forks the supervisor twice removed, so it is nobody's zombie to reap.
 * Not run_cmd (common/cmd.h): QEMU outlives this process and is watched,
 * not waited for. */
static int launch(const char *rundir, char **argv, const launch_spec *spec, pid_t *qpid, pid_t *spid, vm_err *err)
{
    int sp[2];
    if (pipe2(sp, O_CLOEXEC) < 0)
        return vm_err_sys(err, errno, "pipe");
    fflush(NULL);
    pid_t c = fork();
    if (c < 0) {
        int e = errno;
        close(sp[0]);
        close(sp[1]);
        return vm_err_sys(err, e, "fork");
    }
    if (c == 0) {
        close(sp[0]);
        pid_t s = fork();
        if (s == 0)
            supervise(rundir, argv, sp[1], spec);
        _exit(s < 0 ? 1 : 0);
    }
    close(sp[1]);
    int st;
    while (waitpid(c, &st, 0) < 0 && errno == EINTR)
        ;
    char buf[512];
    int n = read_status(sp[0], buf, sizeof buf, START_TIMEOUT_MS);
    close(sp[0]);
    int q, s;
    if (n > 2 && buf[0] == 'P' && sscanf(buf, "P %d %d", &q, &s) == 2) {
        *qpid = q;
        *spid = s;
        return 0;
    }
    if (n > 2 && buf[0] == 'E') {
        buf[strcspn(buf, "\n")] = '\0';
        return vm_err_set(err, VMERR_INTERNAL, "%s", buf + 2);
    }
    return vm_err_set(err, VMERR_INTERNAL, "the VM supervisor process did not start");
}

/* Waits until QMP answers and query-status says running (incoming: that
 * QEMU waits for a migration, "inmigrate"). */
static int wait_running(const char *qmp_path, int qpidfd, json_t *vnc, bool incoming, vm_err *err)
{
    qmp_conn c = QMP_CONN_INIT;
    int rc = -1;
    int64_t deadline = now_ms() + START_TIMEOUT_MS;
    for (;;) {
        if (vm_pidfd_wait(qpidfd, 0) == 1) {
            vm_err_set(err, VMERR_INTERNAL, "QEMU exited while starting");
            goto out;
        }
        if (now_ms() > deadline) {
            vm_err_set(err, VMERR_TIMEOUT, "QEMU did not become ready within %d s", START_TIMEOUT_MS / 1000);
            goto out;
        }
        if (c.fd < 0) {
            vm_err e = VM_ERR_INIT;
            if (qmp_connect(&c, qmp_path, 5000, &e) < 0) {
                qmp_close(&c);
                vm_sleep_ms(1);
                continue;
            }
        }
        cleanup_json json_t *st = NULL;
        if (qmp_exec(&c, "query-status", NULL, &st, err) < 0)
            goto out;
        const char *s = json_string_value(json_object_get(st, "status"));
        if (s && !strcmp(s, incoming ? "inmigrate" : "running"))
            break;
        if (s &&
            (!strcmp(s, "internal-error") || !strcmp(s, "guest-panicked") || !strcmp(s, "shutdown") ||
             !strcmp(s, "io-error"))) {
            vm_err_set(err, VMERR_INTERNAL, "QEMU stopped the guest (status %s)", s);
            goto out;
        }
        vm_sleep_ms(5);
    }
    /* The password never goes on the command line. */
    const char *pw = json_string_value(json_object_get(vnc, "password"));
    if (pw) {
        cleanup_json json_t *a = json_pack("{s:s}", "password", pw);
        if (qmp_exec(&c, "change-vnc-password", a, NULL, err) < 0)
            goto out;
    }
    rc = 0;
out:
    qmp_close(&c);
    return rc;
}

static int write_state_files(const char *rundir, const char *accel, const char *warning, json_t *vnc, vm_err *err)
{
    cleanup_free char *p = xasprintf("%s/accel", rundir);
    cleanup_free char *t = xasprintf("%s\n", accel);
    if (write_run(p, t, 0644, err) < 0)
        return -1;
    if (*warning) {
        cleanup_free char *wp = xasprintf("%s/accel_warning", rundir);
        cleanup_free char *wt = xasprintf("%s\n", warning);
        if (write_run(wp, wt, 0644, err) < 0)
            return -1;
    }
    cleanup_free char *bp = xasprintf("%s/boot", rundir);
    cleanup_free char *bt = xasprintf("%lld\n", (long long)now_ms());
    if (write_run(bp, bt, 0644, err) < 0)
        return -1;
    if (vnc) {
        /* The port QEMU really bound is asked at `info vnc` time. */
        json_object_del(vnc, "auto");
        cleanup_free char *vp = xasprintf("%s/vnc.json", rundir);
        cleanup_free char *vt = json_pretty(vnc);
        if (write_run(vp, vt, 0600, err) < 0)
            return -1;
    }
    return 0;
}

/* A listening unix socket at path, root-owned 0600 (bound before anyone
 * can connect: connecting before listen() is refused). */
static int listen_at(const char *path, vm_err *err)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof sa.sun_path)
        return vm_err_set(err, VMERR_INVALID, "socket path %s is too long", path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return vm_err_sys(err, errno, "socket");
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || chmod(path, 0600) < 0 || listen(fd, 16) < 0) {
        int e = errno;
        close(fd);
        return vm_err_sys(err, e, "cannot listen on %s", path);
    }
    return fd;
}

/* The tap of the NIC whose interface is `ifn` (lib/net: created on its
 * tag's bridge, behind the filter net_vm_prepare applied). */
static int open_tap(const net_plan *plan, const char *ifn, vm_err *err)
{
    for (size_t i = 0; plan && i < plan->n; i++) {
        int fd;
        if (strcmp(plan->nics[i].interface, ifn))
            continue;
        if (net_tap_open(&plan->nics[i], &fd, err) < 0) {
            vm_err_prefix(err, "NIC %s: ", ifn);
            return -1;
        }
        return fd;
    }
    return vm_err_set(err, VMERR_INTERNAL, "NIC %s is not in the network plan", ifn);
}

static int open_one(const vm_ctx *ctx, vs_pool *pool, const char *uuid, const net_plan *plan, json_t *e, vm_err *err)
{
    const char *kind = json_string_value(json_object_get(e, "kind"));
    const char *path = json_string_value(json_object_get(e, "path"));
    int fd = -2;
    if (!strcmp(kind, "listen"))
        return listen_at(path, err);
    if (!strcmp(kind, "tap"))
        return open_tap(plan, path, err);
    if (!strcmp(kind, "log"))
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    else if (!strcmp(kind, "file") || !strcmp(kind, "vol-rw"))
        fd = open(path, O_RDWR | O_CLOEXEC);
    else if (!strcmp(kind, "vol-ro") || !strcmp(kind, "file-ro"))
        fd = open(path, O_RDONLY | O_CLOEXEC);
    else if (!strcmp(kind, "seed"))
        fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    else if (!strcmp(kind, "path-rw") || !strcmp(kind, "path-ro"))
        return hv_open_disk_path(ctx, pool, uuid, path, !strcmp(kind, "path-rw") ? O_RDWR : O_RDONLY, err);
    else if (!strcmp(kind, "layer"))
        return hv_open_layer(ctx, path, json_string_value(json_object_get(e, "dir")), err);
    if (fd == -2)
        return vm_err_set(err, VMERR_INTERNAL, "unknown descriptor kind %s", kind);
    if (fd < 0)
        return vm_err_sys(err, errno, !strcmp(kind, "log") ? "cannot create %s" : "disk %s is not usable", path);
    return fd;
}

/* Descriptors that create something (runtime files, taps) rather than
 * open what exists. */
static bool creates(json_t *e)
{
    const char *kind = json_string_value(json_object_get(e, "kind"));
    return !strcmp(kind, "listen") || !strcmp(kind, "log") || !strcmp(kind, "seed") || !strcmp(kind, "tap");
}

/* Opens the descriptors of the fd plan that create something (create
 * true) or the others: disks and NVRAM, checked before anything is
 * created.  v[i] < 0 until opened; on failure the caller closes v. */
static int open_fds(const vm_ctx *ctx, vs_pool *pool, const char *uuid, const net_plan *plan, json_t *fds, int *v,
                    bool create, vm_err *err)
{
    size_t i;
    json_t *e;
    json_array_foreach(fds, i, e) {
        if (creates(e) != create)
            continue;
        if ((v[i] = open_one(ctx, pool, uuid, plan, e, err)) < 0)
            return -1;
    }
    return 0;
}

static void close_fds(int *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        if (v[i] >= 0)
            close(v[i]);
    free(v);
}

/* The VNC unix socket's directory: QEMU creates the socket there (its cwd,
 * so no parent directory needs to be searchable by the QEMU user). */
static int prepare_vnc_dir(const char *rundir, const hv_ids *ids, char **cwd, vm_err *err)
{
    cleanup_free char *dir = xasprintf("%s/vnc", rundir);
    cleanup_free char *sock = xasprintf("%s/vnc.sock", dir);
    unlink(sock);
    if (mkdir(dir, 0700) < 0 && errno != EEXIST)
        return vm_err_sys(err, errno, "cannot create %s", dir);
    if (chown(dir, ids->uid, ids->gid) < 0 || chmod(dir, 0700) < 0)
        return vm_err_sys(err, errno, "cannot prepare %s", dir);
    *cwd = steal_ptr(dir);
    return 0;
}

static int prepare_uefi_vars(const char *vars, vm_err *err)
{
    if (path_exists(vars))
        return 0;
    cleanup_free char *dir = xstrdup(vars);
    *strrchr(dir, '/') = '\0';
    if (mkdir_p(dir, 0755, err) < 0)
        return -1;
    /* Copy then rename, so a crash never leaves a truncated NVRAM behind. */
    cleanup_free char *tmp = xasprintf("%s.tmp", vars);
    if (copy_file_sparse(HV_OVMF_VARS, tmp, err) < 0)
        return -1;
    if (rename(tmp, vars) < 0) {
        unlink(tmp);
        return vm_err_sys(err, errno, "cannot create %s", vars);
    }
    return 0;
}

/* The runtime directory, with nothing of a previous run left.  Root only:
 * the console log and sockets are the VM's secrets (QEMU gets
 * descriptors, it needs no access here). */
static int reset_rundir(const char *rundir, vm_err *err)
{
    if (mkdir_p(rundir, 0700, err) < 0 || chmod(rundir, 0700) < 0) {
        if (!err->msg[0])
            vm_err_sys(err, errno, "chmod %s", rundir);
        return -1;
    }
    hv_remove_run_files(rundir, 0);
    static const char *const old[] = {
        "lastexited", "vnc.json", "accel_warning", "screenshot.ppm", "console.log", NULL
    };
    for (const char *const *n = old; *n; n++) {
        cleanup_free char *p = xasprintf("%s/%s", rundir, *n);
        unlink(p);
    }
    return 0;
}

static void plan_freep(net_plan **p)
{
    net_plan_free(*p);
}

/* A start that failed after net_vm_prepare: its filter goes (the taps went
 * with their descriptors). */
static void net_cleanup(const vm_ctx *ctx, const char *uuid, const net_plan *plan)
{
    vm_err e = VM_ERR_INIT;
    if (plan->n && net_vm_teardown(ctx, uuid, &e) < 0)
        vm_log(ctx, "warn", "VM %s: %s", uuid, e.msg);
}

/* "-incoming defer": the migration channel is given later over QMP
 * (migrate.c).  Not part of hv_build_argv: the same VM, only started
 * waiting. */
static char **with_incoming(char **argv)
{
    size_t n = strv_len(argv);
    argv = xrealloc(argv, (n + 3) * sizeof *argv);
    argv[n] = xstrdup("-incoming");
    argv[n + 1] = xstrdup("defer");
    argv[n + 2] = NULL;
    return argv;
}

int hv_start_vm(const vm_ctx *ctx, vs_pool *pool, json_t *vmobj, bool incoming, vm_err *err)
{
    const char *uuid = json_string_value(json_object_get(vmobj, "uuid"));
    if (!uuid || !uuid_valid(uuid))
        return vm_err_set(err, VMERR_INVALID, "VM object has no valid uuid");

    vm_runstate rs;
    hv_runstate(ctx, uuid, &rs);
    if (rs.running)
        return vm_err_set(err, VMERR_ALREADY, "VM %s is already 'running'", uuid);

    char accel[8], warning[256];
    if (hv_accel(ctx, accel, warning, err) < 0)
        return -1;

    cleanup_strv char **argv = NULL;
    cleanup_json json_t *fds = NULL;
    cleanup_json json_t *vnc = NULL;
    cleanup_free char *uefi_vars = NULL;
    if (hv_build_argv_full(ctx, pool, vmobj, accel, &argv, &fds, &uefi_vars, &vnc, err) < 0)
        return -1;
    if (incoming)
        argv = with_incoming(argv);
    /* The NICs' tags must exist: checked before anything is created. */
    __attribute__((cleanup(plan_freep))) net_plan *plan = NULL;
    if (net_plan_build(ctx, vmobj, &plan, err) < 0)
        return -1;
    launch_spec spec = { 0 };
    if (hv_qemu_ids(&spec.ids, err) < 0)
        return -1;

    json_int_t ram = json_integer_value(json_object_get(vmobj, "ram"));
    long host = hv_host_mem_mib();
    if (host > 0 && ram > host)
        return vm_err_set(err, VMERR_INVALID, "ram (%lld MiB) exceeds host memory (%ld MiB)", (long long)ram, host);
    if (uefi_vars && prepare_uefi_vars(uefi_vars, err) < 0)
        return -1;
    /* Every file and socket QEMU uses is opened here (confine.c); the disks
     * first, so that a bad one is refused before anything is created. */
    spec.nfds = json_array_size(fds);
    int *fdv = xcalloc(spec.nfds + 1, sizeof *fdv);
    for (size_t i = 0; i < spec.nfds; i++)
        fdv[i] = -1;
    spec.fds = fdv;
    if (open_fds(ctx, pool, uuid, NULL, fds, fdv, false, err) < 0) {
        close_fds(fdv, spec.nfds);
        return -1;
    }

    cleanup_free char *rundir = vm_ctx_vm_rundir(ctx, uuid);
    if (reset_rundir(rundir, err) < 0) {
        close_fds(fdv, spec.nfds);
        return -1;
    }
    /* The NoCloud seed is written fresh; then NICs: bridges and filters
     * first, then the taps (open_fds), so no port of this VM is ever on a
     * bridge unprotected. */
    if (hv_nocloud_prepare(rundir, vmobj, err) < 0 || (plan->n && net_vm_prepare(ctx, plan, err) < 0) ||
        open_fds(ctx, pool, uuid, plan, fds, fdv, true, err) < 0) {
        close_fds(fdv, spec.nfds);
        hv_remove_run_files(rundir, 0);
        net_cleanup(ctx, uuid, plan);
        return -1;
    }
    cleanup_free char *cwd = NULL;
    if (json_object_get(vnc, "path") && prepare_vnc_dir(rundir, &spec.ids, &cwd, err) < 0) {
        close_fds(fdv, spec.nfds);
        hv_remove_run_files(rundir, 0);
        return -1;
    }
    spec.cwd = cwd;
    cleanup_free char *logpath = xasprintf("%s/qemu.log", rundir);
    cleanup_free char *qmppath = xasprintf("%s/qmp.sock", rundir);
    {
        cleanup_free char *cmd = strv_join(argv, " ");
        cleanup_free char *head = xasprintf("# vmadm: starting VM %s with accel %s\n# %s\n", uuid, accel, cmd);
        if (write_run(logpath, head, 0600, err) < 0) {
            close_fds(fdv, spec.nfds);
            return -1;
        }
    }
    if (*warning)
        vm_log(ctx, "warn", "VM %s: %s", uuid, warning);

    pid_t qpid = 0, spid = 0;
    int lrc = launch(rundir, argv, &spec, &qpid, &spid, err);
    close_fds(fdv, spec.nfds);
    if (lrc < 0) {
        hv_remove_run_files(rundir, 0);
        net_cleanup(ctx, uuid, plan);
        vm_err_prefix(err, "cannot start QEMU: ");
        return -1;
    }
    cleanup_close int qfd = vm_pidfd_open(qpid);
    cleanup_close int sfd = vm_pidfd_open(spid);
    /* Written while QEMU initialises, off the critical path. */
    if (qfd < 0 || write_state_files(rundir, accel, warning, vnc, err) < 0 ||
        wait_running(qmppath, qfd, vnc, incoming, err) < 0) {
        if (qfd >= 0) {
            vm_pidfd_signal(qfd, SIGKILL);
            vm_pidfd_wait(qfd, 10000);
        }
        /* Let the supervisor record the exit and clean up, then make sure. */
        if (sfd >= 0)
            vm_pidfd_wait(sfd, 5000);
        hv_remove_run_files(rundir, 0);
        net_cleanup(ctx, uuid, plan);
        cleanup_free char *tail = hv_log_tail(logpath, 5);
        if (!vm_err_is_set(err))
            vm_err_set(err, VMERR_INTERNAL, "QEMU did not start");
        if (*tail) {
            cleanup_free char *msg = xasprintf("%s: %s", err->msg, tail);
            vm_err_set(err, err->code, "%s", msg);
        }
        vm_log(ctx, "error", "VM %s failed to start: %s", uuid, err->msg);
        return -1;
    }
    vm_log(ctx, "info", "VM %s started%s: qemu pid %d, accel %s", uuid, incoming ? " for an incoming migration" : "",
           (int)qpid, accel);
    return 0;
}

int hv_start(const vm_ctx *ctx, vs_pool *pool, json_t *vmobj, vm_err *err)
{
    return hv_start_vm(ctx, pool, vmobj, false, err);
}
