/* common/proc: the runtime directory files of runstate.h (boot, state,
 * lastexited, pid), their writers, and pidfd waits. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/proc.h"
#include "common/util.h"

static char dir[] = "/tmp/vmadm-test-proc.XXXXXX";

static void put(const char *name, const char *text)
{
    cleanup_free char *p = xasprintf("%s/%s", dir, name);
    if (!text) {
        unlink(p);
        return;
    }
    vm_err err = VM_ERR_INIT;
    assert_int_equal(vm_run_write(p, text, 0644, VM_RUN_FAST, &err), 0);
}

static char *get(const char *name)
{
    cleanup_free char *p = xasprintf("%s/%s", dir, name);
    return vm_run_read(p);
}

/* A pid that surely names no process: a reaped child's. */
static pid_t dead_pid(void)
{
    pid_t c = fork();
    assert_true(c >= 0);
    if (c == 0)
        _exit(0);
    waitpid(c, NULL, 0);
    return c;
}

static vm_runstate live(void)
{
    vm_runstate rs;
    vm_runstate_reset(&rs);
    vm_runstate_read_live(dir, 4242, &rs);
    return rs;
}

static void test_read_write(void **state)
{
    (void)state;
    put("f", "hello world \n\n");
    cleanup_free char *s = get("f");
    assert_string_equal(s, "hello world");
    put("f", NULL);
    assert_null(get("f"));

    /* Both modes replace the file whole, with the mode given. */
    cleanup_free char *p = xasprintf("%s/g", dir);
    vm_err err = VM_ERR_INIT;
    assert_int_equal(vm_run_write(p, "1\n", 0600, VM_RUN_SYNCED, &err), 0);
    assert_int_equal(vm_run_write(p, "22\n", 0600, VM_RUN_FAST, &err), 0);
    cleanup_free char *g = vm_run_read(p);
    assert_string_equal(g, "22");
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    unlink(p);

    cleanup_free char *bad = xasprintf("%s/nodir/x", dir);
    assert_int_equal(vm_run_write(bad, "x", 0644, VM_RUN_FAST, &err), -1);
    cleanup_free char *want = xasprintf("cannot write %s", bad);
    assert_true(str_has_prefix(err.msg, want));
}

static void test_pid(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        pid_t pid;
    } cases[] = {
        { "1234", 1234 },    { "2", 2 },
        { "1", 0 },          { "0", 0 },
        { "-5", 0 },         { "", 0 },
        { "12a", 0 },        { "1073741823", 1073741823 },
        { "1073741824", 0 }, { "99999999999999999999", 0 },
        { "garbage", 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pid_t pid = 0;
        assert_int_equal(vm_parse_pid(cases[i].text, &pid), cases[i].pid != 0);
        if (cases[i].pid)
            assert_int_equal(pid, cases[i].pid);
    }
    assert_false(vm_parse_pid(NULL, &(pid_t){ 0 }));
    put("pid", "4321\n");
    cleanup_free char *p = xasprintf("%s/pid", dir);
    assert_int_equal(vm_run_read_pid(p), 4321);
    put("pid", "4321 junk\n");
    assert_int_equal(vm_run_read_pid(p), 0);
    put("pid", NULL);
    assert_int_equal(vm_run_read_pid(p), 0);
}

