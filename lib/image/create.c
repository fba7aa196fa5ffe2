#include "image/image.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/units.h"
#include "common/util.h"
#include "image/compress.h"
#include "image/internal.h"
#include "image/sha1.h"
#include "storage/storage.h"

static const char *jstr(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static void report(const img_create_opts *o, const char *phase, uint64_t done, uint64_t total)
{
    if (o && o->progress)
        o->progress(o->progress_arg, phase, done, total);
}

static bool is_hvm(const char *brand)
{
    return brand && (strcmp(brand, "bhyve") == 0 || strcmp(brand, "kvm") == 0);
}

/* "zones/<uuid>/disk0" -> "zones" */
static char *pool_part(const char *ds)
{
    const char *sl = strchr(ds, '/');
    return sl ? xstrndup(ds, (size_t)(sl - ds)) : xstrdup(ds);
}

static int check_overrides(json_t *ov, vm_err *err)
{
    if (!json_is_object(ov))
        return vm_err_set(err, VMERR_USAGE, "image name and version are required (name=... version=...)");
    static const char *const fixed[] = { "v", "uuid", "type", "files", NULL };
    for (int i = 0; fixed[i]; i++)
        if (json_object_get(ov, fixed[i]))
            return vm_err_set(err, VMERR_INVALID, "manifest field \"%s\" cannot be set: it is derived from the VM",
                              fixed[i]);
    static const char *const need[] = { "name", "version", NULL };
    for (int i = 0; need[i]; i++) {
        const char *v = jstr(ov, need[i]);
        if (!v || !*v)
            return vm_err_set(err, VMERR_USAGE, "image %s is required (%s=...)", need[i], need[i]);
        if (strchr(v, '/') || v[0] == '.')
            return vm_err_set(err, VMERR_INVALID, "invalid image %s: \"%s\"", need[i], v);
    }
    return 0;
}

/* Standalone qcow2 of the volume (backing chain flattened) at dst. */
static int export_volume(const vm_ctx *ctx, const char *ds, const char *dst, uint64_t *volsize,
                         const img_create_opts *o, vm_err *err)
{
    cleanup_free char *pn = pool_part(ds);
    cleanup_vs_pool vs_pool *vp = NULL;
    if (vs_pool_open(ctx, pn, &vp, err) < 0)
        return -1;
    if (!vs_exists(vp, ds))
        return vm_err_set(err, VMERR_NOTFOUND, "disk volume %s does not exist", ds);
    int64_t vsz;
    if (vs_get_int(vp, ds, "volsize", &vsz, err) < 0)
        return -1;
    *volsize = (uint64_t)vsz;
    cleanup_free char *path = NULL;
    if (vs_vol_path(vp, ds, &path, err) < 0)
        return -1;
    report(o, "convert", 0, 0);
    char *argv[] = { "qemu-img", "convert", "-f", "qcow2", "-O", "qcow2", path, (char *)dst, NULL };
    if (run_cmd(argv, NULL, err) != 0) {
        vm_err_prefix(err, "cannot read disk %s: ", ds);
        return -1;
    }
    return 0;
}

/* Tarball of the zone root at dst; device nodes and sockets are skipped
 * (the runtime provides /dev; installs refuse both). */
static int archive_root(const char *root, const char *dst, int comp, const img_create_opts *o, vm_err *err)
{
    struct archive *disk = archive_read_disk_new();
    struct archive *w = archive_write_new();
    struct archive_entry *e = NULL;
    int rc = -1;
    uint64_t done = 0;
    size_t rlen = strlen(root);
    const size_t bufsz = 1 << 16;
    cleanup_free char *buf = xmalloc(bufsz);

    archive_read_disk_set_symlink_physical(disk);
    archive_read_disk_set_standard_lookup(disk);
    archive_write_set_format_pax_restricted(w);
    if (comp == IMG_COMP_GZIP)
        archive_write_add_filter_gzip(w);
    else if (comp == IMG_COMP_ZSTD)
        archive_write_add_filter_zstd(w);
    if (archive_write_open_filename(w, dst) != ARCHIVE_OK) {
        vm_err_set(err, VMERR_IO, "cannot create %s: %s", dst, archive_error_string(w));
        goto out;
    }
    if (archive_read_disk_open(disk, root) != ARCHIVE_OK) {
        vm_err_set(err, VMERR_IO, "cannot read %s: %s", root, archive_error_string(disk));
        goto out;
    }
    for (;;) {
        archive_entry_free(e);
        e = archive_entry_new();
        int r = archive_read_next_header2(disk, e);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            vm_err_set(err, VMERR_IO, "cannot read %s: %s", root, archive_error_string(disk));
            goto out;
        }
        archive_read_disk_descend(disk);
        mode_t t = archive_entry_filetype(e);
        if (t == AE_IFCHR || t == AE_IFBLK || t == AE_IFSOCK)
            continue;
        const char *p = archive_entry_pathname(e);
        if (!p || strncmp(p, root, rlen) != 0)
            continue;
        const char *rel = p + rlen;
        while (*rel == '/')
            rel++;
        cleanup_free char *name = xstrdup(*rel ? rel : ".");
        archive_entry_set_pathname(e, name);
        archive_entry_set_nlink(e, 1);
        if (archive_write_header(w, e) < ARCHIVE_WARN) {
            vm_err_set(err, VMERR_IO, "cannot write %s: %s", dst, archive_error_string(w));
            goto out;
        }
        if (t == AE_IFREG && archive_entry_size(e) > 0) {
            la_ssize_t n;
            while ((n = archive_read_data(disk, buf, bufsz)) > 0) {
                if (archive_write_data(w, buf, (size_t)n) < 0) {
                    vm_err_set(err, VMERR_IO, "cannot write %s: %s", dst, archive_error_string(w));
                    goto out;
                }
                done += (uint64_t)n;
                report(o, "archive", done, 0);
            }
            if (n < 0) {
                vm_err_set(err, VMERR_IO, "cannot read %s: %s", name, archive_error_string(disk));
                goto out;
            }
        }
    }
    if (archive_write_close(w) != ARCHIVE_OK) {
        vm_err_set(err, VMERR_IO, "cannot write %s: %s", dst, archive_error_string(w));
        goto out;
    }
    rc = 0;
out:
    archive_entry_free(e);
    archive_read_free(disk);
    archive_write_free(w);
    return rc;
}

