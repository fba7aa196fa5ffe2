/* vmstore create / clone / import: new datasets (-p creates the parents,
 * -o sets properties, -V/-s for volumes). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "vmstore.h"

/* -p: the missing parent filesystems of `name`, top down. */
static int create_parents(vs_pool *pool, const char *name, vm_err *err)
{
    cleanup_free char *p = xstrdup(name);
    for (char *s = strchr(p, '/'); s; s = strchr(s + 1, '/')) {
        *s = '\0';
        if (strcmp(p, vs_pool_name(pool)) && !vs_exists(pool, p) && vs_create_fs(pool, p, NULL, err) < 0)
            return -1;
        *s = '/';
    }
    return 0;
}

int cmd_create(vs_pool *pool, int argc, char **argv)
{
    bool parents = false, sparse = false;
    const char *vsize = NULL;
    cleanup_json json_t *props = json_object();
    vm_err err = VM_ERR_INIT;
    int c;
    vm_opts o;
    vm_opts_init(&o, argc, argv, "psV:o:b:", NULL, VM_OPTS_POSIX);
    while ((c = vm_opts_next(&o)) != -1) {
        switch (c) {
        case 'p': parents = true; break;
        case 's': sparse = true; break;
        case 'V': vsize = o.arg; break;
        case 'b':
            if (json_object_get(props, "volblocksize"))
                return usage("property 'volblocksize' specified multiple times");
            json_object_set_new(props, "volblocksize", json_string(o.arg));
            break;
        case 'o':
            if (add_opt_prop(props, o.arg) < 0)
                return 2;
            break;
        default: return opt_error(&o, c);
        }
    }
    argc = o.npos + 1;
    if (1 >= argc)
        return usage("missing filesystem argument");
    if (argc - 1 > 1)
        return usage("too many arguments");
    if (sparse && !vsize)
        return usage("'-s' and '-b' can only be used when creating a volume");
    const char *name = argv[1];
    uint64_t size = 0;
    if (vsize && vs_parse_size(vsize, false, &size) < 0) {
        fprintf(stderr, "bad volume size '%s': bad numeric value\n", vsize);
        return 2;
    }
    if (parents) {
        if (create_parents(pool, name, &err) < 0)
            return fail(&err);
        if (vs_exists(pool, name))
            return 0;
    }
    if (vsize) {
        /* zfs create -V reserves the whole volume unless -s (sparse). */
        if (!sparse && !json_object_get(props, "refreservation"))
            json_object_set_new(props, "refreservation", json_string("auto"));
        if (vs_create_vol(pool, name, size, props, &err) < 0)
            return fail(&err);
    } else if (vs_create_fs(pool, name, props, &err) < 0) {
        return fail(&err);
    }
    return 0;
}

int cmd_clone(vs_pool *pool, int argc, char **argv)
{
    bool parents = false;
    cleanup_json json_t *props = json_object();
    vm_err err = VM_ERR_INIT;
    int c;
    vm_opts o;
    vm_opts_init(&o, argc, argv, "po:", NULL, VM_OPTS_POSIX);
    while ((c = vm_opts_next(&o)) != -1) {
        switch (c) {
        case 'p': parents = true; break;
        case 'o':
            if (add_opt_prop(props, o.arg) < 0)
                return 2;
            break;
        default: return opt_error(&o, c);
        }
    }
    argc = o.npos + 1;
    if (argc - 1 < 1)
        return usage("missing source dataset argument");
    if (argc - 1 < 2)
        return usage("missing target dataset argument");
    if (argc - 1 > 2)
        return usage("too many arguments");
    const char *name = argv[2];
    if (parents && create_parents(pool, name, &err) < 0)
        return fail(&err);
    if (json_object_get(props, "volsize")) {
        uint64_t v;
        if (vs_parse_size(json_string_value(json_object_get(props, "volsize")), false, &v) < 0) {
            fprintf(stderr, "cannot create '%s': bad numeric value '%s'\n", name,
                    json_string_value(json_object_get(props, "volsize")));
            return 1;
        }
        json_object_set_new(props, "volsize", json_integer((json_int_t)v));
    }
    if (vs_clone(pool, argv[1], name, props, &err) < 0)
        return fail(&err);
    return 0;
}

int cmd_import(vs_pool *pool, int argc, char **argv)
{
    const char *vsize = NULL, *fmtname = NULL;
    cleanup_json json_t *props = json_object();
    vm_err err = VM_ERR_INIT;
    int c;
    vm_opts o;
    vm_opts_init(&o, argc, argv, "V:f:o:", NULL, VM_OPTS_POSIX);
    while ((c = vm_opts_next(&o)) != -1) {
        switch (c) {
        case 'V': vsize = o.arg; break;
        case 'f': fmtname = o.arg; break;
        case 'o':
            if (add_opt_prop(props, o.arg) < 0)
                return 2;
            break;
        default: return opt_error(&o, c);
        }
    }
    argc = o.npos + 1;
    if (argc - 1 != 2)
        return usage("import needs a file and a volume name");
    uint64_t size = 0;
    if (vsize && vs_parse_size(vsize, false, &size) < 0) {
        fprintf(stderr, "bad volume size '%s': bad numeric value\n", vsize);
        return 2;
    }
    if (vs_import_vol(pool, argv[2], argv[1], fmtname, size, props, &err) < 0)
        return fail(&err);
    return 0;
}
