/* The minimal HTTP/1.1 client vmadm and vminfo use to reach vminfod: GET
 * only, Content-Length / chunked / close-delimited bodies, everything
 * non-blocking with deadlines so a stuck daemon can never hang vmadm.
 * Internal to lib/vminfo (exposed for unit tests). */
#ifndef VMINFO_HTTP_H
#define VMINFO_HTTP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/ctx.h"
#include "common/err.h"

typedef struct vminfo_buf {
    char *data;
    size_t len, cap;
} vminfo_buf;

void vminfo_buf_append(vminfo_buf *b, const char *p, size_t n);
/* Drops the first n bytes. */
void vminfo_buf_consume(vminfo_buf *b, size_t n);
void vminfo_buf_free(vminfo_buf *b);

/* Incremental chunked transfer-coding decoder (RFC 9112 §7.1). */
typedef struct vminfo_chunked {
    int state;
    uint64_t remain;
    int digits;
} vminfo_chunked;

/* Decodes `in`, appending payload to `out`.  Returns the bytes consumed
 * (less than len only once the last chunk and trailers were read, *done
 * set), or -1 with err on malformed input. */
ssize_t vminfo_chunked_feed(vminfo_chunked *c, const char *in, size_t len, vminfo_buf *out, int *done, vm_err *err);

typedef struct vminfo_http {
    int fd;
    int status;
    int chunked;
    long long clen; /* -1: until EOF (or chunked) */
    long long got; /* body bytes received (non-chunked) */
    int done; /* whole body received */
    vminfo_chunked ck;
    vminfo_buf raw; /* received, not yet decoded */
    vminfo_buf body; /* decoded, not yet consumed by the caller */
    char *root; /* X-Vminfod-Root of the daemon */
    int redacted; /* X-Vminfod-Redacted: the TCP view, secrets removed */
} vminfo_http;

#define VMINFO_HTTP_INIT \
    { \
        .fd = -1, .clen = -1 \
    }

/* Connects to the daemon for ctx (unix socket of the root, then TCP at
 * ctx->vminfod_addr), sends `GET path` and reads the status line and
 * headers.  deadline: absolute now_ms() value, or -1 for none. */
int vminfo_http_get(vminfo_http *h, const vm_ctx *ctx, const char *path, const char *user_agent, int64_t deadline,
                    vm_err *err);
/* Reads more of the body into h->body.  Returns 1 on progress (or body
 * complete: h->done), 0 when the deadline passed, -1 on error / premature
 * end. */
int vminfo_http_read(vminfo_http *h, int64_t deadline, vm_err *err);
/* Reads the whole body (h->body). */
int vminfo_http_read_all(vminfo_http *h, int64_t deadline, vm_err *err);
void vminfo_http_close(vminfo_http *h);

/* `<name> - <hostname>/<pid> (<program>)` (I21); caller frees. */
char *vminfo_user_agent(const char *name);

#endif
