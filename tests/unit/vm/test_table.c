/* The rows of vmadm list (lib/vm/table): the flat-array parser that reads
 * vminfod's /vms?fields= answer without jansson must give exactly the cells
 * jansson-built objects give, and refuse what it cannot read (the caller
 * then falls back to whole objects). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "vm/list.h"
#include "vm/table.h"

static const char *const cols[] = { "uuid", "alias", "ram", "state", "autoboot", "cpu_cap", "x", NULL };

/* Cells from our parser and from jansson + vm_table_add_json agree. */
static void assert_same_as_jansson(const char *text)
{
    vm_table *a = vm_table_new(cols), *b = vm_table_new(cols);
    vm_err err = VM_ERR_INIT;
    assert_int_equal(vm_table_add_text(a, text, strlen(text), &err), 0);
    json_t *j = json_loads(text, 0, NULL);
    assert_non_null(j);
    vm_table_add_json(b, j);
    assert_int_equal(vm_table_nrows(a), vm_table_nrows(b));
    for (size_t r = 0; r < vm_table_nrows(a); r++)
        for (size_t c = 0; c < vm_table_ncols(a); c++) {
            const vm_cell *x = vm_table_cell(a, r, c), *y = vm_table_cell(b, r, c);
            assert_int_equal(x->kind, y->kind);
            if (!x->text || !y->text)
                assert_ptr_equal(x->text, y->text);
            else
                assert_string_equal(x->text, y->text);
            if (x->kind == VM_CELL_NUM)
                assert_true(x->num == y->num);
        }
    json_decref(j);
    vm_table_free(a);
    vm_table_free(b);
}

static void test_parse_matches_jansson(void **state)
{
    (void)state;
    assert_same_as_jansson("[]");
    assert_same_as_jansson(" [ { } , {} ] ");
    assert_same_as_jansson("[{\"uuid\":\"u1\",\"alias\":\"web\",\"ram\":1024,\"state\":\"running\","
                           "\"autoboot\":true,\"cpu_cap\":null,\"other\":7},"
                           "{\"uuid\":\"u2\",\"autoboot\":false,\"ram\":-0,\"cpu_cap\":1.5e2}]");
    /* escapes, non-ASCII and a surrogate pair (U+1F600) */
    assert_same_as_jansson("[{\"alias\":\"a\\\"b\\\\c\\/d\\b\\f\\n\\r\\t\\u00e9\\u20ac\\ud83d\\ude00 \xc3\xa9\"}]");
    /* reals as %g, big integers as they are */
    assert_same_as_jansson("[{\"ram\":0.1,\"cpu_cap\":1e-7,\"x\":9223372036854775807},{\"ram\":-12.5E+3}]");
    /* a key twice: the last wins, as with jansson */
    assert_same_as_jansson("[{\"alias\":\"one\",\"alias\":\"two\"}]");
    /* keys with escapes reach the right column */
    assert_same_as_jansson("[{\"\\u0061lias\":\"escaped key\"}]");
}

static void test_parse_refuses(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "{}",
        "[",
        "[{]",
        "[{\"a\":1,}]",
        "[{\"alias\":{\"nested\":1}}]",
        "[{\"alias\":[1]}]",
        "[{}] x",
        "[{\"alias\":\"\\x\"}]",
        "[{\"alias\":\"\\ud800\"}]",
        "[{\"alias\":\"\\udc00\"}]",
        "[{\"alias\":\"a\nb\"}]",
        "[{\"alias\":\"unterminated}]",
        "[{\"ram\":01}]",
        "[{\"ram\":1.}]",
        "[{\"ram\":-}]",
        "[{\"ram\":99999999999999999999}]",
        "[{\"ram\":tru}]",
        "[{\"alias\":\"\\u0000\"}]",
        "[{\"ram\":1e999}]",
        "[{\"alias\":\"\xff\"}]",
        "[{\"alias\":\"\xc0\xaf\"}]",
        "[{\"alias\":\"\xed\xa0\x80\"}]",
        "[{\"alias\":\"\xe2\x82\"}]",
        NULL,
    };
    for (size_t i = 0; bad[i]; i++) {
        vm_table *t = vm_table_new(cols);
        vm_err err = VM_ERR_INIT;
        const char *ok = "[{\"uuid\":\"kept\"}]";
        assert_int_equal(vm_table_add_text(t, ok, strlen(ok), &err), 0);
        if (vm_table_add_text(t, bad[i], strlen(bad[i]), &err) == 0)
            fail_msg("accepted: %s", bad[i]);
        assert_int_equal(err.code, VMERR_INVALID);
        /* nothing of the refused text was added */
        assert_int_equal(vm_table_nrows(t), 1);
        assert_string_equal(vm_table_cell(t, 0, 0)->text, "kept");
        vm_table_free(t);
    }
}

