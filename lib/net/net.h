/* Host-side networking for VM NICs: the plan (pure), the nftables filter
 * (libnftables), and the link applier (rtnetlink via libmnl, /dev/net/tun).
 *
 * Model (SmartOS's, on Linux bridges):
 *   - a nic tag is carried by one host bridge (net/nictag.h);
 *   - every VM NIC is one host port on that bridge: a tap for HVM (made by
 *     net_tap_open, non-persistent: it vanishes when QEMU exits), a veth for
 *     containers (made by the runtime or net_veth_create, then net_port_attach);
 *   - vlan_id > 0 makes the port an untagged member of that VLAN with it as
 *     PVID (bridge VLAN filtering is switched on for the tag's bridge when
 *     such a port joins; the default PVID 1 keeps untagged traffic as it
 *     was) and the tag's uplink a tagged member.  A kernel without
 *     CONFIG_BRIDGE_VLAN_FILTERING refuses it with a message saying so;
 *   - protection is ON unless a NIC allows otherwise (all allow_* default to
 *     false, as SmartOS).
 *
 * Host interface names: "vn" + 10 hex digits of a hash of (VMADM_ROOT, VM
 * uuid) + the NIC's number N (from its "interface" "netN", else its index in
 * nics) — unique per (root, uuid, NIC), at most 15 characters, the same on
 * every start.  Every host object of one VM (links, nft chains, map keys)
 * starts with net_vm_prefix(), so teardown finds leftovers without the VM's
 * config (repair after kill -9).
 *
 * nftables: one `table bridge vmadm`, shared by every VM of every VMADM_ROOT
 * on the host and never flushed as a whole.  Its base chains (input, forward,
 * output; priority -200) are fixed: `iifname vmap @from_guest` and
 * `oifname vmap @to_guest`; made by the first apply, left alone after.  A NIC owns two chains, "<ifname>_g" (frames from
 * the guest) and "<ifname>_t" (frames to it), and one element in each map.
 * A NIC's chains end in `return`, never `accept`, so in the forward path the
 * receiving NIC's own chain still runs.  One VM's chains and elements are
 * replaced in ONE transaction (nft_run_cmd_from_buffer): either the old or
 * the new protection holds, never none.  Filters match by interface name, so
 * net_filter_apply runs BEFORE a port is created: a guest is never on the
 * bridge unprotected.
 *
 * Rule groups of the "_g" chain, in order, each dropped by its allow_*:
 *   mac-nospoof  (allow_mac_spoofing): ether saddr, ARP sender MAC, the NDP
 *                NA target link-layer option must be the NIC's MAC;
 *   restricted   (allow_restricted_traffic): ethertypes other than ARP, IPv4,
 *                IPv6 dropped; IPv6 router advertisements dropped;
 *   dhcp-nospoof (allow_dhcp_spoofing): DHCP/DHCPv6 server traffic (udp
 *                sport 67 / 547) dropped; a DHCPv4 request's chaddr must be
 *                the NIC's MAC or a MAC-form entry of allowed_dhcp_cids
 *                ("01"+mac or mac hex); other CID forms cannot be matched at
 *                a fixed offset and are not enforced;
 *   ip-nospoof   (allow_ip_spoofing; implied by allow_dhcp_spoofing, as
 *                SmartOS): ARP sender IP, IPv4 and IPv6 source in ips ∪
 *                allowed_ips (CIDRs allowed; an ips entry "a/len" allows the
 *                address a only).  Always allowed: DHCPv4 DISCOVER/REQUEST
 *                0.0.0.0:68 → 255.255.255.255:67, ARP probes from 0.0.0.0,
 *                IPv6 from :: (DAD, MLD) and DHCPv6/RS from fe80::/10, and the
 *                link-local fe80::/64 EUI-64 address derived from the MAC.
 *                "dhcp": IPv4 addresses the guest leased are unknown, so
 *                IPv4 sources are not restricted (ARP/IPv4 spoofing is open
 *                on such a NIC unless allowed_ips narrows it: with "dhcp" and
 *                allowed_ips, allowed_ips is the list).  "addrconf": any
 *                IPv6 source whose interface id is the MAC's EUI-64 (SLAAC
 *                under any prefix); privacy addresses need allowed_ips.
 * The "_t" chain (allow_unfiltered_promisc or allow_mac_spoofing lifts it):
 * unicast frames not addressed to the NIC's MAC are dropped, so a
 * promiscuous guest does not see other ports' flooded unicast.
 *
 * Errors are raised where the cause is known: `nic tag "x" does not exist`,
 * `link "eth9" not found`, and nft's own error text when a transaction fails.
 */
#ifndef VM_NET_H
#define VM_NET_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>
#include "common/ctx.h"
#include "common/err.h"
#include "net/nictag.h"

#define NET_IFNAMSIZ 16 /* IFNAMSIZ: 15 characters + NUL */

/* allow_* flags of a NIC, as a bit set. */
enum {
    NET_ALLOW_IP_SPOOFING = 1 << 0,
    NET_ALLOW_MAC_SPOOFING = 1 << 1,
    NET_ALLOW_DHCP_SPOOFING = 1 << 2,
    NET_ALLOW_RESTRICTED = 1 << 3,
    NET_ALLOW_UNFILTERED_PROMISC = 1 << 4,
};

