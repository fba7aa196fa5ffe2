/* vmadm boot-all: every VM with autoboot=true started at host boot, a
 * bounded number at a time, each in its own process (each VM has its own
 * lock, and the runtimes fork supervisors, which is only safe from
 * single-threaded processes).  Every VM that should start is in the
 * report: started, already running, or the reason it did not start —
 * including a config that cannot be read, or a fork that failed. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "net/net.h"
#include "vm/store.h"
#include "vm/vm.h"

typedef struct boot_slot {
    pid_t pid;
    int fd;
    size_t idx; /* into the report */
} boot_slot;

/* VMADM_BOOT_PARALLEL overrides; default two per CPU, 2..16. */
static size_t boot_parallel(void)
{
    const char *s = getenv("VMADM_BOOT_PARALLEL");
    int64_t v;
    if (s && parse_i64(s, &v) && v >= 1 && v <= 1024)
        return (size_t)v;
    long n = sysconf(_SC_NPROCESSORS_ONLN) * 2;
    return (size_t)(n < 2 ? 2 : n > 16 ? 16 : n);
}

static void set_result(json_t *rep, size_t idx, bool ok, const char *error)
{
    json_t *o = json_array_get(rep, idx);
    json_object_set_new(o, "ok", json_boolean(ok));
    if (!ok)
        json_object_set_new(o, "error", json_string(error && *error ? error : "start failed"));
}

static void child_start(const vm_ctx *ctx, const char *uuid, int fd)
{
    vm_err se = VM_ERR_INIT;
    int ok = vm_start(ctx, uuid, &se) == 0 || se.code == VMERR_ALREADY;
    if (!ok) {
        ssize_t w = write(fd, se.msg, strlen(se.msg));
        (void)w;
    }
    _exit(ok ? 0 : 1);
}

/* Waits for one of the n busy slots to finish, records it, frees the slot
 * (moved to the end).  Returns the new number of busy slots. */
static size_t reap_one(boot_slot *slots, size_t n, json_t *rep)
{
    int status = 0;
    pid_t pid;
    while ((pid = waitpid(-1, &status, 0)) < 0 && errno == EINTR)
        ;
    for (size_t i = 0; i < n; i++) {
        if (pid >= 0 && slots[i].pid != pid)
            continue;
        /* pid < 0 (ECHILD: should not happen) fails the first slot. */
        char buf[VM_ERR_MSGLEN];
        ssize_t r = read(slots[i].fd, buf, sizeof buf - 1); /* written before exit, < PIPE_BUF */
        buf[r > 0 ? r : 0] = '\0';
        close(slots[i].fd);
        bool ok = pid >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
        set_result(rep, slots[i].idx, ok, pid < 0 ? "lost track of the start process" : buf);
        slots[i] = slots[n - 1];
        return n - 1;
    }
    return n; /* a child that is not ours: keep waiting */
}

/* Forks the start of one VM into *slot.  Returns 0, or the errno of the
 * step that failed (named in why). */
static int spawn(const vm_ctx *ctx, const char *uuid, size_t idx, boot_slot *slot, const char **why)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) < 0) {
        *why = "pipe";
        return errno;
    }
    pid_t pid = fork();
    if (pid == 0) {
        close(pfd[0]);
        child_start(ctx, uuid, pfd[1]);
    }
    int saved = errno;
    close(pfd[1]);
    if (pid < 0) {
        close(pfd[0]);
        *why = "fork";
        return saved;
    }
    *slot = (boot_slot){ .pid = pid, .fd = pfd[0], .idx = idx };
    return 0;
}

int vm_boot_all(const vm_ctx *ctx, json_t **report, vm_err *err)
{
    cleanup_json json_t *uuids = NULL;
    if (vm_store_repair(ctx, err) < 0 || vm_store_list(ctx, &uuids, err) < 0)
        return -1;
    /* The host's nic tags first (bridges, uplinks), so VMs find them; a
     * tag that cannot be applied fails its VMs' starts, not the others. */
    vm_err te = VM_ERR_INIT;
    if (net_tags_apply_all(ctx, &te) < 0)
        vm_log(ctx, "warn", "boot-all: nic tags: %s", te.msg);
    json_t *rep = json_array();
    size_t max = boot_parallel(), busy = 0, i;
    boot_slot *slots = xcalloc(max, sizeof *slots);
    json_t *u;
    json_array_foreach(uuids, i, u) {
        const char *uuid = json_string_value(u);
        cleanup_json json_t *cfg = NULL;
        vm_err e = VM_ERR_INIT;
        if (vm_store_load_config(ctx, uuid, &cfg, &e) < 0) {
            if (e.code == VMERR_NOTFOUND)
                continue; /* deleted meanwhile */
            json_array_append_new(rep, json_pack("{s:s}", "uuid", uuid));
            set_result(rep, json_array_size(rep) - 1, false, e.msg);
            continue;
        }
        if (!json_is_true(json_object_get(cfg, "autoboot")))
            continue;
        json_array_append_new(rep, json_pack("{s:s}", "uuid", uuid));
        size_t idx = json_array_size(rep) - 1;
        while (busy == max)
            busy = reap_one(slots, busy, rep);
        const char *why = "";
        int r = spawn(ctx, uuid, idx, &slots[busy], &why);
        if (r == EAGAIN && busy > 0) {
            /* Out of processes: let one start finish, then try again. */
            busy = reap_one(slots, busy, rep);
            r = spawn(ctx, uuid, idx, &slots[busy], &why);
        }
        if (r) {
            cleanup_free char *m = xasprintf("cannot start: %s: %s", why, strerror(r));
            set_result(rep, idx, false, m);
            continue;
        }
        busy++;
    }
    while (busy > 0)
        busy = reap_one(slots, busy, rep);
    free(slots);
    *report = rep;
    return 0;
}
