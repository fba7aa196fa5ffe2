#include "vm/store.h"
#include "vm/runtime.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/lock.h"
#include "common/util.h"
#include "storage/storage.h"
#include "vm/vm_internal.h"

int vm_store_private_dir(const char *path, vm_err *err)
{
    struct stat st;
    if (mkdir_p(path, 0755, err) < 0)
        return -1;
    if (stat(path, &st) < 0)
        return vm_err_sys(err, errno, "cannot stat %s", path);
    if ((st.st_mode & 07777) != 0700 && chmod(path, 0700) < 0)
        return vm_err_sys(err, errno, "cannot make %s private", path);
    return 0;
}

int vm_store_write_json(const char *path, json_t *j, vm_err *err)
{
    cleanup_free char *s = json_pretty(j);
    size_t n = strlen(s);
    s = xrealloc(s, n + 2);
    s[n] = '\n';
    s[n + 1] = '\0';
    return write_file_atomic(path, s, n + 1, 0600, err);
}

char *vm_store_dir(const vm_ctx *ctx, const char *uuid)
{
    return xasprintf("%s/%s", ctx->etc_dir, uuid);
}

char *vm_store_config_path(const vm_ctx *ctx, const char *uuid)
{
    return xasprintf("%s/%s/vm.json", ctx->etc_dir, uuid);
}

char *vm_store_zonepath(const vm_ctx *ctx, const char *pool, const char *uuid)
{
    return xasprintf("%s/%s/%s", ctx->root, pool ? pool : ctx->pool, uuid);
}

char *vm_store_staging_dir(const vm_ctx *ctx, const char *uuid)
{
    return xasprintf("%s/.creating-%s", ctx->etc_dir, uuid);
}

static char *deleting_dir(const vm_ctx *ctx, const char *uuid)
{
    return xasprintf("%s/.deleting-%s", ctx->etc_dir, uuid);
}

bool vm_store_exists(const vm_ctx *ctx, const char *uuid)
{
    cleanup_free char *p = vm_store_config_path(ctx, uuid);
    return access(p, F_OK) == 0;
}

/* ---------------- journal ---------------- */

struct vm_txn {
    json_t *writes; /* [{path, content}] */
    json_t *ops; /* storage ops, see store.h */
    char *pool;
    bool space; /* recompute the VM's quota/reservation afterwards */
};

vm_txn *vm_txn_new(void)
{
    vm_txn *t = xcalloc(1, sizeof *t);
    t->writes = json_array();
    t->ops = json_array();
    return t;
}

void vm_txn_free(vm_txn *t)
{
    if (!t)
        return;
    json_decref(t->writes);
    json_decref(t->ops);
    free(t->pool);
    free(t);
}

void cleanup_txnp(vm_txn **t)
{
    vm_txn_free(*t);
    *t = NULL;
}

void vm_txn_write(vm_txn *t, const char *path, json_t *content)
{
    json_array_append_new(t->writes, json_pack("{s:s,s:o}", "path", path, "content", json_dup(content)));
}

void vm_txn_write_vm(vm_txn *t, const vm_ctx *ctx, const char *uuid, json_t *cfg, const char *zonepath, json_t *meta)
{
    cleanup_free char *cfgpath = vm_store_config_path(ctx, uuid);
    vm_txn_write(t, cfgpath, cfg);
    if (!meta || !zonepath)
        return;
    cleanup_free char *mdp = xasprintf("%s/config/metadata.json", zonepath);
    cleanup_free char *tagp = xasprintf("%s/config/tags.json", zonepath);
    cleanup_free char *rtp = xasprintf("%s/config/routes.json", zonepath);
    cleanup_json json_t *md = json_pack("{s:O,s:O}", "customer_metadata", json_object_get(meta, "customer_metadata"),
                                        "internal_metadata", json_object_get(meta, "internal_metadata"));
    vm_txn_write(t, mdp, md);
    vm_txn_write(t, tagp, json_object_get(meta, "tags"));
    vm_txn_write(t, rtp, json_object_get(meta, "routes"));
}

void vm_txn_set_space(vm_txn *t)
{
    t->space = true;
}

