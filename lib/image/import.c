/* imgadm import and update: images from sources (image.h).  The file is
 * downloaded (verified while it streams) into var/imgadm/downloads and
 * installed by img_install, so an import obeys every rule of an install. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/lock.h"
#include "common/util.h"
#include "image/fetch.h"
#include "image/image.h"

#define MANIFEST_MAX (1u << 20)
#define MAX_ANCESTRY 32
#define PARTIAL_MAX_AGE (7 * 24 * 3600) /* seconds an abandoned partial download is kept */

static void note(const img_import_opts *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(const img_import_opts *o, const char *fmt, ...)
{
    if (!o || !o->note)
        return;
    va_list ap;
    va_start(ap, fmt);
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) >= 0) {
        o->note(o->note_arg, s);
        free(s);
    }
    va_end(ap);
}

static const char *jstr(json_t *m, const char *k)
{
    const char *s = json_string_value(json_object_get(m, k));
    return s ? s : "-";
}

/* The sources to ask: -S alone, else the configured ones. */
static int sources_for(const vm_ctx *ctx, const img_import_opts *o, json_t **out, vm_err *err)
{
    if (o && o->source) {
        cleanup_free char *norm = NULL;
        if (img_source_url_check(o->source, &norm, err) < 0)
            return -1;
        *out = json_pack("[s]", norm);
        return 0;
    }
    if (img_sources_get(ctx, out, err) < 0)
        return -1;
    if (json_array_size(*out) == 0) {
        json_decref(*out);
        return vm_err_set(err, VMERR_INVALID, "imgadm has no configured sources");
    }
    return 0;
}

/* GET <source>/images/<uuid>: 1 with *m (validated, its uuid the one
 * asked for), 0 when the source does not have it, < 0 on failure. */
static int fetch_manifest(const char *source, const char *uuid, json_t **m, vm_err *err)
{
    cleanup_free char *suffix = xasprintf("/%s", uuid);
    cleanup_free char *url = img_source_path(source, suffix);
    cleanup_free char *body = NULL;
    size_t len = 0;
    long status = 0;
    if (img_http_get(url, MANIFEST_MAX, &body, &len, &status, err) < 0)
        return -1;
    if (status == 404)
        return 0;
    if (status != 200)
        return vm_err_set(err, VMERR_IO, "image source \"%s\": GET %s gave HTTP %ld", source, url, status);
    json_error_t je;
    cleanup_json json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        return vm_err_set(err, VMERR_INVALID, "image source \"%s\" sent a manifest that is not JSON: %s", source,
                          je.text);
    const char *got = json_string_value(json_object_get(j, "uuid"));
    if (!got || strcmp(got, uuid) != 0)
        return vm_err_set(err, VMERR_INVALID,
                          "image source \"%s\" answered for image \"%s\" with the manifest of \"%s\"", source, uuid,
                          got ? got : "(no uuid)");
    if (img_manifest_validate(j, err) < 0) {
        vm_err_prefix(err, "image source \"%s\": ", source);
        return -1;
    }
    json_t *state = json_object_get(j, "state");
    if (state && (!json_is_string(state) || strcmp(json_string_value(state), "active") != 0))
        return vm_err_set(err, VMERR_INVALID, "image \"%s\" on \"%s\" is not active (state \"%s\")", uuid, source,
                          json_is_string(state) ? json_string_value(state) : "?");
    *m = json_incref(j);
    return 1;
}

/* The first source offering uuid (manifest and source URL). */
static int find_by_uuid(json_t *srcs, const char *uuid, json_t **m, char **source, vm_err *err)
{
    cleanup_free char *problems = NULL;
    size_t i;
    json_t *s;
    json_array_foreach(srcs, i, s) {
        vm_err e2 = VM_ERR_INIT;
        int r = fetch_manifest(json_string_value(s), uuid, m, &e2);
        if (r == 1) {
            *source = xstrdup(json_string_value(s));
            return 0;
        }
        if (r < 0) {
            if (e2.code == VMERR_INVALID) { /* a source that lies about an image stops the import */
                *err = e2;
                return -1;
            }
            char *p = problems ? xasprintf("%s; %s", problems, e2.msg) : xstrdup(e2.msg);
            free(problems);
            problems = p;
        }
    }
    if (problems)
        return vm_err_set(err, VMERR_IO, "image \"%s\" was not found in image sources (%s)", uuid, problems);
    return vm_err_set(err, VMERR_NOTFOUND, "an active image \"%s\" was not found in image sources", uuid);
}

