/* Direct writes into a fresh qcow2 layer (qcow2w.h).
 *
 * The format, as far as it is used here (QEMU's docs/interop/qcow2.txt):
 * a big-endian header; an L1 table of L2 table offsets; L2 tables of one
 * cluster, an entry per guest cluster (host offset | COPIED, or the ZERO
 * flag); a refcount table of refcount block offsets; refcount blocks of
 * one cluster holding a 16-bit count per host cluster.  COPIED says the
 * cluster's refcount is exactly 1, which holds for every cluster written
 * here.
 *
 * The main thread maps guest clusters to host clusters and copies the
 * bytes into aligned staging buffers; a writer thread writes each buffer
 * (a run of consecutive host clusters) with one pwrite.  Metadata lives in
 * memory until a sync writes it in its safe order. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "storage/qcow2w.h"

#define ALIGN 4096u
#define STAGE (4u << 20) /* bytes per staging buffer */
#define NSTAGE 8 /* buffers: one being filled, the rest queued or written */
#define NWRITERS 2 /* writes in flight: the disk queues more than one */
#define SYNC_EVERY (64u << 20) /* the writer makes data durable as it goes */
#define OFLAG_COPIED (1ULL << 63)
#define OFLAG_COMPRESSED (1ULL << 62)
#define OFLAG_ZERO 1ULL
#define OFFSET_MASK 0x00fffffffffffe00ULL

enum { ST_FREE, ST_FILLING, ST_QUEUED, ST_WRITING };

typedef struct stage {
    uint8_t *buf;
    uint64_t host; /* file offset of buf[0] */
    size_t len;
    int state;
    uint64_t seq; /* queued in this order, written oldest first */
} stage;

struct vs_qcow2w {
    int fd;
    unsigned cbits;
    uint64_t cs, volsize;
    uint64_t l1_off;
    uint32_t l1_n;
    uint64_t *l1; /* host order */
    bool l1_dirty;
    uint64_t **l2; /* per L1 index: the table in memory (host order) or NULL */
    bool *l2_dirty;
    uint64_t rt_off;
    uint32_t rt_n; /* refcount table entries */
    uint64_t *rt; /* host order */
    bool rt_dirty;
    uint16_t **rb; /* per refcount table index: the block (big-endian) or NULL */
    bool *rb_dirty;
    uint64_t next; /* the next free host cluster (the end of the file) */
    /* the writer thread */
    pthread_t thr[NWRITERS];
    int nthr; /* started */
    bool syncer_up;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    stage st[NSTAGE];
    int fill; /* the stage being filled, -1: none */
    uint64_t seq;
    int pending; /* stages queued or being written */
    bool stop;
    int werr;
    /* Durable as it goes: a syncer thread flushes every SYNC_EVERY bytes
     * while the writer goes on, so the disk's flush (a device's write
     * cache, or a virtual disk over its host's page cache) overlaps the
     * stream instead of all coming at the sync. */
    pthread_t syncer;
    uint64_t unsynced; /* bytes written since the last flush was asked */
    bool want_sync;
};

static uint64_t rd64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return be64toh(v);
}

static uint32_t rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return be32toh(v);
}

static void *aligned(size_t n)
{
    void *p = NULL;
    if (posix_memalign(&p, ALIGN, n) != 0)
        abort();
    memset(p, 0, n);
    return p;
}

static size_t round_up(size_t n, size_t a)
{
    return (n + a - 1) / a * a;
}

/* Reads n bytes at off; past the end of the file the buffer keeps its
 * zeros (qemu does not pad a table that ends the file). */
