/* Operations on a running VM: state, stop, signals, QMP queries, console. */
#include "hv/hv.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "common/lock.h"
#include "common/proc.h"
#include "common/tty.h"
#include "common/util.h"
#include "hv/hv_proc.h"
#include "hv/qmp.h"

static void read_word(const vm_ctx *ctx, const char *uuid, const char *name, char *out, size_t size)
{
    cleanup_free char *p = hv_run_path(ctx, uuid, name);
    cleanup_free char *s = vm_run_read(p);
    snprintf(out, size, "%s", s ? s : "");
}

int hv_runstate(const vm_ctx *ctx, const char *uuid, vm_runstate *out)
{
    vm_runstate_reset(out);
    if (!uuid_valid(uuid))
        return 0;
    cleanup_free char *rundir = vm_ctx_vm_rundir(ctx, uuid);
    cleanup_free char *pidpath = xasprintf("%s/pid", rundir);
    pid_t pid = vm_run_read_pid(pidpath);
    if (pid && hv_pid_is_qemu_of(pid, uuid)) {
        vm_runstate_read_live(rundir, pid, out);
        read_word(ctx, uuid, "accel", out->accel, sizeof out->accel);
        read_word(ctx, uuid, "accel_warning", out->warning, sizeof out->warning);
        return 0;
    }
    if (pid) {
        /* Stale (host crash, killed supervisor) or just ended.  Clean up only
         * when nobody is operating on the VM: a start in progress owns the
         * directory. */
        vm_lock lk = VM_LOCK_INIT;
        vm_err e = VM_ERR_INIT;
        if (vm_lock_try(ctx, uuid, &lk, &e) == 1) {
            hv_remove_run_files(rundir, pid);
            vm_lock_release(&lk);
        }
    }
    vm_runstate_read_exit(rundir, out);
    return 0;
}

static int not_running(const char *uuid, vm_err *err)
{
    return vm_err_set(err, VMERR_STATE, "VM %s is not running", uuid);
}

static int connect_vm(const vm_ctx *ctx, const char *uuid, qmp_conn *c, vm_err *err)
{
    if (!uuid_valid(uuid))
        return vm_err_set(err, VMERR_INVALID, "invalid uuid: %s", uuid ? uuid : "(null)");
    cleanup_close int fd = hv_open_qemu(ctx, uuid, NULL);
    if (fd < 0)
        return not_running(uuid, err);
    cleanup_free char *path = hv_run_path(ctx, uuid, "qmp.sock");
    return qmp_connect(c, path, 10000, err);
}

/* Passes `path` (opened read-write and read-only, by root) into a new fd
 * set; *set is its id. */
static int pass_file(qmp_conn *c, const char *path, int64_t *set, vm_err *err)
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

/* QEMU opens no VM file by path (confine.c): the overlay of each
 * blockdev-snapshot-sync (alone or in a transaction) is handed over as a
 * descriptor and the command names it /dev/fdset/N. */
static int pass_snapshot_files(qmp_conn *c, json_t *cmd, vm_err *err)
{
    const char *name = json_string_value(json_object_get(cmd, "execute"));
    json_t *args = json_object_get(cmd, "arguments");
    json_t *datas = json_array();
    if (name && !strcmp(name, "blockdev-snapshot-sync")) {
        json_array_append(datas, args);
    } else if (name && !strcmp(name, "transaction")) {
        size_t i;
        json_t *act;
        json_array_foreach(json_object_get(args, "actions"), i, act) {
            const char *t = json_string_value(json_object_get(act, "type"));
            if (t && !strcmp(t, "blockdev-snapshot-sync"))
                json_array_append(datas, json_object_get(act, "data"));
        }
    }
    size_t i;
    json_t *d;
    int rc = 0;
    json_array_foreach(datas, i, d) {
        const char *file = json_string_value(json_object_get(d, "snapshot-file"));
        if (!file || str_has_prefix(file, "/dev/fdset/"))
            continue;
        int64_t set;
        if ((rc = pass_file(c, file, &set, err)) < 0)
            break;
        json_object_set_new(d, "snapshot-file", json_sprintf("/dev/fdset/%lld", (long long)set));
    }
    json_decref(datas);
    return rc;
}

