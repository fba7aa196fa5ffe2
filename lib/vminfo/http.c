#include "vminfo/http.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/util.h"

/* ---- buffers ---- */

void vminfo_buf_append(vminfo_buf *b, const char *p, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        b->data = xrealloc(b->data, cap);
        b->cap = cap;
    }
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void vminfo_buf_consume(vminfo_buf *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
    } else {
        memmove(b->data, b->data + n, b->len - n);
        b->len -= n;
    }
    if (b->data)
        b->data[b->len] = '\0';
}

void vminfo_buf_free(vminfo_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

/* ---- chunked decoding ---- */

enum {
    CK_SIZE,
    CK_EXT,
    CK_SIZE_LF,
    CK_DATA,
    CK_DATA_CR,
    CK_DATA_LF,
    CK_TRAILER_START,
    CK_TRAILER_LINE,
    CK_TRAILER_LF,
    CK_FINAL_LF,
    CK_DONE,
};

ssize_t vminfo_chunked_feed(vminfo_chunked *c, const char *in, size_t len, vminfo_buf *out, int *done, vm_err *err)
{
    size_t i = 0;

    *done = c->state == CK_DONE;
    while (i < len && c->state != CK_DONE) {
        char ch = in[i];
        switch (c->state) {
        case CK_SIZE: {
            int v = hex_digit(ch);
            if (v >= 0) {
                if (c->digits >= 15)
                    return vm_err_set(err, VMERR_IO, "vminfod: chunk size too large");
                c->remain = c->remain * 16 + (uint64_t)v;
                c->digits++;
            } else if (ch == ';' || ch == ' ' || ch == '\t') {
                c->state = CK_EXT;
            } else if (ch == '\r') {
                c->state = CK_SIZE_LF;
            } else {
                return vm_err_set(err, VMERR_IO, "vminfod: malformed chunk size");
            }
            i++;
            break;
        }
        case CK_EXT:
            if (ch == '\r')
                c->state = CK_SIZE_LF;
            i++;
            break;
        case CK_SIZE_LF:
            if (ch != '\n' || c->digits == 0)
                return vm_err_set(err, VMERR_IO, "vminfod: malformed chunk header");
            c->state = c->remain ? CK_DATA : CK_TRAILER_START;
            i++;
            break;
        case CK_DATA: {
            size_t n = len - i;
            if ((uint64_t)n > c->remain)
                n = (size_t)c->remain;
            vminfo_buf_append(out, in + i, n);
            c->remain -= n;
            i += n;
            if (!c->remain)
                c->state = CK_DATA_CR;
            break;
        }
        case CK_DATA_CR:
            if (ch != '\r')
                return vm_err_set(err, VMERR_IO, "vminfod: malformed chunk end");
            c->state = CK_DATA_LF;
            i++;
            break;
        case CK_DATA_LF:
            if (ch != '\n')
                return vm_err_set(err, VMERR_IO, "vminfod: malformed chunk end");
            c->state = CK_SIZE;
            c->digits = 0;
            c->remain = 0;
            i++;
            break;
        case CK_TRAILER_START:
            c->state = ch == '\r' ? CK_FINAL_LF : CK_TRAILER_LINE;
            i++;
            break;
        case CK_TRAILER_LINE:
            if (ch == '\r')
                c->state = CK_TRAILER_LF;
            i++;
            break;
        case CK_TRAILER_LF:
            if (ch != '\n')
                return vm_err_set(err, VMERR_IO, "vminfod: malformed chunk trailer");
            c->state = CK_TRAILER_START;
            i++;
            break;
        case CK_FINAL_LF:
            if (ch != '\n')
                return vm_err_set(err, VMERR_IO, "vminfod: malformed chunk trailer");
            c->state = CK_DONE;
            i++;
            break;
        }
    }
    *done = c->state == CK_DONE;
    return (ssize_t)i;
}

/* ---- connections ---- */

static int remaining(int64_t deadline)
{
    if (deadline < 0)
        return -1;
    int64_t r = deadline - now_ms();
    return r < 0 ? 0 : (int)r;
}

static int wait_fd(int fd, short events, int64_t deadline)
{
    struct pollfd p = { .fd = fd, .events = events };
    for (;;) {
        int r = poll(&p, 1, remaining(deadline));
        if (r < 0 && errno == EINTR)
            continue;
        return r;
    }
}

/* Non-blocking connect finished within the deadline, or -1 with errno. */
static int connect_deadline(int fd, const struct sockaddr *sa, socklen_t len, int64_t deadline)
{
    if (connect(fd, sa, len) == 0)
        return 0;
    if (errno != EINPROGRESS && errno != EAGAIN)
        return -1;
    if (wait_fd(fd, POLLOUT, deadline) <= 0) {
        errno = ETIMEDOUT;
        return -1;
    }
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
        return -1;
    if (soerr) {
        errno = soerr;
        return -1;
    }
    return 0;
}

static int connect_unix(const vm_ctx *ctx, int64_t deadline)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    int n = snprintf(sun.sun_path, sizeof sun.sun_path, "%s/vminfod.sock", ctx->run_dir);
    if (n < 0 || (size_t)n >= sizeof sun.sun_path)
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    if (connect_deadline(fd, (struct sockaddr *)&sun, sizeof sun, deadline) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int connect_tcp(const char *addr, int64_t deadline, vm_err *err)
{
    cleanup_free char *host = xstrdup(addr);
    char *colon = strrchr(host, ':');
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
    struct addrinfo *res = NULL, *ai;
    int fd = -1, e = ECONNREFUSED;

    if (!colon || colon == host || !colon[1])
        return vm_err_set(err, VMERR_INVALID, "invalid VMINFOD_ADDR %s (want host:port)", addr);
    *colon = '\0';
    char *h = host;
    if (h[0] == '[' && colon[-1] == ']') {
        h++;
        colon[-1] = '\0';
    }
    int r = getaddrinfo(h, colon + 1, &hints, &res);
    if (r != 0)
        return vm_err_set(err, VMERR_IO, "cannot resolve vminfod address %s: %s", addr, gai_strerror(r));
    for (ai = res; ai; ai = ai->ai_next) {
        fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0) {
            e = errno;
            continue;
        }
        if (connect_deadline(fd, ai->ai_addr, ai->ai_addrlen, deadline) == 0)
            break;
        e = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return vm_err_sys(err, e, "cannot connect to vminfod at %s", addr);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static int send_all(int fd, const char *p, size_t n, int64_t deadline, vm_err *err)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN) {
                if (wait_fd(fd, POLLOUT, deadline) <= 0)
                    return vm_err_set(err, VMERR_TIMEOUT, "vminfod request timed out");
                continue;
            }
            return vm_err_sys(err, errno, "cannot send request to vminfod");
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Reads what is available into h->raw.  1 data, 0 deadline, -2 EOF, -1 error. */
static int recv_some(vminfo_http *h, int64_t deadline, vm_err *err)
{
    char buf[16384];
    for (;;) {
        ssize_t r = recv(h->fd, buf, sizeof buf, 0);
        if (r > 0) {
            vminfo_buf_append(&h->raw, buf, (size_t)r);
            return 1;
        }
        if (r == 0)
            return -2;
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN)
            return vm_err_sys(err, errno, "cannot read from vminfod");
        int w = wait_fd(h->fd, POLLIN, deadline);
        if (w == 0)
            return 0;
        if (w < 0)
            return vm_err_sys(err, errno, "poll");
    }
}

static char *trim(char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        s[--n] = '\0';
    return s;
}

static int parse_head(vminfo_http *h, size_t headlen, vm_err *err)
{
    cleanup_free char *head = xstrndup(h->raw.data, headlen);
    char *save = NULL;
    char *line = strtok_r(head, "\r\n", &save);
    int major, minor, status;

    if (!line || sscanf(line, "HTTP/%d.%d %d", &major, &minor, &status) != 3 || status < 100 || status > 999)
        return vm_err_set(err, VMERR_IO, "vminfod: malformed HTTP response");
    h->status = status;
    while ((line = strtok_r(NULL, "\r\n", &save))) {
        char *colon = strchr(line, ':');
        if (!colon)
            continue;
        *colon = '\0';
        char *v = trim(colon + 1);
        if (!strcasecmp(line, "Content-Length")) {
            int64_t n;
            if (!parse_i64(v, &n))
                return vm_err_set(err, VMERR_IO, "vminfod: bad Content-Length");
            h->clen = n;
        } else if (!strcasecmp(line, "Transfer-Encoding")) {
            h->chunked = strcasestr(v, "chunked") != NULL;
        } else if (!strcasecmp(line, "X-Vminfod-Redacted")) {
            h->redacted = !strcasecmp(v, "true");
        } else if (!strcasecmp(line, "X-Vminfod-Root")) {
            free(h->root);
            h->root = xstrdup(v);
        }
    }
    vminfo_buf_consume(&h->raw, headlen + 4);
    if (h->chunked)
        h->clen = -1;
    if (h->clen == 0)
        h->done = 1;
    return 0;
}

/* Moves decoded body bytes from raw to body. */
static int decode(vminfo_http *h, vm_err *err)
{
    if (!h->raw.len || h->done)
        return 0;
    if (h->chunked) {
        int done = 0;
        ssize_t n = vminfo_chunked_feed(&h->ck, h->raw.data, h->raw.len, &h->body, &done, err);
        if (n < 0)
            return -1;
        vminfo_buf_consume(&h->raw, (size_t)n);
        h->done = done;
        return 0;
    }
    size_t n = h->raw.len;
    if (h->clen >= 0 && (long long)n > h->clen - h->got)
        n = (size_t)(h->clen - h->got);
    vminfo_buf_append(&h->body, h->raw.data, n);
    vminfo_buf_consume(&h->raw, n);
    h->got += (long long)n;
    if (h->clen >= 0 && h->got >= h->clen)
        h->done = 1;
    return 0;
}

int vminfo_http_get(vminfo_http *h, const vm_ctx *ctx, const char *path, const char *user_agent, int64_t deadline,
                    vm_err *err)
{
    if (!ctx->vminfod_addr || !strcmp(ctx->vminfod_addr, "none"))
        return vm_err_set(err, VMERR_IO, "vminfod disabled (VMINFOD_ADDR=none)");
    h->fd = connect_unix(ctx, deadline);
    if (h->fd < 0 && (h->fd = connect_tcp(ctx->vminfod_addr, deadline, err)) < 0)
        return -1;

    cleanup_free char *req = xasprintf("GET %s HTTP/1.1\r\nHost: vminfod\r\nUser-Agent: %s\r\n"
                                       "Accept: application/json\r\nConnection: close\r\n\r\n",
                                       path, user_agent);
    if (send_all(h->fd, req, strlen(req), deadline, err) < 0)
        return -1;
    for (;;) {
        char *end = h->raw.len ? memmem(h->raw.data, h->raw.len, "\r\n\r\n", 4) : NULL;
        if (end)
            return parse_head(h, (size_t)(end - h->raw.data), err) < 0 ? -1 : decode(h, err);
        if (h->raw.len > 65536)
            return vm_err_set(err, VMERR_IO, "vminfod: response header too large");
        int r = recv_some(h, deadline, err);
        if (r == 0)
            return vm_err_set(err, VMERR_TIMEOUT, "vminfod request timed out");
        if (r == -2)
            return vm_err_set(err, VMERR_IO, "vminfod closed the connection");
        if (r < 0)
            return -1;
    }
}

int vminfo_http_read(vminfo_http *h, int64_t deadline, vm_err *err)
{
    if (h->done)
        return 1;
    int r = recv_some(h, deadline, err);
    if (r == 0)
        return 0;
    if (r == -1)
        return -1;
    if (r == -2) {
        if (!h->chunked && h->clen < 0) {
            h->done = 1;
            return 1;
        }
        return vm_err_set(err, VMERR_IO, "VminfodEventStream ended prematurely");
    }
    if (decode(h, err) < 0)
        return -1;
    return 1;
}

int vminfo_http_read_all(vminfo_http *h, int64_t deadline, vm_err *err)
{
    while (!h->done) {
        int r = vminfo_http_read(h, deadline, err);
        if (r < 0)
            return -1;
        if (r == 0)
            return vm_err_set(err, VMERR_TIMEOUT, "vminfod request timed out");
    }
    return 0;
}

void vminfo_http_close(vminfo_http *h)
{
    if (h->fd >= 0)
        close(h->fd);
    h->fd = -1;
    vminfo_buf_free(&h->raw);
    vminfo_buf_free(&h->body);
    free(h->root);
    h->root = NULL;
}

char *vminfo_user_agent(const char *name)
{
    char host[256] = "localhost";
    char prog[512] = "";
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);

    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    if (fd >= 0) {
        ssize_t n = read(fd, prog, sizeof prog - 1);
        prog[n > 0 ? n : 0] = '\0';
        close(fd);
    }
    const char *base = strrchr(prog, '/') ? strrchr(prog, '/') + 1 : prog;
    return xasprintf("%s - %s/%ld (%s)", name && *name ? name : (*base ? base : "vminfo"), host, (long)getpid(),
                     *prog ? prog : "-");
}
