/* Metadata key policy (keys.h). */
#include "mdata/keys.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

/* The "<ns>" of key when it is listed in internal_metadata_namespaces. */
static const char *internal_ns(json_t *vm, const char *key, char *buf, size_t size)
{
    const char *colon = strchr(key, ':');
    json_t *nss = json_object_get(vm, "internal_metadata_namespaces");
    if (!colon || !json_is_array(nss) || (size_t)(colon - key) >= size)
        return NULL;
    memcpy(buf, key, (size_t)(colon - key));
    buf[colon - key] = '\0';
    size_t i;
    json_t *ns;
    json_array_foreach(nss, i, ns)
        if (json_is_string(ns) && !strcmp(json_string_value(ns), buf))
            return buf;
    return NULL;
}

static bool is_pw(const char *key)
{
    return str_has_suffix(key, "_pw");
}

/* A scalar as SmartOS's agent returns it (see keys.h). */
static int scalar(json_t *v, char **out, size_t *outlen)
{
    if (!v || json_is_null(v))
        return MDATA_R_NOTFOUND;
    if (json_is_string(v)) {
        *outlen = json_string_length(v);
        *out = xstrndup(json_string_value(v), *outlen);
        return MDATA_R_SUCCESS;
    }
    if (json_is_number(v) || json_is_boolean(v)) {
        *out = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        *outlen = strlen(*out);
        return MDATA_R_SUCCESS;
    }
    return MDATA_R_FAILURE;
}

static int json_text(json_t *v, char **out, size_t *outlen)
{
    *out = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_PRESERVE_ORDER);
    *outlen = strlen(*out);
    return MDATA_R_SUCCESS;
}

/* sdc:routes: {"dst": "gw" | "nics[N]"} as the agent's list. */
static int routes(json_t *vm, char **out, size_t *outlen)
{
    cleanup_json json_t *list = json_array();
    json_t *nics = json_object_get(vm, "nics");
    const char *dst;
    json_t *gw;
    json_object_foreach(json_object_get(vm, "routes"), dst, gw) {
        const char *g = json_string_value(gw);
        if (!g)
            continue;
        char *e = NULL;
        unsigned long idx = str_has_prefix(g, "nics[") && g[5] >= '0' && g[5] <= '9' ? strtoul(g + 5, &e, 10) : 0;
        if (e && e[0] == ']' && !e[1]) {
            const char *ip = json_string_value(json_object_get(json_array_get(nics, idx), "ip"));
            if (!ip || !strcmp(ip, "dhcp"))
                continue;
            json_array_append_new(list, json_pack("{s:b, s:s, s:s}", "linklocal", 1, "dst", dst, "gateway", ip));
        } else {
            json_array_append_new(list, json_pack("{s:b, s:s, s:s}", "linklocal", 0, "dst", dst, "gateway", g));
        }
    }
    return json_text(list, out, outlen);
}

/* Top-level properties never served through sdc:<path>. */
static bool hidden(const char *first, size_t len)
{
    static const char *const names[] = { "internal_metadata", "vnc_password", "spice_password", NULL };
    for (const char *const *n = names; *n; n++)
        if (strlen(*n) == len && !memcmp(*n, first, len))
            return true;
    return false;
}

/* VM.flatten(vmobj, path): objects by key, arrays by index. */
static json_t *walk(json_t *vm, const char *path)
{
    json_t *cur = vm;
    const char *p = path;
    bool first = true;
    while (cur) {
        const char *dot = strchr(p, '.');
        size_t n = dot ? (size_t)(dot - p) : strlen(p);
        if (n == 0 || (first && hidden(p, n)))
            return NULL;
        cleanup_free char *part = xstrndup(p, n);
        if (json_is_object(cur)) {
            cur = json_object_get(cur, part);
        } else if (json_is_array(cur)) {
            char *e;
            unsigned long i = strtoul(part, &e, 10);
            cur = *e || part[0] < '0' || part[0] > '9' ? NULL : json_array_get(cur, i);
        } else {
            return NULL;
        }
        first = false;
        if (!dot)
            return cur;
        p = dot + 1;
    }
    return NULL;
}

static int get_sdc(json_t *vm, const char *what, char **out, size_t *outlen)
{
    static const char *const as_json[] = { "nics", "resolvers", "tmpfs", NULL };
    for (const char *const *n = as_json; *n; n++)
        if (!strcmp(what, *n))
            return json_object_get(vm, what) ? json_text(json_object_get(vm, what), out, outlen) : MDATA_R_NOTFOUND;
    if (!strcmp(what, "routes"))
        return json_object_get(vm, "routes") ? routes(vm, out, outlen) : MDATA_R_NOTFOUND;
    if (!strcmp(what, "operator-script"))
        return scalar(json_object_get(json_object_get(vm, "internal_metadata"), "operator-script"), out, outlen);
    return scalar(walk(vm, what), out, outlen);
}

int mdata_get(json_t *vm, const char *key, char **out, size_t *outlen)
{
    char nsbuf[256];
    *out = NULL;
    *outlen = 0;
    if (str_has_prefix(key, "sdc:"))
        return get_sdc(vm, key + 4, out, outlen);
    const char *which =
        is_pw(key) || internal_ns(vm, key, nsbuf, sizeof nsbuf) ? "internal_metadata" : "customer_metadata";
    json_t *md = json_object_get(vm, which);
    if (!json_is_object(md)) {
        *out = xasprintf("Zone did not contain %s", which);
        *outlen = strlen(*out);
        return MDATA_R_FAILURE;
    }
    return scalar(json_object_get(md, key), out, outlen);
}

char *mdata_keys(json_t *vm)
{
    char nsbuf[256];
    size_t cap = 64, n = 0;
    char *buf = xmalloc(cap);
    buf[0] = '\0';
    static const char *const which[] = { "customer_metadata", "internal_metadata" };
    for (int w = 0; w < 2; w++) {
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(vm, which[w]), k, v) {
            bool internal = is_pw(k) || internal_ns(vm, k, nsbuf, sizeof nsbuf);
            if (internal != (w == 1))
                continue;
            size_t kl = strlen(k);
            while (n + kl + 2 > cap)
                buf = xrealloc(buf, cap *= 2);
            if (n)
                buf[n++] = '\n';
            memcpy(buf + n, k, kl + 1);
            n += kl;
        }
    }
    return buf;
}

json_t *mdata_update_payload(json_t *vm, const char *key, const char *value, char why[MDATA_WHY_MAX])
{
    char nsbuf[256];
    const char *ns = str_has_prefix(key, "sdc:") ? "sdc" : internal_ns(vm, key, nsbuf, sizeof nsbuf);
    if (ns) {
        snprintf(why, MDATA_WHY_MAX, "Cannot update the \"%s\" Namespace.", ns);
        return NULL;
    }
    const char *which = is_pw(key) || !strcmp(key, "operator-script") ? "internal_metadata" : "customer_metadata";
    char prop[64];
    if (value && *value) {
        snprintf(prop, sizeof prop, "set_%s", which);
        return json_pack("{s:{s:s}}", prop, key, value);
    }
    snprintf(prop, sizeof prop, "remove_%s", which);
    return json_pack("{s:[s]}", prop, key);
}
