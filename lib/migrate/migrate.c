/* vmadm migrate: phases, rounds and the switch (migrate.h has the
 * guarantees this file keeps). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "migrate/mig_internal.h"
#include "migrate/mig_live.h"
#include "migrate/mig_record.h"
#include "migrate/migrate.h"
#include "storage/stream.h"
#include "vm/props.h"
#include "vm/runtime.h"
#include "vm/store.h"
#include "vm/vm.h"

static volatile sig_atomic_t aborted;

static void on_abort(int sig)
{
    (void)sig;
    aborted = 1;
}

typedef struct mig {
    const vm_ctx *ctx;
    const char *uuid;
    const mig_opts *o;
    mig_dest dest;
    json_t *rec;
    json_t *cfg;
    bool hvm, was_running, stopped_by_us;
    const char *phase;
    int64_t t0, last_pub;
    int64_t t_stopped, t_start; /* the switch's overhead: stopped → start issued */
    json_t *resume; /* the destination's resume report for the pending round */
} mig;

static void emit(mig *m, const char *type, const char *state, uint64_t cur, uint64_t total, double rate,
                 const char *msg)
{
    json_int_t eta = rate > 0 && total > cur ? (json_int_t)((double)(total - cur) / rate * 1000) : 0;
    json_t *ev0 = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:I,s:s}", "type", type, "uuid", m->uuid, "phase", m->phase,
                            "state", state, "current_progress", (json_int_t)cur, "total_progress", (json_int_t)total,
                            "eta_ms", eta, "transfer_bytes_second", (json_int_t)rate, "message", msg ? msg : "");
    cleanup_json json_t *ev = ev0;
    /* The same event for vminfod's /events (a modify of the VM's
     * "migration"): phase changes and messages always, progress at most
     * every second. */
    int64_t now = now_ms();
    if (strcmp(type, "progress") != 0 || (msg && *msg) || now - m->last_pub >= 1000) {
        m->last_pub = now;
        cleanup_free char *rundir = vm_ctx_vm_rundir(m->ctx, m->uuid);
        cleanup_free char *path = xasprintf("%s/migration.json", rundir);
        vm_err e = VM_ERR_INIT;
        if (vm_store_private_dir(rundir, &e) == 0)
            vm_store_write_json(path, ev, &e);
    }
    if (m->o->event)
        m->o->event(m->o->event_arg, ev);
}

