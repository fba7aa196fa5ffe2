/* The send stream codec (lib/storage/stream.h): round trips, the golden
 * bytes of version 2 (a format change must be deliberate), and hostile
 * streams — every truncation, every flipped byte, and records that are
 * well-formed but out of order or out of bounds — refused with a reason,
 * never a crash.  Through the pipe queues (fdq.h) DATA is built and read
 * in place: the bytes are the same as through a copy, and checked. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include "common/fdq.h"
#include "common/util.h"
#include "storage/stream.h"
#include "../common/golden.h"

static const char *golden_dir;

typedef struct mem {
    uint8_t *buf;
    size_t len, cap, pos;
} mem;

static ssize_t mem_write(void *arg, const void *buf, size_t len)
{
    mem *m = arg;
    if (m->len + len > m->cap) {
        m->cap = (m->len + len) * 2;
        m->buf = xrealloc(m->buf, m->cap);
    }
    memcpy(m->buf + m->len, buf, len);
    m->len += len;
    return (ssize_t)len;
}

static ssize_t mem_read(void *arg, void *buf, size_t len)
{
    mem *m = arg;
    size_t n = m->len - m->pos < len ? m->len - m->pos : len;
    memcpy(buf, m->buf + m->pos, n);
    m->pos += n;
    return (ssize_t)n;
}

/* header, object 0 (size 64 KiB, two data runs with a hole), object 1
 * (empty), trailer. */
static void small_stream(mem *m)
{
    vm_err err = VM_ERR_INIT;
    vs_stream_writer *w = NULL;
    json_t *h = json_pack("{s:s}", "kind", "test");
    assert_int_equal(vs_stream_writer_open(mem_write, m, h, &w, &err), 0);
    json_decref(h);
    uint32_t id;
    json_t *d = json_pack("{s:s, s:i}", "name", "disk0", "size", 65536);
    assert_int_equal(vs_stream_object(w, d, &id, &err), 0);
    json_decref(d);
    assert_int_equal(id, 0);
    assert_int_equal(vs_stream_data(w, 0, "hello", 5, &err), 0);
    assert_int_equal(vs_stream_data(w, 4096, "world", 5, &err), 0);
    assert_int_equal(vs_stream_object_end(w, &err), 0);
    d = json_pack("{s:s, s:i}", "name", "empty", "size", 0);
    assert_int_equal(vs_stream_object(w, d, &id, &err), 0);
    json_decref(d);
    assert_int_equal(id, 1);
    assert_int_equal(vs_stream_object_end(w, &err), 0);
    assert_int_equal(vs_stream_writer_finish(w, NULL, &err), 0);
    assert_int_equal(vs_stream_writer_bytes(w), m->len);
    vs_stream_writer_free(w);
}

