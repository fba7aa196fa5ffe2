/* Image sources: the list kept in $VMADM_ROOT/var/imgadm/imgadm.conf,
 * URL checks, and what the sources offer (GET <url>/images, merged). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/util.h"
#include "image/fetch.h"
#include "image/image.h"

#define LIST_MAX (256u << 20) /* GET /images of a big IMGAPI is tens of MiB */
#define MANIFEST_MAX (1u << 20)

static char *conf_path(const vm_ctx *ctx)
{
    return xasprintf("%s/var/imgadm/imgadm.conf", ctx->root);
}

static int bad_url(const char *url, const char *why, vm_err *err)
{
    return vm_err_set(err, VMERR_INVALID, "invalid image source URL \"%s\": %s", url, why);
}

static bool host_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
}

int img_source_url_check(const char *url, char **norm, vm_err *err)
{
    const char *p;
    if (str_has_prefix(url, "http://"))
        p = url + 7;
    else if (str_has_prefix(url, "https://"))
        p = url + 8;
    else
        return bad_url(url, "must start with http:// or https://", err);
    for (const char *c = url; *c; c++)
        if ((unsigned char)*c <= ' ' || (unsigned char)*c >= 0x7f)
            return bad_url(url, "must not contain spaces, control or non-ASCII characters", err);
    if (strpbrk(url, "?#"))
        return bad_url(url, "must not have a query or a fragment", err);
    const char *hend = p + strcspn(p, "/");
    if (memchr(p, '@', (size_t)(hend - p)))
        return bad_url(url, "must not carry user information", err);
    const char *h = p;
    if (*h == '[') { /* IPv6 literal */
        const char *close = memchr(h, ']', (size_t)(hend - h));
        if (!close || close == h + 1)
            return bad_url(url, "bad IPv6 address", err);
        for (const char *c = h + 1; c < close; c++)
            if (!(hex_digit(*c) >= 0 || *c == ':' || *c == '.'))
                return bad_url(url, "bad IPv6 address", err);
        h = close + 1;
    } else {
        while (h < hend && host_char(*h))
            h++;
        if (h == p)
            return bad_url(url, "no host", err);
    }
    if (h < hend) {
        if (*h != ':' || h + 1 == hend || hend - h > 6)
            return bad_url(url, "bad host or port", err);
        for (const char *c = h + 1; c < hend; c++)
            if (*c < '0' || *c > '9')
                return bad_url(url, "bad port", err);
    }
    size_t n = strlen(url);
    while (n > 0 && url[n - 1] == '/' && url + n - 1 >= hend)
        n--;
    *norm = xstrndup(url, n);
    return 0;
}

/* The configured list (array of URL strings); the default source when
 * imgadm.conf has none. */
int img_sources_get(const vm_ctx *ctx, json_t **urls, vm_err *err)
{
    cleanup_free char *path = conf_path(ctx);
    cleanup_json json_t *conf = NULL;
    if (!path_exists(path)) {
        *urls = json_pack("[s]", IMG_DEFAULT_SOURCE);
        return 0;
    }
    if (read_json_file(path, &conf, err) < 0)
        return -1;
    json_t *srcs = json_object_get(conf, "sources");
    if (!json_is_array(srcs)) {
        *urls = json_pack("[s]", IMG_DEFAULT_SOURCE);
        return 0;
    }
    json_t *out = json_array();
    size_t i;
    json_t *s;
    json_array_foreach(srcs, i, s) {
        const char *u = json_string_value(json_object_get(s, "url"));
        cleanup_free char *norm = NULL;
        vm_err e2 = VM_ERR_INIT;
        if (u && img_source_url_check(u, &norm, &e2) == 0)
            json_array_append_new(out, json_string(norm));
    }
    *urls = out;
    return 0;
}

int img_source_ping(const char *url, vm_err *err)
{
    cleanup_free char *ping = xasprintf("%s/ping", url);
    cleanup_free char *body = NULL;
    long status = 0;
    if (img_http_get(ping, MANIFEST_MAX, &body, NULL, &status, err) < 0)
        return -1;
    cleanup_json json_t *j = json_loads(body, 0, NULL);
    if (status == 200 && json_is_object(j) && json_object_get(j, "ping"))
        return 0;
    /* A static mirror has no /ping: its image list must be there. */
    free(body);
    body = NULL;
    cleanup_free char *list = xasprintf("%s/images", url);
    if (img_http_get(list, LIST_MAX, &body, NULL, &status, err) < 0)
        return -1;
    cleanup_json json_t *l = json_loads(body, 0, NULL);
    if (status != 200 || !json_is_array(l))
        return vm_err_set(err, VMERR_INVALID,
                          "image source \"%s\" does not look like an image server: GET %s gave HTTP %ld%s "
                          "(use -f to add it anyway)",
                          url, list, status, status == 200 ? " without an image list" : "");
    return 0;
}

