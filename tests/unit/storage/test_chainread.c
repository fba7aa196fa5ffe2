/* lib/storage/chainread.h against the real qemu-img: a chain of three
 * qcow2 layers (data in each, zero writes that hide a lower layer's data,
 * unallocated ranges) reads back, extent by extent and across extents,
 * exactly as qemu-img convert reads it; its data extents are the
 * allocated ones; a chain with a compressed cluster is left to qemu
 * (qemu stores incompressible data plainly: the test's data compresses). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "common/util.h"
#include "storage/chainread.h"

static char dir[] = "/tmp/chainread.XXXXXX";

static int sh(const char *cmd)
{
    cleanup_free char *c = xasprintf("cd %s && %s", dir, cmd);
    int st = system(c);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static uint8_t *slurp(const char *name, size_t n)
{
    cleanup_free char *p = xasprintf("%s/%s", dir, name);
    FILE *f = fopen(p, "r");
    assert_non_null(f);
    uint8_t *b = xmalloc(n);
    assert_int_equal(fread(b, 1, n, f), n);
    fclose(f);
    return b;
}

static void test_chain(void **state)
{
    (void)state;
    const size_t size = 8u << 20;
    assert_int_equal(sh("qemu-img create -q -f qcow2 a.qcow2 8M && "
                        "qemu-io -f qcow2 -c 'write -P 1 0 2M' -c 'write -P 2 4M 1M' a.qcow2 >/dev/null && "
                        "qemu-img create -q -f qcow2 -b a.qcow2 -F qcow2 b.qcow2 && "
                        "qemu-io -f qcow2 -c 'write -P 3 1M 2M' -c 'write -z 4M 512k' b.qcow2 >/dev/null && "
                        "qemu-img create -q -f qcow2 -b b.qcow2 -F qcow2 c.qcow2 && "
                        "qemu-io -f qcow2 -c 'write -P 4 1536k 64k' -c 'write -P 5 7M 64k' c.qcow2 >/dev/null && "
                        "qemu-img convert -f qcow2 -O raw c.qcow2 c.raw"),
                     0);
    cleanup_free char *top = xasprintf("%s/c.qcow2", dir);
    vs_chainread *c = NULL;
    vm_err err = VM_ERR_INIT;
    assert_int_equal(vs_chainread_open(top, &c, &err), 1);
    cleanup_free uint8_t *want = slurp("c.raw", size);
    cleanup_free uint8_t *got = xcalloc(1, size);
    /* whole, then in odd pieces that straddle extents */
    assert_int_equal(vs_chainread_pread(c, got, size, 0, &err), 0);
    assert_memory_equal(got, want, size);
    memset(got, 0xee, size);
    for (size_t off = 0; off < size;) {
        size_t n = off + 77777 < size ? 77777 : size - off;
        assert_int_equal(vs_chainread_pread(c, got + off, n, off, &err), 0);
        off += n;
    }
    assert_memory_equal(got, want, size);
    assert_int_equal(vs_chainread_pread(c, got, 2, size - 1, &err), -1);
    /* data: [0, 3M) (layers a, b, c), [4.5M, 5M) (a), [7M, 7M+64k) (c) */
    cleanup_json json_t *d = vs_chainread_data(c);
    cleanup_json json_t *exp =
        json_pack("[{s:i,s:i},{s:i,s:i},{s:i,s:i}]", "offset", 0, "length", 3 << 20, "offset", (4 << 20) + (512 << 10),
                  "length", 512 << 10, "offset", 7 << 20, "length", 64 << 10);
    if (!json_equal(d, exp)) {
        cleanup_free char *s = json_dumps(d, JSON_COMPACT);
        fail_msg("data extents: %s", s);
    }
    vs_chainread_close(c);
}

static void test_compressed(void **state)
{
    (void)state;
    assert_int_equal(
        sh("yes compressible | head -c 1M > r.raw && qemu-img convert -q -c -f raw -O qcow2 r.raw z.qcow2"), 0);
    cleanup_free char *p = xasprintf("%s/z.qcow2", dir);
    vs_chainread *c = NULL;
    vm_err err = VM_ERR_INIT;
    assert_int_equal(vs_chainread_open(p, &c, &err), 0);
    assert_null(c);
    cleanup_free char *none = xasprintf("%s/none.qcow2", dir);
    assert_int_equal(vs_chainread_open(none, &c, &err), -1);
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    cleanup_free char *c = xasprintf("rm -rf %s", dir);
    return system(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = { cmocka_unit_test(test_chain), cmocka_unit_test(test_compressed) };
    return cmocka_run_group_tests(tests, setup, teardown);
}
