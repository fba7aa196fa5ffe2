/* NoCloud seed generator (nocloud.h). */
#include "mdata/nocloud.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "mdata/codec.h"
#include "mdata/keys.h"

#define USER_SCRIPT "/var/db/mdata-user-script"
#define LEGACY_USER_DATA "/var/db/mdata-user-data"
#define PER_BOOT "/var/lib/cloud/scripts/per-boot/01_smartos_vendor_data.sh"
#define EMPTY_CONFIG "#cloud-config\n{}\n"

/* The per-boot runner of the SmartOS ds's built-in vendor-data (without
 * the operator-script, which the metadata service keeps to the host). */
static const char per_boot_script[] = "#!/bin/sh\n"
                                      "# Written by the vmadm NoCloud seed (the SmartOS datasource's vendor-data).\n"
                                      "#   user-script -> " USER_SCRIPT "\n"
                                      "for script in \"" USER_SCRIPT "\"; do\n"
                                      "    [ -x \"$script\" ] || continue\n"
                                      "    echo \"executing '$script'\" 1>&2\n"
                                      "    \"$script\"\n"
                                      "done\n";

/* One UTF-8 sequence at s (jansson strings are valid UTF-8); *cp its code
 * point; returns its length (1 for a stray byte, taken as is). */
static size_t utf8_next(const unsigned char *s, size_t len, uint32_t *cp)
{
    size_t n = s[0] < 0x80 ? 1 : s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 : 1;
    if (n > len)
        n = 1;
    *cp = n == 1 ? s[0] : (uint32_t)(s[0] & (0x7f >> n));
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            *cp = s[0];
            return 1;
        }
        *cp = *cp << 6 | (s[i] & 0x3f);
    }
    return n;
}

/* YAML 1.1 printable (what PyYAML's reader accepts), minus the line
 * breaks a flow scalar would fold. */
static bool printable(uint32_t cp)
{
    return (cp >= 0x20 && cp <= 0x7e) || (cp >= 0xa0 && cp <= 0xd7ff) ||
        (cp >= 0xe000 && cp <= 0xfffd && cp != 0xfeff) || (cp >= 0x10000 && cp <= 0x10ffff);
}

void mdata_yaml_quote(FILE *f, const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    fputc('"', f);
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t n = utf8_next(p + i, len - i, &cp);
        if (cp == '"' || cp == '\\')
            fprintf(f, "\\%c", (char)cp);
        else if (cp == '\n')
            fputs("\\n", f);
        else if (cp == '\t')
            fputs("\\t", f);
        else if (n == 1 && cp >= 0x80)
            fprintf(f, "\\x%02x", cp); /* a byte outside UTF-8 */
        else if (printable(cp) && cp != 0x2028 && cp != 0x2029)
            fwrite(p + i, 1, n, f);
        else if (cp <= 0xffff)
            fprintf(f, "\\u%04x", cp);
        else
            fprintf(f, "\\U%08x", cp);
        i += n;
    }
    fputc('"', f);
}

/* Any JSON value as a YAML flow node. */
static void yaml_node(FILE *f, json_t *v)
{
    const char *k;
    json_t *e;
    size_t i;
    bool first = true;
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        fputc('{', f);
        json_object_foreach(v, k, e) {
            fputs(first ? "" : ", ", f);
            first = false;
            mdata_yaml_quote(f, k, strlen(k));
            fputs(": ", f);
            yaml_node(f, e);
        }
        fputc('}', f);
        break;
    case JSON_ARRAY:
        fputc('[', f);
        json_array_foreach(v, i, e) {
            fputs(i ? ", " : "", f);
            yaml_node(f, e);
        }
        fputc(']', f);
        break;
    case JSON_STRING: mdata_yaml_quote(f, json_string_value(v), json_string_length(v)); break;
    default: { /* numbers, true, false, null: their JSON text is YAML */
        cleanup_free char *t = json_dumps(v, JSON_ENCODE_ANY);
        fputs(t, f);
    }
    }
}

/* prefix + the YAML of v + "\n", malloc'd. */
static char *yaml_doc(const char *prefix, json_t *v, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (!f)
        abort();
    fputs(prefix, f);
    yaml_node(f, v);
    fputc('\n', f);
    fclose(f);
    return buf;
}

