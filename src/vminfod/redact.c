/* The redacted view vminfod serves over TCP, where any local user can
 * connect: a VM object without its secrets — vnc_password,
 * internal_metadata (served as {}), and every customer_metadata key ending
 * in "_pw"
 * (SmartOS's convention for passwords, e.g. root_pw) — and events whose
 * changes never carry them.  The unix socket (root only) serves everything. */
#include "server_internal.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"

/* Top-level properties never served redacted: vnc_password is left out,
 * internal_metadata served as {} (the shape every VM has). */
static const char *const secret_keys[] = { "vnc_password", "internal_metadata", NULL };

bool vminfod_secret_field(const char *name)
{
    for (size_t i = 0; secret_keys[i]; i++)
        if (!strcmp(name, secret_keys[i]))
            return true;
    return false;
}

static bool is_pw_key(const char *k)
{
    size_t n = strlen(k);
    return n >= 3 && !strcmp(k + n - 3, "_pw");
}

/* Removes the *_pw keys of a customer_metadata object (in place); true if
 * any was there. */
static bool strip_pw(json_t *cm)
{
    bool any = false;
    const char *k;
    json_t *v;
    void *tmp;
    if (!json_is_object(cm))
        return false;
    json_object_foreach_safe(cm, tmp, k, v) {
        if (is_pw_key(k)) {
            json_object_del(cm, k);
            any = true;
        }
    }
    return any;
}

static bool has_secrets(json_t *vm)
{
    if (!json_is_object(vm))
        return false;
    if (json_object_get(vm, "vnc_password"))
        return true;
    json_t *im = json_object_get(vm, "internal_metadata");
    if (im && !(json_is_object(im) && json_object_size(im) == 0))
        return true;
    json_t *cm = json_object_get(vm, "customer_metadata");
    const char *k;
    json_t *v;
    if (json_is_object(cm))
        json_object_foreach(cm, k, v)
            if (is_pw_key(k))
                return true;
    return false;
}

json_t *vminfod_redact_vm(json_t *vm)
{
    if (!has_secrets(vm))
        return NULL;
    json_t *r = json_deep_copy(vm);
    json_object_del(r, "vnc_password");
    if (json_object_get(r, "internal_metadata"))
        json_object_set_new(r, "internal_metadata", json_object());
    strip_pw(json_object_get(r, "customer_metadata"));
    return r;
}

/* A change object: -1 to drop it (it is about a secret), else 0 with its
 * values redacted in place when they contain secrets. */
static int redact_change(json_t *c)
{
    json_t *path = json_object_get(c, "path");
    size_t n = json_array_size(path);
    const char *p0 = n ? json_string_value(json_array_get(path, 0)) : NULL;
    const char *p1 = n > 1 ? json_string_value(json_array_get(path, 1)) : NULL;
    static const char *const vals[] = { "oldValue", "newValue", NULL };

    if (p0 && vminfod_secret_field(p0))
        return -1;
    if (p0 && !strcmp(p0, "customer_metadata") && (n == 1 || (p1 && is_pw_key(p1)))) {
        if (n > 1)
            return -1;
        for (size_t i = 0; vals[i]; i++)
            strip_pw(json_object_get(c, vals[i]));
    } else if (n == 0) {
        for (size_t i = 0; vals[i]; i++) {
            json_t *v = json_object_get(c, vals[i]);
            json_t *r = v ? vminfod_redact_vm(v) : NULL;
            if (r)
                json_object_set_new(c, vals[i], r);
        }
    }
    return 0;
}

json_t *vminfod_redact_event(json_t *ev)
{
    json_t *vm = json_object_get(ev, "vm");
    json_t *changes = json_object_get(ev, "changes");
    bool touch = has_secrets(vm);
    size_t i;
    json_t *c;

    json_array_foreach(changes, i, c) {
        json_t *p = json_object_get(c, "path");
        const char *p0 = json_string_value(json_array_get(p, 0));
        if (json_array_size(p) == 0 || (p0 && (vminfod_secret_field(p0) || !strcmp(p0, "customer_metadata"))))
            touch = true;
    }
    if (!touch)
        return NULL;
    json_t *r = json_deep_copy(ev);
    json_t *rvm = vm ? vminfod_redact_vm(vm) : NULL;
    if (rvm)
        json_object_set_new(r, "vm", rvm);
    json_t *rc = json_object_get(r, "changes");
    for (i = 0; i < json_array_size(rc);) {
        if (redact_change(json_array_get(rc, i)) < 0)
            json_array_remove(rc, i);
        else
            i++;
    }
    return r;
}

void vminfod_vment_redact(json_t *vm, struct vment *e)
{
    free(e->rtext);
    e->rtext = NULL;
    e->rlen = 0;
    cleanup_json json_t *r = vm ? vminfod_redact_vm(vm) : NULL;
    if (r) {
        e->rtext = json_compact(r);
        e->rlen = strlen(e->rtext);
    }
}
