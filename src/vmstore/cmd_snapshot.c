/* vmstore snapshot / rollback / hold / release / holds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "vmstore.h"

int cmd_snapshot(vs_pool *pool, int argc, char **argv)
{
    bool rec = false;
    vm_err err = VM_ERR_INIT;
    cleanup_json json_t *props = json_object();
    int c;
    vm_opts o;
    vm_opts_init(&o, argc, argv, "ro:", NULL, VM_OPTS_POSIX);
    while ((c = vm_opts_next(&o)) != -1) {
        switch (c) {
        case 'r': rec = true; break;
        case 'o':
            if (add_opt_prop(props, o.arg) < 0)
                return 2;
            break;
        default: return opt_error(&o, c);
        }
    }
    argc = o.npos + 1;
    if (1 >= argc)
        return usage("missing snapshot argument");
    for (int i = 1; i < argc; i++) {
        if (vs_snapshot(pool, argv[i], rec ? VS_RECURSIVE : 0, &err) < 0)
            return fail(&err);
        const char *k;
        json_t *v;
        json_object_foreach(props, k, v)
            if (vs_set(pool, argv[i], k, json_string_value(v), &err) < 0)
                return fail(&err);
    }
    return 0;
}

int cmd_rollback(vs_pool *pool, int argc, char **argv)
{
    bool rec = false;
    int c;
    vm_err err = VM_ERR_INIT;
    vm_opts o;
    vm_opts_init(&o, argc, argv, "rRf", NULL, VM_OPTS_POSIX);
    while ((c = vm_opts_next(&o)) != -1) {
        switch (c) {
        case 'r':
        case 'R': rec = true; break;
        case 'f': break;
        default: return opt_error(&o, c);
        }
    }
    argc = o.npos + 1;
    if (1 >= argc)
        return usage("missing dataset argument");
    if (argc - 1 > 1)
        return usage("too many arguments");
    const char *snap = argv[1];
    if (!strchr(snap, '@')) {
        fprintf(stderr, "'%s' is not a snapshot\n", snap);
        return 2;
    }
    /* Without -r vmstore always said a malformed name does not exist. */
    if (!rec && !vs_valid_name(snap)) {
        fprintf(stderr, "cannot open '%s': dataset does not exist\n", snap);
        return 1;
    }
    /* The library refuses without -r when newer snapshots exist. */
    if (vs_rollback(pool, snap, rec ? VS_RECURSIVE : 0, &err) < 0)
        return fail(&err);
    return 0;
}

static int hold_or_release(vs_pool *pool, int argc, char **argv, bool release)
{
    vm_err err = VM_ERR_INIT;
    int rc = 0, c;
    vm_opts o;
    vm_opts_init(&o, argc, argv, "r", NULL, VM_OPTS_POSIX);
    while ((c = vm_opts_next(&o)) != -1)
        if (c != 'r')
            return opt_error(&o, c);
    argc = o.npos + 1;
    if (argc - 1 < 1)
        return usage("missing tag argument");
    if (argc - 1 < 2)
        return usage("missing snapshot argument");
    for (int i = 2; i < argc; i++) {
        int r = release ? vs_release(pool, argv[1], argv[i], &err) : vs_hold(pool, argv[1], argv[i], &err);
        if (r < 0) {
            fprintf(stderr, "%s\n", err.msg);
            vm_err_clear(&err);
            rc = 1;
        }
    }
    return rc;
}

int cmd_hold(vs_pool *pool, int argc, char **argv)
{
    return hold_or_release(pool, argc, argv, false);
}

int cmd_release(vs_pool *pool, int argc, char **argv)
{
    return hold_or_release(pool, argc, argv, true);
}

int cmd_holds(vs_pool *pool, int argc, char **argv)
{
    bool scripted = false, parsable = false;
    int c, rc = 0;
    vm_err err = VM_ERR_INIT;
    vm_opts o;
    vm_opts_init(&o, argc, argv, "Hpr", NULL, VM_OPTS_POSIX);
    while ((c = vm_opts_next(&o)) != -1) {
        switch (c) {
        case 'H': scripted = true; break;
        case 'p': parsable = true; break;
        case 'r': break;
        default: return opt_error(&o, c);
        }
    }
    argc = o.npos + 1;
    if (1 >= argc)
        return usage("missing snapshot argument");
    cleanup_json json_t *heads = json_pack("[sss]", "NAME", "TAG", "TIMESTAMP");
    cleanup_json json_t *right = json_pack("[bbb]", 0, 0, 0), *rows = json_array();
    for (int i = 1; i < argc; i++) {
        cleanup_json json_t *h = NULL;
        if (vs_holds_detail(pool, argv[i], &h, &err) < 0) {
            fprintf(stderr, "%s\n", err.msg);
            vm_err_clear(&err);
            rc = 1;
            continue;
        }
        const char *tag;
        json_t *ts;
        json_object_foreach(h, tag, ts) {
            char b[64];
            if (parsable)
                snprintf(b, sizeof b, "%lld", (long long)json_integer_value(ts));
            else
                fmt_time(json_integer_value(ts), b, sizeof b);
            json_array_append_new(rows, json_pack("[sss]", argv[i], tag, b));
        }
    }
    if (json_array_size(rows))
        print_table(rows, heads, right, scripted);
    return rc;
}