int hv_qmp_command(const vm_ctx *ctx, const char *uuid, json_t *cmd, json_t **ret, vm_err *err)
{
    qmp_conn c = QMP_CONN_INIT;
    cleanup_json json_t *copy = json_deep_copy(cmd);
    int rc = connect_vm(ctx, uuid, &c, err);
    if (rc == 0)
        rc = pass_snapshot_files(&c, copy, err);
    if (rc == 0)
        rc = qmp_exec_obj(&c, copy, ret, err);
    qmp_close(&c);
    return rc;
}

static int simple_cmd(const vm_ctx *ctx, const char *uuid, const char *cmd, json_t *args, json_t **ret, vm_err *err)
{
    cleanup_json json_t *o = json_pack("{s:s}", "execute", cmd);
    if (args)
        json_object_set(o, "arguments", args);
    return hv_qmp_command(ctx, uuid, o, ret, err);
}

/* QMP "quit" on a fresh connection; QEMU may close before replying. */
static void qmp_quit(const vm_ctx *ctx, const char *uuid)
{
    qmp_conn c = QMP_CONN_INIT;
    vm_err e = VM_ERR_INIT;
    cleanup_free char *path = hv_run_path(ctx, uuid, "qmp.sock");
    if (qmp_connect(&c, path, 3000, &e) == 0)
        qmp_exec(&c, "quit", NULL, NULL, &e);
    qmp_close(&c);
}

int hv_stop(const vm_ctx *ctx, const char *uuid, int force, int timeout_s, vm_err *err)
{
    if (!uuid_valid(uuid))
        return vm_err_set(err, VMERR_INVALID, "invalid uuid: %s", uuid ? uuid : "(null)");
    pid_t pid;
    cleanup_close int qfd = hv_open_qemu(ctx, uuid, &pid);
    if (qfd < 0)
        return not_running(uuid, err);
    cleanup_close int sfd = hv_open_supervisor(ctx, uuid);
    cleanup_free char *rundir = vm_ctx_vm_rundir(ctx, uuid);
    cleanup_free char *statepath = xasprintf("%s/state", rundir);
    vm_err se = VM_ERR_INIT;
    (void)vm_runstate_write_stopping(rundir, VM_RUN_FAST, &se);

    int gone = 0;
    if (!force) {
        vm_err pe = VM_ERR_INIT;
        if (simple_cmd(ctx, uuid, "system_powerdown", NULL, NULL, &pe) < 0)
            vm_log(ctx, "warn", "VM %s: ACPI power button failed: %s", uuid, pe.msg);
        else
            gone = vm_pidfd_wait(qfd, timeout_s > 0 ? timeout_s * 1000 : 0) == 1;
        if (!gone)
            vm_log(ctx, "warn", "VM %s did not power off within %d s; forcing", uuid, timeout_s);
    }
    if (!gone) {
        qmp_quit(ctx, uuid);
        gone = vm_pidfd_wait(qfd, 5000) == 1;
    }
    if (!gone) {
        vm_log(ctx, "warn", "VM %s: QEMU ignored quit; sending SIGKILL", uuid);
        vm_pidfd_signal(qfd, SIGKILL);
        gone = vm_pidfd_wait(qfd, 10000) == 1;
    }
    if (!gone)
        return vm_err_set(err, VMERR_TIMEOUT, "QEMU (pid %d) of VM %s did not exit", (int)pid, uuid);
    /* The supervisor records lastexited and removes the pid file; wait for it
     * so that the caller sees the final state. */
    if (sfd < 0 || vm_pidfd_wait(sfd, 5000) != 1)
        hv_remove_run_files(rundir, pid);
    unlink(statepath);
    vm_log(ctx, "info", "VM %s stopped%s", uuid, force ? " (forced)" : "");
    return 0;
}

