/* libFuzzer harness: arbitrary bytes as a vmadm payload, through the whole
 * validation path create/update/validate use — json_loadb, then for every
 * brand and action vm_payload_normalize, vm_validate, vm_validate_err, and
 * the defaults/memory code create runs on a valid payload; then the
 * planners create and update run next (NICs, routes against them, the
 * disk planner and PCI slots, with its input limits — issue 14 #7), and
 * the value checks (hostname, IPs, MACs, table escaping) on every string.
 * Must never crash, leak or trip UBSan. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/ctx.h"
#include "common/util.h"
#include "net/nictag.h"
#include "vm/cell.h"
#include "vm/defaults.h"
#include "vm/disks.h"
#include "vm/props.h"
#include "vm/update_internal.h"
#include "vm/validate.h"
#include "vm/vm_internal.h"

/* One private VMADM_ROOT for the whole run (the disk planner looks images
 * up in it: there are none, so image disks are refused cleanly). */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char fuzz_root[] = "/tmp/vmadm-fuzz.XXXXXX";

static void remove_root(void)
{
    rm_rf(fuzz_root, NULL);
}

static const vm_ctx *fuzz_ctx(void)
{
    static vm_ctx ctx;
    static int state; /* 0 not yet, 1 ready, -1 failed */
    if (!state) {
        vm_err err = VM_ERR_INIT;
        state = -1;
        if (mkdtemp(fuzz_root)) {
            atexit(remove_root);
            setenv("VMADM_ROOT", fuzz_root, 1);
            setenv("VMINFOD_ADDR", "none", 1);
            if (vm_ctx_init(&ctx, &err) == 0)
                state = 1;
            /* The tags the corpus payloads use exist on this "host". */
            net_tag admin = { .name = "admin", .bridge = "admin", .local = true };
            net_tag ext = { .name = "external", .bridge = "external", .local = true };
            if (state == 1 && (net_tag_put(&ctx, &admin, true, &err) < 0 || net_tag_put(&ctx, &ext, true, &err) < 0))
                state = -1;
        }
    }
    return state == 1 ? &ctx : NULL;
}

/* What create does after validation: NICs normalised, then the disks
 * planned (HVM brands). */
static void plan_create(const char *brand, json_t *p)
{
    json_t *nics = json_object_get(p, "nics");
    size_t i;
    json_t *n;
    json_array_foreach(nics, i, n) {
        vm_err err = VM_ERR_INIT;
        if (json_is_object(n))
            vm_nic_normalize(n, &err);
    }
    const vm_ctx *ctx = fuzz_ctx();
    if (!ctx || !vm_brand_is_hvm(brand) || !json_is_array(json_object_get(p, "disks")))
        return;
    json_t *vm = json_pack("{s:s,s:s,s:s,s:[]}", "uuid", "b1a5e2f4-5c2e-4d4e-9d0a-0123456789ab", "brand", brand,
                           "zpool", "zones", "disks");
    json_t *plan = NULL;
    vm_err err = VM_ERR_INIT;
    if (vm_disks_plan_add(ctx, vm, json_object_get(p, "disks"), &plan, &err) == 0 &&
        json_array_size(plan) > VM_MAX_DISKS)
        __builtin_trap();
    json_decref(plan);
    json_decref(vm);
}

/* What update does after validation: NICs (and set_routes against them)
 * on a VM that has two NICs and a disk. */
