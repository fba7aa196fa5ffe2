/* Pidfds and the runtime directory files shared by lib/hv and lib/ct. */
#include "common/proc.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"

/* Largest pid a pid file may name (Linux's pid_max is at most 2^22). */
#define VM_PID_LIMIT 0x3fffffff

int vm_pidfd_open(pid_t pid)
{
    return (int)syscall(SYS_pidfd_open, pid, 0);
}

int vm_pidfd_signal(int pidfd, int sig)
{
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

int vm_pidfd_wait(int pidfd, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        struct pollfd p = { .fd = pidfd, .events = POLLIN };
        int64_t left = deadline - now_ms();
        int r = poll(&p, 1, left < 0 ? 0 : (int)left);
        if (r > 0)
            return 1;
        if (r == 0)
            return 0;
        if (errno != EINTR)
            return -1;
    }
}

void vm_sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

char *vm_run_read(const char *path)
{
    char *buf = NULL;
    size_t len;
    vm_err err = VM_ERR_INIT;
    if (read_file(path, &buf, &len, &err) < 0)
        return NULL;
    while (len && (buf[len - 1] == '\n' || buf[len - 1] == ' '))
        buf[--len] = '\0';
    return buf;
}

/* tmp + rename without fsync. */
static int write_fast(const char *path, const char *text, mode_t mode, vm_err *err)
{
    cleanup_free char *tmp = xasprintf("%s.tmp.%d", path, (int)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return vm_err_sys(err, errno, "cannot write %s", path);
    size_t len = strlen(text);
    ssize_t n = write(fd, text, len);
    if (close(fd) < 0 || n != (ssize_t)len || rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return vm_err_sys(err, e, "cannot write %s", path);
    }
    return 0;
}

int vm_run_write(const char *path, const char *text, mode_t mode, vm_run_sync sync, vm_err *err)
{
    if (sync == VM_RUN_SYNCED)
        return write_file_atomic(path, text, strlen(text), mode, err);
    return write_fast(path, text, mode, err);
}

bool vm_parse_pid(const char *s, pid_t *pid)
{
    int64_t v;
    if (!s || !parse_i64(s, &v) || v <= 1 || v > VM_PID_LIMIT)
        return false;
    *pid = (pid_t)v;
    return true;
}

pid_t vm_run_read_pid(const char *path)
{
    cleanup_free char *s = vm_run_read(path);
    pid_t pid;
    return vm_parse_pid(s, &pid) ? pid : 0;
}

void vm_runstate_reset(vm_runstate *rs)
{
    memset(rs, 0, sizeof *rs);
    snprintf(rs->zone_state, sizeof rs->zone_state, "installed");
}

/* "shutting_down [<pid>]" whose stopper is not known to be gone. */
static bool stopping(const char *state)
{
    static const char word[] = "shutting_down";
    if (!state || strncmp(state, word, sizeof word - 1) || (state[sizeof word - 1] && state[sizeof word - 1] != ' '))
        return false;
    long long who = 0;
    if (sscanf(state, "%*s %lld", &who) == 1 && who > 0 && kill((pid_t)who, 0) < 0 && errno == ESRCH)
        return false;
    return true;
}

void vm_runstate_read_live(const char *rundir, pid_t pid, vm_runstate *rs)
{
    cleanup_free char *bp = xasprintf("%s/boot", rundir);
    cleanup_free char *sp = xasprintf("%s/state", rundir);
    cleanup_free char *boot = vm_run_read(bp);
    cleanup_free char *state = vm_run_read(sp);
    int64_t b;
    rs->running = 1;
    rs->pid = pid;
    if (boot && parse_i64(boot, &b))
        rs->boot_ms = b;
    snprintf(rs->zone_state, sizeof rs->zone_state, "%s", stopping(state) ? "shutting_down" : "running");
}

void vm_runstate_read_exit(const char *rundir, vm_runstate *rs)
{
    cleanup_free char *path = xasprintf("%s/lastexited", rundir);
    cleanup_free char *s = vm_run_read(path);
    long long secs;
    int status;
    if (s && sscanf(s, "%lld %d", &secs, &status) == 2) {
        rs->has_exit = 1;
        rs->exit_status = status;
        rs->exit_ms = secs * 1000;
    }
}

int vm_runstate_write_stopping(const char *rundir, vm_run_sync sync, vm_err *err)
{
    cleanup_free char *path = xasprintf("%s/state", rundir);
    cleanup_free char *text = xasprintf("shutting_down %ld\n", (long)getpid());
    return vm_run_write(path, text, 0644, sync, err);
}

int vm_runstate_write_exit(const char *rundir, int status, vm_err *err)
{
    cleanup_free char *path = xasprintf("%s/lastexited", rundir);
    cleanup_free char *text = xasprintf("%lld %d\n", (long long)(now_ms() / 1000), status);
    return vm_run_write(path, text, 0644, VM_RUN_SYNCED, err);
}
