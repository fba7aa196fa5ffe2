/* Reads a frozen qcow2 layer chain's guest bytes straight from its files:
 * the fast path of a volume send (send.c), which would otherwise pull
 * every byte through qemu-nbd and a socket.
 *
 * `qemu-img map` (one run) says, per guest extent, which layer of the
 * chain holds it and where in that file, or that it reads as zeros; reads
 * are then pread(2)s of those files, opened before the map is taken (the
 * descriptors stay valid if a layer is unlinked meanwhile), and the chain
 * is walked again after it: a chain that changed in between (a live
 * snapshot delete streamed a layer away) is not read this way.
 *
 * Promises: only layers the storage froze are read (callers hold the
 * snapshot: its bytes cannot change); an extent qemu does not map to a
 * file offset (a compressed cluster, an encrypted image) makes open
 * answer 0, and the caller reads through qemu instead; nothing is
 * written. */
#ifndef VM_STORAGE_CHAINREAD_H
#define VM_STORAGE_CHAINREAD_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "common/err.h"

typedef struct vs_chainread vs_chainread;

/* 1 with *out, 0 when this chain cannot be read directly, -1 on error. */
int vs_chainread_open(const char *path, vs_chainread **out, vm_err *err);
/* The extents holding data (not known zero), as [{"offset", "length"}]
 * in ascending order: what a full send carries. */
json_t *vs_chainread_data(const vs_chainread *c);
/* Guest bytes [off, off + n): zeros where nothing is stored. */
int vs_chainread_pread(vs_chainread *c, void *buf, size_t n, uint64_t off, vm_err *err);
void vs_chainread_close(vs_chainread *c);

#endif
