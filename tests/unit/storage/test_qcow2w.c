/* lib/storage/qcow2w.h against the real qemu-img: the images it writes
 * pass `qemu-img check` (no error, no leak) and read back, through qemu,
 * as the bytes written over the backing file's (qemu-img compare with a
 * raw file built here); files it must not take are left alone; a writer
 * stopped between syncs leaves a consistent image of the last sync. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "storage/qcow2w.h"

static char dir[] = "/tmp/qcow2w.XXXXXX";

static int sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int sh(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *cmd = NULL;
    assert_true(vasprintf(&cmd, fmt, ap) >= 0);
    va_end(ap);
    int st = system(cmd);
    free(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        p[i] = (uint8_t)(seed >> 16);
    }
}

/* Applies a write to the reference raw file too. */
static void both(vs_qcow2w *q, int ref, uint64_t off, const uint8_t *p, size_t n)
{
    vm_err err = VM_ERR_INIT;
    assert_int_equal(vs_qcow2w_write(q, off, p, n, &err), 0);
    assert_int_equal(pwrite(ref, p, n, (off_t)off), (ssize_t)n);
}

static void check_image(const char *img, const char *ref, bool leaks_ok)
{
    int rc = sh("qemu-img check -q %s/%s", dir, img);
    if (leaks_ok)
        assert_true(rc == 0 || rc == 3); /* 3: leaked clusters only */
    else
        assert_int_equal(rc, 0);
    assert_int_equal(sh("qemu-img compare -q -f qcow2 -F raw %s/%s %s/%s", dir, img, dir, ref), 0);
}

/* An overlay over a qcow2 base: data runs, a rewrite, zero clusters that
 * hide the base, a volume end inside a cluster. */
static void run_overlay(unsigned cbits, uint64_t volsize)
{
    uint64_t cs = 1ULL << cbits;
    assert_int_equal(sh("cd %s && rm -f base.raw base.qcow2 top.qcow2 ref.raw && "
                        "head -c %llu /dev/urandom > base.raw && "
                        "qemu-img convert -q -f raw -O qcow2 -o cluster_size=%llu base.raw base.qcow2 && "
                        "qemu-img create -q -f qcow2 -o lazy_refcounts=off,cluster_size=%llu -u -b base.qcow2 "
                        "-F qcow2 top.qcow2 %llu && cp base.raw ref.raw",
                        dir, (unsigned long long)volsize, (unsigned long long)cs, (unsigned long long)cs,
                        (unsigned long long)volsize),
                     0);
    cleanup_free char *top = xasprintf("%s/top.qcow2", dir);
    cleanup_free char *refp = xasprintf("%s/ref.raw", dir);
    cleanup_close int ref = open(refp, O_RDWR);
    vs_qcow2w *q = NULL;
    vm_err err = VM_ERR_INIT;
    assert_int_equal(vs_qcow2w_open(top, volsize, &q, &err), 1);
    size_t big = 9u << 20;
    uint8_t *buf = xmalloc(big);
    fill(buf, big, cbits);
    /* not whole clusters: refused, nothing changed */
    assert_false(vs_qcow2w_fits(q, 512, cs));
    assert_false(vs_qcow2w_fits(q, 0, cs + 1));
    assert_int_equal(vs_qcow2w_write(q, cs / 2, buf, cs, &err), -1);
    assert_int_equal(err.code, VMERR_INVALID);
    vm_err_clear(&err);
    both(q, ref, 0, buf, big); /* crosses stages, L2 tables, refcount blocks */
    both(q, ref, 8u << 20, buf + 7 * cs, 3 * cs);
    uint8_t *zero = xcalloc(1, 2 * cs);
    both(q, ref, 12u << 20, zero, 2 * cs); /* hides the base's bytes */
    assert_int_equal(vs_qcow2w_sync(q, &err), 0);
    both(q, ref, cs, buf + 9 * cs, 2 * cs); /* rewrites in place, after a sync */
    both(q, ref, 2 * cs, zero, cs); /* zeros over written data */
    /* the end of the volume, inside a cluster */
    uint64_t last = (volsize - 1) & ~(cs - 1);
    both(q, ref, last, buf + 3, (size_t)(volsize - last));
    assert_int_equal(vs_qcow2w_close(q, true, &err), 0);
    free(zero);
    free(buf);
    check_image("top.qcow2", "ref.raw", false);
}

static void test_overlay_64k(void **state)
{
    (void)state;
    run_overlay(16, (32u << 20) + 4096);
}

static void test_overlay_4k(void **state)
{
    (void)state;
    /* 4 KiB clusters: an L2 table maps 2 MiB, a refcount block counts
     * 8 MiB of file — many of each */
    run_overlay(12, (24u << 20) + 4096);
}

