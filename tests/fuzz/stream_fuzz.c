/* libFuzzer harness: arbitrary bytes as a send stream (what `vmstore
 * receive`, `vmadm receive` and a migration destination read from an
 * untrusted peer) through the codec's reader to its END.  Whatever the
 * reader returns must keep its promises (stream.h): DATA only for the open
 * object, inside its declared size, ascending; lengths within the limits;
 * every refusal an "invalid stream: " message.  Must never crash, leak or
 * trip UBSan.
 *
 * Random bytes rarely get past the per-record SHA-256, so an input whose
 * first byte is 'S' is read as a list of records — u8 type, u16 length,
 * payload — and turned into a stream with correct digests first: that is
 * how the semantic checks (order, bounds, object digests) get fuzzed.
 * An input whose first byte is 'T' is a resume token (what a receiver
 * hands a sender: `vmstore send -t`): parsed, and a token made again from
 * what was accepted must parse to the same state. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>

#include "common/util.h"
#include "storage/storage.h"
#include "storage/stream.h"

typedef struct src {
    const uint8_t *p;
    size_t len, pos;
} src;

static ssize_t src_read(void *arg, void *buf, size_t len)
{
    src *s = arg;
    size_t n = s->len - s->pos < len ? s->len - s->pos : len;
    memcpy(buf, s->p + s->pos, n);
    s->pos += n;
    return (ssize_t)n;
}

/* 'S' inputs: records with digests computed here; *out malloc'd. */
static size_t structured(const uint8_t *d, size_t n, uint8_t **out)
{
    uint8_t *b = malloc(12 + n * 48 + n);
    memcpy(b, "VMADMSTR\0\0\0\2", 12);
    size_t o = 12, i = 1;
    while (i + 3 <= n) {
        uint32_t type = d[i];
        size_t len = (size_t)d[i + 1] << 8 | d[i + 2];
        i += 3;
        if (len > n - i)
            len = n - i;
        memset(b + o, 0, 48);
        b[o + 3] = (uint8_t)type;
        b[o + 14] = (uint8_t)(len >> 8);
        b[o + 15] = (uint8_t)len;
        EVP_Digest(d + i, len, b + o + 16, NULL, EVP_sha256(), NULL);
        memcpy(b + o + 48, d + i, len);
        o += 48 + len;
        i += len;
    }
    *out = b;
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
static void token(const uint8_t *data, size_t size)
{
    char *t = malloc(size);
    memcpy(t, data + 1, size - 1);
    t[size - 1] = '\0';
    json_t *st = NULL;
    vm_err err = VM_ERR_INIT;
    if (vs_resume_token_parse(t, &st, &err) == 0) {
        char *js = json_dumps(st, JSON_COMPACT | JSON_SORT_KEYS);
        char *again = vs_resume_token(js);
        json_t *st2 = NULL;
        if (vs_resume_token_parse(again, &st2, &err) < 0 || !json_equal(st, st2))
            __builtin_trap();
        json_decref(st2);
        free(again);
        free(js);
    } else if (strcmp(err.msg, "resume token is corrupt") != 0) {
        __builtin_trap();
    }
    json_decref(st);
    free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size && data[0] == 'T') {
        token(data, size);
        return 0;
    }
    uint8_t *built = NULL;
    if (size && data[0] == 'S')
        size = structured(data, size, &built);
    src s = { built ? built : data, size, 0 };
    vs_stream_reader *r = NULL;
    json_t *h;
    vm_err err = VM_ERR_INIT;
    if (vs_stream_reader_open(src_read, &s, &r, &h, &err) < 0) {
        if (strncmp(err.msg, "invalid stream: ", 16) != 0)
            __builtin_trap();
        free(built);
        return 0;
    }
    if (!json_is_object(h))
        __builtin_trap();
    vs_stream_rec rec;
    int rc;
    int64_t open = -1;
    uint64_t size_of_open = 0, end = 0;
    while ((rc = vs_stream_next(r, &rec, &err)) == 1) {
        switch (rec.type) {
        case VS_REC_OBJECT:
            if (open != -1 || !json_is_integer(json_object_get(rec.json, "size")))
                __builtin_trap();
            open = rec.object;
            size_of_open = (uint64_t)json_integer_value(json_object_get(rec.json, "size"));
            end = 0;
            break;
        case VS_REC_DATA:
            if ((int64_t)rec.object != open || rec.len > VS_STREAM_DATA_MAX || rec.offset < end ||
                rec.offset > size_of_open || rec.len > size_of_open - rec.offset)
                __builtin_trap();
            end = rec.offset + rec.len;
            break;
        case VS_REC_OBJECT_END:
            if ((int64_t)rec.object != open)
                __builtin_trap();
            open = -1;
            break;
        default: __builtin_trap();
        }
    }
    if (rc == 0 && (open != -1 || !json_is_object(rec.json)))
        __builtin_trap();
    if (rc < 0 && strncmp(err.msg, "invalid stream: ", 16) != 0)
        __builtin_trap();
    vs_stream_reader_free(r);
    free(built);
    return 0;
}
