/* The parts of vmadm update (update.c drives them).  Each planner reads the
 * payload and the current VM, edits the new config in place and records
 * what storage must do; nothing on disk changes until update.c commits the
 * plan through one journaled transaction (store.h). */
#ifndef VM_UPDATE_INTERNAL_H
#define VM_UPDATE_INTERNAL_H

#include <stdbool.h>
#include <jansson.h>
#include "common/ctx.h"
#include "common/err.h"
#include "storage/storage.h"

/* add_nics / update_nics (matched by mac) / remove_nics (list of macs). */
int vm_update_plan_nics(const vm_ctx *ctx, json_t *payload, json_t *cfg, vm_err *err);

/* What a change of NICs means for a running VM: NIC_CHANGE_LIVE when a
 * NIC's protection changed (ips, allow_*, allowed_ips, allowed_dhcp_cids:
 * the runtime's net_update applies it at once), NIC_CHANGE_RESTART when
 * links change (NICs added or removed, nic_tag, mtu, model, vlan_id, …:
 * the next start).  *what lists the restart-only keys ("nic_tag, mtu");
 * caller frees. */
enum { NIC_CHANGE_LIVE = 1, NIC_CHANGE_RESTART = 2 };
unsigned vm_nics_change(json_t *old_nics, json_t *new_nics, char **what);

typedef struct disk_change {
    json_t *ops; /* pre-commit storage ops, in order (store.h op format) */
    json_t *undo; /* inverse ops, applied in reverse on failure */
    json_t *post; /* post-commit ops (destroy removed volumes) */
    json_t *online; /* [{id, bytes, name}] grows of a running VM's disks */
    bool touched; /* sizes changed: recompute space */
} disk_change;

void vm_disk_change_init(disk_change *dc);
void vm_disk_change_free(disk_change *dc);

/* add_disks / update_disks / remove_disks against obj (the VM as it is). */
int vm_update_plan_disks(const vm_ctx *ctx, json_t *payload, json_t *cfg, json_t *obj, disk_change *dc, vm_err *err);
/* The planned disks and the snapshots fit flexible_disk_size. */
int vm_update_check_flexible(json_t *cfg, json_t *obj, const disk_change *dc, vm_err *err);

#endif
