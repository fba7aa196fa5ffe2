/* vmadm migrate (issue 17): moving a VM to another host — full, rounds of
 * incremental copies while it runs (-i manual, -a automatic), or QEMU live
 * migration (--live) — with a source that always survives.
 *
 * Destination: "[user@]host" (ssh; the destination runs the same tools,
 * `vmadm receive` and friends; ssh options from $VMADM_SSH_OPTS, the remote
 * vmadm from $VMADM_REMOTE_VMADM, the remote VMADM_ROOT from
 * $VMADM_REMOTE_ROOT) or "root:<path>" (a second VMADM_ROOT on this host).
 *
 * Phases and their guarantees (the record is <root>/etc/migrations/
 * <uuid>.json, 0600, written before each phase):
 *   preflight  the destination checks the stream's header (`vmadm receive
 *              -n`): nothing moves unless it accepts (named reasons).
 *   sync       copies while the source runs (-i/-a rounds) or after it
 *              stopped (full).  The copy at the destination is hidden
 *              (do_not_inventory) and stopped.  A failure here leaves the
 *              source as it was (restarted if this command stopped it) and
 *              the destination copy for a re-run to resume from.
 *   switch     source stopped, final delta, source hidden, destination
 *              shown and started (if the source ran).  If the destination
 *              cannot start, the source is shown and started again.
 *   switched   until --finalize (source deleted) or --rollback
 *              (destination deleted, source shown and started if it ran).
 * At no point do both copies run, and a stopped source is deleted only by
 * --finalize.  --abort signals a migration in progress, which then rolls
 * back; with its process gone, --abort rolls back from the record. */
#ifndef VM_MIGRATE_H
#define VM_MIGRATE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>

#include "common/ctx.h"
#include "common/err.h"

/* ---- destination transport (dest.c) ---- */
typedef struct mig_dest {
    char *spec; /* as given */
    char *root; /* root:<path>: the other VMADM_ROOT */
    char *host; /* ssh: [user@]host */
} mig_dest;

int mig_dest_parse(const char *spec, mig_dest *d, vm_err *err);
void mig_dest_free(mig_dest *d);
/* Starts `vmadm args...` at the destination with stdin from in_fd (-1:
 * /dev/null) and stdout into out_fd (-1: /dev/null); stderr is kept for
 * mig_dest_wait's message. */
typedef struct mig_job {
    pid_t pid;
    int errfd; /* read end of its stderr */
} mig_job;
int mig_dest_spawn(const mig_dest *d, char *const args[], int in_fd, int out_fd, mig_job *job, vm_err *err);
/* Waits for it: 0, or -1 with its last stderr line as the message. */
int mig_dest_wait(mig_job *job, const char *what, vm_err *err);
/* Runs it to the end, stdout captured (caller frees *out; may be NULL). */
int mig_dest_run(const mig_dest *d, char *const args[], char **out, vm_err *err);

/* ---- the switch rule and the estimate (rule.c, pure) ---- */
typedef struct mig_round {
    uint64_t bytes; /* the delta this round carried */
    double seconds; /* how long it took */
} mig_round;

typedef struct mig_rule {
    double downtime_s; /* budget for the final (stopped) delta */
    uint64_t floor_bytes; /* a delta this small always fits (50 MB) */
    int flat_rounds; /* switch when the delta stopped shrinking this long (3) */
    int max_rounds; /* (10) */
} mig_rule;
#define MIG_RULE_DEFAULT \
    { \
        2.0, 50000000ull, 3, 10 \
    }

/* After n rounds: true to switch now, with why (a sentence) in `why`. */
bool mig_should_switch(const mig_rule *rule, const mig_round *r, size_t n, char *why, size_t len);
/* {size_bytes, total_seconds, downtime_seconds} at rate_mb_s (MB = 10^6). */
json_t *mig_estimate_json(uint64_t bytes, double rate_mb_s, bool live);

/* ---- the migration (migrate.c) ---- */
typedef enum { MIG_FULL, MIG_INCR, MIG_AUTO, MIG_LIVE } mig_mode;

/* Progress, as NDJSON events: {type: "progress"|"end", phase, state,
 * current_progress, total_progress, eta_ms, transfer_bytes_second,
 * message}. */
typedef void (*mig_event_fn)(void *arg, json_t *ev);

typedef struct mig_opts {
    mig_mode mode;
    bool allow_older; /* -D */
    bool dry_run; /* -n */
    mig_rule rule;
    int downtime_ms; /* --live: QEMU's downtime-limit */
    mig_event_fn event;
    void *event_arg;
} mig_opts;

int mig_migrate(const vm_ctx *ctx, const char *uuid, const char *dest, const mig_opts *o, vm_err *err);
int mig_finalize(const vm_ctx *ctx, const char *uuid, vm_err *err);
int mig_rollback(const vm_ctx *ctx, const char *uuid, vm_err *err);
int mig_abort(const vm_ctx *ctx, const char *uuid, vm_err *err);
/* Destination side of --finalize: drops the transfer snapshots. */
int mig_target_cleanup(const vm_ctx *ctx, const char *uuid, vm_err *err);
/* The -i state file of a migration. */
char *mig_sync_file(const vm_ctx *ctx, const char *uuid);

#endif
