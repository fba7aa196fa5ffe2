#include "strmap.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

struct slot {
    char *key; /* NULL: empty; TOMB: deleted */
    void *val;
    uint64_t hash;
};

struct strmap {
    struct slot *s;
    size_t cap, count, used; /* used = live + tombstones */
};

static char tomb_marker;
#define TOMB (&tomb_marker)

static uint64_t hash_str(const char *k)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *k; k++) {
        h ^= (unsigned char)*k;
        h *= 1099511628211ULL;
    }
    return h;
}

strmap *strmap_new(void)
{
    strmap *m = xcalloc(1, sizeof *m);
    m->cap = 16;
    m->s = xcalloc(m->cap, sizeof *m->s);
    return m;
}

void strmap_free(strmap *m, void (*free_val)(void *))
{
    if (!m)
        return;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->s[i].key && m->s[i].key != TOMB) {
            if (free_val)
                free_val(m->s[i].val);
            free(m->s[i].key);
        }
    }
    free(m->s);
    free(m);
}

static struct slot *find(const strmap *m, const char *key, uint64_t h)
{
    size_t i = h & (m->cap - 1);
    for (;;) {
        struct slot *s = &m->s[i];
        if (!s->key)
            return NULL;
        if (s->key != TOMB && s->hash == h && !strcmp(s->key, key))
            return s;
        i = (i + 1) & (m->cap - 1);
    }
}

void *strmap_get(const strmap *m, const char *key)
{
    struct slot *s = find(m, key, hash_str(key));
    return s ? s->val : NULL;
}

static void grow(strmap *m)
{
    struct slot *old = m->s;
    size_t oldcap = m->cap;

    /* Rehash in place size when mostly tombstones, else double. */
    if (m->count * 2 >= m->cap)
        m->cap *= 2;
    m->s = xcalloc(m->cap, sizeof *m->s);
    m->used = m->count;
    for (size_t i = 0; i < oldcap; i++) {
        if (!old[i].key || old[i].key == TOMB)
            continue;
        size_t j = old[i].hash & (m->cap - 1);
        while (m->s[j].key)
            j = (j + 1) & (m->cap - 1);
        m->s[j] = old[i];
    }
    free(old);
}

void *strmap_set(strmap *m, const char *key, void *val)
{
    uint64_t h = hash_str(key);
    struct slot *s = find(m, key, h);
    if (s) {
        void *prev = s->val;
        s->val = val;
        return prev;
    }
    if ((m->used + 1) * 4 >= m->cap * 3)
        grow(m);
    size_t i = h & (m->cap - 1);
    while (m->s[i].key && m->s[i].key != TOMB)
        i = (i + 1) & (m->cap - 1);
    if (!m->s[i].key)
        m->used++;
    m->s[i].key = xstrdup(key);
    m->s[i].val = val;
    m->s[i].hash = h;
    m->count++;
    return NULL;
}

void *strmap_del(strmap *m, const char *key)
{
    struct slot *s = find(m, key, hash_str(key));
    if (!s)
        return NULL;
    void *prev = s->val;
    free(s->key);
    s->key = TOMB;
    s->val = NULL;
    m->count--;
    return prev;
}

size_t strmap_count(const strmap *m)
{
    return m->count;
}

int strmap_next(const strmap *m, size_t *it, const char **key, void **val)
{
    while (*it < m->cap) {
        struct slot *s = &m->s[(*it)++];
        if (s->key && s->key != TOMB) {
            if (key)
                *key = s->key;
            if (val)
                *val = s->val;
            return 1;
        }
    }
    return 0;
}
