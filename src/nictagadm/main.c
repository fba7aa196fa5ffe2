/* nictagadm(8), SmartOS's names and output: nic tags mapped to host bridges
 * (lib/net: net/nictag.h for the store and the operations, net/net.h for the
 * links).  A thin front end: parse, call lib/net, print.  Errors go to
 * stderr as "Error: <message>" (exit 1); usage errors exit 2. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "net/net.h"
#include "net/nictag.h"
#include "vm/store.h"

static const char usage_text[] = "Manage nic tags\n"
                                 "\n"
                                 "Usage:\n"
                                 "        nictagadm <subcommand> <args...> ...\n"
                                 "\n"
                                 "Subcommands:\n"
                                 "        add             [-l] [-p prop=value,...] <name> [ifname|mac]\n"
                                 "        delete          [-f] <name>\n"
                                 "        exists          [-l] <name> [name1]...\n"
                                 "        list            [-l | -L] [-H] [-p] [-d delim]\n"
                                 "        update          [-p prop=value,...] <name> [ifname|mac]\n"
                                 "        vms             <name>\n"
                                 "        apply           (re-creates every tag's bridge: boot)\n";

static int usage(const char *msg, ...) __attribute__((format(printf, 1, 2)));
static int usage(const char *msg, ...)
{
    if (msg) {
        va_list ap;
        va_start(ap, msg);
        vfprintf(stderr, msg, ap);
        va_end(ap);
        fputc('\n', stderr);
    }
    fputs(usage_text, stderr);
    return 2;
}

static int fatal(const vm_err *err)
{
    fprintf(stderr, "Error: %s\n", err->msg);
    return err->code == VMERR_USAGE ? 2 : 1;
}

static int fatal_msg(const char *msg)
{
    fprintf(stderr, "Error: %s\n", msg);
    return 1;
}

static int opt_error(int c)
{
    if (c == ':')
        return usage("missing required argument -- %c", optopt);
    return usage("invalid option: %c", optopt);
}

/* -p prop=value,... : mtu and mac (SmartOS's two). */
static int parse_props(char *arg, int *mtu, const char **mac)
{
    for (char *tok = strtok(arg, ","); tok; tok = strtok(NULL, ",")) {
        char *eq = strchr(tok, '=');
        if (!eq || eq == tok || !eq[1])
            return fatal_msg("invalid property"), -1;
        *eq = '\0';
        if (!strcmp(tok, "mtu")) {
            int64_t v;
            if (!parse_i64(eq + 1, &v) || v <= 0 || v > 65535) {
                fprintf(stderr, "Error: invalid mtu: %s\n", eq + 1);
                return -1;
            }
            *mtu = (int)v;
        } else if (!strcmp(tok, "mac")) {
            *mac = eq + 1;
        } else {
            fprintf(stderr, "Error: unknown property \"%s\"\n", tok);
            return -1;
        }
    }
    return 0;
}

/* UUIDs of the VMs of ctx with a NIC on the tag (sorted). */
static int tag_users(const vm_ctx *ctx, const char *tag, json_t **out, vm_err *err)
{
    cleanup_json json_t *uuids = NULL;
    if (vm_store_list(ctx, &uuids, err) < 0)
        return -1;
    *out = json_array();
    size_t i, k;
    json_t *u, *nic;
    json_array_foreach(uuids, i, u) {
        cleanup_json json_t *cfg = NULL;
        if (vm_store_load_config(ctx, json_string_value(u), &cfg, err) < 0) {
            json_decref(*out);
            return -1;
        }
        json_array_foreach(json_object_get(cfg, "nics"), k, nic) {
            const char *t = json_string_value(json_object_get(nic, "nic_tag"));
            if (t && !strcmp(t, tag)) {
                json_array_append(*out, u);
                break;
            }
        }
    }
    return 0;
}

static int cmd_add_update(const vm_ctx *ctx, bool add, int argc, char **argv)
{
    bool local = false;
    int mtu = 0, c;
    const char *mac = NULL;
    while ((c = getopt(argc, argv, add ? ":lp:" : ":p:")) != -1) {
        if (c == 'l')
            local = true;
        else if (c == 'p') {
            if (parse_props(optarg, &mtu, &mac) < 0)
                return 1;
        } else
            return opt_error(c);
    }
    if (optind >= argc || argc - optind > 2)
        return usage(NULL);
    const char *name = argv[optind], *dev = argc - optind == 2 ? argv[optind + 1] : NULL;
    if (dev && mac)
        return fatal_msg("mac address specified twice");
    if (!dev)
        dev = mac;
    vm_err err = VM_ERR_INIT;
    int rc = add ? net_tag_add(ctx, name, dev, local, mtu, &err) : net_tag_update(ctx, name, dev, mtu, &err);
    if (rc < 0)
        return fatal(&err);
    if (!add && mtu)
        puts("MTU changes apply to running VMs' NICs at their next start");
    return 0;
}

