/* The context every tool builds once from its environment and passes down.
 * It holds where all state lives; nothing else in the library reads the
 * environment, so tests and two "hosts" can share one machine by giving each
 * its own VMADM_ROOT.
 *
 * Layout under root (documented here, owned by the module named; modes in
 * brackets, root-owned — they keep VM secrets such as vnc_password and
 * metadata from local users):
 *   etc/vms/                      [0700]
 *   etc/vms/<uuid>/vm.json        VM config [0600]              (lib/vm/store)
 *   etc/vms/<uuid>/journal.json   pending multi-file update     (lib/vm/store)
 *   etc/vms/.creating-<uuid>/     create not yet committed      (lib/vm/store)
 *   etc/vms/.deleting-<uuid>/     delete committed, not cleaned (lib/vm/store)
 *   var/lock/<uuid>.lock          per-VM flock                  (lib/common/lock)
 *   etc/hvm-paths.allow           host dirs HVM disks may use   (lib/hv)
 *   etc/ct-idmap/<slot> -> <uuid> a container's host id range    (lib/ct)
 *   etc/allow-privileged-containers  opt-in for "privileged"     (lib/ct)
 *   etc/nictags.json              nic tags [0600]                (lib/net)
 *   etc/zones/<uuid>.xml          zone index for Triton's agents (lib/vm/store)
 *   var/vmstore/<pool>/           storage metadata + data       (lib/storage)
 *   <pool>/...                    mount view: filesystem datasets (lib/storage)
 *   var/imgadm/                   image manifests               (lib/image)
 *   var/cache/                    host probes (kvm)             (lib/hv)
 *   var/log/vmadm.log             JSON-lines log [0600]
 *   run/vms/                      [0711]: traversable, not listable
 *   run/vms/<uuid>/               runtime: qmp, serial, pid [0700] (lib/hv, lib/ct)
 *   run/vms/<uuid>/zonecontrol/metadata.sock  a container's metadata
 *                                 socket [dir 0711, socket 0666] (vminfod)
 *   run/vms/<uuid>/mdata.sock     an HVM's COM2 metadata socket [0600] (lib/hv)
 *   run/vms/<uuid>/cidata.iso     NoCloud seed, rewritten at each start [0600] (lib/hv)
 *   run/vminfod.sock              vminfod unix socket [0600]    (lib/vminfo)
 */
#ifndef VM_CTX_H
#define VM_CTX_H

#include "common/err.h"

typedef struct vm_ctx {
    char *root; /* VMADM_ROOT, default /var/lib/vmadm */
    char *pool; /* default pool name, VMADM_POOL or "zones" */
    char *etc_dir; /* root/etc/vms */
    char *lock_dir; /* root/var/lock */
    char *run_dir; /* root/run */
    char *log_path; /* root/var/log/vmadm.log */
    char *vminfod_addr; /* VMINFOD_ADDR host:port, default 127.0.0.1:9090; "none" disables */
    int accel; /* VM_ACCEL_AUTO/KVM/TCG from VMADM_ACCEL */
} vm_ctx;

enum { VM_ACCEL_AUTO = 0, VM_ACCEL_KVM, VM_ACCEL_TCG };

/* Reads VMADM_ROOT, VMADM_POOL, VMADM_ACCEL, VMINFOD_ADDR and creates the base
 * directories (tightening etc/vms and run/vms to the modes above). */
int vm_ctx_init(vm_ctx *ctx, vm_err *err);
void vm_ctx_free(vm_ctx *ctx);

/* Convenience path builders (caller frees). */
char *vm_ctx_vm_dir(const vm_ctx *ctx, const char *uuid);
char *vm_ctx_vm_rundir(const vm_ctx *ctx, const char *uuid);

/* Notices: what an operation wants its operator to know without failing
 * (e.g. "this change applies at the next start").  vm_notice logs the
 * message ("info") and hands it to the process's notice function, which a
 * front end sets (vmadm prints it on stderr); libraries never print. */
typedef void (*vm_notice_fn)(const char *msg);
void vm_set_notice_fn(vm_notice_fn fn);
void vm_notice(const vm_ctx *ctx, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Appends one JSON-lines record to the log; never fails the caller. */
void vm_log(const vm_ctx *ctx, const char *level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
