/* libFuzzer harness: arbitrary bytes as a vmadm payload, through the whole
 * validation path create/update/validate use — json_loadb, then for every
 * brand and action vm_payload_normalize, vm_validate, vm_validate_err, and
 * the defaults/memory code create runs on a valid payload.  Must never
 * crash, leak or trip UBSan. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <jansson.h>

#include "vm/defaults.h"
#include "vm/validate.h"

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
                    } else if (!strcmp(actions[a], "update")) {
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
            if (json_is_string(v)) {
                vm_valid_mac(json_string_value(v));
                vm_valid_alias(json_string_value(v));
            }
        }
    }
    json_decref(orig);
    return 0;
}
