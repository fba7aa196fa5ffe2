/* Shared between the lib/hv source files; not part of the module's API.
 * The argv builder's own pieces (argv, PCI allocator, device classes) are
 * in argv_internal.h. */
#ifndef VM_HV_INTERNAL_H
#define VM_HV_INTERNAL_H

#include <stdbool.h>
#include <jansson.h>
#include "hv/hv.h"

#define HV_QEMU_BIN "qemu-system-x86_64"
#define HV_OVMF_CODE "/usr/share/OVMF/OVMF_CODE_4M.fd"
#define HV_OVMF_VARS "/usr/share/OVMF/OVMF_VARS_4M.fd"

/* hv_build_argv plus what hv_start must check or prepare before launching:
 * *fds = the descriptors QEMU inherits (argv_internal.h hv_fdplan: entry
 * i is fd HV_FD_BASE + i), *uefi_vars = the NVRAM path (NULL for BIOS),
 * *vnc = {host, display, auto, password} ({path} for a unix socket) or
 * NULL when VNC is off. */
int hv_build_argv_full(const vm_ctx *ctx, vs_pool *pool, json_t *vmobj, const char *accel, char ***argv, json_t **fds,
                       char **uefi_vars, json_t **vnc, vm_err *err);

/* With "nocloud": true, writes the VM's NoCloud seed (lib/mdata/nocloud.h)
 * to rundir/cidata.iso (root 0600, tmp + rename), fresh at every start;
 * without it, removes a seed left by an earlier start. */
int hv_nocloud_prepare(const char *rundir, json_t *vmobj, vm_err *err);

/* hv_start; with incoming, QEMU waits for a migration ("-incoming
 * defer") and the call returns once it says "inmigrate". */
int hv_start_vm(const vm_ctx *ctx, vs_pool *pool, json_t *vmobj, bool incoming, vm_err *err);

/* Host MemTotal in MiB (0 if unknown). */
long hv_host_mem_mib(void);

#endif
