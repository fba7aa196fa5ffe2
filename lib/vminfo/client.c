/* vminfod client: one-shot GETs and event streams with the waits vmadm's
 * read-after-write contract needs (I18–I21). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "vminfo/http.h"
#include "vminfo/vminfo_client.h"

#define READY_TIMEOUT_MS 30000
#define GET_TIMEOUT_MS 30000
#define PING_TIMEOUT_MS 100

static void http_cleanup(vminfo_http *h)
{
    vminfo_http_close(h);
}
#define cleanup_http __attribute__((cleanup(http_cleanup)))

static int64_t deadline_of(int timeout_ms)
{
    return timeout_ms < 0 ? -1 : now_ms() + timeout_ms;
}

/* Opens `path` and checks status and identity.  The body is left to read. */
static int request(vminfo_http *h, const vm_ctx *ctx, const char *path, const char *name, int64_t deadline, vm_err *err)
{
    cleanup_free char *ua = vminfo_user_agent(name);

    if (vminfo_http_get(h, ctx, path, ua, deadline, err) < 0)
        return -1;
    /* A daemon serving another VMADM_ROOT must never answer for this one. */
    if (!h->root || strcmp(h->root, ctx->root) != 0)
        return vm_err_set(err, VMERR_IO, "vminfod at %s serves another root (%s)", ctx->vminfod_addr,
                          h->root ? h->root : "unknown");
    /* Root (vmadm) must see whole objects — it compares them with what it
     * wrote — so it never uses the redacted TCP view: without the unix
     * socket it reads the config files itself. */
    if (h->redacted && geteuid() == 0)
        return vm_err_set(err, VMERR_IO,
                          "vminfod at %s serves only its redacted view over TCP (root uses %s/vminfod.sock)",
                          ctx->vminfod_addr, ctx->run_dir);
    if (h->status != 200)
        return vm_err_set(err, h->status == 404 ? VMERR_NOTFOUND : VMERR_IO, "bad statusCode: %d", h->status);
    return 0;
}

int vminfo_client_available(const vm_ctx *ctx)
{
    cleanup_http vminfo_http h = VMINFO_HTTP_INIT;
    vm_err err = VM_ERR_INIT;
    int64_t deadline = deadline_of(PING_TIMEOUT_MS);

    if (!ctx->vminfod_addr || !strcmp(ctx->vminfod_addr, "none"))
        return 0;
    if (request(&h, ctx, "/ping", NULL, deadline, &err) < 0 || vminfo_http_read_all(&h, deadline, &err) < 0)
        return 0;
    return h.body.len > 0 && strstr(h.body.data, "pong") != NULL;
}

int vminfo_client_get_json(const vm_ctx *ctx, const char *path, json_t **out, vm_err *err)
{
    cleanup_http vminfo_http h = VMINFO_HTTP_INIT;
    int64_t deadline = deadline_of(GET_TIMEOUT_MS);
    json_error_t je;

    if (request(&h, ctx, path, NULL, deadline, err) < 0 || vminfo_http_read_all(&h, deadline, err) < 0)
        return -1;
    json_t *j = json_loadb(h.body.data ? h.body.data : "", h.body.len, JSON_DECODE_ANY, &je);
    if (!j)
        return vm_err_set(err, VMERR_IO, "vminfod: invalid JSON from %s: %s", path, je.text);
    *out = j;
    return 0;
}

int vminfo_client_get_text(const vm_ctx *ctx, const char *path, int timeout_ms, char **body, size_t *len, vm_err *err)
{
    cleanup_http vminfo_http h = VMINFO_HTTP_INIT;
    int64_t deadline = deadline_of(timeout_ms);

    if (!ctx->vminfod_addr || !strcmp(ctx->vminfod_addr, "none"))
        return vm_err_set(err, VMERR_IO, "vminfod is disabled (VMINFOD_ADDR=none)");
    if (request(&h, ctx, path, NULL, deadline, err) < 0 || vminfo_http_read_all(&h, deadline, err) < 0)
        return -1;
    *len = h.body.len; /* the buffer is always NUL-terminated */
    *body = h.body.data ? h.body.data : xstrdup("");
    h.body = (vminfo_buf){ 0 };
    return 0;
}

int vminfo_client_get_vm(const vm_ctx *ctx, const char *uuid, json_t **out, vm_err *err)
{
    if (!uuid_shape(uuid))
        return vm_err_set(err, VMERR_NOTFOUND, "bad statusCode: 404");
    cleanup_free char *path = xasprintf("/vms/%s", uuid);
    return vminfo_client_get_json(ctx, path, out, err);
}

int vminfo_client_get_vms(const vm_ctx *ctx, json_t **out, vm_err *err)
{
    /* Every VM, the uninventoried too: vmadm's own rules hide them. */
    return vminfo_client_get_json(ctx, "/vms?all=true", out, err);
}

/* ---- matching (I20) ---- */

