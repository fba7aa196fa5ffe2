/* A filesystem tree as a send sees it (internal to lib/storage): the walk
 * of a snapshot's directory and the plan of what a stream carries.
 *
 * The walk never follows a symlink (every directory is opened with
 * O_NOFOLLOW relative to its parent's fd) and lists entries in send order:
 * depth first, a directory before its contents, siblings by strcmp.  A
 * regular file with more than one link is sent whole once (its first path
 * in that order, the "primary") and as hardlink entries at its other paths.
 *
 * Change detection (incremental and origin streams) is rsync's quick check,
 * per path: type, mode, owner, size, mtime (ns), symlink text, device
 * number, xattrs and hardlink primary must all be equal for an entry to
 * count as unchanged; file contents are not compared.  The trade-off: a
 * write that keeps size and mtime (a tool restoring mtime after changing
 * bytes, or a change within the mtime granularity) is not sent.  Reading
 * both trees whole would find it but costs the full data size on every
 * send; snapshots here are frozen copies whose mtimes come from the writer,
 * so the quick check finds every change a normal program makes.  Whatever
 * is sent is sent whole: a changed file's full data, a changed directory's
 * metadata (its contents only as their own entries); every ancestor
 * directory of a sent entry is sent too (its metadata), so the receiver can
 * restore directory mtimes it disturbed. */
#ifndef VM_STORAGE_FSTREE_H
#define VM_STORAGE_FSTREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <jansson.h>

#include "common/err.h"
#include "storage/fsentry.h"

typedef struct fs_node {
    char *path; /* relative; "" the root */
    struct stat st;
    char *target; /* symlink text */
    char *primary; /* hardlink: the path sent whole (NULL: this one) */
    vs_fse_xattr *xa; /* owned names and values */
    size_t nxa;
    uint64_t *ext; /* file: data extents (offset, length pairs) */
    size_t next;
    bool send;
} fs_node;

typedef struct fs_tree {
    fs_node *n;
    size_t len, cap;
    json_t *index; /* path -> position */
} fs_tree;

/* Walks the tree at `root`; skip_links_into (nullable): top-level
 * symlinks whose text starts with it are left out (the dir driver's links
 * to child datasets). */
int fs_tree_walk(const char *root, const char *skip_links_into, fs_tree *t, vm_err *err);
void fs_tree_free(fs_tree *t);

/* Marks in `cur` what a stream from `base` (NULL: full) must carry and
 * lists in *deletes (new array of paths) what it must delete.  Returns the
 * number of entries changed or deleted (0: the trees are equal). */
size_t fs_tree_diff(fs_tree *base, fs_tree *cur, json_t **deletes);

/* The entry for node i (borrowing its strings). */
void fs_node_entry(const fs_node *n, vs_fse *e);
/* Bytes the stream object takes for the marked entries and deletes. */
uint64_t fs_plan_size(const fs_tree *cur, json_t *deletes);

#endif
