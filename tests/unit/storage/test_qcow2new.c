/* lib/storage/qcow2new.h against qemu-img itself: for volume sizes at and
 * around the L1 table's steps, with and without a backing file, the file
 * vs_qcow2_new writes has the same bytes (and length, and allocated
 * blocks) as the
 * one `qemu-img create` writes, and `qemu-img check` passes on it; the
 * cases it does not take are left to qemu-img, untouched. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "storage/qcow2new.h"

static char dir[] = "/tmp/qcow2new.XXXXXX";

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    char cmd[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    return system(cmd);
}

static uint8_t *slurp(const char *path, size_t *n)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    uint8_t *b = xmalloc((size_t)st.st_size + 1);
    assert_int_equal(pread(fd, b, (size_t)st.st_size, 0), st.st_size);
    close(fd);
    *n = (size_t)st.st_size;
    return b;
}

static void same_as_qemu(uint64_t size, const char *backing)
{
    char ours[256], theirs[256];
    snprintf(ours, sizeof ours, "%s/ours.qcow2", dir);
    snprintf(theirs, sizeof theirs, "%s/theirs.qcow2", dir);
    unlink(ours);
    unlink(theirs);
    vm_err err = VM_ERR_INIT;
    assert_int_equal(vs_qcow2_new(ours, size, backing, &err), 1);
    if (backing)
        assert_int_equal(sh("qemu-img create -q -f qcow2 -o lazy_refcounts=off -u -b '%s' -F qcow2 %s %llu", backing,
                            theirs, (unsigned long long)size),
                         0);
    else
        assert_int_equal(
            sh("qemu-img create -q -f qcow2 -o lazy_refcounts=off %s %llu", theirs, (unsigned long long)size), 0);
    size_t a, b;
    uint8_t *x = slurp(ours, &a), *y = slurp(theirs, &b);
    if (a != b)
        fail_msg("size %llu backing %s: %zu bytes, qemu-img's %zu", (unsigned long long)size, backing ? backing : "-",
                 a, b);
    for (size_t i = 0; i < a; i++)
        if (x[i] != y[i])
            fail_msg("size %llu backing %s: byte %zu is %#x, qemu-img's %#x", (unsigned long long)size,
                     backing ? backing : "-", i, x[i], y[i]);
    free(x);
    free(y);
    /* and the same blocks allocated (a header update on a full disk
     * rewrites the header cluster in place) */
    struct stat so, st;
    assert_int_equal(stat(ours, &so), 0);
    assert_int_equal(stat(theirs, &st), 0);
    if (so.st_blocks != st.st_blocks)
        fail_msg("size %llu: %lld blocks allocated, qemu-img's %lld", (unsigned long long)size, (long long)so.st_blocks,
                 (long long)st.st_blocks);
    /* a consistent image (the backing file need not exist: -U, no chain) */
    assert_int_equal(sh("cd %s && qemu-img check -q -U 'json:{\"driver\":\"qcow2\",\"file\":{\"driver\":"
                        "\"file\",\"filename\":\"ours.qcow2\"},\"backing\":null}'",
                        dir),
                     0);
    /* an existing file is not overwritten */
    assert_int_equal(vs_qcow2_new(ours, size, backing, &err), -1);
}

static void test_same_bytes_as_qemu_img(void **state)
{
    (void)state;
    const uint64_t MiB = 1 << 20, GiB = 1 << 30;
    const uint64_t sizes[] = { 0,
                               512,
                               65536,
                               1 * MiB,
                               512 * MiB - 512,
                               512 * MiB,
                               512 * MiB + 512,
                               1 * GiB,
                               10 * GiB + 4096,
                               100 * GiB,
                               2048 * GiB,
                               4096 * GiB - 512,
                               4096 * GiB };
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        same_as_qemu(sizes[i], NULL);
        same_as_qemu(sizes[i], "6f1e0d2c3b4a5968-p123.qcow2");
    }
    char name[1024];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    same_as_qemu(GiB, name);
    same_as_qemu(GiB, "../data/x y.qcow2");
}

static void test_cases_left_to_qemu_img(void **state)
{
    (void)state;
    char p[256];
    snprintf(p, sizeof p, "%s/left.qcow2", dir);
    vm_err err = VM_ERR_INIT;
    char name[1100];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    assert_int_equal(vs_qcow2_new(p, 1000, NULL, &err), 0); /* not whole sectors */
    assert_int_equal(vs_qcow2_new(p, 4096ULL << 30 | 512, NULL, &err), 0); /* L1 over a cluster */
    assert_int_equal(vs_qcow2_new(p, 1 << 20, name, &err), 0);
    assert_int_equal(vs_qcow2_new(p, 1 << 20, "", &err), 0);
    assert_int_equal(access(p, F_OK), -1);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return sh("rm -rf %s", dir) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_bytes_as_qemu_img),
        cmocka_unit_test(test_cases_left_to_qemu_img),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
