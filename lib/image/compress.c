#include "image/compress.h"

#include <bzlib.h>
#include <errno.h>
#include <fcntl.h>
#include <lzma.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "common/util.h"

static const char *const names[] = {
    [IMG_COMP_NONE] = "none", [IMG_COMP_GZIP] = "gzip", [IMG_COMP_BZIP2] = "bzip2",
    [IMG_COMP_XZ] = "xz",     [IMG_COMP_ZSTD] = "zstd",
};

const char *img_comp_name(int comp)
{
    if (comp < 0 || comp > IMG_COMP_ZSTD)
        return "unknown";
    return names[comp];
}

int img_comp_parse(const char *name)
{
    for (int i = 0; name && i <= IMG_COMP_ZSTD; i++)
        if (strcmp(name, names[i]) == 0)
            return i;
    return -1;
}

int img_comp_detect(const void *head, size_t len)
{
    const uint8_t *p = head;
    if (len >= 2 && p[0] == 0x1f && p[1] == 0x8b)
        return IMG_COMP_GZIP;
    if (len >= 3 && memcmp(p, "BZh", 3) == 0 && (len < 4 || (p[3] >= '1' && p[3] <= '9')))
        return IMG_COMP_BZIP2;
    if (len >= 6 &&
        memcmp(p,
               "\xfd"
               "7zXZ\0",
               6) == 0)
        return IMG_COMP_XZ;
    if (len >= 4 && memcmp(p, "\x28\xb5\x2f\xfd", 4) == 0)
        return IMG_COMP_ZSTD;
    return IMG_COMP_NONE;
}

int img_comp_detect_file(const char *path, int *comp, vm_err *err)
{
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vm_err_sys(err, errno, "cannot open %s", path);
    uint8_t head[16];
    ssize_t n = pread(fd, head, sizeof(head), 0);
    if (n < 0)
        return vm_err_sys(err, errno, "cannot read %s", path);
    *comp = img_comp_detect(head, (size_t)n);
    return 0;
}

struct img_decomp {
    int comp;
    bool mid; /* inside a compressed stream (input seen, end not yet) */
    bool active; /* library state initialised */
    z_stream z;
    bz_stream bz;
    lzma_stream xz;
    ZSTD_DStream *zs;
};

static int start_stream(img_decomp *d, vm_err *err)
{
    switch (d->comp) {
    case IMG_COMP_GZIP:
        memset(&d->z, 0, sizeof(d->z));
        if (inflateInit2(&d->z, 15 + 16) != Z_OK)
            return vm_err_set(err, VMERR_INTERNAL, "zlib init failed");
        break;
    case IMG_COMP_BZIP2:
        memset(&d->bz, 0, sizeof(d->bz));
        if (BZ2_bzDecompressInit(&d->bz, 0, 0) != BZ_OK)
            return vm_err_set(err, VMERR_INTERNAL, "bzip2 init failed");
        break;
    case IMG_COMP_XZ: {
        lzma_stream init = LZMA_STREAM_INIT;
        d->xz = init;
        if (lzma_stream_decoder(&d->xz, UINT64_MAX, LZMA_CONCATENATED) != LZMA_OK)
            return vm_err_set(err, VMERR_INTERNAL, "xz init failed");
        break;
    }
    case IMG_COMP_ZSTD:
        d->zs = ZSTD_createDStream();
        if (!d->zs || ZSTD_isError(ZSTD_initDStream(d->zs)))
            return vm_err_set(err, VMERR_INTERNAL, "zstd init failed");
        break;
    default: break;
    }
    d->active = true;
    return 0;
}

static void end_stream(img_decomp *d)
{
    if (!d->active)
        return;
    switch (d->comp) {
    case IMG_COMP_GZIP: inflateEnd(&d->z); break;
    case IMG_COMP_BZIP2: BZ2_bzDecompressEnd(&d->bz); break;
    case IMG_COMP_XZ: lzma_end(&d->xz); break;
    case IMG_COMP_ZSTD:
        ZSTD_freeDStream(d->zs);
        d->zs = NULL;
        break;
    default: break;
    }
    d->active = false;
}

int img_decomp_new(int comp, img_decomp **out, vm_err *err)
{
    if (comp < IMG_COMP_NONE || comp > IMG_COMP_ZSTD)
        return vm_err_set(err, VMERR_INVALID, "unknown compression %d", comp);
    img_decomp *d = xcalloc(1, sizeof(*d));
    d->comp = comp;
    if (start_stream(d, err) < 0) {
        img_decomp_free(d);
        return -1;
    }
    *out = d;
    return 0;
}

