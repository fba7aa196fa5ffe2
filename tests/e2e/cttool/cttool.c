/* cttool: thin command-line driver over lib/ct for tests/e2e/ct-lib.bats.
 * VM objects come from JSON files; the zone root is vmobj.zonepath (the
 * storage-less test hook: no pool).  State lives under $VMADM_ROOT. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "ct/ct.h"

static int usage(void)
{
    fprintf(stderr,
            "usage: cttool start VM.json\n"
            "       cttool stop VM.json [-F] [-t SECS]\n"
            "       cttool runstate UUID\n"
            "       cttool kill UUID SIGNUM\n"
            "       cttool login UUID [CMD ARG...]\n"
            "       cttool console UUID\n"
            "       cttool limits VM.json\n"
            "       cttool mkzone VM.json   (create zfs_filesystem + datasets, print its dir)\n"
            "CTTOOL_POOL=1: start resolves the zone root through lib/storage\n");
    return 2;
}

static json_t *load(const char *path, vm_err *err)
{
    json_t *o = NULL;
    if (read_json_file(path, &o, err) < 0)
        return NULL;
    return o;
}

int main(int argc, char **argv)
{
    vm_ctx ctx;
    vm_err err = VM_ERR_INIT;
    int rc = 1;
    if (argc < 3)
        return usage();
    if (vm_ctx_init(&ctx, &err) < 0) {
        fprintf(stderr, "cttool: %s\n", err.msg);
        return 1;
    }
    const char *cmd = argv[1];
    cleanup_json json_t *vm = NULL;
    cleanup_vs_pool vs_pool *pool = NULL;
    if (!strcmp(cmd, "start") || !strcmp(cmd, "stop") || !strcmp(cmd, "limits") || !strcmp(cmd, "mkzone")) {
        vm = load(argv[2], &err);
        if (!vm)
            goto out;
    }
    if ((!strcmp(cmd, "mkzone") || (getenv("CTTOOL_POOL") && !strcmp(cmd, "start"))) &&
        vs_pool_open(&ctx, NULL, &pool, &err) < 0)
        goto out;
    if (!strcmp(cmd, "mkzone")) {
        const char *fs = json_string_value(json_object_get(vm, "zfs_filesystem"));
        cleanup_free char *dir = NULL;
        size_t i;
        json_t *ds;
        if (!fs) {
            vm_err_set(&err, VMERR_INVALID, "no zfs_filesystem");
            goto out;
        }
        if (vs_create_fs(pool, fs, NULL, &err) < 0)
            goto out;
        json_array_foreach(json_object_get(vm, "datasets"), i, ds) {
            if (vs_create_fs(pool, json_string_value(ds), NULL, &err) < 0)
                goto out;
        }
        if (vs_fs_path(pool, fs, &dir, &err) < 0)
            goto out;
        printf("%s\n", dir);
        rc = 0;
    } else if (!strcmp(cmd, "start")) {
        rc = ct_start(&ctx, pool, vm, &err) < 0;
    } else if (!strcmp(cmd, "stop")) {
        int force = 0, timeout = 0;
        for (int i = 3; i < argc; i++) {
            if (!strcmp(argv[i], "-F"))
                force = 1;
            else if (!strcmp(argv[i], "-t") && i + 1 < argc)
                timeout = atoi(argv[++i]);
            else {
                rc = usage();
                goto done;
            }
        }
        rc = ct_stop(&ctx, vm, force, timeout, &err) < 0;
    } else if (!strcmp(cmd, "runstate")) {
        vm_runstate rs;
        rc = ct_runstate(&ctx, argv[2], &rs) < 0;
        if (!rc)
            printf("{\"running\": %d, \"zone_state\": \"%s\", \"pid\": %d, \"boot_ms\": %lld, "
                   "\"has_exit\": %d, \"exit_status\": %d, \"exit_ms\": %lld}\n",
                   rs.running, rs.zone_state, rs.pid, (long long)rs.boot_ms, rs.has_exit, rs.exit_status,
                   (long long)rs.exit_ms);
    } else if (!strcmp(cmd, "kill") && argc == 4) {
        rc = ct_kill(&ctx, argv[2], atoi(argv[3]), &err) < 0;
    } else if (!strcmp(cmd, "login")) {
        int status = 0;
        if (ct_login(&ctx, argv[2], argc > 3 ? argv + 3 : NULL, &status, &err) < 0)
            rc = 1;
        else
            rc = status;
        if (!vm_err_is_set(&err))
            goto done;
    } else if (!strcmp(cmd, "console")) {
        rc = ct_console(&ctx, argv[2], &err) < 0;
    } else if (!strcmp(cmd, "limits")) {
        rc = ct_apply_limits(&ctx, vm, &err) < 0;
    } else {
        rc = usage();
        goto done;
    }
out:
    if (vm_err_is_set(&err)) {
        fprintf(stderr, "cttool: %s\n", err.msg);
        rc = rc ? rc : 1;
    }
done:
    if (pool)
        vs_pool_close(steal_ptr(pool));
    vm_ctx_free(&ctx);
    return rc;
}
