#include "image/image.h"

#include <string.h>
#include <sys/stat.h>

#include "common/util.h"
#include "image/internal.h"

void img_tarcheck_init(img_tarcheck *c, int flags)
{
    c->flags = flags;
    c->symlinks = json_object();
}

void img_tarcheck_free(img_tarcheck *c)
{
    json_decref(c->symlinks);
    c->symlinks = NULL;
}

/* Relative path without ".", empty components or a leading "./"; refuses
 * absolute paths and "..".  what: "path" or "hardlink target". */
static int normalize(const char *entry, const char *p, const char *what, char **out, vm_err *err)
{
    if (p[0] == '/')
        return vm_err_set(err, VMERR_INVALID, "unsafe tarball: entry \"%s\": absolute %s \"%s\"", entry, what, p);
    cleanup_strv char **parts = strv_split(p, "/");
    cleanup_free char **keep = xcalloc(strv_len(parts) + 1, sizeof(char *));
    size_t n = 0;
    for (size_t i = 0; parts[i]; i++) {
        if (strcmp(parts[i], "..") == 0)
            return vm_err_set(err, VMERR_INVALID, "unsafe tarball: entry \"%s\": \"..\" in %s \"%s\"", entry, what, p);
        if (strcmp(parts[i], ".") != 0)
            keep[n++] = parts[i]; /* borrowed from parts */
    }
    *out = n ? strv_join(keep, "/") : xstrdup("");
    return 0;
}

/* First proper prefix of rel that the archive made a symlink, or NULL. */
static const char *through_symlink(img_tarcheck *c, const char *rel, char *buf, size_t bufsz)
{
    size_t len = strlen(rel);
    if (len >= bufsz)
        len = bufsz - 1;
    for (size_t i = 0; i < len; i++) {
        if (rel[i] != '/')
            continue;
        memcpy(buf, rel, i);
        buf[i] = 0;
        if (json_object_get(c->symlinks, buf))
            return buf;
    }
    return NULL;
}

int img_tarcheck_entry(img_tarcheck *c, struct archive_entry *e, char **norm, char **norm_link, vm_err *err)
{
    const char *path = archive_entry_pathname(e);
    if (!path)
        return vm_err_set(err, VMERR_INVALID, "unsafe tarball: entry with an unreadable path name");
    cleanup_free char *rel = NULL;
    cleanup_free char *rlink = NULL;
    if (normalize(path, path, "path", &rel, err) < 0)
        return -1;
    char buf[4096];
    const char *via = through_symlink(c, rel, buf, sizeof(buf));
    if (via)
        return vm_err_set(err, VMERR_INVALID, "unsafe tarball: entry \"%s\" is written through symlink \"%s\"", path,
                          via);

    mode_t type = archive_entry_filetype(e);
    if (type == AE_IFCHR || type == AE_IFBLK)
        return vm_err_set(err, VMERR_INVALID, "unsafe tarball: entry \"%s\" is a device node", path);
    if (type == AE_IFSOCK)
        return vm_err_set(err, VMERR_INVALID, "unsafe tarball: entry \"%s\" is a socket", path);
    mode_t mode = archive_entry_perm(e);
    if (type != AE_IFDIR && (mode & (S_ISUID | S_ISGID)) && !(c->flags & IMG_TAR_ALLOW_SETUID))
        return vm_err_set(err, VMERR_INVALID, "unsafe tarball: entry \"%s\" is a %s file (allow with --allow-setuid)",
                          path, (mode & S_ISUID) ? "setuid" : "setgid");

    const char *hl = archive_entry_hardlink(e);
    if (hl) {
        if (normalize(path, hl, "hardlink target", &rlink, err) < 0)
            return -1;
        if (!rlink[0])
            return vm_err_set(err, VMERR_INVALID, "unsafe tarball: entry \"%s\" is a hardlink to the root", path);
        if (json_object_get(c->symlinks, rlink) || through_symlink(c, rlink, buf, sizeof(buf)))
            return vm_err_set(err, VMERR_INVALID, "unsafe tarball: hardlink \"%s\" -> \"%s\" goes through a symlink",
                              path, hl);
    }

    if (type == AE_IFLNK) {
        const char *target = archive_entry_symlink(e);
        if (!target)
            return vm_err_set(err, VMERR_INVALID, "unsafe tarball: symlink \"%s\" has no target", path);
        if (target[0] != '/') {
            /* Depth of the directory holding the link, then walk the target. */
            long depth = 0;
            for (const char *p = rel; *p; p++)
                depth += *p == '/';
            cleanup_strv char **parts = strv_split(target, "/");
            for (size_t i = 0; parts[i]; i++) {
                if (strcmp(parts[i], "..") == 0)
                    depth--;
                else if (strcmp(parts[i], ".") != 0)
                    depth++;
                if (depth < 0)
                    return vm_err_set(err, VMERR_INVALID,
                                      "unsafe tarball: symlink \"%s\" -> \"%s\" points outside the image root", path,
                                      target);
            }
        }
        if (!rel[0])
            return vm_err_set(err, VMERR_INVALID, "unsafe tarball: the root is a symlink");
        json_object_set_new(c->symlinks, rel, json_true());
    } else if (rel[0]) {
        json_object_del(c->symlinks, rel); /* replaced by a real entry */
    }
    *norm = steal_ptr(rel);
    if (norm_link)
        *norm_link = steal_ptr(rlink);
    return 0;
}

int img_check_tarball(const char *path, int flags, vm_err *err)
{
    struct archive *a = archive_read_new();
    archive_read_support_filter_all(a);
    archive_read_support_format_tar(a);
    img_tarcheck c;
    img_tarcheck_init(&c, flags);
    int rc = -1;
    if (archive_read_open_filename(a, path, 1 << 16) != ARCHIVE_OK) {
        vm_err_set(err, VMERR_INVALID, "%s: not a tar archive: %s", path, archive_error_string(a));
        goto out;
    }
    for (;;) {
        struct archive_entry *e;
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            vm_err_set(err, VMERR_INVALID, "%s: not a valid tar archive: %s", path, archive_error_string(a));
            goto out;
        }
        cleanup_free char *norm = NULL;
        if (img_tarcheck_entry(&c, e, &norm, NULL, err) < 0)
            goto out;
        if (archive_read_data_skip(a) < ARCHIVE_WARN) {
            vm_err_set(err, VMERR_INVALID, "%s: not a valid tar archive: %s", path, archive_error_string(a));
            goto out;
        }
    }
    rc = 0;
out:
    img_tarcheck_free(&c);
    archive_read_free(a);
    return rc;
}
