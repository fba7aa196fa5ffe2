#include "httpd.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/util.h"

struct vminfod_httpd {
    vminfod *d;
    struct MHD_Daemon *tcp, *unix_;
    char *sock_path;
    char addr[300];
    char *root;
};

struct evconn {
    vminfod_httpd *h;
    vminfod_listener *l;
    struct MHD_Connection *conn;
    int fd;
};

static void ev_suspend(void *c)
{
    MHD_suspend_connection(((struct evconn *)c)->conn);
}

static void ev_resume(void *c)
{
    MHD_resume_connection(((struct evconn *)c)->conn);
}

static void ev_kill(void *c)
{
    struct evconn *ec = c;
    if (ec->fd >= 0)
        shutdown(ec->fd, SHUT_RDWR);
}

/* Event clients send nothing after their request: a readable socket or a
 * hang-up means the client closed its end. */
static int ev_peer_gone(void *c)
{
    struct evconn *ec = c;
    if (ec->fd < 0)
        return 0;
    struct pollfd p = { ec->fd, POLLIN | POLLRDHUP, 0 };
    if (poll(&p, 1, 0) <= 0)
        return 0;
    if (p.revents & (POLLRDHUP | POLLHUP | POLLERR))
        return 1;
    char b;
    ssize_t n = recv(ec->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n == 0;
}

static const vminfod_listener_ops ev_ops = { ev_suspend, ev_resume, ev_kill, ev_peer_gone };

static ssize_t ev_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct evconn *ec = cls;
    (void)pos;
    ssize_t n = vminfod_listener_read(ec->h->d, ec->l, buf, max);
    if (n == -1)
        return MHD_CONTENT_READER_END_OF_STREAM;
    if (n < 0)
        return MHD_CONTENT_READER_END_WITH_ERROR;
    return n;
}

static void ev_free(void *cls)
{
    struct evconn *ec = cls;
    vminfod_listener_free(ec->h->d, ec->l);
    free(ec);
}

static void blob_free(void *cls)
{
    vminfod_blob_unref(cls);
}

static const char *arg_lookup(void *cls, const char *key)
{
    return MHD_lookup_connection_value(cls, MHD_GET_ARGUMENT_KIND, key);
}

/* Who is asking: the unix socket (root only by its mode) gets the full
 * objects and is keyed by peer uid; TCP, reachable by every local user,
 * gets the redacted view and is keyed by address.  Decided from the
 * connection's own socket, so nothing can be misattributed. */
static void classify(struct MHD_Connection *conn, vminfod_req *req, char *peer, size_t peerlen)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    req->redact = 1;
    req->peer = NULL;
    req->trusted = 0;
    if (!ci || getsockname(ci->connect_fd, (struct sockaddr *)&ss, &sl) < 0)
        return;
    if (ss.ss_family == AF_UNIX) {
        struct ucred cr;
        socklen_t cl = sizeof cr;
        req->redact = 0;
        if (getsockopt(ci->connect_fd, SOL_SOCKET, SO_PEERCRED, &cr, &cl) == 0) {
            snprintf(peer, peerlen, "uid:%u", (unsigned)cr.uid);
            req->peer = peer;
            req->trusted = cr.uid == 0;
        }
        return;
    }
    sl = sizeof ss;
    if (getpeername(ci->connect_fd, (struct sockaddr *)&ss, &sl) < 0)
        return;
    char a[INET6_ADDRSTRLEN] = "";
    if (ss.ss_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, a, sizeof a);
    else if (ss.ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, a, sizeof a);
    snprintf(peer, peerlen, "ip:%s", a);
    req->peer = peer;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
    vminfod_httpd *h = cls;
    vminfod_resp r;
    struct MHD_Response *resp;
    vminfod_req req = {
        .method = method,
        .path = url,
        .arg = arg_lookup,
        .arg_cls = conn,
        .user_agent = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "User-Agent"),
    };

    (void)version;
    (void)upload_data;
    /* Requests with a body are refused on the first call (GET only). */
    if (*con_cls) {
        *upload_size = 0;
        return MHD_YES;
    }
    *con_cls = h;
    char peer[80];
    classify(conn, &req, peer, sizeof peer);
    vminfod_handle(h->d, &req, &r);
    if (r.kind == VMINFOD_RESP_EVENTS) {
        struct evconn *ec = xcalloc(1, sizeof *ec);
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        ec->h = h;
        ec->l = r.listener;
        ec->conn = conn;
        ec->fd = ci ? ci->connect_fd : -1;
        vminfod_listener_attach(h->d, ec->l, &ev_ops, ec);
        resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 64 * 1024, ev_read, ec, ev_free);
        if (!resp) {
            ev_free(ec);
            return MHD_NO;
        }
        /* Event streams stay open forever (I9). */
        MHD_set_connection_option(conn, MHD_CONNECTION_OPTION_TIMEOUT, 0);
    } else if (r.blob) {
        resp = MHD_create_response_from_buffer_with_free_callback_cls(r.len, r.body, blob_free, r.blob);
        if (!resp) {
            vminfod_resp_free(&r);
            return MHD_NO;
        }
    } else if (r.body) {
        resp = MHD_create_response_from_buffer(r.len, r.body, MHD_RESPMEM_MUST_FREE);
        if (!resp) {
            vminfod_resp_free(&r);
            return MHD_NO;
        }
    } else {
        resp = MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
    }
    MHD_add_response_header(resp, "Content-Type", r.ctype ? r.ctype : "application/json");
    MHD_add_response_header(resp, "X-Vminfod-Root", h->root);
    if (req.redact)
        MHD_add_response_header(resp, "X-Vminfod-Redacted", "true");
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)r.status, resp);
    MHD_destroy_response(resp);
    return ret;
}

