/* vmadm-zvold: the raw disk views (lib/vm/rawview.h) as a FUSE filesystem.
 * fs.c holds the FUSE operations and the table of open volumes; main.c
 * mounts, recovers a stale mount and unmounts.
 *
 * Promises: a volume is opened (qemu-nbd through lib/storage/volio.h) only
 * while some process holds its view open, one handle shared by all its
 * openers; a VM's disk is opened only under lib/vm's claim (VM stopped,
 * VM lock held).  The last release flushes, stops qemu-nbd and drops the
 * claim.  Views are fixed-size files: truncation to any size up to the
 * volume's is accepted and changes nothing, beyond it EFBIG; a write at or
 * past the end fails with ENOSPC (a write crossing it is short).  Refusals
 * are EBUSY, logged with the operator's message (vmadm.log and stderr). */
#ifndef ZVOLD_H
#define ZVOLD_H

#define FUSE_USE_VERSION 35
#include <fuse.h>

#include "common/ctx.h"

/* The operations; fuse_get_context()->private_data is the vm_ctx. */
extern const struct fuse_operations zvold_ops;
/* Closes every volume still open and frees the pool caches (after the
 * loop ends). */
void zvold_close_all(void);

#endif
