#include "common/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <uuid/uuid.h>

void cleanup_freep(void *p)
{
    void **pp = p;
    free(*pp);
    *pp = NULL;
}

void cleanup_closep(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

void cleanup_fclosep(FILE **f)
{
    if (*f)
        fclose(*f);
    *f = NULL;
}

void cleanup_jsonp(json_t **j)
{
    json_decref(*j);
    *j = NULL;
}

void cleanup_strvp(char ***v)
{
    strv_free(*v);
    *v = NULL;
}

static void oom(void)
{
    static const char m[] = "vmadm: out of memory\n";
    ssize_t r = write(2, m, sizeof m - 1);
    (void)r;
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom();
    return p;
}

void *xcalloc(size_t n, size_t m)
{
    void *p = calloc(n ? n : 1, m ? m : 1);
    if (!p)
        oom();
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom();
    return q;
}

char *xstrdup(const char *s)
{
    char *p = strdup(s ? s : "");
    if (!p)
        oom();
    return p;
}

char *xstrndup(const char *s, size_t n)
{
    char *p = strndup(s, n);
    if (!p)
        oom();
    return p;
}

char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *p = NULL;
    va_start(ap, fmt);
    if (vasprintf(&p, fmt, ap) < 0)
        oom();
    va_end(ap);
    return p;
}

bool str_has_prefix(const char *s, const char *prefix)
{
    return s && strncmp(s, prefix, strlen(prefix)) == 0;
}

bool str_has_suffix(const char *s, const char *suffix)
{
    size_t a, b;
    if (!s)
        return false;
    a = strlen(s);
    b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

size_t strv_len(char **v)
{
    size_t n = 0;
    while (v && v[n])
        n++;
    return n;
}

void strv_free(char **v)
{
    if (!v)
        return;
    for (size_t i = 0; v[i]; i++)
        free(v[i]);
    free(v);
}

char **strv_split(const char *s, const char *sep)
{
    size_t n = 0, cap = 8;
    char **v = xcalloc(cap, sizeof *v);
    const char *p = s ? s : "";

    while (*p) {
        size_t len = strcspn(p, sep);
        if (len > 0) {
            if (n + 2 > cap) {
                cap *= 2;
                v = xrealloc(v, cap * sizeof *v);
            }
            v[n++] = xstrndup(p, len);
        }
        p += len;
        if (*p)
            p++;
    }
    v[n] = NULL;
    return v;
}

char *strv_join(char **v, const char *sep)
{
    size_t len = 1, sl = strlen(sep);
    char *out, *q;
    for (size_t i = 0; v && v[i]; i++)
        len += strlen(v[i]) + sl;
    out = q = xmalloc(len);
    *q = '\0';
    for (size_t i = 0; v && v[i]; i++) {
        if (i) {
            memcpy(q, sep, sl);
            q += sl;
        }
        size_t l = strlen(v[i]);
        memcpy(q, v[i], l);
        q += l;
    }
    *q = '\0';
    return out;
}

int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int r;
    if (fd < 0)
        return -1;
    r = fsync(fd);
    close(fd);
    return r;
}

int write_file_atomic(const char *path, const void *buf, size_t len, mode_t mode, vm_err *err)
{
    cleanup_free char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
    cleanup_free char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    const char *p = buf;
    size_t off = 0;
    int fd;

    if (slash)
        *(slash == dir ? slash + 1 : slash) = '\0';
    else
        strcpy(dir, ".");
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return vm_err_sys(err, errno, "cannot create %s", tmp);
    while (off < len) {
        ssize_t w = write(fd, p + off, len - off);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            unlink(tmp);
            return vm_err_sys(err, e, "cannot write %s", tmp);
        }
        off += (size_t)w;
    }
    if (fsync(fd) < 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return vm_err_sys(err, e, "cannot fsync %s", tmp);
    }
    close(fd);
    if (rename(tmp, path) < 0) {
        int e = errno;
        unlink(tmp);
        return vm_err_sys(err, e, "cannot rename %s to %s", tmp, path);
    }
    fsync_dir(dir);
    return 0;
}

