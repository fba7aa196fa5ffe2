/* Links through rtnetlink (libmnl): bridges, veths, master, mtu, up/down,
 * bridge port VLANs, delete, lookups.  No `ip` fork. */
#include <errno.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <libmnl/libmnl.h>
#include <linux/if_bridge.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/veth.h>

#include "common/util.h"
#include "net/net_internal.h"

static void mnl_closep(struct mnl_socket **s)
{
    if (*s)
        mnl_socket_close(*s);
}
#define cleanup_mnl __attribute__((cleanup(mnl_closep)))

#define NL_BUF 8192 /* MNL_SOCKET_BUFFER_SIZE is not a constant */

typedef struct link_rec {
    char name[NET_IFNAMSIZ];
    char kind[32];
    unsigned char mac[6];
    bool has_mac;
    unsigned index, master;
    int mtu;
} link_rec;

typedef struct dump {
    link_rec *v;
    size_t n;
} dump;

static struct mnl_socket *nl_open(vm_err *err)
{
    struct mnl_socket *nl = mnl_socket_open(NETLINK_ROUTE);
    if (!nl || mnl_socket_bind(nl, 0, MNL_SOCKET_AUTOPID) < 0) {
        int e = errno;
        if (nl)
            mnl_socket_close(nl);
        vm_err_sys(err, e, "cannot open rtnetlink");
        return NULL;
    }
    return nl;
}

/* Sends one request and waits for its ACK (or runs cb on a dump). */
static int nl_talk(struct nlmsghdr *nlh, mnl_cb_t cb, void *data, int *errnum)
{
    vm_err e = VM_ERR_INIT;
    cleanup_mnl struct mnl_socket *nl = nl_open(&e);
    if (!nl) {
        *errnum = errno ? errno : EIO;
        return -1;
    }
    unsigned seq = nlh->nlmsg_seq = (unsigned)time(NULL);
    unsigned portid = mnl_socket_get_portid(nl);
    if (!cb)
        nlh->nlmsg_flags |= NLM_F_ACK;
    if (mnl_socket_sendto(nl, nlh, nlh->nlmsg_len) < 0) {
        *errnum = errno;
        return -1;
    }
    char buf[NL_BUF];
    int rc;
    ssize_t n;
    while ((n = mnl_socket_recvfrom(nl, buf, sizeof buf)) > 0) {
        rc = mnl_cb_run(buf, (size_t)n, seq, portid, cb, data);
        if (rc <= MNL_CB_STOP) {
            if (rc < 0) {
                *errnum = errno;
                return -1;
            }
            return 0;
        }
    }
    *errnum = n < 0 ? errno : EIO;
    return -1;
}

static struct nlmsghdr *msg_new(char *buf, int type, int flags, int family, unsigned index)
{
    memset(buf, 0, NL_BUF);
    struct nlmsghdr *nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = (uint16_t)type;
    nlh->nlmsg_flags = (uint16_t)(NLM_F_REQUEST | flags);
    struct ifinfomsg *ifm = mnl_nlmsg_put_extra_header(nlh, sizeof *ifm);
    ifm->ifi_family = (unsigned char)family;
    ifm->ifi_index = (int)index;
    return nlh;
}

static int link_attr(const struct nlattr *a, void *data)
{
    link_rec *r = data;
    switch (mnl_attr_get_type(a)) {
    case IFLA_IFNAME: snprintf(r->name, sizeof r->name, "%s", mnl_attr_get_str(a)); break;
    case IFLA_ADDRESS:
        if (mnl_attr_get_payload_len(a) == 6) {
            memcpy(r->mac, mnl_attr_get_payload(a), 6);
            r->has_mac = true;
        }
        break;
    case IFLA_MASTER: r->master = mnl_attr_get_u32(a); break;
    case IFLA_MTU: r->mtu = (int)mnl_attr_get_u32(a); break;
    case IFLA_LINKINFO: {
        const struct nlattr *i;
        mnl_attr_for_each_nested(i, a)
        {
            if (mnl_attr_get_type(i) == IFLA_INFO_KIND)
                snprintf(r->kind, sizeof r->kind, "%s", mnl_attr_get_str(i));
        }
        break;
    }
    default: break;
    }
    return MNL_CB_OK;
}

