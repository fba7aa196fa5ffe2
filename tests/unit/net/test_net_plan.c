/* lib/net pure parts: host interface names, addresses, stale chains. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/util.h"
#include "net/net.h"
#include "net/net_internal.h"

#define U1 "8b4e3f2a-1c5d-4e6f-9a0b-1c2d3e4f5a6b"
#define U2 "8b4e3f2a-1c5d-4e6f-9a0b-1c2d3e4f5a6c"

static void test_ifname(void **state)
{
    (void)state;
    char a[NET_IFNAMSIZ], b[NET_IFNAMSIZ], c[NET_IFNAMSIZ], d[NET_IFNAMSIZ], p[NET_IFNAMSIZ];
    net_host_ifname("/var/lib/vmadm", U1, 0, a);
    net_host_ifname("/var/lib/vmadm", U1, 0, b);
    assert_string_equal(a, b); /* stable */
    net_host_ifname("/var/lib/vmadm", U2, 0, c);
    assert_string_not_equal(a, c); /* per uuid */
    net_host_ifname("/tmp/root2", U1, 0, d);
    assert_string_not_equal(a, d); /* per root */
    net_host_ifname("/var/lib/vmadm", U1, 999, d);
    assert_true(strlen(d) <= 15);
    net_vm_prefix("/var/lib/vmadm", U1, p);
    assert_int_equal(strlen(p), 12);
    assert_true(str_has_prefix(a, p) && str_has_prefix(d, p));
    assert_string_equal(a + 12, "0");
}

static void test_addr(void **state)
{
    (void)state;
    net_addr a;
    assert_int_equal(net_addr_parse("10.1.2.3/16", &a), 0);
    net_addr_mask(&a);
    cleanup_free char *s = net_addr_str(&a, true);
    assert_string_equal(s, "10.1.0.0/16");
    assert_int_equal(net_addr_parse("2001:DB8::1/129", &a), -1);
    assert_int_equal(net_addr_parse("10.0.0.1/", &a), -1);
    assert_int_equal(net_addr_parse("nonsense", &a), -1);
    assert_int_equal(net_addr_parse("2001:db8::1:2/64", &a), 0);
    net_addr_mask(&a);
    cleanup_free char *s6 = net_addr_str(&a, true);
    assert_string_equal(s6, "2001:db8::/64");
}

static net_plan *plan_of(const char *nics_json)
{
    net_tag t = { .name = "external", .bridge = "external" };
    cleanup_free char *vm = xasprintf("{\"uuid\": \"%s\", \"nics\": %s}", U1, nics_json);
    cleanup_json json_t *j = json_loads(vm, 0, NULL);
    assert_non_null(j);
    net_plan *p = NULL;
    vm_err err = VM_ERR_INIT;
    if (net_plan_from_tags("/r", j, &t, 1, &p, &err) < 0)
        fail_msg("%s", err.msg);
    return p;
}

/* Chains of NICs no longer in the plan are deleted, with their map
 * elements, in the same script; the plan's own chains are replaced. */
static void test_stale(void **state)
{
    (void)state;
    net_plan *p = plan_of("[{\"interface\": \"net1\", \"mac\": \"02:00:00:00:00:01\", \"nic_tag\": \"external\"}]");
    char gone[32];
    snprintf(gone, sizeof gone, "%s0_g", p->prefix);
    char *stale[] = { gone, NULL };
    cleanup_free char *s = net_filter_ruleset(p, stale);
    cleanup_free char *del_chain = xasprintf("delete chain bridge vmadm %s\n", gone);
    cleanup_free char *del_elem = xasprintf("delete element bridge vmadm from_guest { \"%s0\" }\n", p->prefix);
    cleanup_free char *add =
        xasprintf("add element bridge vmadm from_guest { \"%s1\" : jump %s1_g }\n", p->prefix, p->prefix);
    assert_non_null(strstr(s, del_chain));
    assert_non_null(strstr(s, del_elem));
    assert_true(strstr(s, del_elem) < strstr(s, del_chain));
    assert_non_null(strstr(s, add));
    /* No accept verdict in a NIC chain: the receiving NIC's chain must run. */
    assert_null(strstr(s, " accept\n"));
    net_plan_free(p);
}

/* A NIC's number comes from its interface name, so removing net0 does not
 * rename net1's host port. */
static void test_num_from_interface(void **state)
{
    (void)state;
    net_plan *p = plan_of("[{\"interface\": \"eth3\", \"mac\": \"02:00:00:00:00:01\", \"nic_tag\": \"external\"},"
                          " {\"mac\": \"02:00:00:00:00:02\", \"nic_tag\": \"external\"}]");
    assert_int_equal(p->n, 2);
    assert_int_equal(p->nics[0].num, 1); /* no interface: its index */
    assert_string_equal(p->nics[0].interface, "net1");
    assert_int_equal(p->nics[1].num, 3);
    assert_string_equal(p->nics[1].interface, "eth3");
    net_plan_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ifname),
        cmocka_unit_test(test_addr),
        cmocka_unit_test(test_stale),
        cmocka_unit_test(test_num_from_interface),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
