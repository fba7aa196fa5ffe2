/* NIC plumbing both real runtimes share (lib/net behind the runtime
 * table).  The runtimes also remove everything of a VM on the host
 * (net_vm_teardown) once it stopped and at delete (forget); like the
 * update, that is idempotent, so the next stop/start/delete repairs what
 * a kill -9 interrupted. */
#ifndef VM_RUNTIME_NET_H
#define VM_RUNTIME_NET_H

#include <stdbool.h>
#include <jansson.h>
#include "common/ctx.h"
#include "common/err.h"
#include "common/runstate.h"

/* The runtime hook net_update: when the VM runs (`running`), its NICs'
 * protection becomes what vmobj says, in one nft transaction; a stopped VM
 * gets it at its next start. */
int vm_net_update(const vm_ctx *ctx, json_t *vmobj, bool running, vm_err *err);

#endif
