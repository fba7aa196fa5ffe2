/* Request routing: GET /ping, /status, /metrics, /vms, /vms/<uuid>, /events and their
 * query arguments, answered as vminfod_resp. */
#include "server_internal.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"

static char *url_decode(const char *s, size_t n)
{
    char *o = xmalloc(n + 1);
    size_t j = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+') {
            o[j++] = ' ';
        } else if (s[i] == '%' && i + 2 < n && hex_digit(s[i + 1]) >= 0 && hex_digit(s[i + 2]) >= 0) {
            o[j++] = (char)(hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2]));
            i += 2;
        } else {
            o[j++] = s[i];
        }
    }
    o[j] = '\0';
    return o;
}

char *vminfod_query_get(const char *query, const char *key)
{
    const char *p = query;
    if (!p)
        return NULL;
    if (*p == '?')
        p++;
    while (*p) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        size_t klen = eq ? (size_t)(eq - p) : len;
        cleanup_free char *k = url_decode(p, klen);
        if (!strcmp(k, key))
            return eq ? url_decode(eq + 1, len - klen - 1) : xstrdup("");
        p += len;
        if (*p == '&')
            p++;
    }
    return NULL;
}

static void set_body(vminfod_resp *r, int status, char *body)
{
    r->status = status;
    r->body = body;
    r->len = body ? strlen(body) : 0;
}

static void respond_json(vminfod_resp *r, int status, json_t *j)
{
    set_body(r, status, json_compact(j));
}

/* Path segments after normalisation (empty and "." dropped, ".." pops). */
static char **split_path(const char *path, size_t *n)
{
    char **segs = xcalloc(strlen(path) / 2 + 2, sizeof *segs);
    size_t k = 0;
    const char *p = path;

    while (*p) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len == 1 && p[0] == '.') {
            /* skip */
        } else if (len == 2 && p[0] == '.' && p[1] == '.') {
            if (k)
                free(segs[--k]);
            segs[k] = NULL;
        } else {
            segs[k++] = xstrndup(p, len);
        }
        p += len;
    }
    segs[k] = NULL;
    *n = k;
    return segs;
}

/* ?fields= without the secret ones in the TCP view (a field asked for and
 * not there is simply absent, as for a VM without it). */
static char *visible_fields(const char *fields, int redact)
{
    if (!redact)
        return xstrdup(fields);
    cleanup_strv char **f = strv_split(fields, ",");
    size_t k = 0;
    for (size_t i = 0; f[i]; i++) {
        if (vminfod_secret_field(f[i]))
            free(f[i]);
        else
            f[k++] = f[i];
    }
    f[k] = NULL;
    return strv_join(f, ",");
}

/* /vms leaves out do_not_inventory VMs unless ?all=true (vmadm asks for
 * all and filters as its own list rules say). */
static bool all_vms(const vminfod_req *req)
{
    const char *a = req->arg ? req->arg(req->arg_cls, "all") : NULL;
    return a && (!strcmp(a, "true") || !strcmp(a, "1"));
}

static void route(vminfod *d, const vminfod_req *req, vminfod_resp *resp)
{
    size_t n;

    memset(resp, 0, sizeof *resp);
    if (!req->method || strcmp(req->method, "GET")) {
        set_body(resp, 400, NULL);
        return;
    }
    cleanup_strv char **seg = split_path(req->path ? req->path : "/", &n);
    if (n == 1 && !strcmp(seg[0], "ping")) {
        set_body(resp, 200, xstrdup("{\"ping\":\"pong\"}"));
    } else if (n == 1 && !strcmp(seg[0], "status")) {
        const char *full = req->arg ? req->arg(req->arg_cls, "full") : NULL;
        cleanup_json json_t *st = vminfod_status_json(d, full != NULL);
        respond_json(resp, 200, st);
    } else if (n == 1 && !strcmp(seg[0], "metrics")) {
        set_body(resp, 200, vminfod_metrics_text(d));
        resp->ctype = "text/plain; version=0.0.4; charset=utf-8";
    } else if (n == 1 && !strcmp(seg[0], "vms") && req->arg && req->arg(req->arg_cls, "fields")) {
        cleanup_free char *fields = visible_fields(req->arg(req->arg_cls, "fields"), req->redact);
        pthread_mutex_lock(&d->lock);
        struct vms_blob *b = vminfod_vms_fields_locked(d, fields, all_vms(req));
        pthread_mutex_unlock(&d->lock);
        resp->status = 200;
        resp->blob = b;
        resp->body = b->data;
        resp->len = b->len;
    } else if (n == 1 && !strcmp(seg[0], "vms")) {
        pthread_mutex_lock(&d->lock);
        struct vms_blob *b = vminfod_vms_locked(d, NULL, req->redact, all_vms(req));
        pthread_mutex_unlock(&d->lock);
        resp->status = 200;
        resp->blob = b;
        resp->body = b->data;
        resp->len = b->len;
    } else if (n == 2 && !strcmp(seg[0], "vms")) {
        char *text = NULL;
        pthread_mutex_lock(&d->lock);
        struct vment *e = strmap_get(d->cache, seg[1]);
        if (e && req->redact && e->rtext)
            text = xstrndup(e->rtext, e->rlen);
        else if (e)
            text = xstrndup(e->text, e->len);
        pthread_mutex_unlock(&d->lock);
        if (text)
            set_body(resp, 200, text);
        else
            set_body(resp, 404, xasprintf("VM Not Found: %s", seg[1]));
    } else if (n == 1 && !strcmp(seg[0], "events")) {
        const char *since = req->arg ? req->arg(req->arg_cls, "since") : NULL;
        int64_t s = 0;
        if (since && !parse_i64(since, &s)) {
            cleanup_json json_t *e = json_pack("{s:s}", "error", "since must be a sequence number");
            respond_json(resp, 400, e);
            return;
        }
        /* ?vms=<uuid>,..: the ready (or resync) event carries only these
         * VMs (none for "?vms="), so a vmadm write on a host with thousands
         * of VMs does not receive and parse all of them. */
        const char *vms = req->arg ? req->arg(req->arg_cls, "vms") : NULL;
        cleanup_strv char **only = vms ? strv_split(vms, ",") : NULL;
        for (size_t i = 0; only && only[i]; i++) {
            if (!uuid_valid(only[i])) {
                cleanup_json json_t *e = json_pack("{s:s}", "error", "vms must be a list of VM uuids");
                respond_json(resp, 400, e);
                return;
            }
        }
        int status = 200;
        const char *why = NULL;
        vminfod_listener *l = vminfod_listener_new(d, req, since != NULL, (long long)s, only, &status, &why);
        if (!l) {
            cleanup_json json_t *e = json_pack("{s:s}", "error", why);
            respond_json(resp, status, e);
            return;
        }
        resp->status = 200;
        resp->kind = VMINFOD_RESP_EVENTS;
        resp->listener = l;
    } else {
        set_body(resp, 404, xstrdup("Unsupported URL Path"));
    }
}

void vminfod_handle(vminfod *d, const vminfod_req *req, vminfod_resp *resp)
{
    uint64_t started = vminfod_metrics_clock();
    route(d, req, resp);
    vminfod_metrics_request(d, started);
}

void vminfod_resp_free(vminfod_resp *resp)
{
    if (resp->blob) {
        vminfod_blob_unref(resp->blob);
        resp->blob = NULL;
    } else {
        free(resp->body);
    }
    resp->body = NULL;
}
