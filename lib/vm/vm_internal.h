/* Shared internals of lib/vm (not for front ends). */
#ifndef VM_INTERNAL_H
#define VM_INTERNAL_H

#include <stdbool.h>
#include <jansson.h>
#include "common/ctx.h"
#include "storage/storage.h"

/* vm.json keys in canonical order (new reference). */
json_t *vm_cfg_canonical(json_t *cfg);
/* Writes <zonepath>/config/{metadata,tags,routes}.json directly. */
int vm_write_meta(const char *zonepath, json_t *meta, vm_err *err);

/* RFD 154 space accounting (space.c). */
int vm_space_check_create(const vm_ctx *ctx, vs_pool *pool, json_t *cfg, json_t *plan, vm_err *err);
/* Recomputes refquota/quota/reservation of <pool>/<uuid> from cfg and the
 * volumes that exist now. */
int vm_space_apply(const vm_ctx *ctx, vs_pool *pool, json_t *cfg, vm_err *err);
/* The quota/reservation RFD 154 gives the VM dataset, for planned volume
 * sizes (bytes). */
int64_t vm_space_reservation(json_t *cfg, int64_t sum_volsize, int64_t sum_refres);

/* indestructible_* as a held @indestructible snapshot (§7.2). */
int vm_set_indestructible(vs_pool *pool, const char *ds, bool on, vm_err *err);
bool vm_is_indestructible(vs_pool *pool, const char *ds);

/* Loads the config of a VM whose lock the caller holds, after recovering a
 * leftover journal. */
int vm_load_locked(const vm_ctx *ctx, const char *uuid, json_t **cfg, vm_err *err);

/* Validates a NIC's addresses and fills both the legacy (ip, netmask,
 * gateway) and array (ips, gateways) forms (V20). */
int vm_nic_normalize(json_t *nic, vm_err *err);
/* A random locally administered unicast MAC (V14). */
void vm_random_mac(char out[18]);
/* A NIC's host-facing rules (V12), at create and update: its nic_tag names
 * a tag of this host (`invalid or missing .nic_tag option for NIC: <JSON>`,
 * `Invalid nic tag "<tag>"`), allowed_ips are IPs or CIDRs (at most 13:
 * `invalid allowed_ips: <list>`, `Maximum of 13 allowed_ips per nic`),
 * allowed_dhcp_cids are hex client ids (at most 20). */
int vm_nic_check(const vm_ctx *ctx, json_t *nic, vm_err *err);
/* The lowest "<prefix><N>" no NIC in nics has as its interface. */
void vm_nic_free_interface(json_t *nics, const char *prefix, char out[16]);
/* "eth" for lx (its guests name links so), else "net". */
const char *vm_nic_interface_prefix(const char *brand);

/* Start/stop of a VM whose lock the caller holds (lifecycle.c); used by
 * delete, reprovision and snapshot rollback inside their own lock. */
int vm_start_locked(const vm_ctx *ctx, const char *uuid, json_t *cfg, vm_err *err);
int vm_stop_locked(const vm_ctx *ctx, const char *uuid, json_t *cfg, int force, int timeout_s, bool keep_autoboot,
                   vm_err *err);

#endif
