/* Shared by the files of lib/storage and its drivers; not part of the
 * public API (unit tests include it to reach the pure functions).
 *
 * Who owns what (README.md "Source files"):
 *   pool.c      open/close, pool.json, the lock, transactions, read views,
 *               crash recovery, lookups with their "does not exist" messages
 *   meta.c      pure helpers: names, sizes, ordering, dataset JSON, space model
 *   space.c     accounting against the driver's capacity, space/quota checks
 *   props.c     property parsing, vs_get*, vs_set, resize
 *   dataset.c   create, destroy, rename, swap, exists, list, paths
 *   import.c    vs_import_vol: the image copy outside the lock
 *   snapshot.c  snapshot (live too), snapshot destroy/rename, rollback,
 *               changed blocks
 *   clone.c     vs_clone (filesystem clones copy outside the lock)
 *   hold.c      holds
 *   guard.c     pool safety: previous generation, fresh-directory creation,
 *               the space reserve
 *   driver_*.c  the bytes (storage_driver.h)
 *
 * Every function below that takes `vm_err *err` returns < 0 with the
 * operator-facing message set (the zfs(8) wording, "cannot ... 'x': ..."). */
#ifndef VM_STORAGE_INTERNAL_H
#define VM_STORAGE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>

#include "common/ctx.h"
#include "storage/storage.h"
#include "storage/storage_driver.h"

struct vs_pool {
    const vm_ctx *ctx;
    char *name;
    char *dir; /* root/var/vmstore/<pool> */
    char *datadir; /* dir/data */
    char *meta_path; /* dir/pool.json */
    char *prev_path; /* dir/pool.json.prev: the previous generation */
    char *txdir; /* dir/tx: one file per process doing data work */
    const vs_driver *drv;
    int lockfd; /* held flock on dir/pool.lock, or -1 */
    json_t *meta; /* last metadata read (cache for readers) */
    dev_t meta_dev;
    ino_t meta_ino;
    struct timespec meta_mtime;
    /* Pool-wide accounting of `acct_for` (a cached meta object), reused by
     * readers for a second so listing n datasets is not O(n^2). */
    json_t *acct_for;
    int64_t acct_ms;
    uint64_t acct_unconsumed, acct_promised;
    json_t *acct_qinner;
};

/* ---- pure helpers (meta.c) ---- */
/* zfs list order: component-wise, so "a/b" sorts right after "a". */
int vs_name_cmp(const char *a, const char *b);
/* "zones/x/disk0" -> "zones/x" (newly allocated; NULL for the pool root). */
char *vs_parent_name(const char *name);
/* True when `name` is `root` or below it ("zones/x" is under "zones"). */
bool vs_name_under(const char *name, const char *root);

/* Space model.  For every dataset D (written = bytes its own data occupies):
 *   inner(D) = max(refreservation(D), written(D)) + written(snapshots of D)
 *              + sum over children C of outer(C)
 *   outer(D) = max(reservation(D), inner(D))
 * inner() is what a quota on D limits; outer(pool root) - total written is
 * the part of the promises not yet backed by data ("unconsumed"). */
typedef uint64_t (*vs_written_fn)(void *opaque, const char *name, json_t *ds);
/* Own baseline charge of a dataset: its refreservation, or (quota) what a
 * quota counts for it (a volume at least its volsize).  NULL: stored
 * numbers, "auto" = volsize. */
typedef uint64_t (*vs_refres_fn)(json_t *ds, bool quota);
typedef struct vs_acct {
    json_t *inner; /* {name: inner bytes} */
    json_t *qinner; /* {name: inner with quota charges} */
    uint64_t promised; /* outer(root) with every written = 0 */
    uint64_t unconsumed; /* outer(root) - total written */
} vs_acct;
void vs_acct_compute(json_t *datasets, vs_written_fn fn, void *opaque, vs_refres_fn rfn, vs_acct *out);
void vs_acct_free(vs_acct *a);
/* Effective refreservation of a dataset entry ("auto" = volsize). */
uint64_t vs_ds_refres(json_t *ds);
uint64_t vs_ds_prop_u64(json_t *ds, const char *prop);

/* Datasets of `datasets` sorted in list order (array of names, new ref). */
json_t *vs_sorted_names(json_t *datasets);