/* One NIC's plan.  Strings are owned by the plan. */
typedef struct net_nic {
    unsigned num; /* N of "netN" */
    char interface[NET_IFNAMSIZ]; /* guest-side name, "net0" */
    char ifname[NET_IFNAMSIZ]; /* host port (tap/veth), net_host_ifname */
    char tag[NET_TAG_NAME_MAX + 1];
    char bridge[NET_IFNAMSIZ]; /* the tag's bridge */
    char uplink[NET_IFNAMSIZ]; /* the tag's uplink, "" if none */
    char mac[18]; /* aa:bb:cc:dd:ee:ff */
    char model[32]; /* "virtio", "e1000", "rtl8139": nic.model, vm nic_driver, "virtio" */
    int vlan_id; /* 0: untagged */
    int mtu; /* nic.mtu, else the tag's mtu, else 0 (the bridge's) */
    bool primary;
    unsigned allow; /* NET_ALLOW_* (allow_dhcp_spoofing sets IP_SPOOFING too) */
    bool dhcp, addrconf; /* "dhcp" / "addrconf" in ips */
    bool ipv4_open; /* "dhcp" and no IPv4 allowed_ips: IPv4 sources unrestricted */
    char **ips; /* static addresses with prefix ("10.0.0.5/24", "fd00::5/64"), NULL-terminated */
    char **gateways; /* NULL-terminated */
    char **allowed; /* source addresses/CIDRs the filter admits (ips ∪ allowed_ips, normalised) */
    char **dhcp_cids; /* allowed_dhcp_cids */
} net_nic;

typedef struct net_plan {
    char uuid[37];
    char prefix[NET_IFNAMSIZ]; /* net_vm_prefix */
    size_t n;
    net_nic *nics;
} net_plan;

/* The VM's name prefix: "vn" + 10 hex digits (12 characters). */
void net_vm_prefix(const char *root, const char *uuid, char out[NET_IFNAMSIZ]);
/* The host interface name of NIC number num (≤ 999) of a VM. */
void net_host_ifname(const char *root, const char *uuid, unsigned num, char out[NET_IFNAMSIZ]);

/* Pure: the plan of vmobj's "nics" given the host's tags (no I/O).
 * `nic tag "x" does not exist` (VMERR_NOTFOUND) for a NIC whose tag is not
 * in tags; VMERR_INVALID for a NIC without mac or with a bad address. */
int net_plan_from_tags(const char *root, json_t *vmobj, const net_tag *tags, size_t ntags, net_plan **out, vm_err *err);
/* Same, reading the tags from ctx's store. */
int net_plan_build(const vm_ctx *ctx, json_t *vmobj, net_plan **out, vm_err *err);
void net_plan_free(net_plan *plan);

/* Pure: the nft script that replaces this VM's protection — the shared
 * table and base chains (idempotent), then each NIC's chains and map
 * elements.  `stale` (NULL-terminated, may be NULL) lists chains/elements of
 * this VM present in the kernel and absent from the plan, deleted in the
 * same script.  Caller frees. */
char *net_filter_ruleset(const net_plan *plan, char *const *stale);

/* Applies the VM's protection in one transaction (removes chains of NICs no
 * longer in the plan).  Call before the VM's ports exist, and again for a
 * live change (runtime hook net_update). */
int net_filter_apply(const net_plan *plan, vm_err *err);
/* Checks the script with nft's dry run (no change to the kernel). */
int net_filter_check(const char *script, vm_err *err);
/* Removes every chain and map element of the VM (idempotent). */
int net_filter_remove(const char *root, const char *uuid, vm_err *err);

/* Creates the NIC's tap (IFF_TAP|IFF_NO_PI|IFF_VNET_HDR, not persistent),
 * sets its MAC-independent link state (mtu, master = bridge, VLAN, up) and
 * returns its fd (O_CLOEXEC: the runtime clears it for QEMU).  The tap is
 * gone when the last fd closes.  The bridge must exist (net_vm_prepare). */
int net_tap_open(const net_nic *nic, int *fd, vm_err *err);
/* Creates a veth pair: host side nic->ifname, peer `peer` (a name in the
 * host namespace, moved into the container by the runtime) with nic->mac
 * and mtu.  The host side is not yet attached: net_port_attach. */
int net_veth_create(const net_nic *nic, const char *peer, vm_err *err);
/* Attaches an existing host link named nic->ifname to its bridge: mtu,
 * master, VLAN membership, up. */
int net_port_attach(const net_nic *nic, vm_err *err);

/* Before a VM starts: every tag bridge the plan uses exists and is up
 * (re-applying the tag if the host lost it, e.g. after a reboot), then
 * net_filter_apply.  No port is created here. */
int net_vm_prepare(const vm_ctx *ctx, const net_plan *plan, vm_err *err);
/* After a VM stopped or at delete: its filter and every host link still
 * named for it (a veth left by a killed runtime) are removed.  Idempotent;
 * the repair path after kill -9. */
int net_vm_teardown(const vm_ctx *ctx, const char *uuid, vm_err *err);

/* Makes the host match one tag: its bridge exists (created and owned if
 * vmadm made it), is up, has the uplink enslaved and the tag's mtu. */
int net_tag_apply(const net_tag *tag, vm_err *err);
/* net_tag_apply for every tag of ctx (boot; idempotent).  Continues past
 * a failing tag and reports the first error. */
int net_tags_apply_all(const vm_ctx *ctx, vm_err *err);

#endif