static int dump_cb(const struct nlmsghdr *nlh, void *data)
{
    dump *d = data;
    const struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);
    link_rec r = { .index = (unsigned)ifm->ifi_index };
    mnl_attr_parse(nlh, sizeof *ifm, link_attr, &r);
    d->v = xrealloc(d->v, (d->n + 1) * sizeof *d->v);
    d->v[d->n++] = r;
    return MNL_CB_OK;
}

static int link_dump(dump *d, vm_err *err)
{
    char buf[NL_BUF];
    struct nlmsghdr *nlh = msg_new(buf, RTM_GETLINK, NLM_F_DUMP, AF_UNSPEC, 0);
    int e = 0;
    d->v = NULL;
    d->n = 0;
    if (nl_talk(nlh, dump_cb, d, &e) < 0) {
        free(d->v);
        d->v = NULL;
        return vm_err_sys(err, e, "cannot list network links");
    }
    return 0;
}

static int link_get(const char *name, link_rec *out)
{
    dump d;
    vm_err e = VM_ERR_INIT;
    if (link_dump(&d, &e) < 0)
        return -1;
    int rc = -1;
    for (size_t i = 0; i < d.n; i++)
        if (!strcmp(d.v[i].name, name)) {
            *out = d.v[i];
            rc = 0;
        }
    free(d.v);
    return rc;
}

unsigned net_link_index(const char *name)
{
    return if_nametoindex(name);
}

static int not_found(const char *name, vm_err *err)
{
    return vm_err_set(err, VMERR_NOTFOUND, "link \"%s\" not found", name);
}

int net_link_bridge_add(const char *name, vm_err *err)
{
    if (net_link_index(name))
        return 0;
    char buf[NL_BUF];
    struct nlmsghdr *nlh = msg_new(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, AF_UNSPEC, 0);
    mnl_attr_put_strz(nlh, IFLA_IFNAME, name);
    struct nlattr *li = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
    mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "bridge");
    mnl_attr_nest_end(nlh, li);
    int e = 0;
    if (nl_talk(nlh, NULL, NULL, &e) < 0 && e != EEXIST)
        return vm_err_sys(err, e, "cannot create bridge \"%s\"", name);
    return 0;
}

/* VLAN filtering on for an existing bridge (no-op if already on). */
static int bridge_vlan_filtering(const char *bridge, vm_err *err)
{
    unsigned idx = net_link_index(bridge);
    if (!idx)
        return not_found(bridge, err);
    char buf[NL_BUF];
    struct nlmsghdr *nlh = msg_new(buf, RTM_NEWLINK, 0, AF_UNSPEC, idx);
    struct nlattr *li = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
    mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "bridge");
    struct nlattr *data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
    mnl_attr_put_u8(nlh, IFLA_BR_VLAN_FILTERING, 1);
    mnl_attr_nest_end(nlh, data);
    mnl_attr_nest_end(nlh, li);
    int e = 0;
    if (nl_talk(nlh, NULL, NULL, &e) < 0 && e == EOPNOTSUPP)
        return vm_err_set(err, VMERR_UNSUPPORTED,
                          "bridge \"%s\": vlan_id needs bridge VLAN filtering, which this kernel lacks "
                          "(CONFIG_BRIDGE_VLAN_FILTERING)",
                          bridge);
    if (e)
        return vm_err_sys(err, e, "cannot turn on VLAN filtering on bridge \"%s\"", bridge);
    return 0;
}

int net_link_set(const char *name, int mtu, const char *master, bool up, vm_err *err)
{
    unsigned idx = net_link_index(name);
    if (!idx)
        return not_found(name, err);
    unsigned midx = 0;
    if (master && *master && !(midx = net_link_index(master)))
        return not_found(master, err);
    char buf[NL_BUF];
    struct nlmsghdr *nlh = msg_new(buf, RTM_NEWLINK, 0, AF_UNSPEC, idx);
    struct ifinfomsg *ifm = mnl_nlmsg_get_payload(nlh);
    if (mtu > 0)
        mnl_attr_put_u32(nlh, IFLA_MTU, (uint32_t)mtu);
    if (midx)
        mnl_attr_put_u32(nlh, IFLA_MASTER, midx);
    ifm->ifi_change = IFF_UP;
    ifm->ifi_flags = up ? IFF_UP : 0;
    int e = 0;
    if (nl_talk(nlh, NULL, NULL, &e) < 0) {
        if (mtu > 0 && e == EINVAL)
            return vm_err_set(err, VMERR_INVALID, "link \"%s\": mtu %d refused by the kernel", name, mtu);
        return vm_err_sys(err, e, "cannot configure link \"%s\"", name);
    }
    return 0;
}

