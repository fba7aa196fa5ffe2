#include "vm/props.h"

#include <string.h>

#include "common/units.h"

#define A BR_ALL
#define H BR_HVM
#define O BR_OS
#define MIN(x) .has_min = true, .min = (x)
#define MAX(x) .has_max = true, .max = (x)
/* Memory sizes in MiB: 2^40 MiB (1 EiB) keeps every derived byte count
 * (and the +1280 MiB overheads) inside int64. */
#define MEM_MAX (1LL << 40)
/* Counts, timeouts and record sizes: what a C int holds, so every runtime
 * that turns them into config text or cgroup values can take them as they
 * are.  cpu_cap (percent of one CPU) stops at the container runtime's
 * bound, 1000000 (issue 14: integer parsing). */
#define COUNT_MAX 2147483647LL
/* A disk: 2^30 MiB (1 PiB); VM_MAX_DISKS of them still sum inside int64
 * bytes.  (flexible_disk_size has no bound: space.c saturates, and an
 * impossible one is refused as "not enough space", D2.) */
#define DISK_MAX (1LL << 30)

static const char *const cpu_types[] = { "qemu64", "host", NULL };
static const char *const disk_media[] = { "disk", "cdrom", NULL };

/* Top-level properties.  `create` also covers receive; `update` brands may
 * change it later.  Order here is the order `vmadm validate` reports. */