void vm_txn_op(vm_txn *t, json_t *op)
{
    json_array_append_new(t->ops, op);
}

int vm_store_apply_op(vs_pool *pool, json_t *op, vm_err *err)
{
    const char *kind = json_string_value(json_object_get(op, "op"));
    const char *name = json_string_value(json_object_get(op, "name"));
    json_t *props = json_object_get(op, "props");
    if (!kind || !name)
        return vm_err_set(err, VMERR_INTERNAL, "bad journal op");
    if (!strcmp(kind, "create_vol")) {
        if (vs_exists(pool, name))
            return 0;
        return vs_create_vol(pool, name, (uint64_t)json_integer_value(json_object_get(op, "volsize")), props, err);
    }
    if (!strcmp(kind, "clone")) {
        if (vs_exists(pool, name))
            return 0;
        return vs_clone(pool, json_string_value(json_object_get(op, "origin")), name, props, err);
    }
    if (!strcmp(kind, "resize")) {
        int64_t cur = 0;
        uint64_t want = (uint64_t)json_integer_value(json_object_get(op, "volsize"));
        if (vs_get_int(pool, name, "volsize", &cur, err) < 0)
            return -1;
        if ((uint64_t)cur == want)
            return 0;
        return vs_resize(pool, name, want, VS_ALLOW_SHRINK, err);
    }
    if (!strcmp(kind, "set"))
        return vs_set(pool, name, json_string_value(json_object_get(op, "prop")),
                      json_string_value(json_object_get(op, "value")), err);
    if (!strcmp(kind, "rename")) {
        const char *to = json_string_value(json_object_get(op, "to"));
        if (!vs_exists(pool, name) && to && vs_exists(pool, to))
            return 0; /* done before a crash */
        return vs_rename(pool, name, to, err);
    }
    if (!strcmp(kind, "destroy")) {
        if (!vs_exists(pool, name))
            return 0;
        return vs_destroy(pool, name, VS_RECURSIVE | VS_FORCE, err);
    }
    return vm_err_set(err, VMERR_INTERNAL, "unknown journal op %s", kind);
}

/* The zones index: etc/zones/<uuid>.xml, as SmartOS's /etc/zones, for
 * tools that test a VM's existence (and do_not_inventory) by that file
 * (node-vmadm's ifExists).  Derived from vm.json at each commit point;
 * best effort (the config is the truth), so a failure is only logged. */
static char *zones_index_path(const vm_ctx *ctx, const char *uuid)
{
    return xasprintf("%s/etc/zones/%s.xml", ctx->root, uuid);
}

static void zones_index_update(const vm_ctx *ctx, const char *uuid)
{
    cleanup_free char *cfgpath = vm_store_config_path(ctx, uuid);
    cleanup_free char *path = zones_index_path(ctx, uuid);
    cleanup_free char *dir = xasprintf("%s/etc/zones", ctx->root);
    cleanup_json json_t *cfg = NULL;
    vm_err e = VM_ERR_INIT;
    if (read_json_file(cfgpath, &cfg, &e) < 0 || mkdir_p(dir, 0755, &e) < 0) {
        vm_log(ctx, "warn", "VM %s: zones index not updated: %s", uuid, e.msg);
        return;
    }
    const char *brand = json_string_value(json_object_get(cfg, "brand"));
    const char *zpool = json_string_value(json_object_get(cfg, "zpool"));
    cleanup_free char *xml =
        xasprintf("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                  "<!DOCTYPE zone PUBLIC \"-//Sun Microsystems Inc//DTD Zones//EN\" "
                  "\"file:///usr/share/lib/xml/dtd/zonecfg.dtd.1\">\n"
                  "<!-- index written by vmadm; the VM's config is etc/vms/%s/vm.json -->\n"
                  "<zone name=\"%s\" zonepath=\"/%s/%s\" autoboot=\"%s\" brand=\"%s\">\n%s</zone>\n",
                  uuid, uuid, zpool ? zpool : ctx->pool, uuid,
                  json_is_true(json_object_get(cfg, "autoboot")) ? "true" : "false", brand ? brand : "",
                  json_is_true(json_object_get(cfg, "do_not_inventory"))
                      ? "  <attr name=\"do-not-inventory\" type=\"string\" value=\"true\"/>\n"
                      : "");
    if (write_file_atomic(path, xml, strlen(xml), 0644, &e) < 0)
        vm_log(ctx, "warn", "VM %s: zones index not updated: %s", uuid, e.msg);
}

