/* A thread between a process and one of its pipes: what it writes is
 * queued and written by the thread (write-behind), what it reads was read
 * ahead by the thread.  For the streams of send and receive, where one
 * side hashes a record while the other hashes the one before: with only
 * the pipe's buffer between them each waits for the other half the time
 * (measured: both at ~50 % of a core), with a queue each keeps working.
 *
 * Promises:
 * - Bytes keep their order; vs_fdq_write returns once they are queued
 *   (copied), vs_fdq_read once it has `len` bytes or the end of input.
 * - A write error (EPIPE: the reader went away) is reported by the next
 *   vs_fdq_write and by vs_fdq_close, with errno set; a read error by
 *   vs_fdq_read once the bytes before it are taken.
 * - The reader reads ahead: use it only on an fd whose every byte is the
 *   stream's (a receive's standard input), never one that carries anything
 *   after it.
 * - vs_fdq_close of a writer returns once everything queued is written
 *   (0) or failed (-1, errno); of a reader, at once (the thread is woken
 *   from its poll and joined).  The fd stays open: its owner closes it. */
#ifndef VM_COMMON_FDQ_H
#define VM_COMMON_FDQ_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct vs_fdq vs_fdq;

/* NULL when the thread cannot start (the caller uses the fd itself). */
vs_fdq *vs_fdq_writer(int fd);
vs_fdq *vs_fdq_reader(int fd);
/* The stream codec's read/write callbacks (arg: the vs_fdq). */
ssize_t vs_fdq_write(void *q, const void *buf, size_t len);
ssize_t vs_fdq_read(void *q, void *buf, size_t len);
int vs_fdq_close(vs_fdq *q);

/* Without a copy: pointers into the ring, whose any vs_fdq_span() bytes
 * are contiguous.
 * - Reader: vs_fdq_peek waits until `len` bytes are there (or the end of
 *   input) and points *p at them; returns how many (fewer: the end), -1
 *   on a read error or len > span (EMSGSIZE).  They stay until
 *   vs_fdq_consume(len) gives them back; vs_fdq_read takes from the same
 *   place, so the two mix at record boundaries.
 * - Writer: vs_fdq_reserve waits for `len` free bytes and returns where
 *   to put them (NULL: a write error, errno set, or len > span);
 *   vs_fdq_commit(len) queues them.  Nothing else writes in between. */
size_t vs_fdq_span(void);
ssize_t vs_fdq_peek(vs_fdq *q, size_t len, const uint8_t **p);
void vs_fdq_consume(vs_fdq *q, size_t len);
uint8_t *vs_fdq_reserve(vs_fdq *q, size_t len);
void vs_fdq_commit(vs_fdq *q, size_t len);

#endif