/* name or name@version: the newest (published_at) such image on offer. */
static int resolve_name(const vm_ctx *ctx, const img_import_opts *o, const char *spec, char **uuid, vm_err *err)
{
    cleanup_free char *name = xstrdup(spec);
    char *at = strchr(name, '@');
    const char *version = NULL;
    if (at) {
        *at = 0;
        version = at + 1;
    }
    if (!*name || (version && !*version))
        return vm_err_set(err, VMERR_USAGE, "\"%s\" is not an image uuid, name or name@version", spec);
    cleanup_json json_t *imgs = NULL, *probs = NULL;
    cleanup_free char *only = NULL;
    if (o && o->source && img_source_url_check(o->source, &only, err) < 0)
        return -1;
    if (img_avail(ctx, only, &imgs, &probs, err) < 0)
        return -1;
    json_t *best = NULL;
    size_t i;
    json_t *it;
    json_array_foreach(imgs, i, it) {
        json_t *m = json_object_get(it, "manifest");
        if (strcmp(jstr(m, "name"), name) != 0 || (version && strcmp(jstr(m, "version"), version) != 0))
            continue;
        if (!best || strcmp(jstr(m, "published_at"), jstr(json_object_get(best, "manifest"), "published_at")) > 0)
            best = it;
    }
    if (!best) {
        if (json_array_size(probs))
            return vm_err_set(err, VMERR_IO, "no image \"%s\" in image sources (%s)", spec,
                              json_string_value(json_array_get(probs, 0)));
        return vm_err_set(err, VMERR_NOTFOUND, "no image \"%s\" in image sources", spec);
    }
    *uuid = xstrdup(jstr(json_object_get(best, "manifest"), "uuid"));
    return 0;
}

static char *downloads_dir(const vm_ctx *ctx)
{
    return xasprintf("%s/var/imgadm/downloads", ctx->root);
}

/* Removes partial downloads nobody resumed for PARTIAL_MAX_AGE (and that
 * no import holds). */
static void sweep_downloads(const vm_ctx *ctx)
{
    cleanup_free char *dir = downloads_dir(ctx);
    DIR *d = opendir(dir);
    if (!d)
        return;
    time_t now = time(NULL);
    struct dirent *de;
    while ((de = readdir(d))) {
        if (strlen(de->d_name) != 36 + 5 || strcmp(de->d_name + 36, ".file") != 0)
            continue;
        cleanup_free char *uuid = xstrndup(de->d_name, 36);
        struct stat st;
        if (!uuid_valid(uuid) || fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
            now - st.st_mtime < PARTIAL_MAX_AGE)
            continue;
        cleanup_free char *lockname = xasprintf("import-%s", uuid);
        cleanup_lock vm_lock lk = VM_LOCK_INIT;
        vm_err e2 = VM_ERR_INIT;
        if (vm_lock_try(ctx, lockname, &lk, &e2) != 1)
            continue;
        cleanup_free char *json = xasprintf("%s.json", uuid);
        unlinkat(dirfd(d), de->d_name, 0);
        unlinkat(dirfd(d), json, 0);
    }
    closedir(d);
}

/* Drops a partial download kept for another file (its manifest's sha1 or
 * size differ from m's). */
static void drop_stale_partial(const char *mpath, const char *fpath, json_t *m)
{
    cleanup_json json_t *old = NULL;
    vm_err e2 = VM_ERR_INIT;
    if (!path_exists(mpath))
        return;
    json_t *f0 = json_array_get(json_object_get(m, "files"), 0);
    json_t *o0 = NULL;
    if (read_json_file(mpath, &old, &e2) == 0)
        o0 = json_array_get(json_object_get(old, "files"), 0);
    if (!o0 || !json_equal(json_object_get(o0, "sha1"), json_object_get(f0, "sha1")) ||
        !json_equal(json_object_get(o0, "size"), json_object_get(f0, "size")))
        unlink(fpath);
}

