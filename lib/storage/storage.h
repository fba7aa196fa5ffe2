/* Storage layer: ZFS semantics (datasets, volumes, snapshots, clones with
 * origin, holds, properties, space accounting) on any Linux filesystem.
 *
 * Names are exactly what ZFS would give: "zones", "zones/<vm>",
 * "zones/<vm>/disk0", "zones/<image>@final".  One public API; the work is
 * done by a driver chosen per pool from a table (see storage_driver.h).  The
 * default driver "dir" keeps volumes as qcow2 files and filesystems as
 * directories under VMADM_ROOT; an OpenZFS driver can plug in behind the
 * same table.
 *
 * Every call is crash-safe: metadata is committed atomically after the data
 * it describes exists, so a kill -9 at any point leaves a consistent listing
 * (at worst an unreferenced data file that vs_pool_open() collects).
 *
 * Sizes are bytes throughout the API (operators' MiB/GiB live in lib/vm). */
#ifndef VM_STORAGE_H
#define VM_STORAGE_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "common/ctx.h"
#include "common/err.h"

typedef struct vs_pool vs_pool;

enum vs_type {
    VS_FILESYSTEM = 1,
    VS_VOLUME = 2,
    VS_SNAPSHOT = 4,
    VS_ALL = 7,
};

enum vs_flags {
    VS_RECURSIVE = 1, /* destroy -r, snapshot -r, list -r */
    VS_FORCE = 2,
    VS_ALLOW_SHRINK = 4, /* resize below current volsize */
    VS_DEFER = 8,
};

/* Opens (creating on first use) pool `name` (NULL = ctx->pool).  The pool's
 * data lives under VMADM_ROOT; the root filesystem dataset "<pool>" always
 * exists.  A pool is created only in a directory holding no data; when
 * pool.json is missing or unreadable the previous generation
 * (pool.json.prev) is restored with a warning on stderr, and without one a
 * directory with data is refused (README "Pool safety"). */
int vs_pool_open(const vm_ctx *ctx, const char *name, vs_pool **out, vm_err *err);
/* Explicit garbage collection (vmstore gc): removes every data file the
 * current pool.json does not reference and no live process is making,
 * including what the previous generation still references (automatic
 * recovery never does).  *removed: array of the data names removed. */
int vs_pool_collect(vs_pool *pool, json_t **removed, vm_err *err);
void vs_pool_close(vs_pool *pool);
/* True when pool `name` has been created (opened once) under ctx's root. */
bool vs_pool_exists(const vm_ctx *ctx, const char *name);
void cleanup_vs_poolp(vs_pool **p);
#define cleanup_vs_pool __attribute__((cleanup(cleanup_vs_poolp)))
const char *vs_pool_name(const vs_pool *pool);

/* --- creation ---
 * `props` (nullable) are user-settable properties as strings or integers:
 * quota, refquota, reservation, refreservation ("auto" or bytes or "none"),
 * compression, volblocksize, and any "user:prop" (module:prop) names.
 * Creation fails up front with VMERR_NOSPACE, naming the numbers, when the
 * pool cannot honour the reservation. */
int vs_create_fs(vs_pool *pool, const char *name, json_t *props, vm_err *err);
int vs_create_vol(vs_pool *pool, const char *name, uint64_t volsize, json_t *props, vm_err *err);

/* A new volume holding a copy of an image file (src_fmt "raw", "qcow2" or
 * NULL to probe): what imgadm uses to import a zvol image before taking
 * "@final".  volsize (bytes, 0 = the file's virtual size rounded up to
 * volblocksize) must not be smaller than the image.  The copy is made before
 * the metadata commit, so a crash leaves no half-imported volume. */
int vs_import_vol(vs_pool *pool, const char *name, const char *src, const char *src_fmt, uint64_t volsize,
                  json_t *props, vm_err *err);

/* Snapshot "ds@snap"; with VS_RECURSIVE every descendant gets @snap too
 * (all or nothing). */
int vs_snapshot(vs_pool *pool, const char *snapname, int flags, vm_err *err);
/* vs_snapshot for volumes a running writer (QEMU) holds open: after the
 * commit, `live` gets [{"dataset", "active", "overlay"}] (absolute paths)
 * for every volume snapshotted and must move the writer onto the overlays
 * (QMP blockdev-add of each overlay, then blockdev-snapshot: the overlay's
 * backing is the frozen layer, which is the writer's current inode).  The snapshot is
 * the disks as they were at that move.  If `live` fails, -2: the snapshot
 * stays committed but the writer kept writing into the frozen layers, so
 * the caller must stop the writer and destroy the snapshot. */
