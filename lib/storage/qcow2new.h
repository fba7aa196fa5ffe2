/* New empty qcow2 layers, without running qemu-img: every volume create,
 * snapshot and clone of this storage makes one, and `qemu-img create`
 * costs a process start (20–40 ms) each time.
 *
 * What it writes is what `qemu-img create -f qcow2 -o lazy_refcounts=off
 * [-u -b <backing> -F qcow2] <path> <size>` of QEMU 7.2 writes, byte for
 * byte (tests/unit/storage/test_qcow2new.c compares the two files): a
 * version 3 header of 112 bytes with 64 KiB clusters and 16-bit
 * refcounts, the backing format and feature name table extensions, the
 * backing file's name, then one cluster each of refcount table and
 * refcount block, then the L1 table (all zero) — all of it allocated on
 * disk (no holes), as qemu-img writes it.
 *
 * Promises:
 * - vs_qcow2_new returns 1 once the file exists with that content and is
 *   durable (fdatasync'd), 0 when it does not take the case (a size that
 *   is not a multiple of 512, a backing name over 1023 bytes, a volume
 *   whose metadata needs more than one refcount block: over ~2 TiB) — the
 *   caller then runs qemu-img — and -1 with the reason on an I/O error
 *   (no file left behind).
 * - The file is created with O_EXCL: an existing path is an error. */
#ifndef VM_STORAGE_QCOW2NEW_H
#define VM_STORAGE_QCOW2NEW_H

#include <stdint.h>

#include "common/err.h"

/* backing: the backing file's name as written into the header (relative
 * names resolve next to the new file), or NULL. */
int vs_qcow2_new(const char *path, uint64_t size, const char *backing, vm_err *err);

#endif