static void plan_update(const char *brand, json_t *p)
{
    json_t *cfg = json_pack("{s:s,s:[{s:s,s:s,s:s},{s:s,s:s}]}", "brand", brand, "nics", "mac", "02:00:00:00:00:01",
                            "ip", "10.0.0.2", "netmask", "255.255.255.0", "mac", "02:00:00:00:00:02", "ip", "dhcp");
    vm_err err = VM_ERR_INIT;
    const vm_ctx *ctx = fuzz_ctx();
    if (ctx && vm_update_plan_nics(ctx, p, cfg, &err) == 0 &&
        json_array_size(json_object_get(cfg, "nics")) > VM_MAX_NICS)
        __builtin_trap();
    json_decref(cfg);
    json_t *add = json_object_get(p, "add_disks");
    if (ctx && vm_brand_is_hvm(brand) && json_is_array(add)) {
        json_t *vm = json_pack("{s:s,s:s,s:s,s:[{s:s,s:s,s:s}]}", "uuid", "b1a5e2f4-5c2e-4d4e-9d0a-0123456789ab",
                               "brand", brand, "zpool", "zones", "disks", "path",
                               "/dev/zvol/rdsk/zones/b1a5e2f4-5c2e-4d4e-9d0a-0123456789ab/disk0", "model", "virtio",
                               "pci_slot", "0:4:0");
        json_t *plan = NULL;
        vm_err e2 = VM_ERR_INIT;
        vm_disks_plan_add(ctx, vm, add, &plan, &e2);
        json_decref(plan);
        json_decref(vm);
    }
}

/* The string checks on their own. */
static void check_string(const char *s)
{
    char mac[18];
    vm_valid_mac(s);
    vm_valid_alias(s);
    vm_valid_hostname(s);
    vm_valid_ip(s, false);
    vm_valid_ip(s, true);
    if (vm_mac_normalize(s, mac) && strlen(mac) != 17)
        __builtin_trap();
    char *e = vm_cell_escape(s);
    if (e) {
        for (const unsigned char *q = (const unsigned char *)e; *q; q++)
            if (*q < 0x20 || *q == 0x7f)
                __builtin_trap();
        free(e);
    }
    int bus, dev, fn;
    vm_pci_parse(s, &bus, &dev, &fn);
}

static const char *const brands[] = { "bhyve", "kvm", "joyent", "joyent-minimal", "lx", "bogus", NULL };
static const char *const actions[] = { "create", "receive", "update", "detonate", NULL };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t je;
    json_t *orig = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES, &je);
    if (!orig)
        return 0;
    for (size_t b = 0; brands[b]; b++) {
        for (size_t a = 0; actions[a]; a++) {
            /* normalisation changes the payload in place: a fresh copy each */
            json_t *p = json_deep_copy(orig);
            vm_err err = VM_ERR_INIT;
            if (vm_payload_normalize(p, actions[a], &err) == 0) {
                json_t *res = vm_validate(brands[b], actions[a], p);
                vm_err verr = VM_ERR_INIT;
                int r = vm_validate_err(res, brands[b], actions[a], &verr);
                if (!res && r != 0)
                    __builtin_trap();
                if (res && r == 0)
                    __builtin_trap();
                if (!res && json_is_object(p)) {
                    if (!strcmp(actions[a], "create")) {
                        vm_apply_defaults(p, "zones");
                        vm_fix_memory_create(p);
                        plan_create(brands[b], p);
                    } else if (!strcmp(actions[a], "update")) {
                        plan_update(brands[b], p);
                        json_t *cur =
                            json_pack("{s:s,s:i,s:i,s:i,s:i}", "brand", brands[b], "ram", 1024, "max_physical_memory",
                                      2304, "max_locked_memory", 2304, "max_swap", 2304);
                        vm_fix_memory_update(p, cur);
                        json_decref(cur);
                    }
                }
                json_decref(res);
            }
            json_decref(p);
        }
    }
    /* the value checks on their own, on every top-level value */
    if (json_is_object(orig)) {
        const char *k;
        json_t *v;
        json_object_foreach(orig, k, v) {
            int64_t n;
            int bo;
            vm_check_integer(v, &n);
            vm_check_boolean(v, &bo);
            if (json_is_string(v))
                check_string(json_string_value(v));
        }
        json_t *routes = json_object_get(orig, "routes");
        vm_err err = VM_ERR_INIT;
        if (json_is_object(routes))
            vm_check_routes(routes, json_object_get(orig, "nics"), &err);
    }
    json_decref(orig);
    return 0;
}
