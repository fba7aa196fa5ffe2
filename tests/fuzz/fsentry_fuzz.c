/* libFuzzer harness: arbitrary bytes as the DATA of a filesystem stream
 * object (lib/storage/fsentry.h) — what `vmstore receive`, `imgadm install`
 * of a stream and a migration destination parse from an untrusted peer
 * before creating anything under a dataset's root.  The first byte picks
 * how the rest is sliced into feeds (entries split across DATA records).
 * Whatever reaches a callback must keep the codec's promises: paths pass
 * vs_fse_path_ok (no "..", no absolute path, no empty component), a
 * hardlink target too, file data ascending and inside the declared size,
 * every refusal an "invalid stream: " message.  Every seventh feed that
 * ends at a restart point (vs_fse_where) hands over to a fresh parser
 * restarted there with the entry re-encoded, as a resumed receive does:
 * that must always be accepted and go on as if uninterrupted.  Must never
 * crash, leak or trip UBSan. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "storage/fsentry.h"

typedef struct seen {
    uint64_t size, next;
    int type;
    uint8_t *hdr; /* the last entry re-encoded */
    size_t hlen;
} seen;

static int on_entry(void *arg, const vs_fse *e, vm_err *err)
{
    (void)err;
    seen *s = arg;
    if (e->resumed) {
        if (e->type != VS_FSE_FILE || s->type != VS_FSE_FILE || e->size != s->size)
            abort();
        return 0;
    }
    free(s->hdr);
    s->hdr = vs_fse_encode(e, &s->hlen);
    if (!vs_fse_path_ok(e->path, strlen(e->path), true))
        abort();
    if (e->type == VS_FSE_HARDLINK && !vs_fse_path_ok(e->target, strlen(e->target), false))
        abort();
    for (size_t i = 0; i < e->nxattr; i++)
        if (!e->xattrs[i].name[0] || e->xattrs[i].len > VS_FSE_XATTR_MAX)
            abort();
    s->size = e->size;
    s->next = 0;
    s->type = e->type;
    return 0;
}

static int on_data(void *arg, uint64_t off, const uint8_t *buf, size_t len, vm_err *err)
{
    (void)buf;
    (void)err;
    seen *s = arg;
    if (s->type != VS_FSE_FILE || off < s->next || off > s->size || len > s->size - off || len == 0)
        abort();
    s->next = off + len;
    return 0;
}

static int on_end(void *arg, vm_err *err)
{
    (void)arg;
    (void)err;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t slice = (size_t)data[0] + 1;
    data++;
    size--;
    seen s = { 0 };
    vs_fse_ops ops = { on_entry, on_data, on_end };
    vs_fse_parser *p = vs_fse_parser_new(&ops, &s);
    vm_err err = VM_ERR_INIT;
    int r = 0;
    size_t feeds = 0;
    for (size_t o = 0; r == 0 && o < size; o += slice) {
        r = vs_fse_feed(p, data + o, size - o < slice ? size - o : slice, &err);
        vs_fse_pos pos;
        vs_fse_where(p, &pos);
        if (r == 0 && pos.at != VS_FSE_AT_OTHER && ++feeds % 7 == 3) {
            vs_fse_parser_free(p);
            p = vs_fse_parser_new(&ops, &s);
            if (vs_fse_restart(p, &pos, s.hdr, s.hlen, &err) < 0)
                abort();
        }
    }
    if (r == 0)
        r = vs_fse_finish(p, &err);
    if (r < 0 && strncmp(err.msg, "invalid stream: ", 16) != 0)
        abort();
    vs_fse_parser_free(p);
    free(s.hdr);
    return 0;
}
