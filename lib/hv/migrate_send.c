/* Live migration, source side: mirrors of the disks' top layers into the
 * destination's NBD exports, then RAM with pause-before-switchover, and
 * the undo every failure and abort goes through (migrate.h). */
#include "hv/migrate.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/proc.h"
#include "common/util.h"
#include "hv/blockjob.h"
#include "hv/hv_proc.h"
#include "hv/migrate_internal.h"

#define JOB_PREFIX "mig-"
#define POLL_MS 100

static uint64_t jnum(json_t *o, const char *k)
{
    json_int_t v = json_integer_value(json_object_get(o, k));
    return v > 0 ? (uint64_t)v : 0;
}

static int sockaddr_of(const char *path, struct sockaddr_un *sa, vm_err *err)
{
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    if (!path || !*path || strlen(path) >= sizeof sa->sun_path)
        return vm_err_set(err, VMERR_INVALID, "socket path %s is empty or too long", path ? path : "(null)");
    memcpy(sa->sun_path, path, strlen(path) + 1);
    return 0;
}

int hv_unix_connect(const char *path, vm_err *err)
{
    struct sockaddr_un sa;
    if (sockaddr_of(path, &sa, err) < 0)
        return -1;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return vm_err_sys(err, errno, "socket");
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        int e = errno;
        close(fd);
        return vm_err_sys(err, e, "cannot connect to %s", path);
    }
    return fd;
}

int hv_unix_listen(const char *path, vm_err *err)
{
    struct sockaddr_un sa;
    if (sockaddr_of(path, &sa, err) < 0)
        return -1;
    unlink(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return vm_err_sys(err, errno, "socket");
    if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || chmod(path, 0600) < 0 || listen(fd, 16) < 0) {
        int e = errno;
        close(fd);
        return vm_err_sys(err, e, "cannot listen on %s", path);
    }
    return fd;
}

json_t *hv_migrate_disks(json_t *query_block)
{
    json_t *ids = json_array();
    size_t i;
    json_t *b;
    json_array_foreach(query_block, i, b) {
        json_t *ins = json_object_get(b, "inserted");
        const char *dev = json_string_value(json_object_get(b, "device"));
        if (ins && dev && *dev && !json_is_true(json_object_get(b, "removable")) &&
            !json_is_true(json_object_get(ins, "ro")))
            json_array_append_new(ids, json_string(dev));
    }
    return ids;
}

/* The NBD client node and the mirror of disk `id`: the connection is
 * made here, as root, and handed to QEMU (getfd). */
static int start_mirror(qmp_conn *c, const char *id, const char *nbd_sock, vm_err *err)
{
    cleanup_close int fd = hv_unix_connect(nbd_sock, err);
    if (fd < 0)
        return -1;
    cleanup_free char *name = xasprintf(JOB_PREFIX "%s", id);
    cleanup_json json_t *g = json_pack("{s:s}", "fdname", name);
    if (qmp_exec_fd(c, "getfd", g, fd, NULL, err) < 0)
        return -1;
    cleanup_json json_t *add = json_pack("{s:s, s:s, s:{s:s, s:s}, s:s}", "driver", "nbd", "node-name", name, "server",
                                         "type", "fd", "str", name, "export", id);
    if (qmp_exec(c, "blockdev-add", add, NULL, err) < 0)
        return -1;
    /* write-blocking: once READY, every guest write is on both sides
     * before it completes, so the mirror stays converged under load. */
    cleanup_json json_t *m = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "job-id", name, "device", id, "target", name,
                                       "sync", "top", "copy-mode", "write-blocking", "auto-dismiss", 0);
    return qmp_exec(c, "blockdev-mirror", m, NULL, err);
}

/* The vmadm mirror of `id` in query-block-jobs, or NULL. */
static json_t *find_job(json_t *jobs, const char *id)
{
    size_t i;
    json_t *j;
    json_array_foreach(jobs, i, j) {
        const char *dev = json_string_value(json_object_get(j, "device"));
        if (dev && str_has_prefix(dev, JOB_PREFIX) && !strcmp(dev + strlen(JOB_PREFIX), id))
            return j;
    }
    return NULL;
}

/* One look at the mirrors: *ready when all are READY; fails when one is
 * gone or ended (its error named). */
