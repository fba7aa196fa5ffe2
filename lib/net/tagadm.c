/* nictagadm's operations on tags: validate, change the host (links through
 * net_tag_apply), then the store (see nictag.h). */
#include <string.h>

#include "common/util.h"
#include "net/net.h"
#include "net/net_internal.h"

int net_tag_check_mtu(bool local, int mtu, vm_err *err)
{
    int lo = local ? 576 : 1500;
    if (mtu != 0 && (mtu < lo || mtu > 9000))
        return vm_err_set(err, VMERR_INVALID, "mtu must be between %d-9000", lo);
    return 0;
}

/* dev (an interface name or a MAC) → the link's name; t->mac keeps a MAC
 * the operator gave, so the tag follows the NIC across renames. */
static int resolve_dev(const char *dev, net_tag *t, char ifname[NET_IFNAMSIZ], vm_err *err)
{
    unsigned char m[6];
    t->mac[0] = '\0';
    if (net_mac_parse(dev, m) == 0) {
        net_mac_str(m, t->mac);
        return net_link_by_mac(t->mac, ifname, err);
    }
    if (strlen(dev) >= NET_IFNAMSIZ || !net_link_index(dev))
        return vm_err_set(err, VMERR_NOTFOUND, "link \"%s\" not found", dev);
    snprintf(ifname, NET_IFNAMSIZ, "%s", dev);
    return 0;
}

/* The bridge named for the tag: it may exist already (as a bridge: adopted,
 * e.g. the same tag in another VMADM_ROOT on this host). */
static int tag_bridge(net_tag *t, vm_err *err)
{
    if (strlen(t->name) >= NET_IFNAMSIZ)
        return vm_err_set(err, VMERR_INVALID, "nic tag name \"%s\" is too long for a bridge (15 characters at most)",
                          t->name);
    snprintf(t->bridge, sizeof t->bridge, "%.15s", t->name);
    t->owned = !net_link_index(t->bridge);
    char kind[32];
    if (!t->owned && (net_link_kind(t->bridge, kind, err) < 0 || strcmp(kind, "bridge")))
        return vm_err_set(err, VMERR_EXISTS, "link \"%s\" exists and is not a bridge", t->bridge);
    return 0;
}

/* The uplink must be free or already a port of this tag's bridge. */
static int check_uplink(const char *link, const char *bridge, vm_err *err)
{
    char master[NET_IFNAMSIZ];
    net_link_master(link, master);
    if (master[0] && strcmp(master, bridge))
        return vm_err_set(err, VMERR_BUSY, "link \"%s\" is already a port of bridge \"%s\"", link, master);
    return 0;
}

/* Undoes net_tag_apply of a tag that is not stored. */
static void undo(const net_tag *t)
{
    if (t->owned)
        net_link_del(t->bridge, NULL);
    else if (t->link[0])
        net_link_release(t->link, NULL);
}

int net_tag_add(const vm_ctx *ctx, const char *name, const char *dev, bool local, int mtu, vm_err *err)
{
    net_tag t;
    memset(&t, 0, sizeof t);
    if (!net_tag_name_valid(name))
        return vm_err_set(err, VMERR_INVALID, "invalid nic tag name \"%s\"", name ? name : "");
    vm_err e = VM_ERR_INIT;
    if (net_tag_get(ctx, name, &t, &e) == 0)
        return vm_err_set(err, VMERR_EXISTS, "nic tag \"%s\" already exists", name);
    if (local && dev)
        return vm_err_set(err, VMERR_INVALID, "create local tag, but mac address specified");
    if (!local && !dev)
        return vm_err_set(err, VMERR_INVALID, "create non-local tag, but no mac address specified");
    if (net_tag_check_mtu(local, mtu, err) < 0)
        return -1;
    memset(&t, 0, sizeof t);
    snprintf(t.name, sizeof t.name, "%s", name);
    t.local = local;
    t.mtu = mtu;
    if (local) {
        if (tag_bridge(&t, err) < 0)
            return -1;
    } else {
        char ifname[NET_IFNAMSIZ], kind[32];
        if (resolve_dev(dev, &t, ifname, err) < 0 || net_link_kind(ifname, kind, err) < 0)
            return -1;
        if (!strcmp(kind, "bridge")) {
            /* An operator's bridge, used as is. */
            snprintf(t.bridge, sizeof t.bridge, "%s", ifname);
            t.mac[0] = '\0';
        } else {
            snprintf(t.link, sizeof t.link, "%s", ifname);
            if (tag_bridge(&t, err) < 0 || check_uplink(ifname, t.bridge, err) < 0)
                return -1;
        }
    }
    if (net_tag_apply(&t, err) < 0 || net_tag_put(ctx, &t, false, err) < 0) {
        undo(&t);
        return -1;
    }
    return 0;
}

int net_tag_update(const vm_ctx *ctx, const char *name, const char *dev, int mtu, vm_err *err)
{
    net_tag old, t;
    if (net_tag_get(ctx, name, &old, err) < 0)
        return -1;
    if (!dev && !mtu)
        return vm_err_set(err, VMERR_INVALID, "nothing to update");
    t = old;
    if (dev) {
        if (t.local)
            return vm_err_set(err, VMERR_INVALID, "cannot update a local tag");
        if (!t.link[0])
            return vm_err_set(err, VMERR_INVALID,
                              "nic tag \"%s\" uses bridge \"%s\" as is: delete and add it to change its link", name,
                              t.bridge);
        char ifname[NET_IFNAMSIZ], kind[32];
        if (resolve_dev(dev, &t, ifname, err) < 0 || net_link_kind(ifname, kind, err) < 0)
            return -1;
        if (!strcmp(kind, "bridge"))
            return vm_err_set(err, VMERR_INVALID, "link \"%s\" is a bridge: delete and add the tag to use it", ifname);
        if (check_uplink(ifname, t.bridge, err) < 0)
            return -1;
        snprintf(t.link, sizeof t.link, "%s", ifname);
    }
    if (mtu) {
        if (net_tag_check_mtu(t.local, mtu, err) < 0)
            return -1;
        t.mtu = mtu;
    }
    if (strcmp(old.link, t.link) && old.link[0] && net_link_release(old.link, err) < 0)
        return -1;
    if (net_tag_apply(&t, err) < 0 || net_tag_put(ctx, &t, true, err) < 0) {
        if (strcmp(old.link, t.link))
            net_link_release(t.link, NULL);
        net_tag_apply(&old, NULL);
        return -1;
    }
    return 0;
}

int net_tag_delete(const vm_ctx *ctx, const char *name, vm_err *err)
{
    net_tag t;
    if (net_tag_get(ctx, name, &t, err) < 0)
        return -1;
    if (t.owned && net_link_del(t.bridge, err) < 0)
        return -1;
    return net_tag_remove(ctx, name, err);
}

void net_tag_describe(const net_tag *t, char mac[18], char link[16], const char **type)
{
    snprintf(mac, 18, "-");
    snprintf(link, 16, "-");
    if (t->local) {
        *type = "etherstub";
        return;
    }
    if (!t->link[0]) {
        *type = "bridge";
        snprintf(link, 16, "%s", t->bridge);
        return;
    }
    *type = "normal";
    char ifname[NET_IFNAMSIZ] = "";
    if (t->mac[0]) {
        snprintf(mac, 18, "%s", t->mac);
        if (net_link_by_mac(t->mac, ifname, NULL) == 0)
            snprintf(link, 16, "%s", ifname);
    } else {
        snprintf(link, 16, "%s", t->link);
        if (net_link_mac(t->link, mac) < 0 || !mac[0])
            snprintf(mac, 18, "-");
    }
}
