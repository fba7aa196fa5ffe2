#include "ct/ct.h"

/* errno.h before attach_options.h: LXC_ATTACH_OPTIONS_DEFAULT uses EBADF. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <lxc/attach_options.h>
#include <lxc/lxccontainer.h>

#include "common/util.h"
#include "ct/ct_config.h"

#include <dlfcn.h>
#include <pthread.h>

/* liblxc is opened on first use, not at program start: every vmadm command
 * links this library, but only container operations need LXC, and loading
 * it (with seccomp, selinux, apparmor, cap, pcre2) is most of vmadm's
 * start-up time.  Three entry points are used directly. */
static struct {
    pthread_once_t once;
    struct lxc_container *(*new_)(const char *, const char *);
    int (*put)(struct lxc_container *);
    int (*run_command)(void *);
    char error[256];
} lxcapi = { PTHREAD_ONCE_INIT, NULL, NULL, NULL, "" };

static void lxcapi_load(void)
{
    void *h = dlopen("liblxc.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(lxcapi.error, sizeof lxcapi.error, "cannot load liblxc: %s", dlerror());
        return;
    }
    lxcapi.new_ = (struct lxc_container * (*)(const char *, const char *))dlsym(h, "lxc_container_new");
    lxcapi.put = (int (*)(struct lxc_container *))dlsym(h, "lxc_container_put");
    lxcapi.run_command = (int (*)(void *))dlsym(h, "lxc_attach_run_command");
    if (!lxcapi.new_ || !lxcapi.put || !lxcapi.run_command)
        snprintf(lxcapi.error, sizeof lxcapi.error, "liblxc lacks the container API");
}

static struct lxc_container *ct_lxc_new(const char *name, const char *path)
{
    pthread_once(&lxcapi.once, lxcapi_load);
    if (!lxcapi.new_) {
        errno = ENOSYS;
        return NULL;
    }
    return lxcapi.new_(name, path);
}

static int ct_lxc_put(struct lxc_container *c)
{
    return c && lxcapi.put ? lxcapi.put(c) : 0;
}

/* How long the supervisor waits for LXC to report init running. */
#define CT_START_TIMEOUT_MS 30000
/* How long ct_stop waits for the supervisor to record the exit. */
#define CT_REAP_TIMEOUT_MS 15000
#define CT_DEFAULT_STOP_TIMEOUT 60
#define CT_CONSOLE_DETACH 0x1d /* CTRL-] */

static void cleanup_lxcp(struct lxc_container **c)
{
    if (*c)
        ct_lxc_put(*c);
    *c = NULL;
}
#define cleanup_lxc __attribute__((cleanup(cleanup_lxcp)))

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

/* ---- run dir files ---- */

typedef struct ct_paths {
    char *rundir;   /* run/vms/<uuid> */
    char *lxcpath;  /* run/vms/<uuid>/lxc */
    char *pid;
    char *boot;
    char *lastexited;
    char *state;
    char *ctinit;
    char *lxclog;
    char *consolelog;
} ct_paths;

static void ct_paths_init(const vm_ctx *ctx, const char *uuid, ct_paths *p)
{
    p->rundir = vm_ctx_vm_rundir(ctx, uuid);
    p->lxcpath = xasprintf("%s/lxc", p->rundir);
    p->pid = xasprintf("%s/pid", p->rundir);
    p->boot = xasprintf("%s/boot", p->rundir);
    p->lastexited = xasprintf("%s/lastexited", p->rundir);
    p->state = xasprintf("%s/state", p->rundir);
    p->ctinit = xasprintf("%s/ctinit", p->rundir);
    p->lxclog = xasprintf("%s/lxc.log", p->rundir);
    p->consolelog = xasprintf("%s/console.log", p->rundir);
}

static void ct_paths_free(ct_paths *p)
{
    free(p->rundir);
    free(p->lxcpath);
    free(p->pid);
    free(p->boot);
    free(p->lastexited);
    free(p->state);
    free(p->ctinit);
    free(p->lxclog);
    free(p->consolelog);
    memset(p, 0, sizeof *p);
}
#define cleanup_paths __attribute__((cleanup(ct_paths_free)))

/* Small text file -> trimmed string, or NULL if absent/unreadable. */
static char *read_small(const char *path)
{
    char *buf = NULL;
    size_t len;
    vm_err e = VM_ERR_INIT;
    if (read_file(path, &buf, &len, &e) < 0)
        return NULL;
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
        buf[--len] = '\0';
    return buf;
}

static int write_small(const char *path, const char *text, vm_err *err)
{
    return write_file_atomic(path, text, strlen(text), 0644, err);
}

