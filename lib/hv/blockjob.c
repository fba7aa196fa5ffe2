/* QEMU block jobs: following a job by its events, its end, and the live
 * merge of a snapshot layer (block-stream).
 *
 * Why block-stream (the layer's data copied up into the file above it)
 * and not block-commit (down into the file below): storage's view of a
 * volume is a chain where snapshot i's layer holds the writes between
 * snapshot i-1 and i.  The file below the deleted layer is the previous
 * snapshot's layer (or the image the volume was cloned from), frozen and
 * possibly shared: committing into it would change that snapshot (or
 * every clone of the image).  Streaming into the file above changes no
 * frozen content and leaves every file name where storage expects it:
 * exactly what the stopped path does (driver_dir.c snap_detach, a safe
 * `qemu-img rebase` of the file above), so the metadata commit that
 * follows is the same in both cases.  A commit of the active layer would
 * also need the READY/complete dance and a rename of the surviving file. */
#include "hv/blockjob.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "hv/hv.h"
#include "hv/hv_proc.h"

static bool job_ended(const char *s)
{
    return !strcmp(s, "concluded") || !strcmp(s, "null") || !strcmp(s, "aborting");
}

const char *hv_job_status(const qmp_conn *c, const char *id)
{
    const char *st = "";
    size_t i;
    json_t *e;
    json_array_foreach(c->events, i, e) {
        const char *name = json_string_value(json_object_get(e, "event"));
        json_t *d = json_object_get(e, "data");
        const char *jid = json_string_value(json_object_get(d, "id"));
        if (name && !strcmp(name, "JOB_STATUS_CHANGE") && jid && !strcmp(jid, id))
            st = json_string_value(json_object_get(d, "status"));
    }
    return st ? st : "";
}

int hv_job_start(qmp_conn *c, const char *cmd, json_t *args, vm_err *err)
{
    if (c->events)
        json_array_clear(c->events);
    return qmp_exec(c, cmd, args, NULL, err);
}

int hv_job_wait(qmp_conn *c, const char *id, const char *want, int timeout_ms, const char **got, vm_err *err)
{
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        const char *st = hv_job_status(c, id);
        if (!strcmp(st, want) || job_ended(st)) {
            if (got)
                *got = st;
            return 0;
        }
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return vm_err_set(err, VMERR_TIMEOUT, "block job %s did not become %s within %d s", id, want,
                              timeout_ms / 1000);
        json_t *msg = NULL;
        vm_err e = VM_ERR_INIT;
        if (qmp_read_msg(c, (int)left, &msg, &e) < 0) {
            if (e.code == VMERR_TIMEOUT)
                continue;
            *err = e;
            return -1;
        }
        if (json_object_get(msg, "event")) {
            if (!c->events)
                c->events = json_array();
            json_array_append(c->events, msg);
        }
        json_decref(msg);
    }
}

int hv_job_finish(qmp_conn *c, const char *id, const char *what, vm_err *err)
{
    cleanup_json json_t *jobs = NULL;
    if (qmp_exec(c, "query-jobs", NULL, &jobs, err) < 0)
        return -1;
    size_t i;
    json_t *j;
    json_array_foreach(jobs, i, j) {
        const char *jid = json_string_value(json_object_get(j, "id"));
        if (!jid || strcmp(jid, id))
            continue;
        cleanup_free char *msg = NULL;
        const char *e = json_string_value(json_object_get(j, "error"));
        if (e)
            msg = xstrdup(e);
        const char *st = json_string_value(json_object_get(j, "status"));
        if (st && !strcmp(st, "concluded")) {
            cleanup_json json_t *a = json_pack("{s:s}", "id", id);
            vm_err de = VM_ERR_INIT;
            (void)qmp_exec(c, "job-dismiss", a, NULL, &de);
        }
        if (msg)
            return vm_err_set(err, VMERR_IO, "%s: %s", what, msg);
        return 0;
    }
    /* Gone already: only its events tell. */
    const char *st = hv_job_status(c, id);
    if (!strcmp(st, "null") || !strcmp(st, "concluded"))
        return 0;
    return vm_err_set(err, VMERR_IO, "%s: block job %s ended (%s)", what, id, *st ? st : "unknown status");
}

void hv_job_cancel(qmp_conn *c, const char *id, bool force, int timeout_ms)
{
    cleanup_json json_t *a = json_pack("{s:s, s:b}", "device", id, "force", force);
    vm_err e = VM_ERR_INIT;
    if (qmp_exec(c, "block-job-cancel", a, NULL, &e) < 0)
        return;
    if (hv_job_wait(c, id, "concluded", timeout_ms, NULL, &e) < 0)
        return;
    cleanup_json json_t *d = json_pack("{s:s}", "id", id);
    (void)qmp_exec(c, "job-dismiss", d, NULL, &e);
}

/* The image file a format node reads: its "file" string is the file
 * itself ("/dev/fdset/N") or, with a backing chain, json:{..., "file":
 * {"filename": ...}}. */
