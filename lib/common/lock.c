#include "common/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"

/* A lock name is a uuid (a VM) or "<kind>-<uuid>" with a lower-case kind
 * ("image-<uuid>"): nothing else can reach the path below, so no name an
 * operator or a payload supplies can put a lock file outside var/lock. */
static bool lock_name_valid(const char *name)
{
    if (uuid_valid(name))
        return true;
    const char *p = name;
    while (*p >= 'a' && *p <= 'z')
        p++;
    return p > name && *p == '-' && uuid_valid(p + 1);
}

static int open_lockfile(const vm_ctx *ctx, const char *name, vm_err *err)
{
    if (!name || !lock_name_valid(name)) {
        /* What the verbs say for a VM that does not exist (C16, C13). */
        if (name && str_has_prefix(name, "image-"))
            return vm_err_set(err, VMERR_INVALID, "invalid image uuid: %s", name + 6);
        return vm_err_set(err, VMERR_NOTFOUND, "VM %s not found", name ? name : "(null)");
    }
    cleanup_free char *path = xasprintf("%s/%s.lock", ctx->lock_dir, name);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return vm_err_sys(err, errno, "cannot open lock %s", path);
    return fd;
}

int vm_lock_acquire(const vm_ctx *ctx, const char *name, int timeout_ms, vm_lock *lk, vm_err *err)
{
    int fd = open_lockfile(ctx, name, err);
    int64_t deadline = timeout_ms >= 0 ? now_ms() + timeout_ms : 0;
    if (fd < 0)
        return -1;
    if (timeout_ms < 0) {
        while (flock(fd, LOCK_EX) < 0) {
            if (errno != EINTR) {
                int e = errno;
                close(fd);
                return vm_err_sys(err, e, "cannot lock %s", name);
            }
        }
    } else {
        /* flock has no timeout; poll with a short sleep. */
        while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
            if (errno != EWOULDBLOCK && errno != EINTR) {
                int e = errno;
                close(fd);
                return vm_err_sys(err, e, "cannot lock %s", name);
            }
            if (now_ms() >= deadline) {
                close(fd);
                return vm_err_set(err, VMERR_BUSY, "timed out waiting for lock on %s", name);
            }
            struct timespec ts = { 0, 10 * 1000 * 1000 };
            nanosleep(&ts, NULL);
        }
    }
    lk->fd = fd;
    return 0;
}

int vm_lock_try(const vm_ctx *ctx, const char *name, vm_lock *lk, vm_err *err)
{
    int fd = open_lockfile(ctx, name, err);
    if (fd < 0)
        return -1;
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        close(fd);
        return 0;
    }
    lk->fd = fd;
    return 1;
}

void vm_lock_release(vm_lock *lk)
{
    if (lk->fd >= 0) {
        flock(lk->fd, LOCK_UN);
        close(lk->fd);
    }
    lk->fd = -1;
}

void cleanup_lockp(vm_lock *lk)
{
    vm_lock_release(lk);
}
