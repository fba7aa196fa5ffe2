/* The nftables backend: libnftables, one transaction per change, nft's own
 * error text in the message (see net.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <nftables/libnftables.h>

#include "common/util.h"
#include "net/net.h"
#include "net/net_internal.h"

static void nft_freep(struct nft_ctx **n)
{
    if (*n)
        nft_ctx_free(*n);
}
#define cleanup_nft __attribute__((cleanup(nft_freep)))

static struct nft_ctx *nft_open(void)
{
    struct nft_ctx *n = nft_ctx_new(NFT_CTX_DEFAULT);
    if (!n)
        return NULL;
    nft_ctx_buffer_output(n);
    nft_ctx_buffer_error(n);
    return n;
}

/* nft's error text, trimmed to its first lines (the offending command and
 * its caret line are what the operator needs). */
static int nft_failed(struct nft_ctx *n, const char *what, vm_err *err)
{
    const char *e = nft_ctx_get_error_buffer(n);
    cleanup_free char *msg = xstrdup(e && *e ? e : "unknown error");
    size_t l = strlen(msg);
    while (l && (msg[l - 1] == '\n' || msg[l - 1] == ' '))
        msg[--l] = '\0';
    return vm_err_set(err, VMERR_IO, "%s: nft: %s", what, msg);
}

int net_nft_run(const char *script, bool dry, vm_err *err)
{
    cleanup_nft struct nft_ctx *n = nft_open();
    if (!n)
        return vm_err_set(err, VMERR_INTERNAL, "cannot create an nftables context");
    nft_ctx_set_dry_run(n, dry);
    if (nft_run_cmd_from_buffer(n, script) != 0)
        return nft_failed(n, dry ? "network filter check failed" : "cannot apply network filter", err);
    return 0;
}

int net_nft_chains(const char *prefix, char ***out, vm_err *err)
{
    cleanup_nft struct nft_ctx *n = nft_open();
    if (!n)
        return vm_err_set(err, VMERR_INTERNAL, "cannot create an nftables context");
    nft_ctx_output_set_flags(n, NFT_CTX_OUTPUT_JSON);
    *out = xcalloc(1, sizeof **out);
    if (nft_run_cmd_from_buffer(n, "list chains bridge") != 0)
        return nft_failed(n, "cannot list network filter chains", err);
    json_error_t je;
    cleanup_json json_t *j = json_loads(nft_ctx_get_output_buffer(n), 0, &je);
    size_t i, k = 0;
    json_t *e;
    json_array_foreach(json_object_get(j, "nftables"), i, e) {
        json_t *c = json_object_get(e, "chain");
        const char *table = json_string_value(json_object_get(c, "table"));
        const char *name = json_string_value(json_object_get(c, "name"));
        if (!table || !name || strcmp(table, "vmadm") || !str_has_prefix(name, prefix))
            continue;
        *out = xrealloc(*out, (k + 2) * sizeof **out);
        (*out)[k++] = xstrdup(name);
        (*out)[k] = NULL;
    }
    return 0;
}

int net_filter_check(const char *script, vm_err *err)
{
    return net_nft_run(script, true, err);
}

/* Chains of the VM in the kernel that the plan no longer has. */
static char **stale_chains(const net_plan *plan, char **have)
{
    char **stale = xcalloc(strv_len(have) + 1, sizeof *stale);
    size_t k = 0;
    for (char **c = have; *c; c++) {
        if (!str_has_prefix(*c, plan->prefix))
            continue;
        bool keep = false;
        for (size_t i = 0; i < plan->n && !keep; i++)
            keep = str_has_prefix(*c, plan->nics[i].ifname) && strlen(*c) == strlen(plan->nics[i].ifname) + 2;
        if (!keep)
            stale[k++] = xstrdup(*c);
    }
    return stale;
}

int net_filter_apply(const net_plan *plan, vm_err *err)
{
    cleanup_strv char **have = NULL;
    if (net_nft_chains("", &have, err) < 0)
        return -1;
    int base = 0;
    for (char **c = have; *c; c++)
        base += !strcmp(*c, "input") || !strcmp(*c, "forward") || !strcmp(*c, "output");
    cleanup_strv char **stale = stale_chains(plan, have);
    cleanup_free char *script = net_filter_script(plan, stale, base != 3);
    if (net_nft_run(script, false, err) < 0) {
        vm_err_prefix(err, "VM %s: ", plan->uuid);
        return -1;
    }
    return 0;
}

int net_filter_remove(const char *root, const char *uuid, vm_err *err)
{
    char prefix[NET_IFNAMSIZ];
    net_vm_prefix(root, uuid, prefix);
    cleanup_strv char **have = NULL;
    if (net_nft_chains(prefix, &have, err) < 0)
        return -1;
    if (!have[0])
        return 0;
    cleanup_free char *script = net_filter_removal(have);
    return net_nft_run(script, false, err);
}