static int apply_writes(json_t *writes, vm_err *err)
{
    size_t i;
    json_t *w;
    json_array_foreach(writes, i, w) {
        const char *path = json_string_value(json_object_get(w, "path"));
        cleanup_free char *dir = xstrdup(path);
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        if (vm_store_private_dir(dir, err) < 0)
            return -1;
        if (vm_store_write_json(path, json_object_get(w, "content"), err) < 0)
            return -1;
    }
    return 0;
}

static char *journal_path(const vm_ctx *ctx, const char *uuid)
{
    return xasprintf("%s/%s/journal.json", ctx->etc_dir, uuid);
}

int vm_txn_begin(const vm_ctx *ctx, const char *uuid, vm_txn *t, vm_err *err)
{
    cleanup_free char *jpath = journal_path(ctx, uuid);
    cleanup_json json_t *j = json_pack("{s:O,s:O,s:b}", "ops", t->ops, "writes", t->writes, "space", t->space);
    return vm_store_write_json(jpath, j, err);
}

int vm_txn_finish(const vm_ctx *ctx, const char *uuid, vm_txn *t, vm_err *err)
{
    cleanup_free char *jpath = journal_path(ctx, uuid);
    if (apply_writes(t->writes, err) < 0)
        return -1;
    zones_index_update(ctx, uuid);
    if (unlink(jpath) < 0 && errno != ENOENT)
        return vm_err_sys(err, errno, "cannot remove %s", jpath);
    return 0;
}

void vm_txn_abort(const vm_ctx *ctx, const char *uuid)
{
    cleanup_free char *jpath = journal_path(ctx, uuid);
    unlink(jpath);
}

int vm_txn_commit(const vm_ctx *ctx, const char *uuid, vm_txn *t, vm_err *err)
{
    cleanup_free char *dir = vm_store_dir(ctx, uuid);
    cleanup_free char *jpath = xasprintf("%s/journal.json", dir);
    cleanup_json json_t *j = json_pack("{s:O}", "writes", t->writes);

    /* Single-file transactions need no journal: the rename is atomic. */
    if (json_array_size(t->writes) == 1) {
        if (apply_writes(t->writes, err) < 0)
            return -1;
        zones_index_update(ctx, uuid);
        return 0;
    }
    if (vm_store_write_json(jpath, j, err) < 0)
        return -1;
    if (apply_writes(t->writes, err) < 0)
        return -1; /* journal stays: the next command rolls forward */
    zones_index_update(ctx, uuid);
    if (unlink(jpath) < 0 && errno != ENOENT)
        return vm_err_sys(err, errno, "cannot remove %s", jpath);
    fsync_dir(dir);
    return 0;
}