typedef int (*vs_switch_fn)(void *arg, json_t *switches, vm_err *err);
int vs_snapshot_live(vs_pool *pool, const char *snapname, int flags, vs_switch_fn live, void *arg, vm_err *err);
/* Clone "ds@snap" to a new dataset whose `origin` is the snapshot.  Cost does
 * not depend on the size of the snapshot.  props may carry "volsize" (bytes,
 * grow only) and the creation properties above. */
int vs_clone(vs_pool *pool, const char *snapname, const char *newname, json_t *props, vm_err *err);
/* Destroy a dataset or snapshot.  Refused (VMERR_BUSY) while clones depend
 * on it or any snapshot has holds; VS_RECURSIVE also destroys children and
 * snapshots (still refused for holds and for dependent clones outside).
 * Works on a full pool (the metadata rewrite may use the pool's reserve).
 * Succeeds only when the data is gone too: if removing it fails after the
 * commit, the dataset is no longer listed but the call fails naming what is
 * left (vmstore gc collects it). */
int vs_destroy(vs_pool *pool, const char *name, int flags, vm_err *err);
/* vs_destroy of one snapshot "ds@snap" whose volume a running writer
 * (QEMU) holds open: instead of the driver rewriting the data above the
 * snapshot's layer, `merge` gets {"dataset", "layer", "above", "below"?,
 * "backing"?} (absolute paths; "below" absent when nothing is under the
 * layer; "backing" the reference to record in `above`) and must make the
 * writer copy the layer's data into `above` and point it at `below` (QMP
 * block-stream), content unchanged.  Then the snapshot goes in one commit.
 * If merge fails, nothing is committed: the snapshot stays.  Snapshots of
 * filesystems are destroyed as by vs_destroy. */
typedef int (*vs_merge_fn)(void *arg, json_t *merge, vm_err *err);
int vs_destroy_live(vs_pool *pool, const char *snapname, vs_merge_fn merge, void *arg, vm_err *err);
/* Roll a dataset back to "ds@snap", with zfs rollback's rule checked under
 * the pool lock: without VS_RECURSIVE it is refused (VMERR_BUSY) while
 * snapshots newer than ds@snap exist, nothing changed, with zfs's message
 * naming them one per line and no trailing newline ("cannot rollback to
 * '<snap>': more recent snapshots or bookmarks exist\nuse '-r' to force
 * deletion of the following snapshots and bookmarks:\n<ds@a>\n<ds@b>"; a
 * list too long for vm_err ends with "(N more not listed)").  With
 * VS_RECURSIVE (-r) the newer snapshots are destroyed (refused if those have
 * holds/clones).  A missing snapshot: "cannot open '<snap>': dataset does
 * not exist". */
int vs_rollback(vs_pool *pool, const char *snapname, int flags, vm_err *err);
int vs_rename(vs_pool *pool, const char *from, const char *to, vm_err *err);
/* Exchanges the names of two datasets (and their descendants) in a single
 * metadata commit: the atomic step of reprovision's disk swap. */
int vs_swap(vs_pool *pool, const char *a, const char *b, vm_err *err);

/* --- holds --- */
int vs_hold(vs_pool *pool, const char *tag, const char *snapname, vm_err *err);
int vs_release(vs_pool *pool, const char *tag, const char *snapname, vm_err *err);
/* *tags: JSON array of tag strings (new reference). */
int vs_holds(vs_pool *pool, const char *snapname, json_t **tags, vm_err *err);
/* *holds: object {tag: creation time (epoch s)} (new reference). */
int vs_holds_detail(vs_pool *pool, const char *snapname, json_t **holds, vm_err *err);

/* --- properties ---
 * vs_get returns an object { "<prop>": {"value": <string|integer>,
 * "source": "-"|"local"|"default"|"inherited from X"} } with every property
 * of the dataset: name, type, origin, creation (epoch s), volsize, used,
 * referenced, usedbysnapshots, available, refreservation, reservation,
 * quota, refquota, compression, volblocksize, userrefs, mountpoint, plus
 * user properties.  Integers are bytes. */
int vs_get(vs_pool *pool, const char *name, json_t **props, vm_err *err);
/* Like vs_get, but computes only `props` (NULL-terminated): `used` and
 * friends walk a filesystem's files, which readers of other properties
 * should not pay for. */