static void say(mig *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(mig *m, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    emit(m, "progress", "running", 0, 0, 0, buf);
}

/* ---- one stream from here into `vmadm receive` there ---- */

typedef struct counter {
    mig *m;
    int fd;
    const mig_send_opts *so; /* its planned total */
    uint64_t bytes;
    int64_t t0, last;
} counter;

static ssize_t count_write(void *arg, const void *buf, size_t len)
{
    counter *c = arg;
    if (aborted) {
        errno = ECANCELED;
        return -1;
    }
    ssize_t k = vs_stream_fd_write(&c->fd, buf, len);
    if (k > 0) {
        c->bytes += (uint64_t)k;
        int64_t now = now_ms();
        if (now - c->last >= 500) {
            c->last = now;
            double rate = now > c->t0 ? (double)c->bytes * 1000 / (double)(now - c->t0) : 0;
            uint64_t total = c->so->planned;
            emit(c->m, "progress", "running", c->bytes, total > c->bytes ? total : c->bytes, rate, NULL);
        }
    }
    return k;
}

/* The round a cut interrupted: its transfer snapshot, kept here (the
 * record's "pending") while the destination keeps what it received. */
static const char *pending_snap(mig *m)
{
    return json_string_value(json_object_get(m->rec, "pending"));
}

/* Sends up to a transfer snapshot (after `from`) into the destination: the
 * pending one (resumed where the destination stands, m->resume) or a new
 * one.  *snap gets the snapshot's name; bytes and seconds what it took. */
static int send_round(mig *m, const char *from, char **snap, uint64_t *bytes, double *secs, vm_err *err)
{
    cleanup_free char *name = pending_snap(m) ? xstrdup(pending_snap(m)) : NULL;
    if (!name) {
        name = xasprintf(MIG_SNAP_PREFIX "%lld", (long long)now_ms());
        if (mig_snapshot(m->ctx, m->uuid, name, err) < 0)
            return -1;
        json_object_set_new(m->rec, "pending", json_string(name));
        if (mig_record_save(m->ctx, m->uuid, m->rec, err) < 0)
            return -1;
    }
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return vm_err_sys(err, errno, "cannot create a pipe");
    char *args[] = { "receive", "--hidden", "-s", NULL };
    mig_job job;
    if (mig_dest_spawn(&m->dest, args, p[0], -1, &job, err) < 0) {
        close(p[0]);
        close(p[1]);
        return -1;
    }
    close(p[0]);
    mig_send_opts so = { .from = from, .snapshot = name, .resume = m->resume };
    counter c = { .m = m, .fd = p[1], .so = &so, .t0 = now_ms() };
    vm_err se = VM_ERR_INIT;
    int r = mig_send(m->ctx, m->uuid, &so, count_write, &c, snap, &se);
    close(p[1]);
    vm_err de = VM_ERR_INIT;
    int rd = mig_dest_wait(&job, "receive", &de);
    *bytes = c.bytes;
    *secs = (double)(now_ms() - c.t0) / 1000.0;
    if (m->resume && r == 0)
        say(m, "resumed: %llu bytes were at %s already, %llu sent", (unsigned long long)so.resumed, m->dest.spec,
            (unsigned long long)c.bytes);
    json_decref(m->resume);
    m->resume = NULL;
    if (r < 0 && aborted)
        return vm_err_set(err, VMERR_INTERNAL, "migration aborted");
    /* A cut transport shows as a write error here: the receiver's reason
     * is the better message.  The snapshot stays pending: a re-run resumes
     * the round. */
    if (rd < 0 || r < 0) {
        *err = rd < 0 ? de : se;
        if (r == 0) {
            free(*snap);
            *snap = NULL;
        }
        return -1;
    }
    json_object_del(m->rec, "pending");
    return 0;
}

static const char *last_snap(mig *m)
{
    json_t *s = json_object_get(m->rec, "snapshots");
    return json_string_value(json_array_get(s, json_array_size(s) - 1));
}

static int round_into(mig *m, uint64_t *bytes, double *secs, vm_err *err)
{
    char *snap = NULL;
    if (send_round(m, last_snap(m), &snap, bytes, secs, err) < 0)
        return -1;
    json_array_append_new(json_object_get(m->rec, "snapshots"), json_string(snap));
    free(snap);
    return mig_record_save(m->ctx, m->uuid, m->rec, err);
}

/* ---- the source's state ---- */

static int set_hidden(const vm_ctx *ctx, const char *uuid, bool hidden, vm_err *err)
{
    cleanup_json json_t *p = json_pack("{s:b}", "do_not_inventory", hidden);
    return vm_update(ctx, uuid, p, err);
}

static int stop_source(mig *m, vm_err *err)
{
    vm_runstate rs;
    vm_runtime_state(m->ctx, json_string_value(json_object_get(m->cfg, "brand")), m->uuid, &rs);
    if (!rs.running)
        return 0;
    say(m, "stopping VM %s", m->uuid);
    if (vm_stop(m->ctx, m->uuid, 0, 60, err) < 0)
        return -1;
    m->stopped_by_us = true;
    return 0;
}

/* After a failure before the switch: the source as it was. */
static void restore_source(mig *m)
{
    vm_err e = VM_ERR_INIT;
    if (m->stopped_by_us && m->was_running && vm_start(m->ctx, m->uuid, &e) < 0 && e.code != VMERR_ALREADY)
        vm_log(m->ctx, "error", "VM %s: restarting after a failed migration: %s", m->uuid, e.msg);
}

/* ---- the switch ---- */

static int dest_cmd(mig *m, const char *a0, const char *a1, const char *a2, vm_err *err)
{
    char *args[] = { (char *)a0, (char *)a1, (char *)a2, NULL };
    return mig_dest_run(&m->dest, args, NULL, err);
}

static int do_switch(mig *m, bool dest_runs, vm_err *err)
{
    m->phase = "switch";
    if (mig_record_phase(m->ctx, m->uuid, m->rec, "switching", err) < 0)
        return -1;
    if (set_hidden(m->ctx, m->uuid, true, err) < 0)
        return -1;
    vm_err de = VM_ERR_INIT;
    int r = dest_cmd(m, "update", m->uuid, "do_not_inventory=false", &de);
    m->t_start = now_ms();
    if (r == 0 && m->was_running && !dest_runs) {
        say(m, "starting VM %s at %s", m->uuid, m->dest.spec);
        r = dest_cmd(m, "start", m->uuid, NULL, &de);
    }
    if (r < 0) {
        /* The destination cannot take over: it is hidden again (and
         * stopped), the source comes back. */
        vm_err e2 = VM_ERR_INIT;
        dest_cmd(m, "stop", m->uuid, "-F", &e2);
        dest_cmd(m, "update", m->uuid, "do_not_inventory=true", &e2);
        set_hidden(m->ctx, m->uuid, false, &e2);
        restore_source(m);
        mig_record_phase(m->ctx, m->uuid, m->rec, "sync", &e2);
        *err = de;
        vm_err_prefix(err, "switch failed, VM left at the source: ");
        return -1;
    }
    return mig_record_phase(m->ctx, m->uuid, m->rec, "switched", err);
}

/* ---- preflight ---- */

/* `vmadm receive -n` there with the header of a send after `from` (up to
 * the pending snapshot `snap`: then the report says what the destination
 * has of it, into m->resume). */
static int preflight(mig *m, const char *from, const char *snap, vm_err *err)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0)
        return vm_err_sys(err, errno, "cannot create a pipe");
    int op[2];
    if (pipe2(op, O_CLOEXEC) < 0) {
        close(p[0]);
        close(p[1]);
        return vm_err_sys(err, errno, "cannot create a pipe");
    }
    char *args[] = { "receive", "-n", NULL };
    mig_job job;
    if (mig_dest_spawn(&m->dest, args, p[0], op[1], &job, err) < 0) {
        close(p[0]);
        close(p[1]);
        close(op[0]);
        close(op[1]);
        return -1;
    }
    close(p[0]);
    close(op[1]);
    cleanup_json json_t *extra = json_pack("{s:b}", "allow_older", m->o->allow_older);
    cleanup_free char *qv = m->hvm ? mig_qemu_version() : NULL;
    if (qv) /* the destination refuses an older QEMU unless -D */
        json_object_set_new(extra, "qemu_version", json_string(qv));
    mig_send_opts so = { .from = from, .snapshot = snap, .header_only = true, .extra = extra };
    int fd = p[1];
    vm_err se = VM_ERR_INIT;
    int r = mig_send(m->ctx, m->uuid, &so, vs_stream_fd_write, &fd, NULL, &se);
    close(p[1]);
    json_error_t je;
    json_t *rep = json_loadfd(op[0], JSON_DISABLE_EOF_CHECK, &je);
    close(op[0]);
    vm_err de = VM_ERR_INIT;
    int rd = mig_dest_wait(&job, "preflight", &de);
    cleanup_json json_t *report = rep;
    if (rd < 0) {
        *err = de;
        return -1;
    }
    if (r < 0) {
        *err = se;
        return -1;
    }
    if (!json_is_true(json_object_get(report, "ok"))) {
        json_t *reasons = json_object_get(report, "reasons");
        cleanup_free char *all = NULL;
        size_t i;
        json_t *x;
        json_array_foreach(reasons, i, x) {
            char *n = xasprintf("%s%s%s", all ? all : "", all ? "; " : "", json_string_value(x));
            free(all);
            all = n;
        }
        return vm_err_set(err, VMERR_INVALID, "cannot migrate VM %s to %s: %s", m->uuid, m->dest.spec,
                          all ? all : "refused");
    }
    if (snap)
        m->resume = json_incref(json_object_get(report, "resume"));
    return 0;
}

