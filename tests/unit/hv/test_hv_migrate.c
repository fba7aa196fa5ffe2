/* Block jobs and the live-migration state machines against a scripted
 * QEMU: a child process answers each QMP command the script expects, in
 * order (checking the command and parts of its arguments), with canned
 * replies and events; any other command fails the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "hv/blockjob.h"
#include "hv/migrate_internal.h"
#include "hv/qmp.h"

#define GREETING \
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}}, \"capabilities\": []}}\r\n"
#define OK "{\"return\": {}}\r\n"
#define EV(name, data) \
    "{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": \"" name "\", \"data\": " data "}\r\n"
#define JOB(id, st) EV("JOB_STATUS_CHANGE", "{\"status\": \"" st "\", \"id\": \"" id "\"}")

typedef struct step {
    const char *cmd; /* expected "execute" */
    const char *want; /* substring the command line must hold, or NULL */
    const char *reply; /* lines sent back */
} step;

typedef struct fake {
    pid_t pid;
    qmp_conn c;
} fake;

static void put(int fd, const char *s)
{
    size_t n = strlen(s);
    if (write(fd, s, n) != (ssize_t)n)
        _exit(10);
}

static char *get_line(int fd)
{
    static char buf[65536];
    size_t n = 0;
    while (n + 1 < sizeof buf) {
        char ch;
        ssize_t r = read(fd, &ch, 1);
        if (r <= 0)
            return n ? buf : NULL;
        if (ch == '\n')
            break;
        buf[n++] = ch;
    }
    buf[n] = '\0';
    return buf;
}

static void __attribute__((noreturn)) serve(int fd, const step *steps)
{
    put(fd, GREETING);
    for (const step *s = steps; s->cmd; s++) {
        char *line = get_line(fd);
        if (!line) {
            fprintf(stderr, "fake QEMU: EOF, expected %s\n", s->cmd);
            _exit(1);
        }
        json_t *j = json_loads(line, 0, NULL);
        const char *cmd = json_string_value(json_object_get(j, "execute"));
        if (!cmd || strcmp(cmd, s->cmd) || (s->want && !strstr(line, s->want))) {
            fprintf(stderr, "fake QEMU: expected %s%s%s, got %s\n", s->cmd, s->want ? " with " : "",
                    s->want ? s->want : "", line);
            _exit(2);
        }
        json_decref(j);
        put(fd, s->reply);
    }
    char *extra = get_line(fd);
    if (extra) {
        fprintf(stderr, "fake QEMU: unexpected %s\n", extra);
        _exit(3);
    }
    _exit(0);
}

