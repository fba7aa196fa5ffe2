/* String-keyed hash map (open addressing) for the daemon's tables: VMs by
 * uuid, watched directories by path and by watch descriptor. */
#ifndef VMINFOD_STRMAP_H
#define VMINFOD_STRMAP_H

#include <stddef.h>

typedef struct strmap strmap;

strmap *strmap_new(void);
/* free_val (may be NULL) is called on every remaining value. */
void strmap_free(strmap *m, void (*free_val)(void *));
void *strmap_get(const strmap *m, const char *key);
/* Inserts or replaces; returns the previous value (or NULL). */
void *strmap_set(strmap *m, const char *key, void *val);
/* Removes; returns the removed value (or NULL). */
void *strmap_del(strmap *m, const char *key);
size_t strmap_count(const strmap *m);
/* Iteration: size_t it = 0; while (strmap_next(m, &it, &k, &v)) ...
 * The map must not be modified during iteration. */
int strmap_next(const strmap *m, size_t *it, const char **key, void **val);

#endif