int vm_store_recover(const vm_ctx *ctx, const char *uuid, vm_err *err)
{
    cleanup_free char *dir = vm_store_dir(ctx, uuid);
    cleanup_free char *jpath = xasprintf("%s/journal.json", dir);
    cleanup_json json_t *j = NULL;
    vm_err e2 = VM_ERR_INIT;

    if (access(jpath, F_OK) != 0)
        return 0;
    if (read_json_file(jpath, &j, &e2) < 0) {
        /* A journal that never finished being written was never committed. */
        unlink(jpath);
        return 0;
    }
    json_t *ops = json_object_get(j, "ops");
    if (json_array_size(ops)) {
        /* The VM's pool is in the config this journal is about to replace;
         * both name the same pool (zpool cannot change). */
        cleanup_free char *cfgpath = vm_store_config_path(ctx, uuid);
        cleanup_json json_t *cfg = NULL;
        const char *pool = ctx->pool;
        if (read_json_file(cfgpath, &cfg, &e2) == 0 && json_is_string(json_object_get(cfg, "zpool")))
            pool = json_string_value(json_object_get(cfg, "zpool"));
        cleanup_vs_pool vs_pool *p = NULL;
        if (vs_pool_open(ctx, pool, &p, err) < 0)
            return -1;
        size_t i;
        json_t *op;
        json_array_foreach(ops, i, op)
            if (vm_store_apply_op(p, op, err) < 0) {
                vm_err_prefix(err, "cannot complete an interrupted change of VM %s: ", uuid);
                return -1;
            }
    }
    if (apply_writes(json_object_get(j, "writes"), err) < 0)
        return -1;
    zones_index_update(ctx, uuid);
    if (json_is_true(json_object_get(j, "space"))) {
        cleanup_free char *cfgpath = vm_store_config_path(ctx, uuid);
        cleanup_json json_t *cfg = NULL;
        if (read_json_file(cfgpath, &cfg, err) < 0)
            return -1;
        cleanup_vs_pool vs_pool *p = NULL;
        if (vs_pool_open(ctx, json_string_value(json_object_get(cfg, "zpool")), &p, err) < 0)
            return -1;
        json_object_set_new(cfg, "uuid", json_string(uuid));
        if (vm_space_apply(ctx, p, cfg, err) < 0)
            return -1;
    }
    unlink(jpath);
    vm_log(ctx, "info", "VM %s: rolled forward an interrupted update", uuid);
    return 0;
}

int vm_store_load_config(const vm_ctx *ctx, const char *uuid, json_t **cfg, vm_err *err)
{
    cleanup_free char *path = vm_store_config_path(ctx, uuid);
    cleanup_free char *dir = vm_store_dir(ctx, uuid);
    cleanup_free char *jpath = xasprintf("%s/journal.json", dir);
    json_t *j;

    if (access(jpath, F_OK) == 0) {
        /* Roll forward under the VM lock, so readers never see half an update. */
        cleanup_lock vm_lock lk = VM_LOCK_INIT;
        if (vm_lock_try(ctx, uuid, &lk, err) == 1)
            vm_store_recover(ctx, uuid, err);
    }
    if (read_json_file(path, &j, err) < 0) {
        if (err && err->code == VMERR_NOTFOUND)
            vm_err_set(err, VMERR_NOTFOUND, "VM %s not found", uuid);
        return -1;
    }
    *cfg = j;
    return 0;
}

/* A metadata file's object; a missing file is an empty object.  A file
 * that exists but is not a JSON object also reads as empty, and sets err. */
static json_t *read_obj_or_empty(const char *path, int *bad, vm_err *err)
{
    json_t *j = NULL;
    vm_err e = VM_ERR_INIT;
    if (read_json_file(path, &j, &e) == 0 && json_is_object(j))
        return j;
    json_decref(j);
    if (e.code != VMERR_NOTFOUND && !*bad) {
        *bad = 1;
        if (e.code)
            vm_err_set(err, e.code, "%s", e.msg);
        else
            vm_err_set(err, VMERR_INVALID, "%s is not a JSON object", path);
    }
    return json_object();
}

int vm_store_load_meta(const char *zonepath, json_t **meta, vm_err *err)
{
    cleanup_free char *mdp = xasprintf("%s/config/metadata.json", zonepath);
    cleanup_free char *tagp = xasprintf("%s/config/tags.json", zonepath);
    cleanup_free char *rtp = xasprintf("%s/config/routes.json", zonepath);
    int bad = 0;
    json_t *md = read_obj_or_empty(mdp, &bad, err);
    json_t *cm = json_object_get(md, "customer_metadata");
    json_t *im = json_object_get(md, "internal_metadata");
    json_t *m = json_object();
    json_object_set_new(m, "customer_metadata", json_is_object(cm) ? json_incref(cm) : json_object());
    json_object_set_new(m, "internal_metadata", json_is_object(im) ? json_incref(im) : json_object());
    json_object_set_new(m, "routes", read_obj_or_empty(rtp, &bad, err));
    json_object_set_new(m, "tags", read_obj_or_empty(tagp, &bad, err));
    json_decref(md);
    *meta = m;
    return bad ? -1 : 0;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int vm_store_list(const vm_ctx *ctx, json_t **uuids, vm_err *err)
{
    DIR *d = opendir(ctx->etc_dir);
    struct dirent *de;
    size_t n = 0, cap = 64;
    char **names;

    if (!d)
        return vm_err_sys(err, errno, "cannot open %s", ctx->etc_dir);
    names = xcalloc(cap, sizeof *names);
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.' || !uuid_valid(de->d_name))
            continue;
        if (n == cap) {
            cap *= 2;
            names = xrealloc(names, cap * sizeof *names);
        }
        names[n++] = xstrdup(de->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, cmp_str);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(arr, json_string(names[i]));
        free(names[i]);
    }
    free(names);
    *uuids = arr;
    return 0;
}

