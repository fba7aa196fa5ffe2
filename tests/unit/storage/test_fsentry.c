/* The filesystem entry codec (lib/storage/fsentry.h): the golden bytes of
 * "fsentry-1" (a format change must be deliberate), round trips through
 * every slicing, and hostile entries — "..", absolute paths, empty
 * components, bad hardlink targets, file data out of order or beyond its
 * size, truncation — refused with a reason before a callback sees them. */
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "storage/fsentry.h"
#include "../common/golden.h"

static const char *golden_dir;

typedef struct buf {
    uint8_t *b;
    size_t len;
} buf;

static void add(buf *o, const void *p, size_t n)
{
    o->b = xrealloc(o->b, o->len + n);
    memcpy(o->b + o->len, p, n);
    o->len += n;
}

static void add_entry(buf *o, const vs_fse *e)
{
    size_t n;
    uint8_t *h = vs_fse_encode(e, &n);
    add(o, h, n);
    free(h);
}

static void add_chunk(buf *o, uint64_t off, const char *data)
{
    uint8_t c[16];
    vs_fse_chunk(c, off, data ? strlen(data) : 0);
    add(o, c, 16);
    if (data)
        add(o, data, strlen(data));
}

/* delete "old", root dir, dir "d" with an xattr, file "d/f" (two runs and
 * a hole), symlink, hardlink, char device. */
static void sample(buf *o)
{
    vs_fse_xattr xa[] = { { "security.capability", (const uint8_t *)"\x01\x00", 2 } };
    vs_fse e[] = {
        { .op = VS_FSE_DELETE, .path = "old" },
        { .op = VS_FSE_ENTRY, .type = VS_FSE_DIR, .path = "", .mode = 0755, .mtime_sec = 1700000000 },
        { .op = VS_FSE_ENTRY,
          .type = VS_FSE_DIR,
          .path = "d",
          .mode = 01777,
          .uid = 1000,
          .gid = 100,
          .mtime_sec = 1700000001,
          .mtime_nsec = 5,
          .nxattr = 1,
          .xattrs = xa },
        { .op = VS_FSE_ENTRY, .type = VS_FSE_FILE, .path = "d/f", .mode = 04755, .size = 100 },
        { .op = VS_FSE_ENTRY, .type = VS_FSE_SYMLINK, .path = "d/s", .mode = 0777, .target = "../etc/passwd" },
        { .op = VS_FSE_ENTRY, .type = VS_FSE_HARDLINK, .path = "h", .mode = 0644, .target = "d/f" },
        { .op = VS_FSE_ENTRY, .type = VS_FSE_CHR, .path = "null", .mode = 0666, .rdev = 259 },
    };
    for (size_t i = 0; i < sizeof e / sizeof e[0]; i++) {
        add_entry(o, &e[i]);
        if (e[i].type == VS_FSE_FILE) {
            add_chunk(o, 0, "head");
            add_chunk(o, 90, "tail");
            add_chunk(o, 0, NULL);
        }
    }
}

typedef struct elog {
    char text[4096];
    size_t len;
} elog;

static int on_entry(void *arg, const vs_fse *e, vm_err *err)
{
    (void)err;
    elog *l = arg;
    l->len += (size_t)snprintf(l->text + l->len, sizeof l->text - l->len,
                               "%d %d '%s' %o %u:%u %lld.%u %llu x%zu %s %llu\n", e->op, e->type, e->path, e->mode,
                               e->uid, e->gid, (long long)e->mtime_sec, e->mtime_nsec, (unsigned long long)e->rdev,
                               e->nxattr, e->target ? e->target : "-", (unsigned long long)e->size);
    return 0;
}

static int on_data(void *arg, uint64_t off, const uint8_t *b, size_t len, vm_err *err)
{
    (void)err;
    elog *l = arg;
    l->len += (size_t)snprintf(l->text + l->len, sizeof l->text - l->len, " @%llu %.*s\n", (unsigned long long)off,
                               (int)len, (const char *)b);
    return 0;
}

static int on_end(void *arg, vm_err *err)
{
    (void)err;
    elog *l = arg;
    l->len += (size_t)snprintf(l->text + l->len, sizeof l->text - l->len, " end\n");
    return 0;
}

