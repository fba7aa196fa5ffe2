/* The metadata service thread (mdata.h): the VM table — a listening
 * socket per container, a chardev connection per HVM — kept in step with
 * vminfod's events, and the epoll loop that serves every connection. */
#include "mdata_internal.h"
#include "server_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/util.h"
#include "mdata/paths.h"

#define FULL_RECONCILE_MS 60000

static bool is_ct_brand(const char *b)
{
    return b && (!strcmp(b, "joyent") || !strcmp(b, "joyent-minimal") || !strcmp(b, "lx"));
}

static bool is_hvm_brand(const char *b)
{
    return b && (!strcmp(b, "bhyve") || !strcmp(b, "kvm"));
}

static int epoll_add(vminfod_mdata *m, int fd, void *tag)
{
    struct epoll_event e = { .events = EPOLLIN, .data.ptr = tag };
    return epoll_ctl(m->ep, EPOLL_CTL_ADD, fd, &e);
}

static bool sockaddr_for(const char *path, struct sockaddr_un *sa)
{
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa->sun_path)
        return false;
    memcpy(sa->sun_path, path, strlen(path) + 1);
    return true;
}

/* ---- containers: the listening socket ---- */

static void ct_close(vminfod_mdata *m, struct md_vm *vm, bool unlink_it)
{
    if (vm->lfd < 0)
        return;
    epoll_ctl(m->ep, EPOLL_CTL_DEL, vm->lfd, NULL);
    close(vm->lfd);
    vm->lfd = -1;
    if (!unlink_it)
        return;
    cleanup_free char *rundir = vm_ctx_vm_rundir(m->d->ctx, vm->uuid);
    cleanup_free char *dir = xasprintf("%s/%s", rundir, MDATA_CT_DIR);
    cleanup_free char *path = xasprintf("%s/%s", dir, MDATA_CT_SOCK);
    struct stat st;
    /* Only the socket this service bound. */
    if (lstat(path, &st) == 0 && st.st_dev == vm->sock_dev && st.st_ino == vm->sock_ino)
        unlink(path);
    rmdir(dir);
}

/* Creates (or re-creates, when the file was removed or replaced) the VM's
 * socket: run/vms/<uuid>/zonecontrol/metadata.sock. */
static void ct_ensure(vminfod_mdata *m, struct md_vm *vm)
{
    cleanup_free char *rundir = vm_ctx_vm_rundir(m->d->ctx, vm->uuid);
    cleanup_free char *dir = xasprintf("%s/%s", rundir, MDATA_CT_DIR);
    cleanup_free char *path = xasprintf("%s/%s", dir, MDATA_CT_SOCK);
    struct stat st;
    if (vm->lfd >= 0 && lstat(path, &st) == 0 && st.st_dev == vm->sock_dev && st.st_ino == vm->sock_ino)
        return;
    ct_close(m, vm, false);

    vm_err err = VM_ERR_INIT;
    struct sockaddr_un sa;
    if (!sockaddr_for(path, &sa)) {
        vminfod_log(m->d, "warn", "metadata %s: socket path %s is too long", vm->uuid, path);
        return;
    }
    /* The runtime directory keeps its owner's mode (root 0700, or 0710
     * for the container's group once it started); zonecontrol is only
     * traversable, so the bind mount's target shows nothing but the
     * socket. */
    if (mkdir_p(rundir, 0700, &err) < 0 || (mkdir(dir, 0711) < 0 && errno != EEXIST) || lstat(dir, &st) < 0 ||
        !S_ISDIR(st.st_mode) || st.st_uid != 0 || chmod(dir, 0711) < 0) {
        vminfod_log(m->d, "warn", "metadata %s: cannot prepare %s: %s", vm->uuid, dir,
                    err.msg[0] ? err.msg : strerror(errno));
        return;
    }
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || chmod(path, 0666) < 0 || listen(fd, 16) < 0 ||
        lstat(path, &st) < 0 || epoll_add(m, fd, vm) < 0) {
        vminfod_log(m->d, "warn", "metadata %s: cannot listen on %s: %s", vm->uuid, path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return;
    }
    vm->lfd = fd;
    vm->sock_dev = st.st_dev;
    vm->sock_ino = st.st_ino;
}

