#include "common/units.h"

#include <string.h>

const char *const vm_disk_models[] = { "virtio", "ahci", "nvme", NULL };
const char *const vm_nic_models[] = { "virtio", "e1000", "rtl8139", NULL };

const char *const vm_bootroms[] = {
    "bios",
    "uefi",
    "/usr/share/bhyve/uefi-rom.bin",
    "/usr/share/bhyve/uefi-csm-rom.bin",
    "/usr/share/bhyve/BHYVE_UEFI.fd",
    "/usr/share/bhyve/BHYVE_UEFI_CSM.fd",
    NULL,
};
/* What each of vm_bootroms is, in the same order. */
static const char *const bootrom_kinds[] = { "bios", "uefi", "uefi", "bios", "uefi", "bios" };

const char *vm_bootrom_kind(const char *bootrom)
{
    for (size_t i = 0; bootrom && vm_bootroms[i]; i++)
        if (!strcmp(vm_bootroms[i], bootrom))
            return bootrom_kinds[i];
    return NULL;
}

const char *vm_bootroms_accepted(void)
{
    return "bios, uefi, /usr/share/bhyve/uefi-rom.bin, /usr/share/bhyve/uefi-csm-rom.bin, "
           "/usr/share/bhyve/BHYVE_UEFI.fd, /usr/share/bhyve/BHYVE_UEFI_CSM.fd";
}
const char *const vm_compressions[] = { "on",     "off",    "gzip",   "gzip-1", "gzip-2", "gzip-3", "gzip-4", "gzip-5",
                                        "gzip-6", "gzip-7", "gzip-8", "gzip-9", "lz4",    "lzjb",   "zle",    NULL };

static bool in_list(const char *const *list, const char *s)
{
    if (!s)
        return false;
    for (; *list; list++)
        if (!strcmp(*list, s))
            return true;
    return false;
}

bool vm_disk_model_known(const char *model)
{
    return in_list(vm_disk_models, model);
}

bool vm_compression_known(const char *c)
{
    return in_list(vm_compressions, c);
}

bool vm_nic_model_known(const char *model)
{
    return in_list(vm_nic_models, model);
}

bool i64_add(int64_t a, int64_t b, int64_t *out)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r))
        return false;
    *out = r;
    return true;
}

bool i64_mul(int64_t a, int64_t b, int64_t *out)
{
    int64_t r;
    if (__builtin_mul_overflow(a, b, &r))
        return false;
    *out = r;
    return true;
}

bool mib_to_bytes(int64_t mib, int64_t *out)
{
    if (mib < 0)
        return false;
    return i64_mul(mib, VM_MiB, out);
}

int64_t bytes_to_mib_ceil(int64_t bytes)
{
    if (bytes <= 0)
        return 0;
    return bytes / VM_MiB + (bytes % VM_MiB != 0);
}
