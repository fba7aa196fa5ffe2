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
