/* The migration record <root>/etc/migrations/<uuid>.json (migrate.h):
 * what --finalize, --rollback, --abort and a re-run need to know. */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "migrate/mig_record.h"
#include "vm/store.h"

static char *record_path(const vm_ctx *ctx, const char *uuid)
{
    return xasprintf("%s/etc/migrations/%s.json", ctx->root, uuid);
}

char *mig_sync_file(const vm_ctx *ctx, const char *uuid)
{
    return xasprintf("%s/migrate/%s.sync", ctx->run_dir, uuid);
}

int mig_record_load(const vm_ctx *ctx, const char *uuid, json_t **out, vm_err *err)
{
    cleanup_free char *p = record_path(ctx, uuid);
    *out = NULL;
    if (!path_exists(p))
        return 0;
    if (read_json_file(p, out, err) < 0)
        return -1;
    return 1;
}

int mig_record_save(const vm_ctx *ctx, const char *uuid, json_t *rec, vm_err *err)
{
    cleanup_free char *dir = xasprintf("%s/etc/migrations", ctx->root);
    cleanup_free char *p = record_path(ctx, uuid);
    if (vm_store_private_dir(dir, err) < 0)
        return -1;
    return vm_store_write_json(p, rec, err);
}

void mig_record_remove(const vm_ctx *ctx, const char *uuid)
{
    cleanup_free char *p = record_path(ctx, uuid);
    cleanup_free char *s = mig_sync_file(ctx, uuid);
    cleanup_free char *rundir = vm_ctx_vm_rundir(ctx, uuid);
    cleanup_free char *ev = xasprintf("%s/migration.json", rundir);
    unlink(p);
    unlink(s);
    unlink(ev);
}

int mig_record_phase(const vm_ctx *ctx, const char *uuid, json_t *rec, const char *phase, vm_err *err)
{
    json_object_set_new(rec, "phase", json_string(phase));
    return mig_record_save(ctx, uuid, rec, err);
}

bool mig_record_owner_alive(json_t *rec)
{
    json_int_t pid = json_integer_value(json_object_get(rec, "pid"));
    if (pid <= 1 || pid == getpid())
        return false;
    /* The pid must still be a vmadm migrating this VM: its start time. */
    cleanup_free char *stat = NULL;
    cleanup_free char *path = xasprintf("/proc/%lld/stat", (long long)pid);
    size_t n;
    vm_err e = VM_ERR_INIT;
    if (read_file(path, &stat, &n, &e) < 0)
        return false;
    const char *rp = strrchr(stat, ')');
    unsigned long long start = 0;
    /* field 22 (starttime), counting from the state after ')' as field 3 */
    int f = 2;
    for (const char *q = rp; q && *q; q++)
        if (*q == ' ' && ++f == 22) {
            start = strtoull(q + 1, NULL, 10);
            break;
        }
    return start == (unsigned long long)json_integer_value(json_object_get(rec, "pid_start"));
}

unsigned long long mig_self_start(void)
{
    cleanup_free char *stat = NULL;
    size_t n;
    vm_err e = VM_ERR_INIT;
    if (read_file("/proc/self/stat", &stat, &n, &e) < 0)
        return 0;
    const char *rp = strrchr(stat, ')');
    int f = 2;
    for (const char *q = rp; q && *q; q++)
        if (*q == ' ' && ++f == 22)
            return strtoull(q + 1, NULL, 10);
    return 0;
}