/* Parses b fed in slices of `slice` bytes; the elog (data merged per feed). */
static int parse(const buf *b, size_t slice, elog *l, vm_err *err)
{
    memset(l, 0, sizeof *l);
    vs_fse_ops ops = { on_entry, on_data, on_end };
    vs_fse_parser *p = vs_fse_parser_new(&ops, l);
    int r = 0;
    for (size_t o = 0; r == 0 && o < b->len; o += slice)
        r = vs_fse_feed(p, b->b + o, b->len - o < slice ? b->len - o : slice, err);
    if (r == 0)
        r = vs_fse_finish(p, err);
    vs_fse_parser_free(p);
    return r;
}

static void test_golden_and_round_trip(void **state)
{
    (void)state;
    buf b = { 0 };
    sample(&b);
    char *hex = xmalloc(b.len * 2 + b.len / 32 + 2);
    size_t o = 0;
    for (size_t i = 0; i < b.len; i++) {
        o += (size_t)sprintf(hex + o, "%02x", b.b[i]);
        if (i % 32 == 31 || i == b.len - 1)
            hex[o++] = '\n';
    }
    hex[o] = '\0';
    char *path = xasprintf("%s/fsentry-1.hex", golden_dir);
    assert_int_equal(golden_check(path, hex), 0);
    free(path);
    free(hex);
    elog whole;
    vm_err err = VM_ERR_INIT;
    assert_int_equal(parse(&b, b.len, &whole, &err), 0);
    assert_string_equal(whole.text,
                        "2 0 'old' 0 0:0 0.0 0 x0 - 0\n end\n"
                        "1 2 '' 755 0:0 1700000000.0 0 x0 - 0\n end\n"
                        "1 2 'd' 1777 1000:100 1700000001.5 0 x1 - 0\n end\n"
                        "1 1 'd/f' 4755 0:0 0.0 0 x0 - 100\n @0 head\n @90 tail\n end\n"
                        "1 3 'd/s' 777 0:0 0.0 0 x0 ../etc/passwd 0\n end\n"
                        "1 4 'h' 644 0:0 0.0 0 x0 d/f 0\n end\n"
                        "1 5 'null' 666 0:0 0.0 259 x0 - 0\n end\n");
    /* Any slicing gives the same entries (data may arrive in pieces). */
    for (size_t s = 1; s < 40; s++) {
        elog l;
        assert_int_equal(parse(&b, s, &l, &err), 0);
        assert_int_equal(strncmp(l.text, whole.text, 20), 0);
    }
    free(b.b);
}

static void expect_refused(const vs_fse *e, const char *data_off, const char *why)
{
    buf b = { 0 };
    add_entry(&b, e);
    if (e->type == VS_FSE_FILE && e->op == VS_FSE_ENTRY) {
        add_chunk(&b, data_off ? 50 : 0, "abc");
        add_chunk(&b, data_off ? 10 : 0, data_off ? data_off : NULL);
        if (data_off)
            add_chunk(&b, 0, NULL);
    }
    elog l;
    vm_err err = VM_ERR_INIT;
    if (parse(&b, 7, &l, &err) != -1)
        fail_msg("entry '%s' (type %d) accepted, expected: %s", e->path, e->type, why);
    if (!strstr(err.msg, why))
        fail_msg("'%s' lacks '%s'", err.msg, why);
    assert_int_equal(strncmp(err.msg, "invalid stream: ", 16), 0);
    assert_null(strstr(l.text, "end")); /* no callback completed it */
    free(b.b);
}