static int cmd_delete(const vm_ctx *ctx, int argc, char **argv)
{
    bool force = false;
    int c;
    while ((c = getopt(argc, argv, ":f")) != -1) {
        if (c != 'f')
            return opt_error(c);
        force = true;
    }
    if (argc - optind != 1)
        return usage(NULL);
    const char *name = argv[optind];
    vm_err err = VM_ERR_INIT;
    net_tag t;
    if (net_tag_get(ctx, name, &t, &err) < 0)
        return fatal(&err);
    cleanup_json json_t *users = NULL;
    if (!force) {
        if (tag_users(ctx, name, &users, &err) < 0)
            return fatal(&err);
        if (json_array_size(users) > 0) {
            fprintf(stderr, "Error: nic tag \"%s\" is in use by %zu VM(s): %s%s\n", name, json_array_size(users),
                    json_string_value(json_array_get(users, 0)), json_array_size(users) > 1 ? ", ..." : "");
            return 1;
        }
    }
    if (net_tag_delete(ctx, name, &err) < 0)
        return fatal(&err);
    return 0;
}

static int cmd_list(const vm_ctx *ctx, int argc, char **argv)
{
    bool only_local = false, no_local = false, parsable = false, header = true;
    const char *delim = NULL;
    int c;
    while ((c = getopt(argc, argv, ":lLpHd:")) != -1) {
        switch (c) {
        case 'l': only_local = true; break;
        case 'L': no_local = true; break;
        case 'p': parsable = true; break;
        case 'H': header = false; break;
        case 'd': delim = optarg; break;
        default: return opt_error(c);
        }
    }
    if (optind != argc)
        return usage(NULL);
    if (only_local && no_local)
        return fatal_msg("Cannot specify both local and non-local options");
    if (delim && !parsable)
        return fatal_msg("Delimiter option requires parsable option to be set");
    if (!delim)
        delim = ":";
    vm_err err = VM_ERR_INIT;
    cleanup_free net_tag *tags = NULL;
    size_t n = 0;
    if (net_tag_list(ctx, &tags, &n, &err) < 0)
        return fatal(&err);
    if (header && !parsable)
        printf("%-14s %-18s %-14s %-16s\n", "NAME", "MACADDRESS", "LINK", "TYPE");
    for (size_t i = 0; i < n; i++) {
        if ((only_local && !tags[i].local) || (no_local && tags[i].local))
            continue;
        char mac[18], link[16];
        const char *type;
        net_tag_describe(&tags[i], mac, link, &type);
        if (!parsable) {
            printf("%-14s %-18s %-14s %-16s\n", tags[i].name, mac, link, type);
            continue;
        }
        /* SmartOS escapes the MAC's colons when ':' is the delimiter. */
        fputs(tags[i].name, stdout);
        fputs(delim, stdout);
        for (const char *p = mac; *p; p++) {
            if (*p == ':' && !strcmp(delim, ":"))
                fputc('\\', stdout);
            fputc(*p, stdout);
        }
        printf("%s%s%s%s\n", delim, link, delim, type);
    }
    return 0;
}

static int cmd_exists(const vm_ctx *ctx, int argc, char **argv)
{
    bool local = false;
    int c, rc = 0;
    while ((c = getopt(argc, argv, ":l")) != -1) {
        if (c != 'l')
            return opt_error(c);
        local = true;
    }
    if (optind >= argc)
        return usage(NULL);
    for (int i = optind; i < argc; i++) {
        vm_err err = VM_ERR_INIT;
        net_tag t;
        if (net_tag_get(ctx, argv[i], &t, &err) < 0)
            rc = fatal(&err);
        else if (local && !t.local)
            rc = fprintf(stderr, "Error: nic tag \"%s\" is not a local tag\n", argv[i]) > 0;
    }
    return rc;
}

static int cmd_vms(const vm_ctx *ctx, int argc, char **argv)
{
    if (argc != 2)
        return usage(NULL);
    vm_err err = VM_ERR_INIT;
    net_tag t;
    cleanup_json json_t *users = NULL;
    if (net_tag_get(ctx, argv[1], &t, &err) < 0 || tag_users(ctx, argv[1], &users, &err) < 0)
        return fatal(&err);
    size_t i;
    json_t *u;
    json_array_foreach(users, i, u)
        puts(json_string_value(u));
    return 0;
}

static int cmd_apply(const vm_ctx *ctx, int argc, char **argv)
{
    (void)argv;
    if (argc != 1)
        return usage(NULL);
    vm_err err = VM_ERR_INIT;
    return net_tags_apply_all(ctx, &err) < 0 ? fatal(&err) : 0;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return usage(NULL);
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-?") || !strcmp(cmd, "-h") || !strcmp(cmd, "help") || !strcmp(cmd, "--help")) {
        fputs(usage_text, stdout);
        return 0;
    }
    vm_ctx ctx;
    vm_err err = VM_ERR_INIT;
    if (vm_ctx_init(&ctx, &err) < 0)
        return fatal(&err);
    optind = 1;
    opterr = 0;
    int rc, ac = argc - 1;
    char **av = argv + 1;
    if (!strcmp(cmd, "add") || !strcmp(cmd, "update"))
        rc = cmd_add_update(&ctx, !strcmp(cmd, "add"), ac, av);
    else if (!strcmp(cmd, "delete"))
        rc = cmd_delete(&ctx, ac, av);
    else if (!strcmp(cmd, "list"))
        rc = cmd_list(&ctx, ac, av);
    else if (!strcmp(cmd, "exists"))
        rc = cmd_exists(&ctx, ac, av);
    else if (!strcmp(cmd, "vms"))
        rc = cmd_vms(&ctx, ac, av);
    else if (!strcmp(cmd, "apply"))
        rc = cmd_apply(&ctx, ac, av);
    else
        rc = usage("unknown subcommand \"%s\"", cmd);
    vm_ctx_free(&ctx);
    return rc;
}
