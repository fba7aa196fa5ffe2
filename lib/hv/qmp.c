#include "hv/qmp.h"

#include <errno.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/util.h"

static int send_all(int fd, const char *buf, size_t len, vm_err *err)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return vm_err_sys(err, errno, "send failed");
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Pops one complete line from the buffer, if there is one. */
static char *take_line(qmp_conn *c)
{
    if (!c->len)
        return NULL;
    char *nl = memchr(c->buf, '\n', c->len);
    if (!nl)
        return NULL;
    size_t n = (size_t)(nl - c->buf);
    char *line = xstrndup(c->buf, n);
    memmove(c->buf, nl + 1, c->len - n - 1);
    c->len -= n + 1;
    return line;
}

int qmp_read_msg(qmp_conn *c, int timeout_ms, json_t **msg, vm_err *err)
{
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        cleanup_free char *line = take_line(c);
        if (line) {
            /* Lines end in \r\n; blank lines carry nothing. */
            size_t n = strlen(line);
            while (n && (line[n - 1] == '\r' || line[n - 1] == ' '))
                line[--n] = '\0';
            if (!n)
                continue;
            json_error_t jerr;
            json_t *j = json_loads(line, JSON_PRESERVE_ORDER, &jerr);
            if (!j || !json_is_object(j)) {
                json_decref(j);
                return vm_err_set(err, VMERR_IO, "QMP: malformed message: %.200s", line);
            }
            *msg = j;
            return 0;
        }
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return vm_err_set(err, VMERR_TIMEOUT, "QMP: no reply within %d ms", timeout_ms);
        struct pollfd p = { .fd = c->fd, .events = POLLIN };
        int r = poll(&p, 1, (int)left);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return vm_err_sys(err, errno, "QMP poll failed");
        }
        if (r == 0)
            continue;
        if (c->cap - c->len < 4096) {
            c->cap = c->cap ? c->cap * 2 : 8192;
            c->buf = xrealloc(c->buf, c->cap);
        }
        ssize_t n = recv(c->fd, c->buf + c->len, c->cap - c->len, 0);
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            return vm_err_sys(err, errno, "QMP receive failed");
        }
        if (n == 0)
            return vm_err_set(err, VMERR_IO, "QMP: connection closed by QEMU");
        c->len += (size_t)n;
    }
}

static void keep_event(qmp_conn *c, json_t *msg)
{
    if (!c->events)
        c->events = json_array();
    json_array_append(c->events, msg);
}

/* The whole line in one sendmsg carrying `fd` (QEMU takes the descriptor
 * with the command it arrives with). */
