/* vminfo events [-jfr]: follows vminfod's /events, one line per event. */
#include <stdio.h>
#include <stdlib.h>

#include "common/util.h"
#include "vminfo/vminfo_client.h"
#include "vminfo_cli.h"

int vminfo_cmd_events(const vm_ctx *ctx, int argc, char **argv)
{
    int fl[3] = { 0, 0, 0 }; /* f, j, r */
    vm_err err = VM_ERR_INIT;
    vminfo_stream *s = NULL;
    const char *envname = getenv("VMINFOD_NAME");
    cleanup_free char *name = envname && *envname ? xasprintf("%s (Vminfod CLI)", envname) : xstrdup("Vminfod CLI");

    if (vminfo_parse_flags(argc, argv, "fjr", fl) < 0) {
        vminfo_usage(NULL);
        return 1;
    }
    int flags = (fl[0] ? VMINFO_FMT_FULL : 0) | (fl[1] ? VMINFO_FMT_JSON : 0);
    if (vminfo_stream_open(ctx, name, &s, NULL, &err) < 0)
        return vminfo_fail(&err);
    if (fl[2]) {
        cleanup_free char *line = vminfo_format_event(vminfo_stream_ready_event(s), flags);
        fputs(line, stdout);
        fflush(stdout);
    }
    for (;;) {
        cleanup_json json_t *ev = NULL;
        int r = vminfo_stream_next(s, &ev, -1, &err);
        if (r < 0)
            break;
        if (r == 0)
            continue;
        cleanup_free char *line = vminfo_format_event(ev, flags);
        fputs(line, stdout);
        fflush(stdout);
    }
    vminfo_stream_close(s);
    return vminfo_fail(&err);
}
