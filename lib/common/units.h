/* One place for sizes and device-model names shared by every library:
 * vm (properties, validation, planning), hv (QEMU devices) and ct.  A rule
 * written here is the only copy; callers never spell the lists again. */
#ifndef VM_UNITS_H
#define VM_UNITS_H

#include <stdbool.h>
#include <stdint.h>

#define VM_MiB (1024LL * 1024LL)
#define VM_GiB (1024LL * VM_MiB)

/* Bytes of `mib` MiB; false (and *out untouched) when negative or when the
 * product does not fit int64. */
bool mib_to_bytes(int64_t mib, int64_t *out);
/* Whole MiB of `bytes`, rounded up (sizes shown to operators). */
int64_t bytes_to_mib_ceil(int64_t bytes);
/* a + b and a * b on int64 with overflow checks (false on overflow). */
bool i64_add(int64_t a, int64_t b, int64_t *out);
bool i64_mul(int64_t a, int64_t b, int64_t *out);

/* Disk models an HVM disk may have (SmartOS's list, in that order). */
extern const char *const vm_disk_models[];
/* NIC models an HVM NIC may have. */
extern const char *const vm_nic_models[];
/* NICs of an HVM VM: functions of PCI device 6, as SmartOS keeps that
 * device for NICs (lib/hv/argv_nics.c); lib/vm refuses more up front. */
#define VM_MAX_HVM_NICS 8
/* Firmware (bootrom): "bios", "uefi", or one of SmartOS's firmware paths,
 * kept in the VM object as given (a SmartOS payload round-trips) and mapped
 * at start by vm_bootrom_kind: uefi-rom.bin is UEFI, uefi-csm-rom.bin (UEFI
 * with the legacy BIOS module, SmartOS's "bios") is BIOS; the BHYVE_*.fd
 * names are what older SmartOS releases shipped.  No other path is read. */
extern const char *const vm_bootroms[];
/* "bios", "uefi", or NULL for a bootrom that is not accepted. */
const char *vm_bootrom_kind(const char *bootrom);
/* "bios, uefi, /usr/share/bhyve/uefi-rom.bin, ..." for messages. */
const char *vm_bootroms_accepted(void);
/* Compression values a dataset (and a disk) may have (zfs(8)'s list). */
extern const char *const vm_compressions[];
bool vm_disk_model_known(const char *model);
bool vm_compression_known(const char *c);
bool vm_nic_model_known(const char *model);

#endif
