/* Which runtime answers for a brand, and the derived state fields. */
#include "vm/runtime.h"

#include <string.h>

#include "vm/props.h"

static const vm_runtime *override;

void vm_runtime_override(const vm_runtime *rt)
{
    override = rt;
}

const vm_runtime *vm_runtime_for(const char *brand)
{
    if (override)
        return override;
    /* The one place a brand picks its runtime. */
    return vm_brand_is_hvm(brand) ? &vm_runtime_qemu : &vm_runtime_lxc;
}

const vm_runtime *vm_runtime_of(json_t *cfg)
{
    return vm_runtime_for(json_string_value(json_object_get(cfg, "brand")));
}

int vm_runtime_unsupported(const char *what, const char *brand, vm_err *err)
{
    return vm_err_set(err, VMERR_UNSUPPORTED, "%s is not supported for brand %s", what, brand ? brand : "(none)");
}

void vm_runtime_state(const vm_ctx *ctx, const char *brand, const char *uuid, vm_runstate *rs)
{
    memset(rs, 0, sizeof *rs);
    vm_runtime_for(brand)->state(ctx, uuid, rs);
    if (!rs->zone_state[0])
        strcpy(rs->zone_state, rs->running ? "running" : "installed");
}

void vm_runtime_forget_all(const vm_ctx *ctx, const char *uuid)
{
    const vm_runtime *all[] = { &vm_runtime_qemu, &vm_runtime_lxc };
    const vm_runtime *one[] = { override };
    const vm_runtime *const *v = override ? one : all;
    size_t n = override ? 1 : 2;
    for (size_t i = 0; i < n; i++) {
        vm_err e = VM_ERR_INIT;
        if (v[i]->forget && v[i]->forget(ctx, uuid, &e) < 0)
            vm_log(ctx, "warn", "VM %s: %s", uuid, e.msg);
    }
}