int hv_kill(const vm_ctx *ctx, const char *uuid, int sig, vm_err *err)
{
    if (!uuid_valid(uuid))
        return vm_err_set(err, VMERR_INVALID, "invalid uuid: %s", uuid ? uuid : "(null)");
    cleanup_close int qfd = hv_open_qemu(ctx, uuid, NULL);
    if (qfd < 0)
        return not_running(uuid, err);
    if (vm_pidfd_signal(qfd, sig) < 0)
        return vm_err_sys(err, errno, "cannot signal VM %s", uuid);
    return 0;
}

int hv_reset(const vm_ctx *ctx, const char *uuid, vm_err *err)
{
    return simple_cmd(ctx, uuid, "system_reset", NULL, NULL, err);
}

int hv_block_resize(const vm_ctx *ctx, const char *uuid, const char *disk_id, uint64_t bytes, vm_err *err)
{
    cleanup_json json_t *a = json_pack("{s:s,s:I}", "device", disk_id, "size", (json_int_t)bytes);
    return simple_cmd(ctx, uuid, "block_resize", a, NULL, err);
}

int hv_sysrq(const vm_ctx *ctx, const char *uuid, const char *type, json_t **out, vm_err *err)
{
    if (type && !strcmp(type, "nmi")) {
        if (simple_cmd(ctx, uuid, "inject-nmi", NULL, NULL, err) < 0)
            return -1;
        *out = json_object();
        return 0;
    }
    if (type && !strcmp(type, "screenshot")) {
        /* Written through a descriptor vmadm opens: QEMU's user cannot
         * create files in the runtime directory. */
        cleanup_free char *path = hv_run_path(ctx, uuid, "screenshot.ppm");
        qmp_conn c = QMP_CONN_INIT;
        int rc = connect_vm(ctx, uuid, &c, err);
        int64_t set = -1;
        if (rc == 0) {
            cleanup_close int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
            rc =
                fd < 0 ? vm_err_sys(err, errno, "cannot create %s", path) : qmp_add_fd(&c, fd, "screenshot", &set, err);
        }
        if (rc == 0) {
            cleanup_json json_t *a = json_pack("{s:o}", "filename", json_sprintf("/dev/fdset/%lld", (long long)set));
            rc = qmp_exec(&c, "screendump", a, NULL, err);
            cleanup_json json_t *rm = json_pack("{s:I}", "fdset-id", (json_int_t)set);
            vm_err e = VM_ERR_INIT;
            (void)qmp_exec(&c, "remove-fd", rm, NULL, &e);
        }
        qmp_close(&c);
        if (rc < 0)
            return -1;
        *out = json_pack("{s:s}", "path", path);
        return 0;
    }
    return vm_err_set(err, VMERR_INVALID, "Invalid sysrq type: %s", type ? type : "(null)");
}

/* ---------------- info ---------------- */

static const char *const info_types[] = { "block",   "blockstats", "chardev", "cpus", "pci",
                                          "version", "vnc",        "status",  NULL };

