/* The LXC network config of a container: one interface per VM NIC.
 *
 * Who makes the link.  lib/net creates each NIC's veth pair in the host
 * namespace and attaches the host side to the nic tag's bridge (mtu, VLAN
 * membership of the port and of the uplink, up) with the same code that
 * plugs in an HVM VM's tap, after the NIC's nftables chains exist; LXC
 * then moves the guest end into the container (lxc.net.N.type = phys) and
 * configures it there — name, MAC, mtu, addresses, default gateway, up —
 * before the container's init runs.  Why not lxc.net.N.type = veth: LXC
 * would make and plug the port itself, but it knows neither the uplink's
 * VLAN membership nor our port settings, and VLAN ports need the bridge's
 * vlan_filtering set beforehand; one port code path for taps and veths is
 * what keeps protection and VLANs identical across brands.  Both ways
 * are real components with no fork per NIC.  Lifetime: when the
 * container's network namespace goes away (stop, or kill -9 of everything)
 * the kernel deletes the pair; after a clean stop LXC hands the guest end
 * back to the host, and lib/net's teardown deletes the pair by its host
 * name (deleting one end of a veth deletes both).  This works for the
 * unprivileged (user-namespaced) containers root starts: LXC moves the link
 * as root before the namespace is handed to container root.
 *
 * Per NIC (the index in nics[] is N of lxc.net.N):
 *   type = phys, link = <peer>      the guest end, named by the caller
 *   name = <interface>              net<N> (eth<N> for lx), as vmadm get shows
 *   hwaddr = <mac>, mtu = <mtu>     mtu only when the NIC sets one (the peer
 *                                   already has the tag's mtu otherwise)
 *   flags = up
 *   ipv4.address / ipv6.address     each static entry of ips (a/len)
 *   ipv4.gateway / ipv6.gateway     the first of each family in gateways,
 *                                   on the primary NIC only (SmartOS: the
 *                                   primary NIC's gateway is the default
 *                                   route; two defaults would clash), and
 *                                   only for a family with a static address
 * "dhcp" and "addrconf" configure nothing: the interface is up and left to
 * the guest's DHCP client / the kernel's SLAAC.  Resolvers are written to
 * the rootfs by ct_start (ct_root_write_resolvers) before init runs.  A
 * container without NICs gets lxc.net.0.type = empty (loopback only). */
#include "ct/ct_config.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"

static void addf(json_t *items, size_t n, const char *key, const char *value)
{
    char k[64];
    snprintf(k, sizeof k, "lxc.net.%zu.%s", n, key);
    json_array_append_new(items, json_pack("[ss]", k, value));
}

/* "a/len" with a an address of its family and len in range; *v6 set. */
static bool cidr_valid(const char *s, bool *v6)
{
    char buf[INET6_ADDRSTRLEN + 8];
    unsigned char a[16];
    if (strlen(s) >= sizeof buf)
        return false;
    strcpy(buf, s);
    char *slash = strchr(buf, '/');
    if (!slash)
        return false;
    *slash = '\0';
    *v6 = strchr(buf, ':') != NULL;
    int64_t len;
    return inet_pton(*v6 ? AF_INET6 : AF_INET, buf, a) == 1 && parse_i64(slash + 1, &len) && len >= 0 &&
        len <= (*v6 ? 128 : 32);
}

static bool ip_valid(const char *s, bool v6)
{
    unsigned char a[16];
    return inet_pton(v6 ? AF_INET6 : AF_INET, s, a) == 1;
}

/* Interface names inside the container: what `vmadm get` shows. */
static bool ifname_valid(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 15)
        return false;
    for (const char *p = s; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_' || *p == '-'))
            return false;
    return true;
}