static int check_mirrors(qmp_conn *c, json_t *disks, bool *ready, hv_migrate_progress *p, vm_err *err)
{
    cleanup_json json_t *jobs = NULL;
    if (qmp_exec(c, "query-block-jobs", NULL, &jobs, err) < 0)
        return -1;
    size_t i, nready = 0;
    json_t *d;
    p->transferred = p->total = 0;
    json_array_foreach(disks, i, d) {
        const char *id = json_string_value(d);
        json_t *j = find_job(jobs, id);
        const char *st = json_string_value(json_object_get(j, "status"));
        if (!j || (st && (!strcmp(st, "concluded") || !strcmp(st, "aborting")))) {
            cleanup_free char *name = xasprintf(JOB_PREFIX "%s", id);
            cleanup_free char *what = xasprintf("the mirror of disk %s failed", id);
            if (hv_job_finish(c, name, what, err) == 0)
                vm_err_set(err, VMERR_IO, "the mirror of disk %s ended early", id);
            return -1;
        }
        nready += json_is_true(json_object_get(j, "ready"));
        p->transferred += jnum(j, "offset");
        p->total += jnum(j, "len");
    }
    p->remaining = p->total > p->transferred ? p->total - p->transferred : 0;
    *ready = nready == json_array_size(disks);
    return 0;
}

/* Waits up to ms for QEMU's next event (kept in c->events), so a status
 * change is seen at once rather than at the next poll: the guest is
 * stopped while the mirrors end, every millisecond there is downtime. */
static int wait_event(qmp_conn *c, int ms, vm_err *err)
{
    int64_t deadline = now_ms() + ms;
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return 0;
        json_t *msg = NULL;
        vm_err e = VM_ERR_INIT;
        if (qmp_read_msg(c, (int)left, &msg, &e) < 0) {
            if (e.code == VMERR_TIMEOUT)
                return 0;
            *err = e;
            return -1;
        }
        bool ev = json_object_get(msg, "event") != NULL;
        if (ev) {
            if (!c->events)
                c->events = json_array();
            json_array_append(c->events, msg);
        }
        json_decref(msg);
        if (ev)
            return 0;
    }
}

static int progress(hv_migrate_progress_fn cb, void *arg, const hv_migrate_progress *p, vm_err *err)
{
    if (cb && cb(arg, p) < 0)
        return vm_err_set(err, VMERR_INTERNAL, "migration aborted");
    return 0;
}

static int wait_mirrors_ready(qmp_conn *c, json_t *disks, hv_migrate_progress_fn cb, void *arg, int poll_ms,
                              uint64_t *bytes, vm_err *err)
{
    int64_t t0 = now_ms();
    for (;;) {
        hv_migrate_progress p = { .phase = "disks", .state = "" };
        bool ready;
        if (check_mirrors(c, disks, &ready, &p, err) < 0)
            return -1;
        int64_t dt = now_ms() - t0;
        p.rate = dt > 0 ? p.transferred * 1000 / (uint64_t)dt : 0;
        *bytes = p.transferred;
        if (progress(cb, arg, &p, err) < 0)
            return -1;
        if (ready)
            return 0;
        if (wait_event(c, poll_ms, err) < 0)
            return -1;
    }
}

/* At pre-switchover (guest stopped): each READY mirror cancelled, which
 * QEMU completes as a point-in-time copy without pivoting, then its end
 * checked and the job dismissed. */
static int end_mirrors(qmp_conn *c, json_t *disks, int poll_ms, vm_err *err)
{
    size_t i;
    json_t *d;
    json_array_foreach(disks, i, d) {
        cleanup_free char *name = xasprintf(JOB_PREFIX "%s", json_string_value(d));
        cleanup_json json_t *a = json_pack("{s:s}", "device", name);
        if (qmp_exec(c, "block-job-cancel", a, NULL, err) < 0)
            return -1;
    }
    int64_t deadline = now_ms() + 60000;
    for (;;) {
        cleanup_json json_t *jobs = NULL;
        if (qmp_exec(c, "query-jobs", NULL, &jobs, err) < 0)
            return -1;
        size_t left = 0, k;
        json_t *j;
        json_array_foreach(jobs, k, j) {
            const char *id = json_string_value(json_object_get(j, "id"));
            const char *st = json_string_value(json_object_get(j, "status"));
            left += id && str_has_prefix(id, JOB_PREFIX) && st && strcmp(st, "concluded") != 0;
        }
        if (!left)
            break;
        if (now_ms() > deadline)
            return vm_err_set(err, VMERR_TIMEOUT, "the disk mirrors did not finish within 60 s");
        if (wait_event(c, poll_ms, err) < 0)
            return -1;
    }
    json_array_foreach(disks, i, d) {
        cleanup_free char *name = xasprintf(JOB_PREFIX "%s", json_string_value(d));
        cleanup_free char *what = xasprintf("the mirror of disk %s failed at the switch", json_string_value(d));
        if (hv_job_finish(c, name, what, err) < 0)
            return -1;
    }
    return 0;
}

