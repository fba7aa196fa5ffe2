/* vminfod: the VM object cache daemon (reference §5).  Foreground, JSON-lines
 * logs on stderr; SIGTERM/SIGINT end it cleanly.  All state is rebuilt
 * from the system at start, so a restart loses nothing. */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "common/util.h"
#include "httpd.h"
#include "mdata.h"
#include "server.h"
#include "vm/sync.h"
#include "vm/vm.h"
#include "vm/vmobj.h"

static const char usage_text[] =
    "Usage: vminfod [options]\n"
    "\n"
    "Serves VM objects and change events over HTTP (GET /ping, /status, /vms,\n"
    "/vms/<uuid>, /events).\n"
    "\n"
    "Options:\n"
    "  -l, --listen HOST:PORT   TCP address (default $VMINFOD_ADDR or 127.0.0.1:9090;\n"
    "                           \"none\": unix socket only; port 0: any free port)\n"
    "  -s, --socket PATH        unix socket (default $VMADM_ROOT/run/vminfod.sock;\n"
    "                           \"none\" to disable)\n"
    "  -r, --rescan SECONDS     periodic full rescan interval (default 60, 0: off)\n"
    "  -d, --debounce-ms MS     coalescing window for bursts of changes (default 1)\n"
    "      --history EVENTS     events kept for /events?since= (default 4096)\n"
    "      --client-buffer BYTES  unsent bytes before a slow listener is dropped\n"
    "                           (default 4194304)\n"
    "      --loader vm|files    where VM objects come from (files: etc/vms/<uuid>/vm.json\n"
    "                           as-is, for testing)\n"
    "      --no-metadata        no guest metadata service (on by default with the vm\n"
    "                           loader, off with files)\n"
    "  -h, --help\n";

static int vm_load_each(void *arg, vminfod_want_fn want, vminfod_each_fn fn, void *fnarg, vm_err *err)
{
    /* vminfod's callbacks have vmobj's shape; vmobj passes fnarg to both. */
    return vmobj_load_each(arg, VMOBJ_ALL, want, fn, fnarg, err);
}

static int vm_load_one(void *arg, const char *uuid, json_t **out, vm_err *err)
{
    return vmobj_load(arg, uuid, out, err);
}

static int vm_list(void *arg, json_t **out, vm_err *err)
{
    return vmobj_list_uuids(arg, out, err);
}

static json_t *vm_watch(void *arg, const char *uuid)
{
    return vmobj_watch_paths(arg, uuid);
}

/* A guest's PUT/DELETE: the normal update path, answered once vminfod's
 * cache and /events show the change (as vmadm update's read-after-write). */
static int mdata_update(void *arg, const char *uuid, json_t *payload, vm_err *err)
{
    const vm_ctx *ctx = arg;
    char name[96];
    snprintf(name, sizeof name, "metadata update (%s)", uuid);
    vm_sync *s = vm_sync_begin(ctx, name, uuid);
    int r = vm_update(ctx, uuid, payload, err);
    if (r == 0)
        r = vm_sync_wait(s, uuid, 60000, err);
    vm_sync_end(s);
    return r;
}

static int parse_num(const char *opt, const char *s, int64_t max, int64_t *out)
{
    if (!parse_i64(s, out) || *out > max) {
        fprintf(stderr, "vminfod: invalid value for %s: %s\n", opt, s);
        return -1;
    }
    return 0;
}

struct args {
    const char *listen_addr, *sock, *which;
    int no_metadata;
    vminfod_opts opts;
};