static void test_hostile_entries(void **state)
{
    (void)state;
    const char *bad_paths[] = { "../x", "/etc/passwd", "a/../../x", "a//b", "a/./b", "a/", ".", "..", "x/.." };
    for (size_t i = 0; i < sizeof bad_paths / sizeof bad_paths[0]; i++) {
        vs_fse e = { .op = VS_FSE_ENTRY, .type = VS_FSE_FILE, .path = bad_paths[i], .mode = 0644 };
        expect_refused(&e, NULL, "unsafe or malformed path");
        e.op = VS_FSE_DELETE;
        expect_refused(&e, NULL, "unsafe or malformed path");
    }
    vs_fse del_root = { .op = VS_FSE_DELETE, .path = "" };
    expect_refused(&del_root, NULL, "unsafe or malformed path");
    vs_fse root_file = { .op = VS_FSE_ENTRY, .type = VS_FSE_FILE, .path = "" };
    expect_refused(&root_file, NULL, "the root must be a directory");
    vs_fse hl = { .op = VS_FSE_ENTRY, .type = VS_FSE_HARDLINK, .path = "h", .target = "../../etc/shadow" };
    expect_refused(&hl, NULL, "hardlink target");
    hl.target = "/etc/shadow";
    expect_refused(&hl, NULL, "hardlink target");
    vs_fse dir_target = { .op = VS_FSE_ENTRY, .type = VS_FSE_DIR, .path = "d", .target = "x" };
    expect_refused(&dir_target, NULL, "invalid link target");
    vs_fse rdev = { .op = VS_FSE_ENTRY, .type = VS_FSE_FIFO, .path = "p", .rdev = 1 };
    expect_refused(&rdev, NULL, "device number on a non-device");
    /* file data: backwards, beyond the size */
    vs_fse f = { .op = VS_FSE_ENTRY, .type = VS_FSE_FILE, .path = "f", .size = 60 };
    expect_refused(&f, "x", "out of order or beyond its size");
    f.size = 2;
    expect_refused(&f, NULL, "out of order or beyond its size");
    /* mode bits beyond 07777 (the encoder masks them: poke the byte) */
    buf m = { 0 };
    vs_fse d = { .op = VS_FSE_ENTRY, .type = VS_FSE_DIR, .path = "d", .mode = 0755 };
    add_entry(&m, &d);
    m.b[5] = 0x01; /* op, pathlen, "d", type, then the mode's high byte */
    elog ml;
    vm_err merr = VM_ERR_INIT;
    assert_int_equal(parse(&m, m.len, &ml, &merr), -1);
    assert_non_null(strstr(merr.msg, "mode has bits beyond 07777"));
    free(m.b);
    /* cut inside an entry */
    buf b = { 0 };
    vs_fse ok = { .op = VS_FSE_ENTRY, .type = VS_FSE_FILE, .path = "f", .size = 10 };
    add_entry(&b, &ok);
    add_chunk(&b, 0, "abc");
    elog l;
    vm_err err = VM_ERR_INIT;
    for (size_t cut = 1; cut < b.len; cut++) {
        buf c = { b.b, cut };
        vm_err_clear(&err);
        assert_int_equal(parse(&c, cut, &l, &err), -1);
        assert_non_null(strstr(err.msg, "ends inside an entry"));
    }
    free(b.b);
}

/* ---- restart: stop at every point vs_fse_where offers, go on with a
 * fresh parser; the callbacks' combined effect equals one whole parse ---- */

typedef struct rlog {
    buf text;
    char last[8192]; /* the last entry, formatted */
    bool in_file;
    buf run; /* contiguous data not logged yet */
    uint64_t run_off;
    uint8_t *hdr; /* the last entry re-encoded (what a receiver saves) */
    size_t hlen;
    size_t resumed;
} rlog;

static void rlog_put(rlog *l, const char *s)
{
    add(&l->text, s, strlen(s));
}

static void rlog_flush(rlog *l)
{
    if (!l->run.len)
        return;
    char head[64];
    snprintf(head, sizeof head, " @%llu ", (unsigned long long)l->run_off);
    rlog_put(l, head);
    for (size_t i = 0; i < l->run.len; i++) {
        char h[3];
        snprintf(h, sizeof h, "%02x", l->run.b[i]);
        rlog_put(l, h);
    }
    rlog_put(l, "\n");
    l->run.len = 0;
}

static int r_entry(void *arg, const vs_fse *e, vm_err *err)
{
    (void)err;
    rlog *l = arg;
    char f[8192];
    size_t n = (size_t)snprintf(f, sizeof f, "%d %d '%s' %o %u:%u %lld.%u %llu %s %llu", e->op, e->type, e->path,
                                e->mode, e->uid, e->gid, (long long)e->mtime_sec, e->mtime_nsec,
                                (unsigned long long)e->rdev, e->target ? e->target : "-", (unsigned long long)e->size);
    for (size_t i = 0; i < e->nxattr; i++)
        n += (size_t)snprintf(f + n, sizeof f - n, " %s=%.*s", e->xattrs[i].name, (int)e->xattrs[i].len,
                              (const char *)e->xattrs[i].value);
    if (e->resumed) {
        /* the entry the interrupted parse was in, as it was */
        assert_true(l->in_file);
        assert_string_equal(f, l->last);
        l->resumed++;
        return 0;
    }
    assert_false(l->in_file);
    snprintf(l->last, sizeof l->last, "%s", f);
    rlog_put(l, f);
    rlog_put(l, "\n");
    free(l->hdr);
    l->hdr = vs_fse_encode(e, &l->hlen);
    l->in_file = e->op == VS_FSE_ENTRY && e->type == VS_FSE_FILE;
    return 0;
}

