/* vminfo ping, vms and vm <uuid>: one GET each, printed. */
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "vminfo/vminfo_client.h"
#include "vminfo_cli.h"

/* Path segment with everything but unreserved characters percent-encoded. */
static char *url_segment(const char *s)
{
    char *o = xmalloc(strlen(s) * 3 + 1), *p = o;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-._~", c))
            *p++ = (char)c;
        else
            p += sprintf(p, "%%%02X", c);
    }
    *p = '\0';
    return o;
}

int vminfo_cmd_ping(const vm_ctx *ctx, int argc, char **argv)
{
    vm_err err = VM_ERR_INIT;
    cleanup_json json_t *j = NULL;

    (void)argc;
    (void)argv;
    if (vminfo_client_get_json(ctx, "/ping", &j, &err) < 0)
        return vminfo_fail(&err);
    printf("%s\n", vminfo_jstr(j, "ping", "undefined"));
    return 0;
}

int vminfo_cmd_vms(const vm_ctx *ctx, int argc, char **argv)
{
    vm_err err = VM_ERR_INIT;
    cleanup_json json_t *j = NULL;

    (void)argc;
    (void)argv;
    return vminfo_client_get_vms(ctx, &j, &err) < 0 ? vminfo_fail(&err) : vminfo_print_pretty(j);
}

/* argv[1]: the VM (checked present by the dispatcher). */
int vminfo_cmd_vm(const vm_ctx *ctx, int argc, char **argv)
{
    vm_err err = VM_ERR_INIT;
    cleanup_json json_t *j = NULL;
    cleanup_free char *seg = url_segment(argv[1]);
    cleanup_free char *path = xasprintf("/vms/%s", seg);

    (void)argc;
    return vminfo_client_get_json(ctx, path, &j, &err) < 0 ? vminfo_fail(&err) : vminfo_print_pretty(j);
}