/* /proc/<pid>/stat: state letter and start time (clock ticks since boot).
 * The comm field may hold spaces and ')', so parse after the last ')'. */
static int proc_stat(pid_t pid, char *state, unsigned long long *start)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    cleanup_free char *buf = read_small(path);
    if (!buf)
        return -1;
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    p++;
    /* Fields after comm start at field 3 (state); starttime is field 22. */
    char st = 0;
    unsigned long long v = 0;
    int field = 2;
    for (char *tok = strtok(p, " "); tok; tok = strtok(NULL, " ")) {
        field++;
        if (field == 3)
            st = tok[0];
        if (field == 22) {
            v = strtoull(tok, NULL, 10);
            break;
        }
    }
    if (field != 22)
        return -1;
    if (state)
        *state = st;
    if (start)
        *start = v;
    return 0;
}

/* Identity recorded at start: init's start time, and the supervisor's pid
 * and start time (so ct_stop can tell whether it will still record the exit). */
typedef struct ct_ident {
    unsigned long long init_start;
    pid_t sup_pid;
    unsigned long long sup_start;
} ct_ident;

static int read_ident(const ct_paths *p, ct_ident *id)
{
    cleanup_free char *s = read_small(p->ctinit);
    long sup = 0;
    memset(id, 0, sizeof *id);
    if (!s || sscanf(s, "%llu %ld %llu", &id->init_start, &sup, &id->sup_start) != 3)
        return -1;
    id->sup_pid = (pid_t)sup;
    return 0;
}

static bool supervisor_alive(const ct_ident *id)
{
    unsigned long long st;
    char state;
    return id->sup_pid > 0 && proc_stat(id->sup_pid, &state, &st) == 0 && st == id->sup_start &&
           state != 'Z' && state != 'X';
}

static int parse_pid(const char *s, pid_t *pid)
{
    int64_t v;
    if (!s || !parse_i64(s, &v) || v <= 1 || v > INT_MAX)
        return -1;
    *pid = (pid_t)v;
    return 0;
}

/* Removes the running-state files if the pid file still says `pidstr`
 * (someone may have started the VM again meanwhile). */
static void cgroup_leftovers(const char *uuid, const char *self_cgroup);

static void clean_running_files(const ct_paths *p, const char *uuid, const char *pidstr)
{
    cleanup_free char *now = read_small(p->pid);
    if (pidstr && (!now || strcmp(now, pidstr)))
        return;
    unlink(p->pid);
    unlink(p->ctinit);
    unlink(p->state);
    unlink(p->boot);
    /* Nobody will come back for these (the supervisor is gone too). */
    vm_err e = VM_ERR_INIT;
    cleanup_free char *self_cg = read_small("/proc/self/cgroup");
    rm_rf(p->lxcpath, &e);
    cgroup_leftovers(uuid, self_cg);
}

enum { CT_DEAD = 0, CT_ALIVE = 1, CT_ENDING = 2 };

/* Is the init recorded in the run dir alive?  *pid set when recorded. */
static int check_init(const ct_paths *p, pid_t *pid, char **pidstr_out)
{
    cleanup_free char *pidstr = read_small(p->pid);
    ct_ident id;
    unsigned long long start;
    char state;
    *pid = 0;
    if (!pidstr)
        return CT_DEAD;
    if (parse_pid(pidstr, pid) < 0 || read_ident(p, &id) < 0) {
        /* Torn or foreign files: treat like a stale pid. */
        if (pidstr_out)
            *pidstr_out = steal_ptr(pidstr);
        return CT_DEAD;
    }
    int r = CT_DEAD;
    if (proc_stat(*pid, &state, &start) == 0 && start == id.init_start)
        r = (state == 'Z' || state == 'X') ? CT_ENDING : CT_ALIVE;
    /* An exited init the supervisor has not yet accounted for. */
    if (r == CT_DEAD && supervisor_alive(&id))
        r = CT_ENDING;
    if (pidstr_out)
        *pidstr_out = steal_ptr(pidstr);
    return r;
}

static void read_lastexited(const ct_paths *p, vm_runstate *out)
{
    cleanup_free char *s = read_small(p->lastexited);
    long long secs;
    int status;
    if (s && sscanf(s, "%lld %d", &secs, &status) == 2) {
        out->has_exit = 1;
        out->exit_status = status;
        out->exit_ms = secs * 1000;
    }
}