/* Returns -1 to go on, else the exit status (usage printed, or an error). */
static int parse_args(int argc, char **argv, struct args *a)
{
    /* clang-format off */
    static const struct option longopts[] = {
        { "listen", required_argument, NULL, 'l' },
        { "socket", required_argument, NULL, 's' },
        { "rescan", required_argument, NULL, 'r' },
        { "debounce-ms", required_argument, NULL, 'd' },
        { "history", required_argument, NULL, 'H' },
        { "client-buffer", required_argument, NULL, 'B' },
        { "loader", required_argument, NULL, 'L' },
        { "no-metadata", no_argument, NULL, 'M' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    /* clang-format on */
    vminfod_opts *opts = &a->opts;
    int64_t v;
    int c;

    vminfod_opts_default(opts);
    while ((c = getopt_long(argc, argv, "l:s:r:d:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'l': a->listen_addr = optarg; break;
        case 's': a->sock = optarg; break;
        case 'L': a->which = optarg; break;
        case 'M': a->no_metadata = 1; break;
        case 'r':
            if (parse_num("--rescan", optarg, 86400 * 7, &v) < 0)
                return 2;
            opts->rescan_ms = (int)(v * 1000);
            break;
        case 'd':
            if (parse_num("--debounce-ms", optarg, 10000, &v) < 0)
                return 2;
            opts->debounce_ms = (int)v;
            break;
        case 'H':
            if (parse_num("--history", optarg, 1 << 24, &v) < 0 || v < 1)
                return 2;
            opts->ring_events = (size_t)v;
            break;
        case 'B':
            if (parse_num("--client-buffer", optarg, (int64_t)1 << 40, &v) < 0 || v < 1024)
                return 2;
            opts->client_buffer = (size_t)v;
            if (opts->ring_bytes < opts->client_buffer * 2)
                opts->ring_bytes = opts->client_buffer * 2;
            break;
        case 'h': fputs(usage_text, stdout); return 0;
        default: fputs(usage_text, stderr); return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "vminfod: unexpected argument: %s\n", argv[optind]);
        return 2;
    }
    return -1;
}

int main(int argc, char **argv)
{
    vm_ctx ctx;
    vm_err err = VM_ERR_INIT;
    struct args a = { NULL, NULL, NULL, 0, { 0 } };
    vminfod_loader loader;
    const char *listen_addr, *sock, *which;
    int rc = 1;

    /* Memory stays proportional to the VMs: big buffers (the /vms body, ready
     * lines) go back to the system when freed instead of fragmenting the
     * heap, and the HTTP threads share arenas. */
    mallopt(M_MMAP_THRESHOLD, 128 * 1024);
    mallopt(M_ARENA_MAX, 2);
    int r = parse_args(argc, argv, &a);
    if (r >= 0)
        return r;
    listen_addr = a.listen_addr;
    sock = a.sock;
    which = a.which;
    if (vm_ctx_init(&ctx, &err) < 0) {
        fprintf(stderr, "vminfod: %s\n", err.msg);
        return 1;
    }
    if (!listen_addr)
        listen_addr = ctx.vminfod_addr;

    if (which && !strcmp(which, "files")) {
        vminfod_files_loader(&ctx, &loader);
    } else if (!which || !strcmp(which, "vm")) {
        loader = (vminfod_loader){ &ctx, vm_load_each, vm_load_one, vm_list, vm_watch };
    } else {
        fprintf(stderr, "vminfod: unknown loader: %s\n", which);
        vm_ctx_free(&ctx);
        return 2;
    }

    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    /* Block before any thread starts so every thread inherits the mask. */
    pthread_sigmask(SIG_BLOCK, &mask, NULL);
    signal(SIGPIPE, SIG_IGN);
    int sigfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);

    vminfod *d = NULL;
    vminfod_httpd *h = NULL;
    vminfod_mdata *md = NULL;
    cleanup_free char *sockpath = NULL;
    cleanup_free char *pidfile = xasprintf("%s/vminfod.pid", ctx.run_dir);
    cleanup_free char *addrfile = xasprintf("%s/vminfod.addr", ctx.run_dir);

    if (!sock)
        sockpath = xasprintf("%s/vminfod.sock", ctx.run_dir);
    else if (strcmp(sock, "none"))
        sockpath = xstrdup(sock);

    if (sigfd < 0) {
        vm_err_sys(&err, errno, "signalfd");
        goto out;
    }
    if (vminfod_new(&ctx, &loader, &a.opts, &d, &err) < 0)
        goto out;
    vminfod_log(d, "info", "starting for root %s", ctx.root);
    if (vminfod_start(d, &err) < 0)
        goto out;
    if (vminfod_httpd_start(d, strcmp(listen_addr, "none") ? listen_addr : NULL, sockpath, &h, &err) < 0)
        goto out;
    {
        cleanup_free char *pidtxt = xasprintf("%ld\n", (long)getpid());
        cleanup_free char *addrtxt = xasprintf("%s\n", vminfod_httpd_addr(h));
        vm_err e2 = VM_ERR_INIT;
        write_file_atomic(pidfile, pidtxt, strlen(pidtxt), 0644, &e2);
        write_file_atomic(addrfile, addrtxt, strlen(addrtxt), 0644, &e2);
    }
    vminfod_log(d, "info", "listening on %s%s%s", *vminfod_httpd_addr(h) ? vminfod_httpd_addr(h) : "-",
                sockpath ? " and " : "", sockpath ? sockpath : "");
    if (!a.no_metadata && (!which || !strcmp(which, "vm"))) {
        vminfod_mdata_opts mo = { .update = mdata_update, .update_arg = &ctx };
        if (vminfod_mdata_start(d, &mo, &md, &err) < 0)
            goto out;
        vminfod_log(d, "info", "guest metadata service started");
    }
    if (vminfod_run(d, sigfd, &err) < 0)
        goto out;
    vminfod_log(d, "info", "shutting down");
    rc = 0;
out:
    if (rc && err.msg[0])
        vminfod_log(d, "error", "%s", err.msg);
    vminfod_mdata_stop(md);
    vminfod_httpd_stop(h);
    if (h) {
        unlink(pidfile);
        unlink(addrfile);
    }
    vminfod_free(d);
    if (sigfd >= 0)
        close(sigfd);
    vm_ctx_free(&ctx);
    return rc;
}
