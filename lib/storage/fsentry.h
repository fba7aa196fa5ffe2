/* The entry codec of a filesystem send stream object (issues 17, 21): pure
 * bytes in, entries out — no file system access (send_fs.c walks and
 * applies).  A filesystem object's DATA, concatenated in offset order, is
 * a sequence of entries (all integers big-endian):
 *
 *   u8  op        1 = ENTRY (create or replace the path), 2 = DELETE
 *   u16 pathlen   path: relative, components separated by one "/", none
 *       path      empty, "." or ".."; no NUL; at most 4095 bytes; the empty
 *                 path is the dataset's root directory (ENTRY, dir only)
 *   -- DELETE ends here --
 *   u8  type      1 file, 2 dir, 3 symlink, 4 hardlink, 5 char device,
 *                 6 block device, 7 fifo, 8 socket
 *   u32 mode      permission bits only (07777)
 *   u32 uid, u32 gid          numeric, never names
 *   i64 mtime_sec, u32 mtime_nsec (< 10^9)
 *   u64 rdev      devices; 0 otherwise
 *   u16 nxattr    then each: u8 namelen (1..255), name, u32 vallen
 *                 (<= 65536), value — security.capability included
 *   u16 targetlen symlink: its text (1..4095 bytes, stored, never
 *       target    followed); hardlink: the path (rules above, not empty)
 *                 of an entry earlier in this stream or already in the
 *                 dataset; others: 0
 *   file only: u64 size, then chunks: u64 offset, u64 length, bytes —
 *              ascending, not overlapping, inside size; a chunk of length
 *              0 ends the file (holes are the gaps between chunks).
 *
 * The parser (fed any slicing of the bytes; fuzzed by tests/fuzz/
 * fsentry_fuzz.c) checks every rule above before a callback sees the
 * entry; a header is at most VS_FSE_HDR_MAX bytes.  Messages start with
 * "invalid stream: " and name the entry.  Callbacks get borrowed data,
 * valid until they return. */
#ifndef VM_STORAGE_FSENTRY_H
#define VM_STORAGE_FSENTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define VS_FSE_PATH_MAX 4095
#define VS_FSE_XATTR_MAX 65536
#define VS_FSE_HDR_MAX (1u << 20)

enum { VS_FSE_ENTRY = 1, VS_FSE_DELETE = 2 };
enum {
    VS_FSE_FILE = 1,
    VS_FSE_DIR,
    VS_FSE_SYMLINK,
    VS_FSE_HARDLINK,
    VS_FSE_CHR,
    VS_FSE_BLK,
    VS_FSE_FIFO,
    VS_FSE_SOCK,
};

typedef struct vs_fse_xattr {
    const char *name; /* NUL-terminated */
    const uint8_t *value;
    uint32_t len;
} vs_fse_xattr;

typedef struct vs_fse {
    int op, type;
    const char *path; /* NUL-terminated */
    uint32_t mode, uid, gid;
    int64_t mtime_sec;
    uint32_t mtime_nsec;
    uint64_t rdev;
    size_t nxattr;
    const vs_fse_xattr *xattrs;
    const char *target; /* symlink text / hardlink path; NULL otherwise */
    uint64_t size; /* file */
    bool resumed; /* a file entry given again by vs_fse_restart: its data
                     so far is where the interrupted parse wrote it */
} vs_fse;

/* Path rules above (root "" allowed when allow_root). */
bool vs_fse_path_ok(const char *p, size_t len, bool allow_root);

/* ---- encoder ---- */
/* The entry's header (everything before a file's chunks), malloc'd. */
uint8_t *vs_fse_encode(const vs_fse *e, size_t *len);
/* A chunk header (length 0: the file's end). */
void vs_fse_chunk(uint8_t out[16], uint64_t offset, uint64_t length);

/* ---- parser ---- */
typedef struct vs_fse_ops {
    int (*entry)(void *arg, const vs_fse *e, vm_err *err);
    /* File bytes of the last entry at `offset` (any slicing). */
    int (*data)(void *arg, uint64_t offset, const uint8_t *buf, size_t len, vm_err *err);
    /* The last entry is complete (after its data, for a file). */
    int (*end)(void *arg, vm_err *err);
} vs_fse_ops;

typedef struct vs_fse_parser vs_fse_parser;
vs_fse_parser *vs_fse_parser_new(const vs_fse_ops *ops, void *arg);
void vs_fse_parser_free(vs_fse_parser *p);
/* The next bytes of the object; callbacks run as entries complete. */
int vs_fse_feed(vs_fse_parser *p, const uint8_t *buf, size_t len, vm_err *err);
/* At the object's end: fails inside an entry. */
int vs_fse_finish(vs_fse_parser *p, vm_err *err);
/* Entries seen so far. */
uint64_t vs_fse_count(const vs_fse_parser *p);

/* ---- restart (storage.h "Resumable transfers") ----
 * Where a parser stands after its last feed, so that a fresh parser can
 * go on from that object offset once the callbacks' effects so far are
 * kept: between entries (VS_FSE_AT_ENTRY), inside a file's chunks
 * (VS_FSE_AT_FILE: the entry that vs_fse_restart needs again, off / left
 * the file offset of the next data byte and the bytes of its chunk still
 * to come — 0: a chunk header is next — and next_min the least offset the
 * next chunk may start at), or inside a header split across feeds
 * (VS_FSE_AT_OTHER: no restart point; try after the next feed). */
enum { VS_FSE_AT_OTHER, VS_FSE_AT_ENTRY, VS_FSE_AT_FILE };
typedef struct vs_fse_pos {
    int at;
    uint64_t count; /* entries complete */
    uint64_t off, left, next_min; /* VS_FSE_AT_FILE */
} vs_fse_pos;
void vs_fse_where(const vs_fse_parser *p, vs_fse_pos *pos);
/* A new parser (nothing fed yet) continues from pos: for VS_FSE_AT_FILE
 * hdr/len is the file's entry header (vs_fse_encode of the entry the
 * interrupted parse had; checked as any header), given to the entry
 * callback again with `resumed` set; then the feeds carry on with the
 * object's bytes from the point pos describes.  An inconsistent pos is
 * refused ("invalid stream: ..."). */
int vs_fse_restart(vs_fse_parser *p, const vs_fse_pos *pos, const uint8_t *hdr, size_t len, vm_err *err);

#endif
