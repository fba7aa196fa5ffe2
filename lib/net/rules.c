/* The nft script of a VM's protection (see net.h for the rule groups).
 * Pure: text from the plan, no kernel access. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "net/net.h"
#include "net/net_internal.h"

/* The shared table and its fixed base chains; safe to repeat (add is
 * idempotent, the base chains are flushed and refilled in the same
 * transaction, so they never hold a rule twice). */
static void base(FILE *f)
{
    static const char *const hooks[] = { "input", "forward", "output" };
    fputs("add table " NET_TABLE "\n"
          "add map " NET_TABLE " from_guest { type ifname : verdict; }\n"
          "add map " NET_TABLE " to_guest { type ifname : verdict; }\n",
          f);
    for (size_t i = 0; i < 3; i++)
        fprintf(f,
                "add chain " NET_TABLE " %s { type filter hook %s priority -200; policy accept; }\n"
                "flush chain " NET_TABLE " %s\n",
                hooks[i], hooks[i], hooks[i]);
    fputs("add rule " NET_TABLE " input iifname vmap @from_guest\n"
          "add rule " NET_TABLE " forward iifname vmap @from_guest\n"
          "add rule " NET_TABLE " forward oifname vmap @to_guest\n"
          "add rule " NET_TABLE " output oifname vmap @to_guest\n",
          f);
}

/* Removes one chain "<port>_g"/"<port>_t" and its map element, whether or
 * not the element exists (add-then-delete in one transaction). */
static void remove_chain(FILE *f, const char *chain)
{
    size_t l = strlen(chain);
    if (l < 3 || chain[l - 2] != '_' || (chain[l - 1] != 'g' && chain[l - 1] != 't'))
        return;
    const char *map = chain[l - 1] == 'g' ? "from_guest" : "to_guest";
    fprintf(f, "add chain " NET_TABLE " %s\n", chain);
    fprintf(f, "add element " NET_TABLE " %s { \"%.*s\" : jump %s }\n", map, (int)(l - 2), chain, chain);
    fprintf(f, "delete element " NET_TABLE " %s { \"%.*s\" }\n", map, (int)(l - 2), chain);
    fprintf(f, "delete chain " NET_TABLE " %s\n", chain);
}

static void mac_hex(const char *mac, char out[15])
{
    unsigned char m[6] = { 0 };
    net_mac_parse(mac, m);
    snprintf(out, 15, "0x%02x%02x%02x%02x%02x%02x", m[0], m[1], m[2], m[3], m[4], m[5]);
}

/* The EUI-64 interface id of a MAC: "ff:fe" inserted, U/L bit flipped. */
static void eui64(const char *mac, char out[40])
{
    unsigned char m[6] = { 0 };
    net_mac_parse(mac, m);
    snprintf(out, 40, "%x:%x:%x:%x", (m[0] ^ 2) << 8 | m[1], m[2] << 8 | 0xff, 0xfe00 | m[3], m[4] << 8 | m[5]);
}

/* A MAC-form DHCP client id ("[0x][01]<12 hex>", colons allowed) → "0x<12 hex>". */
static bool cid_mac(const char *cid, char out[15])
{
    char hex[32];
    size_t n = 0;
    if (!strncmp(cid, "0x", 2))
        cid += 2;
    for (; *cid && n < sizeof hex - 1; cid++) {
        if (*cid == ':' || *cid == '-')
            continue;
        if (!strchr("0123456789abcdefABCDEF", *cid))
            return false;
        hex[n++] = *cid;
    }
    hex[n] = '\0';
    const char *h = hex;
    if (n == 14 && !strncmp(hex, "01", 2))
        h += 2;
    else if (n != 12)
        return false;
    snprintf(out, 15, "0x%.12s", h);
    for (char *p = out; *p; p++)
        if (*p >= 'A' && *p <= 'F')
            *p = (char)(*p - 'A' + 'a');
    return true;
}

/* "{ a, b }" of the allowed addresses of one family, plus `extra` first. */
static char *addr_set(const net_nic *nic, bool v6, const char *extra, size_t *count)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    *count = 0;
    fputs("{ ", f);
    if (extra) {
        fputs(extra, f);
        (*count)++;
    }
    for (char **a = nic->allowed; a && *a; a++) {
        if ((strchr(*a, ':') != NULL) != v6)
            continue;
        fprintf(f, "%s%s", *count ? ", " : "", *a);
        (*count)++;
    }
    fputs(" }", f);
    fclose(f);
    return buf;
}