int vs_get_some(vs_pool *pool, const char *name, const char *const *props, json_t **out, vm_err *err);
/* Convenience: one property as an integer / newly allocated string. */
int vs_get_int(vs_pool *pool, const char *name, const char *prop, int64_t *out, vm_err *err);
int vs_get_str(vs_pool *pool, const char *name, const char *prop, char **out, vm_err *err);
int vs_set(vs_pool *pool, const char *name, const char *prop, const char *value, vm_err *err);
/* zfs inherit of a user property ("x:y"): removed from the dataset. */
int vs_inherit(vs_pool *pool, const char *name, const char *prop, vm_err *err);
bool vs_exists(vs_pool *pool, const char *name);

/* Names of datasets under `root` (NULL = whole pool; root itself included)
 * of the given type mask, in zfs list order (parents before children,
 * snapshots after their dataset in creation order).  *names: JSON array. */
int vs_list(vs_pool *pool, const char *root, int types, int flags, json_t **names, vm_err *err);

/* Resize a volume.  Growing always allowed space permitting; shrinking needs
 * VS_ALLOW_SHRINK.  The VM layer uses QMP block_resize for running guests
 * and then vs_set_volsize_meta() to record it. */
int vs_resize(vs_pool *pool, const char *name, uint64_t volsize, int flags, vm_err *err);
int vs_set_volsize_meta(vs_pool *pool, const char *name, uint64_t volsize, vm_err *err);

/* --- paths for hypervisors and containers ---
 * The file QEMU opens for a volume (qcow2; its backing chain is internal). */
int vs_vol_path(vs_pool *pool, const char *name, char **path, vm_err *err);
/* The directory holding a filesystem dataset's files (or a snapshot's
 * frozen copy), and its mountpoint in the mount view <root>/<name>. */
int vs_fs_path(vs_pool *pool, const char *name, char **path, vm_err *err);
char *vs_mountpoint(vs_pool *pool, const char *name);

/* --- send / receive (send.c, send_fs.c, recv_fs.c; the stream format is
 * stream.h) ---
 * vs_send writes one stream object for snapshot `snapname` of a volume or
 * a filesystem.  `from`: NULL (full), an earlier snapshot of the same
 * dataset ("ds@a": incremental, descriptor "from": "a"), or the dataset's
 * origin ("zones/<image>@final": only what the clone changed relative to
 * it, descriptor "origin": "<full name>", as `zfs send -i origin@s
 * clone@s`).  Volumes: {"kind": "volume", "name", "snapshot", "volsize",
 * "size"} with the extents holding data (full) or changed since the base
 * (the clone's own layers for an origin stream), zeros included.
 * Filesystems: {"kind": "filesystem", "encoding": "fsentry-1", "entries",
 * "size"}: the entries of lib/storage/fsentry.h — files (holes skipped),
 * directories, symlinks, hardlinks, devices, fifos, sockets with mode,
 * numeric owner, mtime and xattrs; incremental by rsync's quick check
 * (lib/storage/fstree.h says what that misses).  The snapshots read are
 * held while they are read.  vs_send_volume is vs_send for volumes only.
 *
 * vs_receive takes one object (obj: its descriptor, just read from r) into
 * dataset `name`, by its "kind": a full stream creates it ("cannot receive
 * new filesystem stream: destination '<name>' exists"); an incremental one
 * needs `name` whose most recent snapshot is named as the stream's "from"
 * and is unchanged since (zfs's messages); an origin stream needs `name`
 * absent and the origin present locally ("cannot receive incremental
 * stream: origin '<x>' does not exist") and makes `name` a clone of it.
 * Then the data is applied and name@<snapshot> taken.  On failure a
 * dataset it created is destroyed and an existing one rolled back to the
 * base: the destination is as it was.  A new dataset is received as
 * "<name>-vmstore-recv-<pid>" and renamed to `name` once complete, so a
 * receive killed half way leaves no `name` (the next receive of that name
 * removes the dead receiver's dataset); a killed incremental receive leaves
 * the destination modified since its snapshot (refused until rolled back).  With VS_RECV_LAST the object must
 * be the stream's last (its END read and checked before the snapshot).
 * Nothing in the stream names a host path: the target is the caller's
 * `name`, and filesystem entries are created only beneath its root (never
 * through a symlink); device nodes only with VS_RECV_DEVICES, setuid or
 * setgid files refused with VS_RECV_NO_SETUID (imgadm's tar policy).
 *
 * Resumable transfers (zfs receive -s / send -t, per object): with
 * VS_RECV_RESUMABLE a volume or filesystem object is received into
 * "<name>-vmstore-partial" (full or origin stream) or onto `name` itself
 * (incremental), and a receive that fails or is killed keeps what it wrote
 * up to its last checkpoint: every VS_RESUME_CHUNK bytes the data is made
 * durable (volume: NBD flush, fsync of the layer; filesystem: at the first
 * record boundary where the entry parser stands between entries or inside
 * a file's data, the directory times so far set and syncfs), then the
 * user property VS_RESUME_PROP of that dataset is set to {"guid": the
 * sender's snapshot guid, "snapshot", "from"|"origin", "volsize" (volume)
 * | "size" (filesystem object), "offset": every byte the stream carries
 * below it is on disk} — a filesystem's also says where its parser stands
 * and which directories' times are still to be set (recv_fs.c); the token
 * carries only the keys named here.  vs_resume_state reads it;
 * vs_send_at(..., offset) sends the object again from that byte on
 * (descriptor "resume_offset"), which such a receive continues — refused
 * unless guid, snapshot, base, size and offset all match ("cannot resume
 * receive of '<name>': ..."); a receive of the same object from byte 0
 * first discards the partial state.  So a cut costs at most one chunk per
 * object (a filesystem's resumed send emits the same byte sequence from
 * the offset on, reading no file that lies wholly below it).
 * vs_receive_abort discards it (zfs receive -A): the partial dataset is
 * destroyed, a partially received incremental rolled back to its base.
 *
 * vs_send_size: the bytes of the object vs_send would write (volume data
 * extents; a filesystem's entries and file data), no stream written. */
