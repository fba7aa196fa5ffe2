/* NIC address forms (reference V20, V12): the legacy ip/netmask/gateway
 * and the newer ips/gateways arrays are both accepted and both shown. */
#include <arpa/inet.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "net/nictag.h"
#include "vm/store.h"
#include "vm/validate.h"
#include "vm/vm.h"
#include "vm/vm_internal.h"

static int mask_bits(const char *mask)
{
    struct in_addr a;
    if (inet_pton(AF_INET, mask, &a) != 1)
        return -1;
    uint32_t m = ntohl(a.s_addr);
    int bits = 0;
    while (bits < 32 && (m & (0x80000000u >> bits)))
        bits++;
    /* contiguous ones only */
    if (bits < 32 && (m << bits) != 0)
        return -1;
    return bits;
}

static void bits_mask(int bits, char out[16])
{
    uint32_t m = bits ? 0xffffffffu << (32 - bits) : 0;
    struct in_addr a = { htonl(m) };
    inet_ntop(AF_INET, &a, out, 16);
}

void vm_random_mac(char out[18])
{
    /* Locally administered unicast: bit 1 set, bit 0 clear in octet 0. */
    unsigned char b[6];
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0 || read(fd, b, sizeof b) != (ssize_t)sizeof b) {
        char u[37];
        uuid_new(u);
        for (int i = 0; i < 6; i++)
            b[i] = (unsigned char)(u[i * 5 % 36] * 31 + u[(i * 7 + 3) % 36]);
    }
    if (fd >= 0)
        close(fd);
    b[0] = (unsigned char)((b[0] & 0xfe) | 0x02);
    snprintf(out, 18, "%02x:%02x:%02x:%02x:%02x:%02x", b[0], b[1], b[2], b[3], b[4], b[5]);
}

int vm_nic_normalize(json_t *nic, vm_err *err)
{
    /* MACs are stored as six two-digit lower-case octets (C38). */
    const char *mac = json_string_value(json_object_get(nic, "mac"));
    char m[18];
    if (mac && vm_mac_normalize(mac, m))
        json_object_set_new(nic, "mac", json_string(m));
    const char *ip = json_string_value(json_object_get(nic, "ip"));
    const char *mask = json_string_value(json_object_get(nic, "netmask"));
    const char *gw = json_string_value(json_object_get(nic, "gateway"));
    json_t *ips = json_object_get(nic, "ips");
    cleanup_free char *js = json_compact(nic);

    if (ip && strcmp(ip, "dhcp") && strcmp(ip, "addrconf") && !vm_valid_ip(ip, false))
        return vm_err_set(err, VMERR_INVALID, "Invalid IP for NIC: %s", js);
    if (mask && mask_bits(mask) < 0)
        return vm_err_set(err, VMERR_INVALID, "Specified netmask value is invalid: %s", mask);
    if (gw && !vm_valid_ip(gw, false))
        return vm_err_set(err, VMERR_INVALID, "Static gateways must be IPv4 addresses: %s", gw);
    if (ips) {
        size_t i;
        json_t *e;
        if (json_array_size(ips) > 20)
            return vm_err_set(err, VMERR_INVALID, "nic.*.ips contains %zu addresses, but is limited to 20",
                              json_array_size(ips));
        json_array_foreach(ips, i, e) {
            const char *s = json_string_value(e);
            if (!s || (strcmp(s, "dhcp") && strcmp(s, "addrconf") && !vm_valid_ip(s, true)))
                return vm_err_set(err, VMERR_INVALID, "Invalid IP for NIC: %s", js);
        }
    }
    /* Legacy form → ips/gateways. */
    if (ip && !ips) {
        if (!strcmp(ip, "dhcp") || !strcmp(ip, "addrconf")) {
            json_object_set_new(nic, "ips", json_pack("[s]", ip));
        } else {
            if (!mask)
                return vm_err_set(err, VMERR_INVALID, "Missing .netmask option for NIC: %s", js);
            cleanup_free char *cidr = xasprintf("%s/%d", ip, mask_bits(mask));
            json_object_set_new(nic, "ips", json_pack("[s]", cidr));
        }
    } else if (ips && !ip) {
        /* Representative ip/netmask: the first IPv4 address (or dhcp). */
        size_t i;
        json_t *e;
        json_array_foreach(ips, i, e) {
            const char *s = json_string_value(e);
            if (!strcmp(s, "dhcp")) {
                json_object_set_new(nic, "ip", json_string("dhcp"));
                break;
            }
            struct in_addr a4;
            char buf[64];
            snprintf(buf, sizeof buf, "%s", s);
            char *slash = strchr(buf, '/');
            if (slash)
                *slash = '\0';
            if (inet_pton(AF_INET, buf, &a4) == 1) {
                json_object_set_new(nic, "ip", json_string(buf));
                if (slash) {
                    char m[16];
                    int64_t bits = 32;
                    parse_i64(slash + 1, &bits);
                    bits_mask((int)bits, m);
                    json_object_set_new(nic, "netmask", json_string(m));
                }
                break;
            }
        }
    }
    if (gw && !json_object_get(nic, "gateways"))
        json_object_set_new(nic, "gateways", json_pack("[s]", gw));
    else if (!gw && json_array_size(json_object_get(nic, "gateways")) > 0) {
        const char *g0 = json_string_value(json_array_get(json_object_get(nic, "gateways"), 0));
        if (g0)
            json_object_set_new(nic, "gateway", json_string(g0));
    }
    return 0;
}

