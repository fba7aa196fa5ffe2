/* HTTP through libcurl for image sources (fetch.h): small JSON GETs and
 * resumable, verified downloads. */
#include "image/fetch.h"

#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "image/sha1.h"

#define MAX_ATTEMPTS 10

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

/* A positive number of seconds from the environment, else def. */
static long env_seconds(const char *name, long def)
{
    const char *v = getenv(name);
    int64_t n;
    if (v && parse_i64(v, &n) && n > 0 && n < 86400)
        return (long)n;
    return def;
}

static void cleanup_curlp(CURL **h)
{
    if (*h)
        curl_easy_cleanup(*h);
}
#define cleanup_curl __attribute__((cleanup(cleanup_curlp)))

/* A handle with the policy of fetch.h; errbuf gets curl's details. */
static CURL *handle_new(const char *url, char errbuf[CURL_ERROR_SIZE])
{
    pthread_once(&curl_once, curl_init_once);
    CURL *h = curl_easy_init();
    if (!h)
        return NULL;
    errbuf[0] = 0;
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "imgadm (vmadm)");
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, env_seconds("IMGADM_CONNECT_TIMEOUT", 30));
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, env_seconds("IMGADM_STALL_TIMEOUT", 60));
    const char *ca = getenv("CURL_CA_BUNDLE");
    if (!ca || !*ca)
        ca = getenv("SSL_CERT_FILE");
    if (ca && *ca)
        curl_easy_setopt(h, CURLOPT_CAINFO, ca);
    return h;
}

/* The operator-facing text of a failed transfer. */
static int transfer_error(CURLcode rc, const char *url, const char *errbuf, vm_err *err)
{
    const char *why = errbuf && *errbuf ? errbuf : curl_easy_strerror(rc);
    switch (rc) {
    case CURLE_TOO_MANY_REDIRECTS: return vm_err_set(err, VMERR_INVALID, "too many redirects fetching %s", url);
    case CURLE_OPERATION_TIMEDOUT:
        return vm_err_set(err, VMERR_TIMEOUT, "%s stalled: no data for %ld s (%s)", url,
                          env_seconds("IMGADM_STALL_TIMEOUT", 60), why);
    case CURLE_UNSUPPORTED_PROTOCOL: return vm_err_set(err, VMERR_INVALID, "%s: refused (%s)", url, why);
    default: return vm_err_set(err, VMERR_IO, "cannot reach %s: %s", url, why);
    }
}

typedef struct membuf {
    char *p;
    size_t len, max;
    bool too_big;
} membuf;

static size_t mem_write(char *data, size_t size, size_t n, void *arg)
{
    membuf *b = arg;
    size_t add = size * n;
    if (b->len + add > b->max) {
        b->too_big = true;
        return 0;
    }
    b->p = xrealloc(b->p, b->len + add + 1);
    memcpy(b->p + b->len, data, add);
    b->len += add;
    b->p[b->len] = 0;
    return add;
}

int img_http_get(const char *url, size_t max_bytes, char **body, size_t *len, long *status, vm_err *err)
{
    char errbuf[CURL_ERROR_SIZE];
    cleanup_curl CURL *h = handle_new(url, errbuf);
    if (!h)
        return vm_err_set(err, VMERR_INTERNAL, "cannot start an HTTP client");
    membuf b = { .p = xstrdup(""), .max = max_bytes };
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, mem_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    CURLcode rc = curl_easy_perform(h);
    if (b.too_big) {
        free(b.p);
        return vm_err_set(err, VMERR_INVALID, "%s: answer larger than %zu bytes", url, max_bytes);
    }
    if (rc != CURLE_OK) {
        free(b.p);
        return transfer_error(rc, url, errbuf, err);
    }
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    *body = b.p;
    if (len)
        *len = b.len;
    return 0;
}

/* ---- the SHA-1 of a growing file, on its own thread ----
 * The writer says how far the file is written; the hasher reads it back
 * (from the page cache) up to there, so hashing runs alongside the
 * download instead of after it or in its write path. */

