/* The send stream codec (see stream.h). */
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <openssl/evp.h>

#include "common/fdq.h"
#include "common/util.h"
#include "storage/stream.h"

static const char magic[8] = { 'V', 'M', 'A', 'D', 'M', 'S', 'T', 'R' };

#define REC_HEAD 48 /* type, flags, length, digest */
#define DATA_HEAD 16 /* object, reserved, offset */

static void put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (24 - 8 * i));
}

static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (56 - 8 * i));
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t get64(const uint8_t *p)
{
    return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static void sha256(const void *a, size_t alen, const void *b, size_t blen, uint8_t out[32])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    EVP_DigestUpdate(c, a, alen);
    if (blen)
        EVP_DigestUpdate(c, b, blen);
    EVP_DigestFinal_ex(c, out, NULL);
    EVP_MD_CTX_free(c);
}

static void hex32(const uint8_t d[32], char out[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* A pipe's 64 KiB buffer makes both sides switch every 64 KiB; a larger
 * one (the unprivileged limit, pipe-max-size, is 1 MiB by default) lets
 * each run longer.  Best effort: not a pipe, or refused, stays as is.
 * The writer's side only: a reader waiting for its lock keeps the
 * pipe's backpressure on its sender (lib/common/fdq.h's reader widens it
 * once it starts). */
static void widen_pipe(vs_stream_write_fn wf, void *arg)
{
    struct stat st;
    int fd = wf == vs_stream_fd_write ? *(int *)arg : -1;
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode))
        (void)fcntl(fd, F_SETPIPE_SZ, 1 << 20);
}

