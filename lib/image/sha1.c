#include "image/sha1.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#if defined(__x86_64__)
#include <cpuid.h>
#endif
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"

#if defined(__x86_64__)
#include <immintrin.h>
#define HAVE_SHANI_CODE 1
#endif

static inline uint32_t rol(uint32_t x, int n)
{
    return (x << n) | (x >> (32 - n));
}

static void blocks_portable(uint32_t h[5], const uint8_t *p, size_t nblocks)
{
    for (; nblocks; nblocks--, p += 64) {
        uint32_t w[80];
        for (int i = 0; i < 16; i++)
            w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
        for (int i = 16; i < 80; i++)
            w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
        uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
        /* Four loops of 20 rounds: no per-round branch on the round type. */
#define R(f, k, i) \
    do { \
        uint32_t t = rol(a, 5) + (f) + e + (k) + w[i]; \
        e = d; \
        d = c; \
        c = rol(b, 30); \
        b = a; \
        a = t; \
    } while (0)
        for (int i = 0; i < 20; i++)
            R((b & c) | (~b & d), 0x5a827999, i);
        for (int i = 20; i < 40; i++)
            R(b ^ c ^ d, 0x6ed9eba1, i);
        for (int i = 40; i < 60; i++)
            R((b & c) | (b & d) | (c & d), 0x8f1bbcdc, i);
        for (int i = 60; i < 80; i++)
            R(b ^ c ^ d, 0xca62c1d6, i);
#undef R
        h[0] += a;
        h[1] += b;
        h[2] += c;
        h[3] += d;
        h[4] += e;
    }
}

#ifdef HAVE_SHANI_CODE
/* Four rounds per step: the message schedule runs on 4-word groups
 * W[i] = msg2(msg1(W[i-4], W[i-3]) ^ W[i-2], W[i-1]); E for group i is
 * derived (nexte) from ABCD as it was before group i-1. */
#define SHANI_GROUP(i, f) \
    do { \
        if ((i) < 4) { \
            w[(i)&3] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * (i))), mask); \
        } else { \
            w[(i)&3] = _mm_sha1msg2_epu32( \
                _mm_xor_si128(_mm_sha1msg1_epu32(w[(i)&3], w[((i) + 1) & 3]), w[((i) + 2) & 3]), w[((i) + 3) & 3]); \
        } \
        __m128i ev = (i) == 0 ? _mm_add_epi32(e0, w[0]) : _mm_sha1nexte_epu32(prev, w[(i)&3]); \
        prev = abcd; \
        abcd = _mm_sha1rnds4_epu32(abcd, ev, f); \
    } while (0)

__attribute__((target("sha,sse4.1,ssse3"))) static void blocks_shani(uint32_t h[5], const uint8_t *p, size_t nblocks)
{
    const __m128i mask = _mm_set_epi64x(0x0001020304050607ULL, 0x08090a0b0c0d0e0fULL);
    __m128i abcd = _mm_shuffle_epi32(_mm_loadu_si128((const __m128i *)h), 0x1b);
    __m128i e0 = _mm_set_epi32((int)h[4], 0, 0, 0);

    for (; nblocks; nblocks--, p += 64) {
        __m128i abcd_save = abcd, e_save = e0, prev = abcd;
        __m128i w[4];
        SHANI_GROUP(0, 0);
        SHANI_GROUP(1, 0);
        SHANI_GROUP(2, 0);
        SHANI_GROUP(3, 0);
        SHANI_GROUP(4, 0);
        SHANI_GROUP(5, 1);
        SHANI_GROUP(6, 1);
        SHANI_GROUP(7, 1);
        SHANI_GROUP(8, 1);
        SHANI_GROUP(9, 1);
        SHANI_GROUP(10, 2);
        SHANI_GROUP(11, 2);
        SHANI_GROUP(12, 2);
        SHANI_GROUP(13, 2);
        SHANI_GROUP(14, 2);
        SHANI_GROUP(15, 3);
        SHANI_GROUP(16, 3);
        SHANI_GROUP(17, 3);
        SHANI_GROUP(18, 3);
        SHANI_GROUP(19, 3);
        e0 = _mm_sha1nexte_epu32(prev, e_save);
        abcd = _mm_add_epi32(abcd, abcd_save);
    }
    _mm_storeu_si128((__m128i *)h, _mm_shuffle_epi32(abcd, 0x1b));
    h[4] = (uint32_t)_mm_extract_epi32(e0, 3);
}
#endif

static void blocks(img_sha1 *s, const uint8_t *p, size_t nblocks)
{
#ifdef HAVE_SHANI_CODE
    if (s->hw) {
        blocks_shani(s->h, p, nblocks);
        return;
    }
#endif
    blocks_portable(s->h, p, nblocks);
}

