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

/* Extraction into an image root (extract.c): no symlink is ever followed,
 * every write error fails.  rel/hardlink are img_tarcheck_entry's output. */
typedef struct img_extract img_extract;
#define IMG_EXTRACT_READ_ERROR (-2) /* the archive's data could not be read */
int img_extract_open(const char *root, img_extract **out, vm_err *err);
/* Creates one entry (reading its data from a); < 0 on failure,
 * IMG_EXTRACT_READ_ERROR when reading the archive failed. */
int img_extract_entry(img_extract *x, struct archive *a, struct archive_entry *e, const char *rel, const char *hardlink,
                      vm_err *err);
/* Directory modes and times, once every entry is in. */
int img_extract_finish(img_extract *x, vm_err *err);
void img_extract_free(img_extract *x);

#endif
