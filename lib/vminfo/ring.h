/* Bounded history of vminfod events, so a client that reconnects can resume
 * with ?since=<seq> instead of reloading everything.  Bounded both in events
 * and in bytes (modify events carry the whole VM).  Not thread-safe: the
 * daemon holds its lock around every call. */
#ifndef VMINFO_RING_H
#define VMINFO_RING_H

#include <stddef.h>

typedef struct vminfo_ring_ev {
    long long seq;
    char *text; /* one event line, '\n'-terminated */
    size_t len;
    char *rtext; /* the line without secrets (vminfod's TCP view); NULL: same */
    size_t rlen;
    long long off; /* position of its first byte in the whole stream */
} vminfo_ring_ev;

typedef struct vminfo_ring {
    vminfo_ring_ev *ev;
    size_t cap, head, count;
    size_t max_bytes, bytes;
    long long next_seq; /* seq the next pushed event gets */
    long long total; /* bytes ever pushed: stream position of next_seq */
} vminfo_ring;

void vminfo_ring_init(vminfo_ring *r, size_t max_events, size_t max_bytes, long long first_seq);
void vminfo_ring_free(vminfo_ring *r);
/* Takes ownership of text (len bytes); returns its seq (r->next_seq before). */
long long vminfo_ring_push(vminfo_ring *r, char *text, size_t len);
/* Same, with the redacted variant of the line (owned; NULL: same as text). */
long long vminfo_ring_push2(vminfo_ring *r, char *text, size_t len, char *rtext, size_t rlen);
/* Seq of the oldest retained event (== next_seq when empty). */
long long vminfo_ring_oldest(const vminfo_ring *r);
/* The event with this seq, or NULL if evicted or not yet pushed. */
const vminfo_ring_ev *vminfo_ring_get(const vminfo_ring *r, long long seq);
/* Stream position where event `seq` starts; only meaningful for
 * oldest <= seq <= next_seq. */
long long vminfo_ring_pos(const vminfo_ring *r, long long seq);
/* Whether a client that has seen everything up to `since` can be served
 * from the ring (1), or must resync (0): since is older than the ring or
 * from the future (another daemon instance). */
int vminfo_ring_can_resume(const vminfo_ring *r, long long since);

#endif
