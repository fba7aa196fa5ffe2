#include "vm/recover.h"

static vm_intent *intents, **tail = &intents;

void vm_intent_register(vm_intent *h)
{
    h->next = NULL;
    *tail = h;
    tail = &h->next;
}

bool vm_has_intents(json_t *cfg)
{
    for (vm_intent *h = intents; h; h = h->next)
        if (json_object_get(cfg, h->key))
            return true;
    return false;
}

int vm_recover_intents(const vm_ctx *ctx, const char *uuid, json_t *cfg, vm_err *err)
{
    for (vm_intent *h = intents; h; h = h->next)
        if (json_object_get(cfg, h->key) && h->recover(ctx, uuid, cfg, err) < 0)
            return -1;
    return 0;
}