ssize_t vs_stream_fd_read(void *fdp, void *buf, size_t len)
{
    int fd = *(int *)fdp;
    size_t done = 0;
    while (done < len) {
        ssize_t n = read(fd, (char *)buf + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        if (n == 0)
            break;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

ssize_t vs_stream_fd_write(void *fdp, const void *buf, size_t len)
{
    int fd = *(int *)fdp;
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(fd, (const char *)buf + done, len - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        done += (size_t)n;
    }
    return (ssize_t)done;
}

/* ---------------------------------------------------------------- writer */

struct vs_stream_writer {
    vs_stream_write_fn fn;
    void *arg;
    uint64_t bytes;
    uint32_t next_id;
    bool open; /* an object is open */
    bool done;
    uint64_t size, end, sent; /* the open object's size, data end, bytes sent */
    EVP_MD_CTX *digest; /* over the open object's DATA records' digests */
    uint8_t head[REC_HEAD]; /* the last record's head (its digest at +16) */
};

static int emit(vs_stream_writer *w, const void *buf, size_t len, vm_err *err)
{
    if (w->fn(w->arg, buf, len) != (ssize_t)len)
        return vm_err_sys(err, errno ? errno : EIO, "cannot write the stream");
    w->bytes += len;
    return 0;
}

/* One record: head (type, flags, length, digest over a+b) then a and b. */
static int emit_record(vs_stream_writer *w, uint32_t type, const void *a, size_t alen, const void *b, size_t blen,
                       vm_err *err)
{
    uint8_t *head = w->head;
    put32(head, type);
    put32(head + 4, 0);
    put64(head + 8, (uint64_t)alen + blen);
    sha256(a, alen, b, blen, head + 16);
    if (emit(w, head, REC_HEAD, err) < 0 || emit(w, a, alen, err) < 0)
        return -1;
    return blen ? emit(w, b, blen, err) : 0;
}

static int emit_json(vs_stream_writer *w, uint32_t type, json_t *j, vm_err *err)
{
    cleanup_free char *s = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    if (!s || strlen(s) > VS_STREAM_JSON_MAX)
        return vm_err_set(err, VMERR_INVALID, "stream record is not JSON or larger than %u bytes", VS_STREAM_JSON_MAX);
    return emit_record(w, type, s, strlen(s), NULL, 0, err);
}

int vs_stream_writer_open(vs_stream_write_fn fn, void *arg, json_t *header, vs_stream_writer **out, vm_err *err)
{
    vs_stream_writer *w = xcalloc(1, sizeof *w);
    widen_pipe(fn, arg);
    w->fn = fn;
    w->arg = arg;
    w->digest = EVP_MD_CTX_new();
    uint8_t m[12];
    memcpy(m, magic, 8);
    put32(m + 8, VS_STREAM_VERSION);
    if (!json_is_object(header)) {
        vs_stream_writer_free(w);
        return vm_err_set(err, VMERR_INVALID, "stream header must be a JSON object");
    }
    if (emit(w, m, sizeof m, err) < 0 || emit_json(w, VS_REC_HEADER, header, err) < 0) {
        vs_stream_writer_free(w);
        return -1;
    }
    *out = w;
    return 0;
}

int vs_stream_object(vs_stream_writer *w, json_t *desc, uint32_t *id, vm_err *err)
{
    json_t *size = json_object_get(desc, "size");
    if (w->open || w->done || w->next_id >= VS_STREAM_MAX_OBJECTS || !json_is_integer(size) ||
        json_integer_value(size) < 0)
        return vm_err_set(err, VMERR_INTERNAL, "stream object out of order or without a size");
    cleanup_json json_t *d = json_deep_copy(desc);
    json_object_set_new(d, "id", json_integer(w->next_id));
    if (emit_json(w, VS_REC_OBJECT, d, err) < 0)
        return -1;
    *id = w->next_id++;
    w->open = true;
    w->size = (uint64_t)json_integer_value(size);
    w->end = w->sent = 0;
    EVP_DigestInit_ex(w->digest, EVP_sha256(), NULL);
    return 0;
}

int vs_stream_data(vs_stream_writer *w, uint64_t offset, const void *buf, size_t len, vm_err *err)
{
    if (!w->open || offset < w->end || offset > w->size || len > w->size - offset)
        return vm_err_set(err, VMERR_INTERNAL, "stream data outside its object or out of order");
    const uint8_t *p = buf;
    while (len) {
        size_t n = len < VS_STREAM_DATA_MAX ? len : VS_STREAM_DATA_MAX;
        uint8_t h[DATA_HEAD];
        put32(h, w->next_id - 1);
        put32(h + 4, 0);
        put64(h + 8, offset);
        if (emit_record(w, VS_REC_DATA, h, sizeof h, p, n, err) < 0)
            return -1;
        /* The object's digest is over its records' digests (which cover
         * offset and bytes): every byte is hashed once per side. */
        EVP_DigestUpdate(w->digest, w->head + 16, 32);
        w->sent += n;
        offset += n;
        p += n;
        len -= n;
    }
    w->end = offset;
    return 0;
}

/* The record is built in the write-behind queue's ring (fdq.h) when the
 * sink is one: the caller reads its bytes straight there. */
uint8_t *vs_stream_data_buf(vs_stream_writer *w, size_t len)
{
    size_t rec = REC_HEAD + DATA_HEAD + len;
    if (w->fn != vs_fdq_write || !len || len > VS_STREAM_DATA_MAX || rec > vs_fdq_span())
        return NULL;
    uint8_t *p = vs_fdq_reserve(w->arg, rec);
    return p ? p + REC_HEAD + DATA_HEAD : NULL;
}

int vs_stream_data_commit(vs_stream_writer *w, uint64_t offset, uint8_t *buf, size_t len, vm_err *err)
{
    if (!w->open || offset < w->end || offset > w->size || len > w->size - offset)
        return vm_err_set(err, VMERR_INTERNAL, "stream data outside its object or out of order");
    uint8_t *h = buf - DATA_HEAD, *head = h - REC_HEAD;
    put32(h, w->next_id - 1);
    put32(h + 4, 0);
    put64(h + 8, offset);
    put32(head, VS_REC_DATA);
    put32(head + 4, 0);
    put64(head + 8, (uint64_t)DATA_HEAD + len);
    sha256(h, DATA_HEAD + len, NULL, 0, head + 16);
    memcpy(w->head, head, REC_HEAD);
    vs_fdq_commit(w->arg, REC_HEAD + DATA_HEAD + len);
    w->bytes += REC_HEAD + DATA_HEAD + len;
    EVP_DigestUpdate(w->digest, w->head + 16, 32);
    w->sent += len;
    w->end = offset + len;
    return 0;
}

int vs_stream_object_end(vs_stream_writer *w, vm_err *err)
{
    if (!w->open)
        return vm_err_set(err, VMERR_INTERNAL, "no stream object to end");
    uint8_t d[32];
    char hex[65];
    EVP_DigestFinal_ex(w->digest, d, NULL);
    hex32(d, hex);
    cleanup_json json_t *j =
        json_pack("{s:i, s:I, s:s}", "id", (json_int_t)(w->next_id - 1), "bytes", (json_int_t)w->sent, "digest", hex);
    w->open = false;
    return emit_json(w, VS_REC_OBJECT_END, j, err);
}

int vs_stream_writer_finish(vs_stream_writer *w, json_t *trailer, vm_err *err)
{
    if (w->open || w->done)
        return vm_err_set(err, VMERR_INTERNAL, "stream finished with an object open");
    cleanup_json json_t *t = trailer ? json_incref(trailer) : json_object();
    if (!json_is_object(t))
        return vm_err_set(err, VMERR_INVALID, "stream trailer must be a JSON object");
    w->done = true;
    return emit_json(w, VS_REC_END, t, err);
}

uint64_t vs_stream_writer_bytes(const vs_stream_writer *w)
{
    return w->bytes;
}

void vs_stream_writer_free(vs_stream_writer *w)
{
    if (!w)
        return;
    EVP_MD_CTX_free(w->digest);
    free(w);
}

/* ---------------------------------------------------------------- reader */

struct vs_stream_reader {
    vs_stream_read_fn fn;
    void *arg;
    uint64_t bytes, records;
    uint8_t *buf; /* the current record's payload, when copied */
    const uint8_t *payload; /* the current record's payload: buf, or in
                             * the read-ahead queue's ring (fdq.h) */
    size_t held; /* bytes of the ring held for payload */
    size_t cap; /* buf's size: kept across records (a fresh buffer per
                 * record costs its page faults, more than the copy) */
    json_t *json; /* the current record's JSON */
    uint32_t objects; /* declared so far */
    bool open, done;
    uint64_t size, end, got;
    EVP_MD_CTX *digest;
    uint8_t rec_digest[32]; /* the last record's, checked */
};

#define BAD(...) stream_bad(r, err, __VA_ARGS__)

__attribute__((format(printf, 3, 4))) static int stream_bad(vs_stream_reader *r, vm_err *err, const char *fmt, ...)
{
    char m[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(m, sizeof m, fmt, ap);
    va_end(ap);
    return vm_err_set(err, VMERR_INVALID, "invalid stream: %s (record %llu, byte %llu)", m,
                      (unsigned long long)r->records, (unsigned long long)r->bytes);
}

static int take(vs_stream_reader *r, void *buf, size_t len, bool at_boundary, vm_err *err)
{
    errno = 0;
    ssize_t n = r->fn(r->arg, buf, len);
    if (n < 0)
        return vm_err_sys(err, errno ? errno : EIO, "cannot read the stream");
    r->bytes += (uint64_t)n;
    if ((size_t)n != len)
        return at_boundary && n == 0 ? BAD("truncated: it ends before its END record") : BAD("truncated");
    return 0;
}

/* Reads one record's head and payload (digest checked): r->payload. */
static int read_record(vs_stream_reader *r, uint32_t *type, size_t *len, vm_err *err)
{
    uint8_t head[REC_HEAD];
    if (r->held) {
        vs_fdq_consume(r->arg, r->held);
        r->held = 0;
    }
    if (take(r, head, sizeof head, true, err) < 0)
        return -1;
    r->records++;
    *type = get32(head);
    uint64_t n = get64(head + 8);
    if (get32(head + 4) != 0)
        return BAD("unknown record flags %#x", get32(head + 4));
    bool data = *type == VS_REC_DATA;
    if (*type < VS_REC_HEADER || *type > VS_REC_END)
        return BAD("unknown record type %u", *type);
    if (data ? (n < DATA_HEAD || n > DATA_HEAD + (uint64_t)VS_STREAM_DATA_MAX) : n > VS_STREAM_JSON_MAX)
        return BAD("record of %llu bytes is out of bounds", (unsigned long long)n);
    if (data && r->fn == vs_fdq_read && n <= vs_fdq_span()) {
        /* in place: the bytes stay in the ring until the next record */
        errno = 0;
        ssize_t k = vs_fdq_peek(r->arg, (size_t)n, &r->payload);
        if (k < 0)
            return vm_err_sys(err, errno ? errno : EIO, "cannot read the stream");
        r->bytes += (uint64_t)k;
        if ((uint64_t)k != n)
            return BAD("truncated");
        r->held = (size_t)n;
    } else {
        if ((size_t)n + 1 > r->cap) {
            free(r->buf);
            r->cap = (size_t)n + 1;
            r->buf = xmalloc(r->cap);
        }
        if (take(r, r->buf, (size_t)n, false, err) < 0)
            return -1;
        r->buf[n] = '\0';
        r->payload = r->buf;
    }
    uint8_t *d = r->rec_digest;
    sha256(r->payload, (size_t)n, NULL, 0, d);
    if (memcmp(d, head + 16, 32) != 0)
        return BAD("record digest mismatch");
    *len = (size_t)n;
    return 0;
}

static int parse_json(vs_stream_reader *r, size_t len, vm_err *err)
{
    json_decref(r->json);
    json_error_t je;
    r->json = json_loadb((const char *)r->buf, len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(r->json))
        return BAD("record is not a JSON object");
    return 0;
}

int vs_stream_reader_open(vs_stream_read_fn fn, void *arg, vs_stream_reader **out, json_t **header, vm_err *err)
{
    vs_stream_reader *r = xcalloc(1, sizeof *r);
    r->fn = fn;
    r->arg = arg;
    r->digest = EVP_MD_CTX_new();
    uint8_t m[12];
    uint32_t type;
    size_t len;
    int rc = take(r, m, sizeof m, false, err);
    if (rc == 0 && memcmp(m, magic, 8) != 0)
        rc = BAD("not a vmadm stream");
    else if (rc == 0 && get32(m + 8) != VS_STREAM_VERSION)
        rc = BAD("version %u is not supported (this vmadm reads version %d)", get32(m + 8), VS_STREAM_VERSION);
    if (rc == 0)
        rc = read_record(r, &type, &len, err);
    if (rc == 0 && type != VS_REC_HEADER)
        rc = BAD("the first record is not the header");
    if (rc == 0)
        rc = parse_json(r, len, err);
    if (rc < 0) {
        vs_stream_reader_free(r);
        return -1;
    }
    *header = r->json;
    *out = r;
    return 0;
}

static int on_object(vs_stream_reader *r, vs_stream_rec *rec, vm_err *err)
{
    json_t *id = json_object_get(r->json, "id"), *size = json_object_get(r->json, "size");
    if (r->open)
        return BAD("object %u declared before object %u ended", r->objects, r->objects - 1);
    if (r->objects >= VS_STREAM_MAX_OBJECTS)
        return BAD("more than %d objects", VS_STREAM_MAX_OBJECTS);
    if (!json_is_integer(id) || json_integer_value(id) != (json_int_t)r->objects)
        return BAD("object id is not %u", r->objects);
    if (!json_is_integer(size) || json_integer_value(size) < 0)
        return BAD("object %u has no valid size", r->objects);
    rec->object = r->objects++;
    r->open = true;
    r->size = (uint64_t)json_integer_value(size);
    r->end = r->got = 0;
    EVP_DigestInit_ex(r->digest, EVP_sha256(), NULL);
    return 0;
}

static int on_data(vs_stream_reader *r, vs_stream_rec *rec, size_t len, vm_err *err)
{
    const uint8_t *b = r->payload;
    uint32_t obj = get32(b);
    uint64_t off = get64(b + 8);
    size_t n = len - DATA_HEAD;
    if (!r->open || obj != r->objects - 1)
        return BAD("data for object %u, which is not open", obj);
    if (get32(b + 4) != 0)
        return BAD("data record with a non-zero reserved field");
    if (off < r->end || off > r->size || n > r->size - off)
        return BAD("data at %llu+%zu is outside object %u (size %llu) or out of order", (unsigned long long)off, n, obj,
                   (unsigned long long)r->size);
    EVP_DigestUpdate(r->digest, r->rec_digest, 32);
    r->end = off + n;
    r->got += n;
    rec->object = obj;
    rec->offset = off;
    rec->data = b + DATA_HEAD;
    rec->len = n;
    return 0;
}

static int on_object_end(vs_stream_reader *r, vs_stream_rec *rec, vm_err *err)
{
    json_t *id = json_object_get(r->json, "id"), *bytes = json_object_get(r->json, "bytes");
    const char *dg = json_string_value(json_object_get(r->json, "digest"));
    if (!r->open || !json_is_integer(id) || json_integer_value(id) != (json_int_t)(r->objects - 1))
        return BAD("end of an object that is not open");
    uint8_t d[32];
    char hex[65];
    EVP_DigestFinal_ex(r->digest, d, NULL);
    hex32(d, hex);
    if (!json_is_integer(bytes) || (uint64_t)json_integer_value(bytes) != r->got)
        return BAD("object %u: %llu data bytes read, its end says otherwise", r->objects - 1,
                   (unsigned long long)r->got);
    if (!dg || strcmp(dg, hex) != 0)
        return BAD("object %u: data digest mismatch", r->objects - 1);
    r->open = false;
    rec->object = r->objects - 1;
    return 0;
}

int vs_stream_next(vs_stream_reader *r, vs_stream_rec *rec, vm_err *err)
{
    memset(rec, 0, sizeof *rec);
    if (r->done)
        return BAD("read past the end");
    uint32_t type;
    size_t len;
    if (read_record(r, &type, &len, err) < 0)
        return -1;
    rec->type = (enum vs_stream_type)type;
    if (type == VS_REC_DATA)
        return on_data(r, rec, len, err) < 0 ? -1 : 1;
    if (parse_json(r, len, err) < 0)
        return -1;
    rec->json = r->json;
    switch (type) {
    case VS_REC_HEADER: return BAD("a second header");
    case VS_REC_OBJECT: return on_object(r, rec, err) < 0 ? -1 : 1;
    case VS_REC_OBJECT_END: return on_object_end(r, rec, err) < 0 ? -1 : 1;
    default: break;
    }
    if (r->open)
        return BAD("end of stream inside object %u", r->objects - 1);
    r->done = true;
    return 0;
}

uint64_t vs_stream_reader_bytes(const vs_stream_reader *r)
{
    return r->bytes;
}

void vs_stream_reader_set_source(vs_stream_reader *r, vs_stream_read_fn fn, void *arg)
{
    if (r->held) /* the last record's bytes, given back before a switch */
        vs_fdq_consume(r->arg, r->held);
    r->held = 0;
    r->fn = fn;
    r->arg = arg;
}

void vs_stream_reader_free(vs_stream_reader *r)
{
    if (!r)
        return;
    free(r->buf);
    json_decref(r->json);
    EVP_MD_CTX_free(r->digest);
    free(r);
}