static int nic_addresses(json_t *items, size_t n, json_t *nic, const char *ifn, vm_err *err)
{
    size_t i;
    json_t *ip;
    bool static4 = false, static6 = false;
    json_array_foreach(json_object_get(nic, "ips"), i, ip) {
        const char *s = json_string_value(ip);
        bool v6;
        if (s && (!strcmp(s, "dhcp") || !strcmp(s, "addrconf")))
            continue;
        if (!s || !cidr_valid(s, &v6))
            return vm_err_set(err, VMERR_INVALID, "NIC %s: ips entry \"%s\" is not an address/prefix length", ifn,
                              s ? s : "(not a string)");
        addf(items, n, v6 ? "ipv6.address" : "ipv4.address", s);
        *(v6 ? &static6 : &static4) = true;
    }
    if (!json_is_true(json_object_get(nic, "primary")))
        return 0;
    /* A family without a static address (dhcp, addrconf) gets its routes
     * from the guest's client, not from here. */
    bool have4 = !static4, have6 = !static6;
    json_t *gw;
    json_array_foreach(json_object_get(nic, "gateways"), i, gw) {
        const char *s = json_string_value(gw);
        bool v6 = s && strchr(s, ':');
        if (!s || !ip_valid(s, v6))
            return vm_err_set(err, VMERR_INVALID, "NIC %s: gateway \"%s\" is not an IP address", ifn,
                              s ? s : "(not a string)");
        if (v6 ? have6 : have4)
            continue;
        addf(items, n, v6 ? "ipv6.gateway" : "ipv4.gateway", s);
        *(v6 ? &have6 : &have4) = true;
    }
    return 0;
}

int ct_net_config(json_t *vmobj, const ct_inputs *in, json_t *items, vm_err *err)
{
    json_t *nics = json_object_get(vmobj, "nics");
    if (nics && !json_is_array(nics))
        return vm_err_set(err, VMERR_INVALID, "invalid value for nics: must be an array");
    if (json_array_size(nics) == 0) {
        json_array_append_new(items, json_pack("[ss]", "lxc.net.0.type", "empty"));
        return 0;
    }
    size_t n;
    json_t *nic;
    json_array_foreach(nics, n, nic) {
        const char *ifn = json_string_value(json_object_get(nic, "interface"));
        char dflt[32];
        if (!ifn) {
            snprintf(dflt, sizeof dflt, "net%zu", n);
            ifn = dflt;
        }
        if (!ifname_valid(ifn))
            return vm_err_set(err, VMERR_INVALID, "NIC %zu: interface \"%s\" is not valid", n, ifn);
        const char *peer = json_string_value(json_array_get(in->nic_peers, n));
        if (!peer || !ifname_valid(peer))
            return vm_err_set(err, VMERR_INVALID, "NIC %s has no host link", ifn);
        const char *mac = json_string_value(json_object_get(nic, "mac"));
        if (!mac || strlen(mac) != 17 || strspn(mac, "0123456789abcdefABCDEF:") != 17)
            return vm_err_set(err, VMERR_INVALID, "NIC %s: mac \"%s\" is not valid", ifn, mac ? mac : "(none)");
        addf(items, n, "type", "phys");
        addf(items, n, "link", peer);
        addf(items, n, "name", ifn);
        addf(items, n, "hwaddr", mac);
        json_t *mtu = json_object_get(nic, "mtu");
        if (mtu && !json_is_null(mtu)) {
            int64_t v = -1;
            if (json_is_integer(mtu))
                v = json_integer_value(mtu);
            else if (json_is_string(mtu) && !parse_i64(json_string_value(mtu), &v))
                v = -1;
            if (v < 576 || v > 9000)
                return vm_err_set(err, VMERR_INVALID, "NIC %s: mtu must be an integer from 576 to 9000", ifn);
            char buf[16];
            snprintf(buf, sizeof buf, "%d", (int)v);
            addf(items, n, "mtu", buf);
        }
        addf(items, n, "flags", "up");
        if (nic_addresses(items, n, nic, ifn, err) < 0)
            return -1;
    }
    return 0;
}
