/* The pure parts of layered filesystem data (lib/storage/layers.h): the
 * overlayfs options, the mount points beneath a data dir as read from
 * mountinfo, and the "lower" file's rules. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "storage/layers.h"

static void test_mount_opts(void **state)
{
    (void)state;
    cleanup_json json_t *two = json_pack("[ss]", "/p/data/s.d/upper", "/p/data/i.d/fs");
    cleanup_free char *rw = ly_mount_opts(two, "/p/data/c.d/upper", "/p/data/c.d/work");
    assert_string_equal(rw,
                        "lowerdir=/p/data/s.d/upper:/p/data/i.d/fs,upperdir=/p/data/c.d/upper,"
                        "workdir=/p/data/c.d/work,redirect_dir=off,metacopy=off,index=off");
    cleanup_free char *ro = ly_mount_opts(two, NULL, NULL);
    assert_string_equal(ro, "lowerdir=/p/data/s.d/upper:/p/data/i.d/fs,redirect_dir=off,metacopy=off,index=off");
    /* a read-only view needs two layers; upper and work go together */
    cleanup_json json_t *one = json_pack("[s]", "/p/data/i.d/fs");
    assert_null(ly_mount_opts(one, NULL, NULL));
    assert_null(ly_mount_opts(one, "/p/u", NULL));
    cleanup_free char *one_rw = ly_mount_opts(one, "/p/u", "/p/w");
    assert_non_null(one_rw);
    /* characters the option syntax cannot carry, relative paths */
    cleanup_json json_t *bad = json_pack("[ss]", "/p/a,b", "/p/c");
    assert_null(ly_mount_opts(bad, NULL, NULL));
    cleanup_json json_t *colon = json_pack("[ss]", "/p/a:b", "/p/c");
    assert_null(ly_mount_opts(colon, NULL, NULL));
    cleanup_json json_t *rel = json_pack("[ss]", "p/a", "/p/c");
    assert_null(ly_mount_opts(rel, NULL, NULL));
    assert_null(ly_mount_opts(one, "/p/u\\x", "/p/w"));
    /* more than a page of options */
    cleanup_json json_t *many = json_array();
    for (int i = 0; i < 60; i++)
        json_array_append_new(many, json_sprintf("/a/very/long/pool/path/data/%064d.d/upper", i));
    assert_null(ly_mount_opts(many, NULL, NULL));
    cleanup_json json_t *zero = json_array();
    assert_null(ly_mount_opts(zero, "/u", "/w"));
}

static void test_mounts_under(void **state)
{
    (void)state;
    const char *mi = "22 1 254:0 / / rw - ext4 /dev/vda rw\n"
                     "47 22 0:39 / /r/data/a.d/fs rw,relatime - overlay overlay rw,lowerdir=x\n"
                     "48 22 0:40 / /r/data/a.d/fs/root/proc rw - proc proc rw\n"
                     "49 22 0:41 / /r/data/ab.d/fs rw - overlay overlay rw\n"
                     "50 22 0:42 / /r/data/a.d rw - tmpfs tmpfs rw\n"
                     "51 22 0:43 / /r/data/sp\\040ace.d/fs rw - overlay overlay rw";
    cleanup_json json_t *a = ly_mounts_under(mi, "/r/data/a.d");
    assert_int_equal(json_array_size(a), 3);
    assert_string_equal(json_string_value(json_array_get(a, 0)), "/r/data/a.d/fs/root/proc");
    assert_string_equal(json_string_value(json_array_get(a, 1)), "/r/data/a.d/fs");
    assert_string_equal(json_string_value(json_array_get(a, 2)), "/r/data/a.d");
    cleanup_json json_t *sp = ly_mounts_under(mi, "/r/data/sp ace.d");
    assert_int_equal(json_array_size(sp), 1);
    cleanup_json json_t *none = ly_mounts_under(mi, "/r/data/b.d");
    assert_int_equal(json_array_size(none), 0);
    cleanup_json json_t *empty = ly_mounts_under("", "/r");
    assert_int_equal(json_array_size(empty), 0);
}

static void test_parse_lowers(void **state)
{
    (void)state;
    cleanup_json json_t *l = ly_parse_lowers("s-p1.d/upper\ni-p2.d/fs\n");
    assert_int_equal(json_array_size(l), 2);
    assert_string_equal(json_string_value(json_array_get(l, 1)), "i-p2.d/fs");
    cleanup_json json_t *nonl = ly_parse_lowers("i.d/fs");
    assert_int_equal(json_array_size(nonl), 1);
    assert_null(ly_parse_lowers(""));
    assert_null(ly_parse_lowers("/abs/fs\n"));
    assert_null(ly_parse_lowers("../x.d/fs\n"));
    assert_null(ly_parse_lowers("a.d/fs\n\nb.d/fs\n"));
    assert_null(ly_parse_lowers("a,b.d/fs\n"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mount_opts),
        cmocka_unit_test(test_mounts_under),
        cmocka_unit_test(test_parse_lowers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
