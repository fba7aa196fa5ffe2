/* Metadata service connections (mdata.h): reading lines, answering them
 * from the VM's cached object, and PUT/DELETE through the update workers. */
#include "mdata_internal.h"
#include "server_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "mdata/codec.h"
#include "mdata/keys.h"

#define READ_CHUNK 65536
#define LINES_PER_TURN 4 /* requests one connection gets before the next one's turn */
#define SLOW_US 10000 /* SmartOS's agent warns at 10 ms */

static const char *const op_names[] = { "-", "GET", "KEYS", "PUT", "DELETE" };

int64_t md_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void set_events(vminfod_mdata *m, struct md_conn *c, uint32_t ev)
{
    if (c->events == ev || c->fd < 0)
        return;
    struct epoll_event e = { .events = ev, .data.ptr = c };
    epoll_ctl(m->ep, EPOLL_CTL_MOD, c->fd, &e);
    c->events = ev;
}

struct md_conn *md_conn_new(vminfod_mdata *m, struct md_vm *vm, int fd, bool hvm)
{
    struct md_conn *c = xcalloc(1, sizeof *c);
    c->evtype = MD_EV_CONN;
    c->vm = vm;
    memcpy(c->uuid, vm->uuid, sizeof c->uuid);
    c->fd = fd;
    c->hvm = hvm;
    c->events = EPOLLIN;
    struct epoll_event e = { .events = EPOLLIN, .data.ptr = c };
    if (epoll_ctl(m->ep, EPOLL_CTL_ADD, fd, &e) < 0) {
        close(fd);
        free(c);
        return NULL;
    }
    c->next = vm->conns;
    if (vm->conns)
        vm->conns->prev = c;
    vm->conns = c;
    vm->nconns++;
    if (hvm)
        vm->hvm_conn = c;
    return c;
}

static void rr_remove(vminfod_mdata *m, struct md_conn *c)
{
    if (!c->in_rr)
        return;
    struct md_conn **pp = &m->rr_head, *prev = NULL;
    while (*pp && *pp != c) {
        prev = *pp;
        pp = &(*pp)->rnext;
    }
    if (*pp)
        *pp = c->rnext;
    if (m->rr_tail == c)
        m->rr_tail = prev;
    c->in_rr = false;
    c->rnext = NULL;
}

static void rr_add(vminfod_mdata *m, struct md_conn *c)
{
    if (c->in_rr || c->dead)
        return;
    c->in_rr = true;
    c->rnext = NULL;
    if (m->rr_tail)
        m->rr_tail->rnext = c;
    else
        m->rr_head = c;
    m->rr_tail = c;
}

/* Detaches from its VM and closes the socket; the memory goes when no
 * update refers to it any more. */
