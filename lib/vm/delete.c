/* vmadm delete (C16): refuse indestructible VMs, force-stop, hide the VM
 * (commit), then destroy every dataset and volume it had.  Reports success
 * only when the storage is really gone; destroy works on a full pool
 * (lib/storage's reserve). */
#include <string.h>

#include "common/lock.h"
#include "common/util.h"
#include "storage/storage.h"
#include "vm/props.h"
#include "vm/runtime.h"
#include "vm/store.h"
#include "vm/validate.h"
#include "vm/vm.h"
#include "vm/vm_internal.h"

int vm_delete(const vm_ctx *ctx, const char *uuid, vm_err *err)
{
    cleanup_lock vm_lock lk = VM_LOCK_INIT;
    cleanup_json json_t *cfg = NULL;
    cleanup_vs_pool vs_pool *pool = NULL;

    if (vm_lock_acquire(ctx, uuid, -1, &lk, err) < 0 || vm_load_locked(ctx, uuid, &cfg, err) < 0)
        return -1;
    const char *poolname = json_string_value(json_object_get(cfg, "zpool"));
    if (vs_pool_open(ctx, poolname, &pool, err) < 0)
        return -1;
    cleanup_free char *ds = xasprintf("%s/%s", vs_pool_name(pool), uuid);
    cleanup_free char *data = xasprintf("%s/data", ds);
    if (vm_is_indestructible(pool, ds))
        return vm_err_set(err, VMERR_BUSY, "indestructible_zoneroot is set, cannot delete");
    if (vm_is_indestructible(pool, data))
        return vm_err_set(err, VMERR_BUSY, "indestructible_delegated is set, cannot delete");
    vm_err se = VM_ERR_INIT;
    if (vm_stop_locked(ctx, uuid, cfg, 1, 0, false, &se) < 0 && se.code != VMERR_STATE && se.code != VMERR_ALREADY) {
        *err = se;
        return -1;
    }
    if (vm_store_begin_delete(ctx, uuid, err) < 0)
        return -1;
    /* Success only when the storage is really gone (a full pool, a busy
     * mount): otherwise "Failed to delete VM" with the cause.  The VM is
     * hidden already; vmadm's next command retries the cleanup. */
    if (vm_store_finish_delete(ctx, uuid, err) < 0) {
        vm_log(ctx, "error", "VM %s: delete cleanup incomplete: %s", uuid, err->msg);
        vm_err_prefix(err, "storage not freed (vmadm retries on its next command): ");
        return -1;
    }
    if (vs_exists(pool, ds)) {
        vm_log(ctx, "error", "VM %s: dataset %s still exists after delete", uuid, ds);
        return vm_err_set(err, VMERR_IO, "storage not freed: dataset %s still exists", ds);
    }
    /* What the runtime kept for the VM across starts goes too. */
    const vm_runtime *rt = vm_runtime_of(cfg);
    vm_err fe = VM_ERR_INIT;
    if (rt->forget && rt->forget(ctx, uuid, &fe) < 0)
        vm_log(ctx, "warn", "VM %s: %s", uuid, fe.msg);
    vm_log(ctx, "info", "VM %s deleted", uuid);
    return 0;
}

json_t *vm_validate_payload(const vm_ctx *ctx, const char *action, const char *brand, json_t *payload)
{
    (void)ctx;
    /* No coercion here: a non-numeric integer is reported by name in
     * bad_values, as SmartOS's validate does. */
    return vm_validate(brand, action, payload);
}
