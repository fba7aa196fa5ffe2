/* Pool safety (README "Pool safety"): what keeps a lost or damaged
 * pool.json, or a full disk, from costing data.
 *
 *  - Generations: every commit first keeps the current pool.json as
 *    pool.json.prev (a hard link: no space needed).  When pool.json is
 *    missing or unreadable, vs_pool_open restores the previous generation
 *    (with a warning on stderr and in the log) instead of starting over.
 *  - Creation only in a fresh directory: a pool is created only where its
 *    directory holds no data (nothing but the pool's own empty scaffolding);
 *    a directory with data and no usable pool.json is refused, naming the
 *    path and what to do.
 *  - Reserve: <pool dir>/reserve, VS_RESERVE_BYTES preallocated.  A change
 *    that frees space (destroy) and cannot write pool.json for lack of
 *    space releases it, commits, removes the data, and re-creates it; so
 *    destroy and delete work on a full pool.  Other changes never use it.
 *
 * No opt-out: none of this changes what a healthy pool does. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "storage/storage_internal.h"

static char *reserve_path(vs_pool *pool)
{
    return xasprintf("%s/reserve", pool->dir);
}

void vs_reserve_ensure(vs_pool *pool)
{
    cleanup_free char *path = reserve_path(pool);
    struct stat st;
    if (stat(path, &st) == 0 && (uint64_t)st.st_size >= VS_RESERVE_BYTES &&
        (uint64_t)st.st_blocks * 512 >= VS_RESERVE_BYTES)
        return;
    /* All or nothing: a half reserve would hide how much is left. */
    cleanup_free char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        return;
    int r = posix_fallocate(fd, 0, (off_t)VS_RESERVE_BYTES);
    if (r == 0 && fsync(fd) < 0)
        r = errno;
    close(fd);
    if (r != 0 || rename(tmp, path) < 0)
        unlink(tmp);
}

bool vs_reserve_release(vs_pool *pool)
{
    cleanup_free char *path = reserve_path(pool);
    return unlink(path) == 0;
}

/* A pool.json-shaped file: an object with a "datasets" object (new ref). */
json_t *vs_meta_load(const char *path)
{
    json_t *m = NULL;
    if (read_json_file(path, &m, NULL) < 0)
        return NULL;
    if (!json_is_object(m) || !json_is_object(json_object_get(m, "datasets"))) {
        json_decref(m);
        return NULL;
    }
    return m;
}

/* Only directories below `fd` (an empty filesystem's skeleton). */
static bool only_dirs(int fd)
{
    DIR *d = fdopendir(fd);
    struct dirent *de;
    bool ok = true;
    if (!d) {
        close(fd);
        return false;
    }
    while (ok && (de = readdir(d))) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
            continue;
        int sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        ok = sub >= 0 && only_dirs(sub);
    }
    closedir(d);
    return ok;
}

/* Entries a new pool may find in its directory: its own empty scaffolding
 * (lock, tx markers, reserve, temp files, empty data dirs) and a fresh
 * filesystem's lost+found. */
static bool scaffolding(int dfd, const char *n)
{
    if (!strcmp(n, "pool.lock") || !strcmp(n, "reserve") || !strcmp(n, "tx") || !strcmp(n, "lost+found") ||
        str_has_prefix(n, "reserve.tmp.") || str_has_prefix(n, "pool.json.tmp."))
        return true;
    if (strcmp(n, "data") != 0)
        return false;
    int fd = openat(dfd, n, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    return fd >= 0 && only_dirs(fd);
}

/* The first entry of the pool directory that is not empty scaffolding
 * (allocated), or NULL when the directory holds no data. */
static char *first_data(vs_pool *pool)
{
    DIR *d = opendir(pool->dir);
    struct dirent *de;
    char *found = NULL;
    if (!d)
        return NULL;
    while (!found && (de = readdir(d)))
        if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") && !scaffolding(dirfd(d), de->d_name))
            found = xstrdup(de->d_name);
    closedir(d);
    return found;
}

/* Restores pool.json from pool.json.prev: 1 done, 0 no usable prev. */
static int restore_prev(vs_pool *pool, bool damaged, vm_err *err)
{
    cleanup_json json_t *prev = vs_meta_load(pool->prev_path);
    if (!prev)
        return 0;
    const char *pn = vs_jstr(prev, "pool");
    if (pn && strcmp(pn, pool->name) != 0)
        return 0;
    cleanup_free char *bad = NULL;
    if (damaged) {
        /* Kept for whoever investigates; never read again. */
        bad = xasprintf("%s.bad.%lld", pool->meta_path, (long long)time(NULL));
        if (rename(pool->meta_path, bad) < 0)
            return vm_err_sys(err, errno, "cannot open pool '%s': cannot move the unreadable %s aside", pool->name,
                              pool->meta_path);
    }
    /* Data the lost generation made is unreferenced now: "kept" protects
     * it from recovery until an explicit vmstore gc. */
    cleanup_json json_t *refs = json_object();
    json_t *kept = json_array();
    vs_collect_refs(json_object_get(prev, "datasets"), refs);
    DIR *d = opendir(pool->datadir);
    struct dirent *de;
    while (d && (de = readdir(d)))
        if (de->d_name[0] != '.' && !json_object_get(refs, de->d_name))
            json_array_append_new(kept, json_string(de->d_name));
    if (d)
        closedir(d);
    json_array_extend(kept, json_object_get(prev, "kept"));
    json_object_set_new(prev, "kept", kept);
    cleanup_free char *s = json_compact(prev);
    size_t n = strlen(s);
    s = xrealloc(s, n + 2);
    memcpy(s + n, "\n", 2);
    if (write_file_atomic(pool->meta_path, s, n + 1, 0600, err) < 0) {
        vm_err_prefix(err, "cannot open pool '%s': cannot restore pool.json from pool.json.prev: ", pool->name);
        return -1;
    }
    char msg[1024];
    snprintf(
        msg, sizeof msg,
        "pool '%s': %s was %s; restored the previous generation from %s (the last change may be lost; %zu unreferenced data files are kept until 'vmstore gc'%s%s)",
        pool->name, pool->meta_path, damaged ? "unreadable" : "missing", pool->prev_path, json_array_size(kept),
        bad ? "; the damaged file is kept as " : "", bad ? bad : "");
    fprintf(stderr, "warning: %s\n", msg);
    vm_log(pool->ctx, "warn", "%s", msg);
    return 1;
}

int vs_pool_first_open(vs_pool *pool, bool *create, vm_err *err)
{
    json_t *m = NULL;
    *create = false;
    if (vs_meta_read(pool, &m, NULL) == 0) {
        json_decref(m); /* another process got there first */
        return 0;
    }
    bool damaged = path_exists(pool->meta_path);
    int r = restore_prev(pool, damaged, err);
    if (r != 0)
        return r < 0 ? -1 : 0;
    if (damaged)
        return vm_err_set(err, VMERR_IO,
                          "cannot open pool '%s': %s is unreadable and there is no usable pool.json.prev; "
                          "restore pool.json from a backup (the data in %s is kept)",
                          pool->name, pool->meta_path, pool->datadir);
    cleanup_free char *what = first_data(pool);
    if (what)
        return vm_err_set(err, VMERR_IO,
                          "cannot open pool '%s': %s is missing but %s holds data ('%s'); refusing to create "
                          "a new, empty pool over it: restore pool.json (or pool.json.prev) from a backup, "
                          "or move %s away to start a new pool",
                          pool->name, pool->meta_path, pool->dir, what, pool->dir);
    *create = true;
    return 0;
}
