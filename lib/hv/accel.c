/* Choosing the accelerator: KVM when it can really run a guest, else TCG.
 *
 * /dev/kvm existing and `-accel kvm` initialising prove little: on nested
 * PVM hosts KVM starts but the first firmware instruction it cannot emulate
 * pauses the guest with status internal-error (facts §1).  So the probe runs
 * OVMF under KVM for a moment and looks at query-status. */
#include "hv/hv.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/proc.h"
#include "common/util.h"
#include "hv/hv_internal.h"
#include "hv/hv_proc.h"
#include "hv/qmp.h"

#define PROBE_FIRMWARE "/usr/share/ovmf/OVMF.fd"
#define PROBE_RUN_MS 1500
#define PROBE_START_MS 10000

static char *find_in_path(const char *prog)
{
    const char *path = getenv("PATH");
    cleanup_strv char **dirs = strv_split(path && *path ? path : "/usr/bin:/bin", ":");
    for (char **d = dirs; d && *d; d++) {
        char *p = xasprintf("%s/%s", *d, prog);
        if (access(p, X_OK) == 0)
            return p;
        free(p);
    }
    return NULL;
}

/* What the cached answer depends on. */
static json_t *probe_key(void)
{
    struct utsname u;
    struct stat sb;
    uname(&u);
    cleanup_free char *qemu = find_in_path(HV_QEMU_BIN);
    cleanup_free char *qid = NULL;
    if (qemu && stat(qemu, &sb) == 0)
        qid = xasprintf("%s size=%lld mtime=%lld", qemu, (long long)sb.st_size, (long long)sb.st_mtime);
    return json_pack("{s:s,s:s,s:b}", "kernel", u.release, "qemu", qid ? qid : "missing", "dev_kvm",
                     access("/dev/kvm", F_OK) == 0);
}

/* Returns 1 if KVM ran the firmware normally, 0 if not (reason filled). */
static int probe_kvm(const vm_ctx *ctx, char *reason, size_t rsize)
{
    if (access("/dev/kvm", F_OK) != 0) {
        snprintf(reason, rsize, "/dev/kvm is not present");
        return 0;
    }
    if (access("/dev/kvm", R_OK | W_OK) != 0) {
        snprintf(reason, rsize, "/dev/kvm: %s", strerror(errno));
        return 0;
    }
    vm_err err = VM_ERR_INIT;
    cleanup_free char *dir = xasprintf("%s/accel-probe.%d", ctx->run_dir, (int)getpid());
    cleanup_free char *sock = xasprintf("%s/qmp.sock", dir);
    cleanup_free char *log = xasprintf("%s/qemu.log", dir);
    cleanup_free char *chardev = xasprintf("socket,id=qmp,path=%s,server=on,wait=off", sock);
    if (mkdir_p(dir, 0755, &err) < 0) {
        snprintf(reason, rsize, "probe failed: %.140s", err.msg);
        return 0;
    }
    char *argv[] = { HV_QEMU_BIN,
                     "-machine",
                     "q35",
                     "-accel",
                     "kvm",
                     "-m",
                     "64",
                     "-no-user-config",
                     "-nodefaults",
                     "-display",
                     "none",
                     "-bios",
                     PROBE_FIRMWARE,
                     "-chardev",
                     chardev,
                     "-mon",
                     "chardev=qmp,mode=control",
                     NULL };
    int ok = 0;
    /* Not run_cmd (common/cmd.h): QEMU keeps running while we ask it over
     * QMP, then is killed. */
    pid_t pid = fork();
    if (pid == 0) {
        int lfd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        int nfd = open("/dev/null", O_RDWR);
        dup2(nfd, 0);
        dup2(lfd, 1);
        dup2(lfd, 2);
        close_range(3, ~0U, 0);
        execvp(argv[0], argv);
        _exit(127);
    }
    if (pid < 0) {
        snprintf(reason, rsize, "probe failed: fork: %s", strerror(errno));
        goto out;
    }
    qmp_conn c = QMP_CONN_INIT;
    int64_t deadline = now_ms() + PROBE_START_MS;
    int st;
    snprintf(reason, rsize, "QEMU did not answer on QMP");
    while (now_ms() < deadline) {
        if (waitpid(pid, &st, WNOHANG) == pid) {
            pid = 0;
            cleanup_free char *tail = hv_log_tail(log, 1);
            snprintf(reason, rsize, "QEMU -accel kvm failed: %s", *tail ? tail : "exited");
            break;
        }
        vm_err e = VM_ERR_INIT;
        if (c.fd < 0 && qmp_connect(&c, sock, 3000, &e) < 0) {
            qmp_close(&c);
            vm_sleep_ms(5);
            continue;
        }
        /* Connected: watch the status for a while. */
        int64_t until = now_ms() + PROBE_RUN_MS;
        ok = 1;
        while (now_ms() < until) {
            cleanup_json json_t *r = NULL;
            if (qmp_exec(&c, "query-status", NULL, &r, &e) < 0) {
                snprintf(reason, rsize, "%.140s", e.msg);
                ok = 0;
                break;
            }
            const char *s = json_string_value(json_object_get(r, "status"));
            if (s && strcmp(s, "running")) {
                ok = 0;
                if (!strcmp(s, "internal-error"))
                    snprintf(reason, rsize,
                             "KVM internal error: the firmware hit an "
                             "emulation failure");
                else
                    snprintf(reason, rsize, "guest status %s under KVM", s);
                break;
            }
            vm_sleep_ms(100);
        }
        break;
    }
    qmp_close(&c);
    if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &st, 0);
    }
out:
    rm_rf(dir, &err);
    return ok;
}

int hv_accel(const vm_ctx *ctx, char accel[8], char warning[256], vm_err *err)
{
    warning[0] = '\0';
    if (ctx->accel == VM_ACCEL_KVM || ctx->accel == VM_ACCEL_TCG) {
        snprintf(accel, 8, "%s", ctx->accel == VM_ACCEL_KVM ? "kvm" : "tcg");
        return 0;
    }
    cleanup_json json_t *key = probe_key();
    cleanup_free char *cachedir = xasprintf("%s/var/cache", ctx->root);
    cleanup_free char *cache = xasprintf("%s/accel.json", cachedir);
    cleanup_json json_t *old = NULL;
    vm_err e = VM_ERR_INIT;
    if (read_json_file(cache, &old, &e) == 0 && json_equal(json_object_get(old, "key"), key)) {
        const char *a = json_string_value(json_object_get(old, "accel"));
        const char *w = json_string_value(json_object_get(old, "warning"));
        if (a && (!strcmp(a, "kvm") || !strcmp(a, "tcg"))) {
            snprintf(accel, 8, "%s", a);
            snprintf(warning, 256, "%s", w ? w : "");
            return 0;
        }
    }
    char reason[160] = "";
    int ok = probe_kvm(ctx, reason, sizeof reason);
    snprintf(accel, 8, "%s", ok ? "kvm" : "tcg");
    if (!ok)
        snprintf(warning, 256, "KVM is not usable on this host (%s); using TCG software emulation (slow)", reason);
    cleanup_json json_t *rec = json_pack("{s:O,s:s,s:s,s:I}", "key", key, "accel", accel, "warning", warning,
                                         "probed_ms", (json_int_t)now_ms());
    if (mkdir_p(cachedir, 0755, err) < 0 || write_json_atomic(cache, rec, err) < 0)
        return -1;
    vm_log(ctx, ok ? "info" : "warn", "accelerator probe: %s%s%s", accel, ok ? "" : ": ", ok ? "" : warning);
    return 0;
}
