#include "vminfo/ring.h"

#include <stdlib.h>

#include "common/util.h"

void vminfo_ring_init(vminfo_ring *r, size_t max_events, size_t max_bytes, long long first_seq)
{
    r->cap = max_events ? max_events : 1;
    r->ev = xcalloc(r->cap, sizeof *r->ev);
    r->head = r->count = 0;
    r->max_bytes = max_bytes;
    r->bytes = 0;
    r->next_seq = first_seq;
    r->total = 0;
}

static void evict_oldest(vminfo_ring *r)
{
    vminfo_ring_ev *e = &r->ev[r->head];
    r->bytes -= e->len + e->rlen;
    free(e->text);
    free(e->rtext);
    e->text = e->rtext = NULL;
    e->rlen = 0;
    r->head = (r->head + 1) % r->cap;
    r->count--;
}

void vminfo_ring_free(vminfo_ring *r)
{
    while (r->count)
        evict_oldest(r);
    free(r->ev);
    r->ev = NULL;
}

long long vminfo_ring_push(vminfo_ring *r, char *text, size_t len)
{
    return vminfo_ring_push2(r, text, len, NULL, 0);
}

long long vminfo_ring_push2(vminfo_ring *r, char *text, size_t len, char *rtext, size_t rlen)
{
    if (!rtext)
        rlen = 0;
    if (r->count == r->cap)
        evict_oldest(r);
    /* The newest event is always kept, even when alone it exceeds max_bytes. */
    while (r->count && r->bytes + len + rlen > r->max_bytes)
        evict_oldest(r);
    vminfo_ring_ev *e = &r->ev[(r->head + r->count) % r->cap];
    e->seq = r->next_seq++;
    e->text = text;
    e->len = len;
    e->rtext = rtext;
    e->rlen = rlen;
    e->off = r->total;
    r->total += (long long)len;
    r->bytes += len + rlen;
    r->count++;
    return e->seq;
}

long long vminfo_ring_oldest(const vminfo_ring *r)
{
    return r->count ? r->ev[r->head].seq : r->next_seq;
}

const vminfo_ring_ev *vminfo_ring_get(const vminfo_ring *r, long long seq)
{
    long long oldest = vminfo_ring_oldest(r);
    if (seq < oldest || seq >= r->next_seq)
        return NULL;
    return &r->ev[(r->head + (size_t)(seq - oldest)) % r->cap];
}

long long vminfo_ring_pos(const vminfo_ring *r, long long seq)
{
    const vminfo_ring_ev *e = vminfo_ring_get(r, seq);
    return e ? e->off : r->total;
}

int vminfo_ring_can_resume(const vminfo_ring *r, long long since)
{
    /* since < next_seq first: since + 1 then cannot overflow (a client may
     * send any int64, e.g. ?since=9223372036854775807). */
    return since < r->next_seq && since + 1 >= vminfo_ring_oldest(r);
}
