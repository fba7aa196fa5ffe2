/* QEMU confinement (internal to lib/hv; hv_check_disk_path is also in
 * hv.h for lib/vm).  The protection is described in confine.c. */
#ifndef VM_HV_CONFINE_H
#define VM_HV_CONFINE_H

#include <stdbool.h>
#include <sys/types.h>
#include <jansson.h>

#include "common/ctx.h"
#include "common/err.h"
#include "storage/storage.h"

#define HV_QEMU_USER "vmadm-qemu"
/* Deepest qcow2 backing chain vmadm opens for QEMU. */
#define HV_MAX_LAYERS 64

typedef struct hv_ids {
    uid_t uid;
    gid_t gid;
    gid_t kvm_gid;
    bool has_kvm;
} hv_ids;

/* The QEMU user's ids; creates the system user on first use. */
int hv_qemu_ids(hv_ids *out, vm_err *err);
/* In a forked child, before exec: become the QEMU user (supplementary group
 * kvm if any), no_new_privs, no ambient capabilities.  Returns -errno. */
int hv_drop_privileges(const hv_ids *ids);

/* Opens a disk/cdrom `path` with `flags` after checking the opened file
 * against the path rule (confine.c).  Returns the fd or -1. */
int hv_open_disk_path(const vm_ctx *ctx, vs_pool *pool, const char *uuid, const char *path, int flags, vm_err *err);
/* Appends the backing layers of qcow2 file `top` (not top itself), top
 * first, to `layers`.  A missing or non-qcow2 top has no layers. */
int hv_qcow2_chain(const char *top, json_t *layers, vm_err *err);
/* Opens a backing layer read-only: it must be a qcow2 regular file inside
 * volume_dir (pool volumes) or, volume_dir NULL, allowed by the list. */
int hv_open_layer(const vm_ctx *ctx, const char *layer, const char *volume_dir, vm_err *err);

#endif
