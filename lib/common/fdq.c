/* Write-behind / read-ahead threads for a pipe (fdq.h): a ring buffer
 * between the caller and a thread that does the fd's I/O.  The ring is
 * mapped twice, back to back (one memfd), so any RING bytes from any
 * point are contiguous: no wrap to handle, and a caller can be handed a
 * pointer into it (vs_fdq_peek, vs_fdq_reserve) instead of a copy. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include "common/fdq.h"
#include "common/util.h"

#define RING (8u << 20)
#define IO_MAX (1u << 20) /* bytes per read(2)/write(2): a pipe's size */

struct vs_fdq {
    int fd, efd;
    bool writer;
    uint8_t *ring;
    size_t head, used; /* data: [head, head + used) modulo RING */
    bool eof, stop; /* reader: end of input; both: told to stop */
    int error; /* errno of the thread's failed I/O */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pthread_t thr;
};

static void *writer_main(void *arg)
{
    vs_fdq *q = arg;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (!q->used && !q->stop)
            pthread_cond_wait(&q->cv, &q->mu);
        if (!q->used || q->error)
            break;
        size_t n = q->used < IO_MAX ? q->used : IO_MAX;
        const uint8_t *p = q->ring + q->head;
        pthread_mutex_unlock(&q->mu);
        ssize_t k = write(q->fd, p, n);
        int e = k < 0 ? errno : 0;
        pthread_mutex_lock(&q->mu);
        if (k < 0 && e != EINTR) {
            q->error = e;
            pthread_cond_broadcast(&q->cv);
            break;
        }
        if (k > 0) {
            q->head = (q->head + (size_t)k) % RING;
            q->used -= (size_t)k;
            pthread_cond_broadcast(&q->cv);
        }
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

static void *reader_main(void *arg)
{
    vs_fdq *q = arg;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (q->used == RING && !q->stop)
            pthread_cond_wait(&q->cv, &q->mu);
        if (q->stop)
            break;
        size_t tail = (q->head + q->used) % RING;
        size_t n = RING - q->used < IO_MAX ? RING - q->used : IO_MAX;
        pthread_mutex_unlock(&q->mu);
        /* Waits for input or for close's wakeup, never in read(2). */
        struct pollfd pf[2] = { { .fd = q->fd, .events = POLLIN }, { .fd = q->efd, .events = POLLIN } };
        ssize_t k = -1;
        int e = 0;
        if (poll(pf, 2, -1) < 0)
            e = errno;
        else if (pf[1].revents)
            e = ECANCELED;
        else if ((k = read(q->fd, q->ring + tail, n)) < 0)
            e = errno;
        pthread_mutex_lock(&q->mu);
        if (e == EINTR || e == EAGAIN)
            continue;
        if (e || k == 0) {
            if (e && e != ECANCELED)
                q->error = e;
            q->eof = true;
            pthread_cond_broadcast(&q->cv);
            break;
        }
        q->used += (size_t)k;
        pthread_cond_broadcast(&q->cv);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

/* Frees q once its thread is gone (or never started). */
static void destroy(vs_fdq *q)
{
    if (q->efd >= 0)
        close(q->efd);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
    if (q->ring)
        munmap(q->ring, 2 * (size_t)RING);
    free(q);
}

/* RING bytes of memory seen twice in a row, or NULL. */
static uint8_t *ring_map(void)
{
    int fd = memfd_create("vmadm-fdq", MFD_CLOEXEC);
    if (fd < 0)
        return NULL;
    uint8_t *base = NULL;
    if (ftruncate(fd, RING) == 0) {
        base = mmap(NULL, 2 * (size_t)RING, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (base == MAP_FAILED) {
            base = NULL;
        } else if (mmap(base, RING, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED ||
                   mmap(base + RING, RING, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED) {
            munmap(base, 2 * (size_t)RING);
            base = NULL;
        }
    }
    close(fd);
    return base;
}

static vs_fdq *start(int fd, bool writer)
{
    /* and a pipe's own buffer as large as an unprivileged one can be */
    (void)fcntl(fd, F_SETPIPE_SZ, IO_MAX);
    vs_fdq *q = xcalloc(1, sizeof *q);
    q->fd = fd;
    q->writer = writer;
    q->efd = writer ? -1 : eventfd(0, EFD_CLOEXEC);
    q->ring = ring_map();
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    if (!q->ring || (!writer && q->efd < 0) ||
        pthread_create(&q->thr, NULL, writer ? writer_main : reader_main, q) != 0) {
        destroy(q);
        return NULL;
    }
    return q;
}

vs_fdq *vs_fdq_writer(int fd)
{
    return start(fd, true);
}

vs_fdq *vs_fdq_reader(int fd)
{
    return start(fd, false);
}

ssize_t vs_fdq_write(void *arg, const void *buf, size_t len)
{
    vs_fdq *q = arg;
    const uint8_t *p = buf;
    size_t done = 0;
    pthread_mutex_lock(&q->mu);
    while (done < len) {
        while (q->used == RING && !q->error)
            pthread_cond_wait(&q->cv, &q->mu);
        if (q->error) {
            errno = q->error;
            pthread_mutex_unlock(&q->mu);
            return -1;
        }
        size_t tail = (q->head + q->used) % RING;
        size_t n = RING - q->used < len - done ? RING - q->used : len - done;
        /* The thread only reads [head, head + used): this part is ours. */
        pthread_mutex_unlock(&q->mu);
        memcpy(q->ring + tail, p + done, n);
        pthread_mutex_lock(&q->mu);
        q->used += n;
        done += n;
        pthread_cond_broadcast(&q->cv);
    }
    pthread_mutex_unlock(&q->mu);
    return (ssize_t)len;
}

ssize_t vs_fdq_read(void *arg, void *buf, size_t len)
{
    vs_fdq *q = arg;
    uint8_t *p = buf;
    size_t done = 0;
    pthread_mutex_lock(&q->mu);
    while (done < len) {
        while (!q->used && !q->eof)
            pthread_cond_wait(&q->cv, &q->mu);
        if (!q->used) {
            int e = q->error;
            pthread_mutex_unlock(&q->mu);
            if (e && !done) {
                errno = e;
                return -1;
            }
            return (ssize_t)done;
        }
        size_t n = q->used < len - done ? q->used : len - done;
        size_t at = q->head;
        /* The thread only writes past head + used: this part is ours. */
        pthread_mutex_unlock(&q->mu);
        memcpy(p + done, q->ring + at, n);
        pthread_mutex_lock(&q->mu);
        q->head = (q->head + n) % RING;
        q->used -= n;
        done += n;
        pthread_cond_broadcast(&q->cv);
    }
    pthread_mutex_unlock(&q->mu);
    return (ssize_t)done;
}

size_t vs_fdq_span(void)
{
    return RING;
}

ssize_t vs_fdq_peek(vs_fdq *q, size_t len, const uint8_t **p)
{
    if (len > RING) {
        errno = EMSGSIZE;
        return -1;
    }
    pthread_mutex_lock(&q->mu);
    while (q->used < len && !q->eof)
        pthread_cond_wait(&q->cv, &q->mu);
    size_t n = q->used < len ? q->used : len;
    int e = q->error;
    *p = q->ring + q->head;
    pthread_mutex_unlock(&q->mu);
    if (n < len && e && !n) {
        errno = e;
        return -1;
    }
    return (ssize_t)n;
}

void vs_fdq_consume(vs_fdq *q, size_t len)
{
    pthread_mutex_lock(&q->mu);
    len = len < q->used ? len : q->used;
    q->head = (q->head + len) % RING;
    q->used -= len;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

uint8_t *vs_fdq_reserve(vs_fdq *q, size_t len)
{
    if (len > RING) {
        errno = EMSGSIZE;
        return NULL;
    }
    pthread_mutex_lock(&q->mu);
    while (RING - q->used < len && !q->error)
        pthread_cond_wait(&q->cv, &q->mu);
    int e = q->error;
    uint8_t *p = q->ring + (q->head + q->used) % RING;
    pthread_mutex_unlock(&q->mu);
    if (e) {
        errno = e;
        return NULL;
    }
    return p;
}

void vs_fdq_commit(vs_fdq *q, size_t len)
{
    pthread_mutex_lock(&q->mu);
    q->used += len;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

int vs_fdq_close(vs_fdq *q)
{
    if (!q)
        return 0;
    pthread_mutex_lock(&q->mu);
    q->stop = true;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    if (!q->writer) {
        uint64_t one = 1;
        (void)!write(q->efd, &one, sizeof one);
    }
    pthread_join(q->thr, NULL);
    int e = q->writer ? q->error : 0;
    destroy(q);
    if (e) {
        errno = e;
        return -1;
    }
    return 0;
}