/* ---- dataset JSON (meta.c; entries as described in storage_driver.h) ---- */
#define VS_DEFAULT_VOLBLOCKSIZE 8192
/* String member `k` of `o` (borrowed; NULL when absent). */
const char *vs_jstr(json_t *o, const char *k);
/* VS_VOLUME or VS_FILESYSTEM from ds "type". */
int vs_ds_type(json_t *ds);
const char *vs_type_name(int t);
/* "ds@snap" -> ds (allocated) and *snap pointing into name (NULL if none). */
char *vs_split_snap(const char *name, const char **snap);
/* Index of snapshot `snap` in ds "snaps", or -1. */
ssize_t vs_find_snap(json_t *ds, const char *snap);
/* Names of the datasets below `name` (direct children only unless
 * recursive), new array. */
json_t *vs_child_names(json_t *dss, const char *name, bool recursive);

/* ---- pool.c: metadata, lock, transactions ---- */
char *vs_new_guid(void);
/* A fresh dataset entry of `type` (new guid, creation now, no props). */
json_t *vs_new_ds(int type);
/* The current pool.json (cached while the file is unchanged; new ref). */
int vs_meta_read(vs_pool *pool, json_t **out, vm_err *err);
/* tx/<pid>: "this process may leave half-made data" (see README). */
void vs_tx_mark(vs_pool *pool);
void vs_tx_unmark(vs_pool *pool);

/* A change: vs_txn_begin takes the pool lock and gives a private copy of
 * the metadata (pendings left by a crash applied first); edit t->dss, let
 * the driver create data, vs_txn_commit writes pool.json (THE commit
 * point); vs_txn_end always follows (after a commit it applies `finish`,
 * removes `garbage`, syncs the mount view), then unlocks.  After a failed
 * vs_txn_begin, vs_txn_end is a harmless no-op only if t was zeroed by it. */
typedef struct vs_txn {
    vs_pool *pool;
    json_t *meta;
    json_t *dss; /* meta["datasets"] (borrowed) */
    json_t *garbage; /* data names to remove after the commit */
    json_t *finish; /* dataset names whose "pending" to apply after commit */
    bool committed;
    bool frees_space; /* a destroy: may use the reserve to commit */
    bool used_reserve; /* re-create the reserve at the end */
} vs_txn;
int vs_txn_begin(vs_pool *pool, vs_txn *t, vm_err *err);
int vs_txn_commit(vs_txn *t, vm_err *err);
void vs_txn_end(vs_txn *t);
/* vs_txn_end that reports (< 0, "its data could not be removed: ...") when
 * data the change gave up is still there afterwards. */
int vs_txn_finish(vs_txn *t, vm_err *err);
/* Adds the data names the datasets reference (file, pending, layers) to
 * the set `refs`. */
void vs_collect_refs(json_t *dss, json_t *refs);
/* Removes the data an aborted change made for `obj` (dataset or snapshot
 * entry nothing references). */
void vs_discard_data(vs_pool *pool, json_t *obj);
/* Lookups inside a transaction: "cannot open 'x': dataset does not exist"
 * when missing; vs_lookup_snap says "<prefix>: invalid snapshot name" for
 * a malformed name. */
int vs_lookup_ds(vs_txn *t, const char *name, json_t **ds, vm_err *err);
int vs_lookup_snap(vs_txn *t, const char *snapname, const char *prefix, json_t **ds, ssize_t *idx, vm_err *err);

/* Read-only access: the cached metadata, no lock (commits are atomic). */
typedef struct vs_view {
    json_t *meta;
    json_t *dss;
} vs_view;
int vs_view_open(vs_pool *pool, vs_view *v, vm_err *err);
void vs_view_close(vs_view *v);
/* Finds a dataset or snapshot; *snap is NULL for a dataset. */
int vs_view_find(vs_view *v, const char *name, json_t **ds, json_t **snap, vm_err *err);

