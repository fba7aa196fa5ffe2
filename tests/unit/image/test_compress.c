#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <bzlib.h>
#include <lzma.h>
#include <zlib.h>
#include <zstd.h>

#include "common/util.h"
#include "image/compress.h"

#define PLAIN_LEN 200000

static uint8_t *plain(void)
{
    uint8_t *p = malloc(PLAIN_LEN);
    for (size_t i = 0; i < PLAIN_LEN; i++)
        p[i] = (uint8_t)((i % 7919) * 31 ^ (i >> 10));
    return p;
}

/* Compresses with the library directly (not with our code). */
static uint8_t *compress_with(int comp, const uint8_t *in, size_t n, size_t *outlen)
{
    size_t cap = n + n / 2 + 65536;
    uint8_t *out = malloc(cap);
    switch (comp) {
    case IMG_COMP_GZIP: {
        z_stream z;
        memset(&z, 0, sizeof(z));
        assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY), Z_OK);
        z.next_in = (Bytef *)in;
        z.avail_in = (uInt)n;
        z.next_out = out;
        z.avail_out = (uInt)cap;
        assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
        *outlen = cap - z.avail_out;
        deflateEnd(&z);
        break;
    }
    case IMG_COMP_BZIP2: {
        unsigned int ol = (unsigned int)cap;
        assert_int_equal(BZ2_bzBuffToBuffCompress((char *)out, &ol, (char *)in, (unsigned)n, 9, 0, 0), BZ_OK);
        *outlen = ol;
        break;
    }
    case IMG_COMP_XZ: {
        size_t pos = 0;
        assert_int_equal(lzma_easy_buffer_encode(6, LZMA_CHECK_CRC64, NULL, in, n, out, &pos, cap), LZMA_OK);
        *outlen = pos;
        break;
    }
    case IMG_COMP_ZSTD: {
        /* as the zstd tool writes it: with a content checksum */
        ZSTD_CCtx *cc = ZSTD_createCCtx();
        ZSTD_CCtx_setParameter(cc, ZSTD_c_checksumFlag, 1);
        *outlen = ZSTD_compress2(cc, out, cap, in, n);
        assert_false(ZSTD_isError(*outlen));
        ZSTD_freeCCtx(cc);
    } break;
    default: memcpy(out, in, n); *outlen = n;
    }
    return out;
}

/* Feeds in chunks of `chunk` bytes, drains with a small output buffer. */
static int run_decomp(int comp, const uint8_t *in, size_t n, size_t chunk, uint8_t **out, size_t *outlen, vm_err *err)
{
    img_decomp *d;
    assert_int_equal(img_decomp_new(comp, &d, err), 0);
    size_t cap = 4 * PLAIN_LEN, len = 0;
    uint8_t *buf = malloc(cap);
    uint8_t small[777];
    int rc = 0;
    for (size_t off = 0; off < n && rc == 0; off += chunk) {
        const uint8_t *p = in + off;
        size_t left = n - off < chunk ? n - off : chunk;
        long got;
        do {
            got = img_decomp_step(d, &p, &left, small, sizeof(small), err);
            if (got < 0) {
                rc = -1;
                break;
            }
            memcpy(buf + len, small, (size_t)got);
            len += (size_t)got;
        } while (left > 0 || got == (long)sizeof(small));
    }
    if (rc == 0) {
        /* drain what the decoder still holds */
        long got;
        const uint8_t *p = NULL;
        size_t left = 0;
        while ((got = img_decomp_step(d, &p, &left, small, sizeof(small), err)) > 0) {
            memcpy(buf + len, small, (size_t)got);
            len += (size_t)got;
        }
        rc = got < 0 ? -1 : img_decomp_finish(d, err);
    }
    img_decomp_free(d);
    *out = buf;
    *outlen = len;
    return rc;
}

static void test_names(void **state)
{
    (void)state;
    assert_int_equal(img_comp_parse("none"), IMG_COMP_NONE);
    assert_int_equal(img_comp_parse("zstd"), IMG_COMP_ZSTD);
    assert_int_equal(img_comp_parse("lz4"), -1);
    assert_int_equal(img_comp_parse(NULL), -1);
    assert_string_equal(img_comp_name(IMG_COMP_BZIP2), "bzip2");
}