static void ct_accept(vminfod_mdata *m, struct md_vm *vm)
{
    for (;;) {
        int fd = accept4(vm->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        if (vm->nconns >= m->opts.max_conns) {
            vminfod_log(m->d, "warn", "metadata %s: more than %d connections, refusing one", vm->uuid,
                        m->opts.max_conns);
            close(fd);
            continue;
        }
        md_conn_new(m, vm, fd, false);
    }
}

/* ---- HVMs: the client end of QEMU's COM2 chardev ---- */

static void hvm_connect(vminfod_mdata *m, struct md_vm *vm)
{
    if (vm->hvm_conn)
        return;
    cleanup_free char *rundir = vm_ctx_vm_rundir(m->d->ctx, vm->uuid);
    cleanup_free char *path = xasprintf("%s/%s", rundir, MDATA_HVM_SOCK);
    struct sockaddr_un sa;
    struct stat st;
    if (!sockaddr_for(path, &sa) || lstat(path, &st) < 0 || !S_ISSOCK(st.st_mode) || st.st_uid != 0)
        return;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return;
    /* A local connect succeeds or fails at once (a full backlog: next
     * retry). */
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        close(fd);
        return;
    }
    if (!md_conn_new(m, vm, fd, true))
        return;
    vminfod_log(m->d, "info", "metadata %s: attached to the guest's COM2", vm->uuid);
}

/* ---- the VM table ---- */

static void vm_free(vminfod_mdata *m, struct md_vm *vm)
{
    ct_close(m, vm, true);
    while (vm->conns)
        md_conn_close(m, vm->conns);
    while (vm->waiting) {
        struct md_job *j = vm->waiting;
        vm->waiting = j->next;
        j->conn->busy = false;
        md_conn_close(m, j->conn);
        md_job_free(j);
    }
    vm->gnext = m->grave_vms;
    m->grave_vms = vm;
}

static void vm_forget(vminfod_mdata *m, const char *uuid)
{
    struct md_vm *vm = strmap_del(m->vms, uuid);
    if (vm)
        vm_free(m, vm);
}

/* A VM as vminfod now has it: its transport set up (or torn down when its
 * brand has none). */
static void vm_seen(vminfod_mdata *m, const char *uuid, const char *brand)
{
    bool ct = is_ct_brand(brand), hvm = is_hvm_brand(brand);
    struct md_vm *vm = strmap_get(m->vms, uuid);
    if (vm && (vm->ct != ct || vm->hvm != hvm)) {
        vm_forget(m, uuid);
        vm = NULL;
    }
    if (!ct && !hvm)
        return;
    if (!vm) {
        vm = xcalloc(1, sizeof *vm);
        vm->evtype = MD_EV_LISTEN;
        snprintf(vm->uuid, sizeof vm->uuid, "%s", uuid);
        vm->ct = ct;
        vm->hvm = hvm;
        vm->lfd = -1;
        vm->waiting_tail = &vm->waiting;
        strmap_set(m->vms, uuid, vm);
    }
    vm->seen = true;
    if (ct)
        ct_ensure(m, vm);
    else
        hvm_connect(m, vm);
}

/* Every VM of the cache (start, lost events, and every minute: a socket
 * someone removed comes back). */
static void reconcile_all(vminfod_mdata *m)
{
    cleanup_json json_t *brands = json_object();
    vminfod *d = m->d;
    size_t it = 0;
    const char *k;
    void *v;
    pthread_mutex_lock(&d->lock);
    while (strmap_next(d->cache, &it, &k, &v)) {
        struct vment *e = v;
        /* brand is a top-level scalar: "brand\0\"<value>\"\0" */
        const char *p = e->scalars, *end = e->scalars ? e->scalars + e->scalars_len : NULL;
        while (p && p < end) {
            const char *val = p + strlen(p) + 1;
            if (!strcmp(p, "brand")) {
                cleanup_json json_t *b = json_loads(val, JSON_DECODE_ANY, NULL);
                if (json_is_string(b))
                    json_object_set(brands, k, b);
                break;
            }
            p = val + strlen(val) + 1;
        }
    }
    pthread_mutex_unlock(&d->lock);

    it = 0;
    while (strmap_next(m->vms, &it, &k, &v))
        ((struct md_vm *)v)->seen = false;
    json_t *b;
    json_object_foreach(brands, k, b)
        vm_seen(m, k, json_string_value(b));
    cleanup_json json_t *gone = json_array();
    it = 0;
    while (strmap_next(m->vms, &it, &k, &v))
        if (!((struct md_vm *)v)->seen)
            json_array_append_new(gone, json_string(k));
    size_t i;
    json_array_foreach(gone, i, b)
        vm_forget(m, json_string_value(b));
    m->last_full_ms = now_ms();
}

