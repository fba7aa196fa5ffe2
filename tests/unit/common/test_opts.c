/* common/opts: getopt-style bundles, values from the word or the next
 * word, `--`, long options, permute and POSIX modes, and the errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "common/opts.h"

/* Parses words (argv[0] = "verb") and renders "opt[=value] ... | pos ..."
 * into out: every option, then the positionals. */
static int run(const char *spec, int flags, const char *const *words, char *out, size_t n)
{
    static const vm_longopt longs[] = { { "shrink", false, 'S' }, { "vmobj", true, 'V' }, { NULL, false, 0 } };
    char *argv[32];
    int argc = 0;
    argv[argc++] = (char *)"verb";
    for (; *words; words++)
        argv[argc++] = (char *)*words;
    argv[argc] = NULL;
    vm_opts o;
    int c;
    size_t l = 0;
    out[0] = '\0';
    vm_opts_init(&o, argc, argv, spec, longs, flags);
    while ((c = vm_opts_next(&o)) != -1) {
        if (c == '?' || c == ':') {
            vm_opts_error(&o, c, out, n);
            return c;
        }
        l += (size_t)snprintf(out + l, n - l, "%c%s%s ", c, o.arg ? "=" : "", o.arg ? o.arg : "");
    }
    l += (size_t)snprintf(out + l, n - l, "|");
    for (int i = 0; i < o.npos; i++)
        l += (size_t)snprintf(out + l, n - l, " %s", o.pos[i]);
    assert_null(o.pos[o.npos]);
    return 0;
}

#define CHECK(spec, flags, want, ...) \
    do { \
        const char *const w[] = { __VA_ARGS__, NULL }; \
        char out[256]; \
        run(spec, flags, w, out, sizeof out); \
        assert_string_equal(out, want); \
    } while (0)

static void test_bundles(void **state)
{
    (void)state;
    CHECK("pHho:s:", 0, "H o=uuid | alias=x", "-Ho", "uuid", "alias=x");
    CHECK("pHho:s:", 0, "H p o=uuid,ram |", "-Hpo", "uuid,ram");
    CHECK("pHho:s:", 0, "H o=uuid |", "-Houuid");
    CHECK("j1o:", 0, "1 j |", "-1j");
    CHECK("pHho:s:", 0, "s=-ram |", "-s", "-ram");
}

static void test_permute_and_end(void **state)
{
    (void)state;
    CHECK("Ft:", 0, "F t=5 | u", "u", "-F", "-t", "5");
    CHECK("Ft:", 0, "F | u -t 5 -", "-F", "u", "--", "-t", "5", "-");
    CHECK("r", VM_OPTS_POSIX, "r | a -r", "-r", "a", "-r");
    CHECK("", VM_OPTS_POSIX, "| uuid ls -l", "uuid", "ls", "-l");
}

static void test_long(void **state)
{
    (void)state;
    CHECK("", 0, "S V=x V=y | a", "--shrink", "--vmobj=x", "a", "--vmobj", "y");
}

static void test_errors(void **state)
{
    (void)state;
    CHECK("pH", 0, "invalid option 'Z'", "-HZ");
    CHECK("o:", 0, "missing argument for 'o' option", "-o");
    CHECK("", 0, "unrecognized option '--bogus'", "--bogus=1");
    CHECK("", 0, "missing argument for '--vmobj' option", "--vmobj");
    CHECK("", 0, "unrecognized option '--shrink'", "--shrink=1");
}

static void test_word_start(void **state)
{
    (void)state;
    char *argv[] = { (char *)"kill", (char *)"-KILL", (char *)"-sHUP", (char *)"u", NULL };
    vm_opts o;
    vm_opts_init(&o, 4, argv, "s:", NULL, 0);
    assert_int_equal(vm_opts_next(&o), '?');
    assert_true(o.word_start);
    assert_string_equal(o.word, "-KILL");
    vm_opts_skip_word(&o);
    assert_int_equal(vm_opts_next(&o), 's');
    assert_string_equal(o.arg, "HUP");
    assert_int_equal(vm_opts_next(&o), -1);
    assert_int_equal(o.npos, 1);
    assert_string_equal(o.pos[0], "u");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bundles), cmocka_unit_test(test_permute_and_end), cmocka_unit_test(test_long),
        cmocka_unit_test(test_errors),  cmocka_unit_test(test_word_start),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