static void del_targets(qmp_conn *c, json_t *disks)
{
    size_t i;
    json_t *d;
    vm_err e = VM_ERR_INIT;
    json_array_foreach(disks, i, d) {
        cleanup_free char *name = xasprintf(JOB_PREFIX "%s", json_string_value(d));
        cleanup_json json_t *a = json_pack("{s:s}", "node-name", name);
        (void)qmp_exec(c, "blockdev-del", a, NULL, &e);
    }
}

static int start_migration(qmp_conn *c, const hv_migrate_target *t, vm_err *err)
{
    cleanup_json json_t *caps = json_pack("{s:[{s:s,s:b},{s:s,s:b}]}", "capabilities", "capability", "events", "state",
                                          1, "capability", "pause-before-switchover", "state", 1);
    if (qmp_exec(c, "migrate-set-capabilities", caps, NULL, err) < 0)
        return -1;
    cleanup_json json_t *params =
        json_pack("{s:I, s:I}", "downtime-limit", (json_int_t)(t->downtime_limit_ms > 0 ? t->downtime_limit_ms : 300),
                  "max-bandwidth", (json_int_t)t->bandwidth); /* 0: no limit */
    if (qmp_exec(c, "migrate-set-parameters", params, NULL, err) < 0)
        return -1;
    cleanup_close int fd = hv_unix_connect(t->mig_sock, err);
    if (fd < 0)
        return -1;
    cleanup_json json_t *g = json_pack("{s:s}", "fdname", JOB_PREFIX "out");
    if (qmp_exec_fd(c, "getfd", g, fd, NULL, err) < 0)
        return -1;
    cleanup_json json_t *m = json_pack("{s:s}", "uri", "fd:" JOB_PREFIX "out");
    return qmp_exec(c, "migrate", m, NULL, err);
}

/* Follows query-migrate to "completed", ending the mirrors at the
 * pre-switchover pause. */
static int follow_migration(qmp_conn *c, json_t *disks, hv_migrate_progress_fn cb, void *arg, int poll_ms,
                            hv_migrate_result *res, vm_err *err)
{
    bool ended = false; /* the mirrors, at the pause */
    int settle = 0;
    for (;;) {
        cleanup_json json_t *q = NULL;
        if (qmp_exec(c, "query-migrate", NULL, &q, err) < 0)
            return -1;
        const char *st = json_string_value(json_object_get(q, "status"));
        st = st ? st : "none";
        json_t *ram = json_object_get(q, "ram");
        if (!strcmp(st, "completed")) {
            /* QEMU says "completed" a moment before it computes the times. */
            if (!jnum(q, "total-time") && ++settle < 50) {
                vm_sleep_ms(10);
                continue;
            }
            res->downtime_ms = (int64_t)jnum(q, "downtime");
            res->total_ms = (int64_t)jnum(q, "total-time");
            res->ram_bytes = jnum(ram, "transferred");
            return 0;
        }
        if (!strcmp(st, "failed") || !strcmp(st, "cancelled") || !strcmp(st, "cancelling") || !strcmp(st, "none")) {
            const char *why = json_string_value(json_object_get(q, "error-desc"));
            return vm_err_set(err, VMERR_IO, "QEMU's migration %s%s%s", !strcmp(st, "none") ? "did not start" : st,
                              why ? ": " : "", why ? why : "");
        }
        if (!strcmp(st, "pre-switchover") && !ended) {
            if (end_mirrors(c, disks, poll_ms, err) < 0)
                return -1;
            ended = true;
            cleanup_json json_t *a = json_pack("{s:s}", "state", "pre-switchover");
            if (qmp_exec(c, "migrate-continue", a, NULL, err) < 0)
                return -1;
            continue;
        }
        hv_migrate_progress p = { .phase = ended || !strcmp(st, "device") ? "switch" : "memory", .state = st };
        p.transferred = jnum(ram, "transferred");
        p.remaining = jnum(ram, "remaining");
        p.total = jnum(ram, "total");
        json_t *mbps = json_object_get(ram, "mbps");
        p.rate = json_is_number(mbps) ? (uint64_t)(json_number_value(mbps) * 1e6 / 8) : 0;
        bool ready;
        hv_migrate_progress dp = { 0 };
        if ((!ended && check_mirrors(c, disks, &ready, &dp, err) < 0) || progress(cb, arg, &p, err) < 0 ||
            wait_event(c, poll_ms, err) < 0)
            return -1;
    }
}