static void test_full_volume(void **state)
{
    (void)state;
    assert_int_equal(sh("cd %s && rm -f v.qcow2 v.raw && qemu-img create -q -f qcow2 -o lazy_refcounts=off "
                        "v.qcow2 64M && truncate -s 64M v.raw",
                        dir),
                     0);
    cleanup_free char *img = xasprintf("%s/v.qcow2", dir);
    cleanup_free char *refp = xasprintf("%s/v.raw", dir);
    cleanup_close int ref = open(refp, O_RDWR);
    vs_qcow2w *q = NULL;
    vm_err err = VM_ERR_INIT;
    assert_int_equal(vs_qcow2w_open(img, 64u << 20, &q, &err), 1);
    uint8_t *buf = xmalloc(1u << 20);
    fill(buf, 1u << 20, 7);
    both(q, ref, 60u << 20, buf, 1u << 20); /* out of order */
    both(q, ref, 0, buf, 1u << 20);
    assert_int_equal(vs_qcow2w_close(q, true, &err), 0);
    free(buf);
    check_image("v.qcow2", "v.raw", false);
    /* only the data's clusters were added: 2 MiB and the tables */
    struct stat st;
    assert_int_equal(stat(img, &st), 0);
    assert_true(st.st_size < (3 << 20));
}

static void test_refuses(void **state)
{
    (void)state;
    vs_qcow2w *q = NULL;
    vm_err err = VM_ERR_INIT;
    cleanup_free char *p = xasprintf("%s/r.qcow2", dir);
    /* data already there */
    assert_int_equal(sh("cd %s && rm -f r.qcow2 && qemu-img create -q -f qcow2 r.qcow2 4M && "
                        "qemu-io -f qcow2 -c 'write 1M 64k' r.qcow2 >/dev/null",
                        dir),
                     0);
    assert_int_equal(vs_qcow2w_open(p, 4u << 20, &q, &err), 0);
    /* lazy refcounts, version 2, a size that is not the volume's, raw */
    assert_int_equal(sh("cd %s && rm -f r.qcow2 && qemu-img create -q -f qcow2 -o lazy_refcounts=on r.qcow2 4M", dir),
                     0);
    assert_int_equal(vs_qcow2w_open(p, 4u << 20, &q, &err), 0);
    assert_int_equal(sh("cd %s && rm -f r.qcow2 && qemu-img create -q -f qcow2 -o compat=0.10 r.qcow2 4M", dir), 0);
    assert_int_equal(vs_qcow2w_open(p, 4u << 20, &q, &err), 0);
    assert_int_equal(sh("cd %s && rm -f r.qcow2 && qemu-img create -q -f qcow2 r.qcow2 4M", dir), 0);
    assert_int_equal(vs_qcow2w_open(p, 8u << 20, &q, &err), 0);
    assert_int_equal(sh("cd %s && rm -f r.qcow2 && truncate -s 4M r.qcow2", dir), 0);
    assert_int_equal(vs_qcow2w_open(p, 4u << 20, &q, &err), 0);
    assert_null(q);
    /* untouched: still a plain file of zeros */
    assert_int_equal(sh("cmp -s -n 4194304 %s /dev/zero", p), 0);
    cleanup_free char *none = xasprintf("%s/none.qcow2", dir);
    assert_int_equal(vs_qcow2w_open(none, 4u << 20, &q, &err), -1);
}

/* A writer that stops between syncs (killed, or abandoned after an
 * error) leaves the image of its last sync. */
static void test_abandoned(void **state)
{
    (void)state;
    assert_int_equal(sh("cd %s && rm -f a.qcow2 a.raw && qemu-img create -q -f qcow2 -o lazy_refcounts=off "
                        "a.qcow2 16M && truncate -s 16M a.raw",
                        dir),
                     0);
    cleanup_free char *img = xasprintf("%s/a.qcow2", dir);
    cleanup_free char *refp = xasprintf("%s/a.raw", dir);
    cleanup_close int ref = open(refp, O_RDWR);
    vs_qcow2w *q = NULL;
    vm_err err = VM_ERR_INIT;
    assert_int_equal(vs_qcow2w_open(img, 16u << 20, &q, &err), 1);
    uint8_t *buf = xmalloc(4u << 20);
    fill(buf, 4u << 20, 3);
    both(q, ref, 0, buf, 2u << 20);
    assert_int_equal(vs_qcow2w_sync(q, &err), 0);
    /* after the sync: not in the image */
    assert_int_equal(vs_qcow2w_write(q, 8u << 20, buf, 4u << 20, &err), 0);
    assert_int_equal(vs_qcow2w_close(q, false, &err), 0);
    free(buf);
    check_image("a.qcow2", "a.raw", true);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    return sh("rm -rf %s", dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_overlay_64k), cmocka_unit_test(test_overlay_4k), cmocka_unit_test(test_full_volume),
        cmocka_unit_test(test_refuses),     cmocka_unit_test(test_abandoned),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
