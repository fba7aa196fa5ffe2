/* Images: install, list, get, delete and create (SmartOS imgadm subset).
 *
 * An installed image is a dataset "<pool>/<uuid>" with a snapshot
 * "<pool>/<uuid>@final" (VM disks and zone roots are clones of it) plus its
 * manifest in $VMADM_ROOT/var/imgadm/images/<pool>-<uuid>.json.  The manifest
 * is written last: it is the commit point, so an install killed at any
 * moment leaves either no image or a complete one.  Datasets made by an
 * install carry the user property "imgadm:image" = <uuid>; one without a
 * manifest is what an interrupted install left, and the next install of that
 * image replaces it (a dataset without the mark is never touched).
 *
 * zvol images become a volume filled with `qemu-img convert` (raw or qcow2
 * input, sparseness kept); zone-dataset and lx-dataset images are tarballs
 * extracted into "<mountpoint>/root".  files[0].sha1/size describe the file
 * as shipped (compressed); both are verified before the commit.
 *
 * Hostile image files (issue 14), no opt-out unless stated:
 * - The file is opened once; hashing, probing, decompression, qemu-img
 *   (through /proc/<pid>/fd/<n>) and both tar passes read that descriptor,
 *   so a file renamed over the path is never used, and a write into the
 *   open file (its ctime/mtime/size change) fails the install with
 *   "<file> changed while being installed".
 * - Decompression stops with "... decompresses to more than N MiB ...:
 *   refusing a decompression bomb" before writing past the bound: zvol
 *   image_size + 1/256 + 1 MiB; tarballs the same from image_size when the
 *   manifest gives one (the documented way to admit a rootfs that expands
 *   more), else 100 x files[0].size + 256 MiB.
 * - Tarballs are extracted by lib/image/extract.c, never by
 *   archive_write_disk: each path is resolved in the tree with openat2
 *   (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS), nothing is ever created through
 *   a symlink, and every write error (data, owner, mode, xattr, times,
 *   full pool) fails the install and removes the partial dataset.
 * - Temp files are "<uuid>.<pid>.raw" in var/imgadm/tmp; img_tmp_sweep
 *   (every imgadm command) removes those of dead processes.
 * Test hook (never in production): VMADM_TEST_IMGADM_PAUSE_AFTER_HASH=<fifo>
 * pauses an install after the file is hashed (image.c test_pause_after_hash). */
#ifndef VM_IMAGE_H
#define VM_IMAGE_H

#include <stdint.h>
#include <jansson.h>

#include "common/ctx.h"
#include "common/err.h"

/* Progress report: phase ("verify", "decompress", "convert", "extract",
 * "compress", ...), bytes done, total (0 if unknown). */
typedef void (*img_progress_fn)(void *arg, const char *phase, uint64_t done, uint64_t total);

enum img_install_flags {
    IMG_INSTALL_ALLOW_SETUID = 1, /* accept setuid/setgid files in tarballs */
    /* The caller checked files[0].sha1 over exactly this file's bytes
     * (imgadm import: while downloading, into a 0600 file of a root-only
     * directory): no separate hashing pass.  Passes that read the file
     * anyway still hash it, and the file must not change meanwhile. */
    IMG_INSTALL_VERIFIED = 2,
};

typedef struct img_install_opts {
    img_progress_fn progress; /* nullable */
    void *progress_arg;
    int flags; /* img_install_flags */
} img_install_opts;

typedef struct img_create_opts {
    img_progress_fn progress; /* nullable */
    void *progress_arg;
    const char *compression; /* "zstd" (default when NULL), "gzip", "none" */
} img_create_opts;

/* The manifest of an installed image (new reference).  VMERR_INVALID for a
 * bad uuid (`invalid uuid: "x"`), VMERR_NOTFOUND
 * (`image "<uuid>" was not found on zpool "<pool>"`).  pool NULL = ctx->pool. */
int img_get(const vm_ctx *ctx, const char *pool, const char *uuid, json_t **manifest, vm_err *err);
/* Manifests of all images installed in pool, sorted by published_at then name. */
int img_list(const vm_ctx *ctx, const char *pool, json_t **manifests, vm_err *err);
/* Installs the image described by manifest_path from file_path.  Nothing is
 * changed on failure.  opts nullable. */
int img_install(const vm_ctx *ctx, const char *pool, const char *manifest_path, const char *file_path,
                const img_install_opts *opts, vm_err *err);
/* Removes what installs killed with -9 left in $VMADM_ROOT/var/imgadm/tmp:
 * temp files are named "<uuid>.<pid>.raw" and go once <pid> is gone.  Every
 * imgadm command calls it first; img_install does too. */
void img_tmp_sweep(const vm_ctx *ctx);
/* Refused (VMERR_BUSY) while datasets are clones of <pool>/<uuid>@final;
 * the message names them. */
int img_delete(const vm_ctx *ctx, const char *pool, const char *uuid, vm_err *err);
/* Builds an image from a VM object (vmadm get format): bhyve/kvm from
 * disks[0], containers from the zone root.  Writes
 * <outdir>/<name>-<version>.json and the image file next to it; the VM must
 * not be running.  manifest_overrides must carry name and version and may
 * carry any other manifest field.  *manifest_out (nullable) is the manifest. */
