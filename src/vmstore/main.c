/* vmstore's entry point: finds the verb in the table, opens the pool and
 * runs the verb's handler (vmstore.h). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "vmstore.h"

const vmstore_cmd vmstore_cmds[] = {
    { "list", cmd_list, "list [-rHp] [-t type[,...]] [-o property[,...]] [-s property]... [-S property]... [name]..." },
    { "get", cmd_get, "get [-rHp] [-o \"all\" | field[,...]] [-t type[,...]] <\"all\" | property[,...]> name..." },
    { "set", cmd_set, "set <property=value> ... <name>..." },
    { "create", cmd_create, "create [-ps] [-o property=value]... [-V size] <name>" },
    { "snapshot", cmd_snapshot, "snapshot [-r] [-o property=value]... <dataset@snapname>..." },
    { "snap", cmd_snapshot, NULL },
    { "destroy", cmd_destroy, "destroy [-r] <name>" },
    { "rollback", cmd_rollback, "rollback [-r] <snapshot>" },
    { "clone", cmd_clone, "clone [-p] [-o property=value]... <snapshot> <name>" },
    { "rename", cmd_rename, "rename <name> <newname>" },
    { "swap", cmd_swap, "swap <name> <name>" },
    { "hold", cmd_hold, "hold <tag> <snapshot>..." },
    { "release", cmd_release, "release <tag> <snapshot>..." },
    { "holds", cmd_holds, "holds [-H] [-p] <snapshot>..." },
    { "resize", cmd_resize, "resize [--shrink] <volume> <size>" },
    { "import", cmd_import, "import [-V size] [-f format] [-o property=value]... <file> <volume>" },
    { "changed", cmd_changed, "changed <snapshot> [<snapshot>]" },
    { "send", cmd_send, "send [-nPv] [-i snapshot] <snapshot>\n\tsend -t <receive_resume_token>" },
    { "receive", cmd_receive, "receive [-s] <filesystem|volume>\n\treceive -A <filesystem|volume>" },
    { "recv", cmd_receive, NULL },
    { "space", cmd_space, "space [-p]" },
    { "gc", cmd_gc, "gc" },
    { NULL, NULL, NULL },
};

int main(int argc, char **argv)
{
    vm_ctx ctx;
    vm_err err = VM_ERR_INIT;
    cleanup_vs_pool vs_pool *pool = NULL;
    const vmstore_cmd *cmd;
    int rc;

    if (argc < 2)
        return usage("missing command");
    if (!strcmp(argv[1], "-?") || !strcmp(argv[1], "help") || !strcmp(argv[1], "--help")) {
        print_usage(stdout);
        return 0;
    }
    for (cmd = vmstore_cmds; cmd->name && strcmp(cmd->name, argv[1]); cmd++)
        ;
    if (!cmd->name)
        return usage("unrecognized command '%s'", argv[1]);
    if (vm_ctx_init(&ctx, &err) < 0)
        return fail(&err);
    if (vs_pool_open(&ctx, NULL, &pool, &err) < 0) {
        rc = fail(&err);
        vm_ctx_free(&ctx);
        return rc;
    }
    rc = cmd->fn(pool, argc - 1, argv + 1);
    vs_pool_close(pool);
    pool = NULL;
    vm_ctx_free(&ctx);
    return rc;
}