typedef struct hasher {
    pthread_t th;
    bool running;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int fd;
    uint64_t avail; /* bytes written, hashable */
    uint64_t hashed;
    bool closing; /* no more bytes: hash up to avail and stop */
    bool abort; /* stop now */
    int err_no;
    img_sha1 sha;
} hasher;

static void *hasher_main(void *arg)
{
    hasher *h = arg;
    uint8_t *buf = xmalloc(1u << 20);
    for (;;) {
        pthread_mutex_lock(&h->mu);
        while (h->hashed == h->avail && !h->closing && !h->abort)
            pthread_cond_wait(&h->cv, &h->mu);
        uint64_t n = h->avail - h->hashed;
        bool stop = h->abort || (n == 0 && h->closing);
        pthread_mutex_unlock(&h->mu);
        if (stop)
            break;
        ssize_t r = pread(h->fd, buf, n < (1u << 20) ? (size_t)n : (1u << 20), (off_t)h->hashed);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            h->err_no = r < 0 ? errno : EIO;
            break;
        }
        img_sha1_update(&h->sha, buf, (size_t)r);
        pthread_mutex_lock(&h->mu);
        h->hashed += (uint64_t)r;
        pthread_mutex_unlock(&h->mu);
    }
    free(buf);
    return NULL;
}

/* Starts hashing fd from byte 0; avail bytes are already there. */
static int hasher_start(hasher *h, int fd, uint64_t avail, vm_err *err)
{
    h->fd = fd;
    h->avail = avail;
    h->hashed = 0;
    h->closing = h->abort = false;
    h->err_no = 0;
    img_sha1_init(&h->sha);
    if (pthread_create(&h->th, NULL, hasher_main, h) != 0)
        return vm_err_set(err, VMERR_INTERNAL, "cannot start the hashing thread");
    h->running = true;
    return 0;
}

static void hasher_feed(hasher *h, uint64_t avail)
{
    pthread_mutex_lock(&h->mu);
    h->avail = avail;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
}

/* Stops the thread: after hashing everything fed (finish) or at once. */
static void hasher_stop(hasher *h, bool finish)
{
    if (!h->running)
        return;
    pthread_mutex_lock(&h->mu);
    if (finish)
        h->closing = true;
    else
        h->abort = true;
    pthread_cond_signal(&h->cv);
    pthread_mutex_unlock(&h->mu);
    pthread_join(h->th, NULL);
    h->running = false;
}

/* ---- downloads ---- */

typedef struct dl {
    const char *url;
    int fd;
    CURL *h;
    uint64_t have, want;
    hasher *hs;
    long status; /* of this attempt, once its body starts */
    int64_t range_start; /* Content-Range start of a 206, -1 if none */
    int64_t range_total; /* Content-Range total ("bytes ... /M"), -1 if none */
    bool started;
    bool reset; /* the server ignored the Range: the file starts over */
    vm_err werr; /* failure inside the write callback */
    img_progress_fn progress;
    void *parg;
} dl;

static size_t dl_header(char *data, size_t size, size_t n, void *arg)
{
    dl *d = arg;
    size_t len = size * n;
    static const char cr[] = "content-range:";
    if (len > sizeof cr && strncasecmp(data, cr, sizeof cr - 1) == 0) {
        cleanup_free char *line = xstrndup(data + sizeof cr - 1, len - (sizeof cr - 1));
        unsigned long long start, total;
        if (sscanf(line, " bytes %llu-", &start) == 1)
            d->range_start = (int64_t)start;
        const char *slash = strchr(line, '/');
        if (slash && sscanf(slash + 1, "%llu", &total) == 1)
            d->range_total = (int64_t)total;
    } else if (len >= 5 && strncmp(data, "HTTP/", 5) == 0) {
        d->range_start = d->range_total = -1; /* a new response (after a redirect) */
    }
    return len;
}

/* The first bytes of a body: decide whether they continue the file. */
/* The file starts over from byte 0 (and so does its hash). */
static int dl_restart(dl *d, vm_err *err)
{
    hasher_stop(d->hs, false);
    if (ftruncate(d->fd, 0) < 0)
        return vm_err_sys(err, errno, "cannot truncate the download of %s", d->url);
    d->have = 0;
    return hasher_start(d->hs, d->fd, 0, err);
}

