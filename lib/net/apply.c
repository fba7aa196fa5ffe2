/* Host state for tags and VMs: tag bridges, a VM's prepare/teardown
 * (see net.h). */
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "net/net.h"
#include "net/net_internal.h"

int net_tag_apply(const net_tag *tag, vm_err *err)
{
    char uplink[NET_IFNAMSIZ];
    snprintf(uplink, sizeof uplink, "%s", tag->link);
    /* A MAC names the uplink across renames (SmartOS's way). */
    if (tag->mac[0] && net_link_by_mac(tag->mac, uplink, err) < 0) {
        vm_err_prefix(err, "nic tag \"%s\": ", tag->name);
        return -1;
    }
    if (uplink[0] && !net_link_index(uplink))
        return vm_err_set(err, VMERR_NOTFOUND, "link \"%s\" not found", uplink);
    if (!tag->owned && !tag->local) {
        /* An operator's bridge, used as is. */
        if (!net_link_index(tag->bridge))
            return vm_err_set(err, VMERR_NOTFOUND, "bridge \"%s\" of nic tag \"%s\" not found", tag->bridge, tag->name);
        return 0;
    }
    if (net_link_bridge_add(tag->bridge, err) < 0)
        return -1;
    if (uplink[0] && net_link_set(uplink, tag->mtu, tag->bridge, true, err) < 0)
        return -1;
    return net_link_set(tag->bridge, tag->mtu, NULL, true, err);
}

int net_tags_apply_all(const vm_ctx *ctx, vm_err *err)
{
    cleanup_free net_tag *tags = NULL;
    size_t n = 0;
    if (net_tag_list(ctx, &tags, &n, err) < 0)
        return -1;
    int rc = 0;
    for (size_t i = 0; i < n; i++) {
        vm_err e = VM_ERR_INIT;
        if (net_tag_apply(&tags[i], &e) < 0) {
            vm_log(ctx, "error", "nic tag %s: %s", tags[i].name, e.msg);
            if (rc == 0)
                *err = e;
            rc = -1;
        }
    }
    return rc;
}

int net_vm_prepare(const vm_ctx *ctx, const net_plan *plan, vm_err *err)
{
    for (size_t i = 0; i < plan->n; i++) {
        const net_nic *nic = &plan->nics[i];
        if (net_link_index(nic->bridge))
            continue;
        net_tag t;
        if (net_tag_get(ctx, nic->tag, &t, err) < 0 || net_tag_apply(&t, err) < 0)
            return -1;
    }
    return net_filter_apply(plan, err);
}

int net_vm_teardown(const vm_ctx *ctx, const char *uuid, vm_err *err)
{
    char prefix[NET_IFNAMSIZ];
    net_vm_prefix(ctx->root, uuid, prefix);
    cleanup_strv char **links = NULL;
    if (net_link_names(prefix, &links, err) < 0)
        return -1;
    /* Ports first: no moment where a port is on the bridge unfiltered. */
    for (char **l = links; *l; l++)
        if (net_link_del(*l, err) < 0)
            return -1;
    return net_filter_remove(ctx->root, uuid, err);
}
