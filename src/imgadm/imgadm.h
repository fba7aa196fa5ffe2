/* imgadm's command table and the helpers its commands share.  A command
 * gets its own argv (argv[0] is its name), prints its output
 * and returns the exit status: 0; 1 on failure ("imgadm: error: <msg>" on
 * stderr); 2 on a usage error (the message, then the usage text, on
 * stderr).  Messages and output follow SmartOS imgadm(8). */
#ifndef IMGADM_H
#define IMGADM_H

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include <stdio.h>

#include "common/ctx.h"
#include "common/err.h"
#include "common/opts.h"

typedef struct imgadm_cmd {
    const char *name;
    int (*run)(vm_ctx *ctx, int argc, char **argv);
    const char *synopsis; /* usage line, after "imgadm " */
    const char *summary; /* what it does, one line */
} imgadm_cmd;

int imgadm_cmd_install(vm_ctx *ctx, int argc, char **argv); /* install.c */
int imgadm_cmd_list(vm_ctx *ctx, int argc, char **argv); /* list.c */
int imgadm_cmd_get(vm_ctx *ctx, int argc, char **argv); /* get_delete.c */
int imgadm_cmd_delete(vm_ctx *ctx, int argc, char **argv); /* get_delete.c */
int imgadm_cmd_create(vm_ctx *ctx, int argc, char **argv); /* create.c */
int imgadm_cmd_sources(vm_ctx *ctx, int argc, char **argv); /* cmd_sources.c */
int imgadm_cmd_avail(vm_ctx *ctx, int argc, char **argv); /* cmd_avail.c */
int imgadm_cmd_import(vm_ctx *ctx, int argc, char **argv); /* cmd_import.c */
int imgadm_cmd_update(vm_ctx *ctx, int argc, char **argv); /* cmd_update.c */

/* The usage text (from the command table) on f. */
void imgadm_usage(FILE *f);
/* "imgadm: error: <fmt>" and the usage text on stderr; returns 2. */
int imgadm_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* vm_opts_next's '?' or ':' as a usage error (returns 2); every command
 * parses its options with common/opts.h (bundles, `--`, options anywhere). */
int imgadm_opt_error(const vm_opts *o, int c);
/* "imgadm: error: <msg>" on stderr; returns 2 for VMERR_USAGE, else 1. */
int imgadm_fail(const vm_err *err);

/* Manifest tables (table.c).  A field is a dotted path into the object
 * ("files.0.size") or computed: pub / published_date (the date of
 * published_at), published (published_at without milliseconds), size
 * (files.0.size).  Missing fields print "-". */
char *imgadm_field_text(json_t *m, const char *field);
/* Prints rows (objects) as a table of fields (comma-separated), sorted on
 * sort (comma-separated, "-f" descending; NULL keeps the order).  Returns
 * the exit status. */
int imgadm_print_table(json_t *rows, const char *fields, const char *sort, int no_header);
/* field=value filters: a usage error (returns 2) for another shape, else 0. */
int imgadm_filters_check(int n, char **filters);
bool imgadm_filters_match(json_t *m, int n, char **filters);

/* Progress bar on stderr while installing or creating (progress.c): drawn
 * only when on (a TTY and no -q), erased by imgadm_bar_end. */
typedef struct imgadm_bar {
    int on;
    char phase[16];
    int last_pct;
    int64_t last_ms;
    int drawn;
} imgadm_bar;

/* The img_*_opts progress callback; arg is an imgadm_bar. */
void imgadm_bar_cb(void *arg, const char *phase, uint64_t done, uint64_t total);
void imgadm_bar_end(imgadm_bar *b);

#endif