void img_sha1_init(img_sha1 *s)
{
    static const uint32_t iv[5] = { 0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476, 0xc3d2e1f0 };
    memset(s, 0, sizeof(*s));
    memcpy(s->h, iv, sizeof(iv));
#ifdef HAVE_SHANI_CODE
    /* cpuid directly: clang 14's __builtin_cpu_supports has no "sha". */
    unsigned a, b, c, d;
    bool sse41 = __get_cpuid(1, &a, &b, &c, &d) && (c & (1u << 19));
    bool sha = __get_cpuid_count(7, 0, &a, &b, &c, &d) && (b & (1u << 29));
    s->hw = sse41 && sha;
#endif
}

void img_sha1_update(img_sha1 *s, const void *data, size_t len)
{
    const uint8_t *p = data;
    s->len += len;
    if (s->nbuf) {
        size_t n = 64 - s->nbuf < len ? 64 - s->nbuf : len;
        memcpy(s->buf + s->nbuf, p, n);
        s->nbuf += n;
        p += n;
        len -= n;
        if (s->nbuf < 64)
            return;
        blocks(s, s->buf, 1);
        s->nbuf = 0;
    }
    if (len >= 64) {
        blocks(s, p, len / 64);
        p += len & ~(size_t)63;
        len &= 63;
    }
    memcpy(s->buf, p, len);
    s->nbuf = len;
}

void img_sha1_update_zeros(img_sha1 *s, uint64_t n)
{
    static const uint8_t zeros[65536];
    while (n) {
        size_t k = n < sizeof(zeros) ? (size_t)n : sizeof(zeros);
        img_sha1_update(s, zeros, k);
        n -= k;
    }
}

void img_sha1_final(img_sha1 *s, uint8_t out[20])
{
    uint64_t bits = s->len * 8;
    uint8_t pad[72] = { 0x80 };
    size_t padlen = (s->nbuf < 56 ? 56 : 120) - s->nbuf;
    for (int i = 0; i < 8; i++)
        pad[padlen + i] = (uint8_t)(bits >> (56 - 8 * i));
    img_sha1_update(s, pad, padlen + 8);
    for (int i = 0; i < 5; i++) {
        out[4 * i] = (uint8_t)(s->h[i] >> 24);
        out[4 * i + 1] = (uint8_t)(s->h[i] >> 16);
        out[4 * i + 2] = (uint8_t)(s->h[i] >> 8);
        out[4 * i + 3] = (uint8_t)s->h[i];
    }
}

void img_sha1_hex(const uint8_t d[20], char out[41])
{
    static const char hx[] = "0123456789abcdef";
    for (int i = 0; i < 20; i++) {
        out[2 * i] = hx[d[i] >> 4];
        out[2 * i + 1] = hx[d[i] & 15];
    }
    out[40] = 0;
}

int img_sha1_file(const char *path, char hex[41], uint64_t *size, void (*progress)(void *arg, uint64_t done), void *arg,
                  vm_err *err)
{
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vm_err_sys(err, errno, "cannot open %s", path);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return vm_err_sys(err, errno, "cannot stat %s", path);
    const size_t bufsz = 1 << 20;
    cleanup_free uint8_t *buf = xmalloc(bufsz);
    img_sha1 s;
    img_sha1_init(&s);
    uint64_t total = (uint64_t)st.st_size, pos = 0;
    while (pos < total) {
        /* Data up to the next hole is read; a hole is hashed from memory. */
        off_t data = lseek(fd, (off_t)pos, SEEK_DATA);
        if (data < 0 && errno == ENXIO)
            data = (off_t)total; /* trailing hole */
        else if (data < 0)
            data = (off_t)pos; /* no SEEK_DATA: read everything */
        if ((uint64_t)data > pos) {
            img_sha1_update_zeros(&s, (uint64_t)data - pos);
            pos = (uint64_t)data;
            if (progress)
                progress(arg, pos);
            continue;
        }
        off_t hole = lseek(fd, (off_t)pos, SEEK_HOLE);
        uint64_t end = hole < 0 ? total : (uint64_t)hole;
        if (end <= pos)
            end = total;
        while (pos < end) {
            size_t want = end - pos < bufsz ? (size_t)(end - pos) : bufsz;
            ssize_t n = pread(fd, buf, want, (off_t)pos);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                return vm_err_sys(err, errno, "cannot read %s", path);
            if (n == 0)
                return vm_err_set(err, VMERR_IO, "%s: file shrank while being read", path);
            img_sha1_update(&s, buf, (size_t)n);
            pos += (uint64_t)n;
            if (progress)
                progress(arg, pos);
        }
    }
    uint8_t d[20];
    img_sha1_final(&s, d);
    img_sha1_hex(d, hex);
    if (size)
        *size = total;
    return 0;
}
