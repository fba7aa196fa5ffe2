/* Small, dependency-free helpers shared by every module: automatic cleanup,
 * crash-safe file writes, JSON file I/O, UUIDs and time.  Running programs
 * (run_cmd) is common/cmd.h, included here for its callers. */
#ifndef VM_UTIL_H
#define VM_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <jansson.h>

#include "common/cmd.h" /* run_cmd, run_cmd_input */
#include "common/err.h"

/* ---- automatic cleanup (one owner per allocation) ---- */
void cleanup_freep(void *p);
void cleanup_closep(int *fd);
void cleanup_fclosep(FILE **f);
void cleanup_jsonp(json_t **j);
void cleanup_strvp(char ***v);
#define cleanup_free __attribute__((cleanup(cleanup_freep)))
#define cleanup_close __attribute__((cleanup(cleanup_closep)))
#define cleanup_fclose __attribute__((cleanup(cleanup_fclosep)))
#define cleanup_json __attribute__((cleanup(cleanup_jsonp)))
#define cleanup_strv __attribute__((cleanup(cleanup_strvp)))

/* Hands ownership to the caller: `return steal_ptr(x);` */
#define steal_ptr(p) \
    ({ \
        __typeof__(p) _t = (p); \
        (p) = NULL; \
        _t; \
    })
#define steal_fd(fd) \
    ({ \
        int _t = (fd); \
        (fd) = -1; \
        _t; \
    })

/* Abort on OOM: allocation failure is not a recoverable operator error here. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

bool str_has_prefix(const char *s, const char *prefix);
bool str_has_suffix(const char *s, const char *suffix);
/* NULL-terminated string vectors. */
size_t strv_len(char **v);
void strv_free(char **v);
char **strv_split(const char *s, const char *sep); /* empty fields dropped */
char *strv_join(char **v, const char *sep);

/* ---- files ---- */
/* temp file in the same directory, write, fsync, rename, fsync dir. */
int write_file_atomic(const char *path, const void *buf, size_t len, mode_t mode, vm_err *err);
/* Serialises with 2-space indent and key order kept, then write_file_atomic. */
int write_json_atomic(const char *path, json_t *j, vm_err *err);
/* Reads a whole file (NUL-terminated).  Fails with VMERR_NOTFOUND if absent. */
int read_file(const char *path, char **buf, size_t *len, vm_err *err);
/* Parses a JSON file; *out is a new reference. */
int read_json_file(const char *path, json_t **out, vm_err *err);
int mkdir_p(const char *path, mode_t mode, vm_err *err);
/* Recursive removal; a missing path is not an error. */
int rm_rf(const char *path, vm_err *err);
int fsync_dir(const char *dir);
bool path_exists(const char *path);
/* Copies a file preserving sparseness. */
int copy_file_sparse(const char *src, const char *dst, vm_err *err);

/* ---- JSON ---- */
/* JSON text as vmadm(8) prints it: 2-space indent, keys in insertion order. */
char *json_pretty(const json_t *j);
char *json_compact(const json_t *j);
/* Deep copy with key order preserved. */
json_t *json_dup(const json_t *j);

/* ---- identity, time ---- */
/* SmartOS rule: 36 chars, lower-case hex, dashes at 8,13,18,23. */
bool uuid_valid(const char *s);
/* Syntactic check only (vmadm CLI argument rule, C9). */
bool uuid_shape(const char *s);
void uuid_new(char out[37]);
int64_t now_ms(void);
/* ISO-8601 UTC with milliseconds: 2019-05-23T15:54:24.802Z */
void iso_time_ms(int64_t ms, char out[32]);

/* 0..15 for a hex digit, -1 otherwise. */
int hex_digit(char c);
/* Parses a non-negative decimal integer that fits int64 (whole string). */
bool parse_i64(const char *s, int64_t *out);

#endif
