/* Metadata socket bind mounts (ct_mdata.h). */
#include "ct/ct_mdata.h"

#include <string.h>

#include "common/util.h"
#include "mdata/paths.h"

int ct_mdata_mounts(json_t *items, const ct_inputs *in, vm_err *err)
{
    if (strpbrk(in->rundir, " \t\\"))
        return vm_err_set(err, VMERR_INVALID, "runtime directory %s cannot be bind-mounted (blanks or backslashes)",
                          in->rundir);
    static const char *const targets[] = { ".zonecontrol", "native/.zonecontrol" };
    for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
        cleanup_free char *v =
            xasprintf("%s/%s %s none bind,ro,optional,create=dir 0 0", in->rundir, MDATA_CT_DIR, targets[i]);
        json_array_append_new(items, json_pack("[ss]", "lxc.mount.entry", v));
    }
    return 0;
}
