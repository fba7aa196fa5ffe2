/* The filesystem entry codec (lib/storage/fsentry.h): the golden bytes of
 * "fsentry-1" (a format change must be deliberate), round trips through
 * every slicing, and hostile entries — "..", absolute paths, empty
 * components, bad hardlink targets, file data out of order or beyond its
 * size, truncation — refused with a reason before a callback sees them. */
#include <stdarg.h>
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

int main(int argc, char **argv)
{
    golden_dir = argc > 1 ? argv[1] : "golden";
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_golden_and_round_trip),
        cmocka_unit_test(test_hostile_entries),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
