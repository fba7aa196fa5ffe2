/* The vmadm send stream: one self-describing, verifiable byte stream for
 * `vmstore send/receive`, `vmadm send/receive` and migration (issues 17,
 * 21).  This file is the codec only — framing, digests, limits and order —
 * with no knowledge of datasets: what an object means (a volume layer, a
 * container root tarball, a VM config) is the caller's, carried in its
 * descriptor.
 *
 * Format, version 2 (all integers big-endian):
 *   magic "VMADMSTR", u32 version (2)
 *   records:  u32 type | u32 flags (0) | u64 length | 32-byte SHA-256 of the
 *             payload | payload[length]
 *   HEADER      JSON object, first record, exactly once (the caller's: what
 *               the stream holds, where it came from)
 *   OBJECT      JSON object declaring the next object: {"id": n (0, 1, …
 *               in order), "size": bytes (the object's extent; DATA lies
 *               inside it), …caller's keys}
 *   DATA        u32 object id | u32 0 | u64 offset | bytes: part of an open
 *               object; ranges need not be contiguous (holes are not sent)
 *               but must ascend and not overlap
 *   OBJECT_END  {"id": n, "bytes": data bytes sent, "digest": SHA-256 hex
 *               over the SHA-256 digests of the object's DATA records,
 *               in order (each covers its offset and bytes: a hash
 *               tree, so every byte is hashed once per side — version 1
 *               hashed them twice)}
 *   END         JSON object, last record (the caller's trailer); the
 *               reader stops there (what follows is the caller's: a file
 *               ends, a migration channel carries on)
 *
 * Promises of the reader (a stream is untrusted input — fuzzed by
 * tests/fuzz/stream_fuzz.c): every record's payload digest is checked
 * before the record is returned; a JSON payload is at most
 * VS_STREAM_JSON_MAX bytes and must be an object, a DATA payload at most
 * VS_STREAM_DATA_MAX bytes of data; at most VS_STREAM_MAX_OBJECTS objects,
 * one open at a time; DATA only for the open object, inside its declared
 * size, ascending; OBJECT_END's count and digest must match what was read;
 * a stream that ends before END is "truncated".  Messages start with
 * "invalid stream: " and say what is wrong and at which record.  The reader
 * never seeks, never allocates more than one record's payload, and returns
 * data borrowed until the next call.
 *
 * The writer splits data into DATA records of at most VS_STREAM_DATA_MAX
 * bytes and computes every digest; write errors carry errno's text. */
#ifndef VM_STORAGE_STREAM_H
#define VM_STORAGE_STREAM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>

#include "common/err.h"

#define VS_STREAM_VERSION 2
#define VS_STREAM_JSON_MAX (1u << 20)
#define VS_STREAM_DATA_MAX (8u << 20)
#define VS_STREAM_MAX_OBJECTS 4096

enum vs_stream_type {
    VS_REC_HEADER = 1,
    VS_REC_OBJECT = 2,
    VS_REC_DATA = 3,
    VS_REC_OBJECT_END = 4,
    VS_REC_END = 5,
};

/* Where bytes go and come from: fds in the tools, memory in tests and the
 * fuzzer.  Return bytes moved (a short read only at end of input), or -1
 * with errno set. */
typedef ssize_t (*vs_stream_read_fn)(void *arg, void *buf, size_t len);
typedef ssize_t (*vs_stream_write_fn)(void *arg, const void *buf, size_t len);
ssize_t vs_stream_fd_read(void *fdp, void *buf, size_t len); /* arg: int * */
ssize_t vs_stream_fd_write(void *fdp, const void *buf, size_t len);

/* ---- writer ---- */
typedef struct vs_stream_writer vs_stream_writer;

/* Writes the magic and the HEADER record. */
int vs_stream_writer_open(vs_stream_write_fn fn, void *arg, json_t *header, vs_stream_writer **out, vm_err *err);
/* Declares object *id (the next number) with descriptor desc, which must
 * hold "size" (the writer adds "id"); the previous object must be ended. */
int vs_stream_object(vs_stream_writer *w, json_t *desc, uint32_t *id, vm_err *err);
/* Data of the open object at offset (ascending, inside its size). */
int vs_stream_data(vs_stream_writer *w, uint64_t offset, const void *buf, size_t len, vm_err *err);
/* The same without a copy, when the writer's sink is a write-behind
 * queue (fdq.h: vs_fdq_write): vs_stream_data_buf returns where to put
 * len bytes of data (NULL: not offered here — use vs_stream_data), and
 * vs_stream_data_commit(buf) makes them the next DATA record.  Nothing
 * else is written in between.  A reader on a read-ahead queue
 * (vs_fdq_read) likewise hands out DATA in place in its ring. */
uint8_t *vs_stream_data_buf(vs_stream_writer *w, size_t len);
int vs_stream_data_commit(vs_stream_writer *w, uint64_t offset, uint8_t *buf, size_t len, vm_err *err);
int vs_stream_object_end(vs_stream_writer *w, vm_err *err);
/* Writes END with trailer (NULL: {}); the writer is then done. */
int vs_stream_writer_finish(vs_stream_writer *w, json_t *trailer, vm_err *err);
/* Bytes written so far. */
uint64_t vs_stream_writer_bytes(const vs_stream_writer *w);
void vs_stream_writer_free(vs_stream_writer *w);

/* ---- reader ---- */
typedef struct vs_stream_reader vs_stream_reader;

typedef struct vs_stream_rec {
    enum vs_stream_type type;
    json_t *json; /* HEADER, OBJECT, OBJECT_END, END (borrowed) */
    uint32_t object; /* DATA, OBJECT, OBJECT_END */
    uint64_t offset; /* DATA */
    const uint8_t *data; /* DATA (borrowed) */
    size_t len; /* DATA */
} vs_stream_rec;

/* Reads the magic and the HEADER record (*header borrowed). */
int vs_stream_reader_open(vs_stream_read_fn fn, void *arg, vs_stream_reader **out, json_t **header, vm_err *err);
/* From the next record on, bytes come from fn(arg) (the reader never
 * reads beyond a record: e.g. a read-ahead on the same fd, started once
 * the caller is ready for it). */
void vs_stream_reader_set_source(vs_stream_reader *r, vs_stream_read_fn fn, void *arg);
/* The next record: 1 (rec filled), 0 after END (rec holds END's JSON), or
 * -1 with the reason.  Everything rec points to lives until the next call. */
int vs_stream_next(vs_stream_reader *r, vs_stream_rec *rec, vm_err *err);
/* Bytes read so far. */
uint64_t vs_stream_reader_bytes(const vs_stream_reader *r);
void vs_stream_reader_free(vs_stream_reader *r);

#endif
