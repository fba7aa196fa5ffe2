/* lib/net internals shared by its files (not for other libraries). */
#ifndef VM_NET_INTERNAL_H
#define VM_NET_INTERNAL_H

#include <stdbool.h>
#include "common/err.h"
#include "net/net.h"

#define NET_TABLE "bridge vmadm"

/* An address with prefix length (IPv4 uses b[0..3]). */
typedef struct net_addr {
    bool v6;
    int len;
    unsigned char b[16];
} net_addr;

/* "a", "a/len" (IPv4 or IPv6); -1 if invalid. */
int net_addr_parse(const char *s, net_addr *a);
/* Clears the host bits beyond len. */
void net_addr_mask(net_addr *a);
/* "a" or "a/len" (len shown when with_len and not a host address). */
char *net_addr_str(const net_addr *a, bool with_len);

int net_mac_parse(const char *s, unsigned char m[6]);
void net_mac_str(const unsigned char m[6], char out[18]);

/* ---- nft (filter.c) ---- */
/* net_filter_ruleset, the shared table's base chains included or not (they
 * are left alone once present: refilling them costs every apply a flush). */
char *net_filter_script(const net_plan *plan, char *const *stale, bool with_base);
/* The script removing the chains named (and their map elements); rules.c. */
char *net_filter_removal(char *const *chains);
/* Runs an nft script as one transaction; dry: check only.  On failure the
 * message carries nft's error text. */
int net_nft_run(const char *script, bool dry, vm_err *err);
/* Names of chains in table bridge vmadm starting with prefix ("" for all;
 * NULL-terminated, caller frees; an absent table gives an empty list). */
int net_nft_chains(const char *prefix, char ***out, vm_err *err);

/* ---- links (link.c, rtnetlink) ---- */
/* ifindex of a link, 0 if there is none. */
unsigned net_link_index(const char *name);
/* Creates a bridge; exists: no-op.  VLAN filtering is turned on by the
 * first port with a vlan_id (net_port_attach). */
int net_link_bridge_add(const char *name, vm_err *err);
int net_link_set(const char *name, int mtu, const char *master, bool up, vm_err *err);
/* The port's VLAN: vid as PVID untagged (VLAN 1 membership dropped);
 * tagged: a tagged member only (an uplink). */
int net_link_vlan(const char *port, int vid, bool tagged, vm_err *err);
/* Releases a link from its bridge (no master). */
int net_link_release(const char *name, vm_err *err);
/* The link's MAC ("" if none); -1 if there is no such link. */
int net_link_mac(const char *name, char out[18]);
int net_link_set_mac(const char *name, const unsigned char mac[6], vm_err *err);
int net_link_del(const char *name, vm_err *err);
/* The link whose MAC is mac (out: its name); VMERR_NOTFOUND. */
int net_link_by_mac(const char *mac, char out[NET_IFNAMSIZ], vm_err *err);
/* Names of links starting with prefix (NULL-terminated, caller frees). */
int net_link_names(const char *prefix, char ***out, vm_err *err);
int net_link_mtu(const char *name);
/* "bridge", "veth", "tun", ... or "" (a physical link). */
int net_link_kind(const char *name, char kind[32], vm_err *err);
/* The link's master's name ("" if none). */
int net_link_master(const char *name, char out[NET_IFNAMSIZ]);

#endif
