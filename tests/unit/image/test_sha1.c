#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/util.h"
#include "image/sha1.h"

static void hash_hex(const void *p, size_t n, int hw, char out[41])
{
    img_sha1 s;
    img_sha1_init(&s);
    if (!hw)
        s.hw = 0;
    img_sha1_update(&s, p, n);
    uint8_t d[20];
    img_sha1_final(&s, d);
    img_sha1_hex(d, out);
}

/* FIPS 180 / RFC 3174 vectors, on both code paths. */
static void test_vectors(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *hex;
    } v[] = {
        { "", "da39a3ee5e6b4b0d3255bfef95601890afd80709" },
        { "abc", "a9993e364706816aba3e25717850c26c9cd0d89d" },
        { "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "84983e441c3bd26ebaae4aa1f95129e5e54670f1" },
        { "The quick brown fox jumps over the lazy dog", "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12" },
    };
    for (int hw = 0; hw < 2; hw++)
        for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
            char hex[41];
            hash_hex(v[i].in, strlen(v[i].in), hw, hex);
            assert_string_equal(hex, v[i].hex);
        }
}

static void test_million_a(void **state)
{
    (void)state;
    for (int hw = 0; hw < 2; hw++) {
        img_sha1 s;
        img_sha1_init(&s);
        if (!hw)
            s.hw = 0;
        char chunk[1000];
        memset(chunk, 'a', sizeof(chunk));
        for (int i = 0; i < 1000; i++)
            img_sha1_update(&s, chunk, sizeof(chunk));
        uint8_t d[20];
        char hex[41];
        img_sha1_final(&s, d);
        img_sha1_hex(d, hex);
        assert_string_equal(hex, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
    }
}

/* Every length 0..300 and odd split points: hardware and portable agree,
 * and feeding in pieces equals one update. */
static void test_paths_agree(void **state)
{
    (void)state;
    uint8_t buf[300];
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i * 131 + 7);
    for (size_t n = 0; n <= sizeof(buf); n++) {
        char a[41], b[41], c[41];
        hash_hex(buf, n, 0, a);
        hash_hex(buf, n, 1, b);
        assert_string_equal(a, b);
        img_sha1 s;
        img_sha1_init(&s);
        size_t cut = n / 3;
        img_sha1_update(&s, buf, cut);
        img_sha1_update(&s, buf + cut, n - cut);
        uint8_t d[20];
        img_sha1_final(&s, d);
        img_sha1_hex(d, c);
        assert_string_equal(a, c);
    }
}

static void test_zeros_and_file(void **state)
{
    (void)state;
    /* 1 MiB of zeros: update_zeros equals hashing a zero buffer. */
    size_t n = 1 << 20;
    uint8_t *z = calloc(1, n);
    char a[41], b[41];
    hash_hex(z, n, 1, a);
    img_sha1 s;
    img_sha1_init(&s);
    img_sha1_update(&s, "", 0);
    img_sha1_update_zeros(&s, n);
    uint8_t d[20];
    img_sha1_final(&s, d);
    img_sha1_hex(d, b);
    assert_string_equal(a, b);

    /* A sparse file with data between holes hashes like its bytes. */
    char path[] = "/tmp/sha1test.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "hello", 5, 300000), 5);
    assert_int_equal(ftruncate(fd, 3 << 20), 0);
    close(fd);
    uint8_t *bytes = calloc(1, 3 << 20);
    memcpy(bytes + 300000, "hello", 5);
    hash_hex(bytes, 3 << 20, 1, a);
    uint64_t size = 0;
    vm_err err = VM_ERR_INIT;
    assert_int_equal(img_sha1_file(path, b, &size, NULL, NULL, &err), 0);
    assert_string_equal(a, b);
    assert_int_equal(size, 3 << 20);
    unlink(path);
    assert_int_equal(img_sha1_file(path, b, &size, NULL, NULL, &err), -1);
    assert_non_null(strstr(err.msg, "cannot open"));
    free(bytes);
    free(z);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vectors),
        cmocka_unit_test(test_million_a),
        cmocka_unit_test(test_paths_agree),
        cmocka_unit_test(test_zeros_and_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
