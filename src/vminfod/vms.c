/* The /vms answers: the cached texts of every VM (or of a few, for the
 * /events ready line) and the /vms?fields= projection built from each VM's
 * packed top-level scalars.  Bodies are immutable shared blobs. */
#include "server_internal.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"

void vminfod_blob_unref(void *p)
{
    struct vms_blob *b = p;
    if (b && atomic_fetch_sub(&b->refs, 1) == 1)
        free(b);
}

void vminfod_cache_changed_locked(vminfod *d)
{
    vminfod_blob_unref(d->proj);
    d->proj = NULL;
    free(d->proj_fields);
    d->proj_fields = NULL;
}

/* The top-level scalar properties of a VM: everything `vmadm list` can
 * show without dotted paths, kept parsed so /vms?fields= costs a copy of a
 * few values per VM instead of a parse of every VM. */
void vminfod_vment_scalars(json_t *vm, struct vment *e)
{
    size_t cap = 512, n = 0;
    char *b = xmalloc(cap);
    const char *k;
    json_t *v;
    json_object_foreach(vm, k, v) {
        if (json_is_object(v) || json_is_array(v))
            continue;
        cleanup_free char *val = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
        size_t kl = strlen(k) + 1, vl = strlen(val) + 1;
        if (n + kl + vl > cap) {
            cap = (n + kl + vl) * 2;
            b = xrealloc(b, cap);
        }
        memcpy(b + n, k, kl);
        memcpy(b + n + kl, val, vl);
        n += kl + vl;
    }
    free(e->scalars);
    e->scalars = xrealloc(b, n ? n : 1);
    free(e->frag);
    e->frag = NULL;
    e->scalars_len = n;
}

/* The JSON text of scalar `key` of a cached VM, or NULL.  *hint is the
 * key's offset in the previous VM's pack: VMs list their properties in the
 * same order, so the first guess is nearly always right. */
const char *vminfod_vment_scalar(const struct vment *e, const char *key, size_t *hint)
{
    const char *p = e->scalars, *end = e->scalars + e->scalars_len;
    if (!p)
        return NULL;
    if (*hint < e->scalars_len && (*hint == 0 || p[*hint - 1] == '\0') && !strcmp(p + *hint, key))
        return p + *hint + strlen(key) + 1;
    while (p < end) {
        const char *val = p + strlen(p) + 1;
        if (!strcmp(p, key)) {
            *hint = (size_t)(p - e->scalars);
            return val;
        }
        p = val + strlen(val) + 1;
    }
    return NULL;
}

struct sortent {
    const char *uuid;
    struct vment *e;
};

static int cmp_sortent(const void *a, const void *b)
{
    return strcmp(((const struct sortent *)a)->uuid, ((const struct sortent *)b)->uuid);
}

/* Lock held: the VMs sorted by uuid (caller frees). */
static struct sortent *sorted_vms(vminfod *d, size_t *n)
{
    size_t cnt = strmap_count(d->cache), i = 0, it = 0;
    struct sortent *v = xcalloc(cnt + 1, sizeof *v);
    const char *k;
    void *val;
    while (strmap_next(d->cache, &it, &k, &val)) {
        v[i].uuid = k;
        v[i].e = val;
        i++;
    }
    qsort(v, cnt, sizeof *v, cmp_sortent);
    *n = cnt;
    return v;
}

static struct vms_blob *blob_new(size_t cap)
{
    struct vms_blob *b = xmalloc(sizeof *b + cap);
    atomic_init(&b->refs, 1);
    b->len = 0;
    return b;
}

/* A VM with do_not_inventory (a migration's stopped source or its target
 * in transit): not in the default view of /vms. */
static bool uninventoried(const struct vment *e)
{
    size_t hint = 0;
    const char *v = vminfod_vment_scalar(e, "do_not_inventory", &hint);
    return v && !strcmp(v, "true");
}

/* Drops the uninventoried VMs of v (unless all). */
static size_t keep_inventoried(struct sortent *v, size_t n, bool all)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (all || !uninventoried(v[i].e))
            v[k++] = v[i];
    return k;
}

/* Lock held.  Concatenation of the cached texts of the VMs in `only`
 * (uuids; NULL: every VM — without the uninventoried ones unless all),
 * sorted by uuid.  Not kept: it costs a memcpy per request, and holding it
 * would double the daemon's memory. */