int net_link_release(const char *name, vm_err *err)
{
    unsigned idx = net_link_index(name);
    if (!idx)
        return 0;
    char buf[NL_BUF];
    struct nlmsghdr *nlh = msg_new(buf, RTM_NEWLINK, 0, AF_UNSPEC, idx);
    mnl_attr_put_u32(nlh, IFLA_MASTER, 0);
    int e = 0;
    if (nl_talk(nlh, NULL, NULL, &e) < 0)
        return vm_err_sys(err, e, "cannot release link \"%s\" from its bridge", name);
    return 0;
}

int net_link_mac(const char *name, char out[18])
{
    link_rec r;
    out[0] = '\0';
    if (link_get(name, &r) < 0)
        return -1;
    if (r.has_mac)
        net_mac_str(r.mac, out);
    return 0;
}

int net_link_set_mac(const char *name, const unsigned char mac[6], vm_err *err)
{
    unsigned idx = net_link_index(name);
    if (!idx)
        return not_found(name, err);
    char buf[NL_BUF];
    struct nlmsghdr *nlh = msg_new(buf, RTM_NEWLINK, 0, AF_UNSPEC, idx);
    mnl_attr_put(nlh, IFLA_ADDRESS, 6, mac);
    int e = 0;
    if (nl_talk(nlh, NULL, NULL, &e) < 0)
        return vm_err_sys(err, e, "cannot set the MAC address of link \"%s\"", name);
    return 0;
}

static int vlan_msg(unsigned idx, int type, uint16_t vid, uint16_t flags, int *e)
{
    char buf[NL_BUF];
    struct nlmsghdr *nlh = msg_new(buf, type, 0, AF_BRIDGE, idx);
    struct nlattr *spec = mnl_attr_nest_start(nlh, IFLA_AF_SPEC);
    struct bridge_vlan_info vi = { .flags = flags, .vid = vid };
    mnl_attr_put(nlh, IFLA_BRIDGE_VLAN_INFO, sizeof vi, &vi);
    mnl_attr_nest_end(nlh, spec);
    return nl_talk(nlh, NULL, NULL, e);
}

int net_link_vlan(const char *port, int vid, bool tagged, vm_err *err)
{
    unsigned idx = net_link_index(port);
    if (!idx)
        return not_found(port, err);
    int e = 0;
    uint16_t flags = tagged ? 0 : BRIDGE_VLAN_INFO_PVID | BRIDGE_VLAN_INFO_UNTAGGED;
    if (vlan_msg(idx, RTM_SETLINK, (uint16_t)vid, flags, &e) < 0)
        return vm_err_sys(err, e, "cannot add VLAN %d to port \"%s\"", vid, port);
    /* A NIC's port is in its VLAN only; an uplink keeps VLAN 1. */
    if (!tagged && vid != 1 && vlan_msg(idx, RTM_DELLINK, 1, 0, &e) < 0 && e != ENOENT)
        return vm_err_sys(err, e, "cannot remove VLAN 1 from port \"%s\"", port);
    return 0;
}

int net_link_del(const char *name, vm_err *err)
{
    unsigned idx = net_link_index(name);
    if (!idx)
        return 0;
    char buf[NL_BUF];
    struct nlmsghdr *nlh = msg_new(buf, RTM_DELLINK, 0, AF_UNSPEC, idx);
    int e = 0;
    if (nl_talk(nlh, NULL, NULL, &e) < 0 && e != ENODEV)
        return vm_err_sys(err, e, "cannot delete link \"%s\"", name);
    return 0;
}

int net_link_by_mac(const char *mac, char out[NET_IFNAMSIZ], vm_err *err)
{
    unsigned char m[6];
    if (net_mac_parse(mac, m) < 0)
        return vm_err_set(err, VMERR_INVALID, "invalid MAC address \"%s\"", mac);
    dump d;
    if (link_dump(&d, err) < 0)
        return -1;
    int rc = -1;
    /* A physical link, not a bridge or port that borrowed its MAC. */
    for (size_t i = 0; i < d.n && rc < 0; i++)
        if (d.v[i].has_mac && !memcmp(d.v[i].mac, m, 6) && strcmp(d.v[i].kind, "bridge")) {
            snprintf(out, NET_IFNAMSIZ, "%s", d.v[i].name);
            rc = 0;
        }
    free(d.v);
    if (rc < 0)
        return vm_err_set(err, VMERR_NOTFOUND, "no link with MAC address %s", mac);
    return 0;
}

