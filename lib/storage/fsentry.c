/* Filesystem entry codec (fsentry.h): encoder and incremental parser. */
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "storage/fsentry.h"

bool vs_fse_path_ok(const char *p, size_t len, bool allow_root)
{
    if (len == 0)
        return allow_root;
    if (len > VS_FSE_PATH_MAX || memchr(p, '\0', len))
        return false;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && p[i] != '/')
            continue;
        size_t c = i - start;
        if (c == 0 || (c == 1 && p[start] == '.') || (c == 2 && p[start] == '.' && p[start + 1] == '.'))
            return false;
        start = i + 1;
    }
    return true;
}

/* ---- encoder ---- */

typedef struct obuf {
    uint8_t *b;
    size_t len, cap;
} obuf;

static void put(obuf *o, const void *p, size_t n)
{
    if (o->len + n > o->cap) {
        o->cap = (o->len + n) * 2;
        o->b = xrealloc(o->b, o->cap);
    }
    memcpy(o->b + o->len, p, n);
    o->len += n;
}

static void put_be(obuf *o, uint64_t v, int bytes)
{
    uint8_t b[8];
    for (int i = 0; i < bytes; i++)
        b[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
    put(o, b, (size_t)bytes);
}

uint8_t *vs_fse_encode(const vs_fse *e, size_t *len)
{
    obuf o = { NULL, 0, 0 };
    size_t pl = strlen(e->path);
    put_be(&o, (uint64_t)e->op, 1);
    put_be(&o, pl, 2);
    put(&o, e->path, pl);
    if (e->op == VS_FSE_ENTRY) {
        put_be(&o, (uint64_t)e->type, 1);
        put_be(&o, e->mode & 07777, 4);
        put_be(&o, e->uid, 4);
        put_be(&o, e->gid, 4);
        put_be(&o, (uint64_t)e->mtime_sec, 8);
        put_be(&o, e->mtime_nsec, 4);
        put_be(&o, e->rdev, 8);
        put_be(&o, e->nxattr, 2);
        for (size_t i = 0; i < e->nxattr; i++) {
            size_t nl = strlen(e->xattrs[i].name);
            put_be(&o, nl, 1);
            put(&o, e->xattrs[i].name, nl);
            put_be(&o, e->xattrs[i].len, 4);
            put(&o, e->xattrs[i].value, e->xattrs[i].len);
        }
        size_t tl = e->target ? strlen(e->target) : 0;
        put_be(&o, tl, 2);
        put(&o, e->target ? e->target : "", tl);
        if (e->type == VS_FSE_FILE)
            put_be(&o, e->size, 8);
    }
    *len = o.len;
    return o.b;
}

void vs_fse_chunk(uint8_t out[16], uint64_t offset, uint64_t length)
{
    for (int i = 0; i < 8; i++) {
        out[i] = (uint8_t)(offset >> (56 - 8 * i));
        out[8 + i] = (uint8_t)(length >> (56 - 8 * i));
    }
}

/* ---- parser ---- */

enum { ST_HDR, ST_CHUNK, ST_DATA };

struct vs_fse_parser {
    vs_fse_ops ops;
    void *arg;
    int state;
    uint8_t *hb; /* a header split across feeds */
    size_t hlen, hcap;
    uint64_t count;
    /* the current entry */
    vs_fse e;
    char path[VS_FSE_PATH_MAX + 1], target[VS_FSE_PATH_MAX + 1];
    vs_fse_xattr *xa;
    char *xnames;
    size_t xcap, xncap;
    /* file data */
    uint64_t next_min, off, left;
};

vs_fse_parser *vs_fse_parser_new(const vs_fse_ops *ops, void *arg)
{
    vs_fse_parser *p = xcalloc(1, sizeof *p);
    p->ops = *ops;
    p->arg = arg;
    return p;
}

void vs_fse_parser_free(vs_fse_parser *p)
{
    if (!p)
        return;
    free(p->hb);
    free(p->xa);
    free(p->xnames);
    free(p);
}

uint64_t vs_fse_count(const vs_fse_parser *p)
{
    return p->count;
}

typedef struct cur {
    const uint8_t *p;
    size_t len, pos;
} cur;

static bool get(cur *c, uint64_t *v, int bytes)
{
    if (c->len - c->pos < (size_t)bytes)
        return false;
    uint64_t x = 0;
    for (int i = 0; i < bytes; i++)
        x = x << 8 | c->p[c->pos++];
    *v = x;
    return true;
}

static bool take(cur *c, size_t n, const uint8_t **out)
{
    if (c->len - c->pos < n)
        return false;
    *out = c->p + c->pos;
    c->pos += n;
    return true;
}

static int bad(vs_fse_parser *p, const char *what, vm_err *err)
{
    return vm_err_set(err, VMERR_INVALID, "invalid stream: filesystem entry %llu: %s", (unsigned long long)p->count + 1,
                      what);
}

#define NEED(x) \
    do { \
        if (!(x)) \
            return 0; \
    } while (0)

/* The attributes after the type; 1 when complete, 0 short, -1 bad. */
static int parse_attrs(vs_fse_parser *p, cur *c, vm_err *err)
{
    uint64_t v[7], nx;
    const int w[7] = { 4, 4, 4, 8, 4, 8, 2 };
    for (int i = 0; i < 7; i++)
        NEED(get(c, &v[i], w[i]));
    if (v[0] & ~(uint64_t)07777)
        return bad(p, "mode has bits beyond 07777", err);
    if (v[4] >= 1000000000)
        return bad(p, "mtime nanoseconds out of range", err);
    p->e.mode = (uint32_t)v[0];
    p->e.uid = (uint32_t)v[1];
    p->e.gid = (uint32_t)v[2];
    p->e.mtime_sec = (int64_t)v[3];
    p->e.mtime_nsec = (uint32_t)v[4];
    p->e.rdev = v[5];
    nx = v[6];
    /* Each xattr takes at least 6 bytes: allocate only for what the
     * bytes at hand can hold (names go to one buffer, NUL-terminated). */
    NEED(nx * 6 <= c->len - c->pos);
    size_t room = c->len - c->pos + nx;
    if (nx > p->xcap)
        p->xa = xrealloc(p->xa, (p->xcap = nx) * sizeof *p->xa);
    if (room > p->xncap)
        p->xnames = xrealloc(p->xnames, p->xncap = room);
    size_t used = 0;
    for (size_t i = 0; i < nx; i++) {
        uint64_t nl, vl;
        const uint8_t *name, *val;
        NEED(get(c, &nl, 1) && take(c, nl, &name) && get(c, &vl, 4));
        if (nl == 0 || memchr(name, '\0', nl))
            return bad(p, "invalid xattr name", err);
        if (vl > VS_FSE_XATTR_MAX)
            return bad(p, "xattr value too large", err);
        NEED(take(c, vl, &val));
        char *n = p->xnames + used;
        memcpy(n, name, nl);
        n[nl] = '\0';
        used += nl + 1;
        p->xa[i] = (vs_fse_xattr){ n, val, (uint32_t)vl };
    }
    p->e.nxattr = nx;
    p->e.xattrs = p->xa;
    return 1;
}

/* One header from c: 1 complete (c->pos past it), 0 short, -1 bad. */
static int parse_header(vs_fse_parser *p, cur *c, vm_err *err)
{
    uint64_t op, pl, type, tl;
    const uint8_t *path, *tgt;
    NEED(get(c, &op, 1));
    if (op != VS_FSE_ENTRY && op != VS_FSE_DELETE)
        return bad(p, "unknown operation", err);
    NEED(get(c, &pl, 2) && take(c, pl, &path));
    memset(&p->e, 0, sizeof p->e);
    p->e.op = (int)op;
    if (!vs_fse_path_ok((const char *)path, pl, op == VS_FSE_ENTRY))
        return bad(p, "unsafe or malformed path", err);
    memcpy(p->path, path, pl);
    p->path[pl] = '\0';
    p->e.path = p->path;
    if (op == VS_FSE_DELETE)
        return 1;
    NEED(get(c, &type, 1));
    if (type < VS_FSE_FILE || type > VS_FSE_SOCK)
        return bad(p, "unknown entry type", err);
    p->e.type = (int)type;
    if (pl == 0 && type != VS_FSE_DIR)
        return bad(p, "the root must be a directory", err);
    int r = parse_attrs(p, c, err);
    if (r <= 0)
        return r;
    NEED(get(c, &tl, 2) && take(c, tl, &tgt));
    bool is_link = type == VS_FSE_SYMLINK || type == VS_FSE_HARDLINK;
    if (is_link != (tl > 0) || tl > VS_FSE_PATH_MAX || memchr(tgt, '\0', tl))
        return bad(p, "invalid link target", err);
    if (type == VS_FSE_HARDLINK && !vs_fse_path_ok((const char *)tgt, tl, false))
        return bad(p, "unsafe or malformed hardlink target", err);
    memcpy(p->target, tgt, tl);
    p->target[tl] = '\0';
    p->e.target = tl ? p->target : NULL;
    if ((type != VS_FSE_CHR && type != VS_FSE_BLK) && p->e.rdev)
        return bad(p, "device number on a non-device", err);
    if (type == VS_FSE_FILE)
        NEED(get(c, &p->e.size, 8));
    return 1;
}

/* After a complete header. */
static int header_done(vs_fse_parser *p, vm_err *err)
{
    if (p->ops.entry(p->arg, &p->e, err) < 0)
        return -1;
    if (p->e.op == VS_FSE_ENTRY && p->e.type == VS_FSE_FILE) {
        p->state = ST_CHUNK;
        p->next_min = 0;
        return 0;
    }
    p->count++;
    return p->ops.end(p->arg, err);
}

static int chunk_done(vs_fse_parser *p, const uint8_t b[16], vm_err *err)
{
    uint64_t off = 0, len = 0;
    for (int i = 0; i < 8; i++) {
        off = off << 8 | b[i];
        len = len << 8 | b[8 + i];
    }
    if (len == 0) {
        p->state = ST_HDR;
        p->count++;
        return p->ops.end(p->arg, err);
    }
    if (off < p->next_min || off > p->e.size || len > p->e.size - off)
        return bad(p, "file data out of order or beyond its size", err);
    p->off = off;
    p->left = len;
    p->next_min = off + len;
    p->state = ST_DATA;
    return 0;
}

static void hb_append(vs_fse_parser *p, const uint8_t *buf, size_t n)
{
    if (p->hlen + n > p->hcap) {
        p->hcap = p->hlen + n;
        p->hb = xrealloc(p->hb, p->hcap);
    }
    memcpy(p->hb + p->hlen, buf, n);
    p->hlen += n;
}

/* A header or chunk header from (buf, len); *used: bytes of buf taken. */
static int feed_header(vs_fse_parser *p, const uint8_t *buf, size_t len, size_t *used, vm_err *err)
{
    if (p->state == ST_CHUNK) {
        size_t n = 16 - p->hlen < len ? 16 - p->hlen : len;
        hb_append(p, buf, n);
        *used = n;
        if (p->hlen < 16)
            return 0;
        p->hlen = 0;
        return chunk_done(p, p->hb, err);
    }
    size_t old = p->hlen;
    cur c = { buf, len, 0 };
    if (old) {
        size_t room = VS_FSE_HDR_MAX - old;
        hb_append(p, buf, len < room ? len : room);
        c = (cur){ p->hb, p->hlen, 0 };
    }
    int r = parse_header(p, &c, err);
    if (r < 0)
        return -1;
    if (r == 0) {
        if (c.len >= VS_FSE_HDR_MAX)
            return bad(p, "header too large", err);
        if (!old)
            hb_append(p, buf, len);
        *used = len;
        return 0;
    }
    *used = c.pos - old;
    r = header_done(p, err);
    p->hlen = 0;
    return r;
}

int vs_fse_feed(vs_fse_parser *p, const uint8_t *buf, size_t len, vm_err *err)
{
    while (len) {
        size_t used = 0;
        if (p->state == ST_DATA) {
            used = p->left < len ? (size_t)p->left : len;
            if (p->ops.data(p->arg, p->off, buf, used, err) < 0)
                return -1;
            p->off += used;
            p->left -= used;
            if (!p->left)
                p->state = ST_CHUNK;
        } else if (feed_header(p, buf, len, &used, err) < 0) {
            return -1;
        }
        buf += used;
        len -= used;
    }
    return 0;
}

int vs_fse_finish(vs_fse_parser *p, vm_err *err)
{
    if (p->state != ST_HDR || p->hlen)
        return bad(p, "the object ends inside an entry", err);
    return 0;
}

void vs_fse_where(const vs_fse_parser *p, vs_fse_pos *pos)
{
    memset(pos, 0, sizeof *pos);
    pos->count = p->count;
    if (p->hlen)
        pos->at = VS_FSE_AT_OTHER;
    else if (p->state == ST_HDR)
        pos->at = VS_FSE_AT_ENTRY;
    else {
        pos->at = VS_FSE_AT_FILE;
        pos->next_min = p->next_min;
        pos->off = p->state == ST_DATA ? p->off : p->next_min;
        pos->left = p->state == ST_DATA ? p->left : 0;
    }
}

int vs_fse_restart(vs_fse_parser *p, const vs_fse_pos *pos, const uint8_t *hdr, size_t len, vm_err *err)
{
    if (p->state != ST_HDR || p->hlen || p->count)
        return vm_err_set(err, VMERR_INTERNAL, "vs_fse_restart: the parser has been fed");
    p->count = pos->count;
    if (pos->at == VS_FSE_AT_ENTRY)
        return 0;
    if (pos->at != VS_FSE_AT_FILE || !hdr)
        return bad(p, "no restart point", err);
    cur c = { hdr, len, 0 };
    int r = parse_header(p, &c, err);
    if (r < 0)
        return -1;
    if (r == 0 || c.pos != len || p->e.op != VS_FSE_ENTRY || p->e.type != VS_FSE_FILE)
        return bad(p, "the restart entry is not a file's header", err);
    if (pos->next_min > p->e.size || (pos->left && (pos->off > pos->next_min || pos->next_min - pos->off != pos->left)))
        return bad(p, "the restart point is outside the file", err);
    p->e.resumed = true;
    if (p->ops.entry(p->arg, &p->e, err) < 0)
        return -1;
    p->next_min = pos->next_min;
    p->off = pos->off;
    p->left = pos->left;
    p->state = pos->left ? ST_DATA : ST_CHUNK;
    return 0;
}
