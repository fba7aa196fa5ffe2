/* vminfo: command-line client of vminfod (I23–I26).  The command table and
 * the dispatch; the commands live in get.c, status.c and events.c. */
#include <stdio.h>
#include <string.h>

#include "vminfo_cli.h"

static const vminfo_cmd cmds[] = {
    { "ping", vminfo_cmd_ping, "ping               get vminfod ping     (GET /ping)", NULL },
    { "status", vminfo_cmd_status, "status [-jf]       get vminfod status   (GET /status)", NULL },
    { "vms", vminfo_cmd_vms, "vms                get all vms          (GET /vms)", NULL },
    { "vm", vminfo_cmd_vm, "vm <uuid>          get vm info          (GET /vms/:uuid)",
      "vm zonename must be specified" },
    { "events", vminfo_cmd_events, "events [-jfr]      trace vminfod events (GET /events)", NULL },
};

/* SmartOS prints usage (and its message) on stdout, errors or not. */
void vminfo_usage(const char *msg)
{
    if (msg)
        printf("%s\n\n", msg);
    fputs("Usage: vminfo [command] [args]\n\nCommands\n", stdout);
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++)
        printf("  %s\n", cmds[i].usage);
}

int main(int argc, char **argv)
{
    vm_ctx ctx;
    vm_err err = VM_ERR_INIT;
    const vminfo_cmd *c = NULL;

    if (argc > 1 && argv[1][0] == '-') {
        if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help")) {
            vminfo_usage(NULL);
            return 0;
        }
        vminfo_usage(NULL);
        return 1;
    }
    if (argc < 2) {
        vminfo_usage("Command must be specified as the first argument");
        return 1;
    }
    const char *cmd = argv[1];
    if (!strcmp(cmd, "help")) {
        vminfo_usage(NULL);
        return 0;
    }
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0] && !c; i++)
        if (!strcmp(cmd, cmds[i].name))
            c = &cmds[i];
    if (!c) {
        char msg[512];
        snprintf(msg, sizeof msg, "Unknown command: %s", cmd);
        vminfo_usage(msg);
        return 1;
    }
    if (c->needs_arg && argc < 3) {
        vminfo_usage(c->needs_arg);
        return 1;
    }
    if (vm_ctx_init(&ctx, &err) < 0)
        return vminfo_fail(&err);
    int rc = c->run(&ctx, argc - 1, argv + 1);
    vm_ctx_free(&ctx);
    return rc;
}
