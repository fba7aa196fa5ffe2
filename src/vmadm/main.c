/* vmadm: finds the verb in the table and runs it (see vmadm.h). */
#include <stdio.h>
#include <string.h>

#include "vmadm.h"

static const vmadm_verb verbs[] = {
    { "create", NULL, cmd_create, "f:", 0 },
    { "get", "json", cmd_get, "", 0 },
    { "list", NULL, cmd_list, "pHho:s:", 0 },
    { "lookup", NULL, cmd_lookup, "j1o:", 0 },
    { "update", NULL, cmd_update, "f:", 0 },
    { "delete", "destroy", cmd_delete, "", 0 },
    { "validate", NULL, cmd_validate, "f:", 0 },
    { "start", "boot", cmd_start, "", 0 },
    { "stop", "halt", cmd_stop, "Ft:", 0 },
    { "reboot", NULL, cmd_reboot, "Ft:", 0 }, /* -t: parsed, ignored (C26) */
    { "kill", NULL, cmd_kill, NULL, 0 },
    { "info", NULL, cmd_info, "", 0 },
    { "sysrq", NULL, cmd_sysrq, "", 0 },
    { "console", NULL, cmd_console, "", 0 },
    { "login", NULL, cmd_login, "", VM_OPTS_POSIX },
    { "reprovision", NULL, cmd_reprovision, "f:", 0 },
    { "events", NULL, cmd_events, "fjr", 0 },
    { "create-snapshot", NULL, cmd_snapshot, "", 0 },
    { "delete-snapshot", NULL, cmd_snapshot, "", 0 },
    { "rollback-snapshot", NULL, cmd_snapshot, "", 0 },
    { "disks", NULL, cmd_disks, "Ho:", 0 },
    { "boot-all", NULL, cmd_boot_all, "", 0 },
    { "sysinfo", NULL, cmd_sysinfo, "", 0 },
    { "send", NULL, cmd_send, NULL, 0 },
    { "receive", "recv", cmd_receive, NULL, 0 },
    { "migrate", NULL, cmd_migrate, NULL, 0 },
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
    } else {
        debug_log_start(argc, argv);
        memset(&a, 0, sizeof a);
        a.cmd = cmd;
        a.argc = argc;
        a.argv = argv;
        r = v->spec ? parse_args(argc - 1, argv + 1, v, &a) : 0;
        if (!r)
            r = v->run(&ctx, &a);
    }
    vm_ctx_free(&ctx);
    return r;
}
