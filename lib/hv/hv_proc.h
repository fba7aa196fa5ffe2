/* Process plumbing shared by lib/hv's source files (not part of the API);
 * pidfds and the runtime files both runtimes use are in common/proc.h. */
#ifndef VM_HV_PROC_H
#define VM_HV_PROC_H

#include <stdbool.h>
#include <sys/types.h>

#include "common/ctx.h"

#define HV_SUPERVISOR_COMM "vmadm-hvsup"

char *hv_run_path(const vm_ctx *ctx, const char *uuid, const char *name);
/* /proc/<pid>/cmdline is a qemu-system-* whose arguments include uuid. */
bool hv_pid_is_qemu_of(pid_t pid, const char *uuid);
bool hv_pid_is_supervisor(pid_t pid);
/* A pidfd for the VM's live QEMU, or -1 if it is not running. */
int hv_open_qemu(const vm_ctx *ctx, const char *uuid, pid_t *pid);
/* A pidfd for the VM's supervisor, or -1. */
int hv_open_supervisor(const vm_ctx *ctx, const char *uuid);
/* Removes pid, sockets, state, supervisor.  With only_if_pid, nothing is
 * removed unless the pid file still names that process. */
void hv_remove_run_files(const char *rundir, pid_t only_if_pid);
/* Last `lines` lines of a text file ("" if absent). */
char *hv_log_tail(const char *path, int lines);

#endif
