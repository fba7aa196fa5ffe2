#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <archive.h>
#include <archive_entry.h>

#include "common/util.h"
#include "image/image.h"

/* An entry to put in a test tarball. */
typedef struct ent {
    const char *path;
    mode_t type;
    mode_t perm;
    const char *link; /* symlink target, or hardlink target when hard */
    int hard;
} ent;

static char *make_tar(const ent *es, size_t n, int gzip)
{
    char *path = xstrdup("/tmp/tarcheck.XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    struct archive *w = archive_write_new();
    archive_write_set_format_pax_restricted(w);
    if (gzip)
        archive_write_add_filter_gzip(w);
    assert_int_equal(archive_write_open_filename(w, path), ARCHIVE_OK);
    for (size_t i = 0; i < n; i++) {
        struct archive_entry *e = archive_entry_new();
        archive_entry_set_pathname(e, es[i].path);
        archive_entry_set_filetype(e, es[i].type);
        archive_entry_set_perm(e, es[i].perm);
        if (es[i].type == AE_IFLNK)
            archive_entry_set_symlink(e, es[i].link);
        if (es[i].hard)
            archive_entry_set_hardlink(e, es[i].link);
        if (es[i].type == AE_IFCHR)
            archive_entry_set_rdev(e, 0x0103);
        const char *data = "data\n";
        if (es[i].type == AE_IFREG && !es[i].hard)
            archive_entry_set_size(e, 5);
        assert_true(archive_write_header(w, e) >= ARCHIVE_WARN);
        if (es[i].type == AE_IFREG && !es[i].hard)
            archive_write_data(w, data, 5);
        archive_entry_free(e);
    }
    archive_write_close(w);
    archive_write_free(w);
    return path;
}

static void expect(const ent *es, size_t n, int flags, const char *want)
{
    for (int gz = 0; gz < 2; gz++) {
        char *path = make_tar(es, n, gz);
        vm_err err = VM_ERR_INIT;
        int rc = img_check_tarball(path, flags, &err);
        unlink(path);
        free(path);
        if (!want) {
            if (rc != 0)
                fail_msg("safe tarball refused: %s", err.msg);
        } else if (rc != -1 || !strstr(err.msg, want)) {
            fail_msg("rc %d, message \"%s\" lacks \"%s\"", rc, err.msg, want);
        }
    }
}

#define BASE \
    { "./", AE_IFDIR, 0755, NULL, 0 }, { "etc", AE_IFDIR, 0755, NULL, 0 }, \
    { \
        "etc/hostname", AE_IFREG, 0644, NULL, 0 \
    }

static void test_safe(void **state)
{
    (void)state;
    const ent es[] = {
        BASE,
        { "bin", AE_IFLNK, 0777, "usr/bin", 0 },
        { "etc/localtime", AE_IFLNK, 0777, "/usr/share/zoneinfo/UTC", 0 }, /* absolute: inside the root */
        { "etc/alt", AE_IFLNK, 0777, "../bin/sh", 0 },
        { "etc/hostname2", AE_IFREG, 0644, "etc/hostname", 1 },
        { "usr/bin/su", AE_IFREG, 04755, NULL, 0 },
        { "var/mail", AE_IFDIR, 02775, NULL, 0 }, /* setgid dir is fine */
        { "run/fifo", AE_IFIFO, 0644, NULL, 0 },
    };
    expect(es, sizeof(es) / sizeof(es[0]), IMG_TAR_ALLOW_SETUID, NULL);
}

static void test_refused(void **state)
{
    (void)state;
    const ent abs[] = { BASE, { "/etc/passwd", AE_IFREG, 0644, NULL, 0 } };
    expect(abs, 4, 0, "entry \"/etc/passwd\": absolute path");
    const ent dots[] = { BASE, { "etc/../../x", AE_IFREG, 0644, NULL, 0 } };
    expect(dots, 4, 0, "\"..\" in path");
    const ent dev[] = { BASE, { "dev/null", AE_IFCHR, 0666, NULL, 0 } };
    expect(dev, 4, 0, "entry \"dev/null\" is a device node");
    const ent blk[] = { BASE, { "dev/sda", AE_IFBLK, 0660, NULL, 0 } };
    expect(blk, 4, 0, "is a device node");
    const ent suid[] = { BASE, { "usr/bin/su", AE_IFREG, 04755, NULL, 0 } };
    expect(suid, 4, 0, "entry \"usr/bin/su\" is a setuid file");
    const ent sgid[] = { BASE, { "usr/bin/wall", AE_IFREG, 02755, NULL, 0 } };
    expect(sgid, 4, 0, "is a setgid file");
    const ent esc[] = { BASE, { "etc/evil", AE_IFLNK, 0777, "../../etc/shadow", 0 } };
    expect(esc, 4, 0, "symlink \"etc/evil\" -> \"../../etc/shadow\" points outside the image root");
    const ent esc2[] = { BASE, { "a", AE_IFLNK, 0777, "b/../..", 0 } };
    expect(esc2, 4, 0, "points outside the image root");
    const ent thru[] = { BASE,
                         { "hostetc", AE_IFLNK, 0777, "/etc", 0 },
                         { "hostetc/passwd", AE_IFREG, 0644, NULL, 0 } };
    expect(thru, 5, 0, "entry \"hostetc/passwd\" is written through symlink \"hostetc\"");
    const ent hl[] = { BASE, { "x", AE_IFREG, 0644, "../../etc/shadow", 1 } };
    expect(hl, 4, 0, "\"..\" in hardlink target");
    const ent hl2[] = { BASE, { "x", AE_IFREG, 0644, "/etc/shadow", 1 } };
    expect(hl2, 4, 0, "absolute hardlink target");
    const ent hl3[] = { BASE, { "lnk", AE_IFLNK, 0777, "/etc", 0 }, { "x", AE_IFREG, 0644, "lnk/shadow", 1 } };
    expect(hl3, 5, 0, "goes through a symlink");
}

static void test_not_a_tar(void **state)
{
    (void)state;
    char path[] = "/tmp/notatar.XXXXXX";
    int fd = mkstemp(path);
    char junk[4096];
    memset(junk, 0x42, sizeof(junk));
    assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
    close(fd);
    vm_err err = VM_ERR_INIT;
    assert_int_equal(img_check_tarball(path, 0, &err), -1);
    assert_non_null(strstr(err.msg, "tar archive"));
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_safe),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_not_a_tar),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
