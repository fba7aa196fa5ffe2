#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "net/nictag.h"
#include "vmtest.h"

int vmt_root_setup(vmt_root *r, const char *tag)
{
    snprintf(r->root, sizeof r->root, "/tmp/vmt-unit-%s.XXXXXX", tag);
    if (!mkdtemp(r->root))
        return -1;
    setenv("VMADM_ROOT", r->root, 1);
    setenv("VMINFOD_ADDR", "none", 1);
    unsetenv("VMADM_POOL");
    vm_err err = VM_ERR_INIT;
    if (vm_ctx_init(&r->ctx, &err) < 0) {
        fprintf(stderr, "vm_ctx_init: %s\n", err.msg);
        return -1;
    }
    return 0;
}

void vmt_root_teardown(vmt_root *r)
{
    rm_rf(r->root, NULL);
    vm_ctx_free(&r->ctx);
}

json_t *vmt_json(const char *s)
{
    json_error_t e;
    json_t *j = json_loads(s, 0, &e);
    if (!j)
        fail_msg("bad test JSON %s: %s", s, e.text);
    return j;
}

int vmt_root_tags(vmt_root *r)
{
    /* Bridges that are never made: these tests do not start real VMs. */
    net_tag admin = { .name = "admin", .bridge = "vtadmin", .local = true };
    net_tag ext = { .name = "external", .bridge = "vtexternal", .local = true };
    vm_err err = VM_ERR_INIT;
    if (net_tag_put(&r->ctx, &admin, false, &err) < 0 || net_tag_put(&r->ctx, &ext, false, &err) < 0) {
        fprintf(stderr, "net_tag_put: %s\n", err.msg);
        return -1;
    }
    return 0;
}

char *vmt_take_log(vmt_root *r)
{
    cleanup_free char *path = xasprintf("%s/fake-runtime.log", r->root);
    char *buf = NULL;
    size_t len;
    if (read_file(path, &buf, &len, NULL) < 0)
        buf = xstrdup("");
    unlink(path);
    return buf;
}
