/* The saved state of resumable receives (storage.h, "Resumable
 * transfers"): a user property on the dataset being received into. */
#include <string.h>

#include "common/util.h"
#include "storage/send_internal.h"
#include "storage/storage_internal.h"

char *vs_partial_name(const char *name)
{
    return xasprintf("%s-vmstore-partial", name);
}

json_t *vs_resume_state_at(vs_pool *pool, const char *ds)
{
    char *v = NULL;
    vm_err e = VM_ERR_INIT;
    if (!vs_exists(pool, ds) || vs_get_str(pool, ds, VS_RESUME_PROP, &v, &e) < 0 || !v) {
        free(v);
        return NULL;
    }
    json_t *j = json_loads(v, 0, NULL);
    free(v);
    if (!json_is_object(j) || !json_is_integer(json_object_get(j, "offset"))) {
        json_decref(j);
        return NULL;
    }
    return j;
}

int vs_resume_save(vs_pool *pool, const char *ds, json_t *state, uint64_t offset, vm_err *err)
{
    json_object_set_new(state, "offset", json_integer((json_int_t)offset));
    cleanup_free char *v = json_dumps(state, JSON_COMPACT | JSON_SORT_KEYS);
    return vs_set(pool, ds, VS_RESUME_PROP, v, err);
}

/* The keys that name the object and the point in it (the rest of a state
 * is the receiver's own: where its parser stands). */
static const char *const public_keys[] = { "guid", "snapshot", "from", "origin", "volsize", "size", "offset" };

int vs_resume_check(vs_pool *pool, const char *name, const char *ds, json_t *want, json_t **saved, vm_err *err)
{
    cleanup_json json_t *st = vs_resume_state_at(pool, ds);
    for (size_t i = 0; st && i < sizeof public_keys / sizeof *public_keys; i++) {
        const char *k = public_keys[i];
        if (!json_equal(json_object_get(st, k) ?: json_null(), json_object_get(want, k) ?: json_null()))
            return vm_err_set(err, VMERR_INVALID, "cannot resume receive of '%s': the partial receive differs in '%s'",
                              name, k);
    }
    if (!st)
        return vm_err_set(err, VMERR_NOTFOUND, "cannot resume receive of '%s': no partial receive is there", name);
    if (saved)
        *saved = steal_ptr(st);
    return 0;
}

int vs_resume_state(vs_pool *pool, const char *name, json_t **state)
{
    cleanup_free char *partial = vs_partial_name(name);
    *state = vs_resume_state_at(pool, partial);
    if (!*state)
        *state = vs_resume_state_at(pool, name);
    return 0;
}

int vs_receive_abort(vs_pool *pool, const char *name, vm_err *err)
{
    cleanup_free char *partial = vs_partial_name(name);
    if (vs_exists(pool, partial) && vs_destroy(pool, partial, VS_RECURSIVE, err) < 0)
        return -1;
    cleanup_json json_t *st = vs_resume_state_at(pool, name);
    if (!st)
        return 0;
    /* A partially received incremental: back to its base, the newest
     * snapshot (the stream's "from"). */
    cleanup_json json_t *snaps = NULL;
    if (vs_list(pool, name, VS_SNAPSHOT, 0, &snaps, err) < 0)
        return -1;
    const char *last = json_string_value(json_array_get(snaps, json_array_size(snaps) - 1));
    if (last && vs_rollback(pool, last, 0, err) < 0)
        return -1;
    return vs_inherit(pool, name, VS_RESUME_PROP, err);
}

/* Tokens: "1-" and the state's compact JSON in hex (zfs's are opaque
 * too; ours only need to survive a shell). */
