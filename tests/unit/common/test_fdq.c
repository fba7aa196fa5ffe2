/* lib/common/fdq.h over a real pipe: bytes arrive in order through a
 * write-behind writer and a read-ahead reader (more than their rings
 * hold, in odd sizes), the end of input is a short read, a writer whose
 * reader went away reports EPIPE, and closing a reader that waits for
 * input returns at once. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/fdq.h"
#include "common/util.h"

#define TOTAL ((size_t)40 << 20) /* more than a ring */

static uint8_t byte_at(size_t i)
{
    return (uint8_t)(i * 2654435761u >> 11);
}

static void *produce(void *arg)
{
    int fd = *(int *)arg;
    vs_fdq *q = vs_fdq_writer(fd);
    assert_non_null(q);
    uint8_t *buf = xmalloc(300000);
    for (size_t at = 0; at < TOTAL;) {
        size_t n = TOTAL - at < 299999 ? TOTAL - at : 299999;
        for (size_t k = 0; k < n; k++)
            buf[k] = byte_at(at + k);
        assert_int_equal(vs_fdq_write(q, buf, n), (ssize_t)n);
        at += n;
    }
    free(buf);
    assert_int_equal(vs_fdq_close(q), 0);
    close(fd);
    return NULL;
}

static void test_round_trip(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, produce, &p[1]), 0);
    vs_fdq *q = vs_fdq_reader(p[0]);
    assert_non_null(q);
    uint8_t *buf = xmalloc(1 << 20);
    size_t at = 0;
    for (;;) {
        size_t want = 77777 + at % 1000;
        ssize_t n = vs_fdq_read(q, buf, want);
        assert_true(n >= 0);
        for (ssize_t k = 0; k < n; k++)
            if (buf[k] != byte_at(at + (size_t)k))
                fail_msg("byte %zu differs", at + (size_t)k);
        at += (size_t)n;
        if ((size_t)n < want)
            break; /* the end */
    }
    assert_int_equal(at, TOTAL);
    assert_int_equal(vs_fdq_read(q, buf, 10), 0);
    pthread_join(t, NULL);
    assert_int_equal(vs_fdq_close(q), 0);
    close(p[0]);
    free(buf);
}

static void test_reader_gone(void **state)
{
    (void)state;
    signal(SIGPIPE, SIG_IGN);
    int p[2];
    assert_int_equal(pipe(p), 0);
    close(p[0]);
    vs_fdq *q = vs_fdq_writer(p[1]);
    uint8_t buf[4096] = { 0 };
    ssize_t r = 0;
    for (int i = 0; i < 10000 && r >= 0; i++)
        r = vs_fdq_write(q, buf, sizeof buf);
    /* reported by a later write, or at the latest by close */
    if (r >= 0) {
        assert_int_equal(vs_fdq_close(q), -1);
    } else {
        assert_int_equal(errno, EPIPE);
        assert_int_equal(vs_fdq_close(q), -1);
    }
    assert_int_equal(errno, EPIPE);
    close(p[1]);
}

static void test_close_waiting_reader(void **state)
{
    (void)state;
    int p[2];
    assert_int_equal(pipe(p), 0);
    vs_fdq *q = vs_fdq_reader(p[0]);
    assert_int_equal(write(p[1], "abc", 3), 3);
    char b[3];
    assert_int_equal(vs_fdq_read(q, b, 3), 3);
    assert_memory_equal(b, "abc", 3);
    /* the thread now waits for input that never comes */
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    assert_int_equal(vs_fdq_close(q), 0);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(t1.tv_sec - t0.tv_sec < 5);
    close(p[0]);
    close(p[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_reader_gone),
        cmocka_unit_test(test_close_waiting_reader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