/* The commit points of create and delete: one rename in etc/vms, made
 * durable before the caller goes on. */
static int rename_entry(const vm_ctx *ctx, char *from, char *to, const char *what, const char *uuid, vm_err *err)
{
    int r = rename(from, to);
    int e = errno;
    free(from);
    free(to);
    if (r < 0)
        return vm_err_sys(err, e, "cannot %s VM %s", what, uuid);
    fsync_dir(ctx->etc_dir);
    return 0;
}

int vm_store_commit_create(const vm_ctx *ctx, const char *uuid, vm_err *err)
{
    /* The runtime directory (console log, sockets) exists private before
     * the VM does: a runtime creating it later keeps its mode. */
    cleanup_free char *rundir = vm_ctx_vm_rundir(ctx, uuid);
    if (vm_store_private_dir(rundir, err) < 0)
        return -1;
    if (rename_entry(ctx, vm_store_staging_dir(ctx, uuid), vm_store_dir(ctx, uuid), "commit", uuid, err) < 0)
        return -1;
    zones_index_update(ctx, uuid);
    return 0;
}

int vm_store_begin_delete(const vm_ctx *ctx, const char *uuid, vm_err *err)
{
    if (rename_entry(ctx, vm_store_dir(ctx, uuid), deleting_dir(ctx, uuid), "delete", uuid, err) < 0)
        return -1;
    cleanup_free char *idx = zones_index_path(ctx, uuid);
    unlink(idx);
    return 0;
}

/* Destroys every dataset of the VM recorded in `dir`/vm.json (its pool). */
static int destroy_vm_storage(const vm_ctx *ctx, const char *dir, const char *uuid, vm_err *err)
{
    cleanup_free char *cfgpath = xasprintf("%s/vm.json", dir);
    cleanup_json json_t *cfg = NULL;
    vm_err e2 = VM_ERR_INIT;
    const char *pool = ctx->pool;

    if (read_json_file(cfgpath, &cfg, &e2) == 0 && json_is_string(json_object_get(cfg, "zpool")))
        pool = json_string_value(json_object_get(cfg, "zpool"));
    cleanup_vs_pool vs_pool *p = NULL;
    if (vs_pool_open(ctx, pool, &p, err) < 0)
        return -1;
    cleanup_free char *ds = xasprintf("%s/%s", pool, uuid);
    if (vs_exists(p, ds) && vs_destroy(p, ds, VS_RECURSIVE | VS_FORCE, err) < 0)
        return -1;
    /* Leftovers of an interrupted reprovision: <uuid>-reprov-*. */
    cleanup_json json_t *all = NULL;
    if (vs_list(p, pool, VS_FILESYSTEM | VS_VOLUME, VS_RECURSIVE, &all, &e2) == 0) {
        size_t i;
        json_t *n;
        json_array_foreach(all, i, n) {
            const char *name = json_string_value(n);
            if (str_has_prefix(name, ds) && name[strlen(ds)] == '-' && vs_exists(p, name))
                vs_destroy(p, name, VS_RECURSIVE | VS_FORCE, &e2);
        }
    }
    return 0;
}

