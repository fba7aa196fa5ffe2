#include "vm/runtime.h"

#include <string.h>

#include "ct/ct.h"
#include "hv/hv.h"
#include "vm/props.h"

void vm_runtime_state(const vm_ctx *ctx, const char *brand, const char *uuid, vm_runstate *rs)
{
    memset(rs, 0, sizeof *rs);
    if (vm_brand_is_hvm(brand))
        hv_runstate(ctx, uuid, rs);
    else
        ct_runstate(ctx, uuid, rs);
    if (!rs->zone_state[0])
        strcpy(rs->zone_state, rs->running ? "running" : "installed");
}
