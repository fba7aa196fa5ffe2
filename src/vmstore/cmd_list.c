/* vmstore list: datasets as a zfs list table (-r, -H, -p, -t, -o, -s/-S). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "vmstore.h"

static const char *header(const char *p)
{
    static const char *const h[][2] = { { "available", "AVAIL" },          { "referenced", "REFER" },
                                        { "reservation", "RESERV" },       { "refreservation", "REFRESERV" },
                                        { "compression", "COMPRESS" },     { "volblocksize", "VOLBLOCK" },
                                        { "usedbysnapshots", "USEDSNAP" }, { NULL, NULL } };
    for (size_t i = 0; h[i][0]; i++)
        if (!strcmp(p, h[i][0]))
            return h[i][1];
    return NULL;
}

/* -s/-S keys for qsort's comparison (one list per process). */
typedef struct sortkey {
    const char *prop;
    bool desc;
} sortkey;

static sortkey g_sort[16];
static size_t g_nsort;

static int cmp_rows(const void *a, const void *b)
{
    json_t *ra = *(json_t *const *)a, *rb = *(json_t *const *)b;
    for (size_t i = 0; i < g_nsort; i++) {
        json_t *va = json_object_get(json_object_get(ra, g_sort[i].prop), "value");
        json_t *vb = json_object_get(json_object_get(rb, g_sort[i].prop), "value");
        int c = 0;
        if (json_is_integer(va) && json_is_integer(vb))
            c = json_integer_value(va) < json_integer_value(vb) ? -1 : json_integer_value(va) > json_integer_value(vb);
        else if (json_is_string(va) && json_is_string(vb))
            c = strcmp(json_string_value(va), json_string_value(vb));
        else
            c = (va != NULL) - (vb != NULL);
        if (c)
            return g_sort[i].desc ? -c : c;
    }
    /* qsort is not stable: fall back to list order. */
    return (int)(json_integer_value(json_object_get(ra, "\x01idx")) -
                 json_integer_value(json_object_get(rb, "\x01idx")));
}

int cmd_list(vs_pool *pool, int argc, char **argv)
{
    bool rec = false, scripted = false, parsable = false;
    int types = VS_FILESYSTEM | VS_VOLUME, c;
    bool types_given = false;
    cleanup_strv char **cols = strv_split("name,used,available,referenced,mountpoint", ",");
    vm_err err = VM_ERR_INIT;
    g_nsort = 0;
    vm_opts o;
    vm_opts_init(&o, argc, argv, "rHpt:o:s:S:d:", NULL, VM_OPTS_POSIX);
    while ((c = vm_opts_next(&o)) != -1) {
        switch (c) {
        case 'r': rec = true; break;
        case 'd': rec = true; break;
        case 'H': scripted = true; break;
        case 'p': parsable = true; break;
        case 't':
            if (parse_types(o.arg, &types) < 0)
                return 2;
            types_given = true;
            break;
        case 'o':
            strv_free(cols);
            cols = strv_split(o.arg, ",");
            break;
        case 's':
        case 'S':
            if (g_nsort < 16)
                g_sort[g_nsort++] = (sortkey){ canon_prop(o.arg), c == 'S' };
            break;
        default: return opt_error(&o, c);
        }
    }
    argc = o.npos + 1;
    cleanup_json json_t *names = json_array();
    if (1 >= argc) {
        json_t *n = NULL;
        if (vs_list(pool, NULL, types, VS_RECURSIVE, &n, &err) < 0)
            return fail(&err);
        json_array_extend(names, n);
        json_decref(n);
    } else {
        int rc = 0;
        for (int i = 1; i < argc; i++) {
            json_t *n = NULL;
            int t = types;
            /* Naming a snapshot lists it even without -t snapshot. */
            if (strchr(argv[i], '@') && !types_given)
                t |= VS_SNAPSHOT;
            if (vs_list(pool, argv[i], t, rec ? VS_RECURSIVE : 0, &n, &err) < 0) {
                fprintf(stderr, "%s\n", err.msg);
                vm_err_clear(&err);
                rc = 1;
                continue;
            }
            json_array_extend(names, n);
            json_decref(n);
        }
        if (rc && json_array_size(names) == 0)
            return rc;
    }
    size_t n = json_array_size(names), i;
    json_t **props = xcalloc(n + 1, sizeof *props);
    for (i = 0; i < n; i++) {
        if (vs_get(pool, json_string_value(json_array_get(names, i)), &props[i], &err) < 0) {
            for (size_t j = 0; j < i; j++)
                json_decref(props[j]);
            free(props);
            return fail(&err);
        }
        json_object_set_new(props[i], "\x01idx", json_integer((json_int_t)i));
    }
    if (g_nsort)
        qsort(props, n, sizeof *props, cmp_rows);
    cleanup_json json_t *heads = json_array(), *right = json_array(), *rows = json_array();
    for (size_t k = 0; cols[k]; k++) {
        const char *p = canon_prop(cols[k]);
        const char *h = header(p);
        cleanup_free char *up = xstrdup(cols[k]);
        if (!h && !strchr(p, ':'))
            for (char *q = up; *q; q++)
                *q = (char)(*q >= 'a' && *q <= 'z' ? *q - 32 : *q);
        json_array_append_new(heads, json_string(h ? h : up));
        json_array_append_new(right, json_boolean(is_size_prop(p)));
    }
    for (i = 0; i < n; i++) {
        json_t *row = json_array();
        for (size_t k = 0; cols[k]; k++) {
            const char *p = canon_prop(cols[k]);
            cleanup_free char *v = fmt_value(p, json_object_get(props[i], p), parsable);
            json_array_append_new(row, json_string(v));
        }
        json_array_append_new(rows, row);
        json_decref(props[i]);
    }
    free(props);
    if (n == 0 && 1 >= argc) {
        fprintf(stderr, "no datasets available\n");
        return 0;
    }
    print_table(rows, heads, right, scripted);
    return 0;
}
