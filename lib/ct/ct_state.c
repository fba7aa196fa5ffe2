/* Run dir files of a container (see ct.h), the identity of its init, its
 * runstate, and cleaning up what an ended container leaves behind. */
#include "ct/ct.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lxc/lxccontainer.h>

#include "common/proc.h"
#include "common/util.h"
#include "ct/ct_internal.h"

/* How long a state read waits for an ending container's teardown. */
#define CT_SETTLE_MS 5000

void ct_paths_init(const vm_ctx *ctx, const char *uuid, ct_paths *p)
{
    p->rundir = vm_ctx_vm_rundir(ctx, uuid);
    p->lxcpath = xasprintf("%s/lxc", p->rundir);
    p->pid = xasprintf("%s/pid", p->rundir);
    p->boot = xasprintf("%s/boot", p->rundir);
    p->lastexited = xasprintf("%s/lastexited", p->rundir);
    p->state = xasprintf("%s/state", p->rundir);
    p->ctinit = xasprintf("%s/ctinit", p->rundir);
    p->lxclog = xasprintf("%s/lxc.log", p->rundir);
    p->consolelog = xasprintf("%s/console.log", p->rundir);
}

void ct_paths_free(ct_paths *p)
{
    free(p->rundir);
    free(p->lxcpath);
    free(p->pid);
    free(p->boot);
    free(p->lastexited);
    free(p->state);
    free(p->ctinit);
    free(p->lxclog);
    free(p->consolelog);
    memset(p, 0, sizeof *p);
}

/* /proc/<pid>/stat: state letter and start time (clock ticks since boot).
 * The comm field may hold spaces and ')', so parse after the last ')'. */
int ct_proc_stat(pid_t pid, char *state, unsigned long long *start)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    cleanup_free char *buf = vm_run_read(path);
    if (!buf)
        return -1;
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    p++;
    /* Fields after comm start at field 3 (state); starttime is field 22. */
    char st = 0;
    unsigned long long v = 0;
    int field = 2;
    for (char *tok = strtok(p, " "); tok; tok = strtok(NULL, " ")) {
        field++;
        if (field == 3)
            st = tok[0];
        if (field == 22) {
            v = strtoull(tok, NULL, 10);
            break;
        }
    }
    if (field != 22)
        return -1;
    if (state)
        *state = st;
    if (start)
        *start = v;
    return 0;
}

int ct_read_ident(const ct_paths *p, ct_ident *id)
{
    cleanup_free char *s = vm_run_read(p->ctinit);
    long sup = 0;
    memset(id, 0, sizeof *id);
    if (!s || sscanf(s, "%llu %ld %llu", &id->init_start, &sup, &id->sup_start) != 3)
        return -1;
    id->sup_pid = (pid_t)sup;
    return 0;
}

static bool supervisor_alive(const ct_ident *id)
{
    unsigned long long st;
    char state;
    return id->sup_pid > 0 && ct_proc_stat(id->sup_pid, &state, &st) == 0 && st == id->sup_start && state != 'Z' &&
        state != 'X';
}

/* ---- cgroup leftovers ---- */

/* LXC 5 on v1 hierarchies leaves empty lxc.payload.<name>,
 * lxc.monitor.<name> (and the shared lxc.pivot) dirs behind, next to the
 * cgroup of the process that started the container.  rmdir only removes
 * empty cgroups, so a busy one (another container's pivot) is left alone. */
static void cgroup_leftovers(const char *uuid, const char *self_cgroup)
{
    cleanup_free char *payload = xasprintf("lxc.payload.%s", uuid);
    cleanup_free char *monitor = xasprintf("lxc.monitor.%s", uuid);
    const char *names[] = { payload, monitor, "lxc.pivot", NULL };
    cleanup_strv char **lines = strv_split(self_cgroup ? self_cgroup : "", "\n");

    /* Per hierarchy: its mount dir and our cgroup path inside it. */
    for (size_t i = 0; lines && lines[i]; i++) {
        char *c1 = strchr(lines[i], ':');
        char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
            continue;
        *c2 = '\0';
        const char *ctrls = c1 + 1, *path = c2 + 1;
        cleanup_free char *mnt = NULL;
        if (!*ctrls)
            mnt = xstrdup(access("/sys/fs/cgroup/unified", F_OK) == 0 ? "/sys/fs/cgroup/unified" : "/sys/fs/cgroup");
        else if (str_has_prefix(ctrls, "name="))
            mnt = xasprintf("/sys/fs/cgroup/%s", ctrls + 5);
        else
            mnt = xasprintf("/sys/fs/cgroup/%s", ctrls);
        for (int up = 0; up < 2; up++) {
            /* Our own cgroup and its root, where LXC may place them. */
            cleanup_free char *base = up ? xstrdup(mnt) : xasprintf("%s%s", mnt, path);
            for (size_t n = 0; names[n]; n++) {
                cleanup_free char *d = xasprintf("%s/%s", base, names[n]);
                /* payload dirs may hold a nested ".lxc" init cgroup */
                cleanup_free char *inner = xasprintf("%s/.lxc", d);
                rmdir(inner);
                rmdir(d);
            }
        }
    }
}

void ct_clean_running_files(const ct_paths *p, const char *uuid, const char *pidstr)
{
    cleanup_free char *now = vm_run_read(p->pid);
    if (pidstr && (!now || strcmp(now, pidstr)))
        return;
    /* Nobody will come back for these (the supervisor is gone too). */
    vm_err e = VM_ERR_INIT;
    cleanup_free char *self_cg = vm_run_read("/proc/self/cgroup");
    rm_rf(p->lxcpath, &e);
    cgroup_leftovers(uuid, self_cg);
    unlink(p->state);
    unlink(p->boot);
    /* pid (with ctinit, which makes it "ours") last: until it is gone the
     * container counts as ending, and ct_stop waits for it, so a new start
     * never meets this cleanup in the run dir or the cgroups. */
    unlink(p->ctinit);
    unlink(p->pid);
}

