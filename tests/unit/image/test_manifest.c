#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "common/util.h"
#include "image/image.h"

#define SHA "0123456789abcdef0123456789abcdef01234567"
#define GOOD_FILES "\"files\": [{\"sha1\": \"" SHA "\", \"size\": 1024, \"compression\": \"gzip\"}]"
#define UUID "\"uuid\": \"2b3ad3f6-45a3-4c5c-8e41-5f7c2f0c9b10\""

/* Each manifest and the message it must produce ("" = valid). */
static const struct {
    const char *json;
    const char *msg;
} cases[] = {
    { "{\"v\": 2, " UUID ", \"name\": \"n\", \"version\": \"1\", \"type\": \"zvol\", \"image_size\": 10, " GOOD_FILES
      "}",
      "" },
    { "{\"v\": 2, " UUID ", \"name\": \"n\", \"version\": \"1\", \"type\": \"zone-dataset\", " GOOD_FILES "}", "" },
    { "{\"v\": 2, " UUID
      ", \"name\": \"n\", \"version\": \"1\", \"type\": \"lx-dataset\", \"requirements\": {\"brand\": \"lx\"}, " GOOD_FILES
      "}",
      "" },
    { "[]", "invalid manifest: not a JSON object" },
    { "{" UUID "}", "invalid manifest: missing \"v\"" },
    { "{\"v\": 1, " UUID "}", "invalid manifest: unsupported manifest version \"v\" (must be 2)" },
    { "{\"v\": 2}", "invalid manifest: missing \"uuid\"" },
    { "{\"v\": 2, \"uuid\": \"nope\"}", "invalid manifest: invalid uuid: \"nope\"" },
    { "{\"v\": 2, \"uuid\": \"2B3AD3F6-45A3-4C5C-8E41-5F7C2F0C9B10\"}",
      "invalid manifest: invalid uuid: \"2B3AD3F6-45A3-4C5C-8E41-5F7C2F0C9B10\"" },
    { "{\"v\": 2, " UUID ", \"version\": \"1\"}", "invalid manifest: missing \"name\"" },
    { "{\"v\": 2, " UUID ", \"name\": \"\", \"version\": \"1\"}",
      "invalid manifest: \"name\" must be a non-empty string" },
    { "{\"v\": 2, " UUID ", \"name\": \"n\"}", "invalid manifest: missing \"version\"" },
    { "{\"v\": 2, " UUID ", \"name\": \"a/b\", \"version\": \"1\", \"type\": \"zvol\"}",
      "invalid manifest: \"name\" must not contain '/': \"a/b\"" },
    { "{\"v\": 2, " UUID ", \"name\": \"n\", \"version\": \"1\"}", "invalid manifest: missing \"type\"" },
    { "{\"v\": 2, " UUID ", \"name\": \"n\", \"version\": \"1\", \"type\": \"docker\"}",
      "invalid manifest: image type \"docker\" is not supported (supported: zvol, zone-dataset, lx-dataset)" },
    { "{\"v\": 2, " UUID ", \"name\": \"n\", \"version\": \"1\", \"type\": \"zvol\", \"image_size\": 1}",
      "invalid manifest: missing \"files\"" },
    { "{\"v\": 2, " UUID ", \"name\": \"n\", \"version\": \"1\", \"type\": \"zvol\", \"files\": []}",
      "invalid manifest: \"files\" must be an array of exactly one object" },
    { "{\"v\": 2, " UUID
      ", \"name\": \"n\", \"version\": \"1\", \"type\": \"zvol\", \"files\": [{\"size\": 1, \"compression\": \"none\"}]}",
      "invalid manifest: missing \"files.0.sha1\"" },
    { "{\"v\": 2, " UUID
      ", \"name\": \"n\", \"version\": \"1\", \"type\": \"zvol\", \"files\": [{\"sha1\": \"XYZ\", \"size\": 1, \"compression\": \"none\"}]}",
      "invalid manifest: \"files.0.sha1\" must be 40 lower-case hex digits" },
    { "{\"v\": 2, " UUID ", \"name\": \"n\", \"version\": \"1\", \"type\": \"zvol\", \"files\": [{\"sha1\": \"" SHA
      "\", \"compression\": \"none\"}]}",
      "invalid manifest: missing \"files.0.size\"" },
    { "{\"v\": 2, " UUID ", \"name\": \"n\", \"version\": \"1\", \"type\": \"zvol\", \"files\": [{\"sha1\": \"" SHA
      "\", \"size\": -5, \"compression\": \"none\"}]}",
      "invalid manifest: \"files.0.size\" must be a positive integer (bytes)" },
    { "{\"v\": 2, " UUID ", \"name\": \"n\", \"version\": \"1\", \"type\": \"zvol\", \"files\": [{\"sha1\": \"" SHA
      "\", \"size\": 5}]}",
      "invalid manifest: missing \"files.0.compression\"" },
    { "{\"v\": 2, " UUID ", \"name\": \"n\", \"version\": \"1\", \"type\": \"zvol\", \"files\": [{\"sha1\": \"" SHA
      "\", \"size\": 5, \"compression\": \"lz4\"}]}",
      "invalid manifest: \"files.0.compression\" must be one of none, gzip, bzip2, xz, zstd" },
    { "{\"v\": 2, " UUID ", \"name\": \"n\", \"version\": \"1\", \"type\": \"zvol\", " GOOD_FILES "}",
      "invalid manifest: missing \"image_size\" (required for zvol images, MiB)" },
    /* IMGAPI's string forms of v and image_size (issue 21). */
    { "{\"v\": \"2\", " UUID
      ", \"name\": \"n\", \"version\": \"1\", \"type\": \"zvol\", \"image_size\": \"10\", " GOOD_FILES "}",
      "" },
    { "{\"v\": \"3\", " UUID "}", "invalid manifest: unsupported manifest version \"v\" (must be 2)" },
    { "{\"v\": \"two\", " UUID "}", "invalid manifest: unsupported manifest version \"v\" (must be 2)" },
    { "{\"v\": 2, " UUID
      ", \"name\": \"n\", \"version\": \"1\", \"type\": \"zvol\", \"image_size\": \"10 MiB\", " GOOD_FILES "}",
      "invalid manifest: \"image_size\" must be a positive integer (MiB)" },
    { "{\"v\": 2, " UUID ", \"name\": \"n\", \"version\": \"1\", \"type\": \"zvol\", \"image_size\": 0, " GOOD_FILES
      "}",
      "invalid manifest: \"image_size\" must be a positive integer (MiB)" },
    { "{\"v\": 2, " UUID
      ", \"name\": \"n\", \"version\": \"1\", \"type\": \"zone-dataset\", \"requirements\": 3, " GOOD_FILES "}",
      "invalid manifest: \"requirements\" must be an object" },
    { "{\"v\": 2, " UUID
      ", \"name\": \"n\", \"version\": \"1\", \"type\": \"zone-dataset\", \"origin\": \"x\", " GOOD_FILES "}",
      "invalid manifest: \"origin\" must be an image uuid" },
};

static void test_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_error_t je;
        json_t *m = json_loads(cases[i].json, 0, &je);
        if (!m)
            fail_msg("case %zu does not parse: %s", i, je.text);
        vm_err err = VM_ERR_INIT;
        int rc = img_manifest_validate(m, &err);
        if (cases[i].msg[0]) {
            if (rc != -1 || strcmp(err.msg, cases[i].msg) != 0)
                fail_msg("case %zu: rc %d, got \"%s\", want \"%s\"", i, rc, err.msg, cases[i].msg);
            assert_int_equal(err.code, VMERR_INVALID);
        } else if (rc != 0) {
            fail_msg("case %zu: valid manifest refused: %s", i, err.msg);
        }
        json_decref(m);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
