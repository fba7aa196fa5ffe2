/* The event history (a ring of JSON lines with sequence numbers) and the
 * /events listeners reading it: ready/resumed/resync first line, then the
 * events; slow or vanished clients are dropped, never waited for. */
#include "server_internal.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"

static void wakes_add(struct wakes *w, struct vminfod_listener *l)
{
    if (w->n == w->cap) {
        w->cap = w->cap ? w->cap * 2 : 8;
        w->v = xrealloc(w->v, w->cap * sizeof *w->v);
    }
    w->v[w->n].ops = l->ops;
    w->v[w->n].conn = l->conn;
    w->n++;
}

void vminfod_wakes_run(struct wakes *w)
{
    for (size_t i = 0; i < w->n; i++)
        if (w->v[i].ops && w->v[i].ops->resume)
            w->v[i].ops->resume(w->v[i].conn);
    free(w->v);
    w->v = NULL;
    w->n = w->cap = 0;
}

static void listener_drop(vminfod *d, struct vminfod_listener *l, const char *why)
{
    l->dead = 1;
    d->listeners_dropped++;
    /* shutdown() under the lock: the connection cannot be freed while the
     * listener is still in the list. */
    if (l->ops && l->ops->kill)
        l->ops->kill(l->conn);
    vminfod_log(d, "warn", "dropping events listener %s (%s): %s", l->uuid, l->ua ? l->ua : "-", why);
}

/* Lock held: the listener has bytes its client has not taken. */
static bool has_pending(vminfod *d, const struct vminfod_listener *l)
{
    return l->head_off < l->head_len || vminfo_ring_get(&d->ring, l->next_seq) != NULL;
}

void vminfod_keepalive(vminfod *d)
{
    struct wakes w = { 0 };
    int64_t now = now_ms();
    pthread_mutex_lock(&d->lock);
    for (struct vminfod_listener *l = d->listeners; l; l = l->next) {
        if (l->dead || l->closing)
            continue;
        /* A client that reads nothing while data waits holds a connection
         * and its share of the history: dropped after stall_ms. */
        if (d->opts.stall_ms > 0 && has_pending(d, l) && now - l->progress_ms > d->opts.stall_ms)
            listener_drop(d, l, "the client has read nothing for too long");
        else if (!l->ops || !l->ops->peer_gone || !l->ops->peer_gone(l->conn))
            continue;
        else
            listener_drop(d, l, "the client went away");
        /* A suspended connection must run once for the server to reap it. */
        if (l->suspended) {
            l->suspended = 0;
            wakes_add(&w, l);
        }
    }
    pthread_mutex_unlock(&d->lock);
    vminfod_wakes_run(&w);
}

/* After a push (lock held): wake idle listeners, drop the ones that fell
 * too far behind.  The daemon never waits for a client. */
static void listeners_after_push(vminfod *d, struct wakes *w)
{
    long long oldest = vminfo_ring_oldest(&d->ring);
    for (struct vminfod_listener *l = d->listeners; l; l = l->next) {
        if (l->dead || l->closing)
            continue;
        if (l->next_seq < oldest) {
            listener_drop(d, l, "its next event left the history");
        } else {
            long long pending = d->ring.total - vminfo_ring_pos(&d->ring, l->next_seq) - (long long)l->off;
            if (pending > (long long)d->opts.client_buffer)
                listener_drop(d, l, "client buffer limit exceeded");
        }
        if (l->suspended) {
            l->suspended = 0;
            wakes_add(w, l);
        }
    }
}

static char *event_line(json_t *ev, size_t *len)
{
    char *line = json_compact(ev);
    size_t n = strlen(line);
    line = xrealloc(line, n + 2);
    line[n++] = '\n';
    line[n] = '\0';
    *len = n;
    return line;
}

/* Lock held: appends the event (its "seq" added here) to the history, with
 * its redacted line for the TCP view, and tells the listeners. */
void vminfod_event_push_locked(vminfod *d, json_t *ev, struct wakes *w)
{
    json_object_set_new(ev, "seq", json_integer(d->ring.next_seq));
    size_t n, rn = 0;
    char *line = event_line(ev, &n);
    cleanup_json json_t *rev = vminfod_redact_event(ev);
    char *rline = rev ? event_line(rev, &rn) : NULL;
    vminfo_ring_push2(&d->ring, line, n, rline, rn);
    listeners_after_push(d, w);
}

