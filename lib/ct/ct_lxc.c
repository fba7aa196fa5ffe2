/* liblxc binding: loading it, and the LXC config written to a container
 * (saved config at start, cgroup limits of a running one). */
#include "ct/ct.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <dlfcn.h>

#include <lxc/lxccontainer.h>

#include "common/util.h"
#include "ct/ct_config.h"
#include "ct/ct_internal.h"

/* liblxc is opened on first use, not at program start: every vmadm command
 * links this library, but only container operations need LXC, and loading
 * it (with seccomp, selinux, apparmor, cap, pcre2) is most of vmadm's
 * start-up time.  Three entry points are used directly. */
static struct {
    pthread_once_t once;
    struct lxc_container *(*new_)(const char *, const char *);
    int (*put)(struct lxc_container *);
    int (*run_command)(void *);
    char error[256];
} lxcapi = { PTHREAD_ONCE_INIT, NULL, NULL, NULL, "" };

static void lxcapi_load(void)
{
    void *h = dlopen("liblxc.so.1", RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(lxcapi.error, sizeof lxcapi.error, "cannot load liblxc: %s", dlerror());
        return;
    }
    lxcapi.new_ = (struct lxc_container * (*)(const char *, const char *)) dlsym(h, "lxc_container_new");
    lxcapi.put = (int (*)(struct lxc_container *))dlsym(h, "lxc_container_put");
    lxcapi.run_command = (int (*)(void *))dlsym(h, "lxc_attach_run_command");
    if (!lxcapi.new_ || !lxcapi.put || !lxcapi.run_command)
        snprintf(lxcapi.error, sizeof lxcapi.error, "liblxc lacks the container API");
}

struct lxc_container *ct_lxc_new(const char *name, const char *path)
{
    pthread_once(&lxcapi.once, lxcapi_load);
    if (!lxcapi.new_) {
        errno = ENOSYS;
        return NULL;
    }
    return lxcapi.new_(name, path);
}

int ct_lxc_put(struct lxc_container *c)
{
    return c && lxcapi.put ? lxcapi.put(c) : 0;
}

void ct_lxc_putp(struct lxc_container **c)
{
    if (*c)
        ct_lxc_put(*c);
    *c = NULL;
}

ct_lxc_exec_fn ct_lxc_run_command(void)
{
    return lxcapi.run_command;
}

static int set_items(struct lxc_container *c, json_t *items, vm_err *err)
{
    size_t i;
    json_t *pair;
    json_array_foreach(items, i, pair) {
        const char *k = json_string_value(json_array_get(pair, 0));
        const char *v = json_string_value(json_array_get(pair, 1));
        if (!c->set_config_item(c, k, v))
            return vm_err_set(err, VMERR_INTERNAL, "LXC rejected config item %s = %s", k, v);
    }
    return 0;
}

int ct_lxc_save_config(const char *uuid, const char *lxcpath, json_t *items, vm_err *err)
{
    cleanup_lxc struct lxc_container *c = ct_lxc_new(uuid, lxcpath);
    if (!c)
        return vm_err_set(err, VMERR_INTERNAL, "liblxc cannot create a handle for %s", uuid);
    c->clear_config(c);
    if (set_items(c, items, err) < 0)
        return -1;
    if (!c->save_config(c, NULL))
        return vm_err_set(err, VMERR_IO, "cannot save the LXC config under %s", lxcpath);
    return 0;
}

int ct_apply_limits(const vm_ctx *ctx, json_t *vmobj, vm_err *err)
{
    const char *uuid = json_string_value(json_object_get(vmobj, "uuid"));
    if (!uuid || !uuid_valid(uuid))
        return vm_err_set(err, VMERR_INVALID, "VM object has no valid uuid");
    ct_host host;
    ct_host_probe(&host);
    cleanup_json json_t *items = json_array();
    cleanup_json json_t *notes = json_array();
    if (ct_config_limits(vmobj, &host, true, items, notes, err) < 0)
        return -1;
    cleanup_paths ct_paths p;
    ct_paths_init(ctx, uuid, &p);
    cleanup_lxc struct lxc_container *c = ct_running_handle(&p, uuid, err);
    if (!c)
        return -1;
    size_t i;
    json_t *pair;
    json_array_foreach(notes, i, pair)
        vm_log(ctx, "info", "container %s: %s", uuid, json_string_value(pair));

    /* Some limits constrain each other (memsw >= memory, quota vs period):
     * what fails in the first pass is retried once the others are set. */
    cleanup_json json_t *failed = json_array();
    for (int pass = 0; pass < 2; pass++) {
        json_t *todo = pass ? failed : items;
        cleanup_json json_t *again = json_array();
        json_array_foreach(todo, i, pair) {
            const char *k = json_string_value(json_array_get(pair, 0));
            const char *v = json_string_value(json_array_get(pair, 1));
            const char *sub =
                str_has_prefix(k, "lxc.cgroup2.") ? k + strlen("lxc.cgroup2.") : k + strlen("lxc.cgroup.");
            if (!c->set_cgroup_item(c, sub, v)) {
                if (pass)
                    return vm_err_set(err, VMERR_INTERNAL, "cannot set %s = %s on container %s", sub, v, uuid);
                json_array_append(again, pair);
            }
        }
        if (!pass)
            json_array_extend(failed, again);
    }
    return 0;
}
