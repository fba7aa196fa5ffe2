/* NIC tags (SmartOS nictagadm(8)): a name for the host network a VM NIC
 * joins.  Each tag is carried by one host bridge: an existing bridge named
 * at `nictagadm add` is used as is; a physical link gets a bridge named for
 * the tag with the link as its port; a local tag ("etherstub", add -l) is a
 * bridge with no uplink.
 *
 * Store: $VMADM_ROOT/etc/nictags.json [0600], one object
 *   {"<tag>": {"bridge": ifname, "link": ifname|"", "mac": mac|"",
 *              "mtu": N (0 = unset), "local": bool, "owned": bool}}
 * ("owned": vmadm created the bridge, so delete removes it).  Written with
 * write_json_atomic under var/lock/nictags.lock, so a reader sees the old or
 * the new store, never half of one.  This file knows the store only; making
 * the host's links match it is lib/net's applier.
 *
 * Names: 1–31 characters [A-Za-z0-9_] (SmartOS's rule); message
 * `invalid nic tag name "<name>"`. */
#ifndef VM_NET_NICTAG_H
#define VM_NET_NICTAG_H

#include <stdbool.h>
#include <jansson.h>
#include "common/ctx.h"
#include "common/err.h"

#define NET_TAG_NAME_MAX 31

typedef struct net_tag {
    char name[NET_TAG_NAME_MAX + 1];
    char bridge[16]; /* IFNAMSIZ */
    char link[16]; /* uplink, "" for a local tag or a bridge used as is */
    char mac[18]; /* uplink MAC given at add, or "" */
    int mtu; /* 0: not set */
    bool local; /* etherstub */
    bool owned; /* vmadm created the bridge */
} net_tag;

bool net_tag_name_valid(const char *name);

/* The tag of that name.  VMERR_NOTFOUND: `nic tag "<name>" does not exist`. */
int net_tag_get(const vm_ctx *ctx, const char *name, net_tag *out, vm_err *err);

/* Every tag, sorted by name; *out is a malloc'd array the caller frees. */
int net_tag_list(const vm_ctx *ctx, net_tag **out, size_t *n, vm_err *err);

/* Adds (VMERR_EXISTS: `nic tag "<name>" already exists`) or replaces a tag
 * in the store, atomically. */
int net_tag_put(const vm_ctx *ctx, const net_tag *tag, bool replace, vm_err *err);

/* Removes a tag from the store (VMERR_NOTFOUND as net_tag_get).  The caller
 * checks first that no VM uses it. */
int net_tag_remove(const vm_ctx *ctx, const char *name, vm_err *err);

/* ---- nictagadm operations (tagadm.c): validate, change the host, then the
 * store; a failure changes neither (what was created is removed). ---- */

/* MTU bounds (SmartOS): 1500–9000 for a tag with an uplink or a bridge,
 * 576–9000 for a local tag.  0 = unset. */
int net_tag_check_mtu(bool local, int mtu, vm_err *err);

/* add: dev is an interface name or a MAC (NULL only with local).  A
 * bridge is used as is; any other link becomes the port of a new bridge
 * named for the tag (the name must fit 15 characters and not be another
 * link's).  Messages: `nic tag "t" already exists`, `link "eth9" not
 * found`, `no link with MAC address m`, `link "eth0" is already a port of
 * bridge "br0"`. */
int net_tag_add(const vm_ctx *ctx, const char *name, const char *dev, bool local, int mtu, vm_err *err);
/* update: a new uplink (dev, may be NULL) and/or mtu (0: unchanged); the
 * host is changed live (bridge and uplink MTU; VM ports take the new MTU
 * at their next start).  VMERR_INVALID `nothing to update`. */
int net_tag_update(const vm_ctx *ctx, const char *name, const char *dev, int mtu, vm_err *err);
/* delete: removes the tag and the bridge vmadm created for it (its ports,
 * the uplink included, are released).  The caller checked the VMs. */
int net_tag_delete(const vm_ctx *ctx, const char *name, vm_err *err);

/* What `nictagadm list` shows for a tag: the uplink's MAC ("-" if none),
 * its link ("-"), and the type: "normal" (an uplink), "etherstub" (local),
 * "bridge" (an operator's bridge used as is). */
void net_tag_describe(const net_tag *t, char mac[18], char link[16], const char **type);

#endif