/* Reads the whole stream; 0 when it ends with END, else -1 (err set). */
static int read_all(mem *m, char *log, size_t logcap, vm_err *err)
{
    vs_stream_reader *r = NULL;
    json_t *h;
    m->pos = 0;
    if (vs_stream_reader_open(mem_read, m, &r, &h, err) < 0)
        return -1;
    cleanup_free char *hs = json_dumps(h, JSON_COMPACT);
    size_t used = (size_t)snprintf(log, logcap, "H %s\n", hs);
    vs_stream_rec rec;
    int rc;
    while ((rc = vs_stream_next(r, &rec, err)) == 1) {
        cleanup_free char *js = rec.json ? json_dumps(rec.json, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        if (used < logcap)
            used += (size_t)snprintf(log + used, logcap - used, "%d o%u @%llu %.*s %s\n", rec.type, rec.object,
                                     (unsigned long long)rec.offset, (int)rec.len, rec.data ? (char *)rec.data : "",
                                     js ? js : "");
    }
    assert_int_equal(vs_stream_reader_bytes(r), m->pos);
    vs_stream_reader_free(r);
    return rc;
}

static void test_round_trip(void **state)
{
    (void)state;
    mem m = { 0 };
    small_stream(&m);
    vm_err err = VM_ERR_INIT;
    char log[2048];
    assert_int_equal(read_all(&m, log, sizeof log, &err), 0);
    assert_string_equal(log,
                        "H {\"kind\":\"test\"}\n"
                        "2 o0 @0  {\"id\":0,\"name\":\"disk0\",\"size\":65536}\n"
                        "3 o0 @0 hello \n"
                        "3 o0 @4096 world \n"
                        "4 o0 @0  {\"bytes\":10,\"digest\":"
                        "\"2c4c497e07da663276a2a0365ce250e8155258712a6509b488b9fdd87ab493cb\",\"id\":0}\n"
                        "2 o1 @0  {\"id\":1,\"name\":\"empty\",\"size\":0}\n"
                        "4 o1 @0  {\"bytes\":0,\"digest\":"
                        "\"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\",\"id\":1}\n");
    free(m.buf);
}

/* Version 1's exact bytes, as hex: readers of old streams rely on them. */
static void test_golden_bytes(void **state)
{
    (void)state;
    mem m = { 0 };
    small_stream(&m);
    char *hex = xmalloc(m.len * 2 + m.len / 32 + 2);
    size_t o = 0;
    for (size_t i = 0; i < m.len; i++) {
        o += (size_t)sprintf(hex + o, "%02x", m.buf[i]);
        if (i % 32 == 31 || i == m.len - 1)
            hex[o++] = '\n';
    }
    hex[o] = '\0';
    cleanup_free char *path = xasprintf("%s/stream-v2.hex", golden_dir);
    assert_int_equal(golden_check(path, hex), 0);
    free(hex);
    free(m.buf);
}

/* Big data is split into records of at most VS_STREAM_DATA_MAX bytes. */
static void test_big_data_is_split(void **state)
{
    (void)state;
    mem m = { 0 };
    vm_err err = VM_ERR_INIT;
    vs_stream_writer *w = NULL;
    json_t *h = json_object();
    assert_int_equal(vs_stream_writer_open(mem_write, &m, h, &w, &err), 0);
    json_decref(h);
    size_t n = VS_STREAM_DATA_MAX * 2 + 100;
    uint8_t *big = xmalloc(n);
    for (size_t i = 0; i < n; i++)
        big[i] = (uint8_t)(i * 7);
    uint32_t id;
    json_t *d = json_pack("{s:I}", "size", (json_int_t)n + 10);
    assert_int_equal(vs_stream_object(w, d, &id, &err), 0);
    json_decref(d);
    assert_int_equal(vs_stream_data(w, 10, big, n, &err), 0);
    assert_int_equal(vs_stream_data(w, 5, "x", 1, &err), -1); /* backwards */
    assert_int_equal(vs_stream_object_end(w, &err), 0);
    assert_int_equal(vs_stream_writer_finish(w, NULL, &err), 0);
    vs_stream_writer_free(w);

    vs_stream_reader *r = NULL;
    json_t *hh;
    assert_int_equal(vs_stream_reader_open(mem_read, &m, &r, &hh, &err), 0);
    vs_stream_rec rec;
    size_t got = 0, records = 0;
    int rc;
    while ((rc = vs_stream_next(r, &rec, &err)) == 1)
        if (rec.type == VS_REC_DATA) {
            assert_true(rec.len <= VS_STREAM_DATA_MAX);
            assert_int_equal(rec.offset, 10 + got);
            assert_memory_equal(rec.data, big + got, rec.len);
            got += rec.len;
            records++;
        }
    assert_int_equal(rc, 0);
    assert_int_equal(got, n);
    assert_int_equal(records, 3);
    vs_stream_reader_free(r);
    free(big);
    free(m.buf);
}

/* ------------------------------------------ in place, through queues */

#define Q_CHUNKS 4
static const size_t q_chunk[Q_CHUNKS] = { 4u << 20, 4u << 20, 1000, VS_STREAM_DATA_MAX };

static uint8_t q_byte(size_t i)
{
    return (uint8_t)(i * 2654435761u >> 13);
}

/* One object of the chunks above; in place where the writer offers it
 * (*inplace counts those). */
static void queued_stream(vs_stream_write_fn fn, void *arg, int *inplace)
{
    vm_err err = VM_ERR_INIT;
    vs_stream_writer *w = NULL;
    json_t *h = json_pack("{s:s}", "kind", "queued");
    assert_int_equal(vs_stream_writer_open(fn, arg, h, &w, &err), 0);
    json_decref(h);
    size_t total = 0;
    for (int i = 0; i < Q_CHUNKS; i++)
        total += q_chunk[i];
    uint32_t id;
    json_t *d = json_pack("{s:I}", "size", (json_int_t)total);
    assert_int_equal(vs_stream_object(w, d, &id, &err), 0);
    json_decref(d);
    uint8_t *tmp = xmalloc(VS_STREAM_DATA_MAX);
    size_t off = 0;
    for (int i = 0; i < Q_CHUNKS; i++) {
        size_t n = q_chunk[i];
        uint8_t *p = inplace ? vs_stream_data_buf(w, n) : NULL;
        uint8_t *b = p ? p : tmp;
        for (size_t k = 0; k < n; k++)
            b[k] = q_byte(off + k);
        if (p) {
            (*inplace)++;
            assert_int_equal(vs_stream_data_commit(w, off, p, n, &err), 0);
        } else {
            assert_int_equal(vs_stream_data(w, off, tmp, n, &err), 0);
        }
        off += n;
    }
    free(tmp);
    assert_int_equal(vs_stream_object_end(w, &err), 0);
    assert_int_equal(vs_stream_writer_finish(w, NULL, &err), 0);
    vs_stream_writer_free(w);
}

typedef struct feed {
    int fd;
    const mem *bytes; /* written as they are; NULL: a queued stream */
    int inplace;
} feed;

static void *feeder(void *arg)
{
    feed *f = arg;
    if (f->bytes) {
        /* a reader that refused the stream stops reading: EPIPE */
        (void)vs_stream_fd_write(&f->fd, f->bytes->buf, f->bytes->len);
    } else {
        vs_fdq *q = vs_fdq_writer(f->fd);
        assert_non_null(q);
        queued_stream(vs_fdq_write, q, &f->inplace);
        assert_int_equal(vs_fdq_close(q), 0);
    }
    close(f->fd);
    return NULL;
}

/* Reads a stream from a feeder through a read-ahead queue: 0, or -1 with
 * err; the data is checked against q_byte. */
static int read_queued(feed *f, vm_err *err)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    f->fd = p[1];
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, feeder, f), 0);
    vs_fdq *q = vs_fdq_reader(p[0]);
    assert_non_null(q);
    vs_stream_reader *r = NULL;
    json_t *h;
    int rc = vs_stream_reader_open(vs_fdq_read, q, &r, &h, err);
    vs_stream_rec rec;
    size_t got = 0;
    while (rc >= 0 && (rc = vs_stream_next(r, &rec, err)) == 1)
        if (rec.type == VS_REC_DATA) {
            assert_int_equal(rec.offset, got);
            for (size_t k = 0; k < rec.len; k++)
                if (rec.data[k] != q_byte(got + k))
                    fail_msg("byte %zu differs", got + k);
            got += rec.len;
        }
    vs_stream_reader_free(r);
    vs_fdq_close(q); /* a refused stream: the feeder is woken by EPIPE */
    close(p[0]);
    pthread_join(t, NULL);
    return rc;
}

