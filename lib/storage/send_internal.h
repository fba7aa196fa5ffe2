/* Shared by send.c (volumes, the vs_send/vs_receive dispatch) and
 * send_fs.c (filesystems); internal to lib/storage.  Contracts: storage.h
 * "send / receive". */
#ifndef VM_STORAGE_SEND_INTERNAL_H
#define VM_STORAGE_SEND_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>

#include "common/err.h"
#include "storage/storage.h"
#include "storage/stream.h"

/* What a send of `snapname` is relative to: nothing, an earlier snapshot
 * of the same dataset ("from"), or the dataset's origin. */
typedef struct vs_send_base {
    const char *snap; /* full snapshot name, NULL for a full send */
    bool origin; /* snap is the dataset's origin */
} vs_send_base;

/* Checks `from` against `snapname` (same dataset, older; or its origin). */
int vs_send_resolve(vs_pool *pool, const char *snapname, const char *from, int *type, vs_send_base *base, vm_err *err);

/* offset: a resumed send (storage.h), the object's DATA from that byte on. */
int vs_send_fs(vs_pool *pool, const char *snapname, const vs_send_base *base, uint64_t offset, vs_stream_writer *w,
               vm_err *err);
int vs_send_fs_size(vs_pool *pool, const char *snapname, const vs_send_base *base, uint64_t *bytes, vm_err *err);
int vs_receive_fs(vs_pool *pool, const char *name, vs_stream_reader *r, json_t *obj, int flags, vm_err *err);

/* Receive's first step for either kind, from the descriptor's "from" /
 * "origin": an incremental stream needs `name` whose most recent snapshot
 * is name@from (zfs's messages; `modified` then tells whether the live
 * data differs from it) and is applied in place (*work: a copy of name);
 * an origin stream needs `name` absent and the origin present, a full
 * stream `name` absent.  Those two are received into a new dataset
 * *work = "<name>-vmstore-recv-<pid>" (a clone of the origin with clone_props, or
 * made by `create`), renamed to `name` by vs_recv_end once complete: a
 * receive killed half way leaves no `name` behind, and the next receive
 * of that name removes what a dead receiver left.  *created: *work is new
 * (destroyed on failure; otherwise rolled back to from). */
typedef int (*vs_modified_fn)(vs_pool *pool, const char *name, const char *snap, bool *modified, vm_err *err);
typedef int (*vs_create_fn)(vs_pool *pool, const char *name, void *arg, vm_err *err);
/* workname: the new dataset's name instead of the pid-named one (a
 * resumable receive's "<name>-vmstore-partial"). */
int vs_recv_begin(vs_pool *pool, const char *name, const char *from, const char *origin, json_t *clone_props,
                  vs_modified_fn modified, vs_create_fn create, void *arg, const char *workname, char **work,
                  bool *created, vm_err *err);
/* vs_recv_end's flag: on failure keep *work as it is (a resumable receive). */
#define VS_RECV_KEEP 0x100
/* The end of a receive: with VS_RECV_LAST the stream's END, then
 * work@snap, and work renamed to name; on failure (rc < 0 in, or here) the
 * destination is put back.  Frees *work. */
int vs_recv_end(vs_pool *pool, const char *name, char **work, const char *snap, const char *from, bool created,
                vs_stream_reader *r, int flags, int rc, vm_err *err);

/* resume.c: "<name>-vmstore-partial"; the state saved on dataset ds (or
 * NULL); saving it with offset (state gets "offset"). */
char *vs_partial_name(const char *name);
json_t *vs_resume_state_at(vs_pool *pool, const char *ds);
int vs_resume_save(vs_pool *pool, const char *ds, json_t *state, uint64_t offset, vm_err *err);
/* A resumed object continues the partial receive on ds only if it is the
 * same object at the same byte: the state saved there agrees with `want`
 * in guid, snapshot, base, size and offset; *saved (nullable): that state. */
int vs_resume_check(vs_pool *pool, const char *name, const char *ds, json_t *want, json_t **saved, vm_err *err);

#endif