static const char *cm_string(json_t *vm, const char *key)
{
    return json_string_value(json_object_get(json_object_get(vm, "customer_metadata"), key));
}

static json_t *meta_data(json_t *vm, const char *uuid)
{
    const char *host = cm_string(vm, "hostname");
    if (!host || !*host)
        host = json_string_value(json_object_get(vm, "hostname"));
    /* nocheck: these come from a JSON object already (valid UTF-8), and the
     * quoting (mdata_yaml_quote) copes with any byte anyway. */
    json_t *md = json_object();
    json_object_set_new(md, "instance-id", json_string_nocheck(uuid));
    json_object_set_new(md, "local-hostname", json_string_nocheck(host && *host ? host : uuid));
    const char *keys = cm_string(vm, "root_authorized_keys");
    if (keys) {
        json_t *list = json_array();
        cleanup_strv char **lines = strv_split(keys, "\n");
        for (char **l = lines; l && *l; l++) {
            size_t n = strlen(*l);
            while (n && ((*l)[n - 1] == '\r' || (*l)[n - 1] == ' '))
                n--;
            if (n)
                json_array_append_new(list, json_stringn_nocheck(*l, n));
        }
        json_object_set_new(md, "public-keys", list);
    }
    return md;
}

static void add_file(json_t *files, const char *path, const char *perm, const char *data, size_t len)
{
    size_t blen;
    cleanup_free char *b64 = mdata_b64_encode(data, len, &blen);
    json_array_append_new(
        files,
        json_pack("{s:s, s:s, s:s, s:s%}", "path", path, "permissions", perm, "encoding", "b64", "content", b64, blen));
}

static char *vendor_data(json_t *vm, size_t *len)
{
    json_t *cm = json_object_get(vm, "customer_metadata");
    json_t *us = json_object_get(cm, "user-script"), *ud = json_object_get(cm, "user-data");
    if (!json_is_string(us) && !json_is_string(ud)) {
        *len = strlen(EMPTY_CONFIG);
        return xstrdup(EMPTY_CONFIG);
    }
    cleanup_json json_t *files = json_array();
    if (json_is_string(us)) {
        add_file(files, USER_SCRIPT, "0700", json_string_value(us), json_string_length(us));
        add_file(files, PER_BOOT, "0755", per_boot_script, strlen(per_boot_script));
    }
    if (json_is_string(ud))
        add_file(files, LEGACY_USER_DATA, "0600", json_string_value(ud), json_string_length(ud));
    cleanup_json json_t *cfg = json_pack("{s:O}", "write_files", files);
    return yaml_doc("#cloud-config\n", cfg, len);
}

/* The keys of `from` listed in `keys`, in from's order (Python's dict
 * comprehension over nic.items()). */
static json_t *pick(json_t *from, const char *const *keys)
{
    json_t *out = json_object();
    const char *k;
    json_t *v;
    json_object_foreach(from, k, v)
        for (const char *const *w = keys; *w; w++)
            if (!strcmp(k, *w))
                json_object_set(out, k, v);
    return out;
}

/* One static address: subnet keys of the nic, the primary gateway (the
 * first of its family over all primary nics), every route. */
static json_t *static_subnet(json_t *nic, const char *ip, json_t *routes, const char *pgw[2])
{
    static const char *const subnet_keys[] = { "address",     "broadcast", "dns_nameservers", "dns_search", "metric",
                                               "pointopoint", "routes",    "scope",           "type",       NULL };
    static const char *const route_keys[] = { "network", "gateway", NULL };
    json_t *sn = pick(nic, subnet_keys);
    json_object_set_new(sn, "type", json_string("static"));
    json_object_set_new(sn, "address", json_string(ip));
    int v6 = !strchr(ip, '.');
    if (json_is_true(json_object_get(nic, "primary")) && !pgw[v6]) {
        size_t i;
        json_t *gw;
        json_array_foreach(json_object_get(nic, "gateways"), i, gw) {
            const char *g = json_string_value(gw);
            if (g && strchr(g, v6 ? ':' : '.')) {
                pgw[v6] = g;
                json_object_set_new(sn, "gateway", json_string(g));
                break;
            }
        }
    }
    json_t *ents = NULL;
    size_t i;
    json_t *r;
    json_array_foreach(routes, i, r) {
        json_t *rc = pick(r, route_keys);
        json_object_set(rc, "network", json_object_get(r, "dst"));
        if (!ents)
            ents = json_array();
        json_array_append_new(ents, rc);
    }
    if (ents)
        json_object_set_new(sn, "routes", ents);
    return sn;
}

