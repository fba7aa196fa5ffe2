/* The VM property table: one row per payload property with its type,
 * which brands may set it on create and on update, its range, and whether
 * `vmadm list` can show it.  Everything that validates or coerces payloads
 * reads this table (vmadm(8) PROPERTIES; reference V3, §4.4). */
#ifndef VM_PROPS_H
#define VM_PROPS_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

enum vm_brand {
    BR_BHYVE = 1 << 0,
    BR_KVM = 1 << 1,
    BR_JOYENT = 1 << 2,
    BR_JM = 1 << 3, /* joyent-minimal */
    BR_LX = 1 << 4,
};
#define BR_HVM (BR_BHYVE | BR_KVM)
#define BR_OS (BR_JOYENT | BR_JM | BR_LX)
#define BR_ALL (BR_HVM | BR_OS)

enum vm_ptype {
    PT_STRING,
    PT_INTEGER,
    PT_BOOLEAN,
    PT_UUID,
    PT_LIST, /* comma-separated string or array of strings/numbers */
    PT_FLATOBJ, /* object of string/number/boolean */
    PT_OBJARRAY, /* array of objects (disks, nics, add_*) */
    PT_ARRAY, /* array of strings (remove_*) */
    PT_ZPOOL,
};

typedef struct vm_prop {
    const char *name;
    enum vm_ptype type;
    unsigned create; /* brands allowed on create */
    unsigned update; /* brands allowed on update */
    bool has_min, has_max;
    int64_t min, max;
    const char *const *values; /* allowed string values, NULL-terminated, or NULL */
} vm_prop;

/* Brand name → bit; 0 for unknown. */
unsigned vm_brand_bit(const char *brand);
bool vm_brand_is_hvm(const char *brand);
/* "OS", "LX", "BHYV", "KVM" (list's `type`, C34). */
const char *vm_brand_type(const char *brand);

const vm_prop *vm_prop_find(const vm_prop *table, const char *name);
extern const vm_prop vm_props_top[]; /* top-level payload properties */
extern const vm_prop vm_props_disk[]; /* disks.*.x (create=add, update=update) */
extern const vm_prop vm_props_nic[]; /* nics.*.x */

#endif
