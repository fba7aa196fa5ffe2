/* vmadm's front end: one file per verb (cmd_<verb>.c) that parses its
 * arguments, calls lib/vm and prints; the rules (state, brand, messages of
 * the VM layer) live in lib/vm.  main.c finds the verb in the table
 * below.  Output follows vmadm(8): data on stdout, messages on stderr,
 * exit 0 (also for SmartOS's "already" no-ops), 1 failure, 2 usage. */
#ifndef VMADM_FRONT_H
#define VMADM_FRONT_H

#include <stdbool.h>
#include <stdio.h>
#include <jansson.h>

#include "common/ctx.h"
#include "common/opts.h"
#include "common/util.h"
#include "vm/sync.h"

/* A verb's options and positionals (common/opts.h: bundles, `--`, options
 * before or after positionals as SmartOS allows, C8). */
typedef struct args {
    char **pos; /* positionals, in order */
    int npos;
    const char *f; /* -f <file> (create, update, reprovision, validate) */
    const char *o; /* -o */
    const char *s; /* -s */
    const char *t; /* -t */
    bool p, H, h, j, one, F, r, full; /* full: events -f */
    const char *cmd; /* the verb as typed (aliases included) */
    /* The whole command line, for a verb that parses it itself (spec NULL). */
    int argc;
    char **argv;
} args;

typedef int (*vmadm_verb_fn)(const vm_ctx *ctx, args *a);

typedef struct vmadm_verb {
    const char *name;
    const char *alias; /* SmartOS's other name, or NULL */
    vmadm_verb_fn run;
    /* Its options, getopt letters ("pHho:s:"; -v/-d are added); NULL:
     * the verb parses argv itself. */
    const char *spec;
    int flags; /* VM_OPTS_POSIX: options only before the first positional */
} vmadm_verb;

/* ---- common.c ---- */
void usage_text(FILE *f);
int usage(const char *msg); /* message + usage on stderr; 2 */
int fail(const vm_err *e); /* message on stderr; 1 (2 for usage errors) */
/* The verb's options into a (argv[0] is the verb); 0, or usage's exit
 * code after naming the bad option. */
int parse_args(int argc, char **argv, const vmadm_verb *v, args *a);
/* Reads and parses a payload (C10, C11); 0, or the exit code after saying why. */
int read_payload(const char *file, const char *tty_msg, json_t **out);
int need_uuid(args *a, const char *cmd); /* 0, or usage's exit code */
void print_json(json_t *j);
/* A bunyan record of the command on stderr when VMADM_DEBUG_LEVEL is
 * debug or trace (node-vmadm sets it). */
void debug_log_start(int argc, char **argv);
vm_sync *sync_open(const vm_ctx *ctx, const char *what, const char *uuid);
int sync_after(vm_sync *s, const char *uuid);
/* The tail every mutating command shares: on failure the message (after
 * "<fail_prefix> <uuid>: ") and exit 1 — 0 for SmartOS's "already" no-ops;
 * on success wait until vminfod shows the change, then "<ok_msg> <uuid>". */
int write_done(vm_sync *s, const char *uuid, int r, const vm_err *e, const char *fail_prefix, const char *ok_msg);

/* ---- verbs (cmd_<verb>.c) ---- */
int cmd_create(const vm_ctx *ctx, args *a);
int cmd_get(const vm_ctx *ctx, args *a);
int cmd_list(const vm_ctx *ctx, args *a);
int cmd_lookup(const vm_ctx *ctx, args *a);
int cmd_update(const vm_ctx *ctx, args *a);
int cmd_delete(const vm_ctx *ctx, args *a);
int cmd_validate(const vm_ctx *ctx, args *a);
int cmd_start(const vm_ctx *ctx, args *a);
int cmd_stop(const vm_ctx *ctx, args *a);
int cmd_reboot(const vm_ctx *ctx, args *a);
int cmd_kill(const vm_ctx *ctx, args *a);
int cmd_info(const vm_ctx *ctx, args *a);
int cmd_sysrq(const vm_ctx *ctx, args *a);
int cmd_send(const vm_ctx *ctx, args *a);
int cmd_receive(const vm_ctx *ctx, args *a);
int cmd_migrate(const vm_ctx *ctx, args *a);
int cmd_console(const vm_ctx *ctx, args *a);
int cmd_login(const vm_ctx *ctx, args *a);
int cmd_reprovision(const vm_ctx *ctx, args *a);
int cmd_events(const vm_ctx *ctx, args *a);
int cmd_disks(const vm_ctx *ctx, args *a);
int cmd_snapshot(const vm_ctx *ctx, args *a);
int cmd_boot_all(const vm_ctx *ctx, args *a);
int cmd_sysinfo(const vm_ctx *ctx, args *a);

#endif
