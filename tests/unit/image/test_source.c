/* Image sources: URL checks and the parsing of a source's image list. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "common/util.h"
#include "image/image.h"

/* Each URL and what the check makes of it: the normalized URL, or the
 * reason after `invalid image source URL "<url>": `. */
static const struct {
    const char *url;
    const char *norm; /* NULL: refused */
    const char *why;
} urls[] = {
    { "https://images.smartos.org", "https://images.smartos.org", NULL },
    { "https://images.smartos.org/", "https://images.smartos.org", NULL },
    { "http://127.0.0.1:8080//", "http://127.0.0.1:8080", NULL },
    { "http://mirror.example.com/smartos/images-root/", "http://mirror.example.com/smartos/images-root", NULL },
    { "http://[::1]:99/x", "http://[::1]:99/x", NULL },
    { "ftp://example.com", NULL, "must start with http:// or https://" },
    { "file:///etc/passwd", NULL, "must start with http:// or https://" },
    { "HTTP://x", NULL, "must start with http:// or https://" },
    { "http://", NULL, "no host" },
    { "http:///etc/passwd", NULL, "no host" },
    { "http://a b", NULL, "must not contain spaces, control or non-ASCII characters" },
    { "http://h/\xe9", NULL, "must not contain spaces, control or non-ASCII characters" },
    { "http://a\tb", NULL, "must not contain spaces, control or non-ASCII characters" },
    { "http://h/?channel=dev", NULL, "must not have a query or a fragment" },
    { "http://h/#x", NULL, "must not have a query or a fragment" },
    { "http://user:pw@h/", NULL, "must not carry user information" },
    { "http://h:/", NULL, "bad host or port" },
    { "http://h:123456/", NULL, "bad host or port" },
    { "http://h:12a/", NULL, "bad port" },
    { "http://h_x/", NULL, "bad host or port" },
    { "http://[]/", NULL, "bad IPv6 address" },
    { "http://[::g]/", NULL, "bad IPv6 address" },
};

static void test_url_check(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof urls / sizeof urls[0]; i++) {
        char *norm = NULL;
        vm_err err = VM_ERR_INIT;
        int r = img_source_url_check(urls[i].url, &norm, &err);
        if (urls[i].norm) {
            assert_int_equal(r, 0);
            assert_string_equal(norm, urls[i].norm);
            free(norm);
        } else {
            assert_int_equal(r, -1);
            assert_null(norm);
            char *want = xasprintf("invalid image source URL \"%s\": %s", urls[i].url, urls[i].why);
            assert_string_equal(err.msg, want);
            free(want);
        }
    }
}

#define U1 "3f1c0e6a-5b7d-4c2e-9a8b-1d2e3f4a5b6c"
#define U2 "7a6b5c4d-3e2f-4a1b-8c9d-0e1f2a3b4c5d"

static void test_parse_list(void **state)
{
    (void)state;
    const char *body = "[{\"uuid\": \"" U1 "\", \"name\": \"a\"}, 7, {\"uuid\": \"NOPE\"}, {\"name\": \"x\"},"
                       " {\"uuid\": \"" U2 "\", \"name\": \"b\"}]";
    json_t *l = NULL;
    vm_err err = VM_ERR_INIT;
    assert_int_equal(img_source_parse_list("http://s", body, strlen(body), &l, &err), 0);
    assert_int_equal(json_array_size(l), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(l, 0), "source")), "http://s");
    assert_string_equal(json_string_value(json_object_get(json_object_get(json_array_get(l, 1), "manifest"), "uuid")),
                        U2);
    json_decref(l);

    l = NULL;
    assert_int_equal(img_source_parse_list("http://s", "{}", 2, &l, &err), -1);
    assert_null(l);
    assert_string_equal(err.msg, "image source \"http://s\" sent no image list (not a JSON array)");
    assert_int_equal(img_source_parse_list("http://s", "<html>", 6, &l, &err), -1);
    assert_true(str_has_prefix(err.msg, "image source \"http://s\" sent no image list ("));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_check),
        cmocka_unit_test(test_parse_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
