/* The plan: a VM object's nics + the host's nic tags → one net_nic per NIC
 * (see net.h).  Pure: no I/O except net_plan_build reading the tag store. */
#include <arpa/inet.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "net/net.h"
#include "net/net_internal.h"

void net_vm_prefix(const char *root, const char *uuid, char out[NET_IFNAMSIZ])
{
    /* FNV-1a 64 over root, NUL, uuid; the top 40 bits shown. */
    uint64_t h = 0xcbf29ce484222325ull;
    for (const char *s = root;; s++) {
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
        if (!*s)
            break;
    }
    for (const char *s = uuid; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    snprintf(out, NET_IFNAMSIZ, "vn%010llx", (unsigned long long)(h >> 24));
}

void net_host_ifname(const char *root, const char *uuid, unsigned num, char out[NET_IFNAMSIZ])
{
    char p[NET_IFNAMSIZ];
    net_vm_prefix(root, uuid, p);
    snprintf(out, NET_IFNAMSIZ, "%.12s%u", p, num % 1000);
}

int net_addr_parse(const char *s, net_addr *a)
{
    char buf[64];
    memset(a, 0, sizeof *a);
    if (!s || strlen(s) >= sizeof buf)
        return -1;
    snprintf(buf, sizeof buf, "%s", s);
    char *slash = strchr(buf, '/');
    if (slash)
        *slash++ = '\0';
    if (inet_pton(AF_INET, buf, a->b) == 1) {
        a->v6 = false;
        a->len = 32;
    } else if (inet_pton(AF_INET6, buf, a->b) == 1) {
        a->v6 = true;
        a->len = 128;
    } else {
        return -1;
    }
    if (slash) {
        char *end;
        long l = strtol(slash, &end, 10);
        if (!*slash || *end || l < 0 || l > a->len)
            return -1;
        a->len = (int)l;
    }
    return 0;
}

void net_addr_mask(net_addr *a)
{
    int bytes = a->v6 ? 16 : 4;
    for (int i = 0; i < bytes; i++) {
        int keep = a->len - i * 8;
        if (keep <= 0)
            a->b[i] = 0;
        else if (keep < 8)
            a->b[i] &= (unsigned char)(0xff << (8 - keep));
    }
}

char *net_addr_str(const net_addr *a, bool with_len)
{
    char buf[INET6_ADDRSTRLEN];
    inet_ntop(a->v6 ? AF_INET6 : AF_INET, a->b, buf, sizeof buf);
    if (with_len && a->len != (a->v6 ? 128 : 32))
        return xasprintf("%s/%d", buf, a->len);
    return xstrdup(buf);
}

/* b inside a (same family, a's prefix covers b's). */
static bool addr_covers(const net_addr *a, const net_addr *b)
{
    if (a->v6 != b->v6 || a->len > b->len)
        return false;
    net_addr t = *b;
    t.len = a->len;
    net_addr_mask(&t);
    return memcmp(t.b, a->b, 16) == 0;
}

/* Adds s to the allowed list unless covered; drops entries it covers. */
static void allowed_add(net_addr **v, size_t *n, net_addr a)
{
    net_addr_mask(&a);
    for (size_t i = 0; i < *n; i++)
        if (addr_covers(&(*v)[i], &a))
            return;
    size_t k = 0;
    for (size_t i = 0; i < *n; i++)
        if (!addr_covers(&a, &(*v)[i]))
            (*v)[k++] = (*v)[i];
    *v = xrealloc(*v, (k + 1) * sizeof **v);
    (*v)[k++] = a;
    *n = k;
}

static char **strv_push(char **v, char *s)
{
    size_t n = strv_len(v);
    v = xrealloc(v, (n + 2) * sizeof *v);
    v[n] = s;
    v[n + 1] = NULL;
    return v;
}

static void copy_str(char *dst, size_t cap, json_t *v)
{
    const char *s = json_string_value(v);
    snprintf(dst, cap, "%s", s ? s : "");
}

static const net_tag *find_tag(const net_tag *tags, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(tags[i].name, name))
            return &tags[i];
    return NULL;
}

