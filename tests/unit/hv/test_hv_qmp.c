/* QMP framing: canned QEMU output fed through a socketpair. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "hv/qmp.h"

#define GREETING \
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, " \
    "\"package\": \"\"}, \"capabilities\": [\"oob\"]}}\r\n"
#define OK "{\"return\": {}}\r\n"

static int sp[2];

static int setup(void **state)
{
    (void)state;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (sp[1] >= 0)
        close(sp[1]);
    return 0;
}

static void put(const char *s)
{
    assert_int_equal(write(sp[1], s, strlen(s)), (ssize_t)strlen(s));
}

/* Everything the client has sent so far. */
static char *sent(void)
{
    static char buf[4096];
    ssize_t n = recv(sp[1], buf, sizeof buf - 1, MSG_DONTWAIT);
    buf[n > 0 ? n : 0] = '\0';
    return buf;
}

static void test_handshake_and_exec(void **state)
{
    (void)state;
    qmp_conn c = QMP_CONN_INIT;
    vm_err err = VM_ERR_INIT;
    put(GREETING OK);
    assert_int_equal(qmp_attach_fd(&c, sp[0], 1000, &err), 0);
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(json_object_get(c.greeting, "version"), "qemu"), "major")),
        7);
    assert_string_equal(sent(), "{\"execute\":\"qmp_capabilities\"}\n");

    /* An event arrives before the reply: kept, and the reply still found. */
    put("{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": \"STOP\"}\r\n"
        "{\"return\": {\"status\": \"running\", \"singlestep\": false, \"running\": true}}\r\n");
    json_t *ret = NULL;
    assert_int_equal(qmp_exec(&c, "query-status", NULL, &ret, &err), 0);
    assert_string_equal(json_string_value(json_object_get(ret, "status")), "running");
    json_decref(ret);
    assert_true(qmp_saw_event(&c, "STOP"));
    assert_false(qmp_saw_event(&c, "SHUTDOWN"));
    assert_string_equal(sent(), "{\"execute\":\"query-status\"}\n");

    /* Arguments are passed through. */
    put(OK);
    json_t *args = json_pack("{s:s,s:I}", "device", "disk1", "size", (json_int_t)268435456);
    assert_int_equal(qmp_exec(&c, "block_resize", args, NULL, &err), 0);
    json_decref(args);
    assert_string_equal(sent(),
                        "{\"execute\":\"block_resize\",\"arguments\":{\"device\":\"disk1\",\"size\":268435456}}\n");
    qmp_close(&c);
}

static void test_error_reply(void **state)
{
    (void)state;
    qmp_conn c = QMP_CONN_INIT;
    vm_err err = VM_ERR_INIT;
    put(GREETING OK "{\"error\": {\"class\": \"GenericError\", \"desc\": \"Device 'disk9' not found\"}}\r\n");
    assert_int_equal(qmp_attach_fd(&c, sp[0], 1000, &err), 0);
    assert_int_equal(qmp_exec(&c, "block_resize", NULL, NULL, &err), -1);
    assert_string_equal(err.msg, "QMP block_resize: Device 'disk9' not found");
    qmp_close(&c);
}

/* A writer that dribbles the canned output in odd-sized pieces, so lines
 * arrive split across reads. */
static void test_split_lines(void **state)
{
    (void)state;
    const char *script =
        GREETING OK "{\"event\": \"POWERDOWN\", \"timestamp\": {\"seconds\": 1, \"microseconds\": 0}}\r\n"
                    "\r\n"
                    "{\"return\": [{\"bus\": 0, \"devices\": []}]}\r\n";
    pid_t pid = fork();
    if (pid == 0) {
        size_t n = strlen(script);
        for (size_t i = 0; i < n; i += 7) {
            size_t k = n - i < 7 ? n - i : 7;
            if (write(sp[1], script + i, k) < 0)
                _exit(1);
            struct timespec ts = { 0, 200000 };
            nanosleep(&ts, NULL);
        }
        _exit(0);
    }
    qmp_conn c = QMP_CONN_INIT;
    vm_err err = VM_ERR_INIT;
    assert_int_equal(qmp_attach_fd(&c, sp[0], 5000, &err), 0);
    json_t *ret = NULL;
    assert_int_equal(qmp_exec(&c, "query-pci", NULL, &ret, &err), 0);
    assert_true(json_is_array(ret));
    json_decref(ret);
    assert_true(qmp_saw_event(&c, "POWERDOWN"));
    waitpid(pid, NULL, 0);
    qmp_close(&c);
}

static void test_closed_and_timeout(void **state)
{
    (void)state;
    qmp_conn c = QMP_CONN_INIT;
    vm_err err = VM_ERR_INIT;
    put(GREETING OK);
    assert_int_equal(qmp_attach_fd(&c, sp[0], 200, &err), 0);
    /* No reply at all: timeout. */
    assert_int_equal(qmp_exec(&c, "query-status", NULL, NULL, &err), -1);
    assert_int_equal(err.code, VMERR_TIMEOUT);
    vm_err_clear(&err);
    /* QEMU going away mid-command (e.g. after "quit"). */
    close(sp[1]);
    sp[1] = -1;
    assert_int_equal(qmp_exec(&c, "quit", NULL, NULL, &err), -1);
    assert_int_equal(err.code, VMERR_IO);
    assert_non_null(strstr(err.msg, "QMP quit: "));
    qmp_close(&c);
}

static void test_malformed(void **state)
{
    (void)state;
    qmp_conn c = QMP_CONN_INIT;
    vm_err err = VM_ERR_INIT;
    put("this is not json\r\n");
    assert_int_equal(qmp_attach_fd(&c, sp[0], 1000, &err), -1);
    assert_non_null(strstr(err.msg, "malformed message: this is not json"));
    qmp_close(&c);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_handshake_and_exec, setup, teardown),
        cmocka_unit_test_setup_teardown(test_error_reply, setup, teardown),
        cmocka_unit_test_setup_teardown(test_split_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_closed_and_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
