/* Shared between the lib/ct source files; not part of the module's API
 * (see ct.h for the runtime files and the process model).
 *
 *   ct_lxc.c     liblxc, opened on first use; the LXC config written to a
 *                container (saved config at start, live cgroup limits)
 *   ct_state.c   run dir files, init identity, runstate, cleanup of what a
 *                container leaves behind
 *   ct_rootfs.c  the zone root: checks before a start, /etc/resolv.conf
 *   ct_start.c   ct_start and the supervisor/monitor processes
 *   ct_stop.c    ct_stop, ct_kill
 *   ct_attach.c  ct_login, ct_console
 *   ct_config.c  the LXC config as a pure function of the VM object
 *   ct_idmap.c   subordinate id ranges, the privileged opt-out */
#ifndef VM_CT_INTERNAL_H
#define VM_CT_INTERNAL_H

#include <stdbool.h>
#include <sys/types.h>
#include <jansson.h>

#include "common/ctx.h"
#include "common/err.h"
#include "net/net.h"
#include "storage/storage.h"

struct lxc_container;

/* ---- liblxc (ct_lxc.c) ---- */

/* A new handle (NULL with errno ENOSYS when liblxc cannot be loaded). */
struct lxc_container *ct_lxc_new(const char *name, const char *path);
/* Drops a handle; NULL is fine. */
int ct_lxc_put(struct lxc_container *c);
void ct_lxc_putp(struct lxc_container **c);
#define cleanup_lxc __attribute__((cleanup(ct_lxc_putp)))
/* liblxc's lxc_attach_run_command; valid once ct_lxc_new has been called. */
typedef int (*ct_lxc_exec_fn)(void *payload);
ct_lxc_exec_fn ct_lxc_run_command(void);
/* clear_config, then items ([key, value] pairs, see ct_config.h) in order,
 * then save_config under lxcpath. */
int ct_lxc_save_config(const char *uuid, const char *lxcpath, json_t *items, vm_err *err);

/* ---- run dir files (ct_state.c) ---- */

typedef struct ct_paths {
    char *rundir; /* run/vms/<uuid> */
    char *lxcpath; /* run/vms/<uuid>/lxc */
    char *pid;
    char *boot;
    char *lastexited;
    char *state;
    char *ctinit;
    char *lxclog;
    char *consolelog;
} ct_paths;

void ct_paths_init(const vm_ctx *ctx, const char *uuid, ct_paths *p);
void ct_paths_free(ct_paths *p);
#define cleanup_paths __attribute__((cleanup(ct_paths_free)))

/* The run dir files are read and written with common/proc.h; the container
 * runtime writes them VM_RUN_SYNCED (mode 0644), as it always has. */
/* /proc/<pid>/stat: state letter and start time (clock ticks since boot);
 * either output may be NULL.  -1 if the process is gone. */
int ct_proc_stat(pid_t pid, char *state, unsigned long long *start);

/* Identity recorded at start: init's start time, and the supervisor's pid
 * and start time (so ct_stop can tell whether it will still record the exit). */
typedef struct ct_ident {
    unsigned long long init_start;
    pid_t sup_pid;
    unsigned long long sup_start;
} ct_ident;

int ct_read_ident(const ct_paths *p, ct_ident *id);

enum { CT_DEAD = 0, CT_ALIVE = 1, CT_ENDING = 2 };

/* Is the init recorded in the run dir alive?  *pid set when recorded;
 * *pidstr_out (may be NULL) gets the pid file's text. */
int ct_check_init(const ct_paths *p, pid_t *pid, char **pidstr_out);
/* Waits until the supervisor has recorded the exit (pid file gone); cleans
 * up itself if the supervisor is gone.  -1 if init is still alive after
 * timeout_ms (ct_state.c). */
int ct_wait_ended(const ct_paths *p, const char *uuid, int timeout_ms);
/* Removes the running-state files (pid last) if the pid file still says `pidstr`
 * (someone may have started the VM again meanwhile); NULL: unconditionally. */
