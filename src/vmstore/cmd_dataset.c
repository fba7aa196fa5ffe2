/* vmstore destroy / rename / swap / resize. */
#include <getopt.h>
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
    while ((c = getopt(argc, argv, "+rfd")) != -1) {
        switch (c) {
        case 'r': flags |= VS_RECURSIVE; break;
        case 'f': flags |= VS_FORCE; break;
        case 'd': flags |= VS_DEFER; break;
        default: return opt_error(c);
        }
    }
    if (optind >= argc)
        return usage("missing dataset argument");
    if (argc - optind > 1)
        return usage("too many arguments");
    if (vs_destroy(pool, argv[optind], flags, &err) < 0)
        return fail(&err);
    return 0;
}

static int cmd_two(vs_pool *pool, int argc, char **argv, int (*fn)(vs_pool *, const char *, const char *, vm_err *))
{
    vm_err err = VM_ERR_INIT;
    if (argc - optind < 2)
        return usage("missing %s argument", argc - optind < 1 ? "source dataset" : "target dataset");
    if (argc - optind > 2)
        return usage("too many arguments");
    if (fn(pool, argv[optind], argv[optind + 1], &err) < 0)
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
    static const struct option lo[] = { { "shrink", no_argument, NULL, 's' }, { NULL, 0, NULL, 0 } };
    int c;
    while ((c = getopt_long(argc, argv, "+", lo, NULL)) != -1) {
        if (c != 's')
            return usage(NULL);
        flags |= VS_ALLOW_SHRINK;
    }
    if (argc - optind != 2)
        return usage("resize needs a volume and a size");
    uint64_t v;
    if (vs_parse_size(argv[optind + 1], false, &v) < 0) {
        fprintf(stderr, "bad volume size '%s': bad numeric value\n", argv[optind + 1]);
        return 2;
    }
    if (vs_resize(pool, argv[optind], v, flags, &err) < 0)
        return fail(&err);
    return 0;
}
