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
#include <sys/types.h>

typedef struct vs_fdq vs_fdq;

/* NULL when the thread cannot start (the caller uses the fd itself). */
vs_fdq *vs_fdq_writer(int fd);
vs_fdq *vs_fdq_reader(int fd);
/* The stream codec's read/write callbacks (arg: the vs_fdq). */
ssize_t vs_fdq_write(void *q, const void *buf, size_t len);
ssize_t vs_fdq_read(void *q, void *buf, size_t len);
int vs_fdq_close(vs_fdq *q);

#endif