int ct_runstate(const vm_ctx *ctx, const char *uuid, vm_runstate *out)
{
    cleanup_paths ct_paths p;
    cleanup_free char *pidstr = NULL;
    pid_t pid;

    memset(out, 0, sizeof *out);
    snprintf(out->zone_state, sizeof out->zone_state, "installed");
    if (!uuid_valid(uuid))
        return 0;
    ct_paths_init(ctx, uuid, &p);
    int r = check_init(&p, &pid, &pidstr);
    if (r == CT_ALIVE) {
        cleanup_free char *boot = read_small(p.boot);
        cleanup_free char *state = read_small(p.state);
        int64_t b = 0;
        out->running = 1;
        out->pid = pid;
        if (boot && parse_i64(boot, &b))
            out->boot_ms = b;
        /* "shutting_down <pid of the stopper>": stale once that process is
         * gone (a stop killed midway leaves the container running). */
        bool stopping = state && str_has_prefix(state, "shutting_down");
        long long who = 0;
        if (stopping && sscanf(state, "%*s %lld", &who) == 1 && who > 0 && kill((pid_t)who, 0) < 0 &&
            errno == ESRCH)
            stopping = false;
        snprintf(out->zone_state, sizeof out->zone_state, "%s", stopping ? "shutting_down" : "running");
        return 0;
    }
    if (r == CT_DEAD && pidstr)
        clean_running_files(&p, uuid, pidstr);
    read_lastexited(&p, out);
    return 0;
}

/* ---- cgroup leftovers ---- */

/* LXC 5 on v1 hierarchies leaves empty lxc.payload.<name>,
 * lxc.monitor.<name> (and the shared lxc.pivot) dirs behind, next to the
 * cgroup of the process that started the container.  rmdir only removes
 * empty cgroups, so a busy one (another container's pivot) is left alone. */
