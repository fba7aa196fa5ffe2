/* SHA-1 (FIPS 180-4), used to verify image files against their manifest.
 * Own implementation so lib/image needs no crypto library; uses the x86 SHA
 * extensions when the CPU has them (image files are gigabytes). */
#ifndef VM_IMG_SHA1_H
#define VM_IMG_SHA1_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef struct img_sha1 {
    uint32_t h[5];
    uint64_t len; /* bytes hashed so far */
    uint8_t buf[64];
    size_t nbuf;
    int hw; /* use the SHA extensions; set by init, tests may clear it */
} img_sha1;

void img_sha1_init(img_sha1 *s);
void img_sha1_update(img_sha1 *s, const void *data, size_t len);
/* Hashes n zero bytes without the caller having to provide them (file holes). */
void img_sha1_update_zeros(img_sha1 *s, uint64_t n);
void img_sha1_final(img_sha1 *s, uint8_t out[20]);
void img_sha1_hex(const uint8_t digest[20], char out[41]);

/* Hashes a whole file; holes (SEEK_HOLE) are hashed as zeros without being
 * read.  progress (nullable) is called with bytes done so far. */
int img_sha1_file(const char *path, char hex[41], uint64_t *size, void (*progress)(void *arg, uint64_t done), void *arg,
                  vm_err *err);

#endif
