/* HTTP for image sources (lib/image internal), through libcurl.
 *
 * Only http and https, for the first request and every redirect (at most
 * 10; more is "too many redirects fetching <url>").  Proxies come from the
 * usual variables (http_proxy, https_proxy, no_proxy: libcurl reads them),
 * the CA bundle from CURL_CA_BUNDLE or SSL_CERT_FILE when set.  A
 * connection must open within IMGADM_CONNECT_TIMEOUT seconds (default 30)
 * and a transfer that moves no byte for IMGADM_STALL_TIMEOUT seconds
 * (default 60) fails with "... stalled: no data for N s".
 *
 * Messages name the URL and the cause: "cannot reach <url>: <curl's
 * text>", "<url>: HTTP <status>", "download of <url> was cut after N of
 * M bytes (run the import again to resume)". */
#ifndef VM_IMG_FETCH_H
#define VM_IMG_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "image/image.h"

/* GETs url into *body (NUL-terminated, caller frees; *len its length).
 * *status is the final HTTP status; any status is returned, a body larger
 * than max_bytes fails.  Failure to talk HTTP at all fails. */
int img_http_get(const char *url, size_t max_bytes, char **body, size_t *len, long *status, vm_err *err);

/* Downloads url into fd (a regular file opened O_RDWR) until it holds
 * want_size bytes whose SHA-1 is want_sha1.  The bytes already in fd are
 * kept and the rest asked for with a Range request (a server that answers
 * 200 or 416 instead gets a full download); a transfer cut short is resumed
 * the same way while each attempt makes progress.  On success fd holds
 * exactly the file.  A wrong size or SHA-1 empties fd (nothing of it can be
 * resumed) and fails with VMERR_INVALID; a 404 fails with VMERR_NOTFOUND;
 * a cut or a stall keeps what arrived, for the next attempt.  progress
 * (nullable) gets phase "download". */
int img_http_download(const char *url, int fd, uint64_t want_size, const char *want_sha1, img_progress_fn progress,
                      void *parg, vm_err *err);

#endif
