/* The send plan of filesystem trees (lib/storage/fstree.h) on real
 * directories: what an incremental stream carries — changed entries and
 * their ancestors, hardlink groups whole, only the topmost of deleted
 * trees — and that equal trees plan nothing. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "common/util.h"
#include "storage/fstree.h"

static char base[64];

/* Runs a shell command (allocated; freed here). */
static void sh(char *cmd)
{
    assert_int_equal(system(cmd), 0);
    free(cmd);
}

/* "path path ..." of the marked entries, then "-path" of the deletes. */
static char *planned(fs_tree *t, json_t *dels)
{
    char *out = xstrdup("");
    for (size_t i = 0; i < t->len; i++) {
        if (!t->n[i].send)
            continue;
        char *n = xasprintf("%s%s%s", out, *out ? " " : "", t->n[i].path[0] ? t->n[i].path : "/");
        free(out);
        out = n;
    }
    size_t k;
    json_t *d;
    json_array_foreach(dels, k, d) {
        char *n = xasprintf("%s -%s", out, json_string_value(d));
        free(out);
        out = n;
    }
    return out;
}

static char *diff(const char *a, const char *b, size_t *changed)
{
    fs_tree ta, tb;
    vm_err err = VM_ERR_INIT;
    json_t *dels = NULL;
    assert_int_equal(fs_tree_walk(a, NULL, &ta, &err), 0);
    assert_int_equal(fs_tree_walk(b, NULL, &tb, &err), 0);
    *changed = fs_tree_diff(&ta, &tb, &dels);
    char *p = planned(&tb, dels);
    json_decref(dels);
    fs_tree_free(&ta);
    fs_tree_free(&tb);
    return p;
}

/* A fresh tree A and its exact copy B (cp -a), then `change` run in B. */
static char *plan_after(const char *change, size_t *changed)
{
    char *a = xasprintf("%s/A", base), *b = xasprintf("%s/B", base);
    sh(xasprintf("rm -rf %s %s", a, b));
    sh(xasprintf("mkdir -p %s && cd %s && mkdir -p a/x/y b c && echo 1 > a/x/y/f && echo 2 > b/g && ln b/g c/h && "
                 "echo 3 > c/k && ln -s b top && touch -h -d 2020-01-01 a/x/y/f b/g c/k top a/x/y a/x a b c .",
                 a, a));
    sh(xasprintf("cp -a %s %s", a, b));
    if (change)
        sh(xasprintf("cd %s && %s", b, change));
    char *p = diff(a, b, changed);
    free(a);
    free(b);
    return p;
}

static void test_incremental_plan(void **state)
{
    (void)state;
    strcpy(base, "/tmp/fstree.XXXXXX");
    assert_non_null(mkdtemp(base));
    size_t n;
    char *p = plan_after(NULL, &n);
    assert_int_equal(n, 0);
    assert_string_equal(p, "");
    free(p);
    /* a hardlinked file changed: both its paths, and their ancestors */
    p = plan_after("echo changed >> b/g", &n);
    assert_string_equal(p, "/ b b/g c c/h");
    free(p);
    /* a tree deleted: its top only; the parent's new mtime sends it */
    p = plan_after("rm -rf a/x", &n);
    assert_string_equal(p, "/ a -a/x");
    assert_int_equal(n, 2);
    free(p);
    /* a file replaced by a directory, a symlink retargeted, an owner */
    p = plan_after("rm c/k && mkdir c/k && ln -sfn c top && chown -h 7 b", &n);
    assert_string_equal(p, "/ b c c/k top");
    free(p);
    sh(xasprintf("rm -rf %s", base));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_incremental_plan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