static void cgroup_leftovers(const char *uuid, const char *self_cgroup)
{
    cleanup_free char *payload = xasprintf("lxc.payload.%s", uuid);
    cleanup_free char *monitor = xasprintf("lxc.monitor.%s", uuid);
    const char *names[] = {payload, monitor, "lxc.pivot", NULL};
    cleanup_strv char **lines = strv_split(self_cgroup ? self_cgroup : "", "\n");

    /* Per hierarchy: its mount dir and our cgroup path inside it. */
    for (size_t i = 0; lines && lines[i]; i++) {
        char *c1 = strchr(lines[i], ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = '\0';
        const char *ctrls = c1 + 1, *path = c2 + 1;
        cleanup_free char *mnt = NULL;
        if (!*ctrls)
            mnt = xstrdup(access("/sys/fs/cgroup/unified", F_OK) == 0 ? "/sys/fs/cgroup/unified"
                                                                      : "/sys/fs/cgroup");
        else if (str_has_prefix(ctrls, "name="))
            mnt = xasprintf("/sys/fs/cgroup/%s", ctrls + 5);
        else
            mnt = xasprintf("/sys/fs/cgroup/%s", ctrls);
        for (int up = 0; up < 2; up++) {
            /* Our own cgroup and its root, where LXC may place them. */
            cleanup_free char *base = up ? xstrdup(mnt) : xasprintf("%s%s", mnt, path);
            for (size_t n = 0; names[n]; n++) {
                cleanup_free char *d = xasprintf("%s/%s", base, names[n]);
                /* payload dirs may hold a nested ".lxc" init cgroup */
                cleanup_free char *inner = xasprintf("%s/.lxc", d);
                rmdir(inner);
                rmdir(d);
            }
        }
    }
}

/* ---- start ---- */

static int openat2_in_root(int rootfd, const char *rel, int flags)
{
    struct open_how how = {
        .flags = (uint64_t)flags | O_CLOEXEC,
        .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS,
    };
    return (int)syscall(SYS_openat2, rootfd, rel, &how, sizeof how);
}

/* <root><init> must be an executable regular file, symlinks followed inside
 * the root (an absolute link like /sbin/init -> /lib/systemd/systemd must
 * not be judged against the host). */
static int check_init_file(int rootfd, const char *rootfs, const char *init, bool *is_systemd,
                           vm_err *err)
{
    cleanup_close int fd = openat2_in_root(rootfd, init + 1, O_PATH);
    struct stat st;
    if (fd < 0) {
        if (errno == ENOENT)
            return vm_err_set(err, VMERR_NOTFOUND,
                              "cannot start container: init %s is missing in zone root %s", init,
                              rootfs);
        return vm_err_sys(err, errno, "cannot start container: init %s in zone root %s", init,
                          rootfs);
    }
    if (fstat(fd, &st) < 0)
        return vm_err_sys(err, errno, "stat %s%s", rootfs, init);
    if (!S_ISREG(st.st_mode) || !(st.st_mode & 0111))
        return vm_err_set(err, VMERR_INVALID,
                          "cannot start container: init %s in zone root %s is not an executable file",
                          init, rootfs);
    char link[64], target[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    *is_systemd = false;
    if (n > 0) {
        target[n] = '\0';
        const char *base = strrchr(target, '/');
        *is_systemd = base && !strcmp(base + 1, "systemd");
    }
    return 0;
}

/* /etc/resolv.conf from vmobj.resolvers, written without following any
 * symlink out of the root. */
static int write_resolvers(int rootfd, json_t *vmobj, vm_err *err)
{
    json_t *res = json_object_get(vmobj, "resolvers");
    if (!json_is_array(res) || json_array_size(res) == 0)
        return 0;
    cleanup_free char *text = xstrdup("# written by vmadm from the VM's resolvers\n");
    size_t i;
    json_t *r;
    json_array_foreach(res, i, r) {
        const char *s = json_string_value(r);
        if (!s || !*s || strpbrk(s, " \t\r\n#;"))
            return vm_err_set(err, VMERR_INVALID, "invalid resolver: %s",
                              s ? s : "(not a string)");
        char *t = xasprintf("%snameserver %s\n", text, s);
        free(text);
        text = t;
    }
    mkdirat(rootfd, "etc", 0755);
    cleanup_close int etc = openat2_in_root(rootfd, "etc", O_PATH | O_DIRECTORY);
    if (etc < 0)
        return vm_err_sys(err, errno, "cannot open /etc in the zone root");
    cleanup_close int fd =
        openat(etc, ".resolv.conf.vmadm", O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (fd < 0)
        return vm_err_sys(err, errno, "cannot write /etc/resolv.conf in the zone root");
    size_t len = strlen(text);
    if (write(fd, text, len) != (ssize_t)len || fsync(fd) < 0) {
        int e = errno;
        unlinkat(etc, ".resolv.conf.vmadm", 0);
        return vm_err_sys(err, e, "cannot write /etc/resolv.conf in the zone root");
    }
    if (renameat(etc, ".resolv.conf.vmadm", etc, "resolv.conf") < 0) {
        int e = errno;
        unlinkat(etc, ".resolv.conf.vmadm", 0);
        return vm_err_sys(err, e, "cannot write /etc/resolv.conf in the zone root");
    }
    return 0;
}

/* Last lines of a log, for error messages. */
static char *log_tail(const char *path, int nlines)
{
    cleanup_free char *buf = read_small(path);
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

static int resolve_fs(vs_pool *pool, json_t *vmobj, const char *dsname, char **out, vm_err *err)
{
    if (pool)
        return vs_fs_path(pool, dsname, out, err);
    /* Test hook without storage: <zonepath> is the VM's dataset, and a
     * delegated dataset ".../<name>" is <zonepath>/<name>. */
    const char *zp = json_string_value(json_object_get(vmobj, "zonepath"));
    if (!zp || zp[0] != '/')
        return vm_err_set(err, VMERR_INVALID, "VM object has no zonepath");
    const char *zfs = json_string_value(json_object_get(vmobj, "zfs_filesystem"));
    if (zfs && !strcmp(dsname, zfs)) {
        *out = xstrdup(zp);
        return 0;
    }
    const char *slash = strrchr(dsname, '/');
    *out = xasprintf("%s/%s", zp, slash ? slash + 1 : dsname);
    return 0;
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

static void supervisor_cleanup(const ct_paths *p, const char *uuid)
{
    vm_err e = VM_ERR_INIT;
    cleanup_free char *self_cg = read_small("/proc/self/cgroup");
    unlink(p->pid);
    unlink(p->ctinit);
    unlink(p->state);
    unlink(p->boot);
    rm_rf(p->lxcpath, &e);
    cgroup_leftovers(uuid, self_cg);
}

/* Detached process that owns the container's lifetime: starts the monitor,
 * reports init's pid, and records the exit. */
static void __attribute__((noreturn)) supervise(const vm_ctx *ctx, const char *uuid, int syncfd)
{
    cleanup_paths ct_paths p;
    ct_paths_init(ctx, uuid, &p);
    vm_err e = VM_ERR_INIT;

    /* Keep only the sync pipe: an inherited fd (e.g. vmadm's VM lock)
     * would otherwise stay held for the container's whole life. */
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

    int st[2];
    if (pipe2(st, O_CLOEXEC) < 0) {
        sync_report(syncfd, "ERR cannot create pipe: %s", strerror(errno));
        supervisor_cleanup(&p, uuid);
        _exit(1);
    }
    pid_t mon = fork();
    if (mon < 0) {
        sync_report(syncfd, "ERR cannot fork: %s", strerror(errno));
        supervisor_cleanup(&p, uuid);
        _exit(1);
    }
    if (mon == 0) {
        close(st[0]);
        close(syncfd);
        run_monitor(uuid, p.lxcpath, st[1]);
    }
    close(st[1]);

    struct lxc_container *c = ct_lxc_new(uuid, p.lxcpath);
    pid_t init = 0;
    int64_t deadline = now_ms() + CT_START_TIMEOUT_MS;
    bool mon_done = false;
    while (c && now_ms() < deadline) {
        struct pollfd pfd = {st[0], POLLIN, 0};
        if (poll(&pfd, 1, 10) > 0) {
            mon_done = true;
            break;
        }
        const char *s = c->state(c);
        if (s && !strcmp(s, "RUNNING")) {
            init = c->init_pid(c);
            if (init > 0)
                break;
        }
    }

    unsigned long long init_start = 0, sup_start = 0;
    if (init > 0 && proc_stat(init, NULL, &init_start) == 0 &&
        proc_stat(getpid(), NULL, &sup_start) == 0) {
        char buf[128];
        int64_t boot = now_ms();
        snprintf(buf, sizeof buf, "%llu %d %llu\n", init_start, (int)getpid(), sup_start);
        char bootbuf[32], pidbuf[32];
        snprintf(bootbuf, sizeof bootbuf, "%lld\n", (long long)boot);
        snprintf(pidbuf, sizeof pidbuf, "%d\n", (int)init);
        unlink(p.state);
        /* pid last: its presence means the rest is there. */
        if (write_small(p.ctinit, buf, &e) < 0 || write_small(p.boot, bootbuf, &e) < 0 ||
            write_small(p.pid, pidbuf, &e) < 0) {
            c->stop(c);
            sync_report(syncfd, "ERR %s", e.msg);
        } else {
            vm_log(ctx, "info", "container %s started, init pid %d", uuid, (int)init);
            sync_report(syncfd, "OK %d", (int)init);
        }
        close(syncfd);
        syncfd = -1;
    } else {
        /* Never ran (or ended at once): report why, leave nothing behind. */
        if (!mon_done && c) {
            c->stop(c);
        }
        int ok = 0, status = 0;
        bool have = read_monitor(st[0], &ok, &status) == 0;
        waitpid(mon, NULL, 0);
        cleanup_free char *tail = log_tail(p.lxclog, 6);
        cleanup_free char *ctail = log_tail(p.consolelog, 4);
        if (have && ok)
            sync_report(syncfd,
                        "ERR container init exited at once (status %d)%s%s",
                        exit_code_of(status), ctail ? "; console:\n" : "", ctail ? ctail : "");
        else if (!mon_done)
            sync_report(syncfd, "ERR LXC did not start the container within %d s%s%s",
                        CT_START_TIMEOUT_MS / 1000, tail ? "; LXC log:\n" : "",
                        tail ? tail : "");
        else
            sync_report(syncfd, "ERR LXC failed to start the container%s%s",
                        tail ? "; LXC log:\n" : " (no LXC log)", tail ? tail : "");
        if (c)
            ct_lxc_put(c);
        supervisor_cleanup(&p, uuid);
        _exit(1);
    }
    if (c)
        ct_lxc_put(c);

    int ok = 0, status = 0;
    bool have = read_monitor(st[0], &ok, &status) == 0;
    waitpid(mon, NULL, 0);
    if (have) {
        char buf[64];
        snprintf(buf, sizeof buf, "%lld %d\n", (long long)(now_ms() / 1000), exit_code_of(status));
        if (write_small(p.lastexited, buf, &e) < 0)
            vm_log(ctx, "warn", "container %s: %s", uuid, e.msg);
        vm_log(ctx, "info", "container %s ended, status %d", uuid, exit_code_of(status));
    } else {
        vm_log(ctx, "warn", "container %s: LXC monitor died without reporting", uuid);
    }
    supervisor_cleanup(&p, uuid);
    _exit(0);
}

static int set_items(struct lxc_container *c, json_t *items, vm_err *err)
{
    size_t i;
    json_t *pair;
    json_array_foreach(items, i, pair) {
        const char *k = json_string_value(json_array_get(pair, 0));
        const char *v = json_string_value(json_array_get(pair, 1));
        if (!c->set_config_item(c, k, v))
            return vm_err_set(err, VMERR_INTERNAL, "LXC rejected config item %s = %s", k, v);
    }
    return 0;
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

    const char *zfs = json_string_value(json_object_get(vmobj, "zfs_filesystem"));
    if (pool && !zfs)
        return vm_err_set(err, VMERR_INVALID, "VM object has no zfs_filesystem");
    cleanup_free char *zonedir = NULL;
    if (resolve_fs(pool, vmobj, zfs ? zfs : "", &zonedir, err) < 0)
        return -1;
    cleanup_free char *rootfs = xasprintf("%s/root", zonedir);
    cleanup_close int rootfd = open(rootfs, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0 && (errno == ENOENT || errno == ENOTDIR))
        return vm_err_set(err, VMERR_NOTFOUND, "cannot start container: zone root %s is missing",
                          rootfs);
    if (rootfd < 0)
        return vm_err_sys(err, errno, "cannot start container: zone root %s", rootfs);

    const char *init = json_string_value(json_object_get(vmobj, "init_name"));
    if (!init || !*init)
        init = "/sbin/init";
    if (init[0] != '/')
        return vm_err_set(err, VMERR_INVALID, "invalid value for init_name: must be an absolute path");
    bool systemd = false;
    if (check_init_file(rootfd, rootfs, init, &systemd, err) < 0)
        return -1;

    cleanup_json json_t *dsdirs = json_array();
    json_t *datasets = json_object_get(vmobj, "datasets");
    size_t i;
    json_t *ds;
    json_array_foreach(datasets, i, ds) {
        cleanup_free char *dir = NULL;
        struct stat st;
        if (!json_is_string(ds))
            return vm_err_set(err, VMERR_INVALID, "invalid value for datasets: must be names");
        if (resolve_fs(pool, vmobj, json_string_value(ds), &dir, err) < 0)
            return -1;
        if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode))
            return vm_err_set(err, VMERR_NOTFOUND,
                              "cannot start container: delegated dataset %s has no directory %s",
                              json_string_value(ds), dir);
        json_array_append_new(dsdirs, json_string(dir));
    }

    cleanup_paths ct_paths p;
    ct_paths_init(ctx, uuid, &p);
    ct_host host;
    ct_host_probe(&host);
    ct_inputs in = {.rootfs = rootfs, .rundir = p.rundir, .dataset_dirs = dsdirs,
                    .init_is_systemd = systemd};
    cleanup_json json_t *items = NULL;
    cleanup_json json_t *notes = json_array();
    if (ct_config_build(vmobj, &host, &in, &items, notes, err) < 0)
        return -1;
    json_array_foreach(notes, i, ds)
        vm_log(ctx, "info", "container %s: %s", uuid, json_string_value(ds));

    /* Everything checked: from here on we change state. */
    if (mkdir_p(p.rundir, 0755, err) < 0 || rm_rf(p.lxcpath, err) < 0)
        return -1;
    cleanup_free char *cdir = xasprintf("%s/%s", p.lxcpath, uuid);
    if (mkdir_p(cdir, 0700, err) < 0)
        return -1;
    unlink(p.lxclog);
    unlink(p.consolelog);
    unlink(p.state);
    if (write_resolvers(rootfd, vmobj, err) < 0)
        goto fail;

    {
        cleanup_lxc struct lxc_container *c = ct_lxc_new(uuid, p.lxcpath);
        if (!c) {
            vm_err_set(err, VMERR_INTERNAL, "liblxc cannot create a handle for %s", uuid);
            goto fail;
        }
        c->clear_config(c);
        if (set_items(c, items, err) < 0)
            goto fail;
        if (!c->save_config(c, NULL)) {
            vm_err_set(err, VMERR_IO, "cannot save the LXC config under %s", p.lxcpath);
            goto fail;
        }
    }

    int sp[2];
    if (pipe2(sp, O_CLOEXEC) < 0) {
        vm_err_sys(err, errno, "pipe");
        goto fail;
    }
    pid_t child = fork();
    if (child < 0) {
        vm_err_sys(err, errno, "fork");
        close(sp[0]);
        close(sp[1]);
        goto fail;
    }
    if (child == 0) {
        /* Own session, then orphan the supervisor so no vmadm process is
         * its parent (and no terminal signal reaches it). */
        close(sp[0]);
        setsid();
        pid_t s = fork();
        if (s == 0)
            supervise(ctx, uuid, sp[1]);
        _exit(s < 0 ? 1 : 0);
    }
    close(sp[1]);
    int wst;
    while (waitpid(child, &wst, 0) < 0 && errno == EINTR)
        ;
    char msg[VM_ERR_MSGLEN + 16];
    size_t len = 0;
    for (;;) {
        ssize_t r = read(sp[0], msg + len, sizeof msg - 1 - len);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        len += (size_t)r;
        if (len >= sizeof msg - 1)
            break;
    }
    close(sp[0]);
    msg[len] = '\0';
    if (str_has_prefix(msg, "OK "))
        return 0;
    if (str_has_prefix(msg, "ERR "))
        vm_err_set(err, VMERR_INTERNAL, "cannot start container %s: %s", uuid, msg + 4);
    else
        vm_err_set(err, VMERR_INTERNAL, "cannot start container %s: supervisor exited without reporting",
                   uuid);
    /* The supervisor cleaned up after itself. */
    return -1;

fail:
    {
        vm_err e2 = VM_ERR_INIT;
        rm_rf(p.lxcpath, &e2);
    }
    return -1;
}

/* ---- stop / kill ---- */

/* Waits until the supervisor has recorded the exit (pid file gone); cleans
 * up itself if the supervisor is gone.  -1 if init is still alive. */
static int wait_reaped(const ct_paths *p, const char *uuid, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        pid_t pid;
        cleanup_free char *pidstr = NULL;
        int r = check_init(p, &pid, &pidstr);
        if (!pidstr)
            return 0;
        if (r == CT_DEAD) {
            clean_running_files(p, uuid, pidstr);
            return 0;
        }
        if (now_ms() >= deadline)
            return r == CT_ALIVE ? -1 : 0;
        sleep_ms(10);
    }
}

static int open_init(const ct_paths *p, const char *uuid, pid_t *pid_out, vm_err *err)
{
    pid_t pid;
    if (check_init(p, &pid, NULL) != CT_ALIVE)
        return vm_err_set(err, VMERR_STATE, "container %s is not running", uuid);
    int fd = pidfd_open(pid, 0);
    ct_ident id;
    unsigned long long start;
    /* Re-check after opening: the pidfd now pins this very process. */
    if (fd < 0 || read_ident(p, &id) < 0 || proc_stat(pid, NULL, &start) < 0 ||
        start != id.init_start) {
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
    if (pidfd_send_signal(fd, sig, NULL, 0) < 0)
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
    char stline[64];
    snprintf(stline, sizeof stline, "shutting_down %ld\n", (long)getpid());
    if (write_small(p.state, stline, err) < 0)
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
            if (pidfd_send_signal(pfd, SIGKILL, NULL, 0) < 0 && errno != ESRCH)
                return vm_err_sys(err, errno, "cannot kill container %s", uuid);
        }
    }
    if (wait_reaped(&p, uuid, CT_REAP_TIMEOUT_MS) < 0) {
        unlink(p.state);
        return vm_err_set(err, VMERR_TIMEOUT, "container %s did not stop", uuid);
    }
    return 0;
}

/* ---- login / console ---- */

static struct lxc_container *running_handle(const ct_paths *p, const char *uuid, vm_err *err)
{
    pid_t pid;
    if (check_init(p, &pid, NULL) != CT_ALIVE) {
        vm_err_set(err, VMERR_STATE, "container %s is not running", uuid);
        return NULL;
    }
    struct lxc_container *c = ct_lxc_new(uuid, p->lxcpath);
    if (!c || !c->is_running(c)) {
        if (c)
            ct_lxc_put(c);
        vm_err_set(err, VMERR_STATE, "container %s is not running", uuid);
        return NULL;
    }
    return c;
}

int ct_login(const vm_ctx *ctx, const char *uuid, char *const argv[], int *exit_status,
             vm_err *err)
{
    cleanup_paths ct_paths p;
    if (!uuid_valid(uuid))
        return vm_err_set(err, VMERR_INVALID, "invalid uuid: %s", uuid);
    ct_paths_init(ctx, uuid, &p);
    cleanup_lxc struct lxc_container *c = running_handle(&p, uuid, err);
    if (!c)
        return -1;

    char *shell[] = {"/bin/sh", "-l", NULL};
    char **cmd = argv && argv[0] ? (char **)argv : shell;
    char *env[] = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                   "HOME=/root", "LOGNAME=root", "USER=root", NULL};
    char *keep[] = {"TERM", NULL};
    lxc_attach_options_t opts = LXC_ATTACH_OPTIONS_DEFAULT;
    opts.env_policy = LXC_ATTACH_CLEAR_ENV;
    opts.extra_env_vars = env;
    opts.extra_keep_env = keep;
    opts.initial_cwd = "/root";
    if (isatty(0))
        opts.attach_flags |= LXC_ATTACH_TERMINAL;
    lxc_attach_command_t ac = {.program = cmd[0], .argv = cmd};
    pid_t pid = -1;
    if (c->attach(c, lxcapi.run_command, &ac, &opts, &pid) < 0 || pid <= 0)
        return vm_err_set(err, VMERR_INTERNAL, "cannot attach to container %s", uuid);
    int st;
    while (waitpid(pid, &st, 0) < 0) {
        if (errno != EINTR)
            return vm_err_sys(err, errno, "waiting for the command in container %s", uuid);
    }
    *exit_status = WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 1;
    return 0;
}