static int pread_all(int fd, void *buf, size_t n, uint64_t off)
{
    for (size_t done = 0; done < n;) {
        ssize_t r = pread(fd, (uint8_t *)buf + done, n - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return errno;
        if (r == 0)
            break;
        done += (size_t)r;
    }
    return 0;
}

static int pwrite_all(int fd, const void *buf, size_t n, uint64_t off)
{
    for (size_t done = 0; done < n;) {
        ssize_t r = pwrite(fd, (const uint8_t *)buf + done, n - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r == 0 ? EIO : errno;
        done += (size_t)r;
    }
    return 0;
}

static int sys_fail(int e, const char *what, vm_err *err)
{
    if (e == ENOSPC || e == EDQUOT)
        return vm_err_set(err, VMERR_NOSPACE, "%s: %s", what, strerror(e));
    return vm_err_sys(err, e, "%s", what);
}

/* ------------------------------------------------------------ the writer */

/* The oldest queued stage (-1: none). */
static int oldest_queued(const vs_qcow2w *q)
{
    int best = -1;
    for (int i = 0; i < NSTAGE; i++)
        if (q->st[i].state == ST_QUEUED && (best < 0 || q->st[i].seq < q->st[best].seq))
            best = i;
    return best;
}

static void *writer_main(void *arg)
{
    vs_qcow2w *q = arg;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        int i;
        while ((i = oldest_queued(q)) < 0 && !q->stop)
            pthread_cond_wait(&q->cv, &q->mu);
        if (i < 0)
            break;
        stage *s = &q->st[i];
        s->state = ST_WRITING;
        bool skip = q->werr != 0; /* after a failure nothing more is written */
        pthread_mutex_unlock(&q->mu);
        size_t n = round_up(s->len, ALIGN); /* clusters under 4 KiB: zero to the alignment */
        memset(s->buf + s->len, 0, n - s->len);
        int e = skip ? 0 : pwrite_all(q->fd, s->buf, n, s->host);
        pthread_mutex_lock(&q->mu);
        q->unsynced += s->len;
        if (q->unsynced >= SYNC_EVERY) {
            q->unsynced = 0;
            q->want_sync = true;
        }
        if (e && !q->werr)
            q->werr = e;
        s->state = ST_FREE;
        q->pending--;
        pthread_cond_broadcast(&q->cv);
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

static void *syncer_main(void *arg)
{
    vs_qcow2w *q = arg;
    pthread_mutex_lock(&q->mu);
    for (;;) {
        while (!q->want_sync && !q->stop)
            pthread_cond_wait(&q->cv, &q->mu);
        if (q->stop)
            break;
        q->want_sync = false;
        pthread_mutex_unlock(&q->mu);
        int e = fdatasync(q->fd) < 0 ? errno : 0;
        pthread_mutex_lock(&q->mu);
        if (e && !q->werr)
            q->werr = e;
    }
    pthread_mutex_unlock(&q->mu);
    return NULL;
}

/* Queues the stage being filled. */
static void submit(vs_qcow2w *q)
{
    if (q->fill < 0)
        return;
    pthread_mutex_lock(&q->mu);
    q->st[q->fill].state = ST_QUEUED;
    q->st[q->fill].seq = q->seq++;
    q->pending++;
    q->fill = -1;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
}

/* A free stage to fill (waits for a writer when none is). */
static stage *take_stage(vs_qcow2w *q, uint64_t host)
{
    pthread_mutex_lock(&q->mu);
    int i;
    for (;;) {
        for (i = 0; i < NSTAGE && q->st[i].state != ST_FREE; i++)
            ;
        if (i < NSTAGE)
            break;
        pthread_cond_wait(&q->cv, &q->mu);
    }
    q->st[i].state = ST_FILLING;
    pthread_mutex_unlock(&q->mu);
    /* Allocated when first needed, not cleared: a fresh page costs a
     * fault (~10 us in a VM whose host backs its memory lazily), so only
     * the stages the disk's pace needs are touched. */
    if (!q->st[i].buf && posix_memalign((void **)&q->st[i].buf, ALIGN, STAGE) != 0)
        abort();
    q->fill = i;
    q->st[i].host = host;
    q->st[i].len = 0;
    return &q->st[i];
}

/* Waits until every queued stage is written. */
static int drain(vs_qcow2w *q, vm_err *err)
{
    submit(q);
    pthread_mutex_lock(&q->mu);
    while (q->pending)
        pthread_cond_wait(&q->cv, &q->mu);
    int e = q->werr;
    pthread_mutex_unlock(&q->mu);
    return e ? sys_fail(e, "cannot write the volume", err) : 0;
}

/* ------------------------------------------------------ host allocation */

static int set_ref(vs_qcow2w *q, uint64_t c, vm_err *err);

/* A new host cluster at the end of the file, counted. */
static int alloc_cluster(vs_qcow2w *q, uint64_t *c, vm_err *err)
{
    *c = q->next++;
    return set_ref(q, *c, err);
}

static int set_ref(vs_qcow2w *q, uint64_t c, vm_err *err)
{
    unsigned shift = q->cbits - 1; /* 16-bit counts: cs / 2 per block */
    uint64_t bi = c >> shift;
    if (bi >= q->rt_n)
        return vm_err_set(err, VMERR_UNSUPPORTED, "the volume's refcount table is full");
    if (!q->rb[bi]) {
        q->rb[bi] = aligned(q->cs);
        if (q->rt[bi]) {
            int e = pread_all(q->fd, q->rb[bi], q->cs, q->rt[bi]);
            if (e)
                return sys_fail(e, "cannot read the volume's refcounts", err);
        } else {
            /* A new block, counted like any cluster (maybe by itself). */
            uint64_t b = q->next++;
            q->rt[bi] = b << q->cbits;
            q->rt_dirty = true;
            q->rb_dirty[bi] = true;
            if (set_ref(q, b, err) < 0)
                return -1;
        }
    }
    q->rb[bi][c & ((1ULL << shift) - 1)] = htobe16(1);
    q->rb_dirty[bi] = true;
    return 0;
}

/* The L2 entry of guest cluster g (its table loaded or made). */
static int l2_entry(vs_qcow2w *q, uint64_t g, uint64_t **out, vm_err *err)
{
    unsigned l2bits = q->cbits - 3;
    uint64_t li = g >> l2bits;
    if (li >= q->l1_n)
        return vm_err_set(err, VMERR_INVALID, "write beyond the volume's L1 table");
    if (!q->l2[li]) {
        q->l2[li] = aligned(q->cs);
        if (q->l1[li]) {
            int e = pread_all(q->fd, q->l2[li], q->cs, q->l1[li] & OFFSET_MASK);
            if (e)
                return sys_fail(e, "cannot read the volume's L2 table", err);
            for (uint64_t i = 0; i < q->cs / 8; i++)
                q->l2[li][i] = be64toh(q->l2[li][i]);
        } else {
            uint64_t c;
            if (alloc_cluster(q, &c, err) < 0)
                return -1;
            q->l1[li] = (c << q->cbits) | OFLAG_COPIED;
            q->l1_dirty = true;
            q->l2_dirty[li] = true;
        }
    }
    *out = &q->l2[li][g & ((1ULL << l2bits) - 1)];
    return 0;
}

/* ---------------------------------------------------------------- open */

/* 1: a file this writer takes (header fields into q), 0: not. */
static int check_header(vs_qcow2w *q, const uint8_t *h, uint64_t volsize, uint64_t fsize)
{
    if (memcmp(h, "QFI\xfb", 4) != 0 || rd32(h + 4) != 3)
        return 0;
    q->cbits = rd32(h + 20);
    if (q->cbits < 12 || q->cbits > 21 || rd64(h + 24) != volsize || rd32(h + 32) != 0 /* crypt */ ||
        rd32(h + 60) != 0 /* snapshots */ || rd64(h + 72) != 0 /* incompatible: dirty, corrupt, data file, ... */ ||
        rd64(h + 80) != 0 /* compatible: lazy refcounts */ || rd64(h + 88) != 0 /* autoclear: bitmaps */ ||
        rd32(h + 96) != 4 /* refcount_order: 16 bits */)
        return 0;
    q->cs = 1ULL << q->cbits;
    q->volsize = volsize;
    q->l1_n = rd32(h + 36);
    q->l1_off = rd64(h + 40);
    q->rt_off = rd64(h + 48);
    uint32_t rtc = rd32(h + 56);
    uint64_t per_l2 = q->cs / 8 * q->cs;
    if ((uint64_t)q->l1_n * per_l2 < volsize || q->l1_n > (1u << 24) || !rtc || rtc > 256 || q->l1_off % q->cs ||
        q->rt_off % q->cs || q->l1_off + (uint64_t)q->l1_n * 8 > fsize || q->rt_off >= fsize)
        return 0;
    q->rt_n = (uint32_t)(((uint64_t)rtc << q->cbits) / 8);
    return 1;
}

/* Ends the threads that were started (writers finish what is queued). */
static void stop_threads(vs_qcow2w *q)
{
    pthread_mutex_lock(&q->mu);
    q->stop = true;
    pthread_cond_broadcast(&q->cv);
    pthread_mutex_unlock(&q->mu);
    for (int i = 0; i < q->nthr; i++)
        pthread_join(q->thr[i], NULL);
    if (q->syncer_up)
        pthread_join(q->syncer, NULL);
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->cv);
}

static void free_q(vs_qcow2w *q)
{
    if (!q)
        return;
    for (uint32_t i = 0; q->l2 && i < q->l1_n; i++)
        free(q->l2[i]);
    for (uint32_t i = 0; q->rb && i < q->rt_n; i++)
        free(q->rb[i]);
    for (int i = 0; i < NSTAGE; i++)
        free(q->st[i].buf);
    free(q->l1);
    free(q->l2);
    free(q->l2_dirty);
    free(q->rt);
    free(q->rb);
    free(q->rb_dirty);
    if (q->fd >= 0)
        close(q->fd);
    free(q);
}

int vs_qcow2w_open(const char *path, uint64_t volsize, vs_qcow2w **out, vm_err *err)
{
    *out = NULL;
    vs_qcow2w *q = xcalloc(1, sizeof *q);
    q->fill = -1;
    /* O_DIRECT: the bytes skip the page cache (whose copying costs more
     * than the disk here); a filesystem without it gets buffered writes. */
    q->fd = open(path, O_RDWR | O_CLOEXEC | O_DIRECT);
    if (q->fd < 0 && errno == EINVAL)
        q->fd = open(path, O_RDWR | O_CLOEXEC);
    struct stat st;
    uint8_t *h = aligned(ALIGN);
    int e = q->fd < 0 ? errno : fstat(q->fd, &st) < 0 ? errno : pread_all(q->fd, h, ALIGN, 0);
    if (e) {
        free(h);
        free_q(q);
        return vm_err_sys(err, e, "cannot read %s", path);
    }
    int ok = check_header(q, h, volsize, (uint64_t)st.st_size);
    free(h);
    if (ok) {
        size_t l1b = round_up((size_t)q->l1_n * 8, ALIGN), rtb = (size_t)q->rt_n * 8;
        q->l1 = aligned(l1b);
        q->rt = aligned(rtb);
        if ((e = pread_all(q->fd, q->l1, l1b, q->l1_off)) != 0 || (e = pread_all(q->fd, q->rt, rtb, q->rt_off)) != 0) {
            free_q(q);
            return vm_err_sys(err, e, "cannot read %s", path);
        }
        for (uint32_t i = 0; i < q->l1_n; i++)
            if (q->l1[i])
                ok = 0; /* holds data already: qemu's job */
        for (uint32_t i = 0; i < q->rt_n; i++)
            q->rt[i] = be64toh(q->rt[i]) & ~0x1ffULL;
    }
    if (!ok) {
        free_q(q);
        return 0;
    }
    q->next = round_up((uint64_t)st.st_size, q->cs) >> q->cbits;
    q->l2 = xcalloc(q->l1_n, sizeof *q->l2);
    q->l2_dirty = xcalloc(q->l1_n, sizeof *q->l2_dirty);
    q->rb = xcalloc(q->rt_n, sizeof *q->rb);
    q->rb_dirty = xcalloc(q->rt_n, sizeof *q->rb_dirty);
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->cv, NULL);
    while (q->nthr < NWRITERS && (e = pthread_create(&q->thr[q->nthr], NULL, writer_main, q)) == 0)
        q->nthr++;
    if (!e && (e = pthread_create(&q->syncer, NULL, syncer_main, q)) == 0)
        q->syncer_up = true;
    if (e) {
        stop_threads(q);
        free_q(q);
        return vm_err_sys(err, e, "cannot start a writer thread");
    }
    *out = q;
    return 1;
}

/* --------------------------------------------------------------- write */

bool vs_qcow2w_fits(const vs_qcow2w *q, uint64_t off, size_t n)
{
    return n && off < q->volsize && n <= q->volsize - off && !(off & (q->cs - 1)) &&
        (!(n & (q->cs - 1)) || off + n == q->volsize);
}

static bool all_zero(const uint8_t *p, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w; /* memcpy: the bytes need not be aligned */
        memcpy(&w, p + i, 8);
        if (w)
            return false;
    }
    for (; i < n; i++)
        if (p[i])
            return false;
    return true;
}

