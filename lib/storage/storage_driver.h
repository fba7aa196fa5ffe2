/* The seam between the storage API (pool.c, dataset.c, snapshot.c, ...) and
 * the code that holds the data (one driver per pool, libvirt storage-backend
 * style).
 *
 * The API files own the metadata (pool.json), names, locking and accounting; a
 * driver owns only the bytes.  Every data-creating hook runs BEFORE the
 * metadata commit and only creates files nobody references yet (so a crash
 * leaves garbage, never a dangling reference); it records the names of what
 * it made in the dataset/snapshot JSON it is given.  Hooks named *_commit or
 * remove_* run AFTER the commit and must tolerate being repeated (a crash
 * between commit and them is finished by vs_pool_open's repair).
 *
 * Dataset JSON (one entry of pool.json "datasets"), fields a driver may use:
 *   "guid", "type" ("filesystem"|"volume"), "file" (driver-private data name),
 *   "pending" (driver-private: replacement for "file" to apply after commit),
 *   "origin_layer" (clone: the origin snapshot's "layer"),
 *   "snaps": [{ "name", "guid", "layer" (driver-private frozen data) }]
 *
 * Drivers: "dir" (driver_dir.c, default: qcow2 files + directories on any
 * filesystem).  An OpenZFS driver would implement the same table by calling
 * libzfs/zfs(8) (create -V, snapshot, clone, holds are native; "file" would
 * be the dataset name itself and gc/repair no-ops); it is not written yet. */
#ifndef VM_STORAGE_DRIVER_H
#define VM_STORAGE_DRIVER_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "common/err.h"
#include "storage/storage.h"

typedef struct vs_driver {
    const char *name;
    /* Creates the pool's data area (idempotent). */
    int (*init)(vs_pool *pool, vm_err *err);
    /* New empty filesystem / thin volume; sets ds "file". */
    int (*fs_create)(vs_pool *pool, json_t *ds, vm_err *err);
    int (*vol_create)(vs_pool *pool, json_t *ds, uint64_t volsize, vm_err *err);
    /* New volume holding a copy of an existing image file (src_fmt: "raw",
     * "qcow2", NULL = probe); sets ds "file".  Called WITHOUT the pool lock
     * (a copy can take minutes): its data must survive other processes'
     * gc until the commit, which follows right after. */
    int (*vol_import)(vs_pool *pool, json_t *ds, const char *src, const char *src_fmt, uint64_t volsize, vm_err *err);
    /* Freezes ds's current data as snap "layer".  Volumes: sets snap "layer"
     * and ds "pending" (fresh overlay); filesystems: a copy without the
     * child dataset links named in `children` (array of basenames). */
    int (*snapshot)(vs_pool *pool, json_t *ds, json_t *snap, json_t *children, vm_err *err);
    /* New dataset `nds` (its "type" set) whose data starts as snap.
     * Filesystem clones are called WITHOUT the pool lock (clone.c); their
     * data must carry ".work." in its name (see gc). */
    int (*clone)(vs_pool *pool, json_t *snap, json_t *nds, uint64_t volsize, vm_err *err);
    /* Replacement data for ds equal to snap (volume: sets "pending";
     * filesystem: sets "pending" to a new copy). */
    int (*rollback)(vs_pool *pool, json_t *ds, json_t *snap, vm_err *err);
    /* Before removing snapshot idx of ds: makes the data above it stand on
     * its own (content-preserving, safe to interrupt). */
    int (*snap_detach)(vs_pool *pool, json_t *ds, size_t idx, vm_err *err);
    int (*resize)(vs_pool *pool, json_t *ds, uint64_t volsize, vm_err *err);
    /* After commit: applies ds "pending" (idempotent). */
    void (*apply_pending)(vs_pool *pool, json_t *ds);
    /* After commit: removes data no longer referenced (a name from "file",
     * "pending" or "layer"); < 0 (err nullable) when some of it is left. */
    int (*remove_data)(vs_pool *pool, const char *dataname, vm_err *err);
    /* True while data `dataname` (or any part of it) exists. */
    bool (*data_exists)(vs_pool *pool, const char *dataname);
    /* Collects garbage: data not in `keep` (object used as a set) whose
     * creator is gone or that is old; removed names are appended to
     * `removed` (nullable).  Called with the pool locked. */
    void (*gc)(vs_pool *pool, json_t *keep, json_t *removed);
    /* Bytes allocated by one data name (own blocks only). */
    uint64_t (*written)(vs_pool *pool, const char *dataname, int type);
    /* Absolute path of a data name (volume file / filesystem directory). */
    char *(*path)(vs_pool *pool, const char *dataname, int type);
    /* Allocated extents of one layer only (JSON array of [off, len]). */
    int (*layer_extents)(vs_pool *pool, const char *dataname, json_t *out, vm_err *err);
    /* Makes the mount view match the metadata (derived state). */
    void (*view_sync)(vs_pool *pool, json_t *meta);
    /* Optional (NULL: nothing to do).  Makes derived state that a host
     * reboot loses (mounts of layered views) exist again; at pool open. */
    void (*activate)(vs_pool *pool, json_t *meta);
    /* Optional.  Readies the filesystem data for reading through `path`
     * (mounts a layered view), with the reason when it cannot. */
    int (*fs_ready)(vs_pool *pool, const char *dataname, vm_err *err);
    /* Optional.  Bytes the data reads from layers it shares with its
     * origin (counted in "referenced", never in "used"). */
    uint64_t (*shared)(vs_pool *pool, const char *dataname, int type);
    /* Capacity of the backing store. */
    int (*space)(vs_pool *pool, uint64_t *size, uint64_t *used, uint64_t *free, vm_err *err);
} vs_driver;

extern const vs_driver vs_driver_dir;

#endif