static void test_in_place_through_queues(void **state)
{
    (void)state;
    mem plain = { 0 };
    queued_stream(mem_write, &plain, NULL);
    /* the same bytes with the records built in the writer's ring */
    int p[2];
    assert_int_equal(pipe(p), 0);
    feed f = { .fd = p[1] };
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, feeder, &f), 0);
    mem got = { 0 };
    uint8_t *buf = xmalloc(1 << 20);
    ssize_t n;
    while ((n = vs_stream_fd_read(&p[0], buf, 1 << 20)) > 0)
        mem_write(&got, buf, (size_t)n);
    pthread_join(t, NULL);
    close(p[0]);
    free(buf);
    assert_int_equal(f.inplace, 3); /* the 8 MiB record is larger than the ring: copied */
    assert_int_equal(got.len, plain.len);
    assert_memory_equal(got.buf, plain.buf, plain.len);
    free(got.buf);

    /* read in place (and the record larger than the ring, copied) */
    vm_err err = VM_ERR_INIT;
    feed g = { 0 };
    if (read_queued(&g, &err) != 0)
        fail_msg("%s", err.msg);
    feed h = { .bytes = &plain };
    if (read_queued(&h, &err) != 0)
        fail_msg("%s", err.msg);

    /* a flipped byte in a record read in place is refused */
    plain.buf[plain.len / 4] ^= 1;
    feed bad = { .bytes = &plain };
    assert_int_equal(read_queued(&bad, &err), -1);
    assert_non_null(strstr(err.msg, "record digest mismatch"));
    free(plain.buf);
}