typedef struct vs_stream_writer vs_stream_writer;
typedef struct vs_stream_reader vs_stream_reader;
int vs_send(vs_pool *pool, const char *snapname, const char *from, vs_stream_writer *w, vm_err *err);
int vs_send_at(vs_pool *pool, const char *snapname, const char *from, uint64_t offset, vs_stream_writer *w,
               vm_err *err);
int vs_send_size(vs_pool *pool, const char *snapname, const char *from, uint64_t *bytes, vm_err *err);
int vs_send_volume(vs_pool *pool, const char *snapname, const char *from, vs_stream_writer *w, vm_err *err);
enum { VS_RECV_LAST = 1, VS_RECV_DEVICES = 2, VS_RECV_NO_SETUID = 4, VS_RECV_RESUMABLE = 8 };
int vs_receive(vs_pool *pool, const char *name, vs_stream_reader *r, json_t *obj, int flags, vm_err *err);
int vs_receive_volume(vs_pool *pool, const char *name, vs_stream_reader *r, json_t *obj, int flags, vm_err *err);
#define VS_RESUME_PROP "vmadm:receive_resume"
#define VS_RESUME_CHUNK ((uint64_t)64 << 20)
/* *state: the saved state of an interrupted resumable receive of `name`
 * (above), or NULL. */
int vs_resume_state(vs_pool *pool, const char *name, json_t **state);
int vs_receive_abort(vs_pool *pool, const char *name, vm_err *err);
/* zfs send -t: `vmstore get receive_resume_token <dataset>` (the partial
 * dataset's, "1-<hex>") names the snapshot by guid, its base and offset;
 * vs_send_token sends that object from there on. */
char *vs_resume_token(const char *state_json);
int vs_resume_token_parse(const char *token, json_t **state, vm_err *err);
int vs_send_token(vs_pool *pool, const char *token, vs_stream_writer *w, vm_err *err);

/* --- space ---
 * Pool capacity (statvfs of the backing filesystem), promised reservations
 * and what is left to promise. */
typedef struct vs_space {
    uint64_t size; /* filesystem size */
    uint64_t used; /* allocated by the filesystem */
    uint64_t free; /* statvfs free for unprivileged use */
    uint64_t reserved; /* sum of reservations promised by the pool */
    uint64_t available; /* free - (unconsumed part of reservations) */
} vs_space;
int vs_pool_space(vs_pool *pool, vs_space *out, vm_err *err);

/* Blocks allocated in `name` between two of its snapshots (or from snap A to
 * the live data when b is NULL; or, when snap A is the origin of snap B's
 * volume, what the clone wrote up to B): JSON array of {"offset","length"}
 * in bytes.  The basis for incremental send. */
int vs_changed_blocks(vs_pool *pool, const char *snap_a, const char *snap_b, json_t **extents, vm_err *err);

/* Sizes as zfs(8) reads and prints them: "10G", "1.5g", "512M", "4096",
 * "none" (= 0 when allow_none).  Formatting: "1.50G", "10G", "96K", "0B". */
int vs_parse_size(const char *s, bool allow_none, uint64_t *out);
void vs_format_size(uint64_t v, char buf[16]);

/* Validation helpers (no pool needed). */
bool vs_valid_name(const char *name); /* dataset or snapshot name */
bool vs_valid_snap_component(const char *s);

#endif
