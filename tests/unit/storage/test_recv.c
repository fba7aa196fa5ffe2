/* A volume receive's two paths (send.c): whole-cluster records go
 * straight into the new layer (qcow2w.h), and a record that is not whole
 * clusters hands the rest of the object to qemu-nbd from a consistent
 * image.  Streams are built here with the codec; what was received is
 * read back through qemu (qemu-img convert of the snapshot's chain) and
 * checked with qemu-img check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "common/util.h"
#include "storage/storage.h"
#include "storage/stream.h"

#define VOLSIZE (4u << 20)

typedef struct membuf {
    uint8_t *p;
    size_t len, cap, pos;
} membuf;

static ssize_t mem_write(void *arg, const void *buf, size_t len)
{
    membuf *m = arg;
    if (m->len + len > m->cap) {
        m->cap = (m->len + len) * 2;
        m->p = xrealloc(m->p, m->cap);
    }
    memcpy(m->p + m->len, buf, len);
    m->len += len;
    return (ssize_t)len;
}

static ssize_t mem_read(void *arg, void *buf, size_t len)
{
    membuf *m = arg;
    size_t n = m->len - m->pos < len ? m->len - m->pos : len;
    memcpy(buf, m->p + m->pos, n);
    m->pos += n;
    return (ssize_t)n;
}

typedef struct piece {
    uint64_t off;
    size_t len;
    int fill; /* byte value; -1: pseudo-random */
} piece;

/* A full stream of one volume object with these pieces. */
static void build(membuf *m, const piece *ps, size_t n, uint8_t *expect)
{
    vm_err err = VM_ERR_INIT;
    vs_stream_writer *w = NULL;
    cleanup_json json_t *hdr = json_pack("{s:s, s:s}", "kind", "vmstore", "pool", "zones");
    assert_int_equal(vs_stream_writer_open(mem_write, m, hdr, &w, &err), 0);
    cleanup_json json_t *desc =
        json_pack("{s:s, s:s, s:s, s:I, s:I, s:s}", "kind", "volume", "name", "zones/src", "snapshot", "s", "volsize",
                  (json_int_t)VOLSIZE, "size", (json_int_t)VOLSIZE, "guid", "1234");
    uint32_t id;
    assert_int_equal(vs_stream_object(w, desc, &id, &err), 0);
    for (size_t i = 0; i < n; i++) {
        uint8_t *b = expect + ps[i].off;
        for (size_t k = 0; k < ps[i].len; k++)
            b[k] = ps[i].fill >= 0 ? (uint8_t)ps[i].fill : (uint8_t)((ps[i].off + k) * 2654435761u >> 13);
        assert_int_equal(vs_stream_data(w, ps[i].off, b, ps[i].len, &err), 0);
    }
    assert_int_equal(vs_stream_object_end(w, &err), 0);
    assert_int_equal(vs_stream_writer_finish(w, NULL, &err), 0);
    vs_stream_writer_free(w);
}

static int run(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* zero_at: an offset the direct path must have given the zero flag
 * (qemu-nbd would have written the zeros as data); 0: none. */
static void receive_and_check(const piece *ps, size_t n, uint64_t zero_at)
{
    char root[] = "/tmp/vsrecv.XXXXXX";
    assert_non_null(mkdtemp(root));
    setenv("VMADM_ROOT", root, 1);
    unsetenv("VMADM_POOL");
    vm_ctx ctx;
    vs_pool *pool = NULL;
    vm_err err = VM_ERR_INIT;
    assert_int_equal(vm_ctx_init(&ctx, &err), 0);
    assert_int_equal(vs_pool_open(&ctx, NULL, &pool, &err), 0);
    membuf m = { 0 };
    uint8_t *expect = xcalloc(1, VOLSIZE);
    build(&m, ps, n, expect);
    vs_stream_reader *r = NULL;
    json_t *hdr;
    assert_int_equal(vs_stream_reader_open(mem_read, &m, &r, &hdr, &err), 0);
    vs_stream_rec rec;
    assert_int_equal(vs_stream_next(r, &rec, &err), 1);
    if (vs_receive(pool, "zones/dst", r, rec.json, VS_RECV_LAST, &err) < 0)
        fail_msg("receive: %s", err.msg);
    vs_stream_reader_free(r);
    /* the received layer (the snapshot's) and the chain's bytes */
    cleanup_free char *path = NULL;
    assert_int_equal(vs_vol_path(pool, "zones/dst", &path, &err), 0);
    cleanup_free char *raw = xasprintf("%s/got.raw", root), *want = xasprintf("%s/want.raw", root);
    FILE *f = fopen(want, "w");
    assert_int_equal(fwrite(expect, 1, VOLSIZE, f), VOLSIZE);
    fclose(f);
    cleanup_free char *cmd =
        xasprintf("qemu-img convert -U -f qcow2 -O raw %s %s && cmp -s %s %s", path, raw, raw, want);
    assert_int_equal(run(cmd), 0);
    free(cmd);
    cmd = xasprintf("for f in %s/var/vmstore/*/data/*.qcow2; do qemu-img check -q \"$f\" || exit 1; done", root);
    assert_int_equal(run(cmd), 0);
    if (zero_at) {
        free(cmd);
        cmd = xasprintf("qemu-img map -U --output=json %s | jq -e '[.[] | select(.start <= %llu and .start + .length > "
                        "%llu)] | length == 1 and .[0].zero and (.[0].data | not)' >/dev/null",
                        path, (unsigned long long)zero_at, (unsigned long long)zero_at);
        assert_int_equal(run(cmd), 0);
    }
    vs_pool_close(pool);
    vm_ctx_free(&ctx);
    free(expect);
    free(m.p);
    rm_rf(root, NULL);
}

static void test_whole_clusters(void **state)
{
    (void)state;
    const piece ps[] = {
        { 0, 128 << 10, -1 }, /* data */
        { 1 << 20, 64 << 10, 0 }, /* a zero cluster */
        { (1 << 20) + (64 << 10), 1 << 20, -1 },
        { VOLSIZE - (64 << 10), 64 << 10, 0x5a }, /* the last cluster */
    };
    receive_and_check(ps, sizeof ps / sizeof *ps, 1 << 20);
}

static void test_unaligned_hands_over(void **state)
{
    (void)state;
    const piece ps[] = {
        { 0, 128 << 10, -1 }, /* direct */
        { (192 << 10) + 512, 4096, 0x33 }, /* not a cluster: qemu-nbd from here */
        { 1 << 20, 256 << 10, -1 },
        { 3 << 20, 4096, 0x44 },
    };
    receive_and_check(ps, sizeof ps / sizeof *ps, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_clusters),
        cmocka_unit_test(test_unaligned_hands_over),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
