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
 *
 * Confinement (issue 14, finding 1), safe by default:
 *   - user namespace: container uid/gid 0..65535 = host ids
 *     base..base+65535, base = CT_IDMAP_BASE + slot * CT_IDMAP_SIZE, one
 *     slot per VM (see ct.h, ct_idmap.c), so container root is an
 *     unprivileged host uid and two containers never share ids;
 *   - the rootfs and the delegated datasets are idmapped mounts
 *     (lxc.rootfs.options / mount option idmap=container): the files on
 *     disk keep the image's ownership (uid 0 on disk = container root), no
 *     chown at install or start, so the cost does not grow with the image;
 *   - seccomp: LXC denylist profile ct_seccomp_profile() (open_by_handle_at,
 *     kexec, module loading, keyctl & co, bpf, perf_event_open, ...);
 *   - capabilities dropped: mac_admin mac_override sys_time sys_module
 *     sys_rawio (all others are only namespaced ones inside the userns);
 *   - AppArmor: LXC's "generated" profile when the host has AppArmor,
 *     "unconfined" otherwise (the kernel has no AppArmor to enforce).
 * The one opt-out: in->privileged (VM property "privileged": true, which
 * ct_start accepts only when the host allows it) drops the user namespace
 * and the idmapped mounts; seccomp, dropped caps and AppArmor stay.
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
    bool apparmor; /* /sys/kernel/security/apparmor exists */
} ct_host;

/* Subordinate id ranges: slot n maps container ids 0..CT_IDMAP_SIZE-1 to
 * host ids CT_IDMAP_BASE + n * CT_IDMAP_SIZE ...; CT_IDMAP_SLOTS keeps the
 * last range below uid 2^32-1. */
#define CT_IDMAP_BASE 1000000u
#define CT_IDMAP_SIZE 65536u
#define CT_IDMAP_SLOTS 65520u

/* Facts about paths and the rootfs, resolved by the caller. */
typedef struct ct_inputs {
    const char *rootfs; /* host directory of the container's / */
    const char *rundir; /* run/vms/<uuid> */
    json_t *dataset_dirs; /* array of host dirs, parallel to vmobj.datasets; may be NULL */
    bool init_is_systemd;
    bool privileged; /* no user namespace (the opt-out, see above) */
    unsigned idmap_base; /* first host id of the VM's range (unprivileged) */
    bool shifted_root; /* rootfs is already a view in the container's ids
                          (a layered root, lib/storage/layers.h): no
                          idmap=container on it */
    json_t *nic_peers; /* array of strings parallel to vmobj.nics: the host-side
                          name of each NIC's guest end (lib/net); may be NULL
                          when the VM has no NICs */
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

/* The lxc.net.* items (ct_net.c explains the model), appended to items. */
int ct_net_config(json_t *vmobj, const ct_inputs *in, json_t *items, vm_err *err);

/* The LXC seccomp profile (LXC's "2 / denylist" format) every container
 * gets; written next to its config by ct_start. */
const char *ct_seccomp_profile(void);

/* The halt signal name for the brand (see above); NULL + err on a bad override. */
const char *ct_halt_signal(json_t *vmobj, bool init_is_systemd, vm_err *err);

#endif