static const char *class_name(int cls)
{
    static const struct {
        int c;
        const char *n;
    } t[] = {
        { 0x0100, "SCSI controller" }, { 0x0101, "IDE controller" },      { 0x0106, "SATA controller" },
        { 0x0108, "NVMe controller" }, { 0x0200, "Ethernet controller" }, { 0x0300, "VGA controller" },
        { 0x0600, "Host bridge" },     { 0x0601, "ISA bridge" },          { 0x0604, "PCI bridge" },
        { 0x0c05, "SMBus" },           { 0x00ff, "Unclassified device" },
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (t[i].c == cls)
            return t[i].n;
    return "Unknown class";
}

/* query-pci made readable: one entry per function, with the disk id. */
static json_t *decode_pci(json_t *raw)
{
    json_t *list = json_array();
    size_t i, j;
    json_t *bus, *d;
    json_array_foreach(raw, i, bus) {
        json_array_foreach(json_object_get(bus, "devices"), j, d) {
            int b = (int)json_integer_value(json_object_get(d, "bus"));
            int s = (int)json_integer_value(json_object_get(d, "slot"));
            int f = (int)json_integer_value(json_object_get(d, "function"));
            json_t *ci = json_object_get(d, "class_info");
            int cls = (int)json_integer_value(json_object_get(ci, "class"));
            const char *desc = json_string_value(json_object_get(ci, "desc"));
            json_t *id = json_object_get(d, "id");
            const char *qdev = json_string_value(json_object_get(d, "qdev_id"));
            char addr[16], cbuf[8], vbuf[8], dbuf[8];
            snprintf(addr, sizeof addr, "%02x:%02x.%x", b & 0xff, s & 0x1f, f & 7);
            snprintf(cbuf, sizeof cbuf, "%04x", cls & 0xffff);
            snprintf(vbuf, sizeof vbuf, "%04x", (int)json_integer_value(json_object_get(id, "vendor")) & 0xffff);
            snprintf(dbuf, sizeof dbuf, "%04x", (int)json_integer_value(json_object_get(id, "device")) & 0xffff);
            json_t *e =
                json_pack("{s:s,s:i,s:i,s:i,s:s,s:s,s:s,s:s}", "address", addr, "bus", b, "slot", s, "function", f,
                          "class", cbuf, "class_desc", desc ? desc : class_name(cls), "vendor", vbuf, "device", dbuf);
            if (qdev && *qdev) {
                json_object_set_new(e, "qdev_id", json_string(qdev));
                const char *drive = str_has_prefix(qdev, "sata-") ? qdev + 5 : qdev;
                if (str_has_prefix(drive, "disk") || str_has_prefix(drive, "cdrom") || str_has_prefix(drive, "file"))
                    json_object_set_new(e, "drive", json_string(drive));
            }
            json_array_append_new(list, e);
        }
    }
    return list;
}

/* QEMU names the files vmadm passed it /dev/fdset/N; show their paths (each
 * set's opaque) instead, in every string of `j`. */
static void name_fdsets(json_t *j, json_t *sets)
{
    const char *key;
    json_t *v;
    size_t i;
    if (json_is_array(j)) {
        json_array_foreach(j, i, v)
            name_fdsets(v, sets);
        return;
    }
    json_object_foreach(j, key, v) {
        const char *s = json_string_value(v);
        if (s && str_has_prefix(s, "/dev/fdset/")) {
            const char *path = json_string_value(json_object_get(sets, s + strlen("/dev/fdset/")));
            if (path)
                json_object_set_new(j, key, json_string(path));
        } else if (json_is_object(v) || json_is_array(v)) {
            name_fdsets(v, sets);
        }
    }
}

static int query_block(qmp_conn *c, json_t **out, vm_err *err)
{
    cleanup_json json_t *fdsets = NULL;
    if (qmp_exec(c, "query-block", NULL, out, err) < 0 || qmp_exec(c, "query-fdsets", NULL, &fdsets, err) < 0)
        return -1;
    cleanup_json json_t *sets = json_object();
    size_t i;
    json_t *fs;
    json_array_foreach(fdsets, i, fs) {
        json_t *opaque = json_object_get(json_array_get(json_object_get(fs, "fds"), 0), "opaque");
        char id[32];
        snprintf(id, sizeof id, "%lld", (long long)json_integer_value(json_object_get(fs, "fdset-id")));
        if (json_is_string(opaque))
            json_object_set(sets, id, opaque);
    }
    name_fdsets(*out, sets);
    return 0;
}

static int info_one(const vm_ctx *ctx, const char *uuid, qmp_conn *c, const char *type, json_t **out, vm_err *err)
{
    static const struct {
        const char *type, *cmd;
    } map[] = {
        { "blockstats", "query-blockstats" }, { "chardev", "query-chardev" }, { "cpus", "query-cpus-fast" },
        { "version", "query-version" },       { "status", "query-status" },
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(type, map[i].type))
            return qmp_exec(c, map[i].cmd, NULL, out, err);
    if (!strcmp(type, "block"))
        return query_block(c, out, err);
    if (!strcmp(type, "pci")) {
        cleanup_json json_t *raw = NULL;
        if (qmp_exec(c, "query-pci", NULL, &raw, err) < 0)
            return -1;
        *out = decode_pci(raw);
        return 0;
    }
    if (!strcmp(type, "vnc")) {
        cleanup_free char *p = hv_run_path(ctx, uuid, "vnc.json");
        vm_err e = VM_ERR_INIT;
        if (read_json_file(p, out, &e) < 0) {
            *out = json_object(); /* VNC disabled (vnc_port -1) */
            return 0;
        }
        if (json_object_get(*out, "path"))
            return 0; /* unix socket only: {"path": ...} */
        cleanup_json json_t *q = NULL;
        if (qmp_exec(c, "query-vnc", NULL, &q, err) < 0) {
            json_decref(*out);
            *out = NULL;
            return -1;
        }
        int64_t port;
        const char *svc = json_string_value(json_object_get(q, "service"));
        if (svc && parse_i64(svc, &port)) {
            /* {host, port, display[, password]} in SmartOS's order */
            json_t *v = json_pack("{s:O,s:I,s:I}", "host", json_object_get(*out, "host"), "port", (json_int_t)port,
                                  "display", (json_int_t)(port - 5900));
            json_t *pw = json_object_get(*out, "password");
            if (pw)
                json_object_set(v, "password", pw);
            json_decref(*out);
            *out = v;
        }
        return 0;
    }
    return vm_err_set(err, VMERR_INVALID, "unknown info type %s", type);
}

int hv_info(const vm_ctx *ctx, const char *uuid, char **types, json_t **out, vm_err *err)
{
    bool all = !types || !types[0];
    for (char **t = types; t && *t; t++) {
        if (!strcmp(*t, "all")) {
            all = true;
            continue;
        }
        bool known = false;
        for (const char *const *k = info_types; *k; k++)
            known |= !strcmp(*k, *t);
        if (!known)
            return vm_err_set(err, VMERR_INVALID, "unknown info type %s", *t);
    }
    qmp_conn c = QMP_CONN_INIT;
    cleanup_json json_t *res = json_object();
    int rc = connect_vm(ctx, uuid, &c, err);
    for (const char *const *k = info_types; rc == 0 && *k; k++) {
        bool want = all;
        for (char **t = types; !want && t && *t; t++)
            want = !strcmp(*t, *k);
        if (!want)
            continue;
        json_t *v = NULL;
        rc = info_one(ctx, uuid, &c, *k, &v, err);
        if (rc == 0)
            json_object_set_new(res, *k, v);
    }
    qmp_close(&c);
    if (rc < 0)
        return -1;
    *out = steal_ptr(res);
    return 0;
}

/* ---------------- console ---------------- */

int hv_console(const vm_ctx *ctx, const char *uuid, vm_err *err)
{
    if (!uuid_valid(uuid))
        return vm_err_set(err, VMERR_INVALID, "invalid uuid: %s", uuid ? uuid : "(null)");
    {
        cleanup_close int qfd = hv_open_qemu(ctx, uuid, NULL);
        if (qfd < 0)
            return not_running(uuid, err);
    }
    cleanup_free char *path = hv_run_path(ctx, uuid, "console.sock");
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    if (strlen(path) >= sizeof sa.sun_path)
        return vm_err_set(err, VMERR_INVALID, "socket path %s is too long", path);
    memcpy(sa.sun_path, path, strlen(path) + 1);
    cleanup_close int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0)
        return vm_err_sys(err, errno, "cannot connect to the console of VM %s", uuid);

    cleanup_free char *banner = xasprintf("[Connected to VM %s console; CTRL-] detaches]\r\n", uuid);
    cleanup_free char *farewell = xasprintf("\r\n[Connection to VM %s console closed]\r\n", uuid);
    vm_tty_opts opts = { .tcsa = TCSANOW, .quiet_ms = 1000, .banner = banner, .farewell = farewell };
    return vm_tty_relay(fd, &opts, err);
}