/* LXC restarts a container whose init ended by reboot(2) (killed by
 * SIGHUP: `reboot` inside, or an init that reboots on SIGTERM such as
 * busybox's) in the same monitor, with a new init the supervisor never
 * recorded.  Left alone, the dead recorded init made the VM look stopped
 * while the monitor ran on, and every later start failed on its command
 * socket.  A reboot from inside is a reboot (the VM stays running, as a
 * zone does): record the new init, with the same supervisor, as start does
 * (ctinit, boot, then pid).  0 and *pid when adopted. */
static int adopt_rebooted_init(const ct_paths *p, const ct_ident *id, pid_t old, pid_t *pid)
{
    const char *uuid = strrchr(p->rundir, '/');
    if (!uuid || !uuid_valid(++uuid))
        return -1;
    cleanup_lxc struct lxc_container *c = ct_lxc_new(uuid, p->lxcpath);
    pid_t init = c && c->is_running(c) ? c->init_pid(c) : -1;
    unsigned long long start;
    char state;
    if (init <= 0 || init == old || ct_proc_stat(init, &state, &start) < 0 || start < id->init_start || state == 'Z' ||
        state == 'X')
        return -1;
    vm_err e = VM_ERR_INIT;
    char ident[128], boot[32], pidbuf[32];
    snprintf(ident, sizeof ident, "%llu %d %llu\n", start, (int)id->sup_pid, id->sup_start);
    snprintf(boot, sizeof boot, "%lld\n", (long long)now_ms());
    snprintf(pidbuf, sizeof pidbuf, "%d\n", (int)init);
    if (vm_run_write(p->ctinit, ident, 0644, VM_RUN_SYNCED, &e) < 0 ||
        vm_run_write(p->boot, boot, 0644, VM_RUN_SYNCED, &e) < 0 ||
        vm_run_write(p->pid, pidbuf, 0644, VM_RUN_SYNCED, &e) < 0)
        return -1;
    *pid = init;
    return 0;
}

int ct_check_init(const ct_paths *p, pid_t *pid, char **pidstr_out)
{
    cleanup_free char *pidstr = vm_run_read(p->pid);
    ct_ident id;
    unsigned long long start;
    char state;
    *pid = 0;
    if (!pidstr)
        return CT_DEAD;
    if (!vm_parse_pid(pidstr, pid) || ct_read_ident(p, &id) < 0) {
        /* Torn or foreign files: treat like a stale pid. */
        if (pidstr_out)
            *pidstr_out = steal_ptr(pidstr);
        return CT_DEAD;
    }
    int r = CT_DEAD;
    if (ct_proc_stat(*pid, &state, &start) == 0 && start == id.init_start)
        r = (state == 'Z' || state == 'X') ? CT_ENDING : CT_ALIVE;
    /* An exited init the supervisor has not yet accounted for, or one LXC
     * replaced by rebooting the container. */
    if (r == CT_DEAD && supervisor_alive(&id)) {
        r = CT_ENDING;
        if (adopt_rebooted_init(p, &id, *pid, pid) == 0) {
            r = CT_ALIVE;
            free(pidstr);
            pidstr = vm_run_read(p->pid);
        }
    }
    if (pidstr_out)
        *pidstr_out = steal_ptr(pidstr);
    return r;
}

int ct_wait_ended(const ct_paths *p, const char *uuid, int timeout_ms)
{
    int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        pid_t pid;
        cleanup_free char *pidstr = NULL;
        int r = ct_check_init(p, &pid, &pidstr);
        if (!pidstr)
            return 0;
        if (r == CT_DEAD) {
            ct_clean_running_files(p, uuid, pidstr);
            return 0;
        }
        if (now_ms() >= deadline)
            return r == CT_ALIVE ? -1 : 0;
        vm_sleep_ms(10);
    }
}

int ct_runstate(const vm_ctx *ctx, const char *uuid, vm_runstate *out)
{
    cleanup_paths ct_paths p;
    cleanup_free char *pidstr = NULL;
    pid_t pid;

    vm_runstate_reset(out);
    if (!uuid_valid(uuid))
        return 0;
    ct_paths_init(ctx, uuid, &p);
    int r = ct_check_init(&p, &pid, &pidstr);
    if (r == CT_ENDING) {
        /* Init is gone but LXC's monitor is still tearing the container
         * down (and holds its command socket): "stopped" now would let a
         * start run into it.  The teardown takes milliseconds. */
        free(pidstr);
        pidstr = NULL;
        ct_wait_ended(&p, uuid, CT_SETTLE_MS);
        r = ct_check_init(&p, &pid, &pidstr);
    }
    if (r == CT_ALIVE) {
        vm_runstate_read_live(p.rundir, pid, out);
        return 0;
    }
    if (r == CT_DEAD && pidstr)
        ct_clean_running_files(&p, uuid, pidstr);
    vm_runstate_read_exit(p.rundir, out);
    return 0;
}

struct lxc_container *ct_running_handle(const ct_paths *p, const char *uuid, vm_err *err)
{
    pid_t pid;
    if (ct_check_init(p, &pid, NULL) != CT_ALIVE) {
        vm_err_set(err, VMERR_STATE, "container %s is not running", uuid);
        return NULL;
    }
    struct lxc_container *c = ct_lxc_new(uuid, p->lxcpath);
    if (!c || !c->is_running(c)) {
        if (c)
            ct_lxc_put(c);
        vm_err_set(err, VMERR_STATE, "container %s is not running", uuid);
        return NULL;
    }
    return c;
}
