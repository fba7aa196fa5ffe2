/* The growable argv the QEMU command line is built in. */
#include "hv/argv_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "common/util.h"
#include <jansson.h>

static void add_owned(hv_argv *a, char *owned)
{
    if (a->n + 2 > a->cap) {
        a->cap = a->cap ? a->cap * 2 : 64;
        a->v = xrealloc(a->v, a->cap * sizeof *a->v);
    }
    a->v[a->n++] = owned;
    a->v[a->n] = NULL;
}

static __attribute__((format(printf, 1, 0))) char *vformat(const char *fmt, va_list ap)
{
    char *s = NULL;
    if (vasprintf(&s, fmt, ap) < 0)
        abort(); /* out of memory: as xmalloc */
    return s;
}

void argv_add(hv_argv *a, const char *arg)
{
    add_owned(a, xstrdup(arg));
}

void argv_addf(hv_argv *a, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    add_owned(a, vformat(fmt, ap));
    va_end(ap);
}

void argv_optf(hv_argv *a, const char *opt, const char *fmt, ...)
{
    va_list ap;
    argv_add(a, opt);
    va_start(ap, fmt);
    add_owned(a, vformat(fmt, ap));
    va_end(ap);
}

char **argv_steal(hv_argv *a)
{
    char **v = steal_ptr(a->v);
    a->n = a->cap = 0;
    return v;
}

void argv_free(hv_argv *a)
{
    strv_free(argv_steal(a));
}

char *qemu_opt_escape(const char *s)
{
    size_t n = 0;
    for (const char *p = s; *p; p++)
        n += *p == ',' ? 2 : 1;
    char *out = xmalloc(n + 1), *o = out;
    for (const char *p = s; *p; p++) {
        *o++ = *p;
        if (*p == ',')
            *o++ = ',';
    }
    *o = '\0';
    return out;
}

int hv_fd_add(hv_fdplan *p, const char *kind, const char *path, const char *dir)
{
    json_t *e = json_pack("{s:s,s:s}", "kind", kind, "path", path);
    if (dir)
        json_object_set_new(e, "dir", json_string(dir));
    json_array_append_new(p->fds, e);
    return HV_FD_BASE + (int)json_array_size(p->fds) - 1;
}

void argv_add_fd(hv_argv *a, hv_fdplan *p, int set, const char *kind, const char *path, const char *dir,
                 const char *opaque)
{
    int fd = hv_fd_add(p, kind, path, dir);
    cleanup_free char *o = qemu_opt_escape(opaque);
    argv_optf(a, "-add-fd", "fd=%d,set=%d,opaque=%s", fd, set, o);
}