void md_conn_close(vminfod_mdata *m, struct md_conn *c)
{
    rr_remove(m, c);
    if (c->fd >= 0) {
        epoll_ctl(m->ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
    struct md_vm *vm = c->vm;
    if (vm) {
        if (c->prev)
            c->prev->next = c->next;
        else
            vm->conns = c->next;
        if (c->next)
            c->next->prev = c->prev;
        vm->nconns--;
        if (vm->hvm_conn == c)
            vm->hvm_conn = NULL;
        c->vm = NULL;
    }
    if (c->busy || c->in_grave) {
        c->dead = true;
        return;
    }
    c->dead = c->in_grave = true;
    c->rnext = m->grave;
    m->grave = c;
}

void md_grave_empty(vminfod_mdata *m)
{
    while (m->grave) {
        struct md_conn *c = m->grave;
        m->grave = c->rnext;
        free(c->in);
        free(c->out);
        free(c);
    }
    while (m->grave_vms) {
        struct md_vm *vm = m->grave_vms;
        m->grave_vms = vm->gnext;
        free(vm);
    }
}

/* Queues a reply; writes what the socket takes now. */
static void send_reply(vminfod_mdata *m, struct md_conn *c, char *buf, size_t len)
{
    if (c->fd < 0) {
        free(buf);
        return;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(c->fd, buf + off, len - off);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            free(buf);
            c->eof = true;
            return;
        }
        break;
    }
    if (off == len) {
        free(buf);
        return;
    }
    c->out = buf;
    c->out_len = len;
    c->out_off = off;
    set_events(m, c, EPOLLOUT);
}

static json_t *cached_vm(vminfod *d, const char *uuid)
{
    cleanup_free char *text = NULL;
    size_t len = 0;
    pthread_mutex_lock(&d->lock);
    struct vment *e = strmap_get(d->cache, uuid);
    if (e) {
        text = xstrndup(e->text, e->len);
        len = e->len;
    }
    pthread_mutex_unlock(&d->lock);
    return text ? json_loadb(text, len, 0, NULL) : NULL;
}

static void log_request(vminfod_mdata *m, const char *uuid, int op, const char *key, const char *result, int64_t t0)
{
    int64_t us = md_now_us() - t0;
    bool slow = op != MDATA_OP_PUT && op != MDATA_OP_DELETE && us >= SLOW_US;
    vminfod_log(m->d, slow ? "warn" : "info", "metadata %s %s%s%s -> %s (%lld.%03lld ms)", uuid, op_names[op],
                key ? " " : "", key ? key : "", result, (long long)(us / 1000), (long long)(us % 1000));
}

/* An update for c's VM: queued now, or after the VM's running one. */
static void submit_job(vminfod_mdata *m, struct md_conn *c, const mdata_req *r, json_t *payload, int64_t t0)
{
    struct md_job *j = xcalloc(1, sizeof *j);
    j->conn = c;
    memcpy(j->uuid, c->uuid, sizeof j->uuid);
    snprintf(j->reqid, sizeof j->reqid, "%s", r->reqid);
    j->op = r->op;
    j->key = xstrdup(r->key);
    j->payload = payload;
    j->t0_us = t0;
    c->busy = true;
    struct md_vm *vm = c->vm;
    if (vm->job_running) {
        *vm->waiting_tail = j;
        vm->waiting_tail = &j->next;
        return;
    }
    vm->job_running = true;
    pthread_mutex_lock(&m->jlock);
    *m->queue_tail = j;
    m->queue_tail = &j->next;
    pthread_cond_signal(&m->jcond);
    pthread_mutex_unlock(&m->jlock);
}

static void answer(vminfod_mdata *m, struct md_conn *c, const mdata_req *r)
{
    int64_t t0 = md_now_us();
    size_t len;
    char *reply;
    if (r->kind != MDATA_REQUEST) {
        reply = mdata_reply_plain(r, &len);
        send_reply(m, c, reply, len);
        return;
    }
    cleanup_json json_t *vm = cached_vm(m->d, c->uuid);
    if (!vm) {
        static const char gone[] = "VM not found";
        reply = mdata_reply(r->reqid, "FAILURE", gone, sizeof gone - 1, &len);
        send_reply(m, c, reply, len);
        log_request(m, c->uuid, r->op, r->key, "FAILURE (VM not found)", t0);
        return;
    }
    if (r->op == MDATA_OP_PUT || r->op == MDATA_OP_DELETE) {
        char why[MDATA_WHY_MAX];
        json_t *payload = mdata_update_payload(vm, r->key, r->op == MDATA_OP_PUT ? r->value : NULL, why);
        if (payload && !m->opts.update) {
            json_decref(payload);
            payload = NULL;
            snprintf(why, sizeof why, "metadata is read-only on this host");
        }
        if (!payload) {
            reply = mdata_reply(r->reqid, "FAILURE", why, strlen(why), &len);
            send_reply(m, c, reply, len);
            log_request(m, c->uuid, r->op, r->key, "FAILURE (refused)", t0);
            return;
        }
        submit_job(m, c, r, payload, t0);
        return;
    }
    cleanup_free char *val = NULL;
    size_t vlen = 0;
    int res = MDATA_R_SUCCESS;
    if (r->op == MDATA_OP_KEYS) {
        val = mdata_keys(vm);
        vlen = strlen(val);
    } else {
        res = mdata_get(vm, r->key, &val, &vlen);
    }
    static const char *const status[] = { "SUCCESS", "NOTFOUND", "FAILURE" };
    reply = mdata_reply(r->reqid, status[res], val, vlen, &len);
    send_reply(m, c, reply, len);
    log_request(m, c->uuid, r->op, r->key, status[res], t0);
}

/* Takes the next complete line out of c->in and answers it; false when
 * there is none (or c must wait). */
static bool serve_one(vminfod_mdata *m, struct md_conn *c)
{
    if (c->busy || c->out || c->fd < 0)
        return false;
    char *nl = c->in_len ? memchr(c->in, '\n', c->in_len) : NULL;
    if (!nl)
        return false;
    size_t llen = (size_t)(nl - c->in);
    if (c->skipping) {
        /* The tail of an over-long line: answered once, here. */
        c->skipping = false;
        send_reply(m, c, xstrdup("invalid command\n"), 16);
    } else {
        mdata_req r;
        mdata_parse(c->in, llen, &r);
        answer(m, c, &r);
        mdata_req_free(&r);
    }
    memmove(c->in, nl + 1, c->in_len - llen - 1);
    c->in_len -= llen + 1;
    return true;
}

static bool has_line(const struct md_conn *c)
{
    return c->in_len && memchr(c->in, '\n', c->in_len);
}

static void read_more(vminfod_mdata *m, struct md_conn *c)
{
    (void)m;
    if (c->in_cap - c->in_len < READ_CHUNK) {
        c->in_cap = c->in_len + READ_CHUNK;
        c->in = xrealloc(c->in, c->in_cap);
    }
    ssize_t n = read(c->fd, c->in + c->in_len, READ_CHUNK);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR && errno != EWOULDBLOCK)) {
        c->eof = true;
        return;
    }
    if (n < 0)
        return;
    c->in_len += (size_t)n;
    /* Bounded: a line that outgrows MDATA_MAX_LINE is dropped up to its
     * newline (skipping) and answered then. */
    if (c->in_len > MDATA_MAX_LINE && !has_line(c)) {
        c->skipping = true;
        c->in_len = 0;
    }
    if (c->in_cap > 2 * READ_CHUNK && c->in_len < READ_CHUNK / 2) {
        c->in_cap = READ_CHUNK;
        c->in = xrealloc(c->in, c->in_cap);
    }
}