static int size_mismatch(dl *d, uint64_t has)
{
    return vm_err_set(&d->werr, VMERR_INVALID, "size mismatch: manifest says %llu bytes, %s has %llu bytes",
                      (unsigned long long)d->want, d->url, (unsigned long long)has);
}

static int dl_start(dl *d)
{
    d->started = true;
    curl_easy_getinfo(d->h, CURLINFO_RESPONSE_CODE, &d->status);
    curl_off_t clen = -1;
    curl_easy_getinfo(d->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &clen);
    if (d->status == 200 && clen >= 0 && (uint64_t)clen != d->want)
        return size_mismatch(d, (uint64_t)clen);
    if (d->status == 206 && d->range_total >= 0 && (uint64_t)d->range_total != d->want)
        return size_mismatch(d, (uint64_t)d->range_total);
    if (d->status == 206) {
        if (d->range_start != (int64_t)d->have)
            return vm_err_set(&d->werr, VMERR_IO, "%s: server resumed at byte %lld, not %llu", d->url,
                              (long long)d->range_start, (unsigned long long)d->have);
        return 0;
    }
    if (d->status != 200)
        return -1; /* not data: the caller reports the status */
    if (d->have > 0) {
        if (dl_restart(d, &d->werr) < 0)
            return -1;
        d->reset = true;
    }
    return 0;
}

static size_t dl_write(char *data, size_t size, size_t n, void *arg)
{
    dl *d = arg;
    size_t len = size * n;
    if (!d->started && dl_start(d) < 0)
        return 0;
    if (d->status != 200 && d->status != 206)
        return 0;
    if (d->have + len > d->want) {
        vm_err_set(&d->werr, VMERR_INVALID, "size mismatch: manifest says %llu bytes, %s sends more",
                   (unsigned long long)d->want, d->url);
        return 0;
    }
    for (size_t off = 0; off < len;) {
        ssize_t w = pwrite(d->fd, data + off, len - off, (off_t)(d->have + off));
        if (w < 0) {
            if (errno == EINTR)
                continue;
            vm_err_sys(&d->werr, errno, "cannot write the download of %s", d->url);
            return 0;
        }
        off += (size_t)w;
    }
    d->have += len;
    hasher_feed(d->hs, d->have);
    if (d->progress)
        d->progress(d->parg, "download", d->have, d->want);
    return len;
}

/* One request for the bytes from d->have on.  Returns 0 when the attempt
 * ended (complete or cut, the caller looks at d->have), < 0 on a failure
 * that another attempt cannot fix. */
