/* lib/mdata key policy: what a guest reads from its own VM object and what
 * its PUT/DELETE become, as a golden transcript (golden/vm.json →
 * golden/keys.txt; VMADM_GOLDEN_UPDATE=1 rewrites it). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../common/golden.h"
#include "common/util.h"
#include "mdata/keys.h"

static const char *golden_dir;

static json_t *load_vm(void)
{
    cleanup_free char *path = xasprintf("%s/vm.json", golden_dir);
    json_t *vm = json_load_file(path, JSON_DECODE_ANY, NULL);
    assert_non_null(vm);
    return vm;
}

/* out + a + b + c (out is consumed). */
static char *append(char *out, const char *a, const char *b, const char *c)
{
    char *n = xasprintf("%s%s%s%s", out, a, b, c);
    free(out);
    return n;
}

static void test_golden_keys(void **state)
{
    (void)state;
    cleanup_json json_t *vm = load_vm();
    static const char *const gets[] = { "sdc:uuid",
                                        "sdc:hostname",
                                        "sdc:alias",
                                        "sdc:datacenter_name",
                                        "sdc:ram",
                                        "sdc:autoboot",
                                        "sdc:nics",
                                        "sdc:resolvers",
                                        "sdc:routes",
                                        "sdc:tmpfs",
                                        "sdc:tags.role",
                                        "sdc:tags.tier",
                                        "sdc:tags.none",
                                        "sdc:nics.0.mac",
                                        "sdc:nics.1.ip",
                                        "sdc:nics.x",
                                        "sdc:nics.5",
                                        "sdc:tags",
                                        "sdc:operator-script",
                                        "sdc:vnc_password",
                                        "sdc:internal_metadata.private",
                                        "sdc:internal_metadata",
                                        "sdc:",
                                        "sdc:..",
                                        "sdc:customer_metadata.hostname",
                                        "hostname",
                                        "root_authorized_keys",
                                        "user-script",
                                        "missing",
                                        "cust_pw",
                                        "root_pw",
                                        "acme:token",
                                        "acme:x",
                                        "private",
                                        "other:ns",
                                        NULL };
    static const char *const rnames[] = { "SUCCESS", "NOTFOUND", "FAILURE" };
    cleanup_free char *out = xstrdup("");
    for (const char *const *k = gets; *k; k++) {
        char *v;
        size_t n;
        int r = mdata_get(vm, *k, &v, &n);
        assert_true(r >= 0 && r <= 2);
        assert_true(!v || strlen(v) == n);
        out = append(out, "GET ", *k, " -> ");
        out = append(out, rnames[r], v ? " " : "", v ? v : "");
        out = append(out, "\n", "", "");
        free(v);
    }
    cleanup_free char *keys = mdata_keys(vm);
    out = append(out, "KEYS -> ", keys, "\n");

    static const char *const puts[][2] = { { "role", "db" },        { "role", "" },       { "role", NULL },
                                           { "sdc:hostname", "x" }, { "sdc:uuid", NULL }, { "acme:token", "x" },
                                           { "other:key", "x" },    { "new_pw", "pw" },   { "operator-script", "x" } };
    for (size_t i = 0; i < sizeof puts / sizeof puts[0]; i++) {
        char why[MDATA_WHY_MAX];
        cleanup_json json_t *p = mdata_update_payload(vm, puts[i][0], puts[i][1], why);
        cleanup_free char *txt = p ? json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
        out = append(out, puts[i][1] && *puts[i][1] ? "PUT " : "DELETE ", puts[i][0], " -> ");
        out = append(out, p ? txt : "refused: ", p ? "" : why, "\n");
    }
    cleanup_free char *path = xasprintf("%s/keys.txt", golden_dir);
    assert_int_equal(golden_check(path, out), 0);
}

/* Only the VM's own object is consulted: an empty object answers nothing,
 * and KEYS of a VM without metadata is empty. */
static void test_empty_vm(void **state)
{
    (void)state;
    cleanup_json json_t *vm = json_pack("{s:s, s:{}}", "uuid", "u", "customer_metadata");
    char *v;
    size_t n;
    assert_int_equal(mdata_get(vm, "sdc:nics", &v, &n), MDATA_R_NOTFOUND);
    assert_int_equal(mdata_get(vm, "x", &v, &n), MDATA_R_NOTFOUND);
    assert_int_equal(mdata_get(vm, "x_pw", &v, &n), MDATA_R_FAILURE);
    free(v);
    cleanup_free char *keys = mdata_keys(vm);
    assert_string_equal(keys, "");
}

int main(int argc, char **argv)
{
    golden_dir = argc > 1 ? argv[1] : "golden";
    const struct CMUnitTest tests[] = { cmocka_unit_test(test_golden_keys), cmocka_unit_test(test_empty_vm) };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