/* JSON string contents for s (without the quotes). */
static char *json_escape(const char *s, size_t len, size_t *outlen)
{
    size_t cap = len + len / 8 + 16, n = 0;
    char *o = xmalloc(cap);
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (n + 8 > cap) {
            cap *= 2;
            o = xrealloc(o, cap);
        }
        if (c == '"' || c == '\\') {
            o[n++] = '\\';
            o[n++] = (char)c;
        } else if (c < 0x20) {
            o[n++] = '\\';
            o[n++] = 'u';
            o[n++] = '0';
            o[n++] = '0';
            o[n++] = hex[c >> 4];
            o[n++] = hex[c & 15];
        } else {
            o[n++] = (char)c;
        }
    }
    o[n] = '\0';
    *outlen = n;
    return o;
}

/* Lock held: whether one more stream for req fits the caps (per transport:
 * a TCP flood never counts against the unix socket). */
static int over_caps(vminfod *d, const vminfod_req *req, const char **why)
{
    size_t all = 0, mine = 0;
    for (struct vminfod_listener *l = d->listeners; l; l = l->next) {
        if (l->dead || l->redact != req->redact)
            continue;
        all++;
        if ((!l->peer && !req->peer) || (l->peer && req->peer && !strcmp(l->peer, req->peer)))
            mine++;
    }
    if (d->opts.max_streams && all >= d->opts.max_streams) {
        *why = "too many event streams, try again later";
        return 503;
    }
    if (d->opts.max_client_streams && !req->trusted && mine >= d->opts.max_client_streams) {
        *why = "too many event streams from this client";
        return 429;
    }
    return 0;
}

struct vminfod_listener *vminfod_listener_new(vminfod *d, const vminfod_req *req, int has_since, long long since,
                                              char **only, int *status, const char **why)
{
    char date[32];
    struct vms_blob *blob = NULL;
    long long last;
    int resume;

    pthread_mutex_lock(&d->lock);
    int over = over_caps(d, req, why);
    if (over) {
        pthread_mutex_unlock(&d->lock);
        *status = over;
        vminfod_log(d, "warn", "refusing an events stream from %s (%s): %s", req->peer ? req->peer : "-",
                    req->user_agent ? req->user_agent : "-", *why);
        return NULL;
    }
    struct vminfod_listener *l = xcalloc(1, sizeof *l);
    uuid_new(l->uuid);
    l->ua = req->user_agent ? xstrdup(req->user_agent) : NULL;
    l->peer = req->peer ? xstrdup(req->peer) : NULL;
    l->redact = req->redact;
    l->trusted = req->trusted;
    l->created = l->progress_ms = now_ms();
    iso_time_ms(l->created, date);
    last = d->ring.next_seq - 1;
    resume = has_since && vminfo_ring_can_resume(&d->ring, since);
    if (resume) {
        l->next_seq = since + 1;
    } else {
        blob = vminfod_vms_locked(d, only, l->redact, true);
        l->next_seq = d->ring.next_seq;
    }
    l->next = d->listeners;
    if (d->listeners)
        d->listeners->prev = l;
    d->listeners = l;
    d->nlisteners++;
    pthread_mutex_unlock(&d->lock);

    if (resume) {
        l->head = xasprintf("{\"type\":\"resumed\",\"date\":\"%s\",\"uuid\":\"%s\","
                            "\"since\":%lld,\"seq\":%lld}\n",
                            date, l->uuid, since, last);
    } else {
        /* Escaping the snapshot outside the lock: the blob is immutable and
         * the listener already counts from the matching seq. */
        size_t elen;
        cleanup_free char *esc = json_escape(blob->data, blob->len, &elen);
        cleanup_free char *pre = has_since
            ? xasprintf("{\"type\":\"resync\",\"date\":\"%s\",\"uuid\":\"%s\",\"since\":%lld,"
                        "\"oldest\":%lld,\"vms\":\"",
                        date, l->uuid, since, vminfo_ring_oldest(&d->ring))
            : xasprintf("{\"type\":\"ready\",\"date\":\"%s\",\"uuid\":\"%s\",\"vms\":\"", date, l->uuid);
        cleanup_free char *post = xasprintf("\",\"seq\":%lld}\n", last);
        size_t pl = strlen(pre), ql = strlen(post);
        char *h = xmalloc(pl + elen + ql + 1);
        memcpy(h, pre, pl);
        memcpy(h + pl, esc, elen);
        memcpy(h + pl + elen, post, ql + 1);
        vminfod_blob_unref(blob);
        pthread_mutex_lock(&d->lock);
        l->head = h;
        l->head_len = pl + elen + ql;
        pthread_mutex_unlock(&d->lock);
        return l;
    }
    pthread_mutex_lock(&d->lock);
    l->head_len = strlen(l->head);
    pthread_mutex_unlock(&d->lock);
    return l;
}