bool vminfo_obj_same_values(json_t *tmpl, json_t *obj)
{
    if (!tmpl)
        return true;
    if (!obj)
        return false;
    if (json_is_object(tmpl)) {
        const char *k;
        json_t *v;
        if (!json_is_object(obj))
            return false;
        json_object_foreach(tmpl, k, v)
            if (!vminfo_obj_same_values(v, json_object_get(obj, k)))
                return false;
        return true;
    }
    if (json_is_array(tmpl)) {
        size_t i;
        json_t *v;
        if (!json_is_array(obj) || json_array_size(obj) != json_array_size(tmpl))
            return false;
        json_array_foreach(tmpl, i, v)
            if (!vminfo_obj_same_values(v, json_array_get(obj, i)))
                return false;
        return true;
    }
    return json_equal(tmpl, obj);
}

static bool one_change_matches(json_t *wanted, json_t *change)
{
    const char *k;
    json_t *v;

    if (!json_is_object(wanted) || !json_is_object(change))
        return false;
    json_object_foreach(wanted, k, v) {
        json_t *seen = json_object_get(change, k);
        if (!strcmp(k, "path")) {
            size_t i;
            json_t *el;
            if (!json_is_array(v) || !json_is_array(seen) || json_array_size(v) != json_array_size(seen))
                return false;
            json_array_foreach(v, i, el)
                if (!json_is_null(el) && !json_equal(el, json_array_get(seen, i)))
                    return false;
        } else if (!vminfo_obj_same_values(v, seen)) {
            return false;
        }
    }
    return true;
}

bool vminfo_change_matches(json_t *wanted, json_t *change)
{
    if (json_is_array(wanted)) {
        size_t i;
        json_t *alt;
        json_array_foreach(wanted, i, alt)
            if (one_change_matches(alt, change))
                return true;
        return false;
    }
    return one_change_matches(wanted, change);
}

/* ---- streams ---- */

struct vminfo_stream {
    vminfo_http h;
    char *name;
    json_t *first; /* ready / resumed / resync event */
    json_t *vms; /* uuid → current VM object */
};

static void set_vms_from_string(vminfo_stream *s, json_t *str)
{
    cleanup_json json_t *arr = json_is_string(str) ? json_loads(json_string_value(str), JSON_DECODE_ANY, NULL) : NULL;
    size_t i;
    json_t *vm;

    json_object_clear(s->vms);
    json_array_foreach(arr, i, vm) {
        json_t *u = json_object_get(vm, "uuid");
        if (json_is_string(u))
            json_object_set(s->vms, json_string_value(u), vm);
    }
}

static void apply_event(vminfo_stream *s, json_t *ev)
{
    const char *type = json_string_value(json_object_get(ev, "type"));
    const char *uuid = json_string_value(json_object_get(ev, "uuid"));

    if (!type)
        return;
    if (!strcmp(type, "ready") || !strcmp(type, "resync")) {
        set_vms_from_string(s, json_object_get(ev, "vms"));
        return;
    }
    if (!uuid)
        return;
    if (!strcmp(type, "delete")) {
        json_object_del(s->vms, uuid);
    } else if (!strcmp(type, "create") || !strcmp(type, "modify")) {
        json_t *vm = json_object_get(ev, "vm");
        if (vm)
            json_object_set(s->vms, uuid, vm);
    }
}

/* Next line of the stream, parsed, or 0 at the deadline. */
static int read_event(vminfo_stream *s, json_t **ev, int64_t deadline, vm_err *err)
{
    for (;;) {
        char *nl = s->h.body.len ? memchr(s->h.body.data, '\n', s->h.body.len) : NULL;
        if (nl) {
            size_t n = (size_t)(nl - s->h.body.data);
            json_error_t je;
            json_t *j = n ? json_loadb(s->h.body.data, n, 0, &je) : NULL;
            vminfo_buf_consume(&s->h.body, n + 1);
            if (!n)
                continue;
            if (!j)
                return vm_err_set(err, VMERR_IO, "vminfod: invalid event: %s", je.text);
            *ev = j;
            return 1;
        }
        if (s->h.done)
            return vm_err_set(err, VMERR_IO, "VminfodEventStream ended prematurely");
        int r = vminfo_http_read(&s->h, deadline, err);
        if (r <= 0)
            return r;
    }
}

static int stream_start(const vm_ctx *ctx, const char *name, const char *path, vminfo_stream **out, vm_err *err)
{
    vminfo_stream *s = xcalloc(1, sizeof *s);
    json_t *ev = NULL;
    int r;

    s->h = (vminfo_http)VMINFO_HTTP_INIT;
    s->name = xstrdup(name ? name : "vminfo");
    s->vms = json_object();
    int64_t deadline = deadline_of(READY_TIMEOUT_MS);
    if (request(&s->h, ctx, path, s->name, deadline, err) < 0)
        goto fail;
    r = read_event(s, &ev, deadline, err);
    if (r < 0)
        goto fail;
    if (r == 0) {
        vm_err_set(err, VMERR_TIMEOUT, "VminfodEventStream ready timeout (%dms) exceeded", READY_TIMEOUT_MS);
        goto fail;
    }
    apply_event(s, ev);
    s->first = ev;
    *out = s;
    return 0;
fail:
    vminfo_stream_close(s);
    return -1;
}