/* Every prefix of a stream is refused as truncated. */
static void test_every_truncation_refused(void **state)
{
    (void)state;
    mem m = { 0 };
    small_stream(&m);
    size_t full = m.len;
    char log[2048];
    for (size_t cut = 0; cut < full; cut++) {
        vm_err err = VM_ERR_INIT;
        m.len = cut;
        assert_int_equal(read_all(&m, log, sizeof log, &err), -1);
        if (!strstr(err.msg, "truncated") && !strstr(err.msg, "not a vmadm stream"))
            fail_msg("cut at %zu: %s", cut, err.msg);
    }
    free(m.buf);
}

/* Every single flipped byte is caught (magic, lengths, digests, data). */
static void test_every_flipped_byte_refused(void **state)
{
    (void)state;
    mem m = { 0 };
    small_stream(&m);
    char log[2048];
    for (size_t i = 0; i < m.len; i++) {
        vm_err err = VM_ERR_INIT;
        m.buf[i] ^= 0x41;
        if (read_all(&m, log, sizeof log, &err) != -1)
            fail_msg("flipping byte %zu went unnoticed", i);
        assert_true(str_has_prefix(err.msg, "invalid stream: "));
        m.buf[i] ^= 0x41;
    }
    free(m.buf);
}

/* A raw record with a correct digest, for streams the writer would never
 * produce. */
