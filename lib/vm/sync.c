#include "vm/sync.h"

#include <string.h>

#include "common/util.h"
#include "vm/vmobj.h"
#include "vminfo/vminfo_client.h"

struct vm_sync {
    const vm_ctx *ctx;
    vminfo_stream *stream;
    char *name;
};

vm_sync *vm_sync_begin(const vm_ctx *ctx, const char *name, const char *uuid)
{
    vm_sync *s = xcalloc(1, sizeof *s);
    vm_err e = VM_ERR_INIT;
    /* A uuid that is no VM's (bad shape) watches nothing from the start. */
    const char *only[2] = { uuid && uuid_valid(uuid) ? uuid : NULL, NULL };
    s->ctx = ctx;
    s->name = xstrdup(name);
    if (vminfo_client_available(ctx) && vminfo_stream_open_only(ctx, name, only, &s->stream, &e) < 0)
        s->stream = NULL;
    return s;
}

/* Runtime fields move on their own (a guest may power off meanwhile); the
 * write is visible once everything else matches. */
static const char *const volatile_keys[] = { "state",          "zone_state",  "pid",
                                             "boot_timestamp", "exit_status", "exit_timestamp",
                                             "last_modified",  "snapshots",   "accel",
                                             "warning",        NULL };

static void strip_volatile(json_t *o)
{
    for (size_t i = 0; volatile_keys[i]; i++)
        json_object_del(o, volatile_keys[i]);
}

struct want {
    json_t *obj; /* NULL: deleted */
};

static int matches(json_t *vm, void *arg)
{
    struct want *w = arg;
    if (!w->obj)
        return vm == NULL;
    if (!vm)
        return 0;
    json_t *c = json_dup(vm);
    strip_volatile(c);
    int eq = json_equal(c, w->obj);
    json_decref(c);
    return eq;
}

int vm_sync_wait(vm_sync *s, const char *uuid, int timeout_ms, vm_err *err)
{
    if (!s || !s->stream)
        return 0;
    struct want w = { NULL };
    vm_err e = VM_ERR_INIT;
    if (vmobj_load(s->ctx, uuid, &w.obj, &e) == 0)
        strip_volatile(w.obj);
    else
        w.obj = NULL;
    int r = vminfo_stream_wait_vm(s->stream, uuid, matches, &w, timeout_ms, err);
    if (r < 0 && err && err->code == VMERR_TIMEOUT)
        vm_err_set(err, VMERR_TIMEOUT, "vminfod watchForChanges \"%s\" timeout exceeded", s->name);
    json_decref(w.obj);
    return r < 0 ? -1 : 0;
}

void vm_sync_end(vm_sync *s)
{
    if (!s)
        return;
    if (s->stream)
        vminfo_stream_close(s->stream);
    free(s->name);
    free(s);
}