static int send_with_fd(int sock, const char *buf, size_t len, int fd, vm_err *err)
{
    union {
        char b[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    memset(&u, 0, sizeof u);
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
    struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.b, .msg_controllen = sizeof u.b };
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof fd);
    ssize_t n;
    do
        n = sendmsg(sock, &mh, MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return vm_err_sys(err, errno, "send failed");
    return send_all(sock, buf + n, len - (size_t)n, err);
}

static int exec_obj_fd(qmp_conn *c, json_t *cmd, int fd, json_t **ret, vm_err *err)
{
    const char *name = json_string_value(json_object_get(cmd, "execute"));
    cleanup_free char *text = json_compact(cmd);
    cleanup_free char *line = xasprintf("%s\n", text);
    if (!name)
        return vm_err_set(err, VMERR_INVALID, "QMP command has no \"execute\" member");
    if ((fd >= 0 ? send_with_fd(c->fd, line, strlen(line), fd, err) : send_all(c->fd, line, strlen(line), err)) < 0) {
        vm_err_prefix(err, "QMP %s: ", name);
        return -1;
    }
    for (;;) {
        cleanup_json json_t *msg = NULL;
        if (qmp_read_msg(c, c->timeout_ms, &msg, err) < 0) {
            vm_err_prefix(err, "QMP %s: ", name);
            return -1;
        }
        if (json_object_get(msg, "event")) {
            keep_event(c, msg);
            continue;
        }
        json_t *e = json_object_get(msg, "error");
        if (e) {
            const char *desc = json_string_value(json_object_get(e, "desc"));
            return vm_err_set(err, VMERR_IO, "QMP %s: %s", name, desc ? desc : "failed");
        }
        json_t *r = json_object_get(msg, "return");
        if (!r)
            continue; /* a stray greeting or unknown line: not our reply */
        if (ret)
            *ret = json_incref(r);
        return 0;
    }
}

int qmp_exec_obj(qmp_conn *c, json_t *cmd, json_t **ret, vm_err *err)
{
    return exec_obj_fd(c, cmd, -1, ret, err);
}

int qmp_exec_fd(qmp_conn *c, const char *cmd, json_t *args, int fd, json_t **ret, vm_err *err)
{
    cleanup_json json_t *o = json_pack("{s:s}", "execute", cmd);
    if (args)
        json_object_set(o, "arguments", args);
    return exec_obj_fd(c, o, fd, ret, err);
}

int qmp_add_fd(qmp_conn *c, int fd, const char *opaque, int64_t *set, vm_err *err)
{
    cleanup_json json_t *cmd = json_pack("{s:s,s:{s:s}}", "execute", "add-fd", "arguments", "opaque", opaque);
    if (*set >= 0)
        json_object_set_new(json_object_get(cmd, "arguments"), "fdset-id", json_integer(*set));
    cleanup_json json_t *r = NULL;
    if (exec_obj_fd(c, cmd, fd, &r, err) < 0)
        return -1;
    *set = json_integer_value(json_object_get(r, "fdset-id"));
    return 0;
}

int qmp_exec(qmp_conn *c, const char *cmd, json_t *args, json_t **ret, vm_err *err)
{
    cleanup_json json_t *o = json_pack("{s:s}", "execute", cmd);
    if (args)
        json_object_set(o, "arguments", args);
    return qmp_exec_obj(c, o, ret, err);
}

int qmp_attach_fd(qmp_conn *c, int fd, int timeout_ms, vm_err *err)
{
    c->fd = fd;
    c->timeout_ms = timeout_ms;
    for (;;) {
        cleanup_json json_t *msg = NULL;
        if (qmp_read_msg(c, timeout_ms, &msg, err) < 0) {
            vm_err_prefix(err, "no QMP greeting: ");
            return -1;
        }
        json_t *g = json_object_get(msg, "QMP");
        if (g) {
            json_decref(c->greeting);
            c->greeting = json_incref(g);
            break;
        }
        if (json_object_get(msg, "event"))
            keep_event(c, msg);
    }
    return qmp_exec(c, "qmp_capabilities", NULL, NULL, err);
}

int qmp_connect(qmp_conn *c, const char *path, int timeout_ms, vm_err *err)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof sa.sun_path)
        return vm_err_set(err, VMERR_INVALID, "socket path %s is too long (%zu bytes, limit %zu)", path, strlen(path),
                          sizeof sa.sun_path - 1);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return vm_err_sys(err, errno, "socket");
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        return vm_err_sys(err, errno, "cannot connect to QMP socket %s", path);
    return qmp_attach_fd(c, steal_fd(fd), timeout_ms, err);
}

int qmp_saw_event(const qmp_conn *c, const char *name)
{
    size_t i;
    json_t *e;
    json_array_foreach(c->events, i, e) {
        const char *n = json_string_value(json_object_get(e, "event"));
        if (n && !strcmp(n, name))
            return 1;
    }
    return 0;
}

void qmp_close(qmp_conn *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    free(c->buf);
    c->buf = NULL;
    c->len = c->cap = 0;
    json_decref(c->events);
    c->events = NULL;
    json_decref(c->greeting);
    c->greeting = NULL;
}
