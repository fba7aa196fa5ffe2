/* Driver for tests/e2e/net-filter.bats and bench/net: lib/net's appliers on
 * a VM object file, without a VM (a veth whose peer the test moves into a
 * "guest" namespace stands for the NIC).
 *   nettool prepare <vm.json>         bridges + protection (net_vm_prepare)
 *   nettool filter <vm.json>          re-apply protection only (live update)
 *   nettool veth <vm.json>            per NIC: veth <port>/<port>p, attached
 *   nettool tap <vm.json>             per NIC: a tap; prints names, holds the
 *                                     fds until stdin closes
 *   nettool teardown <uuid>           net_vm_teardown
 *   nettool ifname <uuid> <num>       the host port name
 *   nettool ruleset <vm.json>         the nft script (net_filter_ruleset) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "net/net.h"

static int die(const vm_err *err)
{
    fprintf(stderr, "nettool: %s\n", err->msg);
    return 1;
}

static int load_plan(const vm_ctx *ctx, const char *path, net_plan **p, vm_err *err)
{
    cleanup_json json_t *vm = NULL;
    if (read_json_file(path, &vm, err) < 0)
        return -1;
    return net_plan_build(ctx, vm, p, err);
}

static int run(const vm_ctx *ctx, int argc, char **argv, vm_err *err)
{
    const char *cmd = argv[1];
    if (!strcmp(cmd, "ifname") && argc == 4) {
        char n[NET_IFNAMSIZ];
        net_host_ifname(ctx->root, argv[2], (unsigned)atoi(argv[3]), n);
        puts(n);
        return 0;
    }
    if (!strcmp(cmd, "teardown") && argc == 3)
        return net_vm_teardown(ctx, argv[2], err);
    if (argc != 3)
        return vm_err_set(err, VMERR_USAGE, "usage: see nettool.c");
    net_plan *p = NULL;
    if (load_plan(ctx, argv[2], &p, err) < 0)
        return -1;
    int rc = 0;
    if (!strcmp(cmd, "prepare")) {
        rc = net_vm_prepare(ctx, p, err);
    } else if (!strcmp(cmd, "filter")) {
        rc = net_filter_apply(p, err);
    } else if (!strcmp(cmd, "ruleset")) {
        cleanup_free char *s = net_filter_ruleset(p, NULL);
        fputs(s, stdout);
    } else if (!strcmp(cmd, "veth")) {
        for (size_t i = 0; i < p->n && rc == 0; i++) {
            cleanup_free char *peer = xasprintf("%sp", p->nics[i].ifname);
            rc = net_veth_create(&p->nics[i], peer, err);
            if (rc == 0)
                rc = net_port_attach(&p->nics[i], err);
            if (rc == 0)
                printf("%s %s\n", p->nics[i].ifname, peer);
        }
    } else if (!strcmp(cmd, "tap")) {
        int *fds = xcalloc(p->n + 1, sizeof *fds);
        for (size_t i = 0; i < p->n && rc == 0; i++)
            if ((rc = net_tap_open(&p->nics[i], &fds[i], err)) == 0)
                printf("%s\n", p->nics[i].ifname);
        fflush(stdout);
        char c;
        while (rc == 0 && read(0, &c, 1) > 0)
            ;
        free(fds); /* the fds close at exit: the taps vanish */
    } else {
        rc = vm_err_set(err, VMERR_USAGE, "unknown command %s", cmd);
    }
    net_plan_free(p);
    return rc;
}

int main(int argc, char **argv)
{
    vm_ctx ctx;
    vm_err err = VM_ERR_INIT;
    if (argc < 2)
        return 2;
    if (vm_ctx_init(&ctx, &err) < 0)
        return die(&err);
    int rc = run(&ctx, argc, argv, &err);
    vm_ctx_free(&ctx);
    return rc < 0 ? die(&err) : 0;
}
