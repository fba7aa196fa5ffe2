/* lib/image/extract.c: the extractor never follows a symlink, whatever the
 * archive says (these archives bypass img_tarcheck on purpose), and every
 * write error is a failure. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>

#include "common/util.h"
#include "image/internal.h"

typedef struct ent {
    const char *path;
    mode_t type;
    mode_t perm;
    const char *link; /* symlink target, or hardlink target when hard */
    int hard;
} ent;

static char base[64];
static char root[128];
static char canary[128];

static int setup(void **state)
{
    (void)state;
    strcpy(base, "/tmp/extract.XXXXXX");
    assert_non_null(mkdtemp(base));
    snprintf(root, sizeof root, "%s/a/b/root", base);
    snprintf(canary, sizeof canary, "%s/canary", base);
    char *cmd = xasprintf("mkdir -p %s %s/etc", root, canary);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char *cmd = xasprintf("rm -rf %s", base);
    assert_int_equal(system(cmd), 0);
    free(cmd);
    return 0;
}

/* Extracts es (written to a memory tar) into root; returns the result and
 * leaves the message in err. */
static int extract(const ent *es, size_t n, vm_err *err)
{
    size_t cap = 1 << 20, used = 0;
    char *buf = xmalloc(cap);
    struct archive *w = archive_write_new();
    archive_write_set_format_pax_restricted(w);
    assert_int_equal(archive_write_open_memory(w, buf, cap, &used), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, es[i].path);
        archive_entry_set_filetype(e, es[i].type);
        archive_entry_set_perm(e, es[i].perm);
        if (es[i].type == AE_IFLNK)
            archive_entry_set_symlink(e, es[i].link);
        if (es[i].hard)
            archive_entry_set_hardlink(e, es[i].link);
        int data = es[i].type == AE_IFREG && !es[i].hard;
        if (data)
            archive_entry_set_size(e, 5);
        assert_true(archive_write_header(w, e) >= ARCHIVE_WARN);
        if (data)
            archive_write_data(w, "pwned", 5);
        archive_entry_free(e);
    }
    archive_write_close(w);
    archive_write_free(w);

    struct archive *a = archive_read_new();
    archive_read_support_format_tar(a);
    assert_int_equal(archive_read_open_memory(a, buf, used), ARCHIVE_OK);
    img_extract *x = NULL;
    assert_int_equal(img_extract_open(root, &x, err), 0);
    int rc = 0;
    struct archive_entry *e;
    while (rc == 0 && archive_read_next_header(a, &e) == ARCHIVE_OK) {
        const char *hl = archive_entry_hardlink(e);
        char *rel = xstrdup(archive_entry_pathname(e)); /* as img_tarcheck_entry gives it */
        size_t l = strlen(rel);
        if (l && rel[l - 1] == '/')
            rel[l - 1] = 0;
        rc = img_extract_entry(x, a, e, rel, hl, err);
        free(rel);
    }
    if (rc == 0)
        rc = img_extract_finish(x, err);
    img_extract_free(x);
    archive_read_free(a);
    free(buf);
    return rc;
}

static void canary_untouched(void)
{
    char *cmd = xasprintf("test -z \"$(find %s -mindepth 1 ! -path %s/etc)\" && test \"$(stat -c %%a %s/etc)\" = 755 "
                          "&& test -z \"$(find %s -name 'pwn*' -o -name esc)\"",
                          canary, canary, canary, base);
    assert_int_equal(system(cmd), 0);
    free(cmd);
}