int net_link_names(const char *prefix, char ***out, vm_err *err)
{
    dump d;
    if (link_dump(&d, err) < 0)
        return -1;
    char **v = xcalloc(d.n + 1, sizeof *v);
    size_t k = 0;
    for (size_t i = 0; i < d.n; i++)
        if (str_has_prefix(d.v[i].name, prefix))
            v[k++] = xstrdup(d.v[i].name);
    free(d.v);
    *out = v;
    return 0;
}

int net_link_mtu(const char *name)
{
    link_rec r;
    return link_get(name, &r) < 0 ? -1 : r.mtu;
}

int net_link_kind(const char *name, char kind[32], vm_err *err)
{
    link_rec r;
    if (link_get(name, &r) < 0)
        return not_found(name, err);
    snprintf(kind, 32, "%s", r.kind);
    return 0;
}

int net_link_master(const char *name, char out[NET_IFNAMSIZ])
{
    link_rec r;
    out[0] = '\0';
    if (link_get(name, &r) < 0)
        return -1;
    if (r.master && !if_indextoname(r.master, out))
        out[0] = '\0';
    return 0;
}

int net_veth_create(const net_nic *nic, const char *peer, vm_err *err)
{
    unsigned char m[6];
    if (net_mac_parse(nic->mac, m) < 0)
        return vm_err_set(err, VMERR_INVALID, "invalid MAC address \"%s\"", nic->mac);
    char buf[NL_BUF];
    struct nlmsghdr *nlh = msg_new(buf, RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, AF_UNSPEC, 0);
    mnl_attr_put_strz(nlh, IFLA_IFNAME, nic->ifname);
    if (nic->mtu > 0)
        mnl_attr_put_u32(nlh, IFLA_MTU, (uint32_t)nic->mtu);
    struct nlattr *li = mnl_attr_nest_start(nlh, IFLA_LINKINFO);
    mnl_attr_put_strz(nlh, IFLA_INFO_KIND, "veth");
    struct nlattr *data = mnl_attr_nest_start(nlh, IFLA_INFO_DATA);
    struct nlattr *pn = mnl_attr_nest_start(nlh, VETH_INFO_PEER);
    struct ifinfomsg *pifm = mnl_nlmsg_put_extra_header(nlh, sizeof *pifm);
    memset(pifm, 0, sizeof *pifm);
    mnl_attr_put_strz(nlh, IFLA_IFNAME, peer);
    mnl_attr_put(nlh, IFLA_ADDRESS, 6, m);
    if (nic->mtu > 0)
        mnl_attr_put_u32(nlh, IFLA_MTU, (uint32_t)nic->mtu);
    mnl_attr_nest_end(nlh, pn);
    mnl_attr_nest_end(nlh, data);
    mnl_attr_nest_end(nlh, li);
    int e = 0;
    if (nl_talk(nlh, NULL, NULL, &e) < 0)
        return vm_err_sys(err, e, "cannot create veth \"%s\"", nic->ifname);
    return 0;
}

int net_port_attach(const net_nic *nic, vm_err *err)
{
    if (!net_link_index(nic->bridge))
        return vm_err_set(err, VMERR_NOTFOUND, "bridge \"%s\" of nic tag \"%s\" not found", nic->bridge, nic->tag);
    int mtu = nic->mtu > 0 ? nic->mtu : net_link_mtu(nic->bridge);
    if (net_link_set(nic->ifname, mtu, nic->bridge, false, err) < 0)
        return -1;
    if (nic->vlan_id > 0) {
        if (bridge_vlan_filtering(nic->bridge, err) < 0 || net_link_vlan(nic->ifname, nic->vlan_id, false, err) < 0)
            return -1;
        if (nic->uplink[0] && net_link_vlan(nic->uplink, nic->vlan_id, true, err) < 0)
            return -1;
    }
    return net_link_set(nic->ifname, 0, NULL, true, err);
}
