/* vmstore get / set: properties as zfs get prints them, and assignments. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "vmstore.h"

int cmd_get(vs_pool *pool, int argc, char **argv)
{
    bool rec = false, scripted = false, parsable = false;
    int types = VS_ALL, c;
    cleanup_strv char **fields = strv_split("name,property,value,source", ",");
    vm_err err = VM_ERR_INIT;
    vm_opts o;
    vm_opts_init(&o, argc, argv, "rHpo:t:s:d:", NULL, VM_OPTS_POSIX);
    while ((c = vm_opts_next(&o)) != -1) {
        switch (c) {
        case 'r':
        case 'd': rec = true; break;
        case 'H': scripted = true; break;
        case 'p': parsable = true; break;
        case 's': break;
        case 'o':
            strv_free(fields);
            fields = strcmp(o.arg, "all") ? strv_split(o.arg, ",") : strv_split("name,property,value,source", ",");
            for (size_t i = 0; fields[i]; i++)
                if (strcmp(fields[i], "name") && strcmp(fields[i], "property") && strcmp(fields[i], "value") &&
                    strcmp(fields[i], "source") && strcmp(fields[i], "received"))
                    return usage("invalid field '%s'", fields[i]);
            break;
        case 't':
            if (parse_types(o.arg, &types) < 0)
                return 2;
            break;
        default: return opt_error(&o, c);
        }
    }
    argc = o.npos + 1;
    if (argc - 1 < 1)
        return usage("missing property argument");
    if (argc - 1 < 2)
        return usage("missing dataset argument");
    cleanup_strv char **want = strv_split(argv[1], ",");
    bool all = !strcmp(argv[1], "all");
    cleanup_json json_t *heads = json_array(), *right = json_array(), *rows = json_array();
    for (size_t k = 0; fields[k]; k++) {
        cleanup_free char *up = xstrdup(fields[k]);
        for (char *q = up; *q; q++)
            *q = (char)(*q - 32);
        json_array_append_new(heads, json_string(up));
        json_array_append_new(right, json_false());
    }
    int rc = 0;
    for (int i = 2; i < argc; i++) {
        cleanup_json json_t *names = NULL;
        int t = strchr(argv[i], '@') ? types | VS_SNAPSHOT : types;
        /* Like zfs get: without -r only the named dataset itself, not its
         * snapshots. */
        if (!rec && !strchr(argv[i], '@'))
            t &= ~VS_SNAPSHOT;
        if (vs_list(pool, argv[i], t, rec ? VS_RECURSIVE : 0, &names, &err) < 0) {
            fprintf(stderr, "%s\n", err.msg);
            vm_err_clear(&err);
            rc = 1;
            continue;
        }
        size_t j;
        json_t *nm;
        json_array_foreach(names, j, nm) {
            cleanup_json json_t *props = NULL;
            const char *name = json_string_value(nm);
            if (vs_get(pool, name, &props, &err) < 0) {
                fprintf(stderr, "%s\n", err.msg);
                vm_err_clear(&err);
                rc = 1;
                continue;
            }
            cleanup_json json_t *plist = json_array();
            if (all) {
                const char *k;
                json_t *v;
                json_object_foreach(props, k, v)
                    if (strcmp(k, "name"))
                        json_array_append_new(plist, json_string(k));
            } else {
                for (size_t k = 0; want[k]; k++)
                    json_array_append_new(plist, json_string(canon_prop(want[k])));
            }
            size_t k;
            json_t *pn;
            json_array_foreach(plist, k, pn) {
                const char *p = json_string_value(pn);
                json_t *pv = json_object_get(props, p);
                if (!pv && !strchr(p, ':') && !is_size_prop(p) && strcmp(p, "origin") && strcmp(p, "mountpoint") &&
                    strcmp(p, "compression") && strcmp(p, "type") && strcmp(p, "creation") && strcmp(p, "name") &&
                    strcmp(p, "userrefs") && strcmp(p, "guid")) {
                    return usage("bad property list: invalid property '%s'", p);
                }
                json_t *row = json_array();
                for (size_t f = 0; fields[f]; f++) {
                    if (!strcmp(fields[f], "name"))
                        json_array_append_new(row, json_string(name));
                    else if (!strcmp(fields[f], "property"))
                        json_array_append_new(row, json_string(p));
                    else if (!strcmp(fields[f], "value")) {
                        cleanup_free char *v = fmt_value(p, pv, parsable);
                        json_array_append_new(row, json_string(v));
                    } else if (!strcmp(fields[f], "source")) {
                        const char *s = json_string_value(json_object_get(pv, "source"));
                        json_array_append_new(row, json_string(s ? s : "-"));
                    } else
                        json_array_append_new(row, json_string("-"));
                }
                json_array_append_new(rows, row);
            }
        }
    }
    if (json_array_size(rows))
        print_table(rows, heads, right, scripted);
    return rc;
}

int cmd_set(vs_pool *pool, int argc, char **argv)
{
    vm_err err = VM_ERR_INIT;
    int i = 1, rc = 0;
    cleanup_json json_t *assign = json_array();
    if (no_opts(&argc, argv))
        return 2;
    for (; i < argc && strchr(argv[i], '='); i++)
        json_array_append_new(assign, json_string(argv[i]));
    if (json_array_size(assign) == 0)
        return usage("missing property=value argument(s)");
    if (i >= argc)
        return usage("missing dataset name(s)");
    for (; i < argc; i++) {
        size_t k;
        json_t *a;
        json_array_foreach(assign, k, a) {
            cleanup_free char *p = xstrdup(json_string_value(a));
            char *eq = strchr(p, '=');
            *eq = '\0';
            if (vs_set(pool, argv[i], canon_prop(p), eq + 1, &err) < 0) {
                fprintf(stderr, "%s\n", err.msg);
                vm_err_clear(&err);
                rc = 1;
                break;
            }
        }
    }
    return rc;
}
