/* A minimal ISO 9660 image writer: a handful of small files in the root
 * directory, nothing else (no subdirectories, no Rock Ridge, no Joliet, no
 * El Torito).  Enough for a cloud-init NoCloud seed ("cidata"), which
 * Linux's isofs, blkid, isoinfo and 7z read.
 *
 * Layout (2048-byte sectors): 0-15 system area (zero), 16 primary volume
 * descriptor, 17 set terminator, 18 L path table, 19 M path table, 20 the
 * root directory (one sector), then each file's data from a sector
 * boundary, in the order given.
 *
 * Names: a file named "meta-data" is recorded as "META-DATA.;1" (upper
 * case, an empty extension, version 1); Linux (map=normal, the default)
 * shows it as "meta-data".  A name must be 1-30 characters of [a-z0-9_-];
 * the volume id 1-32 characters of [A-Za-z0-9_-], written as given
 * (cloud-localds writes "cidata" in lower case, and blkid reports it so).
 *
 * Pure: the image is built in memory; `when` is every recorded date (a
 * fixed value gives byte-identical images).  Fails only on bad names, too
 * many files for one directory sector, or an image above ISO9660_MAX_SIZE
 * (message "ISO image would be <n> bytes (limit <m>)"). */
#ifndef VM_MDATA_ISO9660_H
#define VM_MDATA_ISO9660_H

#include <stddef.h>
#include <time.h>

#include "common/err.h"

#define ISO9660_SECTOR 2048
#define ISO9660_MAX_SIZE (64 * 1024 * 1024)

typedef struct iso9660_file {
    const char *name;
    const char *data;
    size_t len;
} iso9660_file;

/* *img: malloc'd image of *len bytes (a multiple of ISO9660_SECTOR). */
int iso9660_write(const char *volid, const iso9660_file *files, size_t n, time_t when, char **img, size_t *len,
                  vm_err *err);

#endif
