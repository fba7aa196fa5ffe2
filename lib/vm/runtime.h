/* Runtime dispatch: which runtime (QEMU for HVM brands, LXC for the
 * others) answers for a VM, and the state fields derived from it (O1–O4). */
#ifndef VM_RUNTIME_H
#define VM_RUNTIME_H

#include <jansson.h>
#include "common/ctx.h"
#include "common/runstate.h"

/* Fills rs from the VM's runtime (cheap, no fork). */
void vm_runtime_state(const vm_ctx *ctx, const char *brand, const char *uuid, vm_runstate *rs);

#endif
