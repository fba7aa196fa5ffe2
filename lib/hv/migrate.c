/* Live migration, destination side: the VM's QEMU started waiting for
 * the migration, its disks exported over NBD for the source's mirrors,
 * and the end of it (migrate.h). */
#include "hv/migrate.h"

#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/proc.h"
#include "common/util.h"
#include "hv/hv.h"
#include "hv/hv_internal.h"
#include "hv/hv_proc.h"
#include "hv/migrate_internal.h"
#include "net/net.h"

#define FINISH_TIMEOUT_MS 60000

/* getfd of a listening socket bound at `path` (root 0600): QEMU accepts
 * on it, but cannot create anything in the caller's directories. */
static int pass_listener(qmp_conn *c, const char *path, const char *name, vm_err *err)
{
    cleanup_close int fd = hv_unix_listen(path, err);
    if (fd < 0)
        return -1;
    cleanup_json json_t *g = json_pack("{s:s}", "fdname", name);
    return qmp_exec_fd(c, "getfd", g, fd, NULL, err);
}

static int incoming_conn(qmp_conn *c, const char *dir, vm_err *err)
{
    cleanup_json json_t *blocks = NULL;
    if (qmp_exec(c, "query-block", NULL, &blocks, err) < 0)
        return -1;
    cleanup_json json_t *disks = hv_migrate_disks(blocks);
    cleanup_free char *nbd = xasprintf("%s/nbd.sock", dir);
    cleanup_free char *mig = xasprintf("%s/mig.sock", dir);
    cleanup_json json_t *srv = json_pack("{s:{s:s, s:{s:s}}}", "addr", "type", "fd", "data", "str", "mig-nbd");
    if (pass_listener(c, nbd, "mig-nbd", err) < 0 || qmp_exec(c, "nbd-server-start", srv, NULL, err) < 0)
        return -1;
    size_t i;
    json_t *d;
    json_array_foreach(disks, i, d) {
        /* The export is the disk's active node: the layer the source's
         * mirror (sync=top) fills, over the same frozen layers. */
        cleanup_json json_t *a = json_pack("{s:O, s:O, s:b}", "device", d, "name", d, "writable", 1);
        if (qmp_exec(c, "nbd-server-add", a, NULL, err) < 0)
            return -1;
    }
    cleanup_json json_t *caps = json_pack("{s:[{s:s,s:b}]}", "capabilities", "capability", "events", "state", 1);
    if (qmp_exec(c, "migrate-set-capabilities", caps, NULL, err) < 0 || pass_listener(c, mig, "mig-in", err) < 0)
        return -1;
    /* QEMU 7.2 takes an "fd:" incoming URI as an already connected
     * stream; a listening descriptor goes through the socket-address
     * parser, which "tcp:" hands the rest of the URI ("fd:<name>"). */
    cleanup_json json_t *m = json_pack("{s:s}", "uri", "tcp:fd:mig-in");
    return qmp_exec(c, "migrate-incoming", m, NULL, err);
}

static int connect_qmp(const vm_ctx *ctx, const char *uuid, qmp_conn *c, vm_err *err)
{
    cleanup_close int fd = hv_open_qemu(ctx, uuid, NULL);
    if (fd < 0)
        return vm_err_set(err, VMERR_STATE, "VM %s is not running", uuid);
    cleanup_free char *path = hv_run_path(ctx, uuid, "qmp.sock");
    return qmp_connect(c, path, 30000, err);
}

/* The destination QEMU and its NIC protection go; nothing keeps running. */
static int kill_dest(const vm_ctx *ctx, const char *uuid, vm_err *err)
{
    vm_err e = VM_ERR_INIT;
    vm_runstate rs;
    int rc = 0;
    if (hv_runstate(ctx, uuid, &rs) == 0 && rs.running && hv_stop(ctx, uuid, 1, 0, &e) < 0)
        rc = vm_err_set(err, e.code, "%s", e.msg);
    vm_err ne = VM_ERR_INIT;
    if (net_vm_teardown(ctx, uuid, &ne) < 0)
        vm_log(ctx, "warn", "VM %s: %s", uuid, ne.msg);
    return rc;
}

int hv_migrate_incoming(const vm_ctx *ctx, vs_pool *pool, json_t *vmobj, const char *dir, vm_err *err)
{
    const char *uuid = json_string_value(json_object_get(vmobj, "uuid"));
    struct stat sb;
    if (!dir || dir[0] != '/' || stat(dir, &sb) < 0 || !S_ISDIR(sb.st_mode))
        return vm_err_set(err, VMERR_INVALID, "migration socket directory %s is not a directory", dir ? dir : "(null)");
    if (hv_start_vm(ctx, pool, vmobj, true, err) < 0)
        return -1;
    qmp_conn c = QMP_CONN_INIT;
    int rc = connect_qmp(ctx, uuid, &c, err);
    if (rc == 0)
        rc = incoming_conn(&c, dir, err);
    qmp_close(&c);
    if (rc < 0) {
        vm_err_prefix(err, "cannot prepare VM %s for an incoming migration: ", uuid);
        vm_err ke = VM_ERR_INIT;
        (void)kill_dest(ctx, uuid, &ke);
        return -1;
    }
    vm_log(ctx, "info", "VM %s waits for an incoming migration on %s", uuid, dir);
    return 0;
}

/* Waits for the incoming migration to end; fails unless it completed. */
static int wait_incoming(qmp_conn *c, vm_err *err)
{
    int64_t deadline = now_ms() + FINISH_TIMEOUT_MS;
    for (;;) {
        cleanup_json json_t *q = NULL;
        if (qmp_exec(c, "query-migrate", NULL, &q, err) < 0)
            return -1;
        const char *st = json_string_value(json_object_get(q, "status"));
        if (st && !strcmp(st, "completed"))
            return 0;
        if (st && (!strcmp(st, "failed") || !strcmp(st, "cancelled"))) {
            const char *why = json_string_value(json_object_get(q, "error-desc"));
            return vm_err_set(err, VMERR_IO, "the incoming migration %s%s%s", st, why ? ": " : "", why ? why : "");
        }
        if (now_ms() > deadline)
            return vm_err_set(err, VMERR_TIMEOUT, "the incoming migration did not complete within %d s",
                              FINISH_TIMEOUT_MS / 1000);
        vm_sleep_ms(20);
    }
}

int hv_migrate_incoming_finish(const vm_ctx *ctx, const char *uuid, int ok, vm_err *err)
{
    if (!uuid_valid(uuid))
        return vm_err_set(err, VMERR_INVALID, "invalid uuid: %s", uuid ? uuid : "(null)");
    if (!ok)
        return kill_dest(ctx, uuid, err);
    qmp_conn c = QMP_CONN_INIT;
    cleanup_json json_t *st = NULL;
    int rc = connect_qmp(ctx, uuid, &c, err);
    if (rc == 0)
        rc = wait_incoming(&c, err);
    if (rc == 0)
        rc = qmp_exec(&c, "query-status", NULL, &st, err);
    /* Nobody writes through the exports any more: the source ended its
     * mirrors before the switch. */
    if (rc == 0)
        rc = qmp_exec(&c, "nbd-server-stop", NULL, NULL, err);
    const char *s = json_string_value(json_object_get(st, "status"));
    if (rc == 0 && s && strcmp(s, "running") != 0)
        rc = qmp_exec(&c, "cont", NULL, NULL, err);
    qmp_close(&c);
    if (rc < 0)
        vm_err_prefix(err, "VM %s: ", uuid);
    else
        vm_log(ctx, "info", "VM %s runs here after an incoming migration", uuid);
    return rc;
}
