#include "common/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
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
    /* A rewrite never widens a file's permissions: a config made private
     * (0600) stays private whichever writer replaces it. */
    struct stat cur;
    if (stat(path, &cur) == 0)
        mode &= cur.st_mode & 0777;
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

int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
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
