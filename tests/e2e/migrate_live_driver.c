/* migrate_live_driver: drives lib/hv's live-migration primitives for
 * tests/e2e/migrate-live.bats, one step per run, each in the VMADM_ROOT of
 * its side (as lib/migrate would, possibly over ssh):
 *
 *   migrate_live_driver incoming UUID DIR     destination: QEMU waits
 *   migrate_live_driver send UUID NBD MIG [BANDWIDTH_BPS]
 *        source: mirrors and migrates; progress lines on stderr, the
 *        result as JSON on stdout
 *   migrate_live_driver finish UUID 0|1       destination: run or kill
 *   migrate_live_driver cancel UUID           source, from another process */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ctx.h"
#include "common/util.h"
#include "hv/migrate.h"
#include "storage/storage.h"
#include "vm/vmobj.h"

static int show(void *arg, const hv_migrate_progress *p)
{
    (void)arg;
    fprintf(stderr, "progress %s %s %llu/%llu remaining %llu rate %llu\n", p->phase, p->state,
            (unsigned long long)p->transferred, (unsigned long long)p->total, (unsigned long long)p->remaining,
            (unsigned long long)p->rate);
    return 0;
}

static int incoming(const vm_ctx *ctx, const char *uuid, const char *dir, vm_err *err)
{
    cleanup_json json_t *obj = NULL;
    if (vmobj_load(ctx, uuid, &obj, err) < 0)
        return -1;
    cleanup_vs_pool vs_pool *pool = NULL;
    if (vs_pool_open(ctx, json_string_value(json_object_get(obj, "zpool")), &pool, err) < 0)
        return -1;
    return hv_migrate_incoming(ctx, pool, obj, dir, err);
}

static int send_vm(const vm_ctx *ctx, char **argv, int argc, vm_err *err)
{
    hv_migrate_target t = { .nbd_sock = argv[3], .mig_sock = argv[4] };
    if (argc > 5)
        t.bandwidth = strtoull(argv[5], NULL, 10);
    hv_migrate_result r;
    if (hv_migrate_send(ctx, argv[2], &t, show, NULL, &r, err) < 0)
        return -1;
    printf("{\"downtime_ms\": %lld, \"total_ms\": %lld, \"elapsed_ms\": %lld, \"ram_bytes\": %llu, "
           "\"disk_bytes\": %llu}\n",
           (long long)r.downtime_ms, (long long)r.total_ms, (long long)r.elapsed_ms, (unsigned long long)r.ram_bytes,
           (unsigned long long)r.disk_bytes);
    return 0;
}

int main(int argc, char **argv)
{
    vm_ctx ctx;
    vm_err err = VM_ERR_INIT;
    if (argc < 3) {
        fprintf(stderr, "usage: migrate_live_driver incoming|send|finish|cancel UUID ...\n");
        return 2;
    }
    if (vm_ctx_init(&ctx, &err) < 0) {
        fprintf(stderr, "migrate_live_driver: %s\n", err.msg);
        return 1;
    }
    const char *op = argv[1], *uuid = argv[2];
    int rc;
    if (!strcmp(op, "incoming") && argc == 4)
        rc = incoming(&ctx, uuid, argv[3], &err);
    else if (!strcmp(op, "send") && argc >= 5)
        rc = send_vm(&ctx, argv, argc, &err);
    else if (!strcmp(op, "finish") && argc == 4)
        rc = hv_migrate_incoming_finish(&ctx, uuid, atoi(argv[3]), &err);
    else if (!strcmp(op, "cancel") && argc == 3)
        rc = hv_migrate_cancel(&ctx, uuid, &err);
    else
        return fprintf(stderr, "migrate_live_driver: bad arguments\n"), 2;
    if (rc < 0)
        fprintf(stderr, "migrate_live_driver: %s\n", err.msg);
    vm_ctx_free(&ctx);
    return rc < 0 ? 1 : 0;
}
