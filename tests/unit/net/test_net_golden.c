/* Golden plans and nft rulesets: for each fixture golden/<name>.json
 * ({"tags": [net_tag as JSON], "vm": VM object}) the plan summary and the
 * nft script must equal golden/<name>.nft byte for byte, or the error must
 * equal golden/<name>.err (names starting "err-").  VMADM_GOLDEN_UPDATE=1
 * rewrites them.  As root, every script is also checked by nft itself
 * (nft_ctx_set_dry_run: parsed and evaluated, nothing changes). */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "../common/golden.h"
#include "common/util.h"
#include "net/net.h"

#define GOLDEN_ROOT "/vmadm-golden"

static const char *golden_dir;

static net_tag *load_tags(json_t *a, size_t *n)
{
    net_tag *t = xcalloc(json_array_size(a) + 1, sizeof *t);
    size_t i;
    json_t *e;
    json_array_foreach(a, i, e) {
        snprintf(t[i].name, sizeof t[i].name, "%s", json_string_value(json_object_get(e, "name")));
        snprintf(t[i].bridge, sizeof t[i].bridge, "%s", json_string_value(json_object_get(e, "bridge")));
        const char *l = json_string_value(json_object_get(e, "link"));
        snprintf(t[i].link, sizeof t[i].link, "%s", l ? l : "");
        t[i].mtu = (int)json_integer_value(json_object_get(e, "mtu"));
    }
    *n = json_array_size(a);
    return t;
}

static void summary(FILE *f, const net_plan *p)
{
    fprintf(f, "# plan: VM %s prefix %s\n", p->uuid, p->prefix);
    for (size_t i = 0; i < p->n; i++) {
        const net_nic *n = &p->nics[i];
        cleanup_free char *ips = strv_join(n->ips, ",");
        cleanup_free char *allowed = strv_join(n->allowed, ",");
        cleanup_free char *gws = strv_join(n->gateways, ",");
        fprintf(f,
                "# %s port=%s tag=%s bridge=%s uplink=%s mac=%s model=%s vlan=%d mtu=%d primary=%d allow=0x%x "
                "dhcp=%d addrconf=%d ipv4_open=%d\n#   ips=%s gateways=%s allowed=%s\n",
                n->interface, n->ifname, n->tag, n->bridge, n->uplink, n->mac, n->model, n->vlan_id, n->mtu, n->primary,
                n->allow, n->dhcp, n->addrconf, n->ipv4_open, ips ? ips : "", gws ? gws : "", allowed ? allowed : "");
    }
}

static void check_one(const char *name)
{
    cleanup_free char *in = xasprintf("%s/%s.json", golden_dir, name);
    bool fails = str_has_prefix(name, "err-");
    cleanup_free char *out = xasprintf("%s/%s.%s", golden_dir, name, fails ? "err" : "nft");
    json_error_t je;
    cleanup_json json_t *fx = json_load_file(in, JSON_PRESERVE_ORDER, &je);
    if (!fx)
        fail_msg("%s: %s (line %d)", in, je.text, je.line);
    size_t nt;
    cleanup_free net_tag *tags = load_tags(json_object_get(fx, "tags"), &nt);
    net_plan *p = NULL;
    vm_err err = VM_ERR_INIT;
    int rc = net_plan_from_tags(GOLDEN_ROOT, json_object_get(fx, "vm"), tags, nt, &p, &err);
    if ((rc < 0) != fails)
        fail_msg("%s: expected %s, got %s", name, fails ? "an error" : "success", rc < 0 ? err.msg : "a plan");
    cleanup_free char *text = NULL;
    if (rc < 0) {
        text = xasprintf("%s\n", err.msg);
    } else {
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        summary(f, p);
        cleanup_free char *script = net_filter_ruleset(p, NULL);
        fputs(script, f);
        fclose(f);
        if (geteuid() == 0 && net_filter_check(script, &err) < 0)
            fail_msg("%s: nft refuses the script: %s", name, err.msg);
        net_plan_free(p);
    }
    if (golden_check(out, text) < 0)
        fail_msg("%s differs from the generated plan/ruleset (diff above)", out);
}

static void test_all(void **state)
{
    (void)state;
    struct dirent **ents;
    int n = scandir(golden_dir, &ents, NULL, alphasort);
    assert_true(n > 0);
    int cases = 0;
    for (int i = 0; i < n; i++) {
        char *name = ents[i]->d_name;
        if (str_has_suffix(name, ".json")) {
            name[strlen(name) - 5] = '\0';
            check_one(name);
            cases++;
        }
        free(ents[i]);
    }
    free(ents);
    assert_true(cases >= 20);
}

int main(int argc, char **argv)
{
    golden_dir = argc > 1 ? argv[1] : "golden";
    const struct CMUnitTest tests[] = { cmocka_unit_test(test_all) };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
