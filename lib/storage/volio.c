/* Volume block I/O through qemu-nbd and libnbd (volio.h).
 *
 * One I/O thread per handle owns the libnbd handle: callers queue requests
 * (mutex + eventfd), the thread issues them as libnbd aio commands and
 * drives the connection with poll(2).  Writes are write-behind: the caller
 * gets control back once its bytes are copied and queued, so the next
 * request overlaps the previous one's round trip to qemu-nbd (a sequential
 * dd sends one request at a time).  NBD does not order requests in flight,
 * so a write waits for in-flight writes it overlaps, and reads, discards and
 * flushes wait for every write in flight. */
#include <errno.h>
#include <libnbd.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "common/util.h"
#include "storage/volio.h"

#define CHUNK (32u << 20) /* NBD servers take requests up to 32 MiB */
#define BEHIND_MAX (16u << 20) /* write-behind bytes in flight */

enum { OP_READ, OP_WRITE, OP_TRIM, OP_FLUSH, OP_STATUS };

typedef struct req {
    struct req *next; /* queue, then in-flight writes */
    int op;
    void *buf;
    size_t n;
    uint64_t off;
    bool behind; /* write-behind: owns buf, nobody waits */
    bool done;
    int error;
    /* OP_STATUS: the first data (want_data) or hole at or after off */
    bool want_data, found;
    uint64_t at, covered;
} req;

struct vs_volio {
    struct nbd_handle *h;
    uint64_t size;
    pthread_t thr;
    int efd;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    req *queue, **qtail;
    req *writes; /* write-behind requests in flight */
    size_t behind_bytes;
    int werr; /* first failed write-behind (errno), reported once */
    bool stop, dead;
};

static int nbd_err(const char *what, vm_err *err)
{
    const char *m = nbd_get_error();
    return vm_err_set(err, VMERR_IO, "%s: %s", what, m ? m : "NBD error");
}

static bool in_range(const vs_volio *v, uint64_t n, uint64_t off)
{
    return off <= v->size && n <= v->size - off;
}

/* ---------------------------------------------------------- I/O thread */

/* With v->mu held: r is finished. */
static void finish(vs_volio *v, req *r, int error)
{
    if (!r->behind) {
        r->error = error;
        r->done = true;
    } else {
        for (req **pp = &v->writes; *pp; pp = &(*pp)->next)
            if (*pp == r) {
                *pp = r->next;
                break;
            }
        v->behind_bytes -= r->n;
        if (error && !v->werr)
            v->werr = error;
        free(r->buf);
        free(r);
    }
    pthread_cond_broadcast(&v->cv);
}

typedef struct cb_arg {
    vs_volio *v;
    req *r;
} cb_arg;

static int on_done(void *user_data, int *error)
{
    cb_arg *a = user_data;
    pthread_mutex_lock(&a->v->mu);
    finish(a->v, a->r, *error);
    pthread_mutex_unlock(&a->v->mu);
    return 1;
}

/* base:allocation extents from r->off: where the first data or hole is. */
static int on_extents(void *user_data, const char *metacontext, uint64_t offset, uint32_t *entries, size_t nr_entries,
                      int *error)
{
    req *r = user_data;
    (void)error;
    if (strcmp(metacontext, LIBNBD_CONTEXT_BASE_ALLOCATION) != 0 || r->found)
        return 0;
    for (size_t i = 0; i + 1 < nr_entries; i += 2) {
        bool hole = entries[i + 1] & LIBNBD_STATE_HOLE;
        if (hole != r->want_data) {
            r->found = true;
            r->at = offset > r->off ? offset : r->off;
            return 0;
        }
        offset += entries[i];
    }
    r->covered = offset > r->off ? offset - r->off : 0;
    return 0;
}

static void issue(vs_volio *v, req *r)
{
    cb_arg *a = xmalloc(sizeof *a);
    *a = (cb_arg){ v, r };
    nbd_completion_callback cb = { .callback = on_done, .user_data = a, .free = free };
    int64_t c = -1;
    if (!v->dead) {
        switch (r->op) {
        case OP_READ: c = nbd_aio_pread(v->h, r->buf, r->n, r->off, cb, 0); break;
        case OP_WRITE: c = nbd_aio_pwrite(v->h, r->buf, r->n, r->off, cb, 0); break;
        case OP_TRIM: c = nbd_aio_trim(v->h, r->n, r->off, cb, 0); break;
        case OP_STATUS:
            c = nbd_aio_block_status(v->h, r->n, r->off,
                                     (nbd_extent_callback){ .callback = on_extents, .user_data = r }, cb, 0);
            break;
        default: c = nbd_aio_flush(v->h, cb, 0);
        }
    } else {
        free(a);
    }
    if (c < 0) { /* not issued: libnbd freed `a` without calling back */
        pthread_mutex_lock(&v->mu);
        finish(v, r, EIO);
        pthread_mutex_unlock(&v->mu);
    }
}

