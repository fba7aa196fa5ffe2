/* Process plumbing shared by lib/hv's source files (not part of the API). */
#ifndef VM_HV_PROC_H
#define VM_HV_PROC_H

#include <stdbool.h>
#include <sys/types.h>

#include "common/ctx.h"

#define HV_SUPERVISOR_COMM "vmadm-hvsup"

int hv_pidfd_open(pid_t pid);
int hv_pidfd_signal(int pidfd, int sig);
/* 1 = the process has exited, 0 = still alive after timeout_ms, -1 error. */
int hv_pidfd_wait(int pidfd, int timeout_ms);

/* tmp + rename, no fsync (see proc.c); -1 with errno on failure. */
int hv_write_run_file(const char *path, const char *text, mode_t mode);
char *hv_run_path(const vm_ctx *ctx, const char *uuid, const char *name);
/* Whole small file with trailing newlines stripped, NULL if unreadable. */
char *hv_read_small(const char *path);
pid_t hv_read_pid(const char *path);
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