static void raw(mem *m, uint32_t type, const void *p, size_t len)
{
    uint8_t h[48] = { 0 };
    for (int i = 0; i < 4; i++)
        h[i] = (uint8_t)(type >> (24 - 8 * i));
    for (int i = 0; i < 8; i++)
        h[8 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
    EVP_Digest(p, len, h + 16, NULL, EVP_sha256(), NULL);
    mem_write(m, h, sizeof h);
    mem_write(m, p, len);
}

static void raw_json(mem *m, uint32_t type, const char *s)
{
    raw(m, type, s, strlen(s));
}

static void raw_data(mem *m, uint32_t obj, uint64_t off, const char *s)
{
    uint8_t b[64] = { 0 };
    for (int i = 0; i < 4; i++)
        b[i] = (uint8_t)(obj >> (24 - 8 * i));
    for (int i = 0; i < 8; i++)
        b[8 + i] = (uint8_t)(off >> (56 - 8 * i));
    memcpy(b + 16, s, strlen(s));
    raw(m, VS_REC_DATA, b, 16 + strlen(s));
}

static void start(mem *m)
{
    memset(m, 0, sizeof *m);
    mem_write(m, "VMADMSTR\0\0\0\2", 12);
    raw_json(m, VS_REC_HEADER, "{}");
}

static void expect_refused(mem *m, const char *want)
{
    vm_err err = VM_ERR_INIT;
    char log[2048];
    assert_int_equal(read_all(m, log, sizeof log, &err), -1);
    if (!strstr(err.msg, want))
        fail_msg("got \"%s\", want \"%s\"", err.msg, want);
    free(m->buf);
}

static void test_hostile_records(void **state)
{
    (void)state;
    mem m;
    start(&m);
    raw_data(&m, 0, 0, "x");
    expect_refused(&m, "data for object 0, which is not open");

    start(&m);
    raw_json(&m, VS_REC_OBJECT, "{\"id\":0,\"size\":4}");
    raw_data(&m, 0, 2, "xyz");
    expect_refused(&m, "data at 2+3 is outside object 0 (size 4)");

    start(&m);
    raw_json(&m, VS_REC_OBJECT, "{\"id\":0,\"size\":-1}");
    expect_refused(&m, "object 0 has no valid size");

    start(&m); /* beyond int64: not JSON to jansson */
    raw_json(&m, VS_REC_OBJECT, "{\"id\":0,\"size\":18446744073709551615}");
    expect_refused(&m, "record is not a JSON object");

    start(&m);
    raw_json(&m, VS_REC_OBJECT, "{\"id\":0,\"size\":100}");
    raw_data(&m, 0, 50, "ab");
    raw_data(&m, 0, 10, "cd");
    expect_refused(&m, "out of order");

    start(&m);
    raw_json(&m, VS_REC_OBJECT, "{\"id\":3,\"size\":1}");
    expect_refused(&m, "object id is not 0");

    start(&m);
    raw_json(&m, VS_REC_OBJECT, "{\"id\":0,\"size\":10}");
    raw_json(&m, VS_REC_OBJECT, "{\"id\":1,\"size\":10}");
    expect_refused(&m, "object 1 declared before object 0 ended");

    start(&m);
    raw_json(&m, VS_REC_OBJECT, "{\"id\":0,\"size\":10}");
    raw_data(&m, 0, 0, "ab");
    raw_json(&m, VS_REC_OBJECT_END,
             "{\"id\":0,\"bytes\":2,\"digest\":\"0000000000000000000000000000000000000000000000000000000000000000\"}");
    expect_refused(&m, "object 0: data digest mismatch");

    start(&m);
    raw_json(&m, VS_REC_OBJECT, "{\"id\":0,\"size\":10}");
    raw_json(&m, VS_REC_END, "{}");
    expect_refused(&m, "end of stream inside object 0");

    start(&m);
    raw_json(&m, VS_REC_HEADER, "{}");
    expect_refused(&m, "a second header");

    start(&m);
    raw_json(&m, VS_REC_END, "[1]");
    expect_refused(&m, "record is not a JSON object");

    start(&m);
    raw_json(&m, 9, "{}");
    expect_refused(&m, "unknown record type 9");

    /* A length beyond the limits is refused before anything is allocated. */
    start(&m);
    uint8_t h[48] = { 0, 0, 0, VS_REC_OBJECT, 0, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };
    mem_write(&m, h, sizeof h);
    expect_refused(&m, "out of bounds");

    memset(&m, 0, sizeof m);
    mem_write(&m, "VMADMSTR\0\0\0\3", 12);
    expect_refused(&m, "version 3 is not supported");
}

int main(int argc, char **argv)
{
    golden_dir = argc > 1 ? argv[1] : "golden";
    signal(SIGPIPE, SIG_IGN); /* a refused stream's feeder sees EPIPE */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_golden_bytes),
        cmocka_unit_test(test_big_data_is_split),
        cmocka_unit_test(test_every_truncation_refused),
        cmocka_unit_test(test_every_flipped_byte_refused),
        cmocka_unit_test(test_hostile_records),
        cmocka_unit_test(test_in_place_through_queues),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