void img_decomp_free(img_decomp *d)
{
    if (!d)
        return;
    end_stream(d);
    free(d);
}

static int corrupt(img_decomp *d, vm_err *err, const char *detail)
{
    return vm_err_set(err, VMERR_INVALID, "corrupt %s data: %s", img_comp_name(d->comp), detail);
}

long img_decomp_step(img_decomp *d, const uint8_t **in, size_t *inlen, uint8_t *out, size_t outcap, vm_err *err)
{
    size_t produced = 0;
    switch (d->comp) {
    case IMG_COMP_NONE: {
        size_t n = *inlen < outcap ? *inlen : outcap;
        if (n)
            memcpy(out, *in, n);
        *in += n;
        *inlen -= n;
        return (long)n;
    }
    case IMG_COMP_GZIP: {
        if (!d->mid && *inlen == 0)
            return 0;
        if (!d->active && start_stream(d, err) < 0)
            return -1;
        d->z.next_in = (Bytef *)*in;
        d->z.avail_in = (uInt)(*inlen > UINT32_MAX ? UINT32_MAX : *inlen);
        size_t given = d->z.avail_in;
        d->z.next_out = out;
        d->z.avail_out = (uInt)outcap;
        int rc = inflate(&d->z, Z_NO_FLUSH);
        size_t used = given - d->z.avail_in;
        *in += used;
        *inlen -= used;
        produced = outcap - d->z.avail_out;
        if (used)
            d->mid = true;
        if (rc == Z_STREAM_END) {
            d->mid = false;
            end_stream(d); /* next member (if any) restarts it */
        } else if (rc == Z_BUF_ERROR && used == 0 && produced == 0) {
            /* no progress possible: needs more input */
        } else if (rc != Z_OK) {
            return corrupt(d, err, d->z.msg ? d->z.msg : "inflate failed");
        }
        return (long)produced;
    }
    case IMG_COMP_BZIP2: {
        if (!d->mid && *inlen == 0)
            return 0;
        if (!d->active && start_stream(d, err) < 0)
            return -1;
        d->bz.next_in = (char *)*in;
        d->bz.avail_in = (unsigned)(*inlen > UINT32_MAX ? UINT32_MAX : *inlen);
        size_t given = d->bz.avail_in;
        d->bz.next_out = (char *)out;
        d->bz.avail_out = (unsigned)outcap;
        int rc = BZ2_bzDecompress(&d->bz);
        size_t used = given - d->bz.avail_in;
        *in += used;
        *inlen -= used;
        produced = outcap - d->bz.avail_out;
        if (used)
            d->mid = true;
        if (rc == BZ_STREAM_END) {
            d->mid = false;
            end_stream(d);
        } else if (rc != BZ_OK) {
            return corrupt(d, err, "bzip2 decompression failed");
        }
        return (long)produced;
    }
    case IMG_COMP_XZ: {
        d->xz.next_in = *in;
        d->xz.avail_in = *inlen;
        d->xz.next_out = out;
        d->xz.avail_out = outcap;
        lzma_ret rc = lzma_code(&d->xz, LZMA_RUN);
        size_t used = *inlen - d->xz.avail_in;
        *in += used;
        *inlen -= used;
        produced = outcap - d->xz.avail_out;
        if (used)
            d->mid = true;
        if (rc == LZMA_STREAM_END)
            d->mid = false;
        else if (rc != LZMA_OK && !(rc == LZMA_BUF_ERROR && used == 0))
            return corrupt(d, err, rc == LZMA_FORMAT_ERROR ? "not in xz format" : "xz decompression failed");
        return (long)produced;
    }
    case IMG_COMP_ZSTD: {
        ZSTD_inBuffer ib = { *in, *inlen, 0 };
        ZSTD_outBuffer ob = { out, outcap, 0 };
        size_t rc = ZSTD_decompressStream(d->zs, &ob, &ib);
        if (ZSTD_isError(rc))
            return corrupt(d, err, ZSTD_getErrorName(rc));
        *in += ib.pos;
        *inlen -= ib.pos;
        if (ib.pos || ob.pos)
            d->mid = rc != 0;
        return (long)ob.pos;
    }
    }
    return vm_err_set(err, VMERR_INTERNAL, "bad decompressor");
}