int img_create(const vm_ctx *ctx, json_t *vmobj, json_t *manifest_overrides, const char *outdir,
               const img_create_opts *opts, json_t **manifest_out, vm_err *err);

enum img_tar_flags {
    IMG_TAR_ALLOW_SETUID = 1,
};
/* Refuses a tarball (any compression libarchive reads) that has absolute
 * paths, ".." components, entries written through a symlink of the archive,
 * relative symlinks or hardlinks reaching outside the root, device nodes, or
 * (without IMG_TAR_ALLOW_SETUID) setuid/setgid files.  Absolute symlink
 * targets are allowed: they resolve inside the container root. */
int img_check_tarball(const char *path, int flags, vm_err *err);

/* Manifest v2 checks, message "invalid manifest: ..." naming the field.
 * As IMGAPI, "v" and "image_size" may be decimal strings ("2"): they are
 * rewritten in place as integers, so the installed manifest has numbers. */
int img_manifest_validate(json_t *manifest, vm_err *err);
/* Where the manifest of an installed image lives (caller frees). */
char *img_manifest_path(const vm_ctx *ctx, const char *pool, const char *uuid);

/* ---- Image sources (source.c, import.c; HTTP through libcurl: fetch.h) ----
 * The source list lives in $VMADM_ROOT/var/imgadm/imgadm.conf
 * ({"sources": [{"url", "type": "imgapi"}]}); without one the default is
 * IMG_DEFAULT_SOURCE.  A source is an IMGAPI server or a static mirror laid
 * out as IMGAPI paths: GET <url>/images (a JSON array of manifests),
 * GET <url>/images/<uuid> (a manifest), GET <url>/images/<uuid>/file (the
 * file); redirects are followed, so a mirror serves images/index.html and
 * images/<uuid>/index.html (any web server's directory index) next to
 * images/<uuid>/file.  Nothing a source sends names a host path: manifests
 * go through img_manifest_validate and must carry the uuid asked for. */
#define IMG_DEFAULT_SOURCE "https://images.smartos.org"

/* http:// or https:// URL with a host (name, IPv4 or [IPv6]) and an
 * optional port; no user info, query, fragment, spaces, control or
 * non-ASCII bytes.  *norm (caller frees) drops trailing '/'.
 * `invalid image source URL "<url>": <why>`. */
int img_source_url_check(const char *url, char **norm, vm_err *err);
/* The configured sources, in order (array of URL strings). */
int img_sources_get(const vm_ctx *ctx, json_t **urls, vm_err *err);
/* Replaces the list (each URL checked first; nothing written on error). */
int img_sources_set(const vm_ctx *ctx, json_t *urls, vm_err *err);
/* Serializes edits of the list: a held lock fd to close(), or < 0. */
int img_sources_lock(const vm_ctx *ctx, vm_err *err);
/* Checks that url answers like an image server (GET /ping, else GET /images). */
int img_source_ping(const char *url, vm_err *err);
/* "<source>/images<suffix>" (caller frees). */
char *img_source_path(const char *source, const char *suffix);
/* What one source offers, parsed: [{"manifest", "source"}], entries without
 * an object and a valid uuid dropped. */
int img_source_list(const char *source, json_t **images, vm_err *err);
int img_source_parse_list(const char *source, const char *body, size_t len, json_t **images, vm_err *err);
/* Images on offer from every source (or only_source), merged: the first
 * source offering a uuid wins.  Sources that fail are skipped and their
 * messages returned in *problems (array of strings). */
int img_avail(const vm_ctx *ctx, const char *only_source, json_t **images, json_t **problems, vm_err *err);

/* One line for the operator ("Importing ...", "Imported image ..."). */
typedef void (*img_note_fn)(void *arg, const char *line);

typedef struct img_import_opts {
    img_progress_fn progress; /* nullable; phases "download" then install's */
    void *progress_arg;
    img_note_fn note; /* nullable */
    void *note_arg;
    const char *source; /* -S: this source only (nullable) */
    int flags; /* img_install_flags */
} img_import_opts;

/* Imports spec (a uuid, name@version or name: the newest published) from
 * the sources: manifest, origin images first, then the file, downloaded
 * into var/imgadm/downloads with its size and SHA-1 checked as it streams
 * (a cut download is resumed with HTTP Range, now or by the next import;
 * a partial download nobody resumes for 7 days is removed by an import)
 * and installed by img_install.  Imports of one image are serialized (lock
 * "import-<uuid>"); an installed image is skipped.  *imported (nullable):
 * [{"manifest", "source", "imported": bool}].  Errors: VMERR_NOTFOUND
 * `an active image "<uuid>" was not found in image sources`, source
 * failures (fetch.h), a manifest for another uuid, a bad manifest, wrong
 * size or SHA-1 (nothing installed, the partial download removed). */
int img_import(const vm_ctx *ctx, const char *pool, const char *spec, const img_import_opts *opts, json_t **imported,
               vm_err *err);
/* Refreshes installed manifests (uuids NULL-terminated, NULL/empty: all)
 * from the sources; a source manifest must describe the same file and type.
 * *updated: uuids whose manifest changed.  Every image is tried; the first
 * failure is returned. */
int img_update(const vm_ctx *ctx, const char *pool, char **uuids, const img_import_opts *opts, json_t **updated,
               vm_err *err);

#endif