static void start(fake *f, const step *steps)
{
    int sp[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
    f->pid = fork();
    assert_true(f->pid >= 0);
    if (f->pid == 0) {
        close(sp[0]);
        serve(sp[1], steps);
    }
    close(sp[1]);
    f->c = (qmp_conn)QMP_CONN_INIT;
    vm_err err = VM_ERR_INIT;
    assert_int_equal(qmp_attach_fd(&f->c, sp[0], 2000, &err), 0);
}

/* The script was played to its end and nothing else was sent. */
static void finish(fake *f)
{
    qmp_close(&f->c);
    int st;
    assert_int_equal(waitpid(f->pid, &st, 0), f->pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static const step CAPS = { "qmp_capabilities", NULL, OK };
#define END \
    { \
        NULL, NULL, NULL \
    }

/* ---------------- block-stream of a snapshot layer ---------------- */

static char fdsets[256], nodes[1024];

static void make_graph(int below, int layer, int above)
{
    snprintf(fdsets, sizeof fdsets,
             "{\"return\": [{\"fdset-id\": 1, \"fds\": [{\"fd\": %d}]}, {\"fdset-id\": 2, \"fds\": [{\"fd\": %d}]}, "
             "{\"fdset-id\": 3, \"fds\": [{\"fd\": %d}]}]}\r\n",
             below, layer, above);
    snprintf(nodes, sizeof nodes, "%s",
             "{\"return\": ["
             "{\"node-name\": \"n-top\", \"drv\": \"qcow2\", \"ro\": false, \"file\": "
             "\"json:{\\\"backing\\\": {}, \\\"driver\\\": \\\"qcow2\\\", \\\"file\\\": {\\\"driver\\\": "
             "\\\"file\\\", \\\"filename\\\": \\\"/dev/fdset/9\\\"}}\"},"
             "{\"node-name\": \"n-above\", \"drv\": \"qcow2\", \"ro\": true, \"file\": "
             "\"json:{\\\"backing\\\": {}, \\\"driver\\\": \\\"qcow2\\\", \\\"file\\\": {\\\"driver\\\": "
             "\\\"file\\\", \\\"filename\\\": \\\"/dev/fdset/3\\\"}}\"},"
             "{\"node-name\": \"f-above\", \"drv\": \"file\", \"ro\": true, \"file\": \"/dev/fdset/3\"},"
             "{\"node-name\": \"n-layer\", \"drv\": \"qcow2\", \"ro\": true, \"file\": "
             "\"json:{\\\"backing\\\": {}, \\\"driver\\\": \\\"qcow2\\\", \\\"file\\\": {\\\"driver\\\": "
             "\\\"file\\\", \\\"filename\\\": \\\"/dev/fdset/2\\\"}}\"},"
             "{\"node-name\": \"n-below\", \"drv\": \"qcow2\", \"ro\": true, \"file\": \"/dev/fdset/1\"}]}\r\n");
}

typedef struct layers {
    char dir[64];
    int fd[3];
    json_t *merge;
} layers;

static void make_layers(layers *l)
{
    snprintf(l->dir, sizeof l->dir, "/tmp/hvmig.XXXXXX");
    assert_non_null(mkdtemp(l->dir));
    const char *names[] = { "below", "layer", "above" };
    for (int i = 0; i < 3; i++) {
        char p[128];
        snprintf(p, sizeof p, "%s/%s", l->dir, names[i]);
        l->fd[i] = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        assert_true(l->fd[i] >= 0);
    }
    make_graph(l->fd[0], l->fd[1], l->fd[2]);
    l->merge = json_pack("{s:s, s:s, s:s, s:s, s:s}", "dataset", "zones/x/disk0", "below", "", "layer", "", "above", "",
                         "backing", "below-data");
    json_object_set_new(l->merge, "below", json_sprintf("%s/below", l->dir));
    json_object_set_new(l->merge, "layer", json_sprintf("%s/layer", l->dir));
    json_object_set_new(l->merge, "above", json_sprintf("%s/above", l->dir));
}

static void free_layers(layers *l)
{
    for (int i = 0; i < 3; i++)
        close(l->fd[i]);
    json_decref(l->merge);
    rm_rf(l->dir, NULL);
}

static void test_stream_layer(void **state)
{
    (void)state;
    layers l;
    make_layers(&l);
    const step steps[] = {
        CAPS,
        { "query-fdsets", NULL, fdsets },
        { "query-named-block-nodes", NULL, nodes },
        { "query-fdsets", NULL, fdsets },
        { "query-named-block-nodes", NULL, nodes },
        { "query-fdsets", NULL, fdsets },
        { "query-named-block-nodes", NULL, nodes },
        /* the frozen layer above gets a read-write descriptor in its set */
        { "add-fd", "\"fdset-id\":3", "{\"return\": {\"fd\": 40, \"fdset-id\": 3}}\r\n" },
        { "block-stream", "\"device\":\"n-above\"",
          OK JOB("vmadm-merge", "created") JOB("vmadm-merge", "running") JOB("vmadm-merge", "waiting")
              JOB("vmadm-merge", "pending") JOB("vmadm-merge", "concluded") },
        { "query-jobs", NULL, "{\"return\": [{\"id\": \"vmadm-merge\", \"status\": \"concluded\"}]}\r\n" },
        { "job-dismiss", "vmadm-merge", OK },
        /* the merged layer's descriptors are let go */
        { "remove-fd", "\"fdset-id\":2", OK },
        END,
    };
    fake f;
    start(&f, steps);
    vm_err err = VM_ERR_INIT;
    assert_int_equal(hv_stream_layer(&f.c, getpid(), l.merge, 5000, &err), 0);
    finish(&f);
    free_layers(&l);
}

static void test_stream_layer_fails(void **state)
{
    (void)state;
    layers l;
    make_layers(&l);
    const step steps[] = {
        CAPS,
        { "query-fdsets", NULL, fdsets },
        { "query-named-block-nodes", NULL, nodes },
        { "query-fdsets", NULL, fdsets },
        { "query-named-block-nodes", NULL, nodes },
        { "query-fdsets", NULL, fdsets },
        { "query-named-block-nodes", NULL, nodes },
        { "add-fd", NULL, "{\"return\": {\"fd\": 40, \"fdset-id\": 3}}\r\n" },
        { "block-stream", "\"base-node\":\"n-below\"",
          OK JOB("vmadm-merge", "running") JOB("vmadm-merge", "aborting") JOB("vmadm-merge", "concluded") },
        { "query-jobs", NULL,
          "{\"return\": [{\"id\": \"vmadm-merge\", \"status\": \"concluded\", \"error\": \"Input/output "
          "error\"}]}\r\n" },
        { "job-dismiss", NULL, OK },
        END, /* no remove-fd: the layer is still in the chain */
    };
    fake f;
    start(&f, steps);
    vm_err err = VM_ERR_INIT;
    assert_int_equal(hv_stream_layer(&f.c, getpid(), l.merge, 5000, &err), -1);
    assert_string_equal(err.msg, "QEMU could not merge the snapshot layer: Input/output error");
    finish(&f);
    free_layers(&l);
}

/* A layer QEMU does not hold: refused before any job starts. */
static void test_stream_layer_not_in_graph(void **state)
{
    (void)state;
    layers l;
    make_layers(&l);
    make_graph(l.fd[0], l.fd[0], l.fd[0]);
    const step steps[] = { CAPS, { "query-fdsets", NULL, fdsets }, END };
    fake f;
    start(&f, steps);
    vm_err err = VM_ERR_INIT;
    assert_int_equal(hv_stream_layer(&f.c, getpid(), l.merge, 5000, &err), -1);
    assert_int_equal(err.code, VMERR_NOTFOUND);
    finish(&f);
    free_layers(&l);
}

/* ---------------- the source's migration ---------------- */

typedef struct target {
    char dir[64];
    char nbd[96], mig[96];
    int lfd[2];
    hv_migrate_target t;
} target;

/* Listening sockets standing in for the destination's (never accepted:
 * the fake QEMU gets the connected descriptors and drops them). */
static void make_target(target *t)
{
    snprintf(t->dir, sizeof t->dir, "/tmp/hvmig.XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    snprintf(t->nbd, sizeof t->nbd, "%s/nbd.sock", t->dir);
    snprintf(t->mig, sizeof t->mig, "%s/mig.sock", t->dir);
    vm_err err = VM_ERR_INIT;
    t->lfd[0] = hv_unix_listen(t->nbd, &err);
    t->lfd[1] = hv_unix_listen(t->mig, &err);
    assert_true(t->lfd[0] >= 0 && t->lfd[1] >= 0);
    t->t = (hv_migrate_target){ .nbd_sock = t->nbd, .mig_sock = t->mig, .downtime_limit_ms = 0, .bandwidth = 0 };
}

static void free_target(target *t)
{
    close(t->lfd[0]);
    close(t->lfd[1]);
    rm_rf(t->dir, NULL);
}

typedef struct seen {
    char phases[256];
    const char *abort_phase; /* abort when this phase is reported */
} seen;

static int record(void *arg, const hv_migrate_progress *p)
{
    seen *s = arg;
    size_t n = strlen(s->phases);
    snprintf(s->phases + n, sizeof s->phases - n, "%s%s", n ? "," : "", p->phase);
    return s->abort_phase && !strcmp(p->phase, s->abort_phase) ? -1 : 0;
}

#define JOBS_RUNNING \
    "{\"return\": [{\"device\": \"mig-disk0\", \"status\": \"running\", \"ready\": false, \"offset\": 0, " \
    "\"len\": 1048576, \"type\": \"mirror\"}]}\r\n"
#define JOBS_READY \
    "{\"return\": [{\"device\": \"mig-disk0\", \"status\": \"ready\", \"ready\": true, \"offset\": 1048576, " \
    "\"len\": 1048576, \"type\": \"mirror\"}]}\r\n"
#define MIG(st) "{\"return\": {\"status\": \"" st "\"}}\r\n"
#define MIG_ACTIVE \
    "{\"return\": {\"status\": \"active\", \"ram\": {\"transferred\": 1000, \"remaining\": 500, \"total\": 1500, " \
    "\"mbps\": 8.0}}}\r\n"
#define MIG_DONE \
    "{\"return\": {\"status\": \"completed\", \"downtime\": 42, \"total-time\": 900, \"ram\": {\"transferred\": " \
    "123456}}}\r\n"

/* Everything up to the RAM migration started, one disk. */
#define SEND_START \
    CAPS, { "getfd", "\"fdname\":\"mig-disk0\"", OK }, \
        { "blockdev-add", "\"server\":{\"type\":\"fd\",\"str\":\"mig-disk0\"},\"export\":\"disk0\"", OK }, \
        { "blockdev-mirror", "\"sync\":\"top\",\"copy-mode\":\"write-blocking\"", \
          OK JOB("mig-disk0", "created") JOB("mig-disk0", "running") }, \
        { "query-block-jobs", NULL, JOBS_RUNNING }, { "query-block-jobs", NULL, JOBS_READY }, \
        { "migrate-set-capabilities", "pause-before-switchover", OK }, \
        { "migrate-set-parameters", "\"downtime-limit\":300", OK }, { "getfd", "\"fdname\":\"mig-out\"", OK }, \
    { \
        "migrate", "\"uri\":\"fd:mig-out\"", OK \
    }

static void test_send_success(void **state)
{
    (void)state;
    target t;
    make_target(&t);
    const step steps[] = {
        SEND_START,
        { "query-migrate", NULL, MIG_ACTIVE },
        { "query-block-jobs", NULL, JOBS_READY EV("MIGRATION", "{\"status\": \"pre-switchover\"}") },
        /* the guest is stopped: the mirrors end as point-in-time copies */
        { "query-migrate", NULL, MIG("pre-switchover") },
        { "block-job-cancel", "\"device\":\"mig-disk0\"", OK JOB("mig-disk0", "waiting") },
        { "query-jobs", NULL, "{\"return\": [{\"id\": \"mig-disk0\", \"status\": \"waiting\"}]}\r\n" },
        { "query-jobs", NULL, "{\"return\": [{\"id\": \"mig-disk0\", \"status\": \"concluded\"}]}\r\n" },
        { "query-jobs", NULL, "{\"return\": [{\"id\": \"mig-disk0\", \"status\": \"concluded\"}]}\r\n" },
        { "job-dismiss", "mig-disk0", OK },
        { "migrate-continue", "pre-switchover", OK },
        /* still pre-switchover for a moment: the mirrors are not ended twice */
        { "query-migrate", NULL, MIG("pre-switchover") },
        { "query-migrate", NULL, MIG_DONE },
        { "blockdev-del", "\"node-name\":\"mig-disk0\"", OK },
        END,
    };
    fake f;
    start(&f, steps);
    seen s = { "", NULL };
    hv_migrate_result res;
    vm_err err = VM_ERR_INIT;
    json_t *disks = json_pack("[s]", "disk0");
    assert_int_equal(hv_migrate_send_conn(&f.c, disks, &t.t, record, &s, &res, 1, &err), 0);
    assert_int_equal(res.downtime_ms, 42);
    assert_int_equal(res.total_ms, 900);
    assert_int_equal(res.ram_bytes, 123456);
    assert_int_equal(res.disk_bytes, 1048576);
    assert_string_equal(s.phases, "disks,disks,memory,switch");
    json_decref(disks);
    finish(&f);
    free_target(&t);
}

/* The undo after a failure: the migration cancelled, the mirror force-
 * cancelled, the NBD node deleted, a guest the migration stopped resumed. */
#define UNDO(mig_first, jobs, status_after) \
    { "query-migrate", NULL, mig_first }, { "migrate_cancel", NULL, OK }, { "query-jobs", NULL, jobs }, \
        { "block-job-cancel", "\"force\":true", OK JOB("mig-disk0", "aborting") JOB("mig-disk0", "concluded") }, \
        { "job-dismiss", "mig-disk0", OK }, \
        { "query-named-block-nodes", NULL, \
          "{\"return\": [{\"node-name\": \"mig-disk0\"}, {\"node-name\": \"#block1\"}]}\r\n" }, \
        { "blockdev-del", "\"node-name\":\"mig-disk0\"", OK }, { "query-migrate", NULL, MIG("cancelled") }, \
    { \
        "query-status", NULL, "{\"return\": {\"status\": \"" status_after "\", \"running\": false}}\r\n" \
    }

#define JOB_READY_LIST "{\"return\": [{\"id\": \"mig-disk0\", \"status\": \"ready\"}]}\r\n"

static void test_send_mirror_error(void **state)
{
    (void)state;
    target t;
    make_target(&t);
    const step steps[] = {
        CAPS,
        { "getfd", NULL, OK },
        { "blockdev-add", NULL, OK },
        { "blockdev-mirror", NULL, OK },
        { "query-block-jobs", NULL, JOBS_RUNNING },
        /* the mirror fails (the destination's disk went away) */
        { "query-block-jobs", NULL,
          "{\"return\": [{\"device\": \"mig-disk0\", \"status\": \"concluded\", \"ready\": false, \"offset\": 0, "
          "\"len\": 1048576}]}\r\n" },
        { "query-jobs", NULL,
          "{\"return\": [{\"id\": \"mig-disk0\", \"status\": \"concluded\", \"error\": \"Input/output "
          "error\"}]}\r\n" },
        { "job-dismiss", NULL, OK },
        { "query-migrate", NULL, "{\"return\": {}}\r\n" },
        { "migrate_cancel", NULL, OK },
        { "query-jobs", NULL, "{\"return\": []}\r\n" },
        { "query-named-block-nodes", NULL, "{\"return\": [{\"node-name\": \"mig-disk0\"}]}\r\n" },
        { "blockdev-del", "mig-disk0", OK },
        { "query-migrate", NULL, "{\"return\": {}}\r\n" },
        { "query-status", NULL, "{\"return\": {\"status\": \"running\", \"running\": true}}\r\n" },
        END,
    };
    fake f;
    start(&f, steps);
    hv_migrate_result res;
    vm_err err = VM_ERR_INIT;
    json_t *disks = json_pack("[s]", "disk0");
    assert_int_equal(hv_migrate_send_conn(&f.c, disks, &t.t, NULL, NULL, &res, 1, &err), -1);
    assert_string_equal(err.msg, "the mirror of disk disk0 failed: Input/output error");
    json_decref(disks);
    finish(&f);
    free_target(&t);
}

static void test_send_migration_failed(void **state)
{
    (void)state;
    target t;
    make_target(&t);
    const step steps[] = {
        SEND_START,
        { "query-migrate", NULL,
          "{\"return\": {\"status\": \"failed\", \"error-desc\": \"Unable to write to socket: Broken pipe\"}}\r\n" },
        UNDO(MIG("failed"), JOB_READY_LIST, "finish-migrate"),
        { "cont", NULL, OK },
        END,
    };
    fake f;
    start(&f, steps);
    hv_migrate_result res;
    vm_err err = VM_ERR_INIT;
    json_t *disks = json_pack("[s]", "disk0");
    assert_int_equal(hv_migrate_send_conn(&f.c, disks, &t.t, NULL, NULL, &res, 1, &err), -1);
    assert_string_equal(err.msg, "QEMU's migration failed: Unable to write to socket: Broken pipe");
    json_decref(disks);
    finish(&f);
    free_target(&t);
}

/* Aborted by the progress callback (SIGINT, --abort) during RAM. */
static void test_send_cancelled(void **state)
{
    (void)state;
    target t;
    make_target(&t);
    const step steps[] = {
        SEND_START,
        { "query-migrate", NULL, MIG_ACTIVE },
        { "query-block-jobs", NULL, JOBS_READY },
        UNDO(MIG("active"), JOB_READY_LIST, "running"),
        END,
    };
    fake f;
    start(&f, steps);
    seen s = { "", "memory" };
    hv_migrate_result res;
    vm_err err = VM_ERR_INIT;
    json_t *disks = json_pack("[s]", "disk0");
    assert_int_equal(hv_migrate_send_conn(&f.c, disks, &t.t, record, &s, &res, 1, &err), -1);
    assert_string_equal(err.msg, "migration aborted");
    assert_string_equal(s.phases, "disks,disks,memory");
    json_decref(disks);
    finish(&f);
    free_target(&t);
}

/* Too late to cancel: the destination has the VM. */
static void test_undo_after_completion(void **state)
{
    (void)state;
    const step steps[] = { CAPS, { "query-migrate", NULL, MIG_DONE }, END };
    fake f;
    start(&f, steps);
    vm_err err = VM_ERR_INIT;
    assert_int_equal(hv_migrate_undo(&f.c, 1, &err), -1);
    assert_int_equal(err.code, VMERR_STATE);
    finish(&f);
}

static void test_disks_to_mirror(void **state)
{
    (void)state;
    json_t *qb = json_loads("[{\"device\": \"disk0\", \"removable\": false, \"inserted\": {\"ro\": false}},"
                            " {\"device\": \"cdrom1\", \"removable\": true, \"inserted\": {\"ro\": true}},"
                            " {\"device\": \"disk1\", \"removable\": false, \"inserted\": {\"ro\": false}},"
                            " {\"device\": \"floppy\", \"removable\": true}]",
                            0, NULL);
    json_t *ids = hv_migrate_disks(qb);
    char *s = json_dumps(ids, JSON_COMPACT);
    assert_string_equal(s, "[\"disk0\",\"disk1\"]");
    free(s);
    json_decref(ids);
    json_decref(qb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_layer),
        cmocka_unit_test(test_stream_layer_fails),
        cmocka_unit_test(test_stream_layer_not_in_graph),
        cmocka_unit_test(test_send_success),
        cmocka_unit_test(test_send_mirror_error),
        cmocka_unit_test(test_send_migration_failed),
        cmocka_unit_test(test_send_cancelled),
        cmocka_unit_test(test_undo_after_completion),
        cmocka_unit_test(test_disks_to_mirror),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