/* Downloads and installs one image whose manifest m came from source. */
static int fetch_and_install(const vm_ctx *ctx, const char *pool, json_t *m, const char *source,
                             const img_import_opts *o, vm_err *err)
{
    const char *uuid = jstr(m, "uuid");
    json_t *f0 = json_array_get(json_object_get(m, "files"), 0);
    uint64_t size = (uint64_t)json_integer_value(json_object_get(f0, "size"));
    cleanup_free char *dir = downloads_dir(ctx);
    if (mkdir_p(dir, 0700, err) < 0)
        return -1;
    cleanup_free char *mpath = xasprintf("%s/%s.json", dir, uuid);
    cleanup_free char *fpath = xasprintf("%s/%s.file", dir, uuid);
    drop_stale_partial(mpath, fpath, m);
    if (write_json_atomic(mpath, m, err) < 0)
        return -1;
    cleanup_close int fd = open(fpath, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return vm_err_sys(err, errno, "cannot open %s", fpath);
    note(o, "Importing %s (%s@%s) from \"%s\"", uuid, jstr(m, "name"), jstr(m, "version"), source);
    cleanup_free char *suffix = xasprintf("/%s/file", uuid);
    cleanup_free char *url = img_source_path(source, suffix);
    int r = img_http_download(url, fd, size, json_string_value(json_object_get(f0, "sha1")), o ? o->progress : NULL,
                              o ? o->progress_arg : NULL, err);
    if (r < 0) {
        struct stat st;
        bool empty = fstat(fd, &st) == 0 && st.st_size == 0;
        if (empty || err->code == VMERR_INVALID || err->code == VMERR_NOTFOUND) { /* nothing worth resuming */
            unlink(fpath);
            unlink(mpath);
        }
        return -1;
    }
    img_install_opts io = { .progress = o ? o->progress : NULL,
                            .progress_arg = o ? o->progress_arg : NULL,
                            /* the download checked its SHA-1 */
                            .flags = (o ? o->flags : 0) | IMG_INSTALL_VERIFIED };
    r = img_install(ctx, pool, mpath, fpath, &io, err);
    unlink(fpath);
    unlink(mpath);
    if (r < 0)
        return -1;
    note(o, "Imported image %s (%s@%s)", uuid, jstr(m, "name"), jstr(m, "version"));
    return 0;
}

static int import_uuid(const vm_ctx *ctx, const char *pool, json_t *srcs, const char *uuid, const img_import_opts *o,
                       int depth, json_t *done, vm_err *err);

/* Imports m's origin chain first (incremental images need it). */
static int import_origin(const vm_ctx *ctx, const char *pool, json_t *srcs, json_t *m, const char *source,
                         const img_import_opts *o, int depth, json_t *done, vm_err *err)
{
    const char *origin = json_string_value(json_object_get(m, "origin"));
    if (!origin)
        return 0;
    if (depth >= MAX_ANCESTRY)
        return vm_err_set(err, VMERR_INVALID, "image \"%s\": origin chain longer than %d images (or a loop)",
                          jstr(m, "uuid"), MAX_ANCESTRY);
    /* The origin is looked for on the image's own source first. */
    cleanup_json json_t *order = json_pack("[s]", source);
    size_t i;
    json_t *s;
    json_array_foreach(srcs, i, s)
        if (strcmp(json_string_value(s), source) != 0)
            json_array_append(order, s);
    return import_uuid(ctx, pool, order, origin, o, depth + 1, done, err);
}

static int import_uuid(const vm_ctx *ctx, const char *pool, json_t *srcs, const char *uuid, const img_import_opts *o,
                       int depth, json_t *done, vm_err *err)
{
    cleanup_json json_t *have = NULL;
    vm_err e2 = VM_ERR_INIT;
    if (img_get(ctx, pool, uuid, &have, &e2) == 0) {
        note(o, "Image %s (%s@%s) is already installed, skipping", uuid, jstr(have, "name"), jstr(have, "version"));
        if (depth == 0)
            json_array_append_new(done, json_pack("{sOsb}", "manifest", have, "imported", 0));
        return 0;
    }
    cleanup_json json_t *m = NULL;
    cleanup_free char *source = NULL;
    if (find_by_uuid(srcs, uuid, &m, &source, err) < 0)
        return -1;
    if (import_origin(ctx, pool, srcs, m, source, o, depth, done, err) < 0)
        return -1;
    /* One import of an image at a time: a second one waits, then finds it
     * installed. */
    cleanup_free char *lockname = xasprintf("import-%s", uuid);
    cleanup_lock vm_lock lk = VM_LOCK_INIT;
    int got = vm_lock_try(ctx, lockname, &lk, err);
    if (got < 0)
        return -1;
    if (got == 0) {
        note(o, "Waiting for another import of image %s", uuid);
        if (vm_lock_acquire(ctx, lockname, -1, &lk, err) < 0)
            return -1;
    }
    json_decref(have);
    have = NULL;
    if (img_get(ctx, pool, uuid, &have, &e2) == 0) {
        note(o, "Image %s (%s@%s) is already installed, skipping", uuid, jstr(have, "name"), jstr(have, "version"));
        if (depth == 0)
            json_array_append_new(done, json_pack("{sOsb}", "manifest", have, "imported", 0));
        return 0;
    }
    if (fetch_and_install(ctx, pool, m, source, o, err) < 0)
        return -1;
    json_array_append_new(done, json_pack("{sOsssb}", "manifest", m, "source", source, "imported", 1));
    return 0;
}

int img_import(const vm_ctx *ctx, const char *pool, const char *spec, const img_import_opts *opts, json_t **imported,
               vm_err *err)
{
    cleanup_json json_t *srcs = NULL;
    if (sources_for(ctx, opts, &srcs, err) < 0)
        return -1;
    sweep_downloads(ctx);
    cleanup_free char *uuid = NULL;
    if (uuid_valid(spec))
        uuid = xstrdup(spec);
    else if (uuid_shape(spec))
        return vm_err_set(err, VMERR_INVALID, "invalid uuid: \"%s\"", spec);
    else if (resolve_name(ctx, opts, spec, &uuid, err) < 0)
        return -1;
    cleanup_json json_t *done = json_array();
    if (import_uuid(ctx, pool, srcs, uuid, opts, 0, done, err) < 0)
        return -1;
    if (imported)
        *imported = json_incref(done);
    return 0;
}

/* ---- update ---- */

/* Refreshes one installed manifest from the sources.  1 if it changed. */
static int update_one(const vm_ctx *ctx, const char *pool, json_t *srcs, json_t *have, vm_err *err)
{
    const char *uuid = jstr(have, "uuid");
    cleanup_json json_t *m = NULL;
    cleanup_free char *source = NULL;
    if (find_by_uuid(srcs, uuid, &m, &source, err) < 0)
        return -1;
    json_t *h0 = json_array_get(json_object_get(have, "files"), 0);
    json_t *m0 = json_array_get(json_object_get(m, "files"), 0);
    if (!json_equal(json_object_get(h0, "sha1"), json_object_get(m0, "sha1")) ||
        !json_equal(json_object_get(h0, "size"), json_object_get(m0, "size")) ||
        !json_equal(json_object_get(have, "type"), json_object_get(m, "type")))
        return vm_err_set(err, VMERR_INVALID,
                          "image source \"%s\" describes image %s with another file or type: manifest not updated",
                          source, uuid);
    if (json_equal(have, m))
        return 0;
    cleanup_free char *lockname = xasprintf("image-%s", uuid);
    cleanup_lock vm_lock lk = VM_LOCK_INIT;
    if (vm_lock_acquire(ctx, lockname, -1, &lk, err) < 0)
        return -1;
    cleanup_free char *mpath = img_manifest_path(ctx, pool, uuid);
    if (!path_exists(mpath))
        return 0; /* deleted meanwhile */
    if (write_json_atomic(mpath, m, err) < 0)
        return -1;
    return 1;
}

int img_update(const vm_ctx *ctx, const char *pool, char **uuids, const img_import_opts *opts, json_t **updated,
               vm_err *err)
{
    cleanup_json json_t *srcs = NULL;
    if (sources_for(ctx, opts, &srcs, err) < 0)
        return -1;
    cleanup_json json_t *todo = NULL;
    if (uuids && uuids[0]) {
        todo = json_array();
        for (size_t i = 0; uuids[i]; i++) {
            json_t *m = NULL;
            if (img_get(ctx, pool, uuids[i], &m, err) < 0)
                return -1;
            json_array_append_new(todo, m);
        }
    } else if (img_list(ctx, pool, &todo, err) < 0) {
        return -1;
    }
    cleanup_json json_t *out = json_array();
    int failed = 0;
    size_t i;
    json_t *have;
    json_array_foreach(todo, i, have) {
        vm_err e2 = VM_ERR_INIT;
        int r = update_one(ctx, pool, srcs, have, &e2);
        if (r < 0) {
            note(opts, "warning: %s", e2.msg);
            if (!failed)
                *err = e2;
            failed++;
        } else if (r == 1) {
            note(opts, "Updated image %s (%s@%s) manifest", jstr(have, "uuid"), jstr(have, "name"),
                 jstr(have, "version"));
            json_array_append_new(out, json_string(jstr(have, "uuid")));
        }
    }
    if (updated)
        *updated = json_incref(out);
    if (failed > 1)
        vm_err_prefix(err, "%d images not updated, first: ", failed);
    return failed ? -1 : 0;
}
