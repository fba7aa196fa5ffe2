/* The SmartOS metadata protocol, version 2, as a pure codec: one request
 * line in, one reply out.  No I/O, no VM objects (keys.h decides what a
 * key means, the server moves bytes).
 *
 * Wire format (eng.tritondatacenter.com/mdata/protocol.html, mdata-client
 * proto.c, cloud-init JoyentMetadataClient):
 *   client: NEGOTIATE V2\n          host: V2_OK\n
 *   client: V2 <len> <crc32> <body>\n
 *           body = <reqid> <op>[ <base64 arg>], op GET|KEYS|PUT|DELETE
 *   host:   V2 <len> <crc32> <reqid> SUCCESS|NOTFOUND|FAILURE[ <base64>]\n
 * len: decimal byte length of the body; crc32: IEEE CRC-32 of the body as
 * 8 lowercase hex digits.  PUT's argument is base64("<b64 key> <b64
 * value>"): the key and value are encoded twice, as both reference clients
 * send them.
 *
 * What each line gets (mdata_parse fills kind):
 *   empty, blank, unknown word, NEGOTIATE without argument
 *                      -> MDATA_INVALID: reply "invalid command\n" (the
 *                         serial clients flush the line with newlines until
 *                         they read it)
 *   NEGOTIATE V2       -> MDATA_NEGOTIATE: "V2_OK\n"; NEGOTIATE <other>:
 *                         MDATA_NEGOTIATE_FAIL, "FAILURE\n" (V1-only host
 *                         answer, mdata-client then speaks V1)
 *   a V2 frame with a bad length, CRC, reqid, op, base64 or size
 *                      -> MDATA_BAD: a FAILURE frame carrying `why` when
 *                         the reqid could be read, else "invalid command";
 *                         never a hang, and the next frame is parsed anew
 *   a good V2 frame    -> MDATA_REQUEST with op, reqid, key (and value)
 *
 * Bounds: a line longer than MDATA_MAX_LINE is refused by the server
 * before parsing; a decoded key longer than MDATA_MAX_KEY or a value
 * longer than MDATA_MAX_VALUE is MDATA_BAD.  Keys and values must be
 * NUL-free UTF-8 (they become JSON strings). */
#ifndef VM_MDATA_CODEC_H
#define VM_MDATA_CODEC_H

#include <stddef.h>
#include <stdint.h>

#define MDATA_MAX_KEY 1024
#define MDATA_MAX_VALUE (1024 * 1024) /* the payload's customer_metadata bound */
/* base64 twice over a maximal PUT, plus the frame header. */
#define MDATA_MAX_LINE (2 * 1024 * 1024)
#define MDATA_MAX_REQID 16

enum mdata_kind { MDATA_INVALID = 0, MDATA_NEGOTIATE, MDATA_NEGOTIATE_FAIL, MDATA_BAD, MDATA_REQUEST };
enum mdata_op { MDATA_OP_NONE = 0, MDATA_OP_GET, MDATA_OP_KEYS, MDATA_OP_PUT, MDATA_OP_DELETE };

typedef struct mdata_req {
    int kind; /* enum mdata_kind */
    int op; /* enum mdata_op (MDATA_REQUEST) */
    char reqid[MDATA_MAX_REQID + 1]; /* "" when unknown */
    char *key; /* decoded, malloc'd (GET, PUT, DELETE) */
    char *value; /* decoded, malloc'd (PUT; "" means delete, as SmartOS) */
    const char *why; /* static text for MDATA_BAD */
} mdata_req;

/* Parses one line (without its '\n'; trailing blanks ignored).  Never
 * fails: every input maps to one kind.  Free with mdata_req_free. */
void mdata_parse(const char *line, size_t len, mdata_req *out);
void mdata_req_free(mdata_req *r);

/* The reply frame for reqid ("V2 ...\n", malloc'd, *outlen its length).
 * status "SUCCESS", "NOTFOUND" or "FAILURE"; payload NULL or empty: none. */
char *mdata_reply(const char *reqid, const char *status, const char *payload, size_t plen, size_t *outlen);
/* What a parsed line gets back (the cases above), for every kind but
 * MDATA_REQUEST; malloc'd. */
char *mdata_reply_plain(const mdata_req *r, size_t *outlen);

/* IEEE CRC-32 (zlib) and standard base64 with padding.  mdata_b64_decode
 * accepts missing padding, refuses any other byte; returns a malloc'd
 * NUL-terminated buffer or NULL. */
uint32_t mdata_crc32(const char *s, size_t len);
char *mdata_b64_encode(const char *s, size_t len, size_t *outlen);
char *mdata_b64_decode(const char *s, size_t len, size_t *outlen);

#endif
