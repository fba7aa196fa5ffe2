#include "image/image.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "image/compress.h"
#include "image/internal.h"
#include "image/sha1.h"
#include "storage/storage.h"

#define MiB (1024ULL * 1024ULL)

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
            return vm_err_set(err, VMERR_INVALID, "manifest field \"%s\" cannot be set: it is derived from the VM", fixed[i]);
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

int img_create(const vm_ctx *ctx, json_t *vm, json_t *ov, const char *outdir,
               const img_create_opts *o, json_t **manifest_out, vm_err *err)
{
    if (check_overrides(ov, err) < 0)
        return -1;
    const char *cname = o && o->compression ? o->compression : "zstd";
    int comp = img_comp_parse(cname);
    if (comp != IMG_COMP_ZSTD && comp != IMG_COMP_GZIP && comp != IMG_COMP_NONE)
        return vm_err_set(err, VMERR_USAGE, "unsupported compression \"%s\" (use zstd, gzip or none)", cname);
    const char *vmuuid = jstr(vm, "uuid") ?: "?";
    const char *brand = jstr(vm, "brand");
    if (!brand)
        return vm_err_set(err, VMERR_INVALID, "VM %s has no brand", vmuuid);
    const char *state = jstr(vm, "state");
    if (state && strcmp(state, "stopped") != 0 && strcmp(state, "installed") != 0)
        return vm_err_set(err, VMERR_STATE, "VM %s must be stopped to create an image from it (state: %s)",
                          vmuuid, state);
    bool hvm = is_hvm(brand);
    const char *type = hvm ? "zvol" : strcmp(brand, "lx") == 0 ? "lx-dataset" : "zone-dataset";
    const char *name = jstr(ov, "name"), *version = jstr(ov, "version");
    if (mkdir_p(outdir, 0755, err) < 0)
        return -1;
    const char *ext = comp == IMG_COMP_ZSTD ? ".zst" : comp == IMG_COMP_GZIP ? ".gz" : "";
    cleanup_free char *mpath = xasprintf("%s/%s-%s.json", outdir, name, version);
    cleanup_free char *fpath = xasprintf("%s/%s-%s.%s%s", outdir, name, version, hvm ? "qcow2" : "tar", ext);
    cleanup_free char *tmp1 = xasprintf("%s/.%s-%s.%d.tmp1", outdir, name, version, (int)getpid());
    cleanup_free char *tmp2 = xasprintf("%s/.%s-%s.%d.tmp2", outdir, name, version, (int)getpid());
    if (path_exists(mpath) || path_exists(fpath))
        return vm_err_set(err, VMERR_EXISTS, "%s already exists", path_exists(mpath) ? mpath : fpath);

    int rc = -1;
    uint64_t volsize = 0;
    const char *origin = NULL;
    cleanup_json json_t *m = NULL;
    cleanup_json json_t *om = NULL; /* before any goto out */
    if (hvm) {
        json_t *d0 = json_array_get(json_object_get(vm, "disks"), 0);
        const char *ds = jstr(d0, "zfs_filesystem");
        if (!ds)
            return vm_err_set(err, VMERR_INVALID, "VM %s has no disk to make an image from", vmuuid);
        origin = jstr(d0, "image_uuid");
        if (export_volume(ctx, ds, tmp1, &volsize, o, err) < 0)
            goto out;
        if (comp != IMG_COMP_NONE) {
            if (img_compress_file(tmp1, tmp2, comp, comp_progress, (void *)o, err) < 0)
                goto out;
            if (rename(tmp2, fpath) < 0) {
                vm_err_sys(err, errno, "cannot create %s", fpath);
                goto out;
            }
        } else if (rename(tmp1, fpath) < 0) {
            vm_err_sys(err, errno, "cannot create %s", fpath);
            goto out;
        }
    } else {
        const char *ds = jstr(vm, "zfs_filesystem");
        if (!ds)
            return vm_err_set(err, VMERR_INVALID, "VM %s has no zfs_filesystem", vmuuid);
        origin = jstr(vm, "image_uuid");
        cleanup_free char *pn = pool_part(ds);
        cleanup_vs_pool vs_pool *vp = NULL;
        cleanup_free char *dir = NULL;
        if (vs_pool_open(ctx, pn, &vp, err) < 0 || vs_fs_path(vp, ds, &dir, err) < 0)
            goto out;
        cleanup_free char *root = xasprintf("%s/root", dir);
        if (!path_exists(root)) {
            vm_err_set(err, VMERR_NOTFOUND, "zone root %s does not exist", root);
            goto out;
        }
        if (archive_root(root, tmp1, comp, o, err) < 0)
            goto out;
        if (rename(tmp1, fpath) < 0) {
            vm_err_sys(err, errno, "cannot create %s", fpath);
            goto out;
        }
    }

    char hex[41];
    uint64_t size;
    if (img_sha1_file(fpath, hex, &size, sha_progress, (void *)o, err) < 0)
        goto out;
    char uuid[37], now[32];
    uuid_new(uuid);
    iso_time_ms(now_ms(), now);
    const char *os = hvm ? "other" : strcmp(type, "lx-dataset") == 0 ? "linux" : "smartos";
    vm_err e2 = VM_ERR_INIT;
    if (origin && img_get(ctx, NULL, origin, &om, &e2) == 0 && jstr(om, "os"))
        os = jstr(om, "os");
    m = json_object();
    json_object_set_new(m, "v", json_integer(2));
    json_object_set_new(m, "uuid", json_string(uuid));
    json_object_set_new(m, "name", json_string(name));
    json_object_set_new(m, "version", json_string(version));
    json_object_set_new(m, "type", json_string(type));
    json_object_set_new(m, "os", json_string(os));
    json_object_set_new(m, "published_at", json_string(now));
    json_object_set_new(m, "public", json_false());
    json_object_set_new(m, "state", json_string("active"));
    json_object_set_new(m, "disabled", json_false());
    if (hvm)
        json_object_set_new(m, "image_size", json_integer((json_int_t)((volsize + MiB - 1) / MiB)));
    json_object_set_new(m, "requirements", json_pack("{ss}", "brand", brand));
    if (origin && uuid_valid(origin))
        json_object_set_new(m, "origin", json_string(origin));
    json_object_set_new(m, "files", json_pack("[{sssIss}]", "sha1", hex, "size", (json_int_t)size,
                                              "compression", img_comp_name(comp)));
    const char *k;
    json_t *v;
    json_object_foreach(ov, k, v)
        json_object_set(m, k, v);
    if (img_manifest_validate(m, err) < 0 || write_json_atomic(mpath, m, err) < 0)
        goto out;
    rc = 0;
out:
    unlink(tmp1);
    unlink(tmp2);
    if (rc < 0) {
        unlink(fpath);
        return -1;
    }
    if (manifest_out)
        *manifest_out = json_incref(m);
    return 0;
}