static int r_data(void *arg, uint64_t off, const uint8_t *b, size_t len, vm_err *err)
{
    (void)err;
    rlog *l = arg;
    assert_true(l->in_file);
    if (l->run.len && l->run_off + l->run.len != off)
        rlog_flush(l);
    if (!l->run.len)
        l->run_off = off;
    add(&l->run, b, len);
    return 0;
}

static int r_end(void *arg, vm_err *err)
{
    (void)err;
    rlog *l = arg;
    rlog_flush(l);
    rlog_put(l, " end\n");
    l->in_file = false;
    return 0;
}

static void rlog_free(rlog *l)
{
    free(l->text.b);
    free(l->run.b);
    free(l->hdr);
}

static const vs_fse_ops r_ops = { r_entry, r_data, r_end };

/* Feeds b[from, to) in random slices of 1..max bytes. */
static void feed_random(vs_fse_parser *p, const buf *b, size_t from, size_t to, size_t max)
{
    vm_err err = VM_ERR_INIT;
    while (from < to) {
        size_t n = 1 + (size_t)rand() % max;
        if (n > to - from)
            n = to - from;
        if (vs_fse_feed(p, b->b + from, n, &err) < 0)
            fail_msg("feed at %zu: %s", from, err.msg);
        from += n;
    }
}

/* The sample, then files of several chunks of random bytes, one with
 * xattrs and a long path, an empty one, and entries after them. */
static void restart_sample(buf *o)
{
    sample(o);
    vs_fse_xattr xa[] = { { "user.a", (const uint8_t *)"1", 1 }, { "trusted.bb", (const uint8_t *)"22", 2 } };
    char longp[300];
    memset(longp, 'p', sizeof longp - 1);
    longp[sizeof longp - 1] = '\0';
    longp[100] = '/';
    vs_fse big = { .op = VS_FSE_ENTRY, .type = VS_FSE_FILE, .path = "big", .mode = 0600, .size = 5000 };
    vs_fse xf = { .op = VS_FSE_ENTRY, .type = VS_FSE_FILE, .path = longp, .size = 40, .nxattr = 2, .xattrs = xa };
    vs_fse empty = { .op = VS_FSE_ENTRY, .type = VS_FSE_FILE, .path = "empty", .size = 0 };
    vs_fse dir = { .op = VS_FSE_ENTRY, .type = VS_FSE_DIR, .path = "z", .mode = 0700, .mtime_sec = 7 };
    const uint64_t chunks[][2] = { { 0, 700 }, { 700, 300 }, { 2048, 1 }, { 3000, 2000 } };
    uint8_t data[2000];
    add_entry(o, &big);
    for (size_t i = 0; i < 4; i++) {
        for (size_t k = 0; k < chunks[i][1]; k++)
            data[k] = (uint8_t)rand();
        uint8_t c[16];
        vs_fse_chunk(c, chunks[i][0], chunks[i][1]);
        add(o, c, 16);
        add(o, data, chunks[i][1]);
    }
    add_chunk(o, 0, NULL);
    add_entry(o, &xf);
    add_chunk(o, 3, "0123456789");
    add_chunk(o, 0, NULL);
    add_entry(o, &empty);
    add_chunk(o, 0, NULL);
    add_entry(o, &dir);
}