char *vs_resume_token(const char *state)
{
    /* Only what names the object and the point: the receiver's own part
     * of the state stays out of the token. */
    cleanup_json json_t *all = json_loads(state, 0, NULL);
    cleanup_json json_t *pub = json_object();
    for (size_t i = 0; i < sizeof public_keys / sizeof *public_keys; i++)
        if (json_object_get(all, public_keys[i]))
            json_object_set(pub, public_keys[i], json_object_get(all, public_keys[i]));
    cleanup_free char *state_json = json_dumps(pub, JSON_COMPACT | JSON_SORT_KEYS);
    size_t n = strlen(state_json);
    char *t = xmalloc(2 + 2 * n + 1);
    memcpy(t, "1-", 2);
    for (size_t i = 0; i < n; i++)
        snprintf(t + 2 + 2 * i, 3, "%02x", (unsigned char)state_json[i]);
    return t;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

int vs_resume_token_parse(const char *token, json_t **state, vm_err *err)
{
    *state = NULL;
    size_t n = strlen(token);
    if (n < 4 || n > 8192 || strncmp(token, "1-", 2) != 0 || n % 2)
        return vm_err_set(err, VMERR_INVALID, "resume token is corrupt");
    cleanup_free char *js = xmalloc(n / 2);
    for (size_t i = 2; i < n; i += 2) {
        int a = hexval(token[i]), b = hexval(token[i + 1]);
        if (a < 0 || b < 0)
            return vm_err_set(err, VMERR_INVALID, "resume token is corrupt");
        js[i / 2 - 1] = (char)(a * 16 + b);
    }
    js[n / 2 - 1] = '\0';
    json_t *j = json_loads(js, JSON_REJECT_DUPLICATES, NULL);
    const char *sn = json_string_value(json_object_get(j, "snapshot"));
    const char *from = json_string_value(json_object_get(j, "from"));
    const char *origin = json_string_value(json_object_get(j, "origin"));
    if (!json_is_object(j) || !json_is_string(json_object_get(j, "guid")) || !sn || !vs_valid_snap_component(sn) ||
        json_integer_value(json_object_get(j, "offset")) < 0 || (from && !vs_valid_snap_component(from)) ||
        (origin && !vs_valid_name(origin))) {
        json_decref(j);
        return vm_err_set(err, VMERR_INVALID, "resume token is corrupt");
    }
    /* What a token may say, and nothing else (as vs_resume_token makes it). */
    *state = json_object();
    for (size_t i = 0; i < sizeof public_keys / sizeof *public_keys; i++)
        if (json_object_get(j, public_keys[i]))
            json_object_set(*state, public_keys[i], json_object_get(j, public_keys[i]));
    json_decref(j);
    return 0;
}

int vs_send_token(vs_pool *pool, const char *token, vs_stream_writer *w, vm_err *err)
{
    cleanup_json json_t *st = NULL;
    if (vs_resume_token_parse(token, &st, err) < 0)
        return -1;
    /* The snapshot is found by its guid, as zfs send -t does. */
    cleanup_json json_t *snaps = NULL;
    if (vs_list(pool, NULL, VS_SNAPSHOT, VS_RECURSIVE, &snaps, err) < 0)
        return -1;
    const char *guid = json_string_value(json_object_get(st, "guid"));
    const char *want = json_string_value(json_object_get(st, "snapshot"));
    size_t i;
    json_t *s;
    json_array_foreach(snaps, i, s) {
        const char *name = json_string_value(s);
        char *g = NULL;
        vm_err e = VM_ERR_INIT;
        bool match = vs_get_str(pool, name, "guid", &g, &e) == 0 && g && !strcmp(g, guid);
        free(g);
        if (!match)
            continue;
        if (strcmp(strchr(name, '@') + 1, want) != 0)
            break;
        const char *from = json_string_value(json_object_get(st, "from"));
        const char *origin = json_string_value(json_object_get(st, "origin"));
        cleanup_free char *ds = xstrndup(name, (size_t)(strchr(name, '@') - name));
        cleanup_free char *base = from ? xasprintf("%s@%s", ds, from) : origin ? xstrdup(origin) : NULL;
        return vs_send_at(pool, name, base, (uint64_t)json_integer_value(json_object_get(st, "offset")), w, err);
    }
    return vm_err_set(err, VMERR_NOTFOUND, "cannot resume send: snapshot %s with guid %s does not exist", want, guid);
}
