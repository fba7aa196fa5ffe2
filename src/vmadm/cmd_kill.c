/* vmadm kill [-s SIGNAL|-SIGNAL] <uuid>. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <signal.h>
#include <strings.h>
#include "vm/vm.h"
#include "vmadm.h"

static int parse_signal(const char *s)
{
    static const struct {
        const char *n;
        int v;
    } sigs[] = { { "HUP", SIGHUP },   { "INT", SIGINT },   { "QUIT", SIGQUIT }, { "KILL", SIGKILL },
                 { "USR1", SIGUSR1 }, { "USR2", SIGUSR2 }, { "TERM", SIGTERM }, { "STOP", SIGSTOP },
                 { "CONT", SIGCONT }, { "PWR", SIGPWR },   { NULL, 0 } };
    if (str_has_prefix(s, "SIG"))
        s += 3;
    for (size_t i = 0; sigs[i].n; i++)
        if (!strcasecmp(sigs[i].n, s))
            return sigs[i].v;
    int64_t n;
    return parse_i64(s, &n) && n > 0 && n < 65 ? (int)n : -1;
}

int cmd_kill(const vm_ctx *ctx, args *a)
{
    int argc = a->argc;
    char **argv = a->argv;
    const char *sig = "SIGTERM";
    const char *uuid = NULL;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "-s") && i + 1 < argc)
            sig = argv[++i];
        else if (argv[i][0] == '-' && argv[i][1])
            sig = argv[i] + 1;
        else if (!uuid)
            uuid = argv[i];
        else
            return usage("Too many arguments.");
    }
    if (!uuid || !uuid_shape(uuid))
        return usage("Invalid or missing argument UUID");
    int s = parse_signal(sig);
    if (s < 0)
        return usage("Invalid signal");
    vm_err e = VM_ERR_INIT;
    if (vm_kill(ctx, uuid, s, &e) < 0)
        return fail(&e);
    fprintf(stderr, "Sent signal \"%s\" to init process for VM %s\n", sig, uuid);
    return 0;
}
