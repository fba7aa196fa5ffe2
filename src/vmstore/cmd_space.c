/* vmstore changed / space / gc: changed blocks and pool capacity as JSON,
 * and the explicit garbage collection (the only thing that removes data the
 * previous pool.json generation still references). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "vmstore.h"

int cmd_changed(vs_pool *pool, int argc, char **argv)
{
    vm_err err = VM_ERR_INIT;
    cleanup_json json_t *ext = NULL;
    if (no_opts(&argc, argv))
        return 2;
    if (argc - 1 < 1 || argc - 1 > 2)
        return usage("changed needs one or two snapshots");
    if (vs_changed_blocks(pool, argv[1], argc - 1 == 2 ? argv[2] : NULL, &ext, &err) < 0)
        return fail(&err);
    cleanup_free char *s = json_compact(ext);
    printf("%s\n", s);
    return 0;
}

int cmd_space(vs_pool *pool, int argc, char **argv)
{
    vm_err err = VM_ERR_INIT;
    vs_space sp;
    if (no_opts(&argc, argv))
        return 2;
    if (argc > 1)
        return usage("space takes no arguments");
    if (vs_pool_space(pool, &sp, &err) < 0)
        return fail(&err);
    printf("{\"size\":%llu,\"used\":%llu,\"free\":%llu,\"reserved\":%llu,\"available\":%llu}\n",
           (unsigned long long)sp.size, (unsigned long long)sp.used, (unsigned long long)sp.free,
           (unsigned long long)sp.reserved, (unsigned long long)sp.available);
    return 0;
}

int cmd_gc(vs_pool *pool, int argc, char **argv)
{
    vm_err err = VM_ERR_INIT;
    cleanup_json json_t *removed = NULL;
    size_t i;
    json_t *v;
    if (no_opts(&argc, argv))
        return 2;
    if (argc - 1 != 0)
        return usage("gc takes no arguments");
    if (vs_pool_collect(pool, &removed, &err) < 0)
        return fail(&err);
    json_array_foreach(removed, i, v)
        printf("collected %s\n", json_string_value(v));
    return 0;
}
