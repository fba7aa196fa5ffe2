/* Compression of image files: naming, detection by magic bytes and
 * streaming (de)compression through zlib, libbz2, liblzma and libzstd. */
#ifndef VM_IMG_COMPRESS_H
#define VM_IMG_COMPRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

enum img_comp {
    IMG_COMP_NONE = 0,
    IMG_COMP_GZIP,
    IMG_COMP_BZIP2,
    IMG_COMP_XZ,
    IMG_COMP_ZSTD,
};

/* "none", "gzip", "bzip2", "xz", "zstd" */
const char *img_comp_name(int comp);
/* -1 for an unknown name. */
int img_comp_parse(const char *name);
/* By magic bytes at the start of the file; IMG_COMP_NONE if none match. */
int img_comp_detect(const void *head, size_t len);
/* Reads the first bytes of a file and detects. */
int img_comp_detect_file(const char *path, int *comp, vm_err *err);

typedef struct img_decomp img_decomp;

int img_decomp_new(int comp, img_decomp **out, vm_err *err);
void img_decomp_free(img_decomp *d);
/* One step: consumes input from (*in, *inlen), writes at most outcap bytes
 * to out and returns how many (0 is possible while input lasts).  Handles
 * concatenated streams (pigz, pzstd).  Negative on corrupt data. */
long img_decomp_step(img_decomp *d, const uint8_t **in, size_t *inlen, uint8_t *out, size_t outcap, vm_err *err);
/* After the last input: fails if the compressed stream was cut short. */
int img_decomp_finish(img_decomp *d, vm_err *err);

/* Compresses src into dst (created/truncated) with `comp`. progress
 * (nullable) gets input bytes done. */
int img_compress_file(const char *src, const char *dst, int comp, void (*progress)(void *arg, uint64_t done), void *arg,
                      vm_err *err);

#endif
