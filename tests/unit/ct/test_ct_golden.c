/* Golden LXC configs: for each VM object tests/unit/ct/golden/<name>.json
 * the config ct_config_build produces, as LXC saves it ("key = value" lines
 * in the order set), must equal golden/<name>.conf byte for byte, or, for
 * objects that must be refused, the error message must equal
 * golden/<name>.err.  VMADM_GOLDEN_UPDATE=1 rewrites the expected files
 * instead (review the git diff!).
 *
 * Everything the config depends on besides the object is fixed here: the
 * VM context's root is GOLDEN_ROOT (nothing is created there), the zone
 * root is <root>/<zfs_filesystem>/root and a delegated dataset's directory
 * <root>/<dataset> (the mount view of lib/storage), the run dir
 * <root>/run/vms/<uuid>, NIC i's guest end on the host "vngoldenpeer<i>";
 * the host's cgroup layout and whether init is
 * systemd come from the table below. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/util.h"
#include "ct/ct_config.h"
#include "../common/golden.h"

#define GOLDEN_ROOT "/vmadm-golden"

static const ct_host v1_memsw = { CT_CG_V1, CT_CG_V1, CT_CG_V1, true, false };
static const ct_host v1_nomemsw = { CT_CG_V1, CT_CG_V1, CT_CG_V1, false, false };
static const ct_host v2 = { CT_CG_V2, CT_CG_V2, CT_CG_V2, false, false };
static const ct_host v1_apparmor = { CT_CG_V1, CT_CG_V1, CT_CG_V1, true, true };

/* PRIVILEGED: the opt-out (ct_start allowed it); otherwise the VM gets the
 * subordinate id range of slot 3. */
enum { SYSTEMD = 1, FAILS = 2, PRIVILEGED = 4 };
#define GOLDEN_IDMAP_BASE (CT_IDMAP_BASE + 3 * CT_IDMAP_SIZE)

typedef struct gcase {
    const char *name;
    const ct_host *host;
    int flags;
} gcase;

static const gcase cases[] = {
    { "joyent", &v1_memsw, 0 },
    { "joyent-minimal", &v1_memsw, 0 },
    { "lx", &v1_memsw, SYSTEMD },
    { "lx-sysvinit", &v1_memsw, 0 },
    { "limits-v1", &v1_memsw, 0 },
    { "limits-v1-nomemsw", &v1_nomemsw, 0 },
    { "limits-v2", &v2, 0 },
    { "delegate-dataset", &v1_memsw, 0 },
    { "indestructible", &v2, 0 },
    { "init-halt-override", &v1_memsw, SYSTEMD },
    { "privileged", &v1_memsw, PRIVILEGED },
    { "apparmor", &v1_apparmor, 0 },
    { "net-static", &v1_memsw, 0 },
    { "net-several", &v1_memsw, 0 },
    { "net-lx", &v1_memsw, SYSTEMD },
    { "net-dhcp-gateway", &v1_memsw, 0 },
    { "err-brand", &v1_memsw, FAILS },
    { "err-hostname", &v1_memsw, FAILS },
    { "err-limit-type", &v1_memsw, FAILS },
    { "err-dataset-name", &v1_memsw, FAILS },
    { "err-halt-signal", &v1_memsw, FAILS },
    { "err-net-ip", &v1_memsw, FAILS },
    { "err-net-mtu", &v1_memsw, FAILS },
};
#define NCASES (sizeof cases / sizeof cases[0])

static const char *golden_dir;

/* The text compared with the golden file: the config as LXC's save_config
 * writes it, or (*failed) the error message. */
static char *render(const gcase *c, json_t *vm, bool *failed)
{
    const char *uuid = json_string_value(json_object_get(vm, "uuid"));
    const char *zfs = json_string_value(json_object_get(vm, "zfs_filesystem"));
    cleanup_free char *rootfs = xasprintf(GOLDEN_ROOT "/%s/root", zfs ? zfs : "(none)");
    cleanup_free char *rundir = xasprintf(GOLDEN_ROOT "/run/vms/%s", uuid ? uuid : "(none)");
    cleanup_json json_t *dirs = json_array();
    size_t i;
    json_t *ds;
    json_array_foreach(json_object_get(vm, "datasets"), i, ds)
        json_array_append_new(dirs, json_sprintf(GOLDEN_ROOT "/%s", json_string_value(ds)));
    /* The guest ends lib/net would create: a fixed name per NIC. */
    cleanup_json json_t *peers = json_array();
    for (i = 0; i < json_array_size(json_object_get(vm, "nics")); i++)
        json_array_append_new(peers, json_sprintf("vngoldenpeer%zu", i));
    ct_inputs in = {
        .rootfs = rootfs,
        .rundir = rundir,
        .dataset_dirs = dirs,
        .init_is_systemd = (c->flags & SYSTEMD) != 0,
        .privileged = (c->flags & PRIVILEGED) != 0,
        .idmap_base = (c->flags & PRIVILEGED) ? 0 : GOLDEN_IDMAP_BASE,
        .nic_peers = peers,
    };
    cleanup_json json_t *items = NULL;
    vm_err err = VM_ERR_INIT;
    *failed = ct_config_build(vm, c->host, &in, &items, NULL, &err) < 0;
    if (*failed)
        return xasprintf("%s\n", err.msg);
    char *text = xstrdup("");
    json_t *pair;
    json_array_foreach(items, i, pair) {
        char *t = xasprintf("%s%s = %s\n", text, json_string_value(json_array_get(pair, 0)),
                            json_string_value(json_array_get(pair, 1)));
        free(text);
        text = t;
    }
    return text;
}

static void test_case(void **state)
{
    const gcase *c = *state;
    cleanup_free char *jpath = xasprintf("%s/%s.json", golden_dir, c->name);
    cleanup_json json_t *vm = NULL;
    vm_err err = VM_ERR_INIT;
    if (read_json_file(jpath, &vm, &err) < 0)
        fail_msg("%s", err.msg);
    bool failed;
    cleanup_free char *text = render(c, vm, &failed);
    if (failed != ((c->flags & FAILS) != 0))
        fail_msg("%s: expected %s, got:\n%s", c->name, failed ? "a config" : "an error", text);
    cleanup_free char *gpath = xasprintf("%s/%s.%s", golden_dir, c->name, (c->flags & FAILS) ? "err" : "conf");
    if (golden_check(gpath, text) < 0)
        fail_msg("%s differs from %s", c->name, gpath);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s GOLDEN_DIR\n", argv[0]);
        return 2;
    }
    golden_dir = argv[1];
    struct CMUnitTest tests[NCASES];
    for (size_t i = 0; i < NCASES; i++)
        tests[i] = (struct CMUnitTest){ cases[i].name, test_case, NULL, NULL, (void *)&cases[i] };
    return _cmocka_run_group_tests("ct_golden", tests, NCASES, NULL, NULL);
}