static void rules_ip(FILE *f, const char *r, const net_nic *nic)
{
    size_t n;
    char id[40];
    eui64(nic->mac, id);
    if (!nic->ipv4_open) {
        fprintf(f, "%sip saddr 0.0.0.0 ip daddr 255.255.255.255 udp sport 68 udp dport 67 return\n", r);
        cleanup_free char *arp = addr_set(nic, false, "0.0.0.0", &n);
        fprintf(f, "%sarp saddr ip != %s drop\n", r, arp);
        cleanup_free char *v4 = addr_set(nic, false, NULL, &n);
        if (n)
            fprintf(f, "%sip saddr != %s drop\n", r, v4);
        else
            fprintf(f, "%sether type ip drop\n", r);
    }
    fprintf(f,
            "%sip6 saddr :: icmpv6 type { nd-neighbor-solicit, nd-router-solicit, mld-listener-report, "
            "mld2-listener-report } return\n",
            r);
    fprintf(f, "%sip6 saddr fe80::/10 udp sport 546 udp dport 547 return\n", r);
    fprintf(f, "%sip6 saddr fe80::/10 icmpv6 type nd-router-solicit return\n", r);
    if (nic->addrconf)
        fprintf(f, "%sip6 saddr & ::ffff:ffff:ffff:ffff == ::%s return\n", r, id);
    cleanup_free char *ll = xasprintf("fe80::%s", id);
    cleanup_free char *v6 = addr_set(nic, true, ll, &n);
    fprintf(f, "%sip6 saddr != %s drop\n", r, v6);
}

static void rules_nic(FILE *f, const net_nic *nic)
{
    char mhex[15];
    mac_hex(nic->mac, mhex);
    cleanup_free char *g = xasprintf("add rule " NET_TABLE " %s_g ", nic->ifname);
    cleanup_free char *t = xasprintf("add rule " NET_TABLE " %s_t ", nic->ifname);
    fprintf(f, "# %s %s %s tag %s\n", nic->interface, nic->ifname, nic->mac, nic->tag);
    for (int k = 0; k < 2; k++)
        fprintf(f, "add chain " NET_TABLE " %s_%c\nflush chain " NET_TABLE " %s_%c\n", nic->ifname, "gt"[k],
                nic -> ifname, "gt"[k]);
    if (!(nic->allow & NET_ALLOW_MAC_SPOOFING)) {
        fprintf(f, "%sether saddr != %s drop\n", g, nic->mac);
        fprintf(f, "%sarp saddr ether != %s drop\n", g, nic->mac);
        fprintf(f, "%sicmpv6 type nd-neighbor-advert @nh,528,48 != %s drop\n", g, mhex);
    }
    if (!(nic->allow & NET_ALLOW_RESTRICTED)) {
        fprintf(f, "%sether type != { arp, ip, ip6 } drop\n", g);
        fprintf(f, "%sicmpv6 type nd-router-advert drop\n", g);
    }
    if (!(nic->allow & NET_ALLOW_DHCP_SPOOFING)) {
        fprintf(f, "%sudp sport { 67, 547 } drop\n", g);
        fprintf(f, "%sudp dport 67 @th,288,48 != { %s", g, mhex);
        for (char **c = nic->dhcp_cids; c && *c; c++) {
            char h[15];
            if (cid_mac(*c, h) && strcmp(h, mhex))
                fprintf(f, ", %s", h);
        }
        fputs(" } drop\n", f);
    }
    if (!(nic->allow & NET_ALLOW_IP_SPOOFING))
        rules_ip(f, g, nic);
    if (!(nic->allow & (NET_ALLOW_UNFILTERED_PROMISC | NET_ALLOW_MAC_SPOOFING)))
        fprintf(f, "%sether daddr != %s @ll,7,1 0 drop\n", t, nic->mac);
    fprintf(f, "add element " NET_TABLE " from_guest { \"%s\" : jump %s_g }\n", nic->ifname, nic->ifname);
    fprintf(f, "add element " NET_TABLE " to_guest { \"%s\" : jump %s_t }\n", nic->ifname, nic->ifname);
}

char *net_filter_ruleset(const net_plan *plan, char *const *stale)
{
    return net_filter_script(plan, stale, true);
}

char *net_filter_script(const net_plan *plan, char *const *stale, bool with_base)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    fprintf(f, "# vmadm: VM %s\n", plan->uuid);
    if (with_base)
        base(f);
    for (char *const *s = stale; s && *s; s++)
        remove_chain(f, *s);
    for (size_t i = 0; i < plan->n; i++)
        rules_nic(f, &plan->nics[i]);
    fclose(f);
    return buf;
}

/* The script removing every chain of the VM named in chains. */
char *net_filter_removal(char *const *chains)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    for (char *const *s = chains; s && *s; s++)
        remove_chain(f, *s);
    fclose(f);
    return buf;
}
