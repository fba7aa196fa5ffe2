/* vmadm update: add_nics, update_nics, remove_nics (C21); at most
 * VM_MAX_NICS in all, and set_routes checked against the NICs that result. */
#include <string.h>
#include <strings.h>

#include "common/units.h"
#include "common/util.h"
#include "vm/props.h"
#include "vm/update_internal.h"
#include "vm/validate.h"
#include "vm/vm_internal.h"

int vm_update_plan_nics(const vm_ctx *ctx, json_t *payload, json_t *cfg, vm_err *err)
{
    json_t *nics = json_object_get(cfg, "nics");
    if (!nics) {
        nics = json_array();
        json_object_set_new(cfg, "nics", nics);
    }
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(payload, "remove_nics"), i, v) {
        size_t j;
        json_t *n;
        bool found = false;
        json_array_foreach(nics, j, n)
            if (!strcasecmp(json_string_value(json_object_get(n, "mac")) ?: "", json_string_value(v))) {
                json_array_remove(nics, j);
                found = true;
                break;
            }
        if (!found)
            return vm_err_set(err, VMERR_INVALID, "remove_nics: no NIC with mac %s", json_string_value(v));
    }
    json_array_foreach(json_object_get(payload, "update_nics"), i, v) {
        const char *mac = json_string_value(json_object_get(v, "mac"));
        size_t j;
        json_t *n, *hit = NULL;
        json_array_foreach(nics, j, n)
            if (mac && !strcasecmp(json_string_value(json_object_get(n, "mac")) ?: "", mac))
                hit = n;
        if (!hit)
            return vm_err_set(err, VMERR_INVALID, "update_nics: no NIC with mac %s", mac ? mac : "(none)");
        json_object_update(hit, v);
        if (vm_nic_check(ctx, hit, err) < 0)
            return -1;
    }
    size_t total = json_array_size(nics) + json_array_size(json_object_get(payload, "add_nics"));
    const char *brand = json_string_value(json_object_get(cfg, "brand"));
    int max = vm_brand_is_hvm(brand) ? VM_MAX_HVM_NICS : VM_MAX_NICS;
    if (total > (size_t)max)
        return vm_err_set(err, VMERR_INVALID, "VM would have %zu NICs, but is limited to %d", total, max);
    json_array_foreach(json_object_get(payload, "add_nics"), i, v) {
        json_t *n = json_dup(v);
        if (vm_nic_check(ctx, n, err) < 0 || vm_nic_normalize(n, err) < 0) {
            json_decref(n);
            return -1;
        }
        if (!json_object_get(n, "mac")) {
            char mac[18];
            vm_random_mac(mac);
            json_object_set_new(n, "mac", json_string(mac));
        }
        if (!json_object_get(n, "interface")) {
            char ifn[16];
            vm_nic_free_interface(nics, vm_nic_interface_prefix(brand), ifn);
            json_object_set_new(n, "interface", json_string(ifn));
        }
        if (vm_brand_is_hvm(brand) && !json_object_get(n, "model")) {
            const char *drv = json_string_value(json_object_get(cfg, "nic_driver"));
            json_t *first = json_array_get(nics, 0);
            if (!drv && first)
                drv = json_string_value(json_object_get(first, "model"));
            if (!drv) {
                cleanup_free char *s = json_compact(v);
                json_decref(n);
                return vm_err_set(err, VMERR_INVALID, "missing .model option for NIC: %s", s);
            }
            json_object_set_new(n, "model", json_string(drv));
        }
        size_t j;
        json_t *o;
        json_array_foreach(nics, j, o)
            if (!strcasecmp(json_string_value(json_object_get(o, "mac")) ?: "",
                            json_string_value(json_object_get(n, "mac")))) {
                json_decref(n);
                return vm_err_set(err, VMERR_INVALID, "Cannot add multiple NICs with the same MAC: %s",
                                  json_string_value(json_object_get(o, "mac")));
            }
        json_array_append_new(nics, n);
    }
    /* Routes through "nics[N]" name a NIC the VM will have (V12). */
    json_t *routes = json_object_get(payload, "set_routes");
    return json_is_object(routes) ? vm_check_routes(routes, nics, err) : 0;
}

/* Keys whose change a running VM's filter takes at once. */
static const char *const live_keys[] = { "allow_dhcp_spoofing",
                                         "allow_ip_spoofing",
                                         "allow_mac_spoofing",
                                         "allow_restricted_traffic",
                                         "allow_unfiltered_promisc",
                                         "allowed_dhcp_cids",
                                         "allowed_ips",
                                         "ip",
                                         "ips",
                                         "netmask",
                                         NULL };

static bool is_live_key(const char *k)
{
    for (size_t i = 0; live_keys[i]; i++)
        if (!strcmp(live_keys[i], k))
            return true;
    return false;
}

static json_t *nic_by_mac(json_t *nics, const char *mac)
{
    size_t i;
    json_t *n;
    json_array_foreach(nics, i, n)
        if (mac && !strcasecmp(json_string_value(json_object_get(n, "mac")) ?: "", mac))
            return n;
    return NULL;
}

static void note_key(json_t *keys, const char *k)
{
    size_t i;
    json_t *e;
    json_array_foreach(keys, i, e)
        if (!strcmp(json_string_value(e), k))
            return;
    json_array_append_new(keys, json_string(k));
}

/* Keys of a and b whose values differ, noted as live or restart. */
static unsigned diff_nic(json_t *a, json_t *b, json_t *restart)
{
    unsigned r = 0;
    json_t *both[2] = { a, b };
    for (int side = 0; side < 2; side++) {
        const char *k;
        json_t *v;
        json_object_foreach(both[side], k, v) {
            if (json_equal(v, json_object_get(both[!side], k)))
                continue;
            if (is_live_key(k))
                r |= NIC_CHANGE_LIVE;
            else {
                r |= NIC_CHANGE_RESTART;
                note_key(restart, k);
            }
        }
    }
    return r;
}

unsigned vm_nics_change(json_t *old_nics, json_t *new_nics, char **what)
{
    cleanup_json json_t *restart = json_array();
    unsigned r = 0;
    size_t i;
    json_t *n;
    json_array_foreach(new_nics, i, n) {
        json_t *o = nic_by_mac(old_nics, json_string_value(json_object_get(n, "mac")));
        if (!o) {
            r |= NIC_CHANGE_RESTART;
            note_key(restart, "added NICs");
        } else
            r |= diff_nic(o, n, restart);
    }
    json_array_foreach(old_nics, i, n)
        if (!nic_by_mac(new_nics, json_string_value(json_object_get(n, "mac")))) {
            r |= NIC_CHANGE_RESTART;
            note_key(restart, "removed NICs");
        }
    char **v = xcalloc(json_array_size(restart) + 1, sizeof *v);
    json_array_foreach(restart, i, n)
        v[i] = (char *)json_string_value(n);
    *what = strv_join(v, ", ");
    free(v);
    return r;
}
