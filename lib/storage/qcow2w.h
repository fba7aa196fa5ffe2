/* Direct writes into a fresh qcow2 layer, without qemu: the fast path of a
 * volume receive (send.c).  A receive's bytes would otherwise cross a
 * socket into qemu-nbd and the page cache; here they go from the stream's
 * buffer to the disk (O_DIRECT where the filesystem has it, from a writer
 * thread, so the next records are read and verified meanwhile).
 *
 * What it writes into: a qcow2 version 3 file this storage created
 * (driver_dir.c: qemu-img create, 16-bit refcounts, no lazy refcounts)
 * that holds no data yet — every L1 entry 0, no internal snapshot, no
 * encryption, no bitmap, no external data file.  Any other file is left
 * to qemu (vs_qcow2w_open answers 0 and touches nothing).  Guest clusters
 * get host clusters appended at the end of the file, in the order they
 * are written; an all-zero guest cluster gets the qcow2 zero flag and no
 * host cluster.
 *
 * Promises:
 * - After vs_qcow2w_sync (and close) returns 0, every byte written before
 *   it is durable and the file is a consistent image: `qemu-img check`
 *   finds neither errors nor leaks, and qemu reads the written bytes (and
 *   the backing file's, or zeros, elsewhere).
 * - Metadata reaches the disk in an order that keeps the image consistent
 *   at every instant (refcount blocks, then the refcount table, then L2
 *   tables, then L1, each step made durable before the next): a writer
 *   killed or a machine cut between two syncs leaves the image as of the
 *   last sync, at worst with leaked clusters (never a reference to an
 *   unaccounted cluster).
 * - Writes must start on a cluster boundary and cover whole clusters, or
 *   end at the volume's end (vs_qcow2w_fits); anything else is refused
 *   (VMERR_INVALID) without a change: the caller hands such a volume to
 *   qemu after a sync.  Guest ranges are bounded by the virtual size.
 * - A failed write (ENOSPC, EIO) is reported by a later call, sync at the
 *   latest, with the errno's text (ENOSPC as VMERR_NOSPACE). */
#ifndef VM_STORAGE_QCOW2W_H
#define VM_STORAGE_QCOW2W_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef struct vs_qcow2w vs_qcow2w;

/* Opens `path` (virtual size `volsize`) for direct writes: 1 with *out,
 * 0 when the file is not one this writer takes (nothing touched), -1 on
 * an error reading it. */
int vs_qcow2w_open(const char *path, uint64_t volsize, vs_qcow2w **out, vm_err *err);
/* Whether a write of n bytes at guest offset off can be taken. */
bool vs_qcow2w_fits(const vs_qcow2w *q, uint64_t off, size_t n);
/* Queues guest bytes [off, off + n) (copied: buf may be reused at once). */
int vs_qcow2w_write(vs_qcow2w *q, uint64_t off, const void *buf, size_t n, vm_err *err);
/* Everything written so far made durable, the image consistent. */
int vs_qcow2w_sync(vs_qcow2w *q, vm_err *err);
/* Syncs, then frees q (NULL: no-op).  Without `sync` (after a failure):
 * only stops the writer and frees; the file keeps its last sync. */
int vs_qcow2w_close(vs_qcow2w *q, bool sync, vm_err *err);

#endif