static void sha_progress(void *arg, uint64_t done)
{
    report(arg, "verify", done, 0);
}

static void comp_progress(void *arg, uint64_t done)
{
    report(arg, "compress", done, 0);
}

/* What img_create makes and where, decided before anything is written. */
typedef struct image_job {
    const img_create_opts *o;
    const char *vmuuid, *brand, *type, *name, *version;
    const char *origin; /* image the VM was made from, if any */
    bool hvm;
    int comp;
    uint64_t volsize; /* HVM: bytes of disk0 */
    char *mpath, *fpath, *tmp1, *tmp2;
} image_job;

static void job_free(image_job *j)
{
    free(j->mpath);
    free(j->fpath);
    free(j->tmp1);
    free(j->tmp2);
}

/* Every check on the arguments and the VM, then the output paths (which
 * must not exist yet); only the output directory is made. */
static int plan_image(json_t *vm, json_t *ov, const char *outdir, image_job *j, vm_err *err)
{
    if (check_overrides(ov, err) < 0)
        return -1;
    const char *cname = j->o && j->o->compression ? j->o->compression : "zstd";
    j->comp = img_comp_parse(cname);
    if (j->comp != IMG_COMP_ZSTD && j->comp != IMG_COMP_GZIP && j->comp != IMG_COMP_NONE)
        return vm_err_set(err, VMERR_USAGE, "unsupported compression \"%s\" (use zstd, gzip or none)", cname);
    j->vmuuid = jstr(vm, "uuid") ?: "?";
    j->brand = jstr(vm, "brand");
    if (!j->brand)
        return vm_err_set(err, VMERR_INVALID, "VM %s has no brand", j->vmuuid);
    const char *state = jstr(vm, "state");
    if (state && strcmp(state, "stopped") != 0 && strcmp(state, "installed") != 0)
        return vm_err_set(err, VMERR_STATE, "VM %s must be stopped to create an image from it (state: %s)", j->vmuuid,
                          state);
    j->hvm = is_hvm(j->brand);
    j->type = j->hvm ? "zvol" : strcmp(j->brand, "lx") == 0 ? "lx-dataset" : "zone-dataset";
    j->name = jstr(ov, "name");
    j->version = jstr(ov, "version");
    if (mkdir_p(outdir, 0755, err) < 0)
        return -1;
    const char *ext = j->comp == IMG_COMP_ZSTD ? ".zst" : j->comp == IMG_COMP_GZIP ? ".gz" : "";
    j->mpath = xasprintf("%s/%s-%s.json", outdir, j->name, j->version);
    j->fpath = xasprintf("%s/%s-%s.%s%s", outdir, j->name, j->version, j->hvm ? "qcow2" : "tar", ext);
    j->tmp1 = xasprintf("%s/.%s-%s.%d.tmp1", outdir, j->name, j->version, (int)getpid());
    j->tmp2 = xasprintf("%s/.%s-%s.%d.tmp2", outdir, j->name, j->version, (int)getpid());
    if (path_exists(j->mpath) || path_exists(j->fpath))
        return vm_err_set(err, VMERR_EXISTS, "%s already exists", path_exists(j->mpath) ? j->mpath : j->fpath);
    return 0;
}

/* The dataset the image is made from (HVM: disk0's volume; containers:
 * the zone root), and the image the VM came from.  NULL if the VM has none. */
static const char *source_dataset(json_t *vm, image_job *j, vm_err *err)
{
    if (j->hvm) {
        json_t *d0 = json_array_get(json_object_get(vm, "disks"), 0);
        const char *ds = jstr(d0, "zfs_filesystem");
        if (!ds)
            vm_err_set(err, VMERR_INVALID, "VM %s has no disk to make an image from", j->vmuuid);
        else
            j->origin = jstr(d0, "image_uuid");
        return ds;
    }
    const char *ds = jstr(vm, "zfs_filesystem");
    if (!ds)
        vm_err_set(err, VMERR_INVALID, "VM %s has no zfs_filesystem", j->vmuuid);
    else
        j->origin = jstr(vm, "image_uuid");
    return ds;
}

