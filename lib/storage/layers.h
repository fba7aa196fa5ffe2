/* Layered filesystem data of the "dir" driver (issue 18 part 2): a
 * filesystem clone is an overlayfs stack instead of a copy, so its cost
 * does not depend on the image size.  Design and reasoning:
 * lib/storage/README.md "Filesystems: overlay layers".
 *
 * A layered data dir <datadir>/<name>/ holds
 *   lower   the read-only layers, one per line, topmost first, each a path
 *           relative to <datadir> ("<img>.d/fs", "<snap>.d/upper"); its
 *           presence is what makes the data layered (self-describing: the
 *           driver needs nothing from pool.json to mount it)
 *   upper/  the changes (whiteouts and opaque dirs as overlayfs writes them)
 *   work/   overlayfs's work dir (writable data only; absent in a frozen
 *           snapshot layer)
 *   fs/     where the merged view is mounted: the dataset's path
 * A snapshot of a layered dataset is a frozen copy of upper/ (cost: the
 * changes, not the image) with the same lower stack; a clone of it stacks
 * that frozen upper on top of the lowers.
 *
 * "Mounted" is never stored: ly_mount looks (statx mount root + overlay
 * magic) and mounts when needed, under a flock of the data's "lower" file;
 * after a host reboot the next reader mounts again.  Every removal of data
 * (destroy, rollback's old copy, gc of a dead creator's leftovers) first
 * detaches every mount beneath the data dir (ly_umount_under).  Mounts
 * only ever live under the pool's data directory. */
#ifndef VM_STORAGE_LAYERS_H
#define VM_STORAGE_LAYERS_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "common/err.h"
#include "storage/storage.h"

#define LY_LOWER_FILE "lower"
/* The switch: filesystem clones are layered by default (when overlayfs
 * can be mounted here, else a copy, logged); VMADM_FS_CLONES=copy makes
 * them full copies, as before issue 18; VMADM_FS_CLONES=overlay asks for
 * layers explicitly (a fallback to the copy is also printed on stderr).
 * Existing layered data works whatever the switch says. */
#define LY_SWITCH_ENV "VMADM_FS_CLONES"

/* ---- pure helpers (unit-tested) ---- */
/* overlayfs mount options for `lowers` (absolute paths, topmost first),
 * `upper`/`work` (both NULL: a read-only view).  NULL when a path holds a
 * character overlayfs options cannot carry (',' ':' '\\' newline) or the
 * result exceeds a page (mount(2)'s limit). */
char *ly_mount_opts(json_t *lowers, const char *upper, const char *work);
/* The mount points in mountinfo text (/proc/self/mountinfo) that are `dir`
 * or beneath it, deepest first (octal escapes decoded); new array. */
json_t *ly_mounts_under(const char *mountinfo, const char *dir);
/* Parses a "lower" file's text: relative paths, no "..", no absolute
 * paths, no empty lines; NULL when malformed. */
json_t *ly_parse_lowers(const char *text);

/* ---- data dirs ---- */
/* What the switch says: LY_COPY, LY_LAYERED (the default) or LY_ASKED
 * (layers asked for explicitly). */
enum { LY_COPY = 0, LY_LAYERED = 1, LY_ASKED = 2 };
int ly_wanted(void);
/* A container starts on layered data only on Linux >= 6.13 (overlay
 * layers passed as file descriptors, lib/ct): on an older kernel clones
 * are copies, with a warning in the log. */
#define LY_KERNEL_MAJOR 6
#define LY_KERNEL_MINOR 13
bool ly_kernel_ok(void);
/* cp -a --reflink=auto src dst (xattrs, whiteouts and owners kept): the
 * copy both the dir driver and the layers make. */
int ly_copy_tree(const char *src, const char *dst, vm_err *err);
/* True when data `dataname` is layered (has a "lower" file). */
bool ly_is_layered(const char *datadir, const char *dataname);
/* The lower layers of layered data (relative paths, topmost first). */
int ly_lowers(const char *datadir, const char *dataname, json_t **out, vm_err *err);
/* The lower stack a clone of filesystem data `layer` gets (relative
 * paths, topmost first): a plain copy's "fs", or a layered snapshot's
 * frozen "upper" followed by its own lowers. */
int ly_stack_of(const char *datadir, const char *layer, json_t **out, vm_err *err);
/* Makes data dir <datadir>/<name> layered on `lowers`: upper/ empty, or a
 * copy of <datadir>/<upper_from>/upper (cp -a, xattrs and whiteouts kept)
 * without the child dataset links named in `children` (top-level
 * symlinks); work/ when `writable`; fs/; then the "lower" file last (its
 * presence marks complete layered data). */
int ly_create(const char *datadir, const char *name, json_t *lowers, const char *upper_from, json_t *children,
              bool writable, vm_err *err);
/* Mounts the merged view of layered data at its fs/ unless it already is
 * (writable data read-write, frozen data read-only; nosuid, nodev). */
int ly_mount(const char *datadir, const char *dataname, vm_err *err);
/* Lazily detaches every mount at or beneath `dir` (MNT_DETACH). */
int ly_umount_under(const char *dir, vm_err *err);
/* ---- container roots (lib/ct, lib/storage/README.md "Containers on
 * layered roots") ---- */
/* 1 with *datadir and *dataname (new strings) when `fs` (any path, resolved)
 * is the fs/ view of layered data; 0 otherwise (both NULL). */
int ly_view_of(const char *fs, char **datadir, char **dataname);
/* Mounts a fresh view of layered data at its fs/ (mounted when it was
 * not): a view mounted before another overlay wrote into its upper may
 * show stale lookups.  The new view is attached beneath the old one, then
 * the old one detached, so fs/ is never seen empty. */
int ly_refresh(const char *datadir, const char *dataname, vm_err *err);
/* In the calling process's mount namespace, which the caller made private
 * (lib/ct's supervisor; refused while it still is `hostns`, an fd of the
 * host's namespace), mounts over fs/ the container's read-write view of
 * layered data: overlayfs (nosuid, nodev, same fixed options) over
 * idmapped mounts, attached over the originals in that namespace, of every
 * lower layer (read-only) and of the data dir
 * (upper/ and a fresh work dir "ctwork/", never the host view's work/),
 * each mapping on-disk ids 0..count-1 to host base..; the superblock is
 * created with fsuid/fsgid `base` (capabilities kept), so what container
 * root writes lands on disk as uid 0, as with an idmapped rootfs.  Needs
 * overlayfs layers by file descriptor (Linux 6.13). */
int ly_mount_shifted(const char *datadir, const char *dataname, int hostns, unsigned base, unsigned count, vm_err *err);
/* Bytes allocated by the layered data's own upper/ (what it wrote). */
uint64_t ly_written(const char *datadir, const char *dataname);
/* Bytes of the lower layers it reads (what it shares with its origin). */
uint64_t ly_shared(const char *datadir, const char *dataname);

#endif