char *json_pretty(const json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    if (!s)
        oom();
    return s;
}

char *json_compact(const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    if (!s)
        oom();
    return s;
}

json_t *json_dup(const json_t *j)
{
    /* jansson's deep copy keeps insertion order for objects. */
    return json_deep_copy(j);
}

int write_json_atomic(const char *path, json_t *j, vm_err *err)
{
    cleanup_free char *s = json_pretty(j);
    size_t n = strlen(s);
    cleanup_free char *buf = xmalloc(n + 2);
    memcpy(buf, s, n);
    buf[n] = '\n';
    buf[n + 1] = '\0';
    return write_file_atomic(path, buf, n + 1, 0644, err);
}

int read_file(const char *path, char **buf, size_t *len, vm_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t cap = 4096, n = 0;
    char *b;

    if (fd < 0)
        return vm_err_sys(err, errno, "cannot open %s", path);
    struct stat st;
    if (fstat(fd, &st) == 0 && st.st_size > 0)
        cap = (size_t)st.st_size + 1;
    b = xmalloc(cap);
    for (;;) {
        if (n + 1 >= cap) {
            cap *= 2;
            b = xrealloc(b, cap);
        }
        ssize_t r = read(fd, b + n, cap - n - 1);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            int e = errno;
            close(fd);
            free(b);
            return vm_err_sys(err, e, "cannot read %s", path);
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    b[n] = '\0';
    *buf = b;
    if (len)
        *len = n;
    return 0;
}

int read_json_file(const char *path, json_t **out, vm_err *err)
{
    cleanup_free char *buf = NULL;
    size_t len;
    json_error_t je;
    json_t *j;

    if (read_file(path, &buf, &len, err) < 0)
        return -1;
    j = json_loadb(buf, len, JSON_DECODE_ANY, &je);
    if (!j)
        return vm_err_set(err, VMERR_IO, "%s: invalid JSON at line %d: %s", path, je.line, je.text);
    *out = j;
    return 0;
}

int mkdir_p(const char *path, mode_t mode, vm_err *err)
{
    cleanup_free char *p = xstrdup(path);
    for (char *s = p + 1; *s; s++) {
        if (*s != '/')
            continue;
        *s = '\0';
        if (mkdir(p, mode) < 0 && errno != EEXIST)
            return vm_err_sys(err, errno, "cannot create directory %s", p);
        *s = '/';
    }
    if (mkdir(p, mode) < 0 && errno != EEXIST)
        return vm_err_sys(err, errno, "cannot create directory %s", p);
    return 0;
}

static int rm_rf_at(int dirfd, const char *name, vm_err *err)
{
    struct stat st;
    if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : vm_err_sys(err, errno, "cannot stat %s", name);
    if (S_ISDIR(st.st_mode)) {
        int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
            return vm_err_sys(err, errno, "cannot open %s", name);
        DIR *d = fdopendir(fd);
        if (!d) {
            close(fd);
            return vm_err_sys(err, errno, "cannot open %s", name);
        }
        struct dirent *de;
        int r = 0;
        while ((de = readdir(d))) {
            if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
                continue;
            if (rm_rf_at(fd, de->d_name, err) < 0) {
                r = -1;
                break;
            }
        }
        closedir(d);
        if (r < 0)
            return r;
        if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
            return vm_err_sys(err, errno, "cannot remove %s", name);
        return 0;
    }
    if (unlinkat(dirfd, name, 0) < 0 && errno != ENOENT)
        return vm_err_sys(err, errno, "cannot remove %s", name);
    return 0;
}

int rm_rf(const char *path, vm_err *err)
{
    return rm_rf_at(AT_FDCWD, path, err);
}

bool path_exists(const char *path)
{
    struct stat st;
    return lstat(path, &st) == 0;
}

int copy_file_sparse(const char *src, const char *dst, vm_err *err)
{
    char *argv[] = { "cp", "--sparse=always", "--reflink=auto", (char *)src, (char *)dst, NULL };
    return run_cmd(argv, NULL, err) == 0 ? 0 : -1;
}

bool uuid_shape(const char *s)
{
    if (!s || strlen(s) != 36)
        return false;
    return s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-';
}

bool uuid_valid(const char *s)
{
    if (!uuid_shape(s))
        return false;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            continue;
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

void uuid_new(char out[37])
{
    uuid_t u;
    uuid_generate_random(u);
    uuid_unparse_lower(u, out);
}

int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void iso_time_ms(int64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char date[24];
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 32, "%.19s.%03dZ", date, (int)(ms % 1000));
}

bool parse_i64(const char *s, int64_t *out)
{
    char *end;
    long long v;
    if (!s || !*s)
        return false;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

int run_cmd_input(char *const argv[], const char *in, size_t len, char **out, vm_err *err)
{
    int po[2], pe[2], pi[2] = { -1, -1 };
    pid_t pid;
    int status;

    if (pipe2(po, O_CLOEXEC) < 0 || pipe2(pe, O_CLOEXEC) < 0)
        return vm_err_sys(err, errno, "pipe");
    if (in && pipe2(pi, O_CLOEXEC) < 0)
        return vm_err_sys(err, errno, "pipe");
    pid = fork();
    if (pid < 0)
        return vm_err_sys(err, errno, "fork");
    if (pid == 0) {
        int devnull = open("/dev/null", O_RDWR);
        dup2(in ? pi[0] : devnull, 0);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        signal(SIGPIPE, SIG_DFL);
        execvp(argv[0], argv);
        dprintf(2, "cannot run %s: %s", argv[0], strerror(errno));
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    if (in) {
        close(pi[0]);
        /* Inputs are small (config snippets); a blocking write is fine. */
        size_t off = 0;
        void (*old)(int) = signal(SIGPIPE, SIG_IGN);
        while (off < len) {
            ssize_t w = write(pi[1], in + off, len - off);
            if (w <= 0)
                break;
            off += (size_t)w;
        }
        signal(SIGPIPE, old);
        close(pi[1]);
    }
    /* Drain both pipes without deadlock: poll until both reach EOF. */
    size_t ocap = 4096, on = 0, ecap = 4096, en = 0;
    char *ob = xmalloc(ocap), *eb = xmalloc(ecap);
    struct pollfd pf[2] = { { po[0], POLLIN, 0 }, { pe[0], POLLIN, 0 } };
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
            char **b = i == 0 ? &ob : &eb;
            size_t *n = i == 0 ? &on : &en, *cap = i == 0 ? &ocap : &ecap;
            if (*n + 4096 >= *cap) {
                *cap *= 2;
                *b = xrealloc(*b, *cap);
            }
            ssize_t r = read(pf[i].fd, *b + *n, *cap - *n - 1);
            if (r > 0) {
                *n += (size_t)r;
            } else if (r == 0 || errno != EINTR) {
                close(pf[i].fd);
                pf[i].fd = -1;
                open_fds--;
            }
        }
    }
    ob[on] = '\0';
    eb[en] = '\0';
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (out)
        *out = ob;
    else
        free(ob);
    while (en > 0 && (eb[en - 1] == '\n' || eb[en - 1] == ' '))
        eb[--en] = '\0';
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        free(eb);
        return 0;
    }
    if (WIFEXITED(status))
        vm_err_set(err, VMERR_IO, "%s failed (exit %d): %s", argv[0], WEXITSTATUS(status), eb);
    else
        vm_err_set(err, VMERR_IO, "%s killed by signal %d", argv[0], WTERMSIG(status));
    free(eb);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

int run_cmd(char *const argv[], char **out, vm_err *err)
{
    return run_cmd_input(argv, NULL, 0, out, err);
}