static void test_normal_tree(void **state)
{
    (void)state;
    const ent es[] = {
        { "etc", AE_IFDIR, 0755, NULL, 0 },
        { "etc/motd", AE_IFREG, 0644, NULL, 0 },
        { "usr/bin/x", AE_IFREG, 0755, NULL, 0 },
        { "bin", AE_IFLNK, 0777, "usr/bin", 0 },
        { "etc/again", AE_IFREG, 0600, "etc/motd", 1 },
        { "run/fifo", AE_IFIFO, 0600, NULL, 0 },
        { "etc/motd", AE_IFREG, 0640, NULL, 0 }, /* replaced */
        { "tmp", AE_IFDIR, 01777, NULL, 0 },
    };
    vm_err err = VM_ERR_INIT;
    int rc = extract(es, sizeof es / sizeof es[0], &err);
    if (rc)
        fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, 0);
    char *cmd = xasprintf("cd %s && test \"$(cat etc/motd)\" = pwned && test -x usr/bin/x && test -L bin && "
                          "test \"$(stat -c %%a tmp)\" = 1777 && test -p run/fifo && test \"$(cat etc/again)\" = pwned "
                          "&& test \"$(stat -c %%a etc/motd)\" = 640",
                          root);
    assert_int_equal(system(cmd), 0);
    free(cmd);
}

/* a -> <canary> (absolute), then a file through it. */
static void test_through_absolute_symlink(void **state)
{
    (void)state;
    const ent es[] = {
        { "a", AE_IFLNK, 0777, canary, 0 },
        { "a/pwned", AE_IFREG, 0644, NULL, 0 },
    };
    vm_err err = VM_ERR_INIT;
    assert_int_equal(extract(es, 2, &err), -1);
    assert_string_equal(err.msg, "cannot extract \"a/pwned\": \"a\" is a symlink");
    canary_untouched();
}

/* d/l1 -> .., d/l2 -> l1/../.. (both harmless as text), then files
 * through the chain, as a file, a directory and a hardlink target. */
static void test_chain(void **state)
{
    (void)state;
    char *deep = xasprintf("l1/../../../../canary");
    const ent es[] = {
        { "d/l1", AE_IFLNK, 0777, "..", 0 },
        { "d/l2", AE_IFLNK, 0777, deep, 0 },
    };
    vm_err err = VM_ERR_INIT;
    assert_int_equal(extract(es, 2, &err), 0);
    const ent e2[] = { { "d/l2/pwned", AE_IFREG, 0644, NULL, 0 } };
    assert_int_equal(extract(e2, 1, &err), -1);
    const ent e3[] = { { "d/l2/etc/esc", AE_IFDIR, 0755, NULL, 0 } };
    assert_int_equal(extract(e3, 1, &err), -1);
    const ent e4[] = { { "h", AE_IFREG, 0644, "d/l2/etc", 1 } };
    assert_int_equal(extract(e4, 1, &err), -1);
    const ent e5[] = { { "d/l1/b/pwned", AE_IFREG, 0644, NULL, 0 } };
    assert_int_equal(extract(e5, 1, &err), -1);
    canary_untouched();
    free(deep);
}

/* A directory replaced by a symlink before its mode is applied: the deferred
 * chmod must not land on the symlink's target. */
static void test_dir_replaced_by_symlink(void **state)
{
    (void)state;
    char *t = xasprintf("%s/etc", canary);
    const ent es[] = {
        { "x", AE_IFDIR, 0777, NULL, 0 },
        { "x", AE_IFLNK, 0777, t, 0 },
    };
    vm_err err = VM_ERR_INIT;
    int rc = extract(es, 2, &err);
    if (rc)
        fprintf(stderr, "%s\n", err.msg);
    assert_int_equal(rc, 0);
    canary_untouched();
    free(t);
}

/* Write errors fail: a name too long, an xattr the file system refuses. */
static void test_write_errors(void **state)
{
    (void)state;
    char name[400];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = 0;
    const ent es[] = { { name, AE_IFREG, 0644, NULL, 0 } };
    vm_err err = VM_ERR_INIT;
    assert_int_equal(extract(es, 1, &err), -1);
    assert_non_null(strstr(err.msg, "File name too long"));
    /* the root entry must be a directory */
    const ent e2[] = { { "", AE_IFREG, 0644, NULL, 0 } };
    assert_int_equal(extract(e2, 1, &err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_normal_tree, setup, teardown),
        cmocka_unit_test_setup_teardown(test_through_absolute_symlink, setup, teardown),
        cmocka_unit_test_setup_teardown(test_chain, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dir_replaced_by_symlink, setup, teardown),
        cmocka_unit_test_setup_teardown(test_write_errors, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
