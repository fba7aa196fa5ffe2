/* vmadm: finds the verb in the table and runs it (see vmadm.h). */
#include <stdio.h>
#include <string.h>

#include "vmadm.h"

#define VALOPTS "fost"

static const vmadm_verb verbs[] = {
    { "create", NULL, cmd_create, VALOPTS },
    { "get", "json", cmd_get, VALOPTS },
    { "list", NULL, cmd_list, VALOPTS },
    { "lookup", NULL, cmd_lookup, VALOPTS },
    { "update", NULL, cmd_update, VALOPTS },
    { "delete", "destroy", cmd_delete, VALOPTS },
    { "validate", NULL, cmd_validate, VALOPTS },
    { "start", "boot", cmd_start, VALOPTS },
    { "stop", "halt", cmd_stop, VALOPTS },
    { "reboot", NULL, cmd_reboot, VALOPTS },
    { "kill", NULL, cmd_kill, NULL },
    { "info", NULL, cmd_info, VALOPTS },
    { "sysrq", NULL, cmd_sysrq, VALOPTS },
    { "console", NULL, cmd_console, VALOPTS },
    { "login", NULL, cmd_login, NULL },
    { "reprovision", NULL, cmd_reprovision, VALOPTS },
    { "events", NULL, cmd_events, "" },
    { "create-snapshot", NULL, cmd_snapshot, VALOPTS },
    { "delete-snapshot", NULL, cmd_snapshot, VALOPTS },
    { "rollback-snapshot", NULL, cmd_snapshot, VALOPTS },
    { "disks", NULL, cmd_disks, VALOPTS },
    { "boot-all", NULL, cmd_boot_all, VALOPTS },
};

static const vmadm_verb *find_verb(const char *name)
{
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        if (!strcmp(verbs[i].name, name) || (verbs[i].alias && !strcmp(verbs[i].alias, name)))
            return &verbs[i];
    return NULL;
}

int main(int argc, char **argv)
{
    vm_ctx ctx;
    vm_err e = VM_ERR_INIT;
    args a;

    if (argc < 2)
        return usage(NULL);
    const char *cmd = argv[1];
    if (!strcmp(cmd, "help") || !strcmp(cmd, "-h") || !strcmp(cmd, "-?") || !strcmp(cmd, "--help")) {
        usage_text(stdout);
        return 0;
    }
    if (vm_ctx_init(&ctx, &e) < 0)
        return fail(&e);
    const vmadm_verb *v = find_verb(cmd);
    int r;
    if (!v) {
        char m[256];
        snprintf(m, sizeof m, "Invalid command: \"%s\".", cmd);
        r = usage(m);
    } else if (v->valopts && parse_args(argc, argv, 2, v->valopts, "pHhj1FrfvdF", &a) < 0) {
        r = usage("Option requires an argument");
    } else {
        if (!v->valopts)
            memset(&a, 0, sizeof a);
        a.cmd = cmd;
        a.argc = argc;
        a.argv = argv;
        r = v->run(&ctx, &a);
    }
    vm_ctx_free(&ctx);
    return r;
}
