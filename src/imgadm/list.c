/* imgadm list: installed images as a table (-o columns, field=value
 * filters) or as JSON (-j). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "image/image.h"
#include "imgadm.h"

/* A manifest field by dotted path, as text ("" if absent). */
static char *field_text(json_t *m, const char *field)
{
    if (strcmp(field, "pub") == 0) {
        const char *p = json_string_value(json_object_get(m, "published_at"));
        return p ? xstrndup(p, 10) : xstrdup("-");
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

int imgadm_cmd_list(vm_ctx *ctx, int argc, char **argv)
{
    const char *pool = NULL, *fields = "uuid,name,version,os,type,pub";
    int as_json = 0, no_header = 0, c;
    vm_opts op;
    vm_opts_init(&op, argc, argv, "jHo:P:h", NULL, 0);
    while ((c = vm_opts_next(&op)) != -1) {
        switch (c) {
        case 'j': as_json = 1; break;
        case 'H': no_header = 1; break;
        case 'o': fields = op.arg; break;
        case 'P': pool = op.arg; break;
        case 'h': imgadm_usage(stdout); return 0;
        default: return imgadm_opt_error(&op, c);
        }
    }
    argc = op.npos + 1;
    for (int i = 1; i < argc; i++)
        if (!strchr(argv[i], '=') || argv[i][0] == '=')
            return imgadm_usage_error("filters are field=value, not \"%s\"", argv[i]);
    vm_err err = VM_ERR_INIT;
    cleanup_json json_t *all = NULL;
    if (img_list(ctx, pool, &all, &err) < 0)
        return imgadm_fail(&err);
    cleanup_json json_t *sel = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(all, i, m) {
        bool ok = true;
        for (int k = 1; k < argc && ok; k++) {
            cleanup_free char *key = xstrndup(argv[k], (size_t)(strchr(argv[k], '=') - argv[k]));
            cleanup_free char *val = field_text(m, key);
            ok = strcmp(val, strchr(argv[k], '=') + 1) == 0;
        }
        if (ok)
            json_array_append(sel, m);
    }
    const char *pn = pool && *pool ? pool : ctx->pool;
    if (as_json) {
        cleanup_json json_t *out = json_array();
        json_array_foreach(sel, i, m)
            json_array_append_new(out, json_pack("{sOss}", "manifest", m, "zpool", pn));
        cleanup_free char *s = json_pretty(out);
        printf("%s\n", s);
        return 0;
    }
    cleanup_strv char **cols = strv_split(fields, ",");
    size_t nc = strv_len(cols), nr = json_array_size(sel);
    if (nc == 0)
        return imgadm_usage_error("%s", "-o needs at least one field");
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
    json_array_foreach(sel, i, m) {
        cells[i + 1] = xcalloc(nc, sizeof(char *));
        for (size_t k = 0; k < nc; k++) {
            cells[i + 1][k] = field_text(m, cols[k]);
            size_t l = strlen(cells[i + 1][k]);
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
    return 0;
}
