/* lib/mdata codec: the v2 wire format against the reference clients'
 * framing (cloud-init JoyentMetadataClient, mdata-client proto.c), and a
 * golden transcript of what every kind of line gets back
 * (golden/codec.txt; VMADM_GOLDEN_UPDATE=1 rewrites it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../common/golden.h"
#include "common/util.h"
#include "mdata/codec.h"

static const char *golden_dir;

/* A request as cloud-init builds it: body "<reqid> <op>[ b64(param)]". */
static char *frame(const char *reqid, const char *op, const char *param)
{
    cleanup_free char *b64 = param ? mdata_b64_encode(param, strlen(param), NULL) : NULL;
    cleanup_free char *body = xasprintf("%s %s%s%s", reqid, op, b64 ? " " : "", b64 ? b64 : "");
    return xasprintf("V2 %zu %08x %s", strlen(body), mdata_crc32(body, strlen(body)), body);
}

static void test_reference_frame(void **state)
{
    (void)state;
    /* mdata-client proto.c's example reply. */
    const char *body = "dc4fae17 SUCCESS W10=";
    assert_int_equal(mdata_crc32(body, strlen(body)), 0x265ae1d8u);
    size_t n;
    cleanup_free char *r = mdata_reply("dc4fae17", "SUCCESS", "[]", 2, &n);
    assert_string_equal(r, "V2 21 265ae1d8 dc4fae17 SUCCESS W10=\n");
    assert_int_equal(n, strlen(r));
}

static void test_base64(void **state)
{
    (void)state;
    const char *in[] = { "", "f", "fo", "foo", "foob", "fooba", "foobar", "\xff\xfe\x01", NULL };
    const char *out[] = { "", "Zg==", "Zm8=", "Zm9v", "Zm9vYg==", "Zm9vYmE=", "Zm9vYmFy", "//4B" };
    for (int i = 0; in[i]; i++) {
        size_t n, m;
        cleanup_free char *e = mdata_b64_encode(in[i], strlen(in[i]), &n);
        assert_string_equal(e, out[i]);
        cleanup_free char *d = mdata_b64_decode(e, n, &m);
        assert_non_null(d);
        assert_int_equal(m, strlen(in[i]));
        assert_memory_equal(d, in[i], m);
    }
    size_t m;
    cleanup_free char *nopad = mdata_b64_decode("Zm8", 3, &m);
    assert_string_equal(nopad, "fo");
    assert_null(mdata_b64_decode("Zm9v!", 5, &m));
    assert_null(mdata_b64_decode("Z", 1, &m));
    assert_null(mdata_b64_decode("Zm=v", 4, &m));
    assert_null(mdata_b64_decode("Zg===", 5, &m));
}

static void test_parse_requests(void **state)
{
    (void)state;
    mdata_req r;
    cleanup_free char *get = frame("0a1b2c3d", "GET", "sdc:uuid");
    mdata_parse(get, strlen(get), &r);
    assert_int_equal(r.kind, MDATA_REQUEST);
    assert_int_equal(r.op, MDATA_OP_GET);
    assert_string_equal(r.reqid, "0a1b2c3d");
    assert_string_equal(r.key, "sdc:uuid");
    mdata_req_free(&r);

    /* PUT: base64 of "<b64 key> <b64 value>", as cloud-init's put(). */
    cleanup_free char *k = mdata_b64_encode("role", 4, NULL);
    cleanup_free char *v = mdata_b64_encode("web server", 10, NULL);
    cleanup_free char *param = xasprintf("%s %s", k, v);
    cleanup_free char *put = frame("00000001", "PUT", param);
    mdata_parse(put, strlen(put), &r);
    assert_int_equal(r.kind, MDATA_REQUEST);
    assert_int_equal(r.op, MDATA_OP_PUT);
    assert_string_equal(r.key, "role");
    assert_string_equal(r.value, "web server");
    mdata_req_free(&r);

    cleanup_free char *keys = frame("ffffffff", "KEYS", NULL);
    mdata_parse(keys, strlen(keys), &r);
    assert_int_equal(r.kind, MDATA_REQUEST);
    assert_int_equal(r.op, MDATA_OP_KEYS);
    mdata_req_free(&r);

    /* A trailing \r (a serial line) is ignored. */
    cleanup_free char *cr = xasprintf("%s\r", get);
    mdata_parse(cr, strlen(cr), &r);
    assert_int_equal(r.kind, MDATA_REQUEST);
    mdata_req_free(&r);
}