struct vms_blob *vminfod_vms_locked(vminfod *d, char **only, int redact, bool all)
{
    size_t n, total = 3;
    struct sortent *v;
    if (only) {
        v = xcalloc(strv_len(only) + 1, sizeof *v);
        n = 0;
        for (size_t i = 0; only[i]; i++) {
            struct vment *e = strmap_get(d->cache, only[i]);
            bool dup = false;
            for (size_t j = 0; j < n && !dup; j++)
                dup = !strcmp(v[j].uuid, only[i]);
            if (e && !dup)
                v[n++] = (struct sortent){ only[i], e };
        }
        qsort(v, n, sizeof *v, cmp_sortent);
    } else {
        v = sorted_vms(d, &n);
        n = keep_inventoried(v, n, all);
    }
    for (size_t i = 0; i < n; i++)
        total += v[i].e->len + 1;
    struct vms_blob *b = blob_new(total);
    char *p = b->data;
    *p++ = '[';
    for (size_t i = 0; i < n; i++) {
        const struct vment *e = v[i].e;
        bool r = redact && e->rtext;
        if (i)
            *p++ = ',';
        memcpy(p, r ? e->rtext : e->text, r ? e->rlen : e->len);
        p += r ? e->rlen : e->len;
    }
    *p++ = ']';
    *p = '\0';
    b->len = (size_t)(p - b->data);
    free(v);
    return b;
}

/* Appends n bytes to the blob *bp, growing it (cap tracks its room). */
static void blob_put(struct vms_blob **bp, size_t *cap, const char *s, size_t n)
{
    if ((*bp)->len + n + 1 > *cap) {
        while ((*bp)->len + n + 1 > *cap)
            *cap *= 2;
        *bp = xrealloc(*bp, sizeof **bp + *cap);
    }
    memcpy((*bp)->data + (*bp)->len, s, n);
    (*bp)->len += n;
    (*bp)->data[(*bp)->len] = '\0';
}

/* Lock held.  /vms?fields=: the top-level scalars `fields` of every VM,
 * sorted by uuid, written from the packed values.  The last answer is kept
 * until the cache changes: `vmadm list` asks the same question over and
 * over, and projecting 1,000 VMs costs milliseconds, sending it micro-
 * seconds. */
struct vms_blob *vminfod_vms_fields_locked(vminfod *d, const char *fields, bool all)
{
    if (d->proj && !strcmp(d->proj_fields, fields) && d->proj_all == all) {
        atomic_fetch_add(&d->proj->refs, 1);
        return d->proj;
    }
    /* Each VM's part of the answer is kept too, until that VM changes or
     * other fields are asked for: after one change only one VM is
     * projected again, the rest is a copy. */
    if (!d->frag_fields || strcmp(d->frag_fields, fields)) {
        size_t it = 0;
        const char *k;
        void *val;
        while (strmap_next(d->cache, &it, &k, &val)) {
            struct vment *e = val;
            free(e->frag);
            e->frag = NULL;
        }
        free(d->frag_fields);
        d->frag_fields = xstrdup(fields);
    }
    cleanup_strv char **f = strv_split(fields, ",");
    size_t nf = strv_len(f);
    cleanup_strv char **kq = xcalloc(nf + 1, sizeof *kq);
    cleanup_free size_t *hint = xcalloc(nf + 1, sizeof *hint);
    for (size_t j = 0; j < nf; j++) {
        /* A field asked for twice is written once. */
        for (size_t q = 0; q < j; q++)
            if (!strcmp(f[q], f[j])) {
                f[j][0] = '\0';
                break;
            }
        json_t *ks = json_string(f[j]);
        kq[j] = ks ? json_dumps(ks, JSON_ENCODE_ANY) : xstrdup("\"\"");
        json_decref(ks);
    }
    size_t n, cap = 4096, total = 2;
    cleanup_free struct sortent *v = sorted_vms(d, &n);
    n = keep_inventoried(v, n, all);
    for (size_t i = 0; i < n; i++) {
        struct vment *e = v[i].e;
        if (!e->frag) {
            size_t fcap = 256;
            struct vms_blob *fb = blob_new(fcap);
            blob_put(&fb, &fcap, "{", 1);
            for (size_t j = 0; j < nf; j++) {
                const char *x = f[j][0] ? vminfod_vment_scalar(e, f[j], &hint[j]) : NULL;
                if (!x)
                    continue;
                if (fb->len > 1)
                    blob_put(&fb, &fcap, ",", 1);
                blob_put(&fb, &fcap, kq[j], strlen(kq[j]));
                blob_put(&fb, &fcap, ":", 1);
                blob_put(&fb, &fcap, x, strlen(x));
            }
            blob_put(&fb, &fcap, "}", 1);
            e->frag_len = fb->len;
            e->frag = xmalloc(fb->len + 1);
            memcpy(e->frag, fb->data, fb->len + 1);
            free(fb);
        }
        total += e->frag_len + 1;
    }
    cap = total + 1;
    struct vms_blob *b = blob_new(cap);
    blob_put(&b, &cap, "[", 1);
    for (size_t i = 0; i < n; i++) {
        if (i)
            blob_put(&b, &cap, ",", 1);
        blob_put(&b, &cap, v[i].e->frag, v[i].e->frag_len);
    }
    blob_put(&b, &cap, "]", 1);
    vminfod_cache_changed_locked(d);
    d->proj = b;
    d->proj_fields = xstrdup(fields);
    d->proj_all = all;
    atomic_fetch_add(&b->refs, 1);
    return b;
}
