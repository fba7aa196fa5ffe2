#include "vm/defaults.h"

#include <string.h>

#include "vm/props.h"

enum dkind { D_INT, D_STR, D_BOOL, D_EMPTY_ARRAY };

/* Every create-time default, by brand (SmartOS applyZoneDefaults). */
static const struct vm_default {
    const char *name;
    unsigned brands;
    enum dkind kind;
    long long i;
    const char *s;
} defaults[] = {
    { "autoboot", BR_ALL, D_BOOL, 1, NULL },
    { "owner_uuid", BR_ALL, D_STR, 0, VM_ZERO_UUID },
    { "billing_id", BR_ALL, D_STR, 0, VM_ZERO_UUID },
    { "dns_domain", BR_OS, D_STR, 0, "local" },
    { "cpu_shares", BR_ALL, D_INT, 100, NULL },
    { "zfs_io_priority", BR_ALL, D_INT, 100, NULL },
    { "max_lwps", BR_ALL, D_INT, 2000, NULL },
    { "max_msg_ids", BR_ALL, D_INT, 4096, NULL },
    { "max_sem_ids", BR_ALL, D_INT, 4096, NULL },
    { "max_shm_ids", BR_ALL, D_INT, 4096, NULL },
    { "ram", BR_HVM, D_INT, 256, NULL },
    { "vcpus", BR_HVM, D_INT, 1, NULL },
    { "quota", BR_HVM, D_INT, 1, NULL },
    { "quota", BR_OS, D_INT, 10, NULL },
    { "limit_priv", BR_OS, D_STR, 0, "default" },
    { "limit_priv", BR_HVM, D_STR, 0, "default,-file_link_any,-net_access,-proc_fork,-proc_info,-proc_session" },
    { "firewall_enabled", BR_ALL, D_BOOL, 0, NULL },
    { "resolvers", BR_ALL, D_EMPTY_ARRAY, 0, NULL },
    { "mdata_exec_timeout", BR_JOYENT | BR_JM, D_INT, 300, NULL },
    { "com1", BR_BHYVE, D_STR, 0, "/dev/zconsole" },
    { "com2", BR_BHYVE, D_STR, 0, "socket,/tmp/vm.ttyb" },
    { "zlog_mode", BR_BHYVE, D_STR, 0, "g--" },
    { "zlog_name", BR_BHYVE, D_STR, 0, "platform.log" },
    { "zfs_root_recsize", BR_ALL, D_INT, 131072, NULL },
    { NULL, 0, 0, 0, NULL },
};

void vm_apply_defaults(json_t *payload, const char *pool)
{
    const char *brand;
    unsigned b;

    if (!json_object_get(payload, "brand"))
        json_object_set_new(payload, "brand", json_string("joyent"));
    brand = json_string_value(json_object_get(payload, "brand"));
    b = vm_brand_bit(brand);
    if (!json_object_get(payload, "zpool"))
        json_object_set_new(payload, "zpool", json_string(pool));
    for (const struct vm_default *d = defaults; d->name; d++) {
        if (!(d->brands & b) || json_object_get(payload, d->name))
            continue;
        switch (d->kind) {
        case D_INT: json_object_set_new(payload, d->name, json_integer(d->i)); break;
        case D_STR: json_object_set_new(payload, d->name, json_string(d->s)); break;
        case D_BOOL: json_object_set_new(payload, d->name, json_boolean(d->i)); break;
        case D_EMPTY_ARRAY: json_object_set_new(payload, d->name, json_array()); break;
        }
    }
    /* cpu_shares above 65535 is capped, as SmartOS does. */
    json_t *cs = json_object_get(payload, "cpu_shares");
    if (json_is_integer(cs) && json_integer_value(cs) > 65535)
        json_object_set_new(payload, "cpu_shares", json_integer(65535));
}

static long long geti(json_t *o, const char *k, long long def)
{
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? json_integer_value(v) : def;
}

static void seti(json_t *o, const char *k, long long v)
{
    json_object_set_new(o, k, json_integer(v));
}

static long long overhead_for(const char *brand)
{
    if (!strcmp(brand, "bhyve"))
        return VM_BHYVE_MEM_OVERHEAD;
    if (!strcmp(brand, "kvm"))
        return VM_KVM_MEM_OVERHEAD;
    return 0;
}