/* Copies one guest cluster's bytes (len <= cs; the rest of the host
 * cluster is zero) to host cluster c, extending the stage being filled
 * when c follows it. */
static void stage_cluster(vs_qcow2w *q, uint64_t c, const uint8_t *p, size_t len)
{
    uint64_t host = c << q->cbits;
    stage *s = q->fill >= 0 ? &q->st[q->fill] : NULL;
    if (s && (s->host + s->len != host || s->len + q->cs > STAGE)) {
        submit(q);
        s = NULL;
    }
    if (!s)
        s = take_stage(q, host);
    memcpy(s->buf + s->len, p, len);
    if (len < q->cs)
        memset(s->buf + s->len + len, 0, q->cs - len);
    s->len += q->cs;
}

int vs_qcow2w_write(vs_qcow2w *q, uint64_t off, const void *buf, size_t n, vm_err *err)
{
    if (!vs_qcow2w_fits(q, off, n))
        return vm_err_set(err, VMERR_INVALID, "direct write of %zu bytes at %llu: not whole clusters", n,
                          (unsigned long long)off);
    pthread_mutex_lock(&q->mu);
    int e = q->werr;
    pthread_mutex_unlock(&q->mu);
    if (e)
        return sys_fail(e, "cannot write the volume", err);
    const uint8_t *p = buf;
    for (size_t done = 0; done < n; done += q->cs) {
        size_t len = n - done < q->cs ? n - done : q->cs;
        uint64_t *ent = NULL;
        if (l2_entry(q, (off + done) >> q->cbits, &ent, err) < 0)
            return -1;
        uint64_t host = *ent & OFFSET_MASK;
        if (!host && all_zero(p + done, len)) {
            *ent = OFLAG_ZERO;
        } else if (host) {
            /* written before (a stream may rewrite): in place, once the
             * earlier write of it is done (writers run side by side) */
            if (drain(q, err) < 0)
                return -1;
            stage *s = take_stage(q, host);
            memcpy(s->buf, p + done, len);
            memset(s->buf + len, 0, q->cs - len);
            s->len = q->cs;
            submit(q);
            continue;
        } else {
            uint64_t c;
            /* An L2 table made by l2_entry took a cluster: the data's
             * comes after it (a new run of the stage). */
            if (alloc_cluster(q, &c, err) < 0)
                return -1;
            *ent = (c << q->cbits) | OFLAG_COPIED;
            stage_cluster(q, c, p + done, len);
        }
        q->l2_dirty[((off + done) >> q->cbits) >> (q->cbits - 3)] = true;
    }
    return 0;
}