static char *node_image(json_t *n)
{
    const char *f = json_string_value(json_object_get(n, "file"));
    if (!f)
        return NULL;
    if (!str_has_prefix(f, "json:"))
        return xstrdup(f);
    cleanup_json json_t *j = json_loads(f + 5, 0, NULL);
    const char *fn = json_string_value(json_object_get(json_object_get(j, "file"), "filename"));
    return fn ? xstrdup(fn) : NULL;
}

/* The fd set (among `sets`, query-fdsets) holding a descriptor of the
 * inode `want`, or -1. */
static int64_t set_of_inode(json_t *sets, pid_t pid, const struct stat *want)
{
    size_t i, k;
    json_t *s, *fd;
    json_array_foreach(sets, i, s) {
        json_array_foreach(json_object_get(s, "fds"), k, fd) {
            char p[64];
            struct stat st;
            snprintf(p, sizeof p, "/proc/%d/fd/%lld", (int)pid,
                     (long long)json_integer_value(json_object_get(fd, "fd")));
            if (stat(p, &st) == 0 && st.st_dev == want->st_dev && st.st_ino == want->st_ino)
                return json_integer_value(json_object_get(s, "fdset-id"));
        }
    }
    return -1;
}

int hv_node_of_file(qmp_conn *c, pid_t pid, const char *path, char **node, int64_t *fdset, bool *ro, vm_err *err)
{
    struct stat want;
    if (stat(path, &want) < 0)
        return vm_err_sys(err, errno, "cannot stat %s", path);
    cleanup_json json_t *sets = NULL, *nodes = NULL;
    if (qmp_exec(c, "query-fdsets", NULL, &sets, err) < 0)
        return -1;
    int64_t set = set_of_inode(sets, pid, &want);
    if (set < 0)
        return vm_err_set(err, VMERR_NOTFOUND, "QEMU does not hold %s", path);
    cleanup_json json_t *a = json_pack("{s:b}", "flat", 1);
    if (qmp_exec(c, "query-named-block-nodes", a, &nodes, err) < 0)
        return -1;
    char name[64];
    snprintf(name, sizeof name, "/dev/fdset/%lld", (long long)set);
    size_t i;
    json_t *n;
    json_array_foreach(nodes, i, n) {
        const char *drv = json_string_value(json_object_get(n, "drv"));
        cleanup_free char *img = node_image(n);
        if (!drv || strcmp(drv, "qcow2") || !img || strcmp(img, name))
            continue;
        *node = xstrdup(json_string_value(json_object_get(n, "node-name")));
        *fdset = set;
        *ro = json_is_true(json_object_get(n, "ro"));
        return 0;
    }
    return vm_err_set(err, VMERR_NOTFOUND, "no QEMU block node reads %s", path);
}

int hv_stream_layer(qmp_conn *c, pid_t pid, json_t *m, int timeout_ms, vm_err *err)
{
    const char *above = json_string_value(json_object_get(m, "above"));
    const char *below = json_string_value(json_object_get(m, "below"));
    const char *layer = json_string_value(json_object_get(m, "layer"));
    const char *backing = json_string_value(json_object_get(m, "backing"));
    cleanup_free char *top = NULL, *base = NULL, *lnode = NULL;
    int64_t tset, bset, lset;
    bool tro, bro, lro;
    if (!above || !layer || hv_node_of_file(c, pid, above, &top, &tset, &tro, err) < 0 ||
        hv_node_of_file(c, pid, layer, &lnode, &lset, &lro, err) < 0 ||
        (below && hv_node_of_file(c, pid, below, &base, &bset, &bro, err) < 0))
        return -1;
    if (tro) {
        /* A frozen layer QEMU opened read-only: the stream reopens it
         * read-write, through a descriptor vmadm adds to its set. */
        cleanup_close int fd = open(above, O_RDWR | O_CLOEXEC);
        if (fd < 0)
            return vm_err_sys(err, errno, "cannot open %s", above);
        if (qmp_add_fd(c, fd, above, &tset, err) < 0)
            return -1;
    }
    const char *id = "vmadm-merge";
    cleanup_json json_t *a =
        json_pack("{s:s, s:s, s:b, s:s}", "job-id", id, "device", top, "auto-dismiss", 0, "on-error", "report");
    if (base)
        json_object_set_new(a, "base-node", json_string(base));
    if (backing)
        json_object_set_new(a, "backing-file", json_string(backing));
    if (hv_job_start(c, "block-stream", a, err) < 0)
        return -1;
    if (hv_job_wait(c, id, "concluded", timeout_ms, NULL, err) < 0) {
        hv_job_cancel(c, id, true, 10000);
        return -1;
    }
    if (hv_job_finish(c, id, "QEMU could not merge the snapshot layer", err) < 0)
        return -1;
    /* The layer left QEMU's graph: let go of its descriptor, so its space
     * is freed once storage removes it. */
    cleanup_json json_t *rm = json_pack("{s:I}", "fdset-id", (json_int_t)lset);
    vm_err e = VM_ERR_INIT;
    (void)qmp_exec(c, "remove-fd", rm, NULL, &e);
    return 0;
}