int img_decomp_finish(img_decomp *d, vm_err *err)
{
    if (d->comp == IMG_COMP_XZ) {
        uint8_t tmp[64];
        d->xz.next_in = NULL;
        d->xz.avail_in = 0;
        d->xz.next_out = tmp;
        d->xz.avail_out = sizeof(tmp);
        lzma_ret rc = lzma_code(&d->xz, LZMA_FINISH);
        if (rc == LZMA_STREAM_END && d->xz.avail_out == sizeof(tmp))
            return 0;
        return vm_err_set(err, VMERR_INVALID, "truncated xz data: the compressed stream ends early");
    }
    if (d->mid)
        return vm_err_set(err, VMERR_INVALID, "truncated %s data: the compressed stream ends early",
                          img_comp_name(d->comp));
    return 0;
}

/* ---- compression (image creation) ---- */

static int write_all(int fd, const void *buf, size_t len, const char *path, vm_err *err)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return vm_err_sys(err, errno, "cannot write %s", path);
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int img_compress_file(const char *src, const char *dst, int comp, void (*progress)(void *arg, uint64_t done), void *arg,
                      vm_err *err)
{
    if (comp == IMG_COMP_NONE)
        return copy_file_sparse(src, dst, err);
    if (comp != IMG_COMP_GZIP && comp != IMG_COMP_ZSTD)
        return vm_err_set(err, VMERR_UNSUPPORTED, "creating %s images is not supported (use zstd, gzip or none)",
                          img_comp_name(comp));
    cleanup_close int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return vm_err_sys(err, errno, "cannot open %s", src);
    cleanup_close int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0)
        return vm_err_sys(err, errno, "cannot create %s", dst);

    const size_t bufsz = 1 << 20;
    cleanup_free uint8_t *ibuf = xmalloc(bufsz);
    cleanup_free uint8_t *obuf = xmalloc(bufsz);
    z_stream z;
    ZSTD_CCtx *cz = NULL;
    int rc = -1;
    uint64_t done = 0;

    memset(&z, 0, sizeof(z));
    if (comp == IMG_COMP_GZIP) {
        if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            return vm_err_set(err, VMERR_INTERNAL, "zlib init failed");
    } else {
        cz = ZSTD_createCCtx();
        if (!cz)
            return vm_err_set(err, VMERR_INTERNAL, "zstd init failed");
        ZSTD_CCtx_setParameter(cz, ZSTD_c_compressionLevel, 3);
        ZSTD_CCtx_setParameter(cz, ZSTD_c_checksumFlag, 1);
        ZSTD_CCtx_setParameter(cz, ZSTD_c_nbWorkers, 2); /* ignored if single-threaded build */
    }
    for (;;) {
        ssize_t n = read(in, ibuf, bufsz);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            vm_err_sys(err, errno, "cannot read %s", src);
            goto out;
        }
        bool last = n == 0;
        if (comp == IMG_COMP_GZIP) {
            z.next_in = ibuf;
            z.avail_in = (uInt)n;
            int zr;
            do {
                z.next_out = obuf;
                z.avail_out = (uInt)bufsz;
                zr = deflate(&z, last ? Z_FINISH : Z_NO_FLUSH);
                if (zr == Z_STREAM_ERROR) {
                    vm_err_set(err, VMERR_INTERNAL, "gzip compression failed");
                    goto out;
                }
                if (write_all(out, obuf, bufsz - z.avail_out, dst, err) < 0)
                    goto out;
            } while (z.avail_out == 0 || (last && zr != Z_STREAM_END));
        } else {
            ZSTD_inBuffer ib = { ibuf, (size_t)n, 0 };
            size_t left;
            do {
                ZSTD_outBuffer ob = { obuf, bufsz, 0 };
                left = ZSTD_compressStream2(cz, &ob, &ib, last ? ZSTD_e_end : ZSTD_e_continue);
                if (ZSTD_isError(left)) {
                    vm_err_set(err, VMERR_INTERNAL, "zstd compression failed: %s", ZSTD_getErrorName(left));
                    goto out;
                }
                if (write_all(out, obuf, ob.pos, dst, err) < 0)
                    goto out;
            } while (ib.pos < ib.size || (last && left != 0));
        }
        done += (uint64_t)n;
        if (progress)
            progress(arg, done);
        if (last)
            break;
    }
    if (fsync(out) < 0) {
        vm_err_sys(err, errno, "cannot write %s", dst);
        goto out;
    }
    rc = 0;
out:
    if (comp == IMG_COMP_GZIP)
        deflateEnd(&z);
    ZSTD_freeCCtx(cz);
    return rc;
}
