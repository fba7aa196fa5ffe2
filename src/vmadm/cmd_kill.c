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

/* -s SIGNAL, -SIGNAL (-KILL, -9) or a bundle ending in -s (-sKILL). */
int cmd_kill(const vm_ctx *ctx, args *a)
{
    const char *sig = "SIGTERM";
    vm_opts o;
    int c;
    vm_opts_init(&o, a->argc - 1, a->argv + 1, "s:vd", NULL, 0);
    while ((c = vm_opts_next(&o)) != -1) {
        if (c == 's')
            sig = o.arg;
        else if (c == '?' && o.word_start && o.word[1] != '-') {
            sig = o.word + 1;
            vm_opts_skip_word(&o);
        } else if (c != 'v' && c != 'd') {
            char m[160];
            vm_opts_error(&o, c, m, sizeof m);
            return usage(m);
        }
    }
    if (o.npos > 1)
        return usage("Too many arguments.");
    const char *uuid = o.npos ? o.pos[0] : NULL;
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
