/* The nic tag store (see nictag.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/util.h"
#include "net/nictag.h"

bool net_tag_name_valid(const char *name)
{
    size_t n = name ? strlen(name) : 0;
    if (n < 1 || n > NET_TAG_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

static char *store_path(const vm_ctx *ctx)
{
    return xasprintf("%s/etc/nictags.json", ctx->root);
}

static int load_store(const vm_ctx *ctx, json_t **out, vm_err *err)
{
    cleanup_free char *p = store_path(ctx);
    if (!path_exists(p)) {
        *out = json_object();
        return 0;
    }
    if (read_json_file(p, out, err) < 0)
        return -1;
    if (!json_is_object(*out)) {
        json_decref(*out);
        *out = NULL;
        return vm_err_set(err, VMERR_INTERNAL, "%s is not a JSON object", p);
    }
    return 0;
}

static void copy_str(char *dst, size_t cap, json_t *v)
{
    const char *s = json_string_value(v);
    snprintf(dst, cap, "%s", s ? s : "");
}

static void from_json(const char *name, json_t *o, net_tag *t)
{
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    copy_str(t->bridge, sizeof t->bridge, json_object_get(o, "bridge"));
    copy_str(t->link, sizeof t->link, json_object_get(o, "link"));
    copy_str(t->mac, sizeof t->mac, json_object_get(o, "mac"));
    t->mtu = (int)json_integer_value(json_object_get(o, "mtu"));
    t->local = json_is_true(json_object_get(o, "local"));
    t->owned = json_is_true(json_object_get(o, "owned"));
}

int net_tag_get(const vm_ctx *ctx, const char *name, net_tag *out, vm_err *err)
{
    cleanup_json json_t *store = NULL;
    if (load_store(ctx, &store, err) < 0)
        return -1;
    json_t *o = name ? json_object_get(store, name) : NULL;
    if (!json_is_object(o))
        return vm_err_set(err, VMERR_NOTFOUND, "nic tag \"%s\" does not exist", name ? name : "");
    from_json(name, o, out);
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(((const net_tag *)a)->name, ((const net_tag *)b)->name);
}

int net_tag_list(const vm_ctx *ctx, net_tag **out, size_t *n, vm_err *err)
{
    cleanup_json json_t *store = NULL;
    if (load_store(ctx, &store, err) < 0)
        return -1;
    *n = 0;
    *out = xcalloc(json_object_size(store) + 1, sizeof **out);
    const char *k;
    json_t *v;
    json_object_foreach(store, k, v) {
        if (json_is_object(v) && net_tag_name_valid(k))
            from_json(k, v, &(*out)[(*n)++]);
    }
    qsort(*out, *n, sizeof **out, by_name);
    return 0;
}

/* Runs fn on the store under the store lock and writes it back. */
static int with_store(const vm_ctx *ctx, int (*fn)(json_t *store, const void *arg, vm_err *err), const void *arg,
                      vm_err *err)
{
    cleanup_free char *lockp = xasprintf("%s/nictags.lock", ctx->lock_dir);
    cleanup_close int lfd = open(lockp, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (lfd < 0 || flock(lfd, LOCK_EX) < 0)
        return vm_err_sys(err, errno, "cannot lock %s", lockp);
    cleanup_json json_t *store = NULL;
    int rc = load_store(ctx, &store, err);
    if (rc == 0)
        rc = fn(store, arg, err);
    if (rc == 0) {
        cleanup_free char *p = store_path(ctx);
        rc = write_json_atomic(p, store, err);
    }
    return rc; /* closing lfd releases the lock */
}

struct put_arg {
    const net_tag *tag;
    bool replace;
};

static int do_put(json_t *store, const void *arg, vm_err *err)
{
    const struct put_arg *a = arg;
    const net_tag *t = a->tag;
    if (!a->replace && json_object_get(store, t->name))
        return vm_err_set(err, VMERR_EXISTS, "nic tag \"%s\" already exists", t->name);
    json_object_set_new(store, t->name,
                        json_pack("{s:s, s:s, s:s, s:i, s:b, s:b}", "bridge", t->bridge, "link", t->link, "mac", t->mac,
                                  "mtu", t->mtu, "local", t->local, "owned", t->owned));
    return 0;
}

int net_tag_put(const vm_ctx *ctx, const net_tag *tag, bool replace, vm_err *err)
{
    if (!net_tag_name_valid(tag->name))
        return vm_err_set(err, VMERR_INVALID, "invalid nic tag name \"%s\"", tag->name);
    struct put_arg a = { tag, replace };
    return with_store(ctx, do_put, &a, err);
}

static int do_remove(json_t *store, const void *arg, vm_err *err)
{
    const char *name = arg;
    if (json_object_del(store, name) != 0)
        return vm_err_set(err, VMERR_NOTFOUND, "nic tag \"%s\" does not exist", name);
    return 0;
}

int net_tag_remove(const vm_ctx *ctx, const char *name, vm_err *err)
{
    return with_store(ctx, do_remove, name, err);
}