static void test_restart(void **state)
{
    (void)state;
    srand(17);
    buf b = { 0 };
    restart_sample(&b);
    vm_err err = VM_ERR_INIT;
    rlog whole = { 0 };
    vs_fse_parser *p = vs_fse_parser_new(&r_ops, &whole);
    assert_int_equal(vs_fse_feed(p, b.b, b.len, &err), 0);
    assert_int_equal(vs_fse_finish(p, &err), 0);
    vs_fse_parser_free(p);
    add(&whole.text, "", 1);

    /* Every offset where a restart is offered (byte by byte). */
    rlog scan = { 0 };
    p = vs_fse_parser_new(&r_ops, &scan);
    size_t kinds[4] = { 0 }, other = 0;
    for (size_t at = 1; at <= b.len; at++) {
        assert_int_equal(vs_fse_feed(p, b.b + at - 1, 1, &err), 0);
        vs_fse_pos pos;
        vs_fse_where(p, &pos);
        if (pos.at == VS_FSE_AT_OTHER) {
            other++;
            continue;
        }
        kinds[pos.at == VS_FSE_AT_ENTRY ? 0 : pos.left ? 1 : 2]++;
        /* Every point between entries and between chunks; inside data
         * (thousands, all alike) every seventh: the test stays quick
         * under the sanitizers. */
        if (pos.at == VS_FSE_AT_FILE && pos.left && at % 7)
            continue;
        uint8_t *hdr = NULL;
        size_t hlen = 0;
        if (pos.at == VS_FSE_AT_FILE) {
            hdr = xmalloc(scan.hlen);
            memcpy(hdr, scan.hdr, scan.hlen);
            hlen = scan.hlen;
        }
        /* The same point reached through other slicings; then a fresh
         * parser from there, fed the rest in other slicings again. */
        for (size_t round = 0; round < 3; round++) {
            rlog l = { 0 };
            vs_fse_parser *a = vs_fse_parser_new(&r_ops, &l);
            feed_random(a, &b, 0, at, 1 + round * 9);
            vs_fse_pos again;
            vs_fse_where(a, &again);
            assert_memory_equal(&again, &pos, sizeof pos);
            vs_fse_parser_free(a);
            vs_fse_parser *c = vs_fse_parser_new(&r_ops, &l);
            if (vs_fse_restart(c, &pos, hdr, hlen, &err) < 0)
                fail_msg("restart at %zu: %s", at, err.msg);
            assert_int_equal(vs_fse_count(c), pos.count);
            feed_random(c, &b, at, b.len, 1 + round * 300);
            assert_int_equal(vs_fse_finish(c, &err), 0);
            vs_fse_parser_free(c);
            assert_int_equal(l.resumed, pos.at == VS_FSE_AT_FILE ? 1 : 0);
            add(&l.text, "", 1);
            if (strcmp((char *)l.text.b, (char *)whole.text.b) != 0)
                fail_msg("restart at byte %zu (kind %d, off %llu left %llu) differs:\n%s\n---\n%s", at, pos.at,
                         (unsigned long long)pos.off, (unsigned long long)pos.left, (char *)l.text.b,
                         (char *)whole.text.b);
            rlog_free(&l);
        }
        free(hdr);
    }
    vs_fse_parser_free(p);
    rlog_free(&scan);
    /* every kind of point occurred: between entries, inside data, between
     * chunks; inside headers none */
    printf("# restart points: %zu between entries, %zu in data, %zu between chunks; %zu in headers\n", kinds[0],
           kinds[1], kinds[2], other);
    assert_true(kinds[0] >= 10 && kinds[1] > 3000 && kinds[2] >= 8 && other > 200);

    /* inconsistent restart points are refused */
    vs_fse f = { .op = VS_FSE_ENTRY, .type = VS_FSE_FILE, .path = "f", .size = 100 };
    vs_fse d = { .op = VS_FSE_ENTRY, .type = VS_FSE_DIR, .path = "d" };
    size_t fl, dl;
    uint8_t *fh = vs_fse_encode(&f, &fl), *dh = vs_fse_encode(&d, &dl);
    struct {
        vs_fse_pos pos;
        const uint8_t *h;
        size_t len;
        const char *why;
    } bad[] = {
        { { VS_FSE_AT_FILE, 0, 10, 5, 20 }, fh, fl, "outside the file" },
        { { VS_FSE_AT_FILE, 0, 90, 20, 110 }, fh, fl, "outside the file" },
        { { VS_FSE_AT_FILE, 0, 0, 0, 101 }, fh, fl, "outside the file" },
        { { VS_FSE_AT_FILE, 0, 0, 0, 0 }, dh, dl, "not a file's header" },
        { { VS_FSE_AT_FILE, 0, 0, 0, 0 }, fh, fl - 1, "not a file's header" },
        { { VS_FSE_AT_FILE, 0, 0, 0, 0 }, NULL, 0, "no restart point" },
        { { VS_FSE_AT_OTHER, 0, 0, 0, 0 }, fh, fl, "no restart point" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        rlog l = { 0 };
        vs_fse_parser *c = vs_fse_parser_new(&r_ops, &l);
        vm_err_clear(&err);
        assert_int_equal(vs_fse_restart(c, &bad[i].pos, bad[i].h, bad[i].len, &err), -1);
        if (!strstr(err.msg, bad[i].why))
            fail_msg("case %zu: '%s' lacks '%s'", i, err.msg, bad[i].why);
        assert_int_equal(l.text.len, 0);
        vs_fse_parser_free(c);
        rlog_free(&l);
    }
    free(fh);
    free(dh);
    free(b.b);
    rlog_free(&whole);
}

int main(int argc, char **argv)
{
    golden_dir = argc > 1 ? argv[1] : "golden";
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_and_round_trip),
        cmocka_unit_test(test_hostile_entries),
        cmocka_unit_test(test_restart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