const vm_prop vm_props_top[] = {
    { .name = "alias", .type = PT_STRING, .create = A, .update = A },
    { .name = "archive_on_delete", .type = PT_BOOLEAN, .create = A, .update = A },
    { .name = "autoboot", .type = PT_BOOLEAN, .create = A, .update = A },
    { .name = "billing_id", .type = PT_UUID, .create = A, .update = A },
    { .name = "boot", .type = PT_STRING, .create = H, .update = H },
    { .name = "bootrom", .type = PT_STRING, .create = H, .update = H, .values = vm_bootroms },
    { .name = "brand", .type = PT_STRING, .create = A, .update = 0 },
    { .name = "com1", .type = PT_STRING, .create = H, .update = H },
    { .name = "com2", .type = PT_STRING, .create = H, .update = H },
    { .name = "cpu_cap", .type = PT_INTEGER, .create = A, .update = A, MIN(0), MAX(1000000) },
    { .name = "cpu_shares", .type = PT_INTEGER, .create = A, .update = A, MIN(0) },
    { .name = "cpu_type", .type = PT_STRING, .create = H, .update = H, .values = cpu_types },
    { .name = "customer_metadata", .type = PT_FLATOBJ, .create = A, .update = 0 },
    { .name = "delegate_dataset", .type = PT_BOOLEAN, .create = O, .update = 0 },
    { .name = "disk_driver", .type = PT_STRING, .create = H, .update = H, .values = vm_disk_models },
    { .name = "disks", .type = PT_OBJARRAY, .create = H, .update = 0 },
    { .name = "dns_domain", .type = PT_STRING, .create = O, .update = O },
    { .name = "do_not_inventory", .type = PT_BOOLEAN, .create = A, .update = A },
    { .name = "firewall_enabled", .type = PT_BOOLEAN, .create = A, .update = A },
    { .name = "flexible_disk_size", .type = PT_INTEGER, .create = A, .update = A, MIN(0) },
    { .name = "hostname", .type = PT_STRING, .create = A, .update = A },
    { .name = "image_uuid", .type = PT_UUID, .create = A, .update = 0 },
    { .name = "indestructible_delegated", .type = PT_BOOLEAN, .create = O, .update = O },
    { .name = "indestructible_zoneroot", .type = PT_BOOLEAN, .create = A, .update = A },
    { .name = "internal_metadata", .type = PT_FLATOBJ, .create = A, .update = 0 },
    { .name = "kernel_version", .type = PT_STRING, .create = BR_LX, .update = BR_LX },
    { .name = "limit_priv", .type = PT_LIST, .create = A, .update = A },
    { .name = "maintain_resolvers", .type = PT_BOOLEAN, .create = O, .update = O },
    { .name = "max_locked_memory", .type = PT_INTEGER, .create = A, .update = A, MIN(0), MAX(MEM_MAX) },
    { .name = "max_lwps", .type = PT_INTEGER, .create = A, .update = A, MIN(0), MAX(COUNT_MAX) },
    { .name = "max_msg_ids", .type = PT_INTEGER, .create = A, .update = A, MIN(0), MAX(COUNT_MAX) },
    { .name = "max_physical_memory", .type = PT_INTEGER, .create = A, .update = A, MIN(0), MAX(MEM_MAX) },
    { .name = "max_sem_ids", .type = PT_INTEGER, .create = A, .update = A, MIN(0), MAX(COUNT_MAX) },
    { .name = "max_shm_ids", .type = PT_INTEGER, .create = A, .update = A, MIN(0), MAX(COUNT_MAX) },
    { .name = "max_shm_memory", .type = PT_INTEGER, .create = A, .update = A, MIN(0), MAX(MEM_MAX) },
    { .name = "max_swap", .type = PT_INTEGER, .create = A, .update = A, MIN(256), MAX(MEM_MAX) },
    { .name = "mdata_exec_timeout",
      .type = PT_INTEGER,
      .create = BR_JOYENT | BR_JM,
      .update = 0,
      MIN(0),
      MAX(COUNT_MAX) },
    { .name = "nic_driver", .type = PT_STRING, .create = H, .update = H, .values = vm_nic_models },
    { .name = "nics", .type = PT_OBJARRAY, .create = A, .update = 0 },
    { .name = "nocloud", .type = PT_BOOLEAN, .create = H, .update = H },
    { .name = "owner_uuid", .type = PT_UUID, .create = A, .update = A },
    { .name = "package_name", .type = PT_STRING, .create = A, .update = A },
    { .name = "package_version", .type = PT_STRING, .create = A, .update = A },
    { .name = "privileged", .type = PT_BOOLEAN, .create = O, .update = O },
    { .name = "qemu_extra_opts", .type = PT_STRING, .create = H, .update = H },
    { .name = "quota", .type = PT_INTEGER, .create = A, .update = A, MIN(0), MAX(1LL << 30) },
    { .name = "ram", .type = PT_INTEGER, .create = A, .update = A, MIN(0), MAX(MEM_MAX) },
    { .name = "resolvers", .type = PT_LIST, .create = A, .update = A },
    { .name = "routes", .type = PT_FLATOBJ, .create = A, .update = 0 },
    { .name = "tags", .type = PT_FLATOBJ, .create = A, .update = 0 },
    { .name = "tmpfs", .type = PT_INTEGER, .create = O, .update = O, MIN(0), MAX(MEM_MAX) },
    { .name = "uuid", .type = PT_UUID, .create = A, .update = 0 },
    { .name = "vcpus", .type = PT_INTEGER, .create = H, .update = H, MIN(1), MAX(64) },
    { .name = "vnc_password", .type = PT_STRING, .create = H, .update = H },
    { .name = "vnc_port", .type = PT_INTEGER, .create = H, .update = H, MIN(-1), MAX(65535) },
    { .name = "zfs_io_priority", .type = PT_INTEGER, .create = A, .update = A, MIN(0), MAX(16383) },
    { .name = "zfs_root_compression", .type = PT_STRING, .create = A, .update = A, .values = vm_compressions },
    { .name = "zfs_root_recsize", .type = PT_INTEGER, .create = A, .update = A, MIN(0), MAX(COUNT_MAX) },
    { .name = "zonename", .type = PT_STRING, .create = A, .update = 0 },
    { .name = "zpool", .type = PT_ZPOOL, .create = A, .update = 0 },
    /* update-only collection operators (C20, C21) */
    { .name = "add_disks", .type = PT_OBJARRAY, .create = 0, .update = H },
    { .name = "update_disks", .type = PT_OBJARRAY, .create = 0, .update = H },
    { .name = "remove_disks", .type = PT_ARRAY, .create = 0, .update = H },
    { .name = "dangerous_allow_remove_boot", .type = PT_BOOLEAN, .create = 0, .update = H },
    { .name = "add_nics", .type = PT_OBJARRAY, .create = 0, .update = A },
    { .name = "update_nics", .type = PT_OBJARRAY, .create = 0, .update = A },
    { .name = "remove_nics", .type = PT_ARRAY, .create = 0, .update = A },
    { .name = "set_customer_metadata", .type = PT_FLATOBJ, .create = 0, .update = A },
    { .name = "remove_customer_metadata", .type = PT_LIST, .create = 0, .update = A },
    { .name = "set_internal_metadata", .type = PT_FLATOBJ, .create = 0, .update = A },
    { .name = "remove_internal_metadata", .type = PT_LIST, .create = 0, .update = A },
    { .name = "set_tags", .type = PT_FLATOBJ, .create = 0, .update = A },
    { .name = "remove_tags", .type = PT_LIST, .create = 0, .update = A },
    { .name = "set_routes", .type = PT_FLATOBJ, .create = 0, .update = A },
    { .name = "remove_routes", .type = PT_LIST, .create = 0, .update = A },
    { .name = NULL },
};

/* disks.*.x: `create` = allowed in disks/add_disks, `update` = update_disks
 * (reference §3.1). */
