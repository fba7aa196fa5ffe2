/* The image catalogue: which images are installed and their manifests.
 * Kept apart from install/create so that readers (vmadm, reprovision)
 * link neither libarchive nor the codecs. */
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "image/catalog.h"
#include "image/image.h"
#include "storage/storage.h"

const char *img_pool_of(const vm_ctx *ctx, const char *pool)
{
    return pool && *pool ? pool : ctx->pool;
}

char *img_images_dir(const vm_ctx *ctx)
{
    return xasprintf("%s/var/imgadm/images", ctx->root);
}

char *img_manifest_path(const vm_ctx *ctx, const char *pool, const char *uuid)
{
    return xasprintf("%s/var/imgadm/images/%s-%s.json", ctx->root, img_pool_of(ctx, pool), uuid);
}

int img_not_found(const char *pool, const char *uuid, vm_err *err)
{
    return vm_err_set(err, VMERR_NOTFOUND, "image \"%s\" was not found on zpool \"%s\"", uuid, pool);
}

bool img_installed(vs_pool *vp, const char *uuid)
{
    cleanup_free char *snap = xasprintf("%s/%s@final", vs_pool_name(vp), uuid);
    return vs_exists(vp, snap);
}

int img_get(const vm_ctx *ctx, const char *pool, const char *uuid, json_t **manifest, vm_err *err)
{
    const char *pn = img_pool_of(ctx, pool);
    if (!uuid_valid(uuid))
        return vm_err_set(err, VMERR_INVALID, "invalid uuid: \"%s\"", uuid ? uuid : "");
    cleanup_free char *path = img_manifest_path(ctx, pn, uuid);
    if (!path_exists(path))
        return img_not_found(pn, uuid, err);
    cleanup_vs_pool vs_pool *vp = NULL;
    if (vs_pool_open(ctx, pn, &vp, err) < 0)
        return -1;
    if (!img_installed(vp, uuid))
        return img_not_found(pn, uuid, err);
    cleanup_json json_t *m = NULL;
    if (read_json_file(path, &m, err) < 0) {
        vm_err_prefix(err, "image %s: ", uuid);
        return -1;
    }
    *manifest = steal_ptr(m);
    return 0;
}

static int cmp_manifest(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    const char *px = json_string_value(json_object_get(x, "published_at"));
    const char *py = json_string_value(json_object_get(y, "published_at"));
    int c = strcmp(px ? px : "", py ? py : "");
    if (c)
        return c;
    c = strcmp(json_string_value(json_object_get(x, "name")) ?: "",
               json_string_value(json_object_get(y, "name")) ?: "");
    if (c)
        return c;
    return strcmp(json_string_value(json_object_get(x, "uuid")) ?: "",
                  json_string_value(json_object_get(y, "uuid")) ?: "");
}

int img_list(const vm_ctx *ctx, const char *pool, json_t **manifests, vm_err *err)
{
    const char *pn = img_pool_of(ctx, pool);
    cleanup_free char *dir = img_images_dir(ctx);
    cleanup_json json_t *out = json_array();
    DIR *d = opendir(dir);
    if (!d) {
        if (errno != ENOENT)
            return vm_err_sys(err, errno, "cannot read %s", dir);
        *manifests = steal_ptr(out);
        return 0;
    }
    /* Opened only once a manifest names this pool: listing must not create
     * a pool as a side effect. */
    cleanup_vs_pool vs_pool *vp = NULL;
    size_t plen = strlen(pn), n = 0, cap = 16;
    json_t **v = xmalloc(cap * sizeof(*v));
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *nm = de->d_name;
        /* "<pool>-<uuid>.json": pool names may contain '-', so match exactly. */
        if (strncmp(nm, pn, plen) != 0 || nm[plen] != '-' || strlen(nm + plen + 1) != 41 ||
            !str_has_suffix(nm, ".json"))
            continue;
        char uuid[37];
        memcpy(uuid, nm + plen + 1, 36);
        uuid[36] = 0;
        if (!uuid_valid(uuid))
            continue;
        if (!vp && vs_pool_open(ctx, pn, &vp, err) < 0) {
            closedir(d);
            for (size_t i = 0; i < n; i++)
                json_decref(v[i]);
            free(v);
            return -1;
        }
        if (!img_installed(vp, uuid))
            continue;
        cleanup_free char *path = xasprintf("%s/%s", dir, nm);
        json_t *m = NULL;
        vm_err e2 = VM_ERR_INIT;
        if (read_json_file(path, &m, &e2) < 0)
            continue; /* a torn file cannot exist (atomic writes); skip foreign junk */
        if (n == cap)
            v = xrealloc(v, (cap *= 2) * sizeof(*v));
        v[n++] = m;
    }
    closedir(d);
    qsort(v, n, sizeof(*v), cmp_manifest);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(out, v[i]);
    free(v);
    *manifests = steal_ptr(out);
    return 0;
}