static void test_detect(void **state)
{
    (void)state;
    uint8_t *p = plain();
    for (int c = IMG_COMP_NONE; c <= IMG_COMP_ZSTD; c++) {
        size_t n;
        uint8_t *z = compress_with(c, p, PLAIN_LEN, &n);
        assert_int_equal(img_comp_detect(z, n), c);
        free(z);
    }
    assert_int_equal(img_comp_detect("QFI\xfb", 4), IMG_COMP_NONE); /* qcow2 */
    assert_int_equal(img_comp_detect("BZx", 3), IMG_COMP_NONE);
    assert_int_equal(img_comp_detect("\x1f", 1), IMG_COMP_NONE);
    assert_int_equal(img_comp_detect("", 0), IMG_COMP_NONE);
    free(p);
}

static void test_roundtrip(void **state)
{
    (void)state;
    uint8_t *p = plain();
    static const size_t chunks[] = { 1, 13, 4096, 1 << 20 };
    for (int c = IMG_COMP_NONE; c <= IMG_COMP_ZSTD; c++) {
        size_t n;
        uint8_t *z = compress_with(c, p, PLAIN_LEN, &n);
        for (size_t k = 0; k < 4; k++) {
            if (chunks[k] == 1 && c == IMG_COMP_BZIP2)
                continue; /* slow and adds nothing */
            uint8_t *out;
            size_t outlen;
            vm_err err = VM_ERR_INIT;
            if (run_decomp(c, z, n, chunks[k], &out, &outlen, &err) != 0)
                fail_msg("%s chunk %zu: %s", img_comp_name(c), chunks[k], err.msg);
            assert_int_equal(outlen, PLAIN_LEN);
            assert_memory_equal(out, p, PLAIN_LEN);
            free(out);
        }
        free(z);
    }
    free(p);
}

static void test_truncated_and_corrupt(void **state)
{
    (void)state;
    uint8_t *p = plain();
    for (int c = IMG_COMP_GZIP; c <= IMG_COMP_ZSTD; c++) {
        size_t n;
        uint8_t *z = compress_with(c, p, PLAIN_LEN, &n);
        uint8_t *out;
        size_t outlen;
        vm_err err = VM_ERR_INIT;
        assert_int_equal(run_decomp(c, z, n / 2, 4096, &out, &outlen, &err), -1);
        if (!strstr(err.msg, "truncated") && !strstr(err.msg, "corrupt"))
            fail_msg("%s truncated: %s", img_comp_name(c), err.msg);
        free(out);

        /* Garbage in the middle of the stream. */
        memset(z + n / 3, 0x5a, 64);
        vm_err err2 = VM_ERR_INIT;
        int rc = run_decomp(c, z, n, 4096, &out, &outlen, &err2);
        if (rc != -1 || err2.code != VMERR_INVALID)
            fail_msg("%s: corrupt data accepted (rc %d)", img_comp_name(c), rc);
        free(out);
        free(z);
    }
    free(p);
}

static void test_concatenated(void **state)
{
    (void)state;
    uint8_t *p = plain();
    for (int c = IMG_COMP_GZIP; c <= IMG_COMP_ZSTD; c++) {
        size_t n1, n2;
        uint8_t *a = compress_with(c, p, PLAIN_LEN / 2, &n1);
        uint8_t *b = compress_with(c, p + PLAIN_LEN / 2, PLAIN_LEN / 2, &n2);
        uint8_t *both = malloc(n1 + n2);
        memcpy(both, a, n1);
        memcpy(both + n1, b, n2);
        uint8_t *out;
        size_t outlen;
        vm_err err = VM_ERR_INIT;
        if (run_decomp(c, both, n1 + n2, 5000, &out, &outlen, &err) != 0)
            fail_msg("%s concatenated: %s", img_comp_name(c), err.msg);
        assert_int_equal(outlen, PLAIN_LEN);
        assert_memory_equal(out, p, PLAIN_LEN);
        free(out);
        free(both);
        free(a);
        free(b);
    }
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),        cmocka_unit_test(test_detect),
        cmocka_unit_test(test_roundtrip),    cmocka_unit_test(test_truncated_and_corrupt),
        cmocka_unit_test(test_concatenated),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
