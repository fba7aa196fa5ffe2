/* Block I/O on a volume's guest-visible bytes, for a process that is not
 * QEMU (the raw disk views of vmadm-zvold).  The volume's active qcow2
 * layer is served by a qemu-nbd that libnbd starts for this handle only
 * (socket activation: no path, no port, no other client) and that exits
 * with it — also when this process is killed (qemu-nbd ends when its one
 * client goes away).
 *
 * The handle pins the layer file it opened: a snapshot, rollback, resize or
 * destroy of the volume while it is open would leave it writing into a
 * frozen or removed layer, so callers keep such operations out (lib/vm's
 * raw view claim does for VM disks) and hold a handle only while their
 * user holds the volume open.  Writes are write-behind: vs_volio_pwrite
 * returns once the bytes are copied and queued (at most 16 MiB in flight);
 * a failed write is reported by the next call, vs_volio_flush at the
 * latest.  Reads see every earlier write.  vs_volio_flush (and close)
 * returns once the writes and the qcow2 metadata are durable.  Calls may
 * come from several threads.  Offsets and lengths must lie inside the
 * volume (VMERR_INVALID). */
#ifndef VM_STORAGE_VOLIO_H
#define VM_STORAGE_VOLIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "storage/storage.h"

typedef struct vs_volio vs_volio;

/* Opens volume `name` (read-write).  VMERR_INVALID for a non-volume. */
int vs_volio_open(vs_pool *pool, const char *name, vs_volio **out, vm_err *err);
/* The volume's size in bytes (its volsize). */
uint64_t vs_volio_size(const vs_volio *v);
int vs_volio_pread(vs_volio *v, void *buf, size_t n, uint64_t off, vm_err *err);
int vs_volio_pwrite(vs_volio *v, const void *buf, size_t n, uint64_t off, vm_err *err);
/* Deallocates a range (reads back as zeros). */
int vs_volio_trim(vs_volio *v, uint64_t n, uint64_t off, vm_err *err);
/* SEEK_DATA (data) / SEEK_HOLE: *out gets the first offset >= off that
 * holds data (allocated in the layer chain) or lies in a hole (the end of
 * the volume counts as one).  No data after off: VMERR_NOTFOUND. */
int vs_volio_seek(vs_volio *v, uint64_t off, bool data, uint64_t *out, vm_err *err);
int vs_volio_flush(vs_volio *v, vm_err *err);
/* Flushes, then stops qemu-nbd and waits for it; frees v (NULL: no-op).
 * Returns < 0 when the flush failed (written data may be lost). */
int vs_volio_close(vs_volio *v, vm_err *err);

#endif
