/* Process plumbing shared by the QEMU (lib/hv) and LXC (lib/ct) runtimes:
 * pidfds, and reading/writing the runtime directory run/vms/<uuid>/ whose
 * contract common/runstate.h describes.  What makes a pid "ours" (QEMU's
 * /proc cmdline, the container init's start time) stays in each runtime.
 *
 * Nothing here takes a lock: callers decide who may write a file when.
 * Every write is tmp file + rename(), so readers see the old or the new
 * text, never a torn one. */
#ifndef VM_PROC_H
#define VM_PROC_H

#include <stdbool.h>
#include <sys/types.h>

#include "common/err.h"
#include "common/runstate.h"

/* ---- pidfds (Linux pidfd_open/pidfd_send_signal) ---- */

/* A pidfd for pid, or -1 with errno. */
int vm_pidfd_open(pid_t pid);
/* 0, or -1 with errno (ESRCH: the process is gone). */
int vm_pidfd_signal(int pidfd, int sig);
/* 1 = the process has exited, 0 = still alive after timeout_ms (0: just
 * look), -1 = poll error.  EINTR resumes with the time left. */
int vm_pidfd_wait(int pidfd, int timeout_ms);
/* Sleeps ms milliseconds, resuming after signals. */
void vm_sleep_ms(int ms);

/* ---- small runtime files ---- */

/* How a runtime file is written.  VM_RUN_FAST: no fsync (QEMU's files:
 * they describe live processes and mean nothing after a host crash, and
 * start latency matters).  VM_RUN_SYNCED: fsync of the file and its
 * directory (write_file_atomic; the container runtime's files, and
 * lastexited of both, which outlives the process it describes). */
typedef enum { VM_RUN_FAST, VM_RUN_SYNCED } vm_run_sync;

/* The whole file with trailing '\n' and ' ' stripped (caller frees), NULL
 * if it cannot be read. */
char *vm_run_read(const char *path);
/* Writes text to path atomically (tmp + rename), see vm_run_sync.  The
 * message is "cannot write <path>" (VM_RUN_FAST) or write_file_atomic's. */
int vm_run_write(const char *path, const char *text, mode_t mode, vm_run_sync sync, vm_err *err);
/* A pid file's text: decimal, > 1 and within Linux's pid range; false for
 * NULL or anything else. */
bool vm_parse_pid(const char *s, pid_t *pid);
/* vm_parse_pid of the file at path; 0 if absent or not a pid. */
pid_t vm_run_read_pid(const char *path);

/* ---- the runstate.h contract ---- */

/* Zeroed, zone_state "installed": what a VM with no live process reports. */
void vm_runstate_reset(vm_runstate *rs);
/* For a process the runtime has identified as the VM's: running, pid,
 * boot_ms from <rundir>/boot (0 if absent or not a number) and zone_state
 * "shutting_down" while <rundir>/state says "shutting_down [<pid>]" and
 * that stopper still exists (a stop killed midway leaves a stale file:
 * then "running"). */
void vm_runstate_read_live(const char *rundir, pid_t pid, vm_runstate *rs);
/* has_exit, exit_status, exit_ms from <rundir>/lastexited
 * ("<epoch-secs> <status>"); untouched if absent or malformed. */
void vm_runstate_read_exit(const char *rundir, vm_runstate *rs);
/* <rundir>/state = "shutting_down <our pid>", written by a stop before it
 * acts; the stop removes it when done. */
int vm_runstate_write_stopping(const char *rundir, vm_run_sync sync, vm_err *err);
/* <rundir>/lastexited = "<now, epoch secs> <status>" (VM_RUN_SYNCED),
 * written by the supervisor once the process has ended.  status: exit
 * code, or -signal. */
int vm_runstate_write_exit(const char *rundir, int status, vm_err *err);

#endif