/* Merges can take as long as copying a layer: minutes for a big one. */
#define MERGE_TIMEOUT_MS (30 * 60 * 1000)

int hv_block_merge(const vm_ctx *ctx, const char *uuid, json_t *merge, vm_err *err)
{
    pid_t pid;
    cleanup_close int qfd = hv_open_qemu(ctx, uuid, &pid);
    if (qfd < 0)
        return vm_err_set(err, VMERR_STATE, "VM %s is not running", uuid);
    cleanup_free char *path = hv_run_path(ctx, uuid, "qmp.sock");
    qmp_conn c = QMP_CONN_INIT;
    int rc = qmp_connect(&c, path, 10000, err);
    if (rc == 0)
        rc = hv_stream_layer(&c, pid, merge, MERGE_TIMEOUT_MS, err);
    qmp_close(&c);
    return rc;
}

/* Passes `path` (read-write and read-only descriptors) into a new fd set. */
static int pass_overlay(qmp_conn *c, const char *path, int64_t *set, vm_err *err)
{
    cleanup_close int rw = open(path, O_RDWR | O_CLOEXEC);
    cleanup_close int ro = open(path, O_RDONLY | O_CLOEXEC);
    if (rw < 0 || ro < 0)
        return vm_err_sys(err, errno, "cannot open %s", path);
    *set = -1;
    if (qmp_add_fd(c, rw, path, set, err) < 0 || qmp_add_fd(c, ro, path, set, err) < 0)
        return -1;
    return 0;
}

/* Undoes what hv_snapshot_switch added before its transaction. */
static void drop_overlays(qmp_conn *c, json_t *nodes, json_t *sets)
{
    size_t i;
    json_t *v;
    vm_err e = VM_ERR_INIT;
    json_array_foreach(nodes, i, v) {
        cleanup_json json_t *a = json_pack("{s:O}", "node-name", v);
        (void)qmp_exec(c, "blockdev-del", a, NULL, &e);
    }
    json_array_foreach(sets, i, v) {
        cleanup_json json_t *a = json_pack("{s:O}", "fdset-id", v);
        (void)qmp_exec(c, "remove-fd", a, NULL, &e);
    }
}

int hv_snapshot_switch_conn(qmp_conn *c, json_t *switches, vm_err *err)
{
    cleanup_json json_t *actions = json_array(), *nodes = json_array(), *sets = json_array();
    cleanup_json json_t *args = json_pack("{s:O}", "actions", actions);
    size_t i;
    json_t *sw;
    json_array_foreach(switches, i, sw) {
        cleanup_json json_t *disk = json_pack("{s:O}", "zfs_filesystem", json_object_get(sw, "dataset"));
        cleanup_free char *id = hv_disk_id(disk, i);
        int64_t set;
        if (pass_overlay(c, json_string_value(json_object_get(sw, "overlay")), &set, err) < 0)
            goto fail;
        json_array_append_new(sets, json_integer(set));
        cleanup_free char *node = xasprintf("s%s-%llx", id, (unsigned long long)now_ms());
        cleanup_free char *file = xasprintf("/dev/fdset/%lld", (long long)set);
        /* locking off, as every disk file of a VM (argv_disks.c): a later
         * live merge reopens this layer read-write through another
         * descriptor of the same set. */
        cleanup_json json_t *add = json_pack("{s:s, s:s, s:{s:s, s:s, s:s}, s:n}", "driver", "qcow2", "node-name", node,
                                             "file", "driver", "file", "filename", file, "locking", "off", "backing");
        if (qmp_exec(c, "blockdev-add", add, NULL, err) < 0)
            goto fail;
        json_array_append_new(nodes, json_string(node));
        json_array_append_new(
            actions,
            json_pack("{s:s, s:{s:s, s:s}}", "type", "blockdev-snapshot", "data", "node", id, "overlay", node));
    }
    if (qmp_exec(c, "transaction", args, NULL, err) == 0)
        return 0;
fail:
    drop_overlays(c, nodes, sets);
    return -1;
}

int hv_snapshot_switch(const vm_ctx *ctx, const char *uuid, json_t *switches, vm_err *err)
{
    cleanup_close int qfd = hv_open_qemu(ctx, uuid, NULL);
    if (qfd < 0)
        return vm_err_set(err, VMERR_STATE, "VM %s is not running", uuid);
    cleanup_free char *path = hv_run_path(ctx, uuid, "qmp.sock");
    qmp_conn c = QMP_CONN_INIT;
    int rc = qmp_connect(&c, path, 10000, err);
    if (rc == 0)
        rc = hv_snapshot_switch_conn(&c, switches, err);
    qmp_close(&c);
    return rc;
}