const vm_prop vm_props_disk[] = {
    { .name = "block_size", .type = PT_INTEGER, .create = H, .update = 0, MIN(0), MAX(COUNT_MAX) },
    { .name = "boot", .type = PT_BOOLEAN, .create = H, .update = H },
    { .name = "compression", .type = PT_STRING, .create = H, .update = H },
    { .name = "dangerous_allow_shrink", .type = PT_BOOLEAN, .create = 0, .update = H },
    { .name = "guest_block_size", .type = PT_STRING, .create = H, .update = H },
    { .name = "image_size", .type = PT_INTEGER, .create = H, .update = 0, MIN(0), MAX(DISK_MAX) },
    { .name = "image_uuid", .type = PT_UUID, .create = H, .update = 0 },
    { .name = "media", .type = PT_STRING, .create = H, .update = H, .values = disk_media },
    { .name = "model", .type = PT_STRING, .create = H, .update = H },
    { .name = "nocreate", .type = PT_BOOLEAN, .create = H, .update = 0 },
    { .name = "notrim", .type = PT_BOOLEAN, .create = H, .update = H },
    { .name = "path", .type = PT_STRING, .create = H, .update = H },
    { .name = "pci_slot", .type = PT_STRING, .create = H, .update = H },
    { .name = "refreservation", .type = PT_INTEGER, .create = H, .update = H, MIN(0), MAX(DISK_MAX) },
    { .name = "size", .type = PT_INTEGER, .create = H, .update = H, MIN(0), MAX(DISK_MAX) },
    { .name = "uuid", .type = PT_UUID, .create = H, .update = H },
    { .name = "zpool", .type = PT_ZPOOL, .create = H, .update = 0 },
    { .name = NULL },
};

const vm_prop vm_props_nic[] = {
    { .name = "allow_dhcp_spoofing", .type = PT_BOOLEAN, .create = A, .update = A },
    { .name = "allow_ip_spoofing", .type = PT_BOOLEAN, .create = A, .update = A },
    { .name = "allow_mac_spoofing", .type = PT_BOOLEAN, .create = A, .update = A },
    { .name = "allow_restricted_traffic", .type = PT_BOOLEAN, .create = A, .update = A },
    { .name = "allow_unfiltered_promisc", .type = PT_BOOLEAN, .create = H, .update = H },
    { .name = "allowed_dhcp_cids", .type = PT_LIST, .create = O, .update = O },
    { .name = "allowed_ips", .type = PT_LIST, .create = A, .update = A },
    { .name = "blocked_outgoing_ports", .type = PT_LIST, .create = A, .update = A },
    { .name = "dhcp_server", .type = PT_BOOLEAN, .create = A, .update = A },
    { .name = "gateway", .type = PT_STRING, .create = A, .update = A },
    { .name = "gateways", .type = PT_LIST, .create = A, .update = A },
    { .name = "interface", .type = PT_STRING, .create = A, .update = A },
    { .name = "ip", .type = PT_STRING, .create = A, .update = A },
    { .name = "ips", .type = PT_LIST, .create = A, .update = A },
    { .name = "mac", .type = PT_STRING, .create = A, .update = A },
    { .name = "model", .type = PT_STRING, .create = H, .update = H, .values = vm_nic_models },
    { .name = "mtu", .type = PT_INTEGER, .create = A, .update = A, MIN(576), MAX(9000) },
    { .name = "netmask", .type = PT_STRING, .create = A, .update = A },
    { .name = "network_uuid", .type = PT_UUID, .create = A, .update = A },
    { .name = "nic_tag", .type = PT_STRING, .create = A, .update = A },
    { .name = "primary", .type = PT_BOOLEAN, .create = A, .update = A },
    { .name = "vlan_id", .type = PT_INTEGER, .create = A, .update = A, MIN(0), MAX(4095) },
    { .name = "vrrp_primary_ip", .type = PT_STRING, .create = A, .update = A },
    { .name = "vrrp_vrid", .type = PT_INTEGER, .create = A, .update = A, MIN(0), MAX(255) },
    { .name = NULL },
};

const vm_prop *vm_prop_find(const vm_prop *table, const char *name)
{
    for (const vm_prop *p = table; p->name; p++)
        if (!strcmp(p->name, name))
            return p;
    return NULL;
}

unsigned vm_brand_bit(const char *brand)
{
    if (!brand)
        return 0;
    if (!strcmp(brand, "bhyve"))
        return BR_BHYVE;
    if (!strcmp(brand, "kvm"))
        return BR_KVM;
    if (!strcmp(brand, "joyent"))
        return BR_JOYENT;
    if (!strcmp(brand, "joyent-minimal"))
        return BR_JM;
    if (!strcmp(brand, "lx"))
        return BR_LX;
    return 0;
}

bool vm_brand_is_hvm(const char *brand)
{
    return (vm_brand_bit(brand) & BR_HVM) != 0;
}

const char *vm_brand_type(const char *brand)
{
    switch (vm_brand_bit(brand)) {
    case BR_BHYVE: return "BHYV";
    case BR_KVM: return "KVM";
    case BR_LX: return "LX";
    default: return "OS";
    }
}
