/* lib/image internals shared by the catalogue (catalog.c) and
 * install/delete (image.c). */
#ifndef VM_IMG_CATALOG_H
#define VM_IMG_CATALOG_H

#include <stdbool.h>
#include "common/ctx.h"
#include "storage/storage.h"

const char *img_pool_of(const vm_ctx *ctx, const char *pool);
char *img_images_dir(const vm_ctx *ctx);
/* `image "<uuid>" was not found on zpool "<pool>"` (returns -1). */
int img_not_found(const char *pool, const char *uuid, vm_err *err);
/* The image's @final snapshot exists in the pool. */
bool img_installed(vs_pool *vp, const char *uuid);

#endif