/* Status words of a guest the migration itself stopped. */
static bool stopped_by_migration(const char *s)
{
    return s && (!strcmp(s, "finish-migrate") || !strcmp(s, "postmigrate"));
}

int hv_migrate_undo(qmp_conn *c, int poll_ms, vm_err *err)
{
    vm_err e = VM_ERR_INIT;
    cleanup_json json_t *q = NULL;
    if (qmp_exec(c, "query-migrate", NULL, &q, err) < 0)
        return -1;
    const char *st = json_string_value(json_object_get(q, "status"));
    if (st && !strcmp(st, "completed"))
        return vm_err_set(err, VMERR_STATE, "the migration has completed: the destination has the VM");
    (void)qmp_exec(c, "migrate_cancel", NULL, NULL, &e);
    cleanup_json json_t *jobs = NULL;
    if (qmp_exec(c, "query-jobs", NULL, &jobs, err) < 0)
        return -1;
    size_t i;
    json_t *j;
    json_array_foreach(jobs, i, j) {
        const char *id = json_string_value(json_object_get(j, "id"));
        if (id && str_has_prefix(id, JOB_PREFIX))
            hv_job_cancel(c, id, true, 10000);
    }
    cleanup_json json_t *nodes = NULL;
    cleanup_json json_t *fa = json_pack("{s:b}", "flat", 1);
    if (qmp_exec(c, "query-named-block-nodes", fa, &nodes, err) < 0)
        return -1;
    json_array_foreach(nodes, i, j) {
        const char *n = json_string_value(json_object_get(j, "node-name"));
        if (n && str_has_prefix(n, JOB_PREFIX)) {
            cleanup_json json_t *a = json_pack("{s:s}", "node-name", n);
            (void)qmp_exec(c, "blockdev-del", a, NULL, &e);
        }
    }
    /* QEMU settles the cancelled migration (and resumes a guest it had
     * stopped itself) on its own; wait for that, then make sure. */
    int64_t deadline = now_ms() + 10000;
    for (;;) {
        cleanup_json json_t *m = NULL;
        if (qmp_exec(c, "query-migrate", NULL, &m, err) < 0)
            return -1;
        const char *s = json_string_value(json_object_get(m, "status"));
        if (s && !strcmp(s, "completed"))
            return vm_err_set(err, VMERR_STATE, "the migration has completed: the destination has the VM");
        if (!s || !strcmp(s, "cancelled") || !strcmp(s, "failed") || now_ms() > deadline)
            break;
        vm_sleep_ms(poll_ms);
    }
    cleanup_json json_t *rs = NULL;
    if (qmp_exec(c, "query-status", NULL, &rs, err) < 0)
        return -1;
    if (stopped_by_migration(json_string_value(json_object_get(rs, "status"))) &&
        qmp_exec(c, "cont", NULL, NULL, err) < 0)
        return -1;
    return 0;
}

int hv_migrate_send_conn(qmp_conn *c, json_t *disks, const hv_migrate_target *t, hv_migrate_progress_fn cb, void *arg,
                         hv_migrate_result *res, int poll_ms, vm_err *err)
{
    int64_t t0 = now_ms();
    memset(res, 0, sizeof *res);
    size_t i;
    json_t *d;
    json_array_foreach(disks, i, d) {
        if (start_mirror(c, json_string_value(d), t->nbd_sock, err) < 0) {
            vm_err_prefix(err, "cannot mirror disk %s: ", json_string_value(d));
            goto undo;
        }
    }
    if (wait_mirrors_ready(c, disks, cb, arg, poll_ms, &res->disk_bytes, err) < 0 || start_migration(c, t, err) < 0 ||
        follow_migration(c, disks, cb, arg, poll_ms, res, err) < 0)
        goto undo;
    del_targets(c, disks);
    res->elapsed_ms = now_ms() - t0;
    return 0;
undo:;
    vm_err ue = VM_ERR_INIT;
    if (hv_migrate_undo(c, poll_ms, &ue) < 0) {
        /* VMERR_STATE: completed after all (the failure came later), the
         * destination has the VM and the source must not run again. */
        cleanup_free char *first = xstrdup(err->msg);
        return vm_err_set(err, ue.code == VMERR_STATE ? VMERR_STATE : err->code, "%s; %s%s", first,
                          ue.code == VMERR_STATE ? "but " : "undoing it failed too: ", ue.msg);
    }
    return -1;
}

