/* Tables of manifests for imgadm list and avail: a field by dotted path
 * ("files.0.size") or a computed one, columns sized to their widest cell,
 * rows sorted on -s fields. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "imgadm.h"

char *imgadm_field_text(json_t *m, const char *field)
{
    const char *p = json_string_value(json_object_get(m, "published_at"));
    if (strcmp(field, "pub") == 0 || strcmp(field, "published_date") == 0)
        return p ? xstrndup(p, 10) : xstrdup("-");
    if (strcmp(field, "published") == 0 && p) { /* published_at without the milliseconds */
        const char *dot = strchr(p, '.');
        return dot ? xasprintf("%.*sZ", (int)(dot - p), p) : xstrdup(p);
    }
    if (strcmp(field, "size") == 0)
        field = "files.0.size";
    cleanup_strv char **parts = strv_split(field, ".");
    json_t *v = m;
    for (size_t i = 0; parts[i] && v; i++) {
        char *end;
        long idx = strtol(parts[i], &end, 10);
        if (json_is_array(v) && *end == 0)
            v = json_array_get(v, (size_t)idx);
        else
            v = json_object_get(v, parts[i]);
    }
    if (!v || json_is_null(v))
        return xstrdup("-");
    if (json_is_string(v))
        return xstrdup(json_string_value(v));
    if (json_is_integer(v))
        return xasprintf("%lld", (long long)json_integer_value(v));
    if (json_is_true(v))
        return xstrdup("true");
    if (json_is_false(v))
        return xstrdup("false");
    return json_compact(v);
}

static const char *sort_fields;

/* Numbers compare as numbers, the rest as text; "-field" reverses. */
static int row_cmp(const void *a, const void *b)
{
    json_t *ra = *(json_t *const *)a, *rb = *(json_t *const *)b;
    cleanup_strv char **keys = strv_split(sort_fields, ",");
    for (size_t i = 0; keys[i]; i++) {
        const char *k = keys[i];
        int sign = 1;
        if (*k == '-') {
            sign = -1;
            k++;
        }
        cleanup_free char *x = imgadm_field_text(ra, k);
        cleanup_free char *y = imgadm_field_text(rb, k);
        int64_t nx, ny;
        int c;
        if (parse_i64(x, &nx) && parse_i64(y, &ny))
            c = nx < ny ? -1 : nx > ny;
        else
            c = strcmp(x, y);
        if (c)
            return sign * c;
    }
    return 0;
}

int imgadm_print_table(json_t *rows, const char *fields, const char *sort, int no_header)
{
    cleanup_strv char **cols = strv_split(fields, ",");
    size_t nc = strv_len(cols), nr = json_array_size(rows);
    if (nc == 0)
        return imgadm_usage_error("%s", "-o needs at least one field");
    json_t **order = xcalloc(nr + 1, sizeof(json_t *));
    for (size_t r = 0; r < nr; r++)
        order[r] = json_array_get(rows, r);
    if (sort && *sort) {
        sort_fields = sort;
        qsort(order, nr, sizeof(json_t *), row_cmp);
    }
    char ***cells = xcalloc(nr + 1, sizeof(char **));
    size_t *w = xcalloc(nc, sizeof(size_t));
    cells[0] = xcalloc(nc, sizeof(char *));
    for (size_t k = 0; k < nc; k++) {
        cells[0][k] = xstrdup(cols[k]);
        for (char *p = cells[0][k]; *p; p++)
            *p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
        if (!no_header)
            w[k] = strlen(cells[0][k]);
    }
    for (size_t r = 0; r < nr; r++) {
        cells[r + 1] = xcalloc(nc, sizeof(char *));
        for (size_t k = 0; k < nc; k++) {
            cells[r + 1][k] = imgadm_field_text(order[r], cols[k]);
            size_t l = strlen(cells[r + 1][k]);
            if (l > w[k])
                w[k] = l;
        }
    }
    for (size_t r = no_header ? 1 : 0; r <= nr; r++)
        for (size_t k = 0; k < nc; k++) {
            if (k + 1 < nc)
                printf("%-*s  ", (int)w[k], cells[r][k]);
            else
                printf("%s\n", cells[r][k]);
        }
    for (size_t r = 0; r <= nr; r++) {
        for (size_t k = 0; k < nc; k++)
            free(cells[r][k]);
        free(cells[r]);
    }
    free(cells);
    free(w);
    free(order);
    return 0;
}

int imgadm_filters_check(int n, char **filters)
{
    for (int i = 0; i < n; i++)
        if (!strchr(filters[i], '=') || filters[i][0] == '=')
            return imgadm_usage_error("filters are field=value, not \"%s\"", filters[i]);
    return 0;
}

bool imgadm_filters_match(json_t *m, int n, char **filters)
{
    for (int k = 0; k < n; k++) {
        const char *eq = strchr(filters[k], '=');
        cleanup_free char *key = xstrndup(filters[k], (size_t)(eq - filters[k]));
        cleanup_free char *val = imgadm_field_text(m, key);
        if (strcmp(val, eq + 1) != 0)
            return false;
    }
    return true;
}