__attribute__((format(printf, 2, 0))) static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    vminfod_httpd *h = cls;
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && msg[n - 1] == '\n')
        msg[--n] = '\0';
    /* A client closing its event stream is routine, not a warning. */
    int routine = strstr(msg, "Failed to send") || strstr(msg, "closed") || strstr(msg, "reset by peer");
    vminfod_log(h->d, routine ? "debug" : "warn", "http: %s", msg);
}

static struct MHD_Daemon *start_mhd(vminfod_httpd *h, int listen_fd, const struct sockaddr *sa, int ipv6)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
    if (ipv6)
        flags |= MHD_USE_IPv6;
    if (listen_fd >= 0)
        return MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
                                MHD_OPTION_LISTEN_SOCKET, listen_fd, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
                                MHD_OPTION_END);
    return MHD_start_daemon(flags, 0, NULL, NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, h,
                            MHD_OPTION_SOCK_ADDR, sa, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60, MHD_OPTION_END);
}

static int open_unix(const char *path, vm_err *err)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof sun.sun_path)
        return vm_err_set(err, VMERR_INVALID, "unix socket path too long: %s", path);
    strcpy(sun.sun_path, path);

    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (probe >= 0 && connect(probe, (struct sockaddr *)&sun, sizeof sun) == 0) {
        close(probe);
        return vm_err_set(err, VMERR_BUSY, "another vminfod is serving %s", path);
    }
    if (probe >= 0)
        close(probe);
    unlink(path); /* stale socket from a daemon that died */

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return vm_err_sys(err, errno, "socket");
    /* Root only: the socket serves every secret.  Made private between
     * bind and listen, so nobody can connect while it is still open. */
    if (bind(fd, (struct sockaddr *)&sun, sizeof sun) < 0 || chmod(path, 0600) < 0 || listen(fd, 128) < 0) {
        int e = errno;
        close(fd);
        return vm_err_sys(err, e, "cannot listen on %s", path);
    }
    return fd;
}

int vminfod_httpd_start(vminfod *d, const char *listen, const char *sock_path, vminfod_httpd **out, vm_err *err)
{
    vminfod_httpd *h = xcalloc(1, sizeof *h);

    h->d = d;
    h->root = xstrdup(vminfod_root(d));

    if (sock_path) {
        int fd = open_unix(sock_path, err);
        if (fd < 0)
            goto fail;
        h->sock_path = xstrdup(sock_path);
        h->unix_ = start_mhd(h, fd, NULL, 0);
        if (!h->unix_) {
            close(fd);
            vm_err_set(err, VMERR_IO, "cannot serve HTTP on %s", sock_path);
            goto fail;
        }
    }
    if (listen) {
        cleanup_free char *host = xstrdup(listen);
        char *colon = strrchr(host, ':');
        struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE };
        struct addrinfo *res = NULL;
        if (!colon || colon == host) {
            vm_err_set(err, VMERR_INVALID, "invalid listen address %s (want host:port)", listen);
            goto fail;
        }
        *colon = '\0';
        char *hn = host;
        if (hn[0] == '[' && colon[-1] == ']') {
            hn++;
            colon[-1] = '\0';
        }
        int r = getaddrinfo(hn, colon + 1, &hints, &res);
        if (r != 0) {
            vm_err_set(err, VMERR_INVALID, "invalid listen address %s: %s", listen, gai_strerror(r));
            goto fail;
        }
        h->tcp = start_mhd(h, -1, res->ai_addr, res->ai_family == AF_INET6);
        freeaddrinfo(res);
        if (!h->tcp) {
            vm_err_set(err, VMERR_IO, "cannot listen on %s (address in use?)", listen);
            goto fail;
        }
        const union MHD_DaemonInfo *di = MHD_get_daemon_info(h->tcp, MHD_DAEMON_INFO_BIND_PORT);
        snprintf(h->addr, sizeof h->addr, "%.*s:%u", (int)(strrchr(listen, ':') - listen), listen,
                 di ? (unsigned)di->port : 0);
    }
    *out = h;
    return 0;
fail:
    vminfod_httpd_stop(h);
    return -1;
}

const char *vminfod_httpd_addr(const vminfod_httpd *h)
{
    return h->addr;
}

void vminfod_httpd_stop(vminfod_httpd *h)
{
    if (!h)
        return;
    /* Stop accepting; the listen sockets become ours to close. */
    struct MHD_Daemon *ds[] = { h->tcp, h->unix_ };
    for (size_t i = 0; i < 2; i++) {
        if (!ds[i])
            continue;
        MHD_socket s = MHD_quiesce_daemon(ds[i]);
        if (s != MHD_INVALID_SOCKET)
            close(s);
    }
    /* MHD must not be stopped with suspended connections: end every stream
     * (resuming the idle ones) and give them a moment to flush. */
    vminfod_close_listeners(h->d);
    for (int i = 0; i < 100 && vminfod_listener_count(h->d) > 0; i++)
        usleep(10000);
    if (h->tcp)
        MHD_stop_daemon(h->tcp);
    if (h->unix_)
        MHD_stop_daemon(h->unix_);
    if (h->sock_path)
        unlink(h->sock_path);
    free(h->sock_path);
    free(h->root);
    free(h);
}
