/* `vmadm disks`: the disk view CloudAPI's GetMachineDisks gives (issue
 * "Flexible disks" §6): per disk its slot name, boot flag, image, size and
 * snapshot usage, plus the VM's total and free space, all in MiB. */
#include <string.h>

#include "common/units.h"
#include "common/util.h"
#include "storage/storage.h"
#include "vm/disks.h"
#include "vm/vm.h"
#include "vm/vmobj.h"

int vm_disk_view(const vm_ctx *ctx, const char *uuid, json_t **out, vm_err *err)
{
    cleanup_json json_t *obj = NULL;
    cleanup_vs_pool vs_pool *pool = NULL;
    if (vmobj_load(ctx, uuid, &obj, err) < 0)
        return -1;
    const char *poolname = json_string_value(json_object_get(obj, "zpool"));
    if (vs_pool_open(ctx, poolname, &pool, err) < 0)
        return -1;
    json_t *list = json_array();
    int64_t sum = 0, snaps = 0;
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(obj, "disks"), i, d) {
        const char *path = json_string_value(json_object_get(d, "path"));
        const char *slash = path ? strrchr(path, '/') : NULL;
        const char *ds = vm_disk_dataset(d);
        int64_t snap = 0, size = json_integer_value(json_object_get(d, "size"));
        vm_err e2 = VM_ERR_INIT;
        if (ds)
            vs_get_int(pool, ds, "usedbysnapshots", &snap, &e2);
        if (snap < 0)
            snap = 0;
        json_t *x = json_object();
        json_object_set_new(x, "slot", json_string(ds && slash ? slash + 1 : (path ? path : "-")));
        json_object_set(x, "uuid", json_object_get(d, "uuid"));
        json_object_set_new(x, "boot", json_boolean(json_is_true(json_object_get(d, "boot"))));
        json_t *img = json_object_get(d, "image_uuid");
        json_object_set(x, "image", img ? img : json_null());
        json_object_set_new(x, "size", json_integer(size));
        json_object_set_new(x, "snapshot_size", json_integer(snap / VM_MiB));
        json_object_set(x, "pci_slot", json_object_get(d, "pci_slot"));
        json_object_set(x, "model", json_object_get(d, "model"));
        json_object_set(x, "media", json_object_get(d, "media"));
        json_array_append_new(list, x);
        if (ds) {
            sum += size;
            snaps += snap / VM_MiB;
        }
    }
    json_t *fds = json_object_get(obj, "flexible_disk_size");
    json_t *v = json_object();
    json_object_set_new(v, "disks", list);
    json_object_set_new(v, "total_space", json_integer(json_is_integer(fds) ? json_integer_value(fds) : sum + snaps));
    json_t *fs = json_object_get(obj, "free_space");
    json_object_set_new(v, "free_space", json_integer(json_is_integer(fs) ? json_integer_value(fs) : 0));
    *out = v;
    return 0;
}