static unsigned nic_num(json_t *nic, size_t index)
{
    const char *ifn = json_string_value(json_object_get(nic, "interface"));
    if (ifn) {
        size_t l = strlen(ifn), k = l;
        while (k > 0 && isdigit((unsigned char)ifn[k - 1]))
            k--;
        if (k < l && l - k <= 3)
            return (unsigned)strtoul(ifn + k, NULL, 10);
    }
    return (unsigned)index;
}

static const struct {
    const char *key;
    unsigned bit;
} allow_keys[] = {
    { "allow_ip_spoofing", NET_ALLOW_IP_SPOOFING },
    { "allow_mac_spoofing", NET_ALLOW_MAC_SPOOFING },
    { "allow_dhcp_spoofing", NET_ALLOW_DHCP_SPOOFING | NET_ALLOW_IP_SPOOFING },
    { "allow_restricted_traffic", NET_ALLOW_RESTRICTED },
    { "allow_unfiltered_promisc", NET_ALLOW_UNFILTERED_PROMISC },
};

/* ips, allowed_ips → nic->ips and nic->allowed. */
static int plan_addrs(json_t *j, net_nic *nic, const char *desc, vm_err *err)
{
    size_t i, na = 0;
    json_t *e;
    cleanup_free net_addr *allowed = NULL;
    json_array_foreach(json_object_get(j, "ips"), i, e) {
        const char *s = json_string_value(e);
        net_addr a;
        if (s && !strcmp(s, "dhcp")) {
            nic->dhcp = true;
            continue;
        }
        if (s && !strcmp(s, "addrconf")) {
            nic->addrconf = true;
            continue;
        }
        if (net_addr_parse(s, &a) < 0)
            return vm_err_set(err, VMERR_INVALID, "Invalid IP for NIC: %s", desc);
        nic->ips = strv_push(nic->ips, net_addr_str(&a, true));
        a.len = a.v6 ? 128 : 32;
        allowed_add(&allowed, &na, a);
    }
    bool v4_allowed = false;
    json_array_foreach(json_object_get(j, "allowed_ips"), i, e) {
        net_addr a;
        if (net_addr_parse(json_string_value(e), &a) < 0)
            return vm_err_set(err, VMERR_INVALID, "Invalid allowed_ips entry for NIC: %s", desc);
        v4_allowed |= !a.v6;
        allowed_add(&allowed, &na, a);
    }
    nic->ipv4_open = nic->dhcp && !v4_allowed;
    nic->allowed = xcalloc(na + 1, sizeof *nic->allowed);
    for (i = 0; i < na; i++)
        nic->allowed[i] = net_addr_str(&allowed[i], true);
    json_array_foreach(json_object_get(j, "gateways"), i, e) {
        if (json_string_value(e))
            nic->gateways = strv_push(nic->gateways, xstrdup(json_string_value(e)));
    }
    json_array_foreach(json_object_get(j, "allowed_dhcp_cids"), i, e) {
        if (json_string_value(e))
            nic->dhcp_cids = strv_push(nic->dhcp_cids, xstrdup(json_string_value(e)));
    }
    return 0;
}

