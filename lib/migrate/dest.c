/* The destination of a migration: `vmadm` run there, through ssh or, for
 * root:<path>, this same binary with another VMADM_ROOT (migrate.h). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/cmd.h"
#include "common/proc.h"
#include "common/util.h"
#include "migrate/migrate.h"

int mig_dest_parse(const char *spec, mig_dest *d, vm_err *err)
{
    memset(d, 0, sizeof *d);
    if (!spec || !*spec)
        return vm_err_set(err, VMERR_USAGE, "missing destination");
    d->spec = xstrdup(spec);
    if (str_has_prefix(spec, "root:")) {
        const char *p = spec + 5;
        if (p[0] != '/')
            return vm_err_set(err, VMERR_USAGE, "destination root:<path> needs an absolute path");
        d->root = xstrdup(p);
        return 0;
    }
    /* [user@]host: a host name or address, nothing a shell or ssh would
     * read as an option. */
    size_t n = strlen(spec);
    if (spec[0] == '-' || strspn(spec, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_@:[]") != n)
        return vm_err_set(err, VMERR_USAGE, "invalid destination \"%s\": expected [user@]host or root:<path>", spec);
    d->host = xstrdup(spec);
    return 0;
}

void mig_dest_free(mig_dest *d)
{
    free(d->spec);
    free(d->root);
    free(d->host);
    memset(d, 0, sizeof *d);
}

/* The argv that runs `vmadm args...` there. */
static char **dest_argv(const mig_dest *d, char *const args[])
{
    size_t na = 0;
    while (args[na])
        na++;
    char **v;
    size_t k = 0;
    if (d->root) {
        v = xcalloc(na + 2, sizeof *v);
        v[k++] = xstrdup("/proc/self/exe");
        for (size_t i = 0; i < na; i++)
            v[k++] = xstrdup(args[i]);
        return v;
    }
    char **opts = strv_split(getenv("VMADM_SSH_OPTS") ?: "", " ");
    size_t no = strv_len(opts);
    v = xcalloc(no + 8, sizeof *v);
    v[k++] = xstrdup("ssh");
    v[k++] = xstrdup("-oBatchMode=yes");
    for (size_t i = 0; i < no; i++)
        v[k++] = xstrdup(opts[i]);
    strv_free(opts);
    v[k++] = xstrdup("--");
    v[k++] = xstrdup(d->host);
    /* One remote command line, every word quoted. */
    const char *rroot = getenv("VMADM_REMOTE_ROOT");
    const char *rbin = getenv("VMADM_REMOTE_VMADM") ?: "vmadm";
    char *q = cmd_shell_quote(rbin, strlen(rbin));
    char *qr = rroot ? cmd_shell_quote(rroot, strlen(rroot)) : NULL;
    char *line = qr ? xasprintf("VMADM_ROOT=%s %s", qr, q) : xstrdup(q);
    free(q);
    free(qr);
    for (size_t i = 0; i < na; i++) {
        char *w = cmd_shell_quote(args[i], strlen(args[i]));
        char *l2 = xasprintf("%s %s", line, w);
        free(w);
        free(line);
        line = l2;
    }
    v[k++] = line;
    return v;
}

int mig_dest_spawn(const mig_dest *d, char *const args[], int in_fd, int out_fd, mig_job *job, vm_err *err)
{
    int ep[2];
    if (pipe2(ep, O_CLOEXEC) < 0)
        return vm_err_sys(err, errno, "cannot create a pipe");
    char **argv = dest_argv(d, args);
    cleanup_free char *vaddr = d->root ? xasprintf("%s/run/vminfod.addr", d->root) : NULL;
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        close(ep[0]);
        close(ep[1]);
        strv_free(argv);
        return vm_err_sys(err, e, "cannot fork");
    }
    if (pid == 0) {
        int null = open("/dev/null", O_RDWR);
        dup2(in_fd >= 0 ? in_fd : null, 0);
        dup2(out_fd >= 0 ? out_fd : null, 1);
        dup2(ep[1], 2);
        if (d->root) {
            /* The other root's vminfod (the address it published), or
             * none: never this root's. */
            char *addr = vm_run_read(vaddr);
            setenv("VMADM_ROOT", d->root, 1);
            setenv("VMINFOD_ADDR", addr && *addr ? addr : "none", 1);
        }
        signal(SIGPIPE, SIG_DFL);
        execvp(argv[0], argv);
        dprintf(2, "cannot run %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    strv_free(argv);
    close(ep[1]);
    job->pid = pid;
    job->errfd = ep[0];
    return 0;
}

int mig_dest_wait(mig_job *job, const char *what, vm_err *err)
{
    /* Its stderr first (it may fill the pipe before exiting). */
    char buf[8192];
    size_t n = 0;
    ssize_t k;
    while ((k = read(job->errfd, buf + n, sizeof buf - 1 - n)) != 0) {
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            break;
        n += (size_t)k;
        if (n == sizeof buf - 1) { /* keep the tail */
            memmove(buf, buf + n / 2, n - n / 2);
            n -= n / 2;
        }
    }
    buf[n] = '\0';
    close(job->errfd);
    job->errfd = -1;
    int st = 0;
    while (waitpid(job->pid, &st, 0) < 0 && errno == EINTR)
        ;
    job->pid = 0;
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return 0;
    while (n && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        buf[--n] = '\0';
    char *last = strrchr(buf, '\n');
    const char *msg = last ? last + 1 : buf;
    if (!*msg)
        msg = WIFSIGNALED(st) ? strsignal(WTERMSIG(st)) : "failed without a message";
    return vm_err_set(err, VMERR_INTERNAL, "destination %s: %s", what, msg);
}

int mig_dest_run(const mig_dest *d, char *const args[], char **out, vm_err *err)
{
    int op[2];
    if (pipe2(op, O_CLOEXEC) < 0)
        return vm_err_sys(err, errno, "cannot create a pipe");
    mig_job job;
    if (mig_dest_spawn(d, args, -1, op[1], &job, err) < 0) {
        close(op[0]);
        close(op[1]);
        return -1;
    }
    close(op[1]);
    char *buf = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 > cap)
            buf = xrealloc(buf, cap = cap ? cap * 2 : 8192);
        ssize_t k = read(op[0], buf + len, cap - len - 1);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        len += (size_t)k;
    }
    close(op[0]);
    if (buf)
        buf[len] = '\0';
    int r = mig_dest_wait(&job, args[0], err);
    if (out)
        *out = buf ? buf : xstrdup("");
    else
        free(buf);
    return r;
}
