/* Driver for tests/e2e/net-vm.bats: calls a runtime hook the way lib/vm
 * does, so the hook is tested for real before (and besides) the vmadm
 * command that calls it.
 *
 *   netrttool net-update VM.json   the VM's runtime net_update hook with
 *                                  that VM object (VMADM_ROOT from the env) */
#include <stdio.h>
#include <string.h>

#include "common/ctx.h"
#include "common/util.h"
#include "vm/runtime.h"

int main(int argc, char **argv)
{
    if (argc != 3 || strcmp(argv[1], "net-update")) {
        fprintf(stderr, "usage: netrttool net-update VM.json\n");
        return 2;
    }
    vm_ctx ctx;
    vm_err err = VM_ERR_INIT;
    cleanup_json json_t *vm = NULL;
    if (vm_ctx_init(&ctx, &err) < 0 || read_json_file(argv[2], &vm, &err) < 0) {
        fprintf(stderr, "netrttool: %s\n", err.msg);
        return 1;
    }
    const vm_runtime *rt = vm_runtime_of(vm);
    int rc = rt->net_update ? rt->net_update(&ctx, vm, &err) : vm_runtime_unsupported("net_update", rt->name, &err);
    if (rc < 0)
        fprintf(stderr, "netrttool: %s\n", err.msg);
    vm_ctx_free(&ctx);
    return rc < 0 ? 1 : 0;
}