/* ---- the migration ---- */

static int source_checks(mig *m, vm_err *err)
{
    const char *brand = json_string_value(json_object_get(m->cfg, "brand"));
    m->hvm = vm_brand_is_hvm(brand);
    vm_runstate rs;
    vm_runtime_state(m->ctx, brand, m->uuid, &rs);
    m->was_running = rs.running;
    if (m->o->mode == MIG_LIVE) {
        if (!m->hvm)
            return vm_err_set(err, VMERR_UNSUPPORTED, "--live migrates HVM VMs; containers migrate warm (-a)");
        if (!rs.running)
            return vm_err_set(err, VMERR_STATE, "--live needs a running VM; VM %s is stopped", m->uuid);
        const char *cpu = json_string_value(json_object_get(m->cfg, "cpu_type"));
        if (cpu && !strcmp(cpu, "host"))
            return vm_err_set(err, VMERR_INVALID, "CPU model \"host\" cannot be migrated live");
    }
    return 0;
}

static int run_rounds(mig *m, vm_err *err)
{
    m->phase = "sync";
    mig_round rounds[64];
    size_t n = 0;
    cleanup_free char *sync = mig_sync_file(m->ctx, m->uuid);
    if (m->o->mode == MIG_INCR) {
        cleanup_free char *dir = xasprintf("%s/migrate", m->ctx->run_dir);
        mkdir_p(dir, 0700, NULL);
        if (write_file_atomic(sync, m->uuid, strlen(m->uuid), 0600, err) < 0)
            return -1;
        say(m, "rounds while %s exists: remove it to switch", sync);
    }
    for (;;) {
        if (m->o->mode == MIG_INCR && !path_exists(sync))
            break;
        uint64_t b = 0;
        double s = 0;
        if (round_into(m, &b, &s, err) < 0)
            return -1;
        rounds[n % 64] = (mig_round){ b, s };
        n++;
        say(m, "round %zu: %llu bytes in %.2f s", n, (unsigned long long)b, s);
        if (m->o->mode == MIG_AUTO) {
            char why[256];
            if (mig_should_switch(&m->o->rule, rounds, n < 64 ? n : 64, why, sizeof why)) {
                say(m, "switching: %s", why);
                break;
            }
        }
        if (aborted)
            return vm_err_set(err, VMERR_INTERNAL, "migration aborted");
    }
    return 0;
}

