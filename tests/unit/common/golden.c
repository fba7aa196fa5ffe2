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

/* The differing middle of the two texts, after the common head and tail. */
static void print_diff(const char *path, const char *expected, const char *actual)
{
    size_t ne, na;
    cleanup_strv char **e = lines(expected, &ne);
    cleanup_strv char **a = lines(actual, &na);
    size_t head = 0, tail = 0;
    while (head < ne && head < na && !strcmp(e[head], a[head]))
        head++;
    while (tail < ne - head && tail < na - head && !strcmp(e[ne - 1 - tail], a[na - 1 - tail]))
        tail++;
    fprintf(stderr, "golden mismatch: %s (line %zu; VMADM_GOLDEN_UPDATE=1 rewrites it)\n",
            path, head + 1);
    fprintf(stderr, "--- %s\n+++ actual\n@@ line %zu @@\n", path, head + 1);
    if (head > 0)
        fprintf(stderr, " %s\n", e[head - 1]);
    for (size_t i = head; i < ne - tail; i++)
        fprintf(stderr, "-%s\n", e[i]);
    for (size_t i = head; i < na - tail; i++)
        fprintf(stderr, "+%s\n", a[i]);
    if (tail > 0)
        fprintf(stderr, " %s\n", e[ne - tail]);
    if (ne - tail == head && na - tail == head)
        fprintf(stderr, "(the texts differ only in a missing final newline)\n");
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
        fprintf(stderr, "golden file missing: %s (%s); VMADM_GOLDEN_UPDATE=1 creates it\n", path,
                err.msg);
        return -1;
    }
    if (len == strlen(actual) && !memcmp(expected, actual, len))
        return 0;
    print_diff(path, expected, actual);
    return -1;
}