/* ---- vminfod's events ---- */

static void feed_suspend(void *conn)
{
    (void)conn;
}

static void feed_resume(void *conn)
{
    vminfod_mdata *m = conn;
    uint64_t one = 1;
    if (write(m->feed_fd, &one, sizeof one) < 0) {
        /* counter saturated: a wake is pending anyway */
    }
}

static int feed_peer_gone(void *conn)
{
    (void)conn;
    return 0;
}

static const vminfod_listener_ops feed_ops = { feed_suspend, feed_resume, feed_resume, feed_peer_gone };

static const char *feed_arg(void *cls, const char *key)
{
    (void)cls;
    /* ?vms= (empty): the ready event carries no VM; reconcile_all reads
     * the cache itself. */
    return !strcmp(key, "vms") ? "" : NULL;
}

static int feed_open(vminfod_mdata *m, vm_err *err)
{
    vminfod_req req = { .method = "GET",
                        .path = "/events",
                        .arg = feed_arg,
                        .user_agent = "vminfod metadata service",
                        .peer = "metadata",
                        .trusted = 1 };
    vminfod_resp resp = { 0 };
    vminfod_handle(m->d, &req, &resp);
    if (resp.kind != VMINFOD_RESP_EVENTS || !resp.listener) {
        vminfod_resp_free(&resp);
        return vm_err_set(err, VMERR_INTERNAL, "cannot subscribe to vminfod events (status %d)", resp.status);
    }
    m->listener = resp.listener;
    vminfod_listener_attach(m->d, m->listener, &feed_ops, m);
    return 0;
}

static void feed_line(vminfod_mdata *m, const char *line, size_t len)
{
    cleanup_json json_t *ev = json_loadb(line, len, 0, NULL);
    const char *type = json_string_value(json_object_get(ev, "type"));
    const char *uuid = json_string_value(json_object_get(ev, "uuid"));
    if (!type)
        return;
    if (!strcmp(type, "ready") || !strcmp(type, "resync"))
        reconcile_all(m);
    else if (!strcmp(type, "delete") && uuid)
        vm_forget(m, uuid);
    else if ((!strcmp(type, "create") || !strcmp(type, "modify")) && uuid)
        vm_seen(m, uuid, json_string_value(json_object_get(json_object_get(ev, "vm"), "brand")));
}

/* Drains the listener; re-subscribes (and reconciles) when vminfod
 * dropped it. */
static void feed_read(vminfod_mdata *m)
{
    uint64_t cnt;
    if (read(m->feed_fd, &cnt, sizeof cnt) < 0) {
        /* spurious */
    }
    for (;;) {
        if (m->feed_cap - m->feed_len < 65536) {
            m->feed_cap = m->feed_len + 65536;
            m->feed_buf = xrealloc(m->feed_buf, m->feed_cap);
        }
        ssize_t n = vminfod_listener_read(m->d, m->listener, m->feed_buf + m->feed_len, 65536);
        if (n == 0 || n == -1)
            break;
        if (n == -2) {
            vm_err err = VM_ERR_INIT;
            vminfod_listener_free(m->d, m->listener);
            m->listener = NULL;
            m->feed_len = 0;
            if (feed_open(m, &err) < 0)
                vminfod_log(m->d, "error", "metadata: %s", err.msg);
            reconcile_all(m);
            return;
        }
        m->feed_len += (size_t)n;
        char *p = m->feed_buf, *nl;
        while ((nl = memchr(p, '\n', m->feed_len - (size_t)(p - m->feed_buf)))) {
            feed_line(m, p, (size_t)(nl - p));
            p = nl + 1;
        }
        m->feed_len -= (size_t)(p - m->feed_buf);
        memmove(m->feed_buf, p, m->feed_len);
    }
}

/* ---- the loop ---- */

static void on_timer(vminfod_mdata *m)
{
    uint64_t cnt;
    if (read(m->timer_fd, &cnt, sizeof cnt) < 0) {
        /* spurious */
    }
    if (now_ms() - m->last_full_ms >= FULL_RECONCILE_MS) {
        reconcile_all(m);
        return;
    }
    size_t it = 0;
    const char *k;
    void *v;
    while (strmap_next(m->vms, &it, &k, &v)) {
        struct md_vm *vm = v;
        if (vm->hvm && !vm->hvm_conn)
            hvm_connect(m, vm);
    }
}

