/* common/cmd: real execution and the dry-run recorder. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/cmd.h"
#include "common/util.h"

static void test_real_true_false_echo(void **state)
{
    (void)state;
    vm_err err = VM_ERR_INIT;
    char *t[] = { "/bin/true", NULL };
    assert_int_equal(run_cmd(t, NULL, &err), 0);
    assert_false(vm_err_is_set(&err));

    char *f[] = { "/bin/false", NULL };
    assert_int_equal(run_cmd(f, NULL, &err), 1);
    assert_string_equal(err.msg, "/bin/false failed (exit 1): ");

    cleanup_free char *out = NULL;
    char *e[] = { "echo", "hello", "world", NULL };
    vm_err ok = VM_ERR_INIT;
    assert_int_equal(run_cmd(e, &out, &ok), 0);
    assert_string_equal(out, "hello world\n");
}

static void test_real_stderr_stdin_missing(void **state)
{
    (void)state;
    vm_err err = VM_ERR_INIT;
    char *sh[] = { "sh", "-c", "echo oops >&2; exit 3", NULL };
    assert_int_equal(run_cmd(sh, NULL, &err), 3);
    assert_string_equal(err.msg, "sh failed (exit 3): oops");

    cleanup_free char *out = NULL;
    char *cat[] = { "cat", NULL };
    vm_err ok = VM_ERR_INIT;
    assert_int_equal(run_cmd_input(cat, "a\nb", 3, &out, &ok), 0);
    assert_string_equal(out, "a\nb");

    char *none[] = { "/nonexistent/prog", NULL };
    vm_err e2 = VM_ERR_INIT;
    assert_int_equal(run_cmd(none, NULL, &e2), 127);
    assert_non_null(strstr(e2.msg, "cannot run /nonexistent/prog"));

    char *kill[] = { "sh", "-c", "kill -9 $$", NULL };
    vm_err e3 = VM_ERR_INIT;
    assert_int_equal(run_cmd(kill, NULL, &e3), -1);
    assert_string_equal(e3.msg, "sh killed by signal 9");
}

/* Canned answers: "ls" lists two names, "fail" exits 2, "touch" creates its
 * argument (a side effect), "real" runs for real; every call is counted. */
static void fake(char *const argv[], const char *in, size_t len, cmd_reply *r, void *opaque)
{
    (void)in;
    (void)len;
    (*(int *)opaque)++;
    if (!strcmp(argv[0], "ls")) {
        r->out = xstrdup("a\nb\n");
    } else if (!strcmp(argv[0], "fail")) {
        r->status = 2;
        r->errtext = xstrdup("no such thing\n");
    } else if (!strcmp(argv[0], "crash")) {
        r->signal = 11;
    } else if (!strcmp(argv[0], "touch")) {
        FILE *f = fopen(argv[1], "w");
        assert_non_null(f);
        fclose(f);
    } else if (!strcmp(argv[0], "echo")) {
        r->pass_through = true;
    }
}

static void test_dry_run(void **state)
{
    (void)state;
    int calls = 0;
    char tmp[] = "/tmp/cmdtest.XXXXXX";
    assert_non_null(mkdtemp(tmp));
    cleanup_free char *file = xasprintf("%s/made by touch", tmp);
    cmd_set_dry_run(fake, &calls);

    cleanup_free char *out = NULL;
    vm_err err = VM_ERR_INIT;
    char *ls[] = { "ls", "-l", "/some dir/it's", NULL };
    assert_int_equal(run_cmd(ls, &out, &err), 0);
    assert_string_equal(out, "a\nb\n");

    char *fail[] = { "fail", "x", NULL };
    assert_int_equal(run_cmd(fail, NULL, &err), 2);
    assert_string_equal(err.msg, "fail failed (exit 2): no such thing");

    char *crash[] = { "crash", NULL };
    vm_err e2 = VM_ERR_INIT;
    assert_int_equal(run_cmd(crash, NULL, &e2), -1);
    assert_string_equal(e2.msg, "crash killed by signal 11");

    char *touch[] = { "touch", file, NULL };
    vm_err e3 = VM_ERR_INIT;
    assert_int_equal(run_cmd(touch, NULL, &e3), 0);
    assert_int_equal(access(file, F_OK), 0);

    /* Not faked: recorded, succeeds, nothing runs. */
    char *rm[] = { "rm", "-rf", tmp, NULL };
    cleanup_free char *rmout = NULL;
    assert_int_equal(run_cmd(rm, &rmout, &e3), 0);
    assert_string_equal(rmout, "");
    assert_int_equal(access(file, F_OK), 0);

    cleanup_free char *echoed = NULL;
    char *echo[] = { "echo", "passed", "through", NULL };
    assert_int_equal(run_cmd(echo, &echoed, &e3), 0);
    assert_string_equal(echoed, "passed through\n");

    char *cat[] = { "cat", NULL };
    assert_int_equal(run_cmd_input(cat, "k=v\nx\t'y'", 9, NULL, &e3), 0);
    assert_int_equal(calls, 7);

    cleanup_free char *text = cmd_recorded_text();
    cleanup_free char *want = xasprintf("ls -l '/some dir/it'\\''s'\n"
                                        "fail x\n"
                                        "crash\n"
                                        "touch '%s'\n"
                                        "rm -rf %s\n"
                                        "echo passed through\n"
                                        "cat <<< $'k=v\\nx\\x09\\'y\\''\n",
                                        file, tmp);
    assert_string_equal(text, want);

    /* A new dry run starts an empty record; without fn all succeed. */
    cmd_set_dry_run(NULL, NULL);
    cleanup_free char *empty = cmd_recorded_text();
    assert_string_equal(empty, "");
    assert_int_equal(run_cmd(fail, NULL, &e3), 0);
    cmd_dry_run_end();
    cleanup_free char *after = cmd_recorded_text();
    assert_string_equal(after, "");

    /* Ended: commands execute again. */
    assert_int_equal(run_cmd(rm, NULL, &e3), 0);
    assert_int_not_equal(access(tmp, F_OK), 0);
}

static void test_quote(void **state)
{
    (void)state;
    const char *cases[][2] = {
        { "plain-word_1.2,a=b:c@d%e+/f", "plain-word_1.2,a=b:c@d%e+/f" },
        { "", "''" },
        { "a b", "'a b'" },
        { "$HOME", "'$HOME'" },
        { "it's", "'it'\\''s'" },
        { "a\nb", "$'a\\nb'" },
        { "\\", "'\\'" },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *q = cmd_shell_quote(cases[i][0], strlen(cases[i][0]));
        assert_string_equal(q, cases[i][1]);
        free(q);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_real_true_false_echo),
        cmocka_unit_test(test_real_stderr_stdin_missing),
        cmocka_unit_test(test_dry_run),
        cmocka_unit_test(test_quote),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
