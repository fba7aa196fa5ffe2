/* LXC configuration of a native-brand VM (joyent, joyent-minimal, lx) as a
 * pure function of the VM object and a few host/rootfs facts, so it can be
 * unit-tested without LXC.  lib/ct feeds the result to set_config_item().
 *
 * Mapping of SmartOS resource controls to cgroups (v1 keys on hybrid hosts
 * like this one, v2 keys when the unified hierarchy owns the controller):
 *   max_physical_memory MiB -> memory.limit_in_bytes     | memory.max
 *   max_swap MiB (mem+swap) -> memory.memsw.limit_in_bytes| memory.swap.max
 *                              (v1: only when the kernel has memsw, else a
 *                              note; v2: swap only = max_swap - memory)
 *   max_lwps                -> pids.max                  | pids.max
 *   cpu_cap % of one CPU    -> cpu.cfs_quota_us = cap*1000 with
 *                              cpu.cfs_period_us = 100000 | cpu.max
 *   cpu_shares (FSS, SmartOS default 100)
 *                           -> cpu.shares = shares*1024/100 (100 -> 1024,
 *                              the Linux default), clamped to [2, 262144]
 *                              | cpu.weight = shares clamped to [1, 10000]
 *                              (100 is the v2 default weight)
 * 0 or absent means "no limit" (cpu_shares absent: kernel default).
 *
 * Halt signal (lxc.signal.halt, what a graceful stop sends to init):
 *   joyent, joyent-minimal: SIGPWR (sysvinit/busybox-style inits)
 *   lx: SIGRTMIN+3 when /sbin/init resolves to systemd, else SIGPWR
 *   override: internal_metadata["vmadm:halt_signal"] ("SIGUSR1", ...).
 */
#ifndef VM_CT_CONFIG_H
#define VM_CT_CONFIG_H

#include <stdbool.h>
#include <jansson.h>

#include "common/err.h"

enum ct_cg_version { CT_CG_NONE = 0, CT_CG_V1 = 1, CT_CG_V2 = 2 };

/* Which cgroup hierarchy manages each controller on this host. */
typedef struct ct_host {
    int memory; /* enum ct_cg_version */
    int pids;
    int cpu;
    bool memsw; /* v1 memory.memsw.* present (swap accounting on) */
} ct_host;

/* Facts about paths and the rootfs, resolved by the caller. */
typedef struct ct_inputs {
    const char *rootfs; /* host directory of the container's / */
    const char *rundir; /* run/vms/<uuid> */
    json_t *dataset_dirs; /* array of host dirs, parallel to vmobj.datasets; may be NULL */
    bool init_is_systemd;
} ct_inputs;

/* Probes /sys/fs/cgroup. */
void ct_host_probe(ct_host *host);

/* Builds the full LXC config: *items is a new JSON array of [key, value]
 * string pairs in the order they must be set.  Notes for the operator log
 * (e.g. "max_swap ignored: no swap accounting") are appended to *notes (a
 * JSON array, may be NULL).  Fails with VMERR_INVALID on bad values. */
int ct_config_build(json_t *vmobj, const ct_host *host, const ct_inputs *in, json_t **items, json_t *notes,
                    vm_err *err);

/* The cgroup items only.  With `explicit_defaults`, limits that are absent
 * get their "unlimited"/default value, so that applying them to a running
 * container removes a limit that was dropped (live update). */
int ct_config_limits(json_t *vmobj, const ct_host *host, bool explicit_defaults, json_t *items, json_t *notes,
                     vm_err *err);

/* The halt signal name for the brand (see above); NULL + err on a bad override. */
const char *ct_halt_signal(json_t *vmobj, bool init_is_systemd, vm_err *err);

#endif
