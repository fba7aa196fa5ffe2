/* Container runtime for the native brands (joyent, joyent-minimal, lx):
 * each VM is an LXC system container driven through liblxc.
 *
 * Zone root: the VM's filesystem dataset (vmobj.zfs_filesystem, resolved
 * with vs_fs_path) holds root/ (the container's /) and config/ (never
 * visible inside).  Delegated datasets (vmobj.datasets, e.g.
 * "zones/<uuid>/data") are bind-mounted at /<last name component> (/data).
 * Test hook: with pool == NULL the zone root is vmobj.zonepath and a
 * delegated dataset "<x>/<name>" is <zonepath>/<name>.
 *
 * Runtime files under run/vms/<uuid>/ (see common/runstate.h for the shared
 * contract: pid, boot, lastexited, state):
 *   lxc/<uuid>/config  LXC config, regenerated from the VM object at every
 *                      start and removed when the container ends (nothing
 *                      durable; LXC's own destroy() is never used because it
 *                      deletes the rootfs)
 *   lxc.log            LXC's log of the last start (WARN level)
 *   console.log        everything init wrote to the console
 *   ctinit             "<starttime> <supervisor pid> <supervisor starttime>":
 *                      identity of the init process (its start time in clock
 *                      ticks, /proc/<pid>/stat field 22), so a pid left over
 *                      from before a host crash is never mistaken for ours
 *
 *
 * Confinement (see ct_config.h for what the LXC config holds): every
 * container runs in a user namespace with its own 65536 host ids,
 * container uid 0 = host uid CT_IDMAP_BASE + slot * 65536 (1000000,
 * 1065536, ...).  The slot is allocated at the first start and recorded
 * in <root>/etc/ct-idmap/<slot> (a symlink to the uuid), so it is stable
 * across restarts; ct_idmap_release gives it back when the VM is deleted.
 * The rootfs and delegated datasets are idmapped mounts, so the files on
 * disk keep the image's ownership and nothing is chowned.  A layered zone
 * root (lib/storage/layers.h, the default) is instead an overlay over
 * idmapped layers, mounted by the supervisor in a private mount namespace
 * (see the process model; lib/storage/README.md): same ownership on disk.  Consequence for
 * the host: a file container root creates is owned by uid 0 on disk; the
 * zone root must therefore stay unreachable by unprivileged host users
 * (VMADM_ROOT and the pool mount view are root-only).
 *
 * Opt-out: a VM with "privileged": true runs without the user namespace
 * (container root = host root, seccomp and dropped caps stay), and only
 * when the operator allows it host-wide by creating the regular file
 * <root>/etc/allow-privileged-containers (owned by root); otherwise the
 * start is refused with a message naming that file.
 *
 * NICs (ct_net.c, ct_net_apply.c): one veth pair per NIC made by lib/net
 * (host side on the nic tag's bridge, behind the NIC's nftables
 * protection), the guest end moved in and configured by LXC before init
 * runs.  ct_start fails, creating nothing, when a NIC's tag does not
 * exist.  The pair goes with the container's network namespace (or, after
 * a clean LXC stop, with the runtime's teardown, lib/vm).
 *
 * Process model: ct_start forks a detached supervisor (own session) which
 * forks the LXC monitor (liblxc start, not daemonized) and reports back once
 * init runs.  When init ends (guest halted itself, stop, kill) the monitor
 * returns init's wait status, the supervisor writes lastexited, removes pid
 * and cleans LXC's leftovers (config dir, empty cgroup dirs).  On a layered
 * root the supervisor first moves to a private mount namespace and mounts
 * the container's view there (gone with the supervisor and the container);
 * once init ended it remounts the host's view before recording the exit.
 */
#ifndef VM_CT_H
#define VM_CT_H

#include <jansson.h>

#include "common/ctx.h"
#include "common/err.h"
#include "common/runstate.h"
#include "storage/storage.h"

/* Starts the container and returns once its init runs (pid file written).
 * Checks first, changing nothing on failure: brand, zone root present,
 * <root><init_name or /sbin/init> an executable file (symlinks resolved
 * inside the root), delegated dataset dirs present, not already running,
 * "privileged": true only with the host-wide switch (see above).  Gives
 * container root search permission (o+x) on the directories on the way to
 * run/vms/<uuid>/lxc and to the delegated datasets (LXC opens them as that
 * uid).  Writes /etc/resolv.conf in the rootfs from vmobj.resolvers (when
 * non-empty).  An LXC start failure carries the tail of lxc.log. */
int ct_start(const vm_ctx *ctx, vs_pool *pool, json_t *vmobj, vm_err *err);

/* Graceful: the brand's halt signal (lxc.signal.halt, see ct_config.h),
 * waiting timeout_s (<= 0: 60) for init to exit, then SIGKILL.  force:
 * SIGKILL at once.  Returns once the container is gone and lastexited
 * written.  VMERR_STATE if not running. */
int ct_stop(const vm_ctx *ctx, json_t *vmobj, int force, int timeout_s, vm_err *err);

/* Sends sig to the container's init (pidfd, identity checked). */
int ct_kill(const vm_ctx *ctx, const char *uuid, int sig, vm_err *err);

/* Cheap (no fork, no liblxc): pid file + /proc/<pid>/stat start time
 * checked against ctinit.  A stale pid is cleaned and reported as not
 * running.  zone_state: "running", "shutting_down" or "installed". */
int ct_runstate(const vm_ctx *ctx, const char *uuid, vm_runstate *out);

/* zlogin: runs argv (NULL: "/bin/sh -l") inside the container with our
 * stdin/stdout/stderr (through a pty when stdin is a terminal), clean
 * environment (PATH, HOME=/root, TERM kept), and returns its exit status
 * in *exit_status (128+N when killed by signal N). */
int ct_login(const vm_ctx *ctx, const char *uuid, char *const argv[], int *exit_status, vm_err *err);

/* Attaches stdin/stdout to the container console (/dev/console inside)
 * until CTRL-] (0x1d) is typed, stdin reaches EOF, or the container ends.
 * A terminal on stdin is put in raw mode and restored afterwards. */
int ct_console(const vm_ctx *ctx, const char *uuid, vm_err *err);

/* Gives back the VM's subordinate id range (call when the VM is deleted;
 * nothing recorded is fine). */
int ct_idmap_release(const vm_ctx *ctx, const char *uuid, vm_err *err);

/* Applies vmobj's cgroup limits to the running container (limits that are
 * absent are reset to unlimited). */
int ct_apply_limits(const vm_ctx *ctx, json_t *vmobj, vm_err *err);

#endif
