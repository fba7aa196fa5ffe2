/* SmartOS metadata protocol v2 codec (codec.h). */
#include "mdata/codec.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/util.h"

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

uint32_t mdata_crc32(const char *s, size_t len)
{
    uLong c = crc32(0L, Z_NULL, 0);
    while (len > 0) {
        uInt n = len > (1u << 30) ? (1u << 30) : (uInt)len;
        c = crc32(c, (const Bytef *)s, n);
        s += n;
        len -= n;
    }
    return (uint32_t)c;
}

char *mdata_b64_encode(const char *s, size_t len, size_t *outlen)
{
    const unsigned char *p = (const unsigned char *)s;
    char *out = xmalloc((len + 2) / 3 * 4 + 1);
    size_t o = 0, i = 0;
    for (; i + 2 < len; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = b64chars[v >> 18];
        out[o++] = b64chars[(v >> 12) & 63];
        out[o++] = b64chars[(v >> 6) & 63];
        out[o++] = b64chars[v & 63];
    }
    if (i < len) {
        uint32_t v = (uint32_t)p[i] << 16 | (i + 1 < len ? (uint32_t)p[i + 1] << 8 : 0);
        out[o++] = b64chars[v >> 18];
        out[o++] = b64chars[(v >> 12) & 63];
        out[o++] = i + 1 < len ? b64chars[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
    out[o] = '\0';
    if (outlen)
        *outlen = o;
    return out;
}

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

char *mdata_b64_decode(const char *s, size_t len, size_t *outlen)
{
    /* Padding only at the end, at most two. */
    size_t pad = 0;
    while (len > 0 && s[len - 1] == '=' && pad < 2) {
        len--;
        pad++;
    }
    if (len % 4 == 1 || (pad && (len + pad) % 4))
        return NULL;
    char *out = xmalloc(len / 4 * 3 + 3);
    size_t o = 0;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64val((unsigned char)s[i]);
        if (v < 0) {
            free(out);
            return NULL;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    out[o] = '\0';
    if (outlen)
        *outlen = o;
    return out;
}

/* Well-formed UTF-8 without NUL (jansson refuses the rest as strings). */
static bool text_ok(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned char c = p[i];
        size_t n;
        uint32_t cp;
        if (c == 0)
            return false;
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        for (size_t k = 1; k <= n; k++) {
            if (i + k >= len || (p[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
            return false;
        i += n + 1;
    }
    return true;
}

static bool is_hex_lower(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

/* The next space-separated token of [*p, end): sets tok and tlen, moves *p
 * past it and one separating space.  Returns false at the end. */
static bool token(const char **p, const char *end, const char **tok, size_t *tlen)
{
    const char *s = *p;
    if (s >= end)
        return false;
    const char *e = memchr(s, ' ', (size_t)(end - s));
    if (!e)
        e = end;
    *tok = s;
    *tlen = (size_t)(e - s);
    *p = e < end ? e + 1 : end;
    return *tlen > 0;
}

static int bad(mdata_req *r, const char *why)
{
    r->kind = MDATA_BAD;
    r->why = why;
    return -1;
}

/* Decodes one base64 argument into text bounded by max. */
static char *decode_text(const char *s, size_t len, size_t max, size_t *outlen)
{
    size_t n;
    char *t = mdata_b64_decode(s, len, &n);
    if (!t)
        return NULL;
    if (n > max || !text_ok(t, n)) {
        free(t);
        return NULL;
    }
    *outlen = n;
    return t;
}

/* SmartOS trims keys (agent.js trims GET and DELETE arguments). */
static void trim(char *s)
{
    size_t n = strlen(s), a = 0;
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
        s[--n] = '\0';
    while (s[a] == ' ' || s[a] == '\t' || s[a] == '\n' || s[a] == '\r')
        a++;
    memmove(s, s + a, n - a + 1);
}

static int parse_put(mdata_req *r, const char *arg, size_t alen)
{
    size_t n, kl, vl;
    cleanup_free char *inner = mdata_b64_decode(arg, alen, &n);
    if (!inner)
        return bad(r, "Invalid PUT Request");
    const char *sp = memchr(inner, ' ', n);
    if (!sp || memchr(sp + 1, ' ', n - (size_t)(sp + 1 - inner)))
        return bad(r, "Invalid PUT Request");
    r->key = decode_text(inner, (size_t)(sp - inner), MDATA_MAX_KEY, &kl);
    r->value = decode_text(sp + 1, n - (size_t)(sp + 1 - inner), MDATA_MAX_VALUE, &vl);
    if (!r->key || !r->value)
        return bad(r, "Invalid PUT Request");
    trim(r->key);
    if (!r->key[0])
        return bad(r, "Invalid PUT Request");
    return 0;
}

/* body = <reqid> <op>[ <arg>] */
static int parse_body(mdata_req *r, const char *body, size_t blen)
{
    const char *p = body, *end = body + blen, *tok, *op;
    size_t tl, ol;
    if (!token(&p, end, &tok, &tl) || tl > MDATA_MAX_REQID || !is_hex_lower(tok, tl))
        return bad(r, "invalid request id");
    memcpy(r->reqid, tok, tl);
    r->reqid[tl] = '\0';
    if (!token(&p, end, &op, &ol))
        return bad(r, "missing command");
    const char *arg = p;
    size_t alen = (size_t)(end - p);
    if (ol == 4 && !memcmp(op, "KEYS", 4)) {
        r->op = MDATA_OP_KEYS;
        return 0;
    }
    if (ol == 3 && !memcmp(op, "PUT", 3)) {
        r->op = MDATA_OP_PUT;
        return parse_put(r, arg, alen);
    }
    if (ol == 3 && !memcmp(op, "GET", 3))
        r->op = MDATA_OP_GET;
    else if (ol == 6 && !memcmp(op, "DELETE", 6))
        r->op = MDATA_OP_DELETE;
    else
        return bad(r, "Unknown command");
    size_t kl;
    r->key = alen ? decode_text(arg, alen, MDATA_MAX_KEY, &kl) : NULL;
    if (r->key)
        trim(r->key);
    if (!r->key || !r->key[0])
        return bad(r, r->op == MDATA_OP_GET ? "Invalid GET Request" : "Invalid DELETE Request");
    return 0;
}

/* "<len> <crc32> <body>" after "V2 ". */
static void parse_frame(mdata_req *r, const char *s, size_t len)
{
    const char *p = s, *end = s + len, *tok;
    size_t tl;
    uint64_t clen = 0;

    if (!token(&p, end, &tok, &tl) || tl > 8)
        return (void)bad(r, "invalid frame length");
    for (size_t i = 0; i < tl; i++) {
        if (tok[i] < '0' || tok[i] > '9')
            return (void)bad(r, "invalid frame length");
        clen = clen * 10 + (uint64_t)(tok[i] - '0');
    }
    const char *crc;
    size_t crcl;
    if (!token(&p, end, &crc, &crcl))
        return (void)bad(r, "invalid frame");
    const char *body = p;
    size_t blen = (size_t)(end - p);
    /* The reqid is read first, so even a damaged frame is answered with the
     * id its client waits for. */
    const char *rid = body, *rend = memchr(body, ' ', blen);
    size_t rl = rend ? (size_t)(rend - rid) : blen;
    if (rl > 0 && rl <= MDATA_MAX_REQID && is_hex_lower(rid, rl)) {
        memcpy(r->reqid, rid, rl);
        r->reqid[rl] = '\0';
    }
    if (clen == 0 || clen != blen)
        return (void)bad(r, "invalid frame length");
    char want[9];
    snprintf(want, sizeof want, "%08x", mdata_crc32(body, blen));
    if (crcl != 8 || memcmp(crc, want, 8))
        return (void)bad(r, "invalid frame checksum");
    if (parse_body(r, body, blen) == 0)
        r->kind = MDATA_REQUEST;
}

void mdata_parse(const char *line, size_t len, mdata_req *out)
{
    memset(out, 0, sizeof *out);
    out->kind = MDATA_INVALID;
    while (len > 0 && (line[len - 1] == ' ' || line[len - 1] == '\t' || line[len - 1] == '\r' || line[len - 1] == '\n'))
        len--;
    if (len >= 3 && !memcmp(line, "V2 ", 3)) {
        parse_frame(out, line + 3, len - 3);
        return;
    }
    if (len > 10 && !memcmp(line, "NEGOTIATE ", 10)) {
        bool v2 = len == 12 && !memcmp(line + 10, "V2", 2);
        out->kind = v2 ? MDATA_NEGOTIATE : MDATA_NEGOTIATE_FAIL;
    }
}

void mdata_req_free(mdata_req *r)
{
    free(r->key);
    free(r->value);
    r->key = r->value = NULL;
}

char *mdata_reply(const char *reqid, const char *status, const char *payload, size_t plen, size_t *outlen)
{
    cleanup_free char *b64 = payload && plen ? mdata_b64_encode(payload, plen, NULL) : NULL;
    cleanup_free char *body = xasprintf("%s %s%s%s", reqid, status, b64 ? " " : "", b64 ? b64 : "");
    size_t blen = strlen(body);
    char *out = xasprintf("V2 %zu %08x %s\n", blen, mdata_crc32(body, blen), body);
    if (outlen)
        *outlen = strlen(out);
    return out;
}

char *mdata_reply_plain(const mdata_req *r, size_t *outlen)
{
    switch (r->kind) {
    case MDATA_NEGOTIATE: *outlen = 6; return xstrdup("V2_OK\n");
    case MDATA_NEGOTIATE_FAIL: *outlen = 8; return xstrdup("FAILURE\n");
    case MDATA_BAD:
        if (r->reqid[0])
            return mdata_reply(r->reqid, "FAILURE", r->why, strlen(r->why), outlen);
        break;
    default: break;
    }
    *outlen = 16;
    return xstrdup("invalid command\n");
}
