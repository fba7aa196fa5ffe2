/* Reaching into a running VM: console, login, info, sysrq.  The VM layer
 * checks state and brand (messages as SmartOS prints them); the VM's
 * runtime does the work, or lacks the operation (runtime.h). */
#include <string.h>

#include "common/util.h"
#include "vm/runtime.h"
#include "vm/store.h"
#include "vm/vm.h"
#include "vm/vmobj.h"

static const char *str_of(json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

int vm_console(const vm_ctx *ctx, const char *uuid, vm_err *err)
{
    cleanup_json json_t *obj = NULL;
    if (vmobj_load(ctx, uuid, &obj, err) < 0)
        return -1;
    const char *state = str_of(obj, "state");
    if (strcmp(state, "running"))
        return vm_err_set(err, VMERR_STATE, "cannot connect to console when state is \"%s\" must be \"running\".",
                          state);
    const vm_runtime *rt = vm_runtime_of(obj);
    if (!rt->console)
        return vm_runtime_unsupported("console", str_of(obj, "brand"), err);
    return rt->console(ctx, uuid, err);
}

int vm_login(const vm_ctx *ctx, const char *uuid, char *const argv[], int *status, vm_err *err)
{
    cleanup_json json_t *obj = NULL;
    if (vmobj_load(ctx, uuid, &obj, err) < 0)
        return -1;
    const vm_runtime *rt = vm_runtime_of(obj);
    if (!rt->login)
        return vm_err_set(err, VMERR_UNSUPPORTED,
                          "login is only supported for container brands; use vmadm console for %s VMs",
                          str_of(obj, "brand"));
    const char *state = str_of(obj, "state");
    if (strcmp(state, "running"))
        return vm_err_set(err, VMERR_STATE, "cannot login when state is \"%s\" must be \"running\".", state);
    return rt->login(ctx, uuid, argv, status, err);
}

int vm_info(const vm_ctx *ctx, const char *uuid, char **types, json_t **out, vm_err *err)
{
    cleanup_json json_t *obj = NULL;
    if (vmobj_load(ctx, uuid, &obj, err) < 0)
        return -1;
    const vm_runtime *rt = vm_runtime_of(obj);
    if (!rt->info)
        return vm_err_set(err, VMERR_UNSUPPORTED, "no info types supported for brand %s", str_of(obj, "brand"));
    const char *state = str_of(obj, "state");
    if (strcmp(state, "running") && strcmp(state, "stopping"))
        return vm_err_set(err, VMERR_STATE,
                          "Unable to get info for vm from state \"%s\", must be \"running\" or \"stopping\".", state);
    return rt->info(ctx, uuid, types, out, err);
}

int vm_sysrq(const vm_ctx *ctx, const char *uuid, const char *type, json_t **out, vm_err *err)
{
    cleanup_json json_t *cfg = NULL;
    if (vm_store_load_config(ctx, uuid, &cfg, err) < 0)
        return -1;
    const vm_runtime *rt = vm_runtime_of(cfg);
    if (!rt->sysrq)
        return vm_runtime_unsupported("sysrq", str_of(cfg, "brand"), err);
    return rt->sysrq(ctx, uuid, type, out, err);
}
