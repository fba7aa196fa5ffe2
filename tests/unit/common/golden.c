#include "golden.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

bool golden_update_mode(void)
{
    const char *u = getenv("VMADM_GOLDEN_UPDATE");
    return u && !strcmp(u, "1");
}

void golden_replace(char **s, const char *from, const char *to)
{
    size_t fl = strlen(from);
    if (!fl)
        return;
    char *out = xstrdup(""), *p = *s, *hit;
    while ((hit = strstr(p, from))) {
        char *n = xasprintf("%s%.*s%s", out, (int)(hit - p), p, to);
        free(out);
        out = n;
        p = hit + fl;
    }
    char *n = xasprintf("%s%s", out, p);
    free(out);
    free(*s);
    *s = n;
}

static char **lines(const char *text, size_t *n)
{
    char **v = xcalloc(strlen(text) + 2, sizeof *v);
    size_t k = 0;
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        v[k++] = xstrndup(p, len);
        p += len + (nl ? 1 : 0);
    }
    *n = k;
    return v;
}

/* A line diff (longest common subsequence) with one line of context. */
static void print_diff(const char *path, const char *expected, const char *actual)
{
    size_t ne, na;
    cleanup_strv char **e = lines(expected, &ne);
    cleanup_strv char **a = lines(actual, &na);
    /* lcs[i][j]: common lines of e[i..] and a[j..] */
    size_t w = na + 1;
    cleanup_free size_t *lcs = xcalloc((ne + 1) * w, sizeof *lcs);
    for (size_t i = ne; i-- > 0;)
        for (size_t j = na; j-- > 0;)
            lcs[i * w + j] = !strcmp(e[i], a[j])            ? lcs[(i + 1) * w + j + 1] + 1
                : lcs[(i + 1) * w + j] > lcs[i * w + j + 1] ? lcs[(i + 1) * w + j]
                                                            : lcs[i * w + j + 1];
    fprintf(stderr, "golden mismatch: %s (VMADM_GOLDEN_UPDATE=1 rewrites it)\n--- %s\n+++ actual\n", path, path);
    size_t i = 0, j = 0;
    bool changed = false, any = false; /* the previous line / any line was a change */
    while (i < ne || j < na) {
        if (i < ne && j < na && !strcmp(e[i], a[j])) {
            bool next_changes = i + 1 < ne && j + 1 < na && strcmp(e[i + 1], a[j + 1]);
            if (changed || next_changes || (i + 1 < ne) != (j + 1 < na))
                fprintf(stderr, "  %zu  %s\n", i + 1, e[i]);
            changed = false;
            i++, j++;
        } else if (i < ne && (j == na || lcs[(i + 1) * w + j] >= lcs[i * w + j + 1])) {
            fprintf(stderr, "- %zu  %s\n", i + 1, e[i]);
            i++;
            changed = any = true;
        } else {
            fprintf(stderr, "+ %zu  %s\n", j + 1, a[j]);
            j++;
            changed = any = true;
        }
    }
    if (!any)
        fprintf(stderr, "(the texts differ only in the final newline)\n");
}

int golden_check(const char *path, const char *actual)
{
    vm_err err = VM_ERR_INIT;
    if (golden_update_mode()) {
        if (write_file_atomic(path, actual, strlen(actual), 0644, &err) < 0) {
            fprintf(stderr, "cannot update %s: %s\n", path, err.msg);
            return -1;
        }
        fprintf(stderr, "VMADM_GOLDEN_UPDATE=1: rewrote %s\n", path);
        return 0;
    }
    cleanup_free char *expected = NULL;
    size_t len;
    if (read_file(path, &expected, &len, &err) < 0) {
        fprintf(stderr, "golden file missing: %s (%s); VMADM_GOLDEN_UPDATE=1 creates it\n", path, err.msg);
        return -1;
    }
    if (len == strlen(actual) && !memcmp(expected, actual, len))
        return 0;
    print_diff(path, expected, actual);
    return -1;
}
