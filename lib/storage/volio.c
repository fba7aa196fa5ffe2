/* Volume block I/O through qemu-nbd and libnbd (volio.h). */
#include <libnbd.h>
#include <stdlib.h>

#include "common/util.h"
#include "storage/volio.h"

struct vs_volio {
    struct nbd_handle *h;
    uint64_t size;
};

static int nbd_err(const char *what, vm_err *err)
{
    const char *m = nbd_get_error();
    return vm_err_set(err, VMERR_IO, "%s: %s", what, m ? m : "NBD error");
}

#define CHUNK (32u << 20) /* NBD servers take requests up to 32 MiB */

static bool in_range(const vs_volio *v, uint64_t n, uint64_t off)
{
    return off <= v->size && n <= v->size - off;
}

int vs_volio_open(vs_pool *pool, const char *name, vs_volio **out, vm_err *err)
{
    cleanup_free char *path = NULL;
    if (vs_vol_path(pool, name, &path, err) < 0)
        return -1;
    struct nbd_handle *h = nbd_create();
    if (!h)
        return vm_err_set(err, VMERR_INTERNAL, "libnbd: %s", nbd_get_error());
    /* Default cache (writeback, flushed on request); discards reach the
     * qcow2 layer so a trimmed range costs no space. */
    char *argv[] = { "qemu-nbd", "-f", "qcow2", "--discard=unmap", path, NULL };
    int64_t size;
    if (nbd_connect_systemd_socket_activation(h, argv) < 0 || (size = nbd_get_size(h)) < 0) {
        nbd_err("cannot serve the volume through qemu-nbd", err);
        nbd_close(h);
        return -1;
    }
    vs_volio *v = xcalloc(1, sizeof *v);
    v->h = h;
    v->size = (uint64_t)size;
    *out = v;
    return 0;
}

uint64_t vs_volio_size(const vs_volio *v)
{
    return v->size;
}

int vs_volio_pread(vs_volio *v, void *buf, size_t n, uint64_t off, vm_err *err)
{
    if (!in_range(v, n, off))
        return vm_err_set(err, VMERR_INVALID, "read outside the volume");
    for (size_t done = 0, c; done < n; done += c) {
        c = n - done < CHUNK ? n - done : CHUNK;
        if (nbd_pread(v->h, (char *)buf + done, c, off + done, 0) < 0)
            return nbd_err("cannot read the volume", err);
    }
    return 0;
}

int vs_volio_pwrite(vs_volio *v, const void *buf, size_t n, uint64_t off, vm_err *err)
{
    if (!in_range(v, n, off))
        return vm_err_set(err, VMERR_INVALID, "write outside the volume");
    for (size_t done = 0, c; done < n; done += c) {
        c = n - done < CHUNK ? n - done : CHUNK;
        if (nbd_pwrite(v->h, (const char *)buf + done, c, off + done, 0) < 0)
            return nbd_err("cannot write the volume", err);
    }
    return 0;
}

int vs_volio_trim(vs_volio *v, uint64_t n, uint64_t off, vm_err *err)
{
    if (!in_range(v, n, off))
        return vm_err_set(err, VMERR_INVALID, "discard outside the volume");
    if (nbd_can_trim(v->h) <= 0)
        return 0;
    for (uint64_t done = 0, c; done < n; done += c) {
        c = n - done < CHUNK ? n - done : CHUNK;
        if (nbd_trim(v->h, c, off + done, 0) < 0)
            return nbd_err("cannot discard on the volume", err);
    }
    return 0;
}

int vs_volio_flush(vs_volio *v, vm_err *err)
{
    if (nbd_can_flush(v->h) > 0 && nbd_flush(v->h, 0) < 0)
        return nbd_err("cannot flush the volume", err);
    return 0;
}

int vs_volio_close(vs_volio *v, vm_err *err)
{
    if (!v)
        return 0;
    int rc = vs_volio_flush(v, err);
    nbd_shutdown(v->h, 0);
    nbd_close(v->h); /* waits for qemu-nbd to exit */
    free(v);
    return rc;
}