/* Stop reading while a line waits for its turn or a reply is pending. */
static void update_interest(vminfod_mdata *m, struct md_conn *c)
{
    if (c->out)
        set_events(m, c, EPOLLOUT);
    else if (c->busy || has_line(c))
        set_events(m, c, 0);
    else
        set_events(m, c, EPOLLIN);
    if (!c->busy && !c->out && has_line(c))
        rr_add(m, c);
}

void md_conn_event(vminfod_mdata *m, struct md_conn *c, uint32_t events)
{
    if (c->dead)
        return;
    if (events & EPOLLOUT && c->out) {
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n > 0)
            c->out_off += (size_t)n;
        else if (n < 0 && errno != EAGAIN && errno != EINTR)
            c->eof = true;
        if (c->out_off == c->out_len) {
            free(c->out);
            c->out = NULL;
        }
    }
    if (events & EPOLLIN)
        read_more(m, c);
    else if (events & (EPOLLHUP | EPOLLERR) && !c->out)
        c->eof = true;
    if (c->eof && !has_line(c)) {
        md_conn_close(m, c);
        return;
    }
    update_interest(m, c);
}

bool md_serve_round(vminfod_mdata *m)
{
    struct md_conn *c = m->rr_head;
    m->rr_head = m->rr_tail = NULL;
    while (c) {
        struct md_conn *next = c->rnext;
        c->in_rr = false;
        c->rnext = NULL;
        for (int i = 0; i < LINES_PER_TURN && serve_one(m, c); i++)
            ;
        if (c->eof && !has_line(c) && !c->busy)
            md_conn_close(m, c);
        else
            update_interest(m, c);
        c = next;
    }
    return m->rr_head != NULL;
}

/* ---- update workers ---- */

void md_job_free(struct md_job *j)
{
    free(j->key);
    json_decref(j->payload);
    free(j);
}

