/* Running external programs, and a recording test hook.
 *
 * Promise: every external program lib/ runs to completion goes through
 * run_cmd()/run_cmd_input() (qemu-img, cp, ...), so a test can see and fake
 * them all with cmd_set_dry_run().  Processes that are not "run a command
 * and collect its output" fork by themselves: QEMU (lib/hv/start.c: it
 * outlives vmadm under a supervisor process; lib/hv/accel.c: the KVM probe
 * talks QMP to the running QEMU), and the supervisors and monitors of
 * lib/ct and lib/vm (which run vmadm's own code, or liblxc, not programs).
 *
 * run_cmd* messages: "<prog> failed (exit N): <stderr>" (a program that
 * cannot be executed exits 127 with stderr "cannot run <prog>: <reason>"),
 * "<prog> killed by signal N"; "pipe: ..."/"fork: ..." when it never ran. */
#ifndef VM_CMD_H
#define VM_CMD_H

#include <stdbool.h>
#include <stddef.h>

#include "common/err.h"

/* Runs argv[0] (PATH search) with stdin from /dev/null.  Captures stdout in
 * *out (may be NULL; caller frees) and stderr into the error message on
 * failure.  Returns the exit status (0 ok) or -1 if it could not run / was
 * killed. */
int run_cmd(char *const argv[], char **out, vm_err *err);
/* Same, with a pipe feeding `in` (len bytes) to stdin. */
int run_cmd_input(char *const argv[], const char *in, size_t len, char **out, vm_err *err);

/* ---- dry run (tests only; libvirt's virCommandSetDryRun) ----
 * While a dry run is on, every run_cmd* call is recorded (argv and stdin)
 * and, instead of executing, asks `fn` what happened.  The reply starts as
 * "exit 0, no output"; `fn` may fill in stdout/stderr (malloc'd, taken
 * over), an exit status or a signal, perform the command's side effects
 * itself (e.g. create the output file), or set pass_through to have the
 * real command run (record and pass through).  fn NULL: every command
 * succeeds with no output.  Process-global, not thread-safe. */
typedef struct cmd_reply {
    int status; /* exit status */
    int signal; /* non-zero: "killed by" this signal (status ignored) */
    char *out; /* stdout, or NULL for none */
    char *errtext; /* stderr, or NULL for none */
    bool pass_through; /* run the real command; the fields above are ignored */
} cmd_reply;
typedef void (*cmd_dry_run_fn)(char *const argv[], const char *in, size_t len, cmd_reply *reply, void *opaque);

/* Starts a dry run with an empty record (ending any previous one). */
void cmd_set_dry_run(cmd_dry_run_fn fn, void *opaque);
/* Ends the dry run and drops the record: commands execute again. */
void cmd_dry_run_end(void);
/* The commands recorded so far, one per line, each argument shell-quoted
 * (plain words as is, else '...' or $'...' for control characters); a
 * command given stdin ends with " <<< " and the quoted input.  Caller
 * frees; "" when nothing was recorded. */
char *cmd_recorded_text(void);
/* One argument quoted as cmd_recorded_text() does.  Caller frees. */
char *cmd_shell_quote(const char *s, size_t len);

#endif
