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

#endif