/* ---- guard.c: pool safety (generations, fresh directories, reserve) ---- */
#define VS_RESERVE_BYTES (4ULL << 20)
/* Preallocates dir/reserve when missing (best effort, all or nothing). */
void vs_reserve_ensure(vs_pool *pool);
/* Frees the reserve; false when there was none. */
bool vs_reserve_release(vs_pool *pool);
/* A pool.json-shaped file (object with a "datasets" object) or NULL. */
json_t *vs_meta_load(const char *path);
/* pool.json is missing or unreadable (the lock held): restores
 * pool.json.prev (warning), or sets *create when the directory holds no
 * data, or refuses naming the path and what to do. */
int vs_pool_first_open(vs_pool *pool, bool *create, vm_err *err);

/* ---- space.c ---- */
/* Effective refreservation: "auto" also covers the qcow2 metadata. */
uint64_t vs_ds_refres_eff(json_t *ds);
/* Quota charge of every dataset ({name: bytes}, new ref). */
void vs_quota_inner(vs_pool *pool, json_t *dss, json_t **out);
/* A space check compares the accounting after an in-memory change with the
 * one taken before it (vs_space_snap); vs_space_free releases it. */
typedef struct vs_space_before {
    uint64_t unconsumed;
    json_t *qinner;
} vs_space_before;
void vs_space_snap(vs_pool *pool, json_t *dss, vs_space_before *sb);
/* VMERR_NOSPACE "<prefix>: out of space: <what> needs ..." or "<prefix>:
 * size is greater than available space (...)". */
int vs_space_check(vs_pool *pool, json_t *dss, vs_space_before *sb, const char *prefix, const char *what, vm_err *err);
void vs_space_free(vs_space_before *sb);
/* The cause named in a creation's space message ("refreservation 10G"). */
const char *vs_space_what(json_t *props, char buf[96]);
/* used / referenced / usedbysnapshots of a dataset or snapshot (`snap`
 * non-NULL), measuring filesystems too. */
void vs_usage(vs_pool *pool, json_t *dss, const char *name, json_t *ds, json_t *snap, uint64_t *used,
              uint64_t *referenced, uint64_t *usedbysnaps);
/* Space left to dataset `dsname`: the pool's, limited by the quotas of it
 * and its ancestors. */
int vs_available(vs_pool *pool, json_t *dss, const char *dsname, uint64_t *avail, vm_err *err);

/* ---- props.c ---- */
/* Validates creation properties into their stored form ("volsize" only
 * when allow_volsize, for clones).  Message without the caller's prefix. */
int vs_parse_props(int type, json_t *props, bool allow_volsize, json_t **out, vm_err *err);

/* ---- dataset.c ---- */
/* A new dataset's name: valid, in this pool, free, parent a filesystem. */
int vs_check_new_name(vs_txn *t, const char *name, const char *prefix, vm_err *err);
int vs_check_volsize(json_t *props, uint64_t volsize, const char *prefix, vm_err *err);
enum { VS_MK_FS, VS_MK_VOL, VS_MK_IMPORT };
/* Creation of a filesystem, volume or (import.c) imported volume. */
int vs_create_common(vs_pool *pool, int kind, const char *name, uint64_t volsize, const char *src, const char *src_fmt,
                     json_t *props, vm_err *err);

/* ---- import.c ---- */
/* Size of the image `src` checked against (or giving, when 0) *volsize. */
int vs_import_size(const char *src, const char *src_fmt, json_t *parsed, uint64_t *volsize, const char *prefix,
                   vm_err *err);
/* Name and space checked under the lock, then the copy without it (the
 * tx marker stays set; the caller commits and unmarks). */
int vs_import_copy(vs_pool *pool, const char *name, json_t *ds, json_t *parsed, const char *src, const char *src_fmt,
                   uint64_t volsize, const char *prefix, vm_err *err);

/* ---- snapshot.c ---- */
/* Refuses removing snapshot `snap` of `dsname` (VMERR_BUSY: holds, clones
 * outside `keep_under`, which is being destroyed as well). */
int vs_snap_removable(vs_txn *t, const char *dsname, json_t *snap, const char *keep_under, const char *prefix,
                      vm_err *err);
/* destroy / rename of "ds@snap" inside t; both commit. */
int vs_destroy_snapshot(vs_txn *t, const char *name, vm_err *err);
int vs_rename_snapshot(vs_txn *t, const char *from, const char *to, vm_err *err);

#endif