void vminfod_listener_attach(vminfod *d, vminfod_listener *l, const vminfod_listener_ops *ops, void *conn)
{
    pthread_mutex_lock(&d->lock);
    l->ops = ops;
    l->conn = conn;
    pthread_mutex_unlock(&d->lock);
}

ssize_t vminfod_listener_read(vminfod *d, vminfod_listener *l, char *buf, size_t max)
{
    size_t n = 0;

    pthread_mutex_lock(&d->lock);
    if (l->dead) {
        pthread_mutex_unlock(&d->lock);
        return -2;
    }
    if (l->head_off < l->head_len) {
        n = l->head_len - l->head_off;
        if (n > max)
            n = max;
        memcpy(buf, l->head + l->head_off, n);
        l->head_off += n;
        l->progress_ms = now_ms();
        if (l->head_off == l->head_len) {
            free(l->head);
            l->head = NULL;
            l->head_off = l->head_len = 0;
        }
        pthread_mutex_unlock(&d->lock);
        return (ssize_t)n;
    }
    while (n < max) {
        const vminfo_ring_ev *e = vminfo_ring_get(&d->ring, l->next_seq);
        if (!e)
            break;
        const char *text = l->redact && e->rtext ? e->rtext : e->text;
        size_t len = l->redact && e->rtext ? e->rlen : e->len;
        size_t k = len - l->off;
        if (k > max - n)
            k = max - n;
        memcpy(buf + n, text + l->off, k);
        n += k;
        l->off += k;
        l->progress_ms = now_ms();
        if (l->off == len) {
            l->next_seq++;
            l->off = 0;
        }
    }
    if (n == 0) {
        if (l->next_seq < vminfo_ring_oldest(&d->ring)) {
            l->dead = 1;
            pthread_mutex_unlock(&d->lock);
            return -2;
        }
        if (l->closing) {
            pthread_mutex_unlock(&d->lock);
            return -1;
        }
        if (l->ops && l->ops->suspend) {
            l->suspended = 1;
            l->ops->suspend(l->conn);
        }
    }
    pthread_mutex_unlock(&d->lock);
    return (ssize_t)n;
}

void vminfod_listener_free(vminfod *d, vminfod_listener *l)
{
    pthread_mutex_lock(&d->lock);
    if (l->prev)
        l->prev->next = l->next;
    else
        d->listeners = l->next;
    if (l->next)
        l->next->prev = l->prev;
    d->nlisteners--;
    pthread_mutex_unlock(&d->lock);
    free(l->head);
    free(l->ua);
    free(l->peer);
    free(l);
}

void vminfod_close_listeners(vminfod *d)
{
    struct wakes w = { 0 };
    pthread_mutex_lock(&d->lock);
    for (struct vminfod_listener *l = d->listeners; l; l = l->next) {
        l->closing = 1;
        if (l->suspended) {
            l->suspended = 0;
            wakes_add(&w, l);
        }
    }
    pthread_mutex_unlock(&d->lock);
    vminfod_wakes_run(&w);
}

size_t vminfod_listener_count(vminfod *d)
{
    pthread_mutex_lock(&d->lock);
    size_t n = d->nlisteners;
    pthread_mutex_unlock(&d->lock);
    return n;
}