static void test_bounds(void **state)
{
    (void)state;
    mdata_req r;
    char *big = xmalloc(MDATA_MAX_KEY + 2);
    memset(big, 'k', MDATA_MAX_KEY + 1);
    big[MDATA_MAX_KEY + 1] = '\0';
    cleanup_free char *f = frame("01", "GET", big);
    mdata_parse(f, strlen(f), &r);
    assert_int_equal(r.kind, MDATA_BAD);
    assert_string_equal(r.reqid, "01");
    mdata_req_free(&r);
    big[MDATA_MAX_KEY] = '\0';
    cleanup_free char *ok = frame("01", "GET", big);
    mdata_parse(ok, strlen(ok), &r);
    assert_int_equal(r.kind, MDATA_REQUEST);
    mdata_req_free(&r);
    free(big);
}

/* Every kind of line and the exact bytes it gets back. */
static void test_golden_transcript(void **state)
{
    (void)state;
    cleanup_free char *good = frame("0a1b2c3d", "GET", "hostname");
    cleanup_free char *badcrc = xstrdup(good);
    memcpy(strchr(badcrc + 3, ' ') + 1, "00000000", 8);
    cleanup_free char *badlen = xasprintf("V2 99%s", strchr(good + 3, ' '));
    cleanup_free char *nuls = frame("0a1b2c3d", "GET", NULL);
    cleanup_free char *unknown = frame("0a1b2c3d", "FROB", "x");
    cleanup_free char *upper = frame("0A1B2C3D", "GET", "x");
    cleanup_free char *badput = frame("00000002", "PUT", "no-space");
    cleanup_free char *sdcput = frame("00000003", "DELETE", "  spaced key  ");
    cleanup_free char *badutf = xstrdup("V2 17 00000000 01 GET //4=");
    {
        const char *body = "01 GET //4=";
        free(badutf);
        badutf = xasprintf("V2 %zu %08x %s", strlen(body), mdata_crc32(body, strlen(body)), body);
    }
    const char *lines[] = { "",
                            "   ",
                            "NEGOTIATE V2",
                            "NEGOTIATE V1",
                            "NEGOTIATE",
                            "GET sdc:uuid",
                            "garbage \x01\x02",
                            "V2",
                            "V2 ",
                            "V2 abc def ghi",
                            "V2 5 00000000 zzzzz GET",
                            good,
                            badcrc,
                            badlen,
                            nuls,
                            unknown,
                            upper,
                            badput,
                            sdcput,
                            badutf,
                            NULL };
    cleanup_free char *out = xstrdup("");
    for (int i = 0; lines[i]; i++) {
        mdata_req r;
        mdata_parse(lines[i], strlen(lines[i]), &r);
        size_t n;
        cleanup_free char *reply = NULL;
        if (r.kind == MDATA_REQUEST)
            reply = xasprintf("(request op=%d reqid=%s key=[%s] value=[%s])\n", r.op, r.reqid, r.key ? r.key : "",
                              r.value ? r.value : "");
        else
            reply = mdata_reply_plain(&r, &n);
        char *prev = out;
        cleanup_free char *shown = xstrdup(lines[i]);
        for (char *p = shown; *p; p++)
            if ((unsigned char)*p < 0x20)
                *p = '?';
        out = xasprintf("%s> %s\n< %s", prev, shown, reply);
        free(prev);
        mdata_req_free(&r);
    }
    cleanup_free char *path = xasprintf("%s/codec.txt", golden_dir);
    assert_int_equal(golden_check(path, out), 0);
}

int main(int argc, char **argv)
{
    golden_dir = argc > 1 ? argv[1] : "golden";
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_frame),   cmocka_unit_test(test_base64),
        cmocka_unit_test(test_parse_requests),    cmocka_unit_test(test_bounds),
        cmocka_unit_test(test_golden_transcript),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