static int connect_vm(const vm_ctx *ctx, const char *uuid, qmp_conn *c, vm_err *err)
{
    if (!uuid_valid(uuid))
        return vm_err_set(err, VMERR_INVALID, "invalid uuid: %s", uuid ? uuid : "(null)");
    cleanup_close int fd = hv_open_qemu(ctx, uuid, NULL);
    if (fd < 0)
        return vm_err_set(err, VMERR_STATE, "VM %s is not running", uuid);
    cleanup_free char *path = hv_run_path(ctx, uuid, "qmp.sock");
    return qmp_connect(c, path, 30000, err);
}

/* QEMU serves one QMP client at a time and the sender holds it, so
 * hv_migrate_cancel asks the sender (run/vms/<uuid>/migrate.pid names it)
 * through the file migrate.cancel, which the sender looks for at every
 * progress step. */
struct sender {
    hv_migrate_progress_fn cb;
    void *arg;
    const char *cancel_path;
};

static int sender_progress(void *arg, const hv_migrate_progress *p)
{
    struct sender *s = arg;
    if (path_exists(s->cancel_path))
        return -1;
    return s->cb ? s->cb(s->arg, p) : 0;
}

int hv_migrate_send(const vm_ctx *ctx, const char *uuid, const hv_migrate_target *t, hv_migrate_progress_fn cb,
                    void *arg, hv_migrate_result *res, vm_err *err)
{
    qmp_conn c = QMP_CONN_INIT;
    cleanup_json json_t *blocks = NULL;
    int rc = connect_vm(ctx, uuid, &c, err);
    cleanup_free char *pidpath = hv_run_path(ctx, uuid, "migrate.pid");
    cleanup_free char *cancel = hv_run_path(ctx, uuid, "migrate.cancel");
    struct sender snd = { cb, arg, cancel };
    if (rc == 0) {
        cleanup_free char *me = xasprintf("%d\n", (int)getpid());
        unlink(cancel);
        rc = vm_run_write(pidpath, me, 0644, VM_RUN_FAST, err);
    }
    if (rc == 0)
        rc = qmp_exec(&c, "query-block", NULL, &blocks, err);
    if (rc == 0) {
        cleanup_json json_t *disks = hv_migrate_disks(blocks);
        rc = hv_migrate_send_conn(&c, disks, t, sender_progress, &snd, res, POLL_MS, err);
    }
    qmp_close(&c);
    unlink(pidpath);
    unlink(cancel);
    if (rc == 0)
        vm_log(ctx, "info", "VM %s migrated live: downtime %lld ms, total %lld ms", uuid, (long long)res->downtime_ms,
               (long long)res->elapsed_ms);
    return rc;
}

/* Asks a live sender to cancel and waits (up to 60 s) for it to finish
 * its undo and let go of QMP. */
static int stop_sender(const vm_ctx *ctx, const char *uuid, vm_err *err)
{
    cleanup_free char *pidpath = hv_run_path(ctx, uuid, "migrate.pid");
    cleanup_free char *cancel = hv_run_path(ctx, uuid, "migrate.cancel");
    pid_t pid = vm_run_read_pid(pidpath);
    if (!pid || pid == getpid())
        return 0;
    cleanup_close int pfd = vm_pidfd_open(pid);
    if (pfd < 0)
        return 0; /* gone: its leftovers are undone below */
    if (vm_run_write(cancel, "cancel\n", 0600, VM_RUN_FAST, err) < 0)
        return -1;
    int64_t deadline = now_ms() + 60000;
    while (vm_run_read_pid(pidpath) == pid && vm_pidfd_wait(pfd, 0) == 0) {
        if (now_ms() > deadline)
            return vm_err_set(err, VMERR_TIMEOUT, "the migration sender (pid %d) did not stop within 60 s", (int)pid);
        vm_sleep_ms(20);
    }
    unlink(cancel);
    return 0;
}

int hv_migrate_cancel(const vm_ctx *ctx, const char *uuid, vm_err *err)
{
    qmp_conn c = QMP_CONN_INIT;
    if (!uuid_valid(uuid))
        return vm_err_set(err, VMERR_INVALID, "invalid uuid: %s", uuid);
    if (stop_sender(ctx, uuid, err) < 0)
        return -1;
    /* Then (the sender gone, or killed before its undo) make sure. */
    int rc = connect_vm(ctx, uuid, &c, err);
    if (rc == 0)
        rc = hv_migrate_undo(&c, POLL_MS, err);
    qmp_close(&c);
    return rc;
}
