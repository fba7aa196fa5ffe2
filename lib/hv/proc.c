/* Process plumbing for lib/hv: the QEMU/supervisor identity checks and the
 * run files only QEMU has (pidfds and the shared files: common/proc.h). */
#include "hv/hv_proc.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/proc.h"
#include "common/util.h"

char *hv_run_path(const vm_ctx *ctx, const char *uuid, const char *name)
{
    return xasprintf("%s/vms/%s/%s", ctx->run_dir, uuid, name);
}

bool hv_pid_is_qemu_of(pid_t pid, const char *uuid)
{
    char path[64], buf[8192];
    snprintf(path, sizeof path, "/proc/%d/cmdline", (int)pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return false; /* gone, or a zombie (empty cmdline) */
    buf[n] = '\0';
    const char *argv0 = strrchr(buf, '/');
    argv0 = argv0 ? argv0 + 1 : buf;
    if (!str_has_prefix(argv0, "qemu-system-"))
        return false;
    /* Our argv carries "-uuid <uuid>"; look for an argument equal to it. */
    for (char *p = buf + strlen(buf) + 1; p < buf + n; p += strlen(p) + 1)
        if (!strcmp(p, uuid))
            return true;
    return false;
}

bool hv_pid_is_supervisor(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
    cleanup_free char *comm = vm_run_read(path);
    return comm && !strcmp(comm, HV_SUPERVISOR_COMM);
}

int hv_open_qemu(const vm_ctx *ctx, const char *uuid, pid_t *pid_out)
{
    cleanup_free char *pidpath = hv_run_path(ctx, uuid, "pid");
    pid_t pid = vm_run_read_pid(pidpath);
    if (!pid)
        return -1;
    int fd = vm_pidfd_open(pid);
    if (fd < 0)
        return -1;
    /* Checked after opening the pidfd: the fd then pins this very process. */
    if (!hv_pid_is_qemu_of(pid, uuid) || vm_pidfd_wait(fd, 0) != 0) {
        close(fd);
        return -1;
    }
    if (pid_out)
        *pid_out = pid;
    return fd;
}

int hv_open_supervisor(const vm_ctx *ctx, const char *uuid)
{
    cleanup_free char *p = hv_run_path(ctx, uuid, "supervisor");
    pid_t pid = vm_run_read_pid(p);
    if (!pid)
        return -1;
    int fd = vm_pidfd_open(pid);
    if (fd < 0)
        return -1;
    if (!hv_pid_is_supervisor(pid)) {
        close(fd);
        return -1;
    }
    return fd;
}

void hv_remove_run_files(const char *rundir, pid_t only_if_pid)
{
    static const char *const names[] = { "qmp.sock", "console.sock", "mdata.sock", "cidata.iso",
                                         "state",    "supervisor",   NULL };
    char path[4096];
    snprintf(path, sizeof path, "%s/pid", rundir);
    if (only_if_pid) {
        if (vm_run_read_pid(path) == only_if_pid)
            unlink(path);
        else
            return; /* a newer start owns the directory now */
    } else {
        unlink(path);
    }
    for (const char *const *n = names; *n; n++) {
        snprintf(path, sizeof path, "%s/%s", rundir, *n);
        unlink(path);
    }
}

char *hv_log_tail(const char *path, int lines)
{
    cleanup_free char *buf = NULL;
    size_t len;
    vm_err err = VM_ERR_INIT;
    if (read_file(path, &buf, &len, &err) < 0)
        return xstrdup("");
    /* Keep QEMU's own messages: skip our "# " header lines and drop the
     * -msg timestamp prefix ("2025-01-01T00:00:00.000000Z "). */
    cleanup_strv char **all = strv_split(buf, "\n");
    size_t n = strv_len(all), keep = 0;
    char **sel = xcalloc(n + 1, sizeof *sel);
    for (size_t i = 0; i < n; i++) {
        char *l = all[i];
        l[strcspn(l, "\r")] = '\0';
        if (str_has_prefix(l, "# ") || !*l)
            continue;
        if (strlen(l) > 28 && l[4] == '-' && l[10] == 'T' && l[26] == 'Z' && l[27] == ' ')
            l += 28;
        sel[keep++] = l;
    }
    size_t from = keep > (size_t)lines ? keep - (size_t)lines : 0;
    char *out = strv_join(sel + from, "\n");
    free(sel);
    return out;
}
