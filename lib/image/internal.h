/* Pieces of lib/image shared between its .c files (not part of the API). */
#ifndef VM_IMG_INTERNAL_H
#define VM_IMG_INTERNAL_H

#include <archive.h>
#include <archive_entry.h>
#include <jansson.h>

#include "common/err.h"

/* Per-archive state of the tarball safety checker. */
typedef struct img_tarcheck {
    int flags; /* img_tar_flags */
    json_t *symlinks; /* set of normalized paths that are symlinks in the archive */
} img_tarcheck;

void img_tarcheck_init(img_tarcheck *c, int flags);
void img_tarcheck_free(img_tarcheck *c);
/* Checks one header.  On success *norm (caller frees) is the normalized
 * relative path ("" for the root itself) and *norm_link the normalized
 * hardlink target or NULL. */
int img_tarcheck_entry(img_tarcheck *c, struct archive_entry *e, char **norm, char **norm_link, vm_err *err);

#endif