static void *worker_main(void *arg)
{
    vminfod_mdata *m = arg;
    pthread_mutex_lock(&m->jlock);
    for (;;) {
        while (!m->queue && !m->stopping)
            pthread_cond_wait(&m->jcond, &m->jlock);
        if (m->stopping)
            break;
        struct md_job *j = m->queue;
        m->queue = j->next;
        if (!m->queue)
            m->queue_tail = &m->queue;
        pthread_mutex_unlock(&m->jlock);

        vm_err err = VM_ERR_INIT;
        j->rc = m->opts.update(m->opts.update_arg, j->uuid, j->payload, &err);
        if (j->rc < 0)
            snprintf(j->msg, sizeof j->msg, "%s", err.msg[0] ? err.msg : "update failed");

        pthread_mutex_lock(&m->jlock);
        j->next = NULL;
        *m->done_tail = j;
        m->done_tail = &j->next;
        uint64_t one = 1;
        if (write(m->jobs_fd, &one, sizeof one) < 0) {
            /* eventfd overflow is impossible at these counts */
        }
    }
    pthread_mutex_unlock(&m->jlock);
    return NULL;
}

int md_workers_start(vminfod_mdata *m, vm_err *err)
{
    m->queue_tail = &m->queue;
    m->done_tail = &m->done;
    m->workers = xcalloc((size_t)m->opts.workers, sizeof *m->workers);
    for (int i = 0; i < m->opts.workers; i++) {
        int e = pthread_create(&m->workers[i], NULL, worker_main, m);
        if (e)
            return vm_err_sys(err, e, "cannot start a metadata update worker");
        m->nworkers++;
    }
    return 0;
}

void md_workers_stop(vminfod_mdata *m)
{
    pthread_mutex_lock(&m->jlock);
    m->stopping = true;
    pthread_cond_broadcast(&m->jcond);
    pthread_mutex_unlock(&m->jlock);
    for (int i = 0; i < m->nworkers; i++)
        pthread_join(m->workers[i], NULL);
    free(m->workers);
    m->workers = NULL;
    m->nworkers = 0;
    while (m->queue) {
        struct md_job *j = m->queue;
        m->queue = j->next;
        md_job_free(j);
    }
    while (m->done) {
        struct md_job *j = m->done;
        m->done = j->next;
        md_job_free(j);
    }
}

void md_jobs_finish(vminfod_mdata *m)
{
    uint64_t cnt;
    if (read(m->jobs_fd, &cnt, sizeof cnt) < 0) {
        /* nothing pending */
    }
    pthread_mutex_lock(&m->jlock);
    struct md_job *list = m->done;
    m->done = NULL;
    m->done_tail = &m->done;
    pthread_mutex_unlock(&m->jlock);

    while (list) {
        struct md_job *j = list;
        list = j->next;
        struct md_conn *c = j->conn;
        struct md_vm *vm = c->vm ? c->vm : strmap_get(m->vms, j->uuid);
        c->busy = false;
        size_t len;
        if (!c->dead) {
            char *reply = j->rc == 0 ? mdata_reply(j->reqid, "SUCCESS", "OK", 2, &len)
                                     : mdata_reply(j->reqid, "FAILURE", j->msg, strlen(j->msg), &len);
            send_reply(m, c, reply, len);
            update_interest(m, c);
        } else {
            md_conn_close(m, c);
        }
        log_request(m, j->uuid, j->op, j->key, j->rc == 0 ? "SUCCESS" : "FAILURE", j->t0_us);
        if (j->rc < 0)
            vminfod_log(m->d, "warn", "metadata %s %s %s failed: %s", j->uuid, op_names[j->op], j->key, j->msg);
        md_job_free(j);
        /* The VM's next update, if one waits. */
        if (vm) {
            vm->job_running = false;
            struct md_job *n = vm->waiting;
            if (n) {
                vm->waiting = n->next;
                if (!vm->waiting)
                    vm->waiting_tail = &vm->waiting;
                n->next = NULL;
                vm->job_running = true;
                pthread_mutex_lock(&m->jlock);
                *m->queue_tail = n;
                m->queue_tail = &n->next;
                pthread_cond_signal(&m->jcond);
                pthread_mutex_unlock(&m->jlock);
            }
        }
    }
}
