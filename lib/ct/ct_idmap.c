/* Subordinate id ranges of containers (see ct.h): one slot per VM, kept in
 * <root>/etc/ct-idmap/ as symlinks "<slot>" -> "<uuid>".  symlinkat is
 * atomic and fails with EEXIST, so two starts never get the same slot; a
 * VM keeps its slot across restarts (and reboots of the host) until
 * ct_idmap_release.  With idmapped mounts the files on disk do not depend
 * on the range, so a slot is cheap to give and to take back. */
#include "ct/ct.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "ct/ct_config.h"
#include "ct/ct_internal.h"

static void closedirp(DIR **d)
{
    if (*d)
        closedir(*d);
}

static int open_idmap_dir(const vm_ctx *ctx, bool create, vm_err *err)
{
    cleanup_free char *dir = xasprintf("%s/etc/ct-idmap", ctx->root);
    if (create && mkdir_p(dir, 0700, err) < 0)
        return -1;
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 && !(errno == ENOENT && !create))
        return vm_err_sys(err, errno, "cannot open %s", dir);
    return fd;
}

/* A slot name: decimal, no leading zero, < CT_IDMAP_SLOTS. */
static bool slot_of(const char *name, unsigned *slot)
{
    int64_t n;
    if (!name[0] || (name[0] == '0' && name[1]) || !parse_i64(name, &n) || n < 0 || n >= CT_IDMAP_SLOTS)
        return false;
    *slot = (unsigned)n;
    return true;
}

/* The slot recorded for uuid, or -1; unlink_all: removes every slot that
 * names uuid. */
static long find_slot(int dfd, const char *uuid, bool unlink_all)
{
    int fd = dup(dfd);
    if (fd < 0)
        return -1;
    __attribute__((cleanup(closedirp))) DIR *d = fdopendir(fd);
    if (!d) {
        close(fd);
        return -1;
    }
    long found = -1;
    struct dirent *de;
    while ((de = readdir(d))) {
        unsigned slot;
        char target[64];
        if (!slot_of(de->d_name, &slot))
            continue;
        ssize_t n = readlinkat(dfd, de->d_name, target, sizeof target - 1);
        if (n <= 0)
            continue;
        target[n] = '\0';
        if (strcmp(target, uuid))
            continue;
        if (found < 0)
            found = slot;
        if (unlink_all)
            unlinkat(dfd, de->d_name, 0);
        else
            break;
    }
    return found;
}

int ct_idmap_get(const vm_ctx *ctx, const char *uuid, unsigned *base, vm_err *err)
{
    if (!uuid_valid(uuid))
        return vm_err_set(err, VMERR_INVALID, "invalid uuid: %s", uuid);
    cleanup_close int dfd = open_idmap_dir(ctx, true, err);
    if (dfd < 0)
        return -1;
    long slot = find_slot(dfd, uuid, false);
    for (unsigned n = 0; slot < 0 && n < CT_IDMAP_SLOTS; n++) {
        char name[16];
        snprintf(name, sizeof name, "%u", n);
        if (symlinkat(uuid, dfd, name) == 0)
            slot = n;
        else if (errno != EEXIST)
            return vm_err_sys(err, errno, "cannot record the id range of container %s", uuid);
    }
    if (slot < 0)
        return vm_err_set(err, VMERR_NOSPACE, "cannot start container %s: all %u subordinate id ranges are in use",
                          uuid, CT_IDMAP_SLOTS);
    if (fsync(dfd) < 0)
        return vm_err_sys(err, errno, "cannot record the id range of container %s", uuid);
    *base = CT_IDMAP_BASE + (unsigned)slot * CT_IDMAP_SIZE;
    return 0;
}

int ct_idmap_release(const vm_ctx *ctx, const char *uuid, vm_err *err)
{
    if (!uuid_valid(uuid))
        return vm_err_set(err, VMERR_INVALID, "invalid uuid: %s", uuid);
    cleanup_close int dfd = open_idmap_dir(ctx, false, err);
    if (dfd < 0)
        return vm_err_is_set(err) ? -1 : 0;
    find_slot(dfd, uuid, true);
    return 0;
}

int ct_privileged_wanted(const vm_ctx *ctx, json_t *vmobj, bool *privileged, vm_err *err)
{
    json_t *v = json_object_get(vmobj, "privileged");
    *privileged = false;
    if (!v || json_is_false(v) || json_is_null(v))
        return 0;
    if (!json_is_true(v))
        return vm_err_set(err, VMERR_INVALID, "invalid value for privileged: must be true or false");
    cleanup_free char *allow = xasprintf("%s/" CT_ALLOW_PRIVILEGED, ctx->root);
    struct stat st;
    if (lstat(allow, &st) < 0 || !S_ISREG(st.st_mode) || st.st_uid != 0)
        return vm_err_set(err, VMERR_INVALID,
                          "cannot start container %s: privileged containers are not allowed on this host "
                          "(the operator allows them by creating %s)",
                          json_string_value(json_object_get(vmobj, "uuid")), allow);
    *privileged = true;
    return 0;
}