static void test_columns_and_order(void **state)
{
    (void)state;
    static const char *const dup[] = { "ram", "alias", "ram", NULL };
    vm_table *t = vm_table_new(dup);
    vm_err e0 = VM_ERR_INIT;
    /* no rows yet: sorting, filtering and rendering an empty table */
    assert_int_equal(vm_list_sort_table(t, "ram", &e0), 0);
    assert_int_equal(vm_table_ncols(t), 2);
    assert_int_equal(vm_table_col(t, "alias"), 1);
    assert_int_equal(vm_table_col(t, "zz"), -1);
    vm_err err = VM_ERR_INIT;
    const char *text = "[{\"ram\":3},{\"ram\":1},{\"alias\":\"x\"},{\"ram\":2}]";
    assert_int_equal(vm_table_add_text(t, text, strlen(text), &err), 0);
    bool keep[] = { true, false, true, true };
    vm_table_keep(t, keep);
    assert_int_equal(vm_table_nrows(t), 3);
    assert_string_equal(vm_table_cell(t, 1, 1)->text, "x"); /* the third row, kept */
    assert_int_equal(vm_list_sort_table(t, "ram", &err), 0);
    /* 2, 3, then the row without ram (missing sorts last) */
    assert_string_equal(vm_table_cell(t, 0, 0)->text, "2");
    assert_string_equal(vm_table_cell(t, 1, 0)->text, "3");
    assert_int_equal(vm_table_cell(t, 2, 0)->kind, VM_CELL_MISSING);
    assert_int_equal(vm_list_sort_table(t, "-ram", &err), 0);
    assert_string_equal(vm_table_cell(t, 0, 0)->text, "3");
    assert_int_equal(vm_table_cell(t, 2, 0)->kind, VM_CELL_MISSING);
    vm_table_free(t);
}

/* The same VMs rendered from objects and from a projection text: the same
 * bytes, for the orders, sorts and filters vmadm users reach for. */
static void test_projection_renders_like_objects(void **state)
{
    (void)state;
    const char *vms =
        "[{\"uuid\":\"cccccccc-0000-4000-8000-000000000003\",\"brand\":\"bhyve\",\"ram\":1024,"
        "\"max_physical_memory\":2304,\"state\":\"stopped\",\"alias\":\"web0\",\"autoboot\":false,\"cpu_cap\":0},"
        "{\"uuid\":\"aaaaaaaa-0000-4000-8000-000000000001\",\"brand\":\"joyent\",\"max_physical_memory\":256,"
        "\"state\":\"running\",\"alias\":\"MyWebServer\",\"autoboot\":true},"
        "{\"uuid\":\"bbbbbbbb-0000-4000-8000-000000000002\",\"brand\":\"lx\",\"max_physical_memory\":4096,"
        "\"state\":\"stopped\",\"autoboot\":true,\"cpu_cap\":null},"
        "{\"uuid\":\"dddddddd-0000-4000-8000-000000000004\",\"brand\":\"kvm\",\"ram\":256,"
        "\"max_physical_memory\":1280,\"state\":\"stopped\",\"alias\":\"db1\",\"autoboot\":false}]";
    static const struct {
        const char *order, *sort, *filter;
        bool parsable;
    } cases[] = {
        { NULL, NULL, NULL, false },
        { NULL, NULL, NULL, true },
        { "uuid,alias,autoboot,cpu_cap", "-autoboot,alias", NULL, false },
        { "alias,type,ram", "type,-ram", "autoboot=true", false },
        { "uuid,ram", NULL, "type=OS", true },
        { "alias,state", "state,alias", "alias=~^(web|db)", false },
        { "uuid", "cpu_cap", "autoboot=false", false },
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        vm_list_opts o = { cases[i].order, cases[i].sort, cases[i].parsable, -1 };
        char *filters[2] = { (char *)cases[i].filter, NULL };
        vm_err err = VM_ERR_INIT;

        json_t *objs = json_loads(vms, 0, NULL);
        size_t k;
        json_t *vm;
        json_array_foreach(objs, k, vm)
            vm_list_add_fake_fields(vm);
        json_t *sel = vm_list_filter(objs, filters, &err);
        char *want = vm_list_render(sel, &o, &err);
        assert_non_null(want);

        char **c = vm_list_columns(o.order, o.sort);
        size_t n = strv_len(c);
        c = xrealloc(c, (n + 6) * sizeof *c);
        const char *more[] = { "brand", "max_physical_memory", "ram", "type", "autoboot", NULL };
        for (size_t m = 0; more[m]; m++)
            c[n++] = xstrdup(more[m]);
        c[n] = NULL;
        vm_table *t = vm_table_new((const char *const *)c);
        assert_int_equal(vm_table_add_text(t, vms, strlen(vms), &err), 0);
        vm_list_add_fake_fields_table(t);
        assert_int_equal(vm_list_filter_table(t, filters, &err), 0);
        char *got = vm_list_render_table(t, &o, &err);
        assert_non_null(got);
        assert_string_equal(got, want);
        free(got);
        free(want);
        vm_table_free(t);
        strv_free(c);
        json_decref(sel);
        json_decref(objs);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_matches_jansson),
        cmocka_unit_test(test_parse_refuses),
        cmocka_unit_test(test_columns_and_order),
        cmocka_unit_test(test_projection_renders_like_objects),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