static void *io_main(void *arg)
{
    vs_volio *v = arg;
    for (;;) {
        pthread_mutex_lock(&v->mu);
        while (v->queue) {
            req *r = v->queue;
            v->queue = r->next;
            if (!v->queue)
                v->qtail = &v->queue;
            if (r->behind) {
                r->next = v->writes;
                v->writes = r;
            }
            pthread_mutex_unlock(&v->mu);
            issue(v, r);
            pthread_mutex_lock(&v->mu);
        }
        bool stop = v->stop;
        pthread_mutex_unlock(&v->mu);
        if (stop && (v->dead || nbd_aio_in_flight(v->h) <= 0))
            return NULL;
        int fd = v->dead ? -1 : nbd_aio_get_fd(v->h);
        unsigned dir = fd < 0 ? 0 : nbd_aio_get_direction(v->h);
        if (fd < 0)
            v->dead = true; /* the connection is gone: every request fails */
        struct pollfd p[2] = { { fd,
                                 (short)((dir & LIBNBD_AIO_DIRECTION_READ ? POLLIN : 0) |
                                         (dir & LIBNBD_AIO_DIRECTION_WRITE ? POLLOUT : 0)),
                                 0 },
                               { v->efd, POLLIN, 0 } };
        if (poll(p, 2, -1) < 0 && errno != EINTR)
            v->dead = true;
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            if (nbd_aio_notify_read(v->h) < 0 && nbd_aio_is_dead(v->h))
                v->dead = true;
        } else if (p[0].revents & POLLOUT) {
            if (nbd_aio_notify_write(v->h) < 0 && nbd_aio_is_dead(v->h))
                v->dead = true;
        }
        uint64_t x;
        if ((p[1].revents & POLLIN) && read(v->efd, &x, sizeof x) < 0)
            continue;
    }
}

/* ------------------------------------------------------------- callers */

static void wake(vs_volio *v)
{
    uint64_t one = 1;
    if (write(v->efd, &one, sizeof one) < 0)
        return; /* the counter is only full if the thread is already awake */
}

static void enqueue_locked(vs_volio *v, req *r)
{
    r->next = NULL;
    *v->qtail = r;
    v->qtail = &r->next;
    wake(v);
}

/* With v->mu held: waits until no write-behind is queued or in flight. */
static void drain_locked(vs_volio *v)
{
    while (v->writes || v->behind_bytes)
        pthread_cond_wait(&v->cv, &v->mu);
}

/* With v->mu held: the error of an earlier write-behind, once. */
static int take_werr(vs_volio *v, vm_err *err)
{
    int e = v->werr;
    v->werr = 0;
    return e ? vm_err_sys(err, e, "an earlier write to the volume failed") : 0;
}

/* A request the caller waits for (after every write-behind before it). */
static int run_req(vs_volio *v, req *r, vm_err *err)
{
    static const char *const what[] = { "cannot read", "cannot write", "cannot discard on", "cannot flush",
                                        "cannot map" };
    pthread_mutex_lock(&v->mu);
    drain_locked(v);
    int rc = take_werr(v, err);
    if (rc == 0) {
        enqueue_locked(v, r);
        while (!r->done)
            pthread_cond_wait(&v->cv, &v->mu);
        if (r->error)
            rc = vm_err_sys(err, r->error, "%s the volume", what[r->op]);
    }
    pthread_mutex_unlock(&v->mu);
    return rc;
}

static int run_sync(vs_volio *v, int op, void *buf, size_t n, uint64_t off, vm_err *err)
{
    req r = { .op = op, .buf = buf, .n = n, .off = off };
    return run_req(v, &r, err);
}

static bool overlaps_locked(const vs_volio *v, size_t n, uint64_t off)
{
    for (const req *r = v->writes; r; r = r->next)
        if (off < r->off + r->n && r->off < off + n)
            return true;
    for (const req *r = v->queue; r; r = r->next)
        if (r->behind && off < r->off + r->n && r->off < off + n)
            return true;
    return false;
}

int vs_volio_open(vs_pool *pool, const char *name, vs_volio **out, vm_err *err)
{
    cleanup_free char *path = NULL;
    if (vs_vol_path(pool, name, &path, err) < 0)
        return -1;
    struct nbd_handle *h = nbd_create();
    if (!h)
        return vm_err_set(err, VMERR_INTERNAL, "libnbd: %s", nbd_get_error());
    /* Default cache (writeback, flushed on request); discards reach the
     * qcow2 layer so a trimmed range costs no space. */
    char *argv[] = { "qemu-nbd", "-f", "qcow2", "--discard=unmap", path, NULL };
    int64_t size;
    if (nbd_add_meta_context(h, LIBNBD_CONTEXT_BASE_ALLOCATION) < 0 ||
        nbd_connect_systemd_socket_activation(h, argv) < 0 || (size = nbd_get_size(h)) < 0) {
        nbd_err("cannot serve the volume through qemu-nbd", err);
        nbd_close(h);
        return -1;
    }
    vs_volio *v = xcalloc(1, sizeof *v);
    v->h = h;
    v->size = (uint64_t)size;
    v->qtail = &v->queue;
    pthread_mutex_init(&v->mu, NULL);
    pthread_cond_init(&v->cv, NULL);
    v->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (v->efd < 0 || pthread_create(&v->thr, NULL, io_main, v) != 0) {
        int e = errno;
        if (v->efd >= 0)
            close(v->efd);
        nbd_close(h);
        free(v);
        return vm_err_sys(err, e, "cannot start the volume's I/O thread");
    }
    *out = v;
    return 0;
}

