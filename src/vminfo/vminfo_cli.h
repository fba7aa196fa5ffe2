/* vminfo's command table and the helpers its commands share.  A command
 * gets its own argv (argv[0] is its name), prints its output and returns
 * the exit status: 0, or 1 with the error message on stderr (or the usage
 * text, which SmartOS prints on stdout, for bad flags). */
#ifndef VMINFO_CLI_H
#define VMINFO_CLI_H

#include <jansson.h>

#include "common/ctx.h"
#include "common/err.h"

typedef struct vminfo_cmd {
    const char *name;
    int (*run)(const vm_ctx *ctx, int argc, char **argv);
    const char *usage; /* its line in the usage text, after "  " */
    const char *needs_arg; /* usage message when its argument is missing, or NULL */
} vminfo_cmd;

int vminfo_cmd_ping(const vm_ctx *ctx, int argc, char **argv); /* get.c */
int vminfo_cmd_vms(const vm_ctx *ctx, int argc, char **argv); /* get.c */
int vminfo_cmd_vm(const vm_ctx *ctx, int argc, char **argv); /* get.c */
int vminfo_cmd_status(const vm_ctx *ctx, int argc, char **argv); /* status.c */
int vminfo_cmd_events(const vm_ctx *ctx, int argc, char **argv); /* events.c */

/* msg (if any) and a blank line, then the usage text, on stdout. */
void vminfo_usage(const char *msg);
/* Parses the command's own flags from `letters` (flags[i] set for
 * letters[i]); returns -1 on an unknown one. */
int vminfo_parse_flags(int argc, char **argv, const char *letters, int *flags);
/* The message on stderr; returns 1. */
int vminfo_fail(const vm_err *err);
/* j pretty-printed on stdout; returns 0. */
int vminfo_print_pretty(json_t *j);
/* String member k of o, or dflt. */
const char *vminfo_jstr(json_t *o, const char *k, const char *dflt);

#endif