static int plan_nic(const char *root, const char *uuid, const char *driver, json_t *j, size_t index,
                    const net_tag *tags, size_t ntags, net_nic *nic, vm_err *err)
{
    cleanup_free char *desc = json_compact(j);
    const char *tagname = json_string_value(json_object_get(j, "nic_tag"));
    if (!tagname)
        return vm_err_set(err, VMERR_INVALID, "missing .nic_tag option for NIC: %s", desc);
    const net_tag *t = find_tag(tags, ntags, tagname);
    if (!t)
        return vm_err_set(err, VMERR_NOTFOUND, "nic tag \"%s\" does not exist", tagname);
    nic->num = nic_num(j, index);
    copy_str(nic->interface, sizeof nic->interface, json_object_get(j, "interface"));
    if (!nic->interface[0])
        snprintf(nic->interface, sizeof nic->interface, "net%u", nic->num);
    net_host_ifname(root, uuid, nic->num, nic->ifname);
    snprintf(nic->tag, sizeof nic->tag, "%s", t->name);
    snprintf(nic->bridge, sizeof nic->bridge, "%s", t->bridge);
    snprintf(nic->uplink, sizeof nic->uplink, "%s", t->link);
    copy_str(nic->mac, sizeof nic->mac, json_object_get(j, "mac"));
    unsigned char m[6];
    if (net_mac_parse(nic->mac, m) < 0)
        return vm_err_set(err, VMERR_INVALID, "invalid or missing .mac for NIC: %s", desc);
    net_mac_str(m, nic->mac);
    const char *model = json_string_value(json_object_get(j, "model"));
    snprintf(nic->model, sizeof nic->model, "%s", model ? model : driver ? driver : "virtio");
    nic->vlan_id = (int)json_integer_value(json_object_get(j, "vlan_id"));
    if (nic->vlan_id < 0 || nic->vlan_id > 4095)
        return vm_err_set(err, VMERR_INVALID, "invalid vlan_id %d for NIC: %s", nic->vlan_id, desc);
    nic->mtu = (int)json_integer_value(json_object_get(j, "mtu"));
    if (!nic->mtu)
        nic->mtu = t->mtu;
    nic->primary = json_is_true(json_object_get(j, "primary"));
    for (size_t k = 0; k < sizeof allow_keys / sizeof allow_keys[0]; k++)
        if (json_is_true(json_object_get(j, allow_keys[k].key)))
            nic->allow |= allow_keys[k].bit;
    return plan_addrs(j, nic, desc, err);
}

static int by_num(const void *a, const void *b)
{
    const net_nic *x = a, *y = b;
    return x->num < y->num ? -1 : x->num > y->num;
}

int net_plan_from_tags(const char *root, json_t *vmobj, const net_tag *tags, size_t ntags, net_plan **out, vm_err *err)
{
    const char *uuid = json_string_value(json_object_get(vmobj, "uuid"));
    if (!uuid || strlen(uuid) != 36)
        return vm_err_set(err, VMERR_INVALID, "VM object has no uuid");
    json_t *nics = json_object_get(vmobj, "nics");
    const char *driver = json_string_value(json_object_get(vmobj, "nic_driver"));
    net_plan *p = xcalloc(1, sizeof *p);
    snprintf(p->uuid, sizeof p->uuid, "%s", uuid);
    net_vm_prefix(root, uuid, p->prefix);
    p->nics = xcalloc(json_array_size(nics) + 1, sizeof *p->nics);
    size_t i;
    json_t *j;
    json_array_foreach(nics, i, j) {
        if (plan_nic(root, uuid, driver, j, i, tags, ntags, &p->nics[p->n++], err) < 0) {
            net_plan_free(p);
            return -1;
        }
        for (size_t k = 0; k + 1 < p->n; k++)
            if (p->nics[k].num == p->nics[i].num) {
                net_plan_free(p);
                return vm_err_set(err, VMERR_INVALID, "two NICs share interface number %u", p->nics[i].num);
            }
    }
    qsort(p->nics, p->n, sizeof *p->nics, by_num);
    *out = p;
    return 0;
}

int net_plan_build(const vm_ctx *ctx, json_t *vmobj, net_plan **out, vm_err *err)
{
    cleanup_free net_tag *tags = NULL;
    size_t n = 0;
    if (net_tag_list(ctx, &tags, &n, err) < 0)
        return -1;
    return net_plan_from_tags(ctx->root, vmobj, tags, n, out, err);
}

void net_plan_free(net_plan *plan)
{
    if (!plan)
        return;
    for (size_t i = 0; i < plan->n; i++) {
        strv_free(plan->nics[i].ips);
        strv_free(plan->nics[i].gateways);
        strv_free(plan->nics[i].allowed);
        strv_free(plan->nics[i].dhcp_cids);
    }
    free(plan->nics);
    free(plan);
}

int net_mac_parse(const char *s, unsigned char m[6])
{
    unsigned v[6];
    char tail;
    if (!s || sscanf(s, "%x:%x:%x:%x:%x:%x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &tail) != 6)
        return -1;
    for (int i = 0; i < 6; i++) {
        if (v[i] > 0xff)
            return -1;
        m[i] = (unsigned char)v[i];
    }
    return 0;
}

void net_mac_str(const unsigned char m[6], char out[18])
{
    snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}