void vm_fix_memory_create(json_t *p)
{
    const char *brand = json_string_value(json_object_get(p, "brand"));
    bool hvm = vm_brand_is_hvm(brand);
    long long ram = geti(p, "ram", 256);
    long long phys, locked, swap;

    if (!json_object_get(p, "max_physical_memory")) {
        /* OS brands: ram is only the input for the memory caps. */
        phys = ram + overhead_for(brand);
        seti(p, "max_physical_memory", phys);
    }
    phys = geti(p, "max_physical_memory", 0);
    if (hvm && phys < ram + VM_HVM_MIN_MEM_OVERHEAD) {
        phys = ram + VM_HVM_MIN_MEM_OVERHEAD;
        seti(p, "max_physical_memory", phys);
    }
    locked = geti(p, "max_locked_memory", phys);
    if (hvm && locked < ram + VM_HVM_MIN_MEM_OVERHEAD)
        locked = ram + VM_HVM_MIN_MEM_OVERHEAD;
    if (locked > phys)
        locked = phys;
    seti(p, "max_locked_memory", locked);
    swap = geti(p, "max_swap", phys < 256 ? 256 : phys);
    if (swap < phys)
        swap = phys;
    if (swap < 256)
        swap = 256;
    seti(p, "max_swap", swap);
    if (!json_object_get(p, "max_shm_memory"))
        seti(p, "max_shm_memory", phys);
    if (!hvm) {
        long long tmpfs = geti(p, "tmpfs", phys);
        seti(p, "tmpfs", tmpfs > phys ? phys : tmpfs);
        /* OS VMs have no ram key (O9): it was only the input. */
        json_object_del(p, "ram");
    }
}

void vm_fix_memory_update(json_t *p, json_t *cur)
{
    const char *brand = json_string_value(json_object_get(cur, "brand"));
    bool hvm = vm_brand_is_hvm(brand);
    long long old_phys = geti(cur, "max_physical_memory", 256);
    long long old_locked = geti(cur, "max_locked_memory", old_phys);
    long long old_swap = geti(cur, "max_swap", old_phys);
    long long ram = geti(p, "ram", geti(cur, "ram", 256));
    bool has_ram = json_object_get(p, "ram") != NULL;
    bool has_phys = json_object_get(p, "max_physical_memory") != NULL;
    long long phys;

    if (!has_ram && !has_phys && !json_object_get(p, "max_locked_memory") && !json_object_get(p, "max_swap"))
        return;
    if (has_phys)
        phys = geti(p, "max_physical_memory", old_phys);
    else if (has_ram)
        phys = ram + overhead_for(brand);
    else
        phys = old_phys;
    if (hvm && phys < ram + VM_HVM_MIN_MEM_OVERHEAD)
        phys = ram + VM_HVM_MIN_MEM_OVERHEAD;

    /* locked and swap keep their previous offset from physical memory. */
    long long locked =
        json_object_get(p, "max_locked_memory") ? geti(p, "max_locked_memory", 0) : phys + (old_locked - old_phys);
    long long swap = json_object_get(p, "max_swap") ? geti(p, "max_swap", 0)
                                                    : (old_swap == 256 ? phys : phys + (old_swap - old_phys));
    if (hvm && locked < ram + VM_HVM_MIN_MEM_OVERHEAD)
        locked = ram + VM_HVM_MIN_MEM_OVERHEAD;
    if (locked > phys)
        locked = phys;
    if (swap < phys)
        swap = phys;
    if (swap < 256)
        swap = 256;
    if (phys != old_phys || has_phys || has_ram)
        seti(p, "max_physical_memory", phys);
    seti(p, "max_locked_memory", locked);
    seti(p, "max_swap", swap);
    if (!hvm) {
        /* tmpfs keeps its ratio to physical memory. */
        long long old_tmpfs = geti(cur, "tmpfs", old_phys);
        if (!json_object_get(p, "tmpfs") && old_phys > 0)
            seti(p, "tmpfs", old_tmpfs * phys / old_phys);
        json_object_del(p, "ram");
    }
}
