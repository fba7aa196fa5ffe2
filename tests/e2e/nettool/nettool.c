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
 *   nettool ruleset <vm.json>         the nft script (net_filter_ruleset)
 *   nettool bench <vm.json> <runs>    applying the VM's protection with
 *                                     libnftables (net_filter_apply) vs
 *                                     forking `nft -f` with the same script,
 *                                     alternately; prints both medians */
#include <stdbool.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "net/net.h"
#include "net/net_internal.h"

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

static double mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static int bench(const net_plan *p, int runs, vm_err *err)
{
    int rc = net_filter_apply(p, err); /* warm: the table and base chains exist from here */
    /* The script a steady-state apply sends (base chains present). */
    char *none[] = { NULL };
    cleanup_free char *script = net_filter_script(p, none, false);
    char path[] = "/tmp/nettool-bench.XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0 || write(fd, script, strlen(script)) != (ssize_t)strlen(script))
        return vm_err_set(err, VMERR_IO, "cannot write %s", path);
    close(fd);
    double *lib = xcalloc((size_t)runs, sizeof *lib), *fork = xcalloc((size_t)runs, sizeof *fork);
    char *argv[] = { "nft", "-f", path, NULL };
    int nl = 0, nf = 0;
    /* In blocks (lib, fork, lib, fork): a transaction that follows the
     * other kind's waits for its deferred release, which would charge each
     * with the other's cost. */
    for (int i = 0; i < runs && rc == 0; i++) {
        bool use_lib = (i / ((runs + 3) / 4)) % 2 == 0;
        double t0 = mono_ms();
        cleanup_free char *out = NULL;
        rc = use_lib ? net_filter_apply(p, err) : run_cmd(argv, &out, err);
        double t = mono_ms() - t0;
        if (use_lib)
            lib[nl++] = t;
        else
            fork[nf++] = t;
    }
    unlink(path);
    if (rc == 0)
        printf("one VM, %zu NIC(s), %d+%d runs: libnftables apply (list + one transaction) median %.2f ms; "
               "fork `nft -f` of the same transaction median %.2f ms (%.1fx)\n",
               p->n, nl, nf, median(lib, nl), median(fork, nf), median(fork, nf) / median(lib, nl));
    free(lib);
    free(fork);
    return rc;
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
    if (argc != 3 && !(argc == 4 && !strcmp(cmd, "bench")))
        return vm_err_set(err, VMERR_USAGE, "usage: see nettool.c");
    net_plan *p = NULL;
    if (load_plan(ctx, argv[2], &p, err) < 0)
        return -1;
    int rc = 0;
    if (!strcmp(cmd, "bench")) {
        rc = bench(p, atoi(argv[3]) > 0 ? atoi(argv[3]) : 1, err);
    } else if (!strcmp(cmd, "prepare")) {
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
