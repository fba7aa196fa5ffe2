/* Golden command lines of the storage layer: the public API (storage.h) is
 * driven through a pool's life while common/cmd records every external
 * command (record and pass through: the real qemu-img runs, so the API
 * proceeds as in production).  The record must equal
 * golden/storage-cmds.txt; VMADM_GOLDEN_UPDATE=1 rewrites it.
 *
 * Normalised for stability: the temporary root reads "$ROOT", and each
 * randomly named data file (16 hex digits, optionally "-p<pid>") reads
 * "@<n>@", numbered in order of first appearance. */
#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "common/cmd.h"
#include "common/util.h"
#include "golden.h"
#include "storage/storage.h"

#define MiB (1024ULL * 1024)

static const char *golden_dir;

static void pass_through(char *const argv[], const char *in, size_t len, cmd_reply *r, void *opaque)
{
    (void)argv;
    (void)in;
    (void)len;
    (void)opaque;
    r->pass_through = true;
}

static size_t hex_run(const char *p)
{
    size_t n = 0;
    while (isxdigit((unsigned char)p[n]) && !isupper((unsigned char)p[n]))
        n++;
    return n;
}

/* Replaces random data-file names by @1@, @2@, ... */
static char *number_random_names(const char *text)
{
    cleanup_json json_t *seen = json_object();
    char *out = xstrdup("");
    const char *p = text;
    while (*p) {
        size_t n = (p == text || !isxdigit((unsigned char)p[-1])) ? hex_run(p) : 0;
        if (n == 16) {
            if (p[n] == '-' && p[n + 1] == 'p' && isdigit((unsigned char)p[n + 2]))
                for (n += 2; isdigit((unsigned char)p[n]); n++)
                    ;
            cleanup_free char *name = xstrndup(p, n);
            json_t *num = json_object_get(seen, name);
            if (!num) {
                num = json_integer((json_int_t)json_object_size(seen) + 1);
                json_object_set_new(seen, name, num);
            }
            char *o = xasprintf("%s@%lld@", out, (long long)json_integer_value(num));
            free(out);
            out = o;
            p += n;
            continue;
        }
        char *o = xasprintf("%s%c", out, *p++);
        free(out);
        out = o;
    }
    return out;
}

#define OK(call) \
    do { \
        vm_err _e = VM_ERR_INIT; \
        if ((call) < 0) \
            fail_msg("%s: %s", #call, _e.msg); \
    } while (0)

/* A pool's life: volumes, snapshots, clones, resizes, imports, rollback,
 * changed blocks, destroy. */
static void drive(const char *root)
{
    vm_ctx ctx;
    vs_pool *p = NULL;
    setenv("VMADM_ROOT", root, 1);
    unsetenv("VMADM_POOL");
    OK(vm_ctx_init(&ctx, &_e));
    OK(vs_pool_open(&ctx, NULL, &p, &_e));
    OK(vs_create_fs(p, "zones/vm", NULL, &_e));
    OK(vs_create_vol(p, "zones/vm/disk0", 16 * MiB, NULL, &_e));
    OK(vs_snapshot(p, "zones/vm/disk0@s1", 0, &_e));
    json_t *props = json_pack("{s:I}", "volsize", (json_int_t)(32 * MiB));
    OK(vs_clone(p, "zones/vm/disk0@s1", "zones/vm/disk1", props, &_e));
    json_decref(props);
    OK(vs_resize(p, "zones/vm/disk0", 24 * MiB, 0, &_e));
    OK(vs_resize(p, "zones/vm/disk0", 20 * MiB, VS_ALLOW_SHRINK, &_e));
    OK(vs_snapshot(p, "zones/vm@s2", VS_RECURSIVE, &_e));
    json_t *ext = NULL;
    OK(vs_changed_blocks(p, "zones/vm/disk0@s1", "zones/vm/disk0@s2", &ext, &_e));
    json_decref(ext);
    OK(vs_rollback(p, "zones/vm/disk0@s1", VS_RECURSIVE, &_e));
    cleanup_free char *raw = xasprintf("%s/image.raw", root);
    FILE *f = fopen(raw, "w");
    assert_non_null(f);
    assert_int_equal(ftruncate(fileno(f), (off_t)(8 * MiB)), 0);
    fclose(f);
    OK(vs_import_vol(p, "zones/img-raw", raw, "raw", 0, NULL, &_e));
    cleanup_free char *vol = NULL;
    OK(vs_vol_path(p, "zones/vm/disk1", &vol, &_e));
    OK(vs_import_vol(p, "zones/img-probed", vol, NULL, 0, NULL, &_e));
    OK(vs_destroy(p, "zones/vm/disk1", VS_RECURSIVE, &_e));
    OK(vs_destroy(p, "zones/vm", VS_RECURSIVE, &_e));
    vs_pool_close(p);
    vm_ctx_free(&ctx);
}

static void test_storage_cmds(void **state)
{
    (void)state;
    char root[] = "/tmp/vmcmds.XXXXXX";
    assert_non_null(mkdtemp(root));
    cmd_set_dry_run(pass_through, NULL);
    drive(root);
    cleanup_free char *rec = cmd_recorded_text();
    cmd_dry_run_end();
    rm_rf(root, NULL);
    golden_replace(&rec, root, "$ROOT");
    cleanup_free char *text = number_random_names(rec);
    cleanup_free char *path = xasprintf("%s/storage-cmds.txt", golden_dir);
    if (golden_check(path, text) < 0)
        fail_msg("%s differs from the recorded commands (diff above)", path);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s GOLDEN_DIR\n", argv[0]);
        return 2;
    }
    golden_dir = argv[1];
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_storage_cmds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