static int live_progress(void *arg, const char *phase, uint64_t done, uint64_t total, uint64_t rate)
{
    mig *m = arg;
    m->phase = phase;
    emit(m, "progress", "running", done, total, (double)rate, NULL);
    return aborted ? -1 : 0;
}

/* --live: the frozen layers as streams while the guest runs, then QEMU
 * moves the active layers and the RAM; the source QEMU, paused at the
 * end, is stopped before the destination is shown. */
static int migrate_live(mig *m, vm_err *err)
{
    m->phase = "sync";
    uint64_t b = 0;
    double s = 0;
    /* Two rounds: the first carries the bulk, the second what the guest
     * wrote meanwhile, so the mirror starts from a small active layer. */
    for (int i = 0; i < 2; i++) {
        if (round_into(m, &b, &s, err) < 0)
            return -1;
        say(m, "round %d: %llu bytes in %.2f s", i + 1, (unsigned long long)b, s);
        if (s < 1.0)
            break;
    }
    cleanup_json json_t *res = NULL;
    m->phase = "disks";
    if (mig_live_send(m->ctx, m->uuid, &m->dest, m->o->downtime_ms, live_progress, m, &res, err) < 0)
        return -1;
    m->phase = "switch";
    vm_err se = VM_ERR_INIT;
    if (vm_stop(m->ctx, m->uuid, 1, 0, &se) < 0 && se.code != VMERR_ALREADY)
        vm_log(m->ctx, "error", "VM %s: stopping the migrated source: %s", m->uuid, se.msg);
    if (do_switch(m, true, err) < 0)
        return -1;
    json_object_set(m->rec, "live", res);
    say(m, "live migration done: downtime %lld ms (QEMU), RAM %lld ms, total %.2f s",
        (long long)json_integer_value(json_object_get(res, "downtime_ms")),
        (long long)json_integer_value(json_object_get(res, "total_ms")), (double)(now_ms() - m->t0) / 1000.0);
    return 0;
}

static int migrate_locked(mig *m, vm_err *err)
{
    if (m->o->mode == MIG_LIVE)
        return migrate_live(m, err);
    if (pending_snap(m)) {
        /* First the round a cut interrupted, from where it stopped. */
        m->phase = "sync";
        uint64_t b = 0;
        double s = 0;
        if (round_into(m, &b, &s, err) < 0)
            return -1;
    }
    if (m->o->mode == MIG_INCR || m->o->mode == MIG_AUTO) {
        if (m->was_running && run_rounds(m, err) < 0)
            return -1;
    }
    /* The final delta with the source stopped. */
    m->phase = "final";
    int64_t down0 = now_ms();
    if (stop_source(m, err) < 0)
        return -1;
    m->t_stopped = now_ms();
    uint64_t b = 0;
    double s = 0;
    if (round_into(m, &b, &s, err) < 0) {
        restore_source(m);
        return -1;
    }
    if (do_switch(m, false, err) < 0)
        return -1;
    say(m,
        "switched in %.2f s (final delta %llu bytes; switch overhead %.2f s, stop-to-start without guest "
        "shutdown and boot)",
        (double)(now_ms() - down0) / 1000.0, (unsigned long long)b, (double)(m->t_start - m->t_stopped) / 1000.0);
    return 0;
}

