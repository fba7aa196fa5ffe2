/* Temporary: the API of net.h before its implementation lands; every call
 * fails with "not yet implemented" (removed as plan/filter/link arrive). */
#include <stdio.h>
#include <stdlib.h>
#include "common/util.h"
#include "net/net.h"

static int not_yet(const char *fn, vm_err *err)
{
    return vm_err_set(err, VMERR_UNSUPPORTED, "%s: not yet implemented", fn);
}

void net_vm_prefix(const char *root, const char *uuid, char out[NET_IFNAMSIZ])
{
    /* FNV-1a 64 over root, NUL, uuid; 40 bits shown. */
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

int net_plan_from_tags(const char *root, json_t *vmobj, const net_tag *tags, size_t ntags, net_plan **out, vm_err *err)
{
    (void)root, (void)vmobj, (void)tags, (void)ntags, (void)out;
    return not_yet(__func__, err);
}
int net_plan_build(const vm_ctx *ctx, json_t *vmobj, net_plan **out, vm_err *err)
{
    (void)ctx, (void)vmobj, (void)out;
    return not_yet(__func__, err);
}
void net_plan_free(net_plan *plan)
{
    free(plan);
}
char *net_filter_ruleset(const net_plan *plan, char *const *stale)
{
    (void)plan, (void)stale;
    return xstrdup("");
}
int net_filter_apply(const net_plan *plan, vm_err *err)
{
    (void)plan;
    return not_yet(__func__, err);
}
int net_filter_check(const char *script, vm_err *err)
{
    (void)script;
    return not_yet(__func__, err);
}
int net_filter_remove(const char *root, const char *uuid, vm_err *err)
{
    (void)root, (void)uuid;
    return not_yet(__func__, err);
}
int net_tap_open(const net_nic *nic, int *fd, vm_err *err)
{
    (void)nic, (void)fd;
    return not_yet(__func__, err);
}
int net_veth_create(const net_nic *nic, const char *peer, vm_err *err)
{
    (void)nic, (void)peer;
    return not_yet(__func__, err);
}
int net_port_attach(const net_nic *nic, vm_err *err)
{
    (void)nic;
    return not_yet(__func__, err);
}
int net_vm_prepare(const vm_ctx *ctx, const net_plan *plan, vm_err *err)
{
    (void)ctx, (void)plan;
    return not_yet(__func__, err);
}
int net_vm_teardown(const vm_ctx *ctx, const char *uuid, vm_err *err)
{
    (void)ctx, (void)uuid;
    return not_yet(__func__, err);
}
int net_tag_apply(const net_tag *tag, vm_err *err)
{
    (void)tag;
    return not_yet(__func__, err);
}
int net_tags_apply_all(const vm_ctx *ctx, vm_err *err)
{
    (void)ctx;
    return not_yet(__func__, err);
}
