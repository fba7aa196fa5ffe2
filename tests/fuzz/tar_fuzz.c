/* libFuzzer harness: arbitrary bytes as an image file through lib/image's
 * install path for tarballs: compression sniffing and our decompressors
 * (bounded, as the install bounds a bomb), libarchive's tar reader, the
 * safety checker (img_tarcheck_entry) and the extractor (img_extract_*)
 * into a fresh temp dir, removed after each run.  Entries the checker
 * refuses are still handed to the extractor (path only made relative):
 * it must refuse them or keep them inside the root.  Traps when anything
 * appears next to the root (an escape); must never crash, leak or trip
 * UBSan. */
#include <dirent.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "image/compress.h"
#include "image/image.h"
#include "image/internal.h"

#define MAX_OUT (1u << 20)

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(p);
    return 0;
}

/* Decompresses data (any supported compression) into *out, at most MAX_OUT. */
static size_t decompress(const uint8_t *data, size_t size, uint8_t **out)
{
    int comp = img_comp_detect(data, size);
    img_decomp *d;
    vm_err err = VM_ERR_INIT;
    *out = NULL;
    if (img_decomp_new(comp, &d, &err) < 0)
        return 0;
    uint8_t *buf = xmalloc(MAX_OUT);
    size_t used = 0;
    const uint8_t *in = data;
    size_t inlen = size;
    for (;;) {
        long n = img_decomp_step(d, &in, &inlen, buf + used, MAX_OUT - used, &err);
        if (n < 0)
            break;
        used += (size_t)n;
        if (used == MAX_OUT || (n == 0 && inlen == 0))
            break;
    }
    img_decomp_finish(d, &err);
    img_decomp_free(d);
    *out = buf;
    return used;
}

static void extract_all(const uint8_t *tar, size_t len, const char *root)
{
    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    if (archive_read_open_memory(a, tar, len) != ARCHIVE_OK) {
        archive_read_free(a);
        return;
    }
    img_tarcheck c;
    img_tarcheck_init(&c, 0);
    img_extract *x = NULL;
    vm_err err = VM_ERR_INIT;
    if (img_extract_open(root, &x, &err) < 0)
        __builtin_trap();
    struct archive_entry *e;
    while (archive_read_next_header(a, &e) >= ARCHIVE_WARN) {
        char *rel = NULL, *rlink = NULL;
        vm_err cerr = VM_ERR_INIT;
        if (img_tarcheck_entry(&c, e, &rel, &rlink, &cerr) < 0) {
            /* unchecked: strip leading slashes and trailing ones */
            const char *p = archive_entry_pathname(e);
            if (!p)
                continue;
            while (*p == '/')
                p++;
            rel = xstrdup(p);
            size_t l = strlen(rel);
            while (l && rel[l - 1] == '/')
                rel[--l] = 0;
            const char *hl = archive_entry_hardlink(e);
            rlink = hl ? xstrdup(hl) : NULL;
        }
        vm_err xerr = VM_ERR_INIT;
        int r = img_extract_entry(x, a, e, rel, rlink, &xerr);
        free(rel);
        free(rlink);
        if (r == IMG_EXTRACT_READ_ERROR)
            break;
    }
    vm_err ferr = VM_ERR_INIT;
    img_extract_finish(x, &ferr);
    img_extract_free(x);
    img_tarcheck_free(&c);
    archive_read_free(a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *tar;
    size_t len = decompress(data, size, &tar);
    char base[] = "/tmp/tar_fuzz.XXXXXX";
    if (!mkdtemp(base))
        __builtin_trap();
    char root[64];
    snprintf(root, sizeof root, "%s/root", base);
    if (mkdir(root, 0755) < 0)
        __builtin_trap();
    extract_all(tar, len, root);
    /* the root's parent holds the root and nothing else */
    DIR *d = opendir(base);
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && strcmp(de->d_name, "root"))
            __builtin_trap();
    if (d)
        closedir(d);
    nftw(base, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(tar);
    return 0;
}