int vminfo_stream_open(const vm_ctx *ctx, const char *name, vminfo_stream **s, json_t **ready_vms, vm_err *err)
{
    if (stream_start(ctx, name, "/events", s, err) < 0)
        return -1;
    if (ready_vms) {
        json_t *str = json_object_get((*s)->first, "vms");
        json_t *arr = json_is_string(str) ? json_loads(json_string_value(str), JSON_DECODE_ANY, NULL) : NULL;
        *ready_vms = arr ? arr : json_array();
    }
    return 0;
}

int vminfo_stream_open_only(const vm_ctx *ctx, const char *name, const char *const *uuids, vminfo_stream **s,
                            vm_err *err)
{
    cleanup_free char *list = strv_join((char **)uuids, ",");
    cleanup_free char *path = xasprintf("/events?vms=%s", list);
    return stream_start(ctx, name, path, s, err);
}

int vminfo_stream_open_since(const vm_ctx *ctx, const char *name, long long since, vminfo_stream **s, vm_err *err)
{
    cleanup_free char *path = xasprintf("/events?since=%lld", since);
    return stream_start(ctx, name, path, s, err);
}

json_t *vminfo_stream_ready_event(vminfo_stream *s)
{
    return s->first;
}

json_t *vminfo_stream_vm(vminfo_stream *s, const char *uuid)
{
    return json_object_get(s->vms, uuid);
}

static int next_until(vminfo_stream *s, json_t **ev, int64_t deadline, vm_err *err)
{
    int r = read_event(s, ev, deadline, err);
    if (r == 1)
        apply_event(s, *ev);
    return r;
}

int vminfo_stream_next(vminfo_stream *s, json_t **ev, int timeout_ms, vm_err *err)
{
    return next_until(s, ev, deadline_of(timeout_ms), err);
}

static int timeout_err(vminfo_stream *s, const char *what, vm_err *err)
{
    return vm_err_set(err, VMERR_TIMEOUT, "vminfod %s \"%s\" timeout exceeded", what, s->name);
}

int vminfo_stream_wait_event(vminfo_stream *s, json_t *tmpl, int timeout_ms, vm_err *err)
{
    int64_t deadline = deadline_of(timeout_ms);
    for (;;) {
        cleanup_json json_t *ev = NULL;
        int r = next_until(s, &ev, deadline, err);
        if (r < 0)
            return -1;
        if (r == 0)
            return timeout_err(s, "watchForEvent", err);
        if (vminfo_obj_same_values(tmpl, ev))
            return 0;
    }
}

int vminfo_stream_wait_changes(vminfo_stream *s, const char *uuid, json_t *wanted, int timeout_ms, vm_err *err)
{
    int64_t deadline = deadline_of(timeout_ms);
    cleanup_json json_t *left = json_copy(wanted);

    while (json_array_size(left) > 0) {
        cleanup_json json_t *ev = NULL;
        int r = next_until(s, &ev, deadline, err);
        if (r < 0)
            return -1;
        if (r == 0)
            return timeout_err(s, "watchForChanges", err);
        const char *type = json_string_value(json_object_get(ev, "type"));
        const char *u = json_string_value(json_object_get(ev, "uuid"));
        if (!type || strcmp(type, "modify") || (uuid && (!u || strcmp(u, uuid))))
            continue;
        size_t i;
        json_t *c;
        json_array_foreach(json_object_get(ev, "changes"), i, c) {
            for (size_t w = 0; w < json_array_size(left); w++) {
                if (vminfo_change_matches(json_array_get(left, w), c)) {
                    json_array_remove(left, w);
                    break;
                }
            }
        }
    }
    return 0;
}

int vminfo_stream_wait_vm(vminfo_stream *s, const char *uuid, int (*pred)(json_t *vm, void *arg), void *arg,
                          int timeout_ms, vm_err *err)
{
    int64_t deadline = deadline_of(timeout_ms);

    while (!pred(json_object_get(s->vms, uuid), arg)) {
        cleanup_json json_t *ev = NULL;
        int r = next_until(s, &ev, deadline, err);
        if (r < 0)
            return -1;
        if (r == 0)
            return timeout_err(s, "watchForChanges", err);
    }
    return 0;
}

void vminfo_stream_close(vminfo_stream *s)
{
    if (!s)
        return;
    vminfo_http_close(&s->h);
    json_decref(s->first);
    json_decref(s->vms);
    free(s->name);
    free(s);
}