int vm_store_finish_delete(const vm_ctx *ctx, const char *uuid, vm_err *err)
{
    cleanup_free char *dir = deleting_dir(ctx, uuid);
    cleanup_free char *rundir = vm_ctx_vm_rundir(ctx, uuid);
    cleanup_free char *idx = zones_index_path(ctx, uuid);
    unlink(idx); /* already gone unless begin_delete was interrupted */
    if (destroy_vm_storage(ctx, dir, uuid, err) < 0)
        return -1;
    rm_rf(rundir, NULL);
    return rm_rf(dir, err);
}

int vm_store_repair(const vm_ctx *ctx, vm_err *err)
{
    DIR *d = opendir(ctx->etc_dir);
    struct dirent *de;
    json_t *todo = json_array();

    if (!d) {
        json_decref(todo);
        return vm_err_sys(err, errno, "cannot open %s", ctx->etc_dir);
    }
    while ((de = readdir(d)))
        if (str_has_prefix(de->d_name, ".creating-") || str_has_prefix(de->d_name, ".deleting-"))
            json_array_append_new(todo, json_string(de->d_name));
    closedir(d);

    size_t i;
    json_t *n;
    json_array_foreach(todo, i, n) {
        const char *name = json_string_value(n);
        const char *uuid = strchr(name + 1, '-') + 1;
        cleanup_lock vm_lock lk = VM_LOCK_INIT;
        vm_err e2 = VM_ERR_INIT;
        if (!uuid_valid(uuid) || vm_lock_try(ctx, uuid, &lk, &e2) != 1)
            continue; /* its owner is still at work */
        cleanup_free char *dir = xasprintf("%s/%s", ctx->etc_dir, name);
        if (!path_exists(dir))
            continue; /* finished meanwhile */
        cleanup_free char *resume = xasprintf("%s/%s", dir, VM_STORE_RESUME_FILE);
        if (str_has_prefix(name, ".creating-") && path_exists(resume))
            continue; /* a resumable receive's: kept until resumed or aborted */
        if (str_has_prefix(name, ".creating-")) {
            if (destroy_vm_storage(ctx, dir, uuid, &e2) == 0) {
                rm_rf(dir, &e2);
                cleanup_free char *rundir = vm_ctx_vm_rundir(ctx, uuid);
                rm_rf(rundir, &e2);
                vm_log(ctx, "warn", "VM %s: rolled back an interrupted create", uuid);
            }
        } else if (vm_store_finish_delete(ctx, uuid, &e2) == 0) {
            /* What the runtime kept for it (id range, host links) goes too. */
            vm_runtime_forget_all(ctx, uuid);
            vm_log(ctx, "warn", "VM %s: finished an interrupted delete", uuid);
        }
    }
    json_decref(todo);
    return 0;
}

int vm_store_discard_staging(const vm_ctx *ctx, const char *uuid, vm_err *err)
{
    cleanup_free char *dir = vm_store_staging_dir(ctx, uuid);
    if (!path_exists(dir))
        return 0;
    if (destroy_vm_storage(ctx, dir, uuid, err) < 0)
        return -1;
    cleanup_free char *rundir = vm_ctx_vm_rundir(ctx, uuid);
    rm_rf(rundir, NULL);
    return rm_rf(dir, err);
}

int vm_write_meta(const char *zonepath, json_t *meta, vm_err *err)
{
    cleanup_free char *dir = xasprintf("%s/config", zonepath);
    if (vm_store_private_dir(dir, err) < 0)
        return -1;
    cleanup_free char *mdp = xasprintf("%s/metadata.json", dir);
    cleanup_free char *tagp = xasprintf("%s/tags.json", dir);
    cleanup_free char *rtp = xasprintf("%s/routes.json", dir);
    cleanup_json json_t *md = json_pack("{s:O,s:O}", "customer_metadata", json_object_get(meta, "customer_metadata"),
                                        "internal_metadata", json_object_get(meta, "internal_metadata"));
    if (vm_store_write_json(mdp, md, err) < 0 || vm_store_write_json(tagp, json_object_get(meta, "tags"), err) < 0 ||
        vm_store_write_json(rtp, json_object_get(meta, "routes"), err) < 0)
        return -1;
    return 0;
}
