/* A container's NICs on the host (the model is in ct_net.c): lib/net's plan,
 * the veth pairs on their tags' bridges, and their removal. */
#include <net/if.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "ct/ct_internal.h"

/* The guest end's name while it is in the host namespace: the host port's
 * name with its first letter changed ("vn<hash><N>" -> "gn<hash><N>"),
 * unique per VM and NIC, and gone with the port (a veth pair dies whole). */
static void peer_name(const net_nic *nic, char out[NET_IFNAMSIZ])
{
    snprintf(out, NET_IFNAMSIZ, "g%s", nic->ifname + 1);
}

int ct_net_prepare(const vm_ctx *ctx, json_t *vmobj, net_plan **plan, json_t **peers, vm_err *err)
{
    if (net_plan_build(ctx, vmobj, plan, err) < 0)
        return -1;
    *peers = json_array();
    size_t i;
    json_t *nic;
    json_array_foreach(json_object_get(vmobj, "nics"), i, nic) {
        const char *ifn = json_string_value(json_object_get(nic, "interface"));
        char dflt[32];
        if (!ifn) {
            snprintf(dflt, sizeof dflt, "net%zu", i);
            ifn = dflt;
        }
        for (size_t j = 0; j < (*plan)->n; j++) {
            if (strcmp((*plan)->nics[j].interface, ifn))
                continue;
            char peer[NET_IFNAMSIZ];
            peer_name(&(*plan)->nics[j], peer);
            json_array_append_new(*peers, json_string(peer));
            break;
        }
        if (json_array_size(*peers) != i + 1)
            return vm_err_set(err, VMERR_INTERNAL, "NIC %s is not in the network plan", ifn);
    }
    return 0;
}

int ct_net_plug(const vm_ctx *ctx, const net_plan *plan, vm_err *err)
{
    if (!plan->n)
        return 0;
    /* Pairs a killed vmadm or a clean LXC stop left under this VM's
     * names go first (lib/net's create is exclusive); the common case,
     * nothing left, costs one ioctl per NIC.  Stale chains need no
     * teardown: net_vm_prepare replaces the VM's chains. */
    bool leftover = false;
    for (size_t i = 0; i < plan->n && !leftover; i++)
        leftover = if_nametoindex(plan->nics[i].ifname) != 0;
    if ((leftover && net_vm_teardown(ctx, plan->uuid, err) < 0) || net_vm_prepare(ctx, plan, err) < 0)
        return -1;
    for (size_t i = 0; i < plan->n; i++) {
        char peer[NET_IFNAMSIZ];
        peer_name(&plan->nics[i], peer);
        if (net_veth_create(&plan->nics[i], peer, err) < 0 || net_port_attach(&plan->nics[i], err) < 0) {
            vm_err_prefix(err, "NIC %s: ", plan->nics[i].interface);
            return -1;
        }
    }
    return 0;
}

void ct_net_unplug(const vm_ctx *ctx, const net_plan *plan)
{
    vm_err e = VM_ERR_INIT;
    if (plan && plan->n && net_vm_teardown(ctx, plan->uuid, &e) < 0)
        vm_log(ctx, "warn", "container %s: %s", plan->uuid, e.msg);
}

void ct_net_planp(net_plan **p)
{
    net_plan_free(*p);
}