/* The image file at fpath (through tmp1/tmp2). */
static int make_file(const vm_ctx *ctx, const char *ds, image_job *j, vm_err *err)
{
    if (j->hvm) {
        if (export_volume(ctx, ds, j->tmp1, &j->volsize, j->o, err) < 0)
            return -1;
        if (j->comp != IMG_COMP_NONE) {
            if (img_compress_file(j->tmp1, j->tmp2, j->comp, comp_progress, (void *)j->o, err) < 0)
                return -1;
            if (rename(j->tmp2, j->fpath) < 0)
                return vm_err_sys(err, errno, "cannot create %s", j->fpath);
        } else if (rename(j->tmp1, j->fpath) < 0) {
            return vm_err_sys(err, errno, "cannot create %s", j->fpath);
        }
        return 0;
    }
    cleanup_free char *pn = pool_part(ds);
    cleanup_vs_pool vs_pool *vp = NULL;
    cleanup_free char *dir = NULL;
    if (vs_pool_open(ctx, pn, &vp, err) < 0 || vs_fs_path(vp, ds, &dir, err) < 0)
        return -1;
    cleanup_free char *root = xasprintf("%s/root", dir);
    if (!path_exists(root))
        return vm_err_set(err, VMERR_NOTFOUND, "zone root %s does not exist", root);
    if (archive_root(root, j->tmp1, j->comp, j->o, err) < 0)
        return -1;
    if (rename(j->tmp1, j->fpath) < 0)
        return vm_err_sys(err, errno, "cannot create %s", j->fpath);
    return 0;
}

/* The manifest of the file at fpath (checksum, derived fields, then the
 * operator's overrides), validated. */
static int make_manifest(const vm_ctx *ctx, image_job *j, json_t *ov, json_t **out, vm_err *err)
{
    char hex[41];
    uint64_t size;
    if (img_sha1_file(j->fpath, hex, &size, sha_progress, (void *)j->o, err) < 0)
        return -1;
    char uuid[37], now[32];
    uuid_new(uuid);
    iso_time_ms(now_ms(), now);
    const char *os = j->hvm ? "other" : strcmp(j->type, "lx-dataset") == 0 ? "linux" : "smartos";
    cleanup_json json_t *om = NULL;
    vm_err e2 = VM_ERR_INIT;
    if (j->origin && img_get(ctx, NULL, j->origin, &om, &e2) == 0 && jstr(om, "os"))
        os = jstr(om, "os");
    json_t *m = json_object();
    *out = m;
    json_object_set_new(m, "v", json_integer(2));
    json_object_set_new(m, "uuid", json_string(uuid));
    json_object_set_new(m, "name", json_string(j->name));
    json_object_set_new(m, "version", json_string(j->version));
    json_object_set_new(m, "type", json_string(j->type));
    json_object_set_new(m, "os", json_string(os));
    json_object_set_new(m, "published_at", json_string(now));
    json_object_set_new(m, "public", json_false());
    json_object_set_new(m, "state", json_string("active"));
    json_object_set_new(m, "disabled", json_false());
    if (j->hvm)
        json_object_set_new(m, "image_size", json_integer((json_int_t)((j->volsize + VM_MiB - 1) / VM_MiB)));
    json_object_set_new(m, "requirements", json_pack("{ss}", "brand", j->brand));
    if (j->origin && uuid_valid(j->origin))
        json_object_set_new(m, "origin", json_string(j->origin));
    json_object_set_new(
        m, "files",
        json_pack("[{sssIss}]", "sha1", hex, "size", (json_int_t)size, "compression", img_comp_name(j->comp)));
    const char *k;
    json_t *v;
    json_object_foreach(ov, k, v)
        json_object_set(m, k, v);
    return img_manifest_validate(m, err);
}

int img_create(const vm_ctx *ctx, json_t *vm, json_t *ov, const char *outdir, const img_create_opts *o,
               json_t **manifest_out, vm_err *err)
{
    image_job j = { .o = o };
    cleanup_json json_t *m = NULL;
    const char *ds = NULL;
    int rc = -1;
    /* Nothing to remove until the source dataset is known. */
    if (plan_image(vm, ov, outdir, &j, err) == 0 && (ds = source_dataset(vm, &j, err)) != NULL) {
        if (make_file(ctx, ds, &j, err) == 0 && make_manifest(ctx, &j, ov, &m, err) == 0 &&
            write_json_atomic(j.mpath, m, err) == 0)
            rc = 0;
        unlink(j.tmp1);
        unlink(j.tmp2);
        if (rc < 0)
            unlink(j.fpath);
    }
    job_free(&j);
    if (rc == 0 && manifest_out)
        *manifest_out = json_incref(m);
    return rc;
}
