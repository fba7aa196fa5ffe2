/* The client's chunked decoder, fed whole, byte by byte and malformed. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "common/util.h"
#include "vminfo/http.h"

static const char body[] = "4\r\nWiki\r\n6;ext=1\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n"
                           "0\r\nX-Trailer: 1\r\n\r\nNEXT";
static const char want[] = "Wikipedia in \r\n\r\nchunks.";

static void test_whole(void **state)
{
    (void)state;
    vminfo_chunked c = { 0 };
    vminfo_buf out = { 0 };
    vm_err err = VM_ERR_INIT;
    int done = 0;
    ssize_t n = vminfo_chunked_feed(&c, body, strlen(body), &out, &done, &err);
    assert_true(done);
    assert_int_equal(n, (ssize_t)(strlen(body) - 4)); /* stops before "NEXT" */
    assert_int_equal(out.len, strlen(want));
    assert_memory_equal(out.data, want, out.len);
    vminfo_buf_free(&out);
}

static void test_bytewise(void **state)
{
    (void)state;
    vminfo_chunked c = { 0 };
    vminfo_buf out = { 0 };
    vm_err err = VM_ERR_INIT;
    int done = 0;
    size_t i;
    for (i = 0; i < strlen(body) && !done; i++)
        assert_int_equal(vminfo_chunked_feed(&c, body + i, 1, &out, &done, &err), 1);
    assert_true(done);
    assert_int_equal(i, strlen(body) - 4);
    assert_memory_equal(out.data, want, out.len);
    vminfo_buf_free(&out);
}

static void test_streaming_lines(void **state)
{
    (void)state;
    /* An endless event stream: chunks split lines arbitrarily; not done. */
    const char *s = "5\r\n{\"a\":\r\n3\r\n1}\n\r\n";
    vminfo_chunked c = { 0 };
    vminfo_buf out = { 0 };
    vm_err err = VM_ERR_INIT;
    int done = 0;
    assert_int_equal(vminfo_chunked_feed(&c, s, strlen(s), &out, &done, &err), (ssize_t)strlen(s));
    assert_false(done);
    assert_string_equal(out.data, "{\"a\":1}\n");
    vminfo_buf_free(&out);
}

static void test_malformed(void **state)
{
    (void)state;
    const char *bad[] = { "zz\r\n", "4\r\nWikiX", "\r\n", "4\n", "ffffffffffffffffff\r\n" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vminfo_chunked c = { 0 };
        vminfo_buf out = { 0 };
        vm_err err = VM_ERR_INIT;
        int done = 0;
        assert_int_equal(vminfo_chunked_feed(&c, bad[i], strlen(bad[i]), &out, &done, &err), -1);
        assert_true(vm_err_is_set(&err));
        vminfo_buf_free(&out);
    }
}

static void test_buf(void **state)
{
    (void)state;
    vminfo_buf b = { 0 };
    vminfo_buf_append(&b, "hello world", 11);
    vminfo_buf_consume(&b, 6);
    assert_string_equal(b.data, "world");
    vminfo_buf_consume(&b, 100);
    assert_int_equal(b.len, 0);
    vminfo_buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole),     cmocka_unit_test(test_bytewise), cmocka_unit_test(test_streaming_lines),
        cmocka_unit_test(test_malformed), cmocka_unit_test(test_buf),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