static void test_live_boot_state(void **state)
{
    (void)state;
    put("boot", NULL);
    put("state", NULL);
    vm_runstate rs = live();
    assert_int_equal(rs.running, 1);
    assert_int_equal(rs.pid, 4242);
    assert_int_equal(rs.boot_ms, 0);
    assert_string_equal(rs.zone_state, "running");

    put("boot", "1700000000123\n");
    assert_int_equal(live().boot_ms, 1700000000123LL);
    put("boot", "soon\n");
    assert_int_equal(live().boot_ms, 0);

    /* The stopper (us) is alive: shutting_down. */
    vm_err err = VM_ERR_INIT;
    assert_int_equal(vm_runstate_write_stopping(dir, VM_RUN_FAST, &err), 0);
    cleanup_free char *st = get("state");
    cleanup_free char *want = xasprintf("shutting_down %ld", (long)getpid());
    assert_string_equal(st, want);
    assert_string_equal(live().zone_state, "shutting_down");

    /* A stop killed midway leaves a stale file behind. */
    cleanup_free char *stale = xasprintf("shutting_down %d\n", (int)dead_pid());
    put("state", stale);
    assert_string_equal(live().zone_state, "running");

    /* Without a (usable) stopper pid the file is believed. */
    put("state", "shutting_down\n");
    assert_string_equal(live().zone_state, "shutting_down");
    put("state", "shutting_down someone\n");
    assert_string_equal(live().zone_state, "shutting_down");

    /* Anything else is not a transition. */
    static const char *const garbage[] = { "", "running\n", "shutting_downs 1\n", "Shutting_down\n", "\x01\xff" };
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
        put("state", garbage[i]);
        assert_string_equal(live().zone_state, "running");
    }
    put("state", NULL);
    put("boot", NULL);
}

static void test_lastexited(void **state)
{
    (void)state;
    vm_runstate rs;
    put("lastexited", NULL);
    vm_runstate_reset(&rs);
    vm_runstate_read_exit(dir, &rs);
    assert_int_equal(rs.has_exit, 0);
    assert_int_equal(rs.running, 0);
    assert_string_equal(rs.zone_state, "installed");

    put("lastexited", "1700000000 -9\n");
    vm_runstate_read_exit(dir, &rs);
    assert_int_equal(rs.has_exit, 1);
    assert_int_equal(rs.exit_status, -9);
    assert_int_equal(rs.exit_ms, 1700000000000LL);

    static const char *const garbage[] = { "", "1700000000\n", "soon 0\n", "\n\n" };
    for (size_t i = 0; i < sizeof garbage / sizeof garbage[0]; i++) {
        put("lastexited", garbage[i]);
        vm_runstate_reset(&rs);
        vm_runstate_read_exit(dir, &rs);
        assert_int_equal(rs.has_exit, 0);
    }

    /* The writer's format round-trips. */
    vm_err err = VM_ERR_INIT;
    int64_t before = now_ms() / 1000;
    assert_int_equal(vm_runstate_write_exit(dir, 3, &err), 0);
    cleanup_free char *le = get("lastexited");
    long long secs;
    int status;
    assert_int_equal(sscanf(le, "%lld %d", &secs, &status), 2);
    assert_true(secs >= before && secs <= now_ms() / 1000);
    assert_int_equal(status, 3);
    vm_runstate_reset(&rs);
    vm_runstate_read_exit(dir, &rs);
    assert_int_equal(rs.exit_status, 3);
    assert_int_equal(rs.exit_ms, secs * 1000);
    put("lastexited", NULL);
}

static void test_pidfd(void **state)
{
    (void)state;
    pid_t c = fork();
    assert_true(c >= 0);
    if (c == 0) {
        pause();
        _exit(0);
    }
    int fd = vm_pidfd_open(c);
    assert_true(fd >= 0);
    assert_int_equal(vm_pidfd_wait(fd, 0), 0);
    assert_int_equal(vm_pidfd_wait(fd, 20), 0);
    assert_int_equal(vm_pidfd_signal(fd, SIGKILL), 0);
    assert_int_equal(vm_pidfd_wait(fd, 5000), 1);
    waitpid(c, NULL, 0);
    assert_int_equal(vm_pidfd_signal(fd, SIGKILL), -1);
    close(fd);
    assert_true(vm_pidfd_open(dead_pid()) < 0);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    vm_err err = VM_ERR_INIT;
    return rm_rf(dir, &err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_write), cmocka_unit_test(test_pid),   cmocka_unit_test(test_live_boot_state),
        cmocka_unit_test(test_lastexited), cmocka_unit_test(test_pidfd),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