#define MAX_ALLOWED_IPS 13
#define MAX_DHCP_CIDS 20

/* A DHCP client id: hex digits (optionally 0x-prefixed), whole bytes,
 * 2 to 255 of them (RFC 2132 option 61). */
static bool valid_cid(const char *s)
{
    if (str_has_prefix(s, "0x"))
        s += 2;
    size_t n = strlen(s);
    if (n < 4 || n > 510 || n % 2)
        return false;
    for (size_t i = 0; i < n; i++)
        if (hex_digit(s[i]) < 0)
            return false;
    return true;
}

static bool valid_ip_or_cidr(const char *s)
{
    return vm_valid_ip(s, true);
}

/* nic[key]: an array of at most max strings each `valid`; messages
 * "invalid <key>: <JSON>" and "Maximum of <max> <key> per nic". */
static int check_list(json_t *nic, const char *key, size_t max, bool (*valid)(const char *), vm_err *err)
{
    json_t *l = json_object_get(nic, key);
    if (!l)
        return 0;
    cleanup_free char *js = json_compact(l);
    if (!json_is_array(l))
        return vm_err_set(err, VMERR_INVALID, "invalid %s: %s", key, js);
    if (json_array_size(l) > max)
        return vm_err_set(err, VMERR_INVALID, "Maximum of %zu %s per nic", max, key);
    size_t i;
    json_t *e;
    json_array_foreach(l, i, e)
        if (!json_is_string(e) || !valid(json_string_value(e)))
            return vm_err_set(err, VMERR_INVALID, "invalid %s: %s", key, js);
    return 0;
}

int vm_nic_check(const vm_ctx *ctx, json_t *nic, vm_err *err)
{
    const char *tag = json_string_value(json_object_get(nic, "nic_tag"));
    if (!tag || !net_tag_name_valid(tag)) {
        cleanup_free char *js = json_compact(nic);
        return vm_err_set(err, VMERR_INVALID, "invalid or missing .nic_tag option for NIC: %s", js);
    }
    net_tag t;
    vm_err e2 = VM_ERR_INIT;
    if (net_tag_get(ctx, tag, &t, &e2) < 0) {
        if (e2.code != VMERR_NOTFOUND) {
            *err = e2;
            return -1;
        }
        return vm_err_set(err, VMERR_INVALID, "Invalid nic tag \"%s\"", tag);
    }
    return check_list(nic, "allowed_ips", MAX_ALLOWED_IPS, valid_ip_or_cidr, err) < 0 ||
            check_list(nic, "allowed_dhcp_cids", MAX_DHCP_CIDS, valid_cid, err) < 0
        ? -1
        : 0;
}

void vm_nic_free_interface(json_t *nics, const char *prefix, char out[16])
{
    for (unsigned n = 0;; n++) {
        snprintf(out, 16, "%s%u", prefix, n);
        size_t i;
        json_t *e;
        bool used = false;
        json_array_foreach(nics, i, e)
            used |= !strcmp(json_string_value(json_object_get(e, "interface")) ?: "", out);
        if (!used)
            return;
    }
}

const char *vm_nic_interface_prefix(const char *brand)
{
    return brand && !strcmp(brand, "lx") ? "eth" : "net";
}

int vm_nictag_users(const vm_ctx *ctx, const char *tag, json_t **uuids, vm_err *err)
{
    cleanup_json json_t *all = NULL;
    if (vm_store_list(ctx, &all, err) < 0)
        return -1;
    *uuids = json_array();
    size_t i;
    json_t *u;
    json_array_foreach(all, i, u) {
        cleanup_json json_t *cfg = NULL;
        vm_err e2 = VM_ERR_INIT;
        if (vm_store_load_config(ctx, json_string_value(u), &cfg, &e2) < 0)
            continue; /* deleted meanwhile */
        size_t j;
        json_t *n;
        json_array_foreach(json_object_get(cfg, "nics"), j, n)
            if (!strcmp(json_string_value(json_object_get(n, "nic_tag")) ?: "", tag)) {
                json_array_append(*uuids, u);
                break;
            }
    }
    return 0;
}
