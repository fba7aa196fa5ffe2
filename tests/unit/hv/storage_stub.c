/* Linked only while lib/storage is still a placeholder (no storage_lib):
 * lets lib/hv's tests build; disks in these tests use plain paths. */
#include "common/util.h"
#include "storage/storage.h"

int vs_vol_path(vs_pool *pool, const char *name, char **path, vm_err *err)
{
    (void)pool;
    (void)path;
    return vm_err_set(err, VMERR_UNSUPPORTED, "storage layer not built: cannot resolve %s", name);
}
