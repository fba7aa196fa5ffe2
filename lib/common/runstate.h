/* What a hypervisor (lib/hv) or container runtime (lib/ct) reports about a
 * VM's process.  Derived from the real process (pidfd/proc + runtime files
 * under run/vms/<uuid>/), never from what vmadm last wrote, and cheap: no
 * fork, no QMP round trip, so `vmadm list` can call it for every VM.
 *
 * Runtime directory contract (run/vms/<uuid>/), shared by lib/hv and lib/ct
 * and watched by vminfod:
 *   pid          decimal pid of the VM process (QEMU / container init)
 *   boot         boot time, ms since epoch
 *   lastexited   "<epoch-secs> <status>" written when the process ended
 *                (status: exit code, or -signal), SmartOS's lastexited
 *   state        optional while transitioning: "shutting_down <pid of the
 *                stopper>", stale (ignored) once that process is gone
 *   accel        "kvm" or "tcg" (HVM only)
 * A pid whose process is gone, or belongs to another program (stale after a
 * host crash), is cleaned up and reported as not running.  common/proc.h
 * reads and writes these files for both runtimes. */
#ifndef VM_RUNSTATE_H
#define VM_RUNSTATE_H

#include <stdint.h>

typedef struct vm_runstate {
    int running; /* process alive */
    char zone_state[16]; /* "running", "shutting_down", "installed" */
    int pid; /* 0 when not running */
    int64_t boot_ms; /* 0 when not running */
    int has_exit; /* lastexited present and not running */
    int exit_status;
    int64_t exit_ms;
    char accel[8]; /* HVM: "kvm" or "tcg" while running */
    char warning[256]; /* e.g. TCG fallback warning; "" if none */
} vm_runstate;

#endif
