/* vmadm events [-fjr] [uuid]: vminfod's change stream. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vminfo/vminfo_client.h"
#include "vmadm.h"

int cmd_events(const vm_ctx *ctx, args *a)
{
    const char *uuid = a->npos > 0 && uuid_shape(a->pos[0]) ? a->pos[0] : NULL;
    vm_err e = VM_ERR_INIT;
    vminfo_stream *s = NULL;
    if (!vminfo_client_available(ctx)) {
        fprintf(stderr, "vminfod is not running (start it with: vminfod)\n");
        return 1;
    }
    if (vminfo_stream_open(ctx, "vmadm events", &s, NULL, &e) < 0)
        return fail(&e);
    if (uuid && !vminfo_stream_vm(s, uuid)) {
        vminfo_stream_close(s);
        fprintf(stderr, "VM %s not found\n", uuid);
        return 1;
    }
    int flags = (a->full ? 1 : 0) | (a->j ? 2 : 0);
    if (a->r) {
        cleanup_free char *line = vminfo_format_event(vminfo_stream_ready_event(s), flags);
        if (line)
            fputs(line, stdout);
        fflush(stdout);
    }
    for (;;) {
        json_t *ev = NULL;
        int r = vminfo_stream_next(s, &ev, -1, &e);
        if (r < 0) {
            vminfo_stream_close(s);
            return fail(&e);
        }
        if (r == 0)
            continue;
        const char *eu = json_string_value(json_object_get(ev, "uuid"));
        if (!uuid || (eu && !strcmp(eu, uuid))) {
            cleanup_free char *line = vminfo_format_event(ev, flags);
            if (line)
                fputs(line, stdout);
            fflush(stdout);
        }
        json_decref(ev);
    }
}