static void *service_main(void *arg)
{
    vminfod_mdata *m = arg;
    struct epoll_event evs[64];
    bool more = false;
    for (;;) {
        int n = epoll_wait(m->ep, evs, 64, more ? 0 : -1);
        if (n < 0 && errno != EINTR)
            break;
        for (int i = 0; i < n; i++) {
            int *tag = evs[i].data.ptr;
            if (tag == &m->ev_wake)
                return NULL;
            if (tag == &m->ev_feed)
                feed_read(m);
            else if (tag == &m->ev_timer)
                on_timer(m);
            else if (tag == &m->ev_jobs)
                md_jobs_finish(m);
            else if (*tag == MD_EV_LISTEN)
                ct_accept(m, (struct md_vm *)tag);
            else if (*tag == MD_EV_CONN)
                md_conn_event(m, (struct md_conn *)tag, evs[i].events);
        }
        more = md_serve_round(m);
        md_grave_empty(m);
    }
    return NULL;
}

static void mdata_free(vminfod_mdata *m)
{
    if (m->vms) {
        size_t it = 0;
        const char *k;
        void *v;
        cleanup_json json_t *all = json_array();
        while (strmap_next(m->vms, &it, &k, &v))
            json_array_append_new(all, json_string(k));
        size_t i;
        json_t *u;
        json_array_foreach(all, i, u)
            vm_forget(m, json_string_value(u));
        strmap_free(m->vms, NULL);
    }
    md_workers_stop(m);
    /* Connections whose update was cut short by the stop. */
    md_grave_empty(m);
    if (m->listener)
        vminfod_listener_free(m->d, m->listener);
    int fds[] = { m->ep, m->wake_fd, m->feed_fd, m->timer_fd, m->jobs_fd };
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    free(m->feed_buf);
    pthread_mutex_destroy(&m->jlock);
    pthread_cond_destroy(&m->jcond);
    free(m);
}

int vminfod_mdata_start(vminfod *d, const vminfod_mdata_opts *opts, vminfod_mdata **out, vm_err *err)
{
    vminfod_mdata *m = xcalloc(1, sizeof *m);
    m->d = d;
    if (opts)
        m->opts = *opts;
    if (m->opts.max_conns <= 0)
        m->opts.max_conns = 16;
    if (m->opts.workers <= 0)
        m->opts.workers = 2;
    m->ev_wake = MD_EV_WAKE;
    m->ev_feed = MD_EV_FEED;
    m->ev_timer = MD_EV_TIMER;
    m->ev_jobs = MD_EV_JOBS;
    pthread_mutex_init(&m->jlock, NULL);
    pthread_cond_init(&m->jcond, NULL);
    m->vms = strmap_new();
    m->ep = epoll_create1(EPOLL_CLOEXEC);
    m->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    m->feed_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    m->jobs_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    m->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    struct itimerspec its = { { MDATA_RETRY_MS / 1000, (MDATA_RETRY_MS % 1000) * 1000000L },
                              { MDATA_RETRY_MS / 1000, (MDATA_RETRY_MS % 1000) * 1000000L } };
    if (m->ep < 0 || m->wake_fd < 0 || m->feed_fd < 0 || m->jobs_fd < 0 || m->timer_fd < 0 ||
        timerfd_settime(m->timer_fd, 0, &its, NULL) < 0 || epoll_add(m, m->wake_fd, &m->ev_wake) < 0 ||
        epoll_add(m, m->feed_fd, &m->ev_feed) < 0 || epoll_add(m, m->jobs_fd, &m->ev_jobs) < 0 ||
        epoll_add(m, m->timer_fd, &m->ev_timer) < 0) {
        vm_err_sys(err, errno, "metadata service");
        mdata_free(m);
        return -1;
    }
    if (md_workers_start(m, err) < 0 || feed_open(m, err) < 0) {
        mdata_free(m);
        return -1;
    }
    /* The ready event is waiting: the first feed_read reconciles. */
    feed_resume(m);
    int e = pthread_create(&m->thread, NULL, service_main, m);
    if (e) {
        vm_err_sys(err, e, "cannot start the metadata service");
        mdata_free(m);
        return -1;
    }
    m->running = true;
    *out = m;
    return 0;
}

void vminfod_mdata_stop(vminfod_mdata *m)
{
    if (!m)
        return;
    if (m->running) {
        uint64_t one = 1;
        if (write(m->wake_fd, &one, sizeof one) < 0) {
            /* cannot fail on a fresh eventfd */
        }
        pthread_join(m->thread, NULL);
    }
    mdata_free(m);
}
