/* Shared by storage.c, meta.c and the drivers; not part of the public API
 * (unit tests include it to reach the pure functions). */
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
    char *dir;        /* root/var/vmstore/<pool> */
    char *datadir;    /* dir/data */
    char *meta_path;  /* dir/pool.json */
    char *txdir;      /* dir/tx: one file per process doing data work */
    const vs_driver *drv;
    int lockfd;       /* held flock on dir/pool.lock, or -1 */
    json_t *meta;     /* last metadata read (cache for readers) */
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
    json_t *inner;        /* {name: inner bytes} */
    json_t *qinner;       /* {name: inner with quota charges} */
    uint64_t promised;    /* outer(root) with every written = 0 */
    uint64_t unconsumed;  /* outer(root) - total written */
} vs_acct;
void vs_acct_compute(json_t *datasets, vs_written_fn fn, void *opaque, vs_refres_fn rfn, vs_acct *out);
void vs_acct_free(vs_acct *a);
/* Effective refreservation of a dataset entry ("auto" = volsize). */
uint64_t vs_ds_refres(json_t *ds);
uint64_t vs_ds_prop_u64(json_t *ds, const char *prop);

/* Datasets of `datasets` sorted in list order (array of names, new ref). */
json_t *vs_sorted_names(json_t *datasets);

#endif
