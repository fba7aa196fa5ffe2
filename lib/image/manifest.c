#include "image/image.h"

#include <string.h>

#include "common/util.h"
#include "image/compress.h"

#define BAD(...) vm_err_set(err, VMERR_INVALID, "invalid manifest: " __VA_ARGS__)

static bool is_sha1_hex(const char *s)
{
    if (strlen(s) != 40)
        return false;
    for (int i = 0; i < 40; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static int need_string(json_t *m, const char *key, vm_err *err)
{
    json_t *v = json_object_get(m, key);
    if (!v)
        return BAD("missing \"%s\"", key);
    if (!json_is_string(v) || json_string_length(v) == 0)
        return BAD("\"%s\" must be a non-empty string", key);
    return 0;
}

/* IMGAPI accepts some integers as decimal strings ("v": "2",
 * "image_size": "10240"): such a value becomes the integer it spells. */
static void integer_from_string(json_t *m, const char *key)
{
    json_t *v = json_object_get(m, key);
    int64_t n;
    if (json_is_string(v) && parse_i64(json_string_value(v), &n))
        json_object_set_new(m, key, json_integer(n));
}

int img_manifest_validate(json_t *m, vm_err *err)
{
    if (!json_is_object(m))
        return vm_err_set(err, VMERR_INVALID, "invalid manifest: not a JSON object");
    integer_from_string(m, "v");
    integer_from_string(m, "image_size");
    json_t *v = json_object_get(m, "v");
    if (!v)
        return BAD("missing \"v\"");
    if (!json_is_integer(v) || json_integer_value(v) != 2)
        return BAD("unsupported manifest version \"v\" (must be 2)");
    if (need_string(m, "uuid", err) < 0)
        return -1;
    const char *uuid = json_string_value(json_object_get(m, "uuid"));
    if (!uuid_valid(uuid))
        return BAD("invalid uuid: \"%s\"", uuid);
    if (need_string(m, "name", err) < 0 || need_string(m, "version", err) < 0 || need_string(m, "type", err) < 0)
        return -1;
    const char *name = json_string_value(json_object_get(m, "name"));
    if (strchr(name, '/'))
        return BAD("\"name\" must not contain '/': \"%s\"", name);
    const char *version = json_string_value(json_object_get(m, "version"));
    if (strchr(version, '/'))
        return BAD("\"version\" must not contain '/': \"%s\"", version);
    const char *type = json_string_value(json_object_get(m, "type"));
    bool zvol = strcmp(type, "zvol") == 0;
    if (!zvol && strcmp(type, "zone-dataset") != 0 && strcmp(type, "lx-dataset") != 0)
        return BAD("image type \"%s\" is not supported (supported: zvol, zone-dataset, lx-dataset)", type);

    json_t *files = json_object_get(m, "files");
    if (!files)
        return BAD("missing \"files\"");
    if (!json_is_array(files) || json_array_size(files) != 1 || !json_is_object(json_array_get(files, 0)))
        return BAD("\"files\" must be an array of exactly one object");
    json_t *f = json_array_get(files, 0);
    json_t *sha1 = json_object_get(f, "sha1");
    if (!sha1)
        return BAD("missing \"files.0.sha1\"");
    if (!json_is_string(sha1) || !is_sha1_hex(json_string_value(sha1)))
        return BAD("\"files.0.sha1\" must be 40 lower-case hex digits");
    json_t *size = json_object_get(f, "size");
    if (!size)
        return BAD("missing \"files.0.size\"");
    if (!json_is_integer(size) || json_integer_value(size) <= 0)
        return BAD("\"files.0.size\" must be a positive integer (bytes)");
    json_t *comp = json_object_get(f, "compression");
    if (!comp)
        return BAD("missing \"files.0.compression\"");
    if (!json_is_string(comp) || img_comp_parse(json_string_value(comp)) < 0)
        return BAD("\"files.0.compression\" must be one of none, gzip, bzip2, xz, zstd");

    json_t *isz = json_object_get(m, "image_size");
    if (zvol && !isz)
        return BAD("missing \"image_size\" (required for zvol images, MiB)");
    if (isz && (!json_is_integer(isz) || json_integer_value(isz) <= 0 || json_integer_value(isz) > (INT64_MAX >> 20)))
        return BAD("\"image_size\" must be a positive integer (MiB)");
    json_t *req = json_object_get(m, "requirements");
    if (req && !json_is_object(req))
        return BAD("\"requirements\" must be an object");
    json_t *pub = json_object_get(m, "published_at");
    if (pub && !json_is_string(pub))
        return BAD("\"published_at\" must be a string");
    json_t *origin = json_object_get(m, "origin");
    if (origin && (!json_is_string(origin) || !uuid_valid(json_string_value(origin))))
        return BAD("\"origin\" must be an image uuid");
    return 0;
}
