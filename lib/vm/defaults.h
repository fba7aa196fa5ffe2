/* Defaults applied on create (reference V14, V15) — one table in defaults.c —
 * and the memory arithmetic SmartOS does on create and update. */
#ifndef VM_DEFAULTS_H
#define VM_DEFAULTS_H

#include <jansson.h>

#define VM_ZERO_UUID "00000000-0000-0000-0000-000000000000"
#define VM_BHYVE_MEM_OVERHEAD 1280 /* 1024 + 256 MiB */
#define VM_KVM_MEM_OVERHEAD 1024
#define VM_HVM_MIN_MEM_OVERHEAD 256

/* Fills every absent property that has a default for the payload's brand. */
void vm_apply_defaults(json_t *payload, const char *pool);
/* V15: derive max_physical/locked/swap/shm memory (and tmpfs) on create. */
void vm_fix_memory_create(json_t *payload);
/* V16: the same on update, given the current config. */
void vm_fix_memory_update(json_t *payload, json_t *current);

#endif
