/* run_cmd and its dry-run recorder (see cmd.h). */
#include "common/cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"

/* ---- the dry-run record ---- */
static struct {
    bool on;
    cmd_dry_run_fn fn;
    void *opaque;
    char *text; /* recorded commands, one per line */
} dry;

static bool plain_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("_@%+=:,./-", c);
}

char *cmd_shell_quote(const char *s, size_t len)
{
    bool plain = len > 0, ctrl = false;
    for (size_t i = 0; i < len; i++) {
        plain = plain && s[i] && plain_char(s[i]);
        ctrl = ctrl || (unsigned char)s[i] < 0x20 || s[i] == 0x7f;
    }
    if (plain)
        return xstrndup(s, len);
    size_t cap = 4 * len + 4, n = 0;
    char *q = xmalloc(cap);
    if (ctrl)
        q[n++] = '$';
    q[n++] = '\'';
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!ctrl && c == '\'') {
            memcpy(q + n, "'\\''", 4); /* close, escaped quote, reopen */
            n += 4;
        } else if (ctrl && (c == '\'' || c == '\\')) {
            q[n++] = '\\';
            q[n++] = (char)c;
        } else if (ctrl && c == '\n') {
            memcpy(q + n, "\\n", 2);
            n += 2;
        } else if (ctrl && (c < 0x20 || c == 0x7f)) {
            n += (size_t)snprintf(q + n, cap - n, "\\x%02x", c);
        } else {
            q[n++] = (char)c;
        }
    }
    q[n++] = '\'';
    q[n] = '\0';
    return q;
}

static void record(char *const argv[], const char *in, size_t len)
{
    char *line = xstrdup("");
    for (size_t i = 0; argv[i]; i++) {
        cleanup_free char *q = cmd_shell_quote(argv[i], strlen(argv[i]));
        char *l = xasprintf("%s%s%s", line, i ? " " : "", q);
        free(line);
        line = l;
    }
    if (in) {
        cleanup_free char *q = cmd_shell_quote(in, len);
        char *l = xasprintf("%s <<< %s", line, q);
        free(line);
        line = l;
    }
    char *t = xasprintf("%s%s\n", dry.text ? dry.text : "", line);
    free(line);
    free(dry.text);
    dry.text = t;
}

void cmd_set_dry_run(cmd_dry_run_fn fn, void *opaque)
{
    cmd_dry_run_end();
    dry.on = true;
    dry.fn = fn;
    dry.opaque = opaque;
}

void cmd_dry_run_end(void)
{
    free(dry.text);
    dry.text = NULL;
    dry.on = false;
    dry.fn = NULL;
    dry.opaque = NULL;
}

char *cmd_recorded_text(void)
{
    return xstrdup(dry.text ? dry.text : "");
}

/* ---- results ---- */
/* The caller's view of a finished command: *out, the message, the return
 * value.  Takes ownership of ob and eb. */
static int finish(char *const argv[], bool killed, int code, char *ob, char *eb, char **out, vm_err *err)
{
    if (out)
        *out = ob ? ob : xstrdup("");
    else
        free(ob);
    size_t en = eb ? strlen(eb) : 0;
    while (en > 0 && (eb[en - 1] == '\n' || eb[en - 1] == ' '))
        eb[--en] = '\0';
    int rc = killed ? -1 : code;
    if (killed)
        vm_err_set(err, VMERR_IO, "%s killed by signal %d", argv[0], code);
    else if (code != 0)
        vm_err_set(err, VMERR_IO, "%s failed (exit %d): %s", argv[0], code, eb ? eb : "");
    free(eb);
    return rc;
}

/* ---- real execution ---- */
static pid_t spawn(char *const argv[], int pi, int po, int pe, vm_err *err)
{
    pid_t pid = fork();
    if (pid < 0)
        return vm_err_sys(err, errno, "fork");
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        dup2(pi >= 0 ? pi : devnull, 0);
        dup2(po, 1);
        dup2(pe, 2);
        signal(SIGPIPE, SIG_DFL);
        execvp(argv[0], argv);
        dprintf(2, "cannot run %s: %s", argv[0], strerror(errno));
        _exit(127);
    }
    return pid;
}

static void feed(int fd, const char *in, size_t len)
{
    /* Inputs are small (config snippets); a blocking write is fine. */
    size_t off = 0;
    void (*old)(int) = signal(SIGPIPE, SIG_IGN);
    while (off < len) {
        ssize_t w = write(fd, in + off, len - off);
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    signal(SIGPIPE, old);
    close(fd);
}

/* Reads stdout and stderr to EOF without deadlock (poll both); closes them. */
static void drain(int ofd, int efd, char **ob_out, char **eb_out)
{
    size_t cap[2] = { 4096, 4096 }, n[2] = { 0, 0 };
    char *b[2] = { xmalloc(cap[0]), xmalloc(cap[1]) };
    struct pollfd pf[2] = { { ofd, POLLIN, 0 }, { efd, POLLIN, 0 } };
    int open_fds = 2;
    while (open_fds > 0) {
        if (poll(pf, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (pf[i].fd < 0 || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            if (n[i] + 4096 >= cap[i]) {
                cap[i] *= 2;
                b[i] = xrealloc(b[i], cap[i]);
            }
            ssize_t r = read(pf[i].fd, b[i] + n[i], cap[i] - n[i] - 1);
            if (r > 0) {
                n[i] += (size_t)r;
            } else if (r == 0 || errno != EINTR) {
                close(pf[i].fd);
                pf[i].fd = -1;
                open_fds--;
            }
        }
    }
    for (int i = 0; i < 2; i++)
        if (pf[i].fd >= 0)
            close(pf[i].fd);
    b[0][n[0]] = '\0';
    b[1][n[1]] = '\0';
    *ob_out = b[0];
    *eb_out = b[1];
}

static int execute(char *const argv[], const char *in, size_t len, char **out, vm_err *err)
{
    int po[2], pe[2], pi[2] = { -1, -1 };
    int status;

    if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0)
        return vm_err_sys(err, errno, "pipe");
    if (in && pipe2(pi, O_CLOEXEC) < 0)
        return vm_err_sys(err, errno, "pipe");
    pid_t pid = spawn(argv, pi[0], po[1], pe[1], err);
    if (pid < 0)
        return -1;
    close(po[1]);
    close(pe[1]);
    if (in) {
        close(pi[0]);
        feed(pi[1], in, len);
    }
    char *ob, *eb;
    drain(po[0], pe[0], &ob, &eb);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    bool killed = !WIFEXITED(status);
    return finish(argv, killed, killed ? WTERMSIG(status) : WEXITSTATUS(status), ob, eb, out, err);
}

int run_cmd_input(char *const argv[], const char *in, size_t len, char **out, vm_err *err)
{
    if (dry.on) {
        record(argv, in, len);
        cmd_reply r = { 0 };
        if (dry.fn)
            dry.fn(argv, in, len, &r, dry.opaque);
        if (!r.pass_through)
            return finish(argv, r.signal != 0, r.signal ? r.signal : r.status, r.out, r.errtext, out, err);
        free(r.out);
        free(r.errtext);
    }
    return execute(argv, in, len, out, err);
}

int run_cmd(char *const argv[], char **out, vm_err *err)
{
    return run_cmd_input(argv, NULL, 0, out, err);
}