static bool write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN) {
            struct pollfd pfd = {fd, POLLOUT, 0};
            poll(&pfd, 1, 100);
            continue;
        }
        if (w <= 0)
            return false;
        buf += w;
        len -= (size_t)w;
    }
    return true;
}

int ct_console(const vm_ctx *ctx, const char *uuid, vm_err *err)
{
    cleanup_paths ct_paths p;
    if (!uuid_valid(uuid))
        return vm_err_set(err, VMERR_INVALID, "invalid uuid: %s", uuid);
    ct_paths_init(ctx, uuid, &p);
    cleanup_lxc struct lxc_container *c = running_handle(&p, uuid, err);
    if (!c)
        return -1;
    /* Our own proxy loop instead of c->console(): LXC's escape is a
     * two-key sequence (<escape> q), the console must detach on CTRL-]
     * alone. */
    int ttynum = 0, ptx = -1;
    cleanup_close int keep = c->console_getfd(c, &ttynum, &ptx);
    if (keep < 0 || ptx < 0)
        return vm_err_set(err, VMERR_BUSY, "cannot attach to the console of container %s "
                          "(another console session may be attached)", uuid);
    cleanup_close int ptxfd = ptx;

    struct termios saved, raw;
    bool tty = isatty(0) && tcgetattr(0, &saved) == 0;
    if (tty) {
        raw = saved;
        cfmakeraw(&raw);
        tcsetattr(0, TCSAFLUSH, &raw);
    }
    bool in_open = true;
    char buf[4096];
    for (;;) {
        struct pollfd pfd[2] = {{ptxfd, POLLIN, 0}, {in_open ? 0 : -1, POLLIN, 0}};
        if (poll(pfd, 2, 1000) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = read(ptxfd, buf, sizeof buf);
            if (r < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (r <= 0 || !write_all(1, buf, (size_t)r))
                break; /* container gone */
        }
        if (pfd[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            ssize_t r = read(0, buf, sizeof buf);
            if (r < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (r <= 0) {
                /* stdin closed: drain what the console still says briefly */
                in_open = false;
                struct pollfd d = {ptxfd, POLLIN, 0};
                while (poll(&d, 1, 300) > 0) {
                    ssize_t n = read(ptxfd, buf, sizeof buf);
                    if (n <= 0 || !write_all(1, buf, (size_t)n))
                        break;
                }
                break;
            }
            char *esc = memchr(buf, CT_CONSOLE_DETACH, (size_t)r);
            size_t n = esc ? (size_t)(esc - buf) : (size_t)r;
            if (n && !write_all(ptxfd, buf, n))
                break;
            if (esc)
                break;
        }
    }
    if (tty)
        tcsetattr(0, TCSAFLUSH, &saved);
    return 0;
}

/* ---- limits ---- */

int ct_apply_limits(const vm_ctx *ctx, json_t *vmobj, vm_err *err)
{
    const char *uuid = json_string_value(json_object_get(vmobj, "uuid"));
    if (!uuid || !uuid_valid(uuid))
        return vm_err_set(err, VMERR_INVALID, "VM object has no valid uuid");
    ct_host host;
    ct_host_probe(&host);
    cleanup_json json_t *items = json_array();
    cleanup_json json_t *notes = json_array();
    if (ct_config_limits(vmobj, &host, true, items, notes, err) < 0)
        return -1;
    cleanup_paths ct_paths p;
    ct_paths_init(ctx, uuid, &p);
    cleanup_lxc struct lxc_container *c = running_handle(&p, uuid, err);
    if (!c)
        return -1;
    size_t i;
    json_t *pair;
    json_array_foreach(notes, i, pair)
        vm_log(ctx, "info", "container %s: %s", uuid, json_string_value(pair));

    /* Some limits constrain each other (memsw >= memory, quota vs period):
     * what fails in the first pass is retried once the others are set. */
    cleanup_json json_t *failed = json_array();
    for (int pass = 0; pass < 2; pass++) {
        json_t *todo = pass ? failed : items;
        cleanup_json json_t *again = json_array();
        json_array_foreach(todo, i, pair) {
            const char *k = json_string_value(json_array_get(pair, 0));
            const char *v = json_string_value(json_array_get(pair, 1));
            const char *sub = str_has_prefix(k, "lxc.cgroup2.") ? k + strlen("lxc.cgroup2.")
                                                                : k + strlen("lxc.cgroup.");
            if (!c->set_cgroup_item(c, sub, v)) {
                if (pass)
                    return vm_err_set(err, VMERR_INTERNAL,
                                      "cannot set %s = %s on container %s", sub, v, uuid);
                json_array_append(again, pair);
            }
        }
        if (!pass)
            json_array_extend(failed, again);
    }
    return 0;
}