int mig_migrate(const vm_ctx *ctx, const char *uuid, const char *dest, const mig_opts *o, vm_err *err)
{
    mig m = { .ctx = ctx, .uuid = uuid, .o = o, .phase = "preflight", .t0 = now_ms() };
    cleanup_json json_t *cfg = NULL;
    cleanup_json json_t *old = NULL;
    int r = -1;
    if (vm_store_load_config(ctx, uuid, &cfg, err) < 0 || mig_dest_parse(dest, &m.dest, err) < 0)
        goto out;
    m.cfg = cfg;
    if (mig_record_load(ctx, uuid, &old, err) < 0)
        goto out;
    if (old) {
        const char *ph = json_string_value(json_object_get(old, "phase"));
        if (mig_record_owner_alive(old)) {
            vm_err_set(err, VMERR_BUSY, "VM %s is being migrated (pid %lld)", uuid,
                       (long long)json_integer_value(json_object_get(old, "pid")));
            goto out;
        }
        if (strcmp(ph ?: "", "sync") != 0) {
            vm_err_set(err, VMERR_STATE, "VM %s was migrated to %s: use --finalize or --rollback", uuid,
                       json_string_value(json_object_get(old, "dest")));
            goto out;
        }
        if (strcmp(json_string_value(json_object_get(old, "dest")) ?: "", dest) != 0) {
            vm_err_set(err, VMERR_STATE, "VM %s has an unfinished migration to %s: --rollback it first", uuid,
                       json_string_value(json_object_get(old, "dest")));
            goto out;
        }
    }
    if (source_checks(&m, err) < 0)
        goto out;
    /* A re-run resumes from the last snapshot both sides hold. */
    json_t *snaps = old ? json_object_get(old, "snapshots") : NULL;
    const char *base = json_string_value(json_array_get(snaps, json_array_size(snaps) - 1));
    const char *pending = old ? json_string_value(json_object_get(old, "pending")) : NULL;
    if (pending && o->mode != MIG_LIVE && !mig_has_snapshot(ctx, uuid, pending)) {
        json_object_del(old, "pending"); /* gone meanwhile: a new round instead */
        pending = NULL;
    }
    if (preflight(&m, base, o->mode == MIG_LIVE ? NULL : pending, err) < 0)
        goto out;
    if (o->dry_run) {
        r = 0;
        goto out;
    }
    m.rec = old ? json_incref(old)
                : json_pack("{s:s,s:s,s:i,s:s,s:b,s:[],s:I}", "uuid", uuid, "dest", dest, "mode", (int)o->mode, "phase",
                            "sync", "was_running", m.was_running, "snapshots", "started", (json_int_t)now_ms());
    if (old) /* a source this command's predecessor stopped ran before */
        m.was_running = m.was_running || json_is_true(json_object_get(old, "was_running"));
    json_object_set_new(m.rec, "was_running", json_boolean(m.was_running));
    json_object_set_new(m.rec, "pid", json_integer(getpid()));
    json_object_set_new(m.rec, "pid_start", json_integer((json_int_t)mig_self_start()));
    if (mig_record_save(ctx, uuid, m.rec, err) < 0)
        goto out;
    struct sigaction sa = { .sa_handler = on_abort }, oint, oterm, opipe;
    struct sigaction ign = { .sa_handler = SIG_IGN };
    sigaction(SIGINT, &sa, &oint);
    sigaction(SIGTERM, &sa, &oterm);
    sigaction(SIGPIPE, &ign, &opipe);
    r = migrate_locked(&m, err);
    sigaction(SIGINT, &oint, NULL);
    sigaction(SIGTERM, &oterm, NULL);
    sigaction(SIGPIPE, &opipe, NULL);
    json_object_del(m.rec, "pid");
    vm_err e2 = VM_ERR_INIT;
    mig_record_save(ctx, uuid, m.rec, &e2);
    if (r < 0 && aborted) {
        /* --abort: nothing of the move stays. */
        mig_rollback(ctx, uuid, &e2);
    }
    m.phase = "end";
    emit(&m, "end", r == 0 ? "successful" : "failed", 0, 0, 0, r == 0 ? "migration complete" : err->msg);
out:
    json_decref(m.resume);
    json_decref(m.rec);
    mig_dest_free(&m.dest);
    return r;
}
