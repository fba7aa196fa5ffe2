/* Recovery registry: interrupted operations are finished or undone in one
 * place, and a new kind of operation adds a file, not a case here.
 *
 * Two levels, each with its own commit points:
 *  - the store's (store.h): create staging, hidden delete and the update
 *    journal, repaired by vm_store_repair() / vm_store_recover();
 *  - intents: an operation with several irreversible steps (reprovision's
 *    swap, a snapshot rollback over several disks) records "_<kind>" in
 *    vm.json before its first step and removes it after the last.  Its
 *    file registers a handler for that key with VM_INTENT(); recovery runs
 *    every handler whose key is present, in registration order, holding
 *    the VM's lock: at the next command that takes the lock
 *    (vm_load_locked), or when a reader meets an intent whose owner is gone
 *    (vmobj).  A handler finishes or undoes its operation, removes its key
 *    from cfg and vm.json, and is idempotent (it may run again after a
 *    crash of its own).
 *
 * Registration happens before main() (a constructor in the operation's own
 * file); lib/vm is linked whole, so every registered kind is in every
 * program that reads VMs. */
#ifndef VM_RECOVER_H
#define VM_RECOVER_H

#include <stdbool.h>
#include <jansson.h>
#include "common/ctx.h"
#include "common/err.h"

typedef struct vm_intent {
    const char *key; /* vm.json key, "_<kind>" */
    /* Caller holds the VM lock; cfg is the VM's vm.json (updated in place). */
    int (*recover)(const vm_ctx *ctx, const char *uuid, json_t *cfg, vm_err *err);
    struct vm_intent *next;
} vm_intent;

void vm_intent_register(vm_intent *h);

#define VM_INTENT(name, key_, fn) \
    static vm_intent name##_intent = { .key = (key_), .recover = (fn) }; \
    __attribute__((constructor)) static void name##_intent_register(void) \
    { \
        vm_intent_register(&name##_intent); \
    }

/* Any registered intent recorded in cfg. */
bool vm_has_intents(json_t *cfg);
/* Runs the handlers of every intent recorded in cfg; caller holds the lock. */
int vm_recover_intents(const vm_ctx *ctx, const char *uuid, json_t *cfg, vm_err *err);

#endif
