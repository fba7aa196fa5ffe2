/* HVM disks: payload rules, PCI slot assignment and the storage plan for new
 * disks (reference D1–D9, D23–D30; issue "Flexible disks").  Pure planning:
 * nothing here touches storage, so a whole create or update can be checked
 * before anything is written. */
#ifndef VM_DISKS_H
#define VM_DISKS_H

#include <jansson.h>
#include "common/ctx.h"
#include "common/err.h"

/* Volumes are named disk0 .. disk<VM_DISK_INDEX_MAX-1>. */
#define VM_DISK_INDEX_MAX 1000

/* "b:d:f", "d:f" or "d" (bus 0–255, dev 0–31, fn 0–7). */
int vm_pci_parse(const char *s, int *bus, int *dev, int *fn);

/* Validates every pci_slot in `disks` (stored configs) and gives the ones
 * lacking a slot the lowest free function on their device (boot disk
 * first; cdrom device 3, disks device 4). */
int vm_disks_assign_slots(json_t *disks, vm_err *err);

/* Turns payload disk entries into stored disk configs plus storage actions.
 * vm: the VM config so far (uuid, brand, zpool, disk_driver, disks =
 * existing disks).  *plan: array of {"disk": <stored config>, "dataset":
 * name|null, "volsize": bytes, "origin": snapshot|null, "props": {...}}.
 * Indexes and slots avoid the existing disks.  At most VM_MAX_DISKS
 * (validate.h) existing + new disks, checked here too: the planner is
 * bounded whatever its caller validated. */
int vm_disks_plan_add(const vm_ctx *ctx, json_t *vm, json_t *payload_disks, json_t **plan, vm_err *err);

/* Sorts disks by the N of ".../disk<N>" (D1); others keep their order, last. */
void vm_disks_sort(json_t *disks);
/* Dataset name of a stored disk (from zfs_filesystem or its /dev/zvol path). */
const char *vm_disk_dataset(json_t *disk);
/* Index N of ".../disk<N>", or -1. */
int vm_disk_index(json_t *disk);

#endif