/* ---------------------------------------------------------------- sync */

static int write_sync(vs_qcow2w *q, bool wrote, vm_err *err)
{
    if (wrote && fdatasync(q->fd) < 0)
        return sys_fail(errno, "cannot sync the volume", err);
    return 0;
}

int vs_qcow2w_sync(vs_qcow2w *q, vm_err *err)
{
    if (drain(q, err) < 0)
        return -1;
    int e = 0;
    bool wrote = true; /* the data written by the writer thread */
    /* 1. refcount blocks: every cluster referenced below is counted. */
    for (uint32_t i = 0; i < q->rt_n && !e; i++)
        if (q->rb_dirty[i]) {
            e = pwrite_all(q->fd, q->rb[i], q->cs, q->rt[i]);
            q->rb_dirty[i] = false;
        }
    if (e || write_sync(q, wrote, err) < 0)
        return e ? sys_fail(e, "cannot write the volume's refcounts", err) : -1;
    /* 2. the refcount table, when a block was added */
    if (q->rt_dirty) {
        size_t n = (size_t)q->rt_n * 8;
        uint64_t *t = aligned(n);
        for (uint32_t i = 0; i < q->rt_n; i++)
            t[i] = htobe64(q->rt[i]);
        e = pwrite_all(q->fd, t, n, q->rt_off);
        free(t);
        if (e)
            return sys_fail(e, "cannot write the volume's refcount table", err);
        q->rt_dirty = false;
        if (write_sync(q, true, err) < 0)
            return -1;
    }
    /* 3. L2 tables: they point at data and counted clusters only. */
    wrote = false;
    uint64_t *t = aligned(q->cs);
    for (uint32_t i = 0; i < q->l1_n && !e; i++)
        if (q->l2_dirty[i]) {
            for (uint64_t k = 0; k < q->cs / 8; k++)
                t[k] = htobe64(q->l2[i][k]);
            e = pwrite_all(q->fd, t, q->cs, q->l1[i] & OFFSET_MASK);
            q->l2_dirty[i] = false;
            wrote = true;
        }
    free(t);
    if (e || write_sync(q, wrote, err) < 0)
        return e ? sys_fail(e, "cannot write the volume's L2 tables", err) : -1;
    /* 4. L1, when a table was added: the new tables become reachable. */
    if (q->l1_dirty) {
        size_t n = round_up((size_t)q->l1_n * 8, ALIGN);
        uint64_t *l1 = aligned(n);
        for (uint32_t i = 0; i < q->l1_n; i++)
            l1[i] = htobe64(q->l1[i]);
        /* Within the L1 table's clusters: qcow2 gives it whole ones. */
        e = pwrite_all(q->fd, l1, n, q->l1_off);
        free(l1);
        if (e)
            return sys_fail(e, "cannot write the volume's L1 table", err);
        q->l1_dirty = false;
        if (write_sync(q, true, err) < 0)
            return -1;
    }
    /* Clean tables need not stay in memory (a stream moves forward). */
    for (uint32_t i = 0; i < q->l1_n; i++) {
        free(q->l2[i]);
        q->l2[i] = NULL;
    }
    return 0;
}

int vs_qcow2w_close(vs_qcow2w *q, bool sync, vm_err *err)
{
    if (!q)
        return 0;
    int rc = 0;
    if (sync)
        rc = vs_qcow2w_sync(q, err);
    submit(q); /* the writer ends after what is queued (nothing, synced) */
    pthread_mutex_lock(&q->mu);
    if (!sync)
        q->werr = q->werr ? q->werr : ECANCELED; /* skip the rest */
    pthread_mutex_unlock(&q->mu);
    stop_threads(q);
    free_q(q);
    return rc;
}
