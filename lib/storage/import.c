/* vs_import_vol: a new volume holding a copy of an image file.  The copy
 * can take minutes, so it runs without the pool lock (README "A change"):
 * the name and the space are checked under the lock first, the driver copies
 * into data nobody references yet while tx/<pid> marks this process as
 * working, and vs_create_common commits in a new transaction that checks
 * everything again. */
#include <string.h>
#include <sys/stat.h>

#include "common/util.h"
#include "storage/storage_internal.h"

int vs_import_size(const char *src, const char *src_fmt, json_t *parsed, uint64_t *volsize, const char *prefix,
                   vm_err *err)
{
    char *argv[] = { "qemu-img",  "info", "--output=json", src_fmt ? "-f" : (char *)src, (char *)src_fmt,
                     (char *)src, NULL };
    if (!src_fmt)
        argv[4] = NULL;
    cleanup_free char *out = NULL;
    struct stat st;
    uint64_t vsz;
    if (stat(src, &st) < 0)
        return vm_err_set(err, VMERR_NOTFOUND, "%s: cannot open '%s': no such file", prefix, src);
    if (src_fmt && !strcmp(src_fmt, "raw")) {
        vsz = (uint64_t)st.st_size; /* no need to ask qemu-img */
    } else {
        if (run_cmd(argv, &out, err) != 0) {
            vm_err_prefix(err, "%s: ", prefix);
            return -1;
        }
        cleanup_json json_t *info = json_loads(out, 0, NULL);
        vsz = (uint64_t)json_integer_value(json_object_get(info, "virtual-size"));
    }
    json_t *b = json_object_get(parsed, "volblocksize");
    uint64_t bs = json_is_integer(b) ? (uint64_t)json_integer_value(b) : VS_DEFAULT_VOLBLOCKSIZE;
    if (*volsize == 0)
        *volsize = (vsz + bs - 1) / bs * bs;
    if (*volsize < vsz) {
        char a[16], c[16];
        vs_format_size(*volsize, a);
        vs_format_size(vsz, c);
        return vm_err_set(err, VMERR_INVALID, "%s: volume size %s is smaller than the image (%s)", prefix, a, c);
    }
    return 0;
}

int vs_import_copy(vs_pool *pool, const char *name, json_t *ds, json_t *parsed, const char *src, const char *src_fmt,
                   uint64_t volsize, const char *prefix, vm_err *err)
{
    vs_space_before sb = { 0, NULL };
    vs_txn t;
    int r;

    /* Copying an image can take minutes: it runs without the pool lock,
     * so other datasets' changes (other VMs) go on meanwhile.  The name
     * and the space are checked first, so a doomed import fails before
     * any copying, and again at the commit (vs_create_common). */
    if (vs_txn_begin(pool, &t, err) < 0)
        return -1;
    r = vs_check_new_name(&t, name, prefix, err);
    if (r == 0) {
        vs_space_snap(pool, t.dss, &sb);
        json_object_set(t.dss, name, ds);
        char what[96];
        r = vs_space_check(pool, t.dss, &sb, prefix, vs_space_what(parsed, what), err);
        json_object_del(t.dss, name);
        vs_space_free(&sb);
    }
    vs_txn_end(&t);
    if (r < 0)
        return -1;
    /* The marker stays while the copy runs: if this process dies, the
     * next opener sees it and collects the partial copy. */
    vs_tx_mark(pool);
    if (pool->drv->vol_import(pool, ds, src, src_fmt, volsize, err) < 0) {
        vs_tx_unmark(pool);
        vm_err_prefix(err, "%s: ", prefix);
        return -1;
    }
    return 0;
}

int vs_import_vol(vs_pool *pool, const char *name, const char *src, const char *src_fmt, uint64_t volsize,
                  json_t *props, vm_err *err)
{
    return vs_create_common(pool, VS_MK_IMPORT, name, volsize, src, src_fmt, props, err);
}
