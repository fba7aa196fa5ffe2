/* Writing the NoCloud seed image before QEMU starts (hv_internal.h). */
#include "hv/hv_internal.h"

#include <errno.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "hv/argv_internal.h"
#include "mdata/nocloud.h"

int hv_nocloud_prepare(const char *rundir, json_t *vmobj, vm_err *err)
{
    cleanup_free char *path = xasprintf("%s/%s", rundir, HV_NOCLOUD_SEED);
    if (!json_is_true(json_object_get(vmobj, "nocloud"))) {
        if (unlink(path) < 0 && errno != ENOENT)
            return vm_err_sys(err, errno, "cannot remove %s", path);
        return 0;
    }
    cleanup_free char *img = NULL;
    size_t len;
    if (mdata_nocloud_image(vmobj, time(NULL), &img, &len, err) < 0) {
        vm_err_prefix(err, "cannot build the NoCloud seed: ");
        return -1;
    }
    /* tmp + rename: a crash never leaves half a seed. */
    return write_file_atomic(path, img, len, 0600, err);
}
