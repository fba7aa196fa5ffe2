/* Event lines of `vmadm events` / `vminfo events` (C44–C46), shared so the
 * two commands cannot drift apart. */
#include <stdlib.h>
#include <string.h>

#include "common/escape.h"
#include "common/util.h"
#include "vminfo/vminfo_client.h"

static const char *str_or(json_t *o, const char *key, const char *dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : dflt;
}

/* "2019-05-23T15:54:24.802Z" → "15:54:24.802Z" unless full. */
static const char *fmt_date(const char *date, int flags)
{
    const char *t = strchr(date, 'T');
    return (flags & VMINFO_FMT_FULL) || !t ? date : t + 1;
}

/* Aliases longer than 30 characters are cut to 27 + "..." (counted in
 * characters, not bytes, so UTF-8 is never split). */
static char *fmt_alias(const char *raw)
{
    cleanup_free char *esc = vm_cell_escape(raw);
    const char *alias = esc ? esc : raw;
    size_t chars = 0, cut = 0;
    for (const char *p = alias; *p; p++) {
        if (((unsigned char)*p & 0xC0) == 0x80)
            continue;
        if (chars == 27)
            cut = (size_t)(p - alias);
        chars++;
    }
    if (chars <= 30)
        return xstrdup(alias);
    return xasprintf("%.*s...", (int)cut, alias);
}

static char *value_text(json_t *c, const char *key)
{
    json_t *v = json_object_get(c, key);
    return v ? json_compact(v) : xstrdup("undefined");
}

/* The ready event's "vms" is the VM array as a string (I9); -j shows it as an
 * object keyed by zonename (C46). */
static char *format_ready_json(json_t *ev)
{
    cleanup_json json_t *copy = json_copy(ev);
    json_t *vms = json_object_get(ev, "vms");

    if (json_is_string(vms)) {
        cleanup_json json_t *arr = json_loads(json_string_value(vms), JSON_DECODE_ANY, NULL);
        json_t *byname = json_object();
        size_t i;
        json_t *vm;
        json_array_foreach(arr, i, vm) {
            const char *zn = str_or(vm, "zonename", str_or(vm, "uuid", NULL));
            if (zn)
                json_object_set(byname, zn, vm);
        }
        json_object_set_new(copy, "vms", byname);
    }
    cleanup_free char *s = json_compact(copy);
    return xasprintf("%s\n", s);
}

char *vminfo_format_event(json_t *ev, int flags)
{
    const char *type = str_or(ev, "type", "unknown");
    const char *date = fmt_date(str_or(ev, "date", ""), flags);

    if (!strcmp(type, "ready")) {
        if (flags & VMINFO_FMT_JSON)
            return format_ready_json(ev);
        if (flags & VMINFO_FMT_FULL)
            return xasprintf("[%s] ready (uuid %s)\n", date, str_or(ev, "uuid", ""));
        return xasprintf("[%s] ready\n", date);
    }
    if (flags & VMINFO_FMT_JSON) {
        cleanup_free char *s = json_compact(ev);
        return xasprintf("%s\n", s);
    }
    if (!strcmp(type, "resync") || !strcmp(type, "resumed")) {
        json_t *since = json_object_get(ev, "since");
        return xasprintf("[%s] %s (since %lld)\n", date, type, (long long)json_integer_value(since));
    }

    const char *zonename = str_or(ev, "zonename", str_or(ev, "uuid", "-"));
    cleanup_free char *zn = xstrdup(zonename);
    if (!(flags & VMINFO_FMT_FULL)) {
        char *dash = strchr(zn, '-');
        if (dash)
            *dash = '\0';
    }
    cleanup_free char *alias = fmt_alias(str_or(json_object_get(ev, "vm"), "alias", "-"));
    if (!*alias) {
        free(alias);
        alias = xstrdup("-");
    }
    cleanup_free char *base = xasprintf("[%s] %s %s %s", date, zn, alias, type);

    json_t *changes = json_object_get(ev, "changes");
    if (!json_is_array(changes))
        return xasprintf("%s\n", base);

    /* One line per change; an empty list prints nothing, as SmartOS does. */
    size_t cap = 256, n = 0, i;
    char *out = xmalloc(cap);
    json_t *c;
    out[0] = '\0';
    json_array_foreach(changes, i, c) {
        cleanup_free char *o = value_text(c, "oldValue");
        cleanup_free char *nv = value_text(c, "newValue");
        cleanup_free char *path = vm_cell_escape(str_or(c, "prettyPath", ""));
        cleanup_free char *line = xasprintf("%s: %s %s :: %s -> %s\n", base, path ? path : str_or(c, "prettyPath", ""),
                                            str_or(c, "action", ""), o, nv);
        size_t l = strlen(line);
        if (n + l + 1 > cap) {
            cap = (n + l + 1) * 2;
            out = xrealloc(out, cap);
        }
        memcpy(out + n, line, l + 1);
        n += l;
    }
    return out;
}