static json_t *network_config(json_t *vm)
{
    static const char *const phys_keys[] = { "mac_address", "mtu", "name", "params", "subnets", "type", NULL };
    cleanup_json json_t *routes = NULL;
    char *rt;
    size_t rlen;
    if (mdata_get(vm, "sdc:routes", &rt, &rlen) == MDATA_R_SUCCESS)
        routes = json_loadb(rt, rlen, 0, NULL);
    free(rt);
    const char *pgw[2] = { NULL, NULL };
    json_t *config = json_array();
    size_t n;
    json_t *nic;
    json_array_foreach(json_object_get(vm, "nics"), n, nic) {
        json_t *cfg = pick(nic, phys_keys);
        json_object_set_new(cfg, "type", json_string("physical"));
        const char *ifname = json_string_value(json_object_get(nic, "interface"));
        json_object_set_new(cfg, "name", ifname ? json_string(ifname) : json_sprintf("net%zu", n));
        if (json_object_get(nic, "mac"))
            json_object_set(cfg, "mac_address", json_object_get(nic, "mac"));
        json_t *subnets = json_array();
        size_t i;
        json_t *ip;
        json_array_foreach(json_object_get(nic, "ips"), i, ip) {
            const char *s = json_string_value(ip);
            if (!s)
                continue;
            json_array_append_new(
                subnets, !strcmp(s, "dhcp") ? json_pack("{s:s}", "type", "dhcp4") : static_subnet(nic, s, routes, pgw));
        }
        json_object_set_new(cfg, "subnets", subnets);
        json_array_append_new(config, cfg);
    }
    json_t *res = json_object_get(vm, "resolvers");
    if (res && !json_is_array(res))
        res = json_pack("[O]", res);
    else
        json_incref(res);
    if (json_array_size(res)) {
        json_t *dom = json_object_get(vm, "dns_domain");
        json_t *search = json_is_string(dom) && *json_string_value(dom) ? json_pack("[O]", dom) : json_array();
        json_array_append_new(config,
                              json_pack("{s:s, s:O, s:o}", "type", "nameserver", "address", res, "search", search));
    }
    json_decref(res);
    return json_pack("{s:i, s:o}", "version", 1, "config", config);
}

static void put(mdata_seed *s, const char *name, char *data, size_t len)
{
    s->files[s->n++] = (iso9660_file){ .name = name, .data = data, .len = len };
}

int mdata_nocloud_seed(json_t *vm, mdata_seed *out, vm_err *err)
{
    *out = (mdata_seed){ 0 };
    const char *uuid = json_string_value(json_object_get(vm, "uuid"));
    if (!uuid || !uuid_valid(uuid))
        return vm_err_set(err, VMERR_INVALID, "VM object has no valid uuid");
    size_t len;
    cleanup_json json_t *md = meta_data(vm, uuid);
    char *t = yaml_doc("", md, &len);
    put(out, "meta-data", t, len);
    const char *ud = cm_string(vm, "cloud-init:user-data");
    put(out, "user-data", xstrdup(ud ? ud : EMPTY_CONFIG), ud ? strlen(ud) : strlen(EMPTY_CONFIG));
    t = vendor_data(vm, &len);
    put(out, "vendor-data", t, len);
    if (json_object_get(vm, "nics")) {
        cleanup_json json_t *nc = network_config(vm);
        t = yaml_doc("", nc, &len);
        put(out, "network-config", t, len);
    }
    return 0;
}

void mdata_seed_free(mdata_seed *s)
{
    for (size_t i = 0; i < s->n; i++)
        free((char *)s->files[i].data);
    *s = (mdata_seed){ 0 };
}

int mdata_nocloud_image(json_t *vm, time_t when, char **img, size_t *len, vm_err *err)
{
    mdata_seed s;
    if (mdata_nocloud_seed(vm, &s, err) < 0)
        return -1;
    int rc = iso9660_write(MDATA_SEED_VOLID, s.files, s.n, when, img, len, err);
    mdata_seed_free(&s);
    return rc;
}
