/* vmstore destroy / rename / swap / resize. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "vmstore.h"

int cmd_destroy(vs_pool *pool, int argc, char **argv)
{
    int flags = 0, c;
    vm_err err = VM_ERR_INIT;
    vm_opts o;
    vm_opts_init(&o, argc, argv, "rfd", NULL, VM_OPTS_POSIX);
    while ((c = vm_opts_next(&o)) != -1) {
        switch (c) {
        case 'r': flags |= VS_RECURSIVE; break;
        case 'f': flags |= VS_FORCE; break;
        case 'd': flags |= VS_DEFER; break;
        default: return opt_error(&o, c);
        }
    }
    argc = o.npos + 1;
    if (1 >= argc)
        return usage("missing dataset argument");
    if (argc - 1 > 1)
        return usage("too many arguments");
    if (vs_destroy(pool, argv[1], flags, &err) < 0)
        return fail(&err);
    return 0;
}

static int cmd_two(vs_pool *pool, int argc, char **argv, int (*fn)(vs_pool *, const char *, const char *, vm_err *))
{
    vm_err err = VM_ERR_INIT;
    if (no_opts(&argc, argv))
        return 2;
    if (argc - 1 < 2)
        return usage("missing %s argument", argc - 1 < 1 ? "source dataset" : "target dataset");
    if (argc - 1 > 2)
        return usage("too many arguments");
    if (fn(pool, argv[1], argv[2], &err) < 0)
        return fail(&err);
    return 0;
}

int cmd_rename(vs_pool *pool, int argc, char **argv)
{
    return cmd_two(pool, argc, argv, vs_rename);
}

int cmd_swap(vs_pool *pool, int argc, char **argv)
{
    return cmd_two(pool, argc, argv, vs_swap);
}

int cmd_resize(vs_pool *pool, int argc, char **argv)
{
    int flags = 0;
    vm_err err = VM_ERR_INIT;
    static const vm_longopt lo[] = { { "shrink", false, 's' }, { NULL, false, 0 } };
    int c;
    vm_opts o;
    vm_opts_init(&o, argc, argv, "", lo, VM_OPTS_POSIX);
    while ((c = vm_opts_next(&o)) != -1) {
        if (c != 's')
            return opt_error(&o, c);
        flags |= VS_ALLOW_SHRINK;
    }
    argc = o.npos + 1;
    if (argc - 1 != 2)
        return usage("resize needs a volume and a size");
    uint64_t v;
    if (vs_parse_size(argv[2], false, &v) < 0) {
        fprintf(stderr, "bad volume size '%s': bad numeric value\n", argv[2]);
        return 2;
    }
    if (vs_resize(pool, argv[1], v, flags, &err) < 0)
        return fail(&err);
    return 0;
}
