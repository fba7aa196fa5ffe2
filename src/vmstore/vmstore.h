/* vmstore: the zfs(8) subset the compute node needs, over lib/storage.
 * Same verbs, flags, columns and messages as zfs where they exist; errors
 * exit 1, usage errors exit 2.
 *
 * main.c looks the verb up in vmstore_cmds (one row per verb: name, handler,
 * its line of the usage text) and calls the handler with argv starting at the
 * verb; the handler parses its options with common/opts.h (zfs-style: they
 * come before the operands), returns the exit code and prints its own
 * messages (errors to stderr, one line each).  The handlers
 * live in cmd_*.c by group; the helpers below in common.c. */
#ifndef VMSTORE_H
#define VMSTORE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <jansson.h>

#include "common/err.h"
#include "common/opts.h"
#include "storage/storage.h"

typedef int (*vmstore_fn)(vs_pool *pool, int argc, char **argv);
typedef struct vmstore_cmd {
    const char *name;
    vmstore_fn fn;
    const char *usage; /* NULL for an alias (not listed) */
} vmstore_cmd;
/* The verbs, in the order of the usage text; ends with a NULL name. */
extern const vmstore_cmd vmstore_cmds[];

/* ---- common.c ---- */
/* "usage: vmstore <command> [args]" and every verb's line. */
void print_usage(FILE *f);
/* Prints msg (if any) and the usage text to stderr; returns 2. */
int usage(const char *msg, ...) __attribute__((format(printf, 1, 2)));
/* Prints err->msg; returns the exit code (2 for VMERR_USAGE, else 1). */
int fail(vm_err *err);
/* vm_opts_next's '?' or ':' as zfs words it (usage, 2). */
int opt_error(const vm_opts *o, int c);
/* A verb without options: refuses any (usage printed, returns 2); the
 * operands are then argv[1 .. *argc). */
int no_opts(int *argc, char **argv);
/* zfs's short property names ("refer", "avail") to the full ones. */
const char *canon_prop(const char *p);
/* Properties printed as sizes ("1.50G") and right-aligned. */
bool is_size_prop(const char *p);
/* "Tue Mar  4 10:00 2025" as zfs prints creation and hold times. */
void fmt_time(int64_t t, char *buf, size_t n);
/* One property value ({"value","source"}) as zfs prints it; -p: raw
 * numbers.  Newly allocated. */
char *fmt_value(const char *prop, json_t *pv, bool parsable);
/* -t list ("filesystem,snap,...") into VS_* bits; -1 after usage. */
int parse_types(const char *s, int *types);
/* zfs's table: columns padded by two spaces, sizes right-aligned;
 * scripted (-H): tab-separated, no header.  rows/heads: arrays of strings,
 * right: array of booleans per column. */
void print_table(json_t *rows, json_t *heads, json_t *right, bool scripted);
/* -o prop=value into props; -1 after usage on bad syntax or a repeat. */
int add_opt_prop(json_t *props, const char *arg);

/* ---- the verbs ---- */
int cmd_list(vs_pool *pool, int argc, char **argv); /* cmd_list.c */
int cmd_get(vs_pool *pool, int argc, char **argv); /* cmd_props.c */
int cmd_set(vs_pool *pool, int argc, char **argv);
int cmd_create(vs_pool *pool, int argc, char **argv); /* cmd_create.c */
int cmd_clone(vs_pool *pool, int argc, char **argv);
int cmd_import(vs_pool *pool, int argc, char **argv);
int cmd_snapshot(vs_pool *pool, int argc, char **argv); /* cmd_snapshot.c */
int cmd_rollback(vs_pool *pool, int argc, char **argv);
int cmd_hold(vs_pool *pool, int argc, char **argv);
int cmd_release(vs_pool *pool, int argc, char **argv);
int cmd_holds(vs_pool *pool, int argc, char **argv);
int cmd_destroy(vs_pool *pool, int argc, char **argv); /* cmd_dataset.c */
int cmd_rename(vs_pool *pool, int argc, char **argv);
int cmd_swap(vs_pool *pool, int argc, char **argv);
int cmd_resize(vs_pool *pool, int argc, char **argv);
int cmd_changed(vs_pool *pool, int argc, char **argv); /* cmd_space.c */
int cmd_send(vs_pool *pool, int argc, char **argv); /* cmd_send.c */
int cmd_receive(vs_pool *pool, int argc, char **argv);
int cmd_space(vs_pool *pool, int argc, char **argv);
int cmd_gc(vs_pool *pool, int argc, char **argv);

#endif