uint64_t vs_volio_size(const vs_volio *v)
{
    return v->size;
}

int vs_volio_pread(vs_volio *v, void *buf, size_t n, uint64_t off, vm_err *err)
{
    if (!in_range(v, n, off))
        return vm_err_set(err, VMERR_INVALID, "read outside the volume");
    for (size_t done = 0, c; done < n; done += c) {
        c = n - done < CHUNK ? n - done : CHUNK;
        if (run_sync(v, OP_READ, (char *)buf + done, c, off + done, err) < 0)
            return -1;
    }
    return 0;
}

int vs_volio_pwrite(vs_volio *v, const void *buf, size_t n, uint64_t off, vm_err *err)
{
    if (!in_range(v, n, off))
        return vm_err_set(err, VMERR_INVALID, "write outside the volume");
    for (size_t done = 0, c; done < n; done += c) {
        c = n - done < CHUNK ? n - done : CHUNK;
        req *r = xcalloc(1, sizeof *r);
        *r = (req){ .op = OP_WRITE, .buf = xmalloc(c), .n = c, .off = off + done, .behind = true };
        memcpy(r->buf, (const char *)buf + done, c);
        pthread_mutex_lock(&v->mu);
        while ((v->behind_bytes && v->behind_bytes + c > BEHIND_MAX) || overlaps_locked(v, c, r->off))
            pthread_cond_wait(&v->cv, &v->mu);
        int rc = take_werr(v, err);
        if (rc == 0) {
            v->behind_bytes += c;
            enqueue_locked(v, r);
        }
        pthread_mutex_unlock(&v->mu);
        if (rc < 0) {
            free(r->buf);
            free(r);
            return -1;
        }
    }
    return 0;
}

int vs_volio_trim(vs_volio *v, uint64_t n, uint64_t off, vm_err *err)
{
    if (!in_range(v, n, off))
        return vm_err_set(err, VMERR_INVALID, "discard outside the volume");
    if (nbd_can_trim(v->h) <= 0)
        return 0;
    for (uint64_t done = 0, c; done < n; done += c) {
        c = n - done < CHUNK ? n - done : CHUNK;
        if (run_sync(v, OP_TRIM, NULL, (size_t)c, off + done, err) < 0)
            return -1;
    }
    return 0;
}

int vs_volio_seek(vs_volio *v, uint64_t off, bool data, uint64_t *out, vm_err *err)
{
    if (off >= v->size)
        return vm_err_set(err, VMERR_INVALID, "offset outside the volume");
    if (nbd_can_meta_context(v->h, LIBNBD_CONTEXT_BASE_ALLOCATION) <= 0) {
        *out = data ? off : v->size; /* all data, as a file without holes */
        return 0;
    }
    while (off < v->size) {
        uint64_t n = v->size - off < (1u << 30) ? v->size - off : (1u << 30);
        req r = { .op = OP_STATUS, .n = (size_t)n, .off = off, .want_data = data };
        if (run_req(v, &r, err) < 0)
            return -1;
        if (r.found) {
            *out = r.at;
            return 0;
        }
        if (!r.covered)
            break;
        off += r.covered;
    }
    if (data)
        return vm_err_set(err, VMERR_NOTFOUND, "no data after the offset");
    *out = v->size; /* the end is a hole */
    return 0;
}

int vs_volio_flush(vs_volio *v, vm_err *err)
{
    if (nbd_can_flush(v->h) <= 0) { /* still: every write has landed */
        pthread_mutex_lock(&v->mu);
        drain_locked(v);
        int rc = take_werr(v, err);
        pthread_mutex_unlock(&v->mu);
        return rc;
    }
    return run_sync(v, OP_FLUSH, NULL, 0, 0, err);
}

int vs_volio_close(vs_volio *v, vm_err *err)
{
    if (!v)
        return 0;
    int rc = vs_volio_flush(v, err);
    pthread_mutex_lock(&v->mu);
    v->stop = true;
    wake(v);
    pthread_mutex_unlock(&v->mu);
    pthread_join(v->thr, NULL);
    nbd_shutdown(v->h, 0);
    nbd_close(v->h); /* waits for qemu-nbd to exit */
    close(v->efd);
    pthread_cond_destroy(&v->cv);
    pthread_mutex_destroy(&v->mu);
    free(v);
    return rc;
}