static int dl_attempt(dl *d, bool *retry, vm_err *err)
{
    char errbuf[CURL_ERROR_SIZE];
    cleanup_curl CURL *h = handle_new(d->url, errbuf);
    if (!h)
        return vm_err_set(err, VMERR_INTERNAL, "cannot start an HTTP client");
    d->h = h;
    d->started = false;
    d->status = 0;
    d->range_start = d->range_total = -1;
    vm_err_clear(&d->werr);
    char range[48];
    if (d->have > 0) {
        snprintf(range, sizeof range, "%llu-", (unsigned long long)d->have);
        curl_easy_setopt(h, CURLOPT_RANGE, range);
    }
    curl_easy_setopt(h, CURLOPT_BUFFERSIZE, 512L * 1024L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, dl_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, d);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, dl_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, d);
    uint64_t before = d->have;
    CURLcode rc = curl_easy_perform(h);
    d->h = NULL;
    *retry = false;
    if (vm_err_is_set(&d->werr)) {
        *err = d->werr;
        return -1;
    }
    long status = d->status;
    if (!d->started)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (status == 416 && d->range_total >= 0 && (uint64_t)d->range_total != d->want) {
        size_mismatch(d, (uint64_t)d->range_total);
        *err = d->werr;
        return -1;
    }
    if (status == 416 && d->have > 0) { /* our partial is longer than the file: start over */
        if (dl_restart(d, err) < 0)
            return -1;
        *retry = true;
        return 0;
    }
    if (status == 404)
        return vm_err_set(err, VMERR_NOTFOUND, "%s: HTTP 404 (not found)", d->url);
    if (status >= 300 && rc == CURLE_OK)
        return vm_err_set(err, VMERR_IO, "%s: HTTP %ld", d->url, status);
    if (rc == CURLE_OK && d->have < d->want && status != 0 && !d->started)
        return vm_err_set(err, VMERR_IO, "%s: HTTP %ld without a body", d->url, status);
    if (rc != CURLE_OK && rc != CURLE_PARTIAL_FILE && rc != CURLE_RECV_ERROR && rc != CURLE_GOT_NOTHING &&
        rc != CURLE_OPERATION_TIMEDOUT && rc != CURLE_SEND_ERROR && rc != CURLE_HTTP2_STREAM)
        return transfer_error(rc, d->url, errbuf, err);
    bool progressed = d->have > before || d->reset;
    d->reset = false;
    if (d->have < d->want) {
        *retry = progressed;
        if (!progressed) {
            if (rc == CURLE_OPERATION_TIMEDOUT)
                return transfer_error(rc, d->url, errbuf, err);
            return vm_err_set(err, VMERR_IO, "download of %s was cut after %llu of %llu bytes%s%s", d->url,
                              (unsigned long long)d->have, (unsigned long long)d->want, *errbuf ? ": " : "", errbuf);
        }
    }
    return 0;
}

/* The attempts; on success the hasher has been fed the whole file. */
static int dl_run(dl *d, vm_err *err)
{
    for (int attempt = 0; d->have < d->want; attempt++) {
        bool retry;
        if (attempt == MAX_ATTEMPTS)
            return vm_err_set(err, VMERR_IO,
                              "download of %s was cut after %llu of %llu bytes (run the import again to resume)",
                              d->url, (unsigned long long)d->have, (unsigned long long)d->want);
        if (dl_attempt(d, &retry, err) < 0)
            return -1;
        if (d->have < d->want && !retry)
            return vm_err_set(err, VMERR_IO, "download of %s stopped after %llu of %llu bytes", d->url,
                              (unsigned long long)d->have, (unsigned long long)d->want);
    }
    return 0;
}

int img_http_download(const char *url, int fd, uint64_t want_size, const char *want_sha1, img_progress_fn progress,
                      void *parg, vm_err *err)
{
    hasher hs = { .mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER };
    dl d = { .url = url, .fd = fd, .want = want_size, .hs = &hs, .progress = progress, .parg = parg };
    struct stat st;
    if (fstat(fd, &st) < 0)
        return vm_err_sys(err, errno, "cannot stat the download of %s", url);
    d.have = (uint64_t)st.st_size;
    if (d.have > want_size) {
        if (ftruncate(fd, 0) < 0)
            return vm_err_sys(err, errno, "cannot truncate the download of %s", url);
        d.have = 0;
    }
    /* What an earlier attempt left is hashed while the rest arrives. */
    if (hasher_start(&hs, fd, d.have, err) < 0)
        return -1;
    if (progress)
        progress(parg, "download", d.have, want_size);
    int r = dl_run(&d, err);
    hasher_stop(&hs, r == 0);
    if (r < 0)
        return -1;
    if (hs.err_no || hs.hashed != want_size)
        return vm_err_sys(err, hs.err_no ? hs.err_no : EIO, "cannot read back the download of %s", url);
    uint8_t dig[20];
    char hex[41];
    img_sha1_final(&hs.sha, dig);
    img_sha1_hex(dig, hex);
    if (strcmp(hex, want_sha1) != 0) {
        if (ftruncate(fd, 0) < 0)
            vm_err_sys(err, errno, "cannot truncate the download of %s", url);
        return vm_err_set(err, VMERR_INVALID, "sha1 mismatch: manifest says %s, %s has %s", want_sha1, url, hex);
    }
    return 0;
}