int img_sources_set(const vm_ctx *ctx, json_t *urls, vm_err *err)
{
    cleanup_json json_t *srcs = json_array();
    size_t i;
    json_t *u;
    json_array_foreach(urls, i, u) {
        cleanup_free char *norm = NULL;
        if (img_source_url_check(json_string_value(u), &norm, err) < 0)
            return -1;
        json_array_append_new(srcs, json_pack("{ssss}", "url", norm, "type", "imgapi"));
    }
    cleanup_free char *dir = xasprintf("%s/var/imgadm", ctx->root);
    if (mkdir_p(dir, 0755, err) < 0)
        return -1;
    cleanup_free char *path = conf_path(ctx);
    cleanup_json json_t *conf = NULL;
    vm_err e2 = VM_ERR_INIT;
    if (!path_exists(path) || read_json_file(path, &conf, &e2) < 0 || !json_is_object(conf)) {
        json_decref(conf);
        conf = json_object();
    }
    json_object_set(conf, "sources", srcs);
    return write_json_atomic(path, conf, err);
}

int img_sources_lock(const vm_ctx *ctx, vm_err *err)
{
    cleanup_free char *dir = xasprintf("%s/var/imgadm", ctx->root);
    if (mkdir_p(dir, 0755, err) < 0)
        return -1;
    cleanup_free char *path = xasprintf("%s/imgadm.conf.lock", dir);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return vm_err_sys(err, errno, "cannot open %s", path);
    while (flock(fd, LOCK_EX) < 0)
        if (errno != EINTR) {
            close(fd);
            return vm_err_sys(err, errno, "cannot lock %s", path);
        }
    return fd;
}

/* ---- what sources offer ---- */

char *img_source_path(const char *source, const char *suffix)
{
    return xasprintf("%s/images%s", source, suffix);
}

int img_source_list(const char *source, json_t **images, vm_err *err)
{
    cleanup_free char *url = img_source_path(source, "");
    cleanup_free char *body = NULL;
    size_t len = 0;
    long status = 0;
    if (img_http_get(url, LIST_MAX, &body, &len, &status, err) < 0)
        return -1;
    if (status != 200)
        return vm_err_set(err, VMERR_IO, "image source \"%s\": GET %s gave HTTP %ld", source, url, status);
    return img_source_parse_list(source, body, len, images, err);
}

int img_source_parse_list(const char *source, const char *body, size_t len, json_t **images, vm_err *err)
{
    json_error_t je;
    cleanup_json json_t *l = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_array(l))
        return vm_err_set(err, VMERR_INVALID, "image source \"%s\" sent no image list (%s)", source,
                          l ? "not a JSON array" : je.text);
    json_t *out = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(l, i, m) {
        const char *uuid = json_string_value(json_object_get(m, "uuid"));
        if (!json_is_object(m) || !uuid || !uuid_valid(uuid))
            continue; /* not an image: nothing to show or import */
        json_array_append_new(out, json_pack("{sOss}", "manifest", m, "source", source));
    }
    *images = out;
    return 0;
}

int img_avail(const vm_ctx *ctx, const char *only_source, json_t **images, json_t **problems, vm_err *err)
{
    cleanup_json json_t *srcs = NULL;
    if (only_source) {
        srcs = json_array();
        json_array_append_new(srcs, json_string(only_source));
    } else if (img_sources_get(ctx, &srcs, err) < 0) {
        return -1;
    }
    if (json_array_size(srcs) == 0)
        return vm_err_set(err, VMERR_INVALID, "imgadm has no configured sources");
    cleanup_json json_t *out = json_array();
    cleanup_json json_t *seen = json_object();
    cleanup_json json_t *probs = json_array();
    size_t i;
    json_t *s;
    json_array_foreach(srcs, i, s) {
        cleanup_json json_t *l = NULL;
        vm_err e2 = VM_ERR_INIT;
        if (img_source_list(json_string_value(s), &l, &e2) < 0) {
            json_array_append_new(probs, json_string(e2.msg));
            continue;
        }
        size_t k;
        json_t *it;
        json_array_foreach(l, k, it) { /* the first source offering a uuid wins */
            const char *uuid = json_string_value(json_object_get(json_object_get(it, "manifest"), "uuid"));
            if (json_object_get(seen, uuid))
                continue;
            json_object_set_new(seen, uuid, json_true());
            json_array_append(out, it);
        }
    }
    *images = json_incref(out);
    *problems = json_incref(probs);
    return 0;
}