void ct_clean_running_files(const ct_paths *p, const char *uuid, const char *pidstr);
/* A liblxc handle of the running container, else VMERR_STATE. */
struct lxc_container *ct_running_handle(const ct_paths *p, const char *uuid, vm_err *err);

/* ---- confinement (ct_idmap.c) ---- */

/* Host-wide switch for the privileged opt-out, relative to VMADM_ROOT. */
#define CT_ALLOW_PRIVILEGED "etc/allow-privileged-containers"

/* The VM's id range (allocated and recorded at first use): *base is the
 * host uid/gid of container id 0. */
int ct_idmap_get(const vm_ctx *ctx, const char *uuid, unsigned *base, vm_err *err);
/* vmobj.privileged: false/absent -> *privileged = false; true -> allowed
 * only when CT_ALLOW_PRIVILEGED exists, else VMERR_INVALID with the reason;
 * anything else is invalid. */
int ct_privileged_wanted(const vm_ctx *ctx, json_t *vmobj, bool *privileged, vm_err *err);

/* ---- zone root (ct_rootfs.c) ---- */

/* What a start checked about the zone root before changing anything. */
typedef struct ct_root {
    char *rootfs; /* host directory of the container's / */
    int rootfd; /* O_PATH of rootfs */
    bool init_is_systemd; /* <root><init> resolves to .../systemd */
    json_t *dataset_dirs; /* host dirs, parallel to vmobj.datasets */
    /* A layered zone root (lib/storage/layers.h): its data, else NULL.  An
     * unprivileged start mounts the container's own view of it
     * (ly_mount_shifted) in the supervisor's private mount namespace. */
    char *ly_datadir;
    char *ly_dataname;
} ct_root;
#define CT_ROOT_INIT \
    { \
        NULL, -1, false, NULL, NULL, NULL \
    }

void ct_root_free(ct_root *r);
#define cleanup_root __attribute__((cleanup(ct_root_free)))

/* The zone root (pool == NULL: the zonepath test hook, see ct.h), its init
 * and the delegated dataset dirs, checked with ct_start's messages; the
 * host's view of a layered root is remounted fresh (ly_refresh). */
int ct_root_check(vs_pool *pool, json_t *vmobj, ct_root *r, vm_err *err);
/* LXC opens the lxcpath and the source of each bind mount as container
 * root, an unprivileged host uid: every directory on the way to `dir` must
 * be searchable by it.  `boundary` (an ancestor of dir or dir itself) is
 * the VM's own directory (run/vms/<uuid>, the zone dir): it gets group
 * `gid` (container root's host gid) and mode rwx--x--- (owner bits kept),
 * so that no other host user reaches what container root wrote (uid 0 on
 * disk through the idmapped mounts, setuid files included).  Directories
 * above it get search permission for others (o+x, never read); those
 * below it need o+x too.  Directories above the boundary outside `limit`
 * (VMADM_ROOT; NULL: no limit, the zonepath test hook) or not owned by
 * root are not changed: the start is refused with the reason. */
int ct_grant_search(const char *dir, const char *boundary, unsigned gid, const char *limit, vm_err *err);
/* /etc/resolv.conf from vmobj.resolvers (nothing when empty), written
 * without following any symlink out of the root. */
int ct_root_write_resolvers(int rootfd, json_t *vmobj, vm_err *err);

/* NICs (ct_net_apply.c): lib/net's plan of vmobj (tags checked, nothing
 * changed) and *peers, the host-side names of the guest ends parallel to
 * vmobj.nics (ct_inputs.nic_peers); plug: leftovers of the VM removed,
 * bridges and filters ready, one veth pair per NIC on its bridge; unplug:
 * everything of the VM removed (errors logged).  ct_net_planp: cleanup. */
int ct_net_prepare(const vm_ctx *ctx, json_t *vmobj, net_plan **plan, json_t **peers, vm_err *err);
int ct_net_plug(const vm_ctx *ctx, const net_plan *plan, vm_err *err);
void ct_net_unplug(const vm_ctx *ctx, const net_plan *plan);
void ct_net_planp(net_plan **p);

#endif
