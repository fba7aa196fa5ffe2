/* Raw disk views: where they live, what a path names, and who may open one
 * (rawview.h).  The tree functions are pure; the claim takes flocks. */
#include <string.h>

#include "common/util.h"
#include "storage/storage.h"
#include "vm/rawview.h"
#include "vm/runtime.h"
#include "vm/store.h"
#include "vm/vm_internal.h"

#define VM_RAWVIEW_SYSTEM_DIR "/dev/zvol"

char *vm_rawview_dir(const vm_ctx *ctx)
{
    if (!strcmp(ctx->root, VMADM_ROOT_DEFAULT))
        return xstrdup(VM_RAWVIEW_SYSTEM_DIR);
    return xasprintf("%s" VM_RAWVIEW_SYSTEM_DIR, ctx->root);
}

char *vm_rawview_path(const vm_ctx *ctx, const char *dataset)
{
    cleanup_free char *dir = vm_rawview_dir(ctx);
    return xasprintf("%s/rdsk/%s", dir, dataset);
}

static bool component_ok(const char *s, size_t n)
{
    if (n == 0 || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
        return false;
    return !memchr(s, '@', n);
}

int vm_rawview_split(const char *path, char **pool, char **dataset)
{
    if (pool)
        *pool = NULL;
    if (dataset)
        *dataset = NULL;
    if (!path || path[0] != '/')
        return -1;
    const char *p = path + 1;
    if (!*p)
        return 0;
    size_t n = strcspn(p, "/");
    if (!((n == 4 && !strncmp(p, "rdsk", 4)) || (n == 3 && !strncmp(p, "dsk", 3))))
        return -1;
    p += n;
    if (!*p)
        return 1;
    const char *rest = ++p; /* "<pool>[/...]" */
    int depth = 1;
    for (;;) {
        n = strcspn(p, "/");
        if (!component_ok(p, n))
            return -1;
        depth++;
        if (!p[n])
            break;
        p += n + 1;
    }
    size_t plen = strcspn(rest, "/");
    cleanup_free char *pl = xstrndup(rest, plen);
    if (!vs_valid_name(pl))
        return -1;
    if (depth > 2 && !vs_valid_name(rest))
        return -1;
    if (pool)
        *pool = steal_ptr(pl);
    if (dataset && depth > 2)
        *dataset = xstrdup(rest);
    return depth;
}

enum vm_rawview_kind vm_rawview_lookup(json_t *volumes, const char *dataset)
{
    size_t i, n = strlen(dataset);
    json_t *v;
    enum vm_rawview_kind k = VM_RAWVIEW_NONE;
    json_array_foreach(volumes, i, v) {
        const char *name = json_string_value(v);
        if (!name || strncmp(name, dataset, n) != 0)
            continue;
        if (!name[n])
            return VM_RAWVIEW_VOLUME;
        if (name[n] == '/')
            k = VM_RAWVIEW_DIR;
    }
    return k;
}

json_t *vm_rawview_children(json_t *volumes, const char *pool, const char *dataset)
{
    json_t *out = json_array();
    cleanup_free char *prefix = xasprintf("%s/", dataset ? dataset : pool);
    size_t i, j, n = strlen(prefix);
    json_t *v, *e;
    json_array_foreach(volumes, i, v) {
        const char *name = json_string_value(v);
        if (!name || strncmp(name, prefix, n) != 0)
            continue;
        size_t len = strcspn(name + n, "/");
        bool seen = false;
        json_array_foreach(out, j, e) {
            const char *s = json_string_value(e);
            if (strlen(s) == len && !strncmp(s, name + n, len))
                seen = true;
        }
        if (!seen && len)
            json_array_append_new(out, json_stringn(name + n, len));
    }
    return out;
}

int vm_rawview_owner(const char *dataset, char uuid_out[37])
{
    uuid_out[0] = '\0';
    const char *s = strchr(dataset, '/');
    if (!s)
        return 0;
    s++;
    const char *e = strchr(s, '/');
    if (!e || e - s != 36)
        return 0;
    char u[37];
    memcpy(u, s, 36);
    u[36] = '\0';
    if (!uuid_valid(u))
        return 0;
    memcpy(uuid_out, u, 37);
    return 1;
}

int vm_rawview_claim_vm(const vm_ctx *ctx, const char *uuid, const char *dataset, int timeout_ms, vm_rawview_claim *c,
                        vm_err *err)
{
    cleanup_free char *path = vm_rawview_path(ctx, dataset);
    vm_err e2 = VM_ERR_INIT;
    if (vm_lock_acquire(ctx, uuid, timeout_ms, &c->vm, &e2) < 0)
        return vm_err_set(err, VMERR_BUSY, "VM %s is busy (another vmadm command holds it): cannot open its disk %s",
                          uuid, path);
    cleanup_json json_t *cfg = NULL;
    vm_runstate rs = { 0 };
    /* No VM (yet, or any more): its create or delete holds the lock while
     * it works, and waits for this claim. */
    if (vm_store_exists(ctx, uuid)) {
        if (vm_load_locked(ctx, uuid, &cfg, err) < 0) {
            vm_rawview_release(c);
            return -1;
        }
        vm_runtime_state(ctx, json_string_value(json_object_get(cfg, "brand")), uuid, &rs);
    }
    if (rs.running || json_object_get(cfg, "transition")) {
        vm_rawview_release(c);
        return vm_err_set(err, VMERR_BUSY, "VM %s is %s: stop it before opening its disk %s", uuid,
                          rs.running ? "running" : "provisioning", path);
    }
    cleanup_free char *vname = xasprintf("zvol-%s", uuid);
    if (vm_lock_acquire(ctx, vname, timeout_ms, &c->view, err) < 0) {
        vm_rawview_release(c);
        return -1;
    }
    return 0;
}

void vm_rawview_release(vm_rawview_claim *c)
{
    vm_lock_release(&c->view);
    vm_lock_release(&c->vm);
}

int vm_rawview_check_start(const vm_ctx *ctx, const char *uuid, int timeout_ms, vm_err *err)
{
    if (!uuid_valid(uuid))
        return 0; /* the caller's own lookup says "not found" */
    cleanup_lock vm_lock lk = VM_LOCK_INIT;
    cleanup_free char *vname = xasprintf("zvol-%s", uuid);
    vm_err e2 = VM_ERR_INIT;
    if (vm_lock_acquire(ctx, vname, timeout_ms, &lk, &e2) == 0)
        return 0;
    if (e2.code != VMERR_BUSY)
        return vm_err_set(err, e2.code, "%s", e2.msg);
    cleanup_free char *dir = vm_rawview_dir(ctx);
    return vm_err_set(err, VMERR_BUSY, "its disk is open through %s (raw disk view); close it first", dir);
}
