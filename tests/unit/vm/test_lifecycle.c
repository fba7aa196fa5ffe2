/* lib/vm's lifecycle, guest access, snapshots and boot-all driven through
 * the fake runtime (runtime.h): the rules of the VM layer (state checks,
 * autoboot, messages, which runtime call happens with which arguments)
 * without QEMU or LXC.  The real runtimes are proven by tests/e2e. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/ctx.h"
#include "common/util.h"
#include "vm/runtime.h"
#include "vm/store.h"
#include "vm/vm.h"
#include "vm/vmobj.h"
#include "vmtest.h"

typedef struct fx {
    vmt_root r;
    char uuid[37];
} fx;

#define J vmt_json

static void create_vm(fx *f, bool autoboot, char uuid[37])
{
    vm_err err = VM_ERR_INIT;
    json_t *p = J(autoboot ? "{\"brand\":\"bhyve\",\"autoboot\":true,\"ram\":256,"
                             "\"disks\":[{\"size\":16,\"model\":\"virtio\",\"boot\":true}]}"
                           : "{\"brand\":\"bhyve\",\"autoboot\":false,\"ram\":256,"
                             "\"disks\":[{\"size\":16,\"model\":\"virtio\",\"boot\":true}]}");
    int r = vm_create(&f->r.ctx, p, uuid, &err);
    json_decref(p);
    if (r < 0)
        fail_msg("vm_create: %s", err.msg);
}

static int setup(void **state)
{
    fx *f = calloc(1, sizeof *f);
    if (vmt_root_setup(&f->r, "life") < 0)
        return -1;
    vm_runtime_override(&vm_runtime_fake);
    create_vm(f, false, f->uuid);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx *f = *state;
    vm_runtime_override(NULL);
    vmt_root_teardown(&f->r);
    free(f);
    return 0;
}

/* The fake runtime's call log, then emptied. */
static char *take_log(fx *f)
{
    return vmt_take_log(&f->r);
}

static void expect_log(fx *f, const char *want_fmt)
{
    /* Every "%s" in want_fmt stands for the VM's uuid. */
    cleanup_free char *want = xmalloc(strlen(want_fmt) * 20 + 1);
    char *w = want;
    for (const char *p = want_fmt; *p; p++) {
        if (p[0] == '%' && p[1] == 's') {
            w = stpcpy(w, f->uuid);
            p++;
        } else {
            *w++ = *p;
        }
    }
    *w = '\0';
    cleanup_free char *got = take_log(f);
    if (strcmp(got, want))
        fail_msg("runtime calls:\n%s\nexpected:\n%s", got, want);
}

static const char *state_of(fx *f, const char *key, char *buf, size_t n)
{
    vm_err err = VM_ERR_INIT;
    cleanup_json json_t *o = NULL;
    if (vmobj_load(&f->r.ctx, f->uuid, &o, &err) < 0)
        fail_msg("vmobj_load: %s", err.msg);
    json_t *v = json_object_get(o, key);
    snprintf(buf, n, "%s", json_is_string(v) ? json_string_value(v) : json_is_true(v) ? "true" : "false");
    return buf;
}

static void test_start_stop(void **state)
{
    fx *f = *state;
    vm_err err = VM_ERR_INIT;
    char b[64];
    free(take_log(f));
    assert_string_equal(state_of(f, "state", b, sizeof b), "stopped");
    assert_int_equal(vm_start(&f->r.ctx, f->uuid, &err), 0);
    expect_log(f, "start %s\n");
    assert_string_equal(state_of(f, "state", b, sizeof b), "running");
    assert_string_equal(state_of(f, "autoboot", b, sizeof b), "true"); /* C23 */

    assert_int_equal(vm_start(&f->r.ctx, f->uuid, &err), -1);
    assert_int_equal(err.code, VMERR_ALREADY);
    cleanup_free char *m = xasprintf("VM %s is already 'running'", f->uuid);
    assert_string_equal(err.msg, m);
    expect_log(f, ""); /* no runtime call for a no-op */

    /* The runtime's own grace period when none is given. */
    assert_int_equal(vm_stop(&f->r.ctx, f->uuid, 0, 0, &err), 0);
    expect_log(f, "stop %s force=0 timeout=5\n");
    assert_string_equal(state_of(f, "state", b, sizeof b), "stopped");
    assert_string_equal(state_of(f, "autoboot", b, sizeof b), "false"); /* C24 */
    assert_int_equal(vm_stop(&f->r.ctx, f->uuid, 0, 30, &err), -1);
    assert_int_equal(err.code, VMERR_ALREADY);
    assert_int_equal(vm_stop(&f->r.ctx, f->uuid, 1, 30, &err), -1);
    assert_int_equal(err.code, VMERR_STATE);
    assert_int_equal(vm_kill(&f->r.ctx, f->uuid, SIGKILL, &err), -1);
    assert_int_equal(err.code, VMERR_STATE);
    expect_log(f, "");
}

static void test_start_failure_keeps_autoboot(void **state)
{
    fx *f = *state;
    vm_err err = VM_ERR_INIT;
    char b[64];
    free(take_log(f));
    snprintf(vm_fake_runtime_fail_next, sizeof vm_fake_runtime_fail_next, "no firmware");
    assert_int_equal(vm_start(&f->r.ctx, f->uuid, &err), -1);
    assert_string_equal(err.msg, "no firmware");
    assert_string_equal(state_of(f, "state", b, sizeof b), "stopped");
    assert_string_equal(state_of(f, "autoboot", b, sizeof b), "false");
    expect_log(f, "start %s\n");
}

static void test_reboot_and_kill(void **state)
{
    fx *f = *state;
    vm_err err = VM_ERR_INIT;
    assert_int_equal(vm_reboot(&f->r.ctx, f->uuid, 0, &err), -1);
    assert_int_equal(err.code, VMERR_STATE);
    assert_string_equal(err.msg, "Cannot reboot vm from state \"stopped\", must be \"running\"");
    assert_int_equal(vm_start(&f->r.ctx, f->uuid, &err), 0);
    free(take_log(f));
    /* reboot -F: the runtime's hard reset. */
    assert_int_equal(vm_reboot(&f->r.ctx, f->uuid, 1, &err), 0);
    expect_log(f, "reset %s\n");
    /* reboot: stop with 10 s grace, then start (C26). */
    assert_int_equal(vm_reboot(&f->r.ctx, f->uuid, 0, &err), 0);
    expect_log(f, "stop %s force=0 timeout=10\nstart %s\n");
    /* A runtime without reset: reboot -F is a forced stop and a start. */
    vm_runtime noreset = vm_runtime_fake;
    noreset.reset = NULL;
    vm_runtime_override(&noreset);
    assert_int_equal(vm_reboot(&f->r.ctx, f->uuid, 1, &err), 0);
    expect_log(f, "stop %s force=1 timeout=10\nstart %s\n");
    vm_runtime_override(&vm_runtime_fake);
    assert_int_equal(vm_kill(&f->r.ctx, f->uuid, SIGKILL, &err), 0);
    expect_log(f, "kill %s 9\n");
}

static void test_access_unsupported(void **state)
{
    fx *f = *state;
    vm_err err = VM_ERR_INIT;
    int status;
    json_t *out = NULL;
    assert_int_equal(vm_console(&f->r.ctx, f->uuid, &err), -1);
    assert_string_equal(err.msg, "cannot connect to console when state is \"stopped\" must be \"running\".");
    assert_int_equal(vm_start(&f->r.ctx, f->uuid, &err), 0);
    assert_int_equal(vm_console(&f->r.ctx, f->uuid, &err), -1);
    assert_int_equal(err.code, VMERR_UNSUPPORTED);
    assert_string_equal(err.msg, "console is not supported for brand bhyve");
    assert_int_equal(vm_login(&f->r.ctx, f->uuid, NULL, &status, &err), -1);
    assert_string_equal(err.msg, "login is only supported for container brands; use vmadm console for bhyve VMs");
    assert_int_equal(vm_info(&f->r.ctx, f->uuid, NULL, &out, &err), -1);
    assert_string_equal(err.msg, "no info types supported for brand bhyve");
    assert_int_equal(vm_sysrq(&f->r.ctx, f->uuid, "nmi", &out, &err), -1);
    assert_string_equal(err.msg, "sysrq is not supported for brand bhyve");
    assert_null(out);
}

static void test_live_snapshot_switches_disks(void **state)
{
    fx *f = *state;
    vm_err err = VM_ERR_INIT;
    assert_int_equal(vm_start(&f->r.ctx, f->uuid, &err), 0);
    free(take_log(f));
    assert_int_equal(vm_snapshot_create(&f->r.ctx, f->uuid, "s1", &err), 0);
    expect_log(f, "snapshot_switch %s 1\n");
    /* Deleting waits for a stop: the runtime holds the layers open. */
    assert_int_equal(vm_snapshot_delete(&f->r.ctx, f->uuid, "s1", &err), -1);
    assert_int_equal(err.code, VMERR_STATE);
    /* The runtime refusing the switch: the VM is stopped, no snapshot left. */
    snprintf(vm_fake_runtime_fail_next, sizeof vm_fake_runtime_fail_next, "QMP gone");
    assert_int_equal(vm_snapshot_create(&f->r.ctx, f->uuid, "s2", &err), -1);
    assert_non_null(strstr(err.msg, "QMP gone"));
    char b[64];
    assert_string_equal(state_of(f, "state", b, sizeof b), "stopped");
    vm_err e2 = VM_ERR_INIT;
    assert_int_equal(vm_snapshot_delete(&f->r.ctx, f->uuid, "s2", &e2), -1);
    assert_int_equal(e2.code, VMERR_NOTFOUND);
}

static void test_boot_all_reports_every_vm(void **state)
{
    fx *f = *state;
    vm_err err = VM_ERR_INIT;
    char a1[37], a2[37], bad[37];
    create_vm(f, true, a1); /* autoboot: started by create */
    create_vm(f, true, a2);
    create_vm(f, true, bad);
    /* A host crash: the fake's processes are gone. */
    cleanup_free char *s1 = xasprintf("%s/run/vms/%s/fake-state", f->r.root, a1);
    cleanup_free char *s2 = xasprintf("%s/run/vms/%s/fake-state", f->r.root, a2);
    cleanup_free char *s3 = xasprintf("%s/run/vms/%s/fake-state", f->r.root, bad);
    unlink(s1);
    unlink(s2);
    unlink(s3);
    /* One VM's config is unreadable: reported, not dropped. */
    cleanup_free char *cfg = vm_store_config_path(&f->r.ctx, bad);
    assert_int_equal(write_file_atomic(cfg, "{", 1, 0644, &err), 0);
    setenv("VMADM_BOOT_PARALLEL", "1", 1);
    cleanup_json json_t *rep = NULL;
    assert_int_equal(vm_boot_all(&f->r.ctx, &rep, &err), 0);
    unsetenv("VMADM_BOOT_PARALLEL");
    assert_int_equal(json_array_size(rep), 3); /* f->uuid has autoboot=false */
    size_t i;
    json_t *x;
    int ok = 0, failed = 0;
    json_array_foreach(rep, i, x) {
        const char *u = json_string_value(json_object_get(x, "uuid"));
        if (!strcmp(u, bad)) {
            assert_false(json_is_true(json_object_get(x, "ok")));
            assert_non_null(json_string_value(json_object_get(x, "error")));
            failed++;
        } else {
            assert_true(json_is_true(json_object_get(x, "ok")));
            ok++;
        }
    }
    assert_int_equal(ok, 2);
    assert_int_equal(failed, 1);
    assert_true(path_exists(s1));
    assert_true(path_exists(s2));
}

/* A delete killed after its commit is finished by the next command's
 * repair, and the runtime forgets the VM then too (id range, host links). */
static void test_interrupted_delete_forgets(void **state)
{
    fx *f = *state;
    vm_err err = VM_ERR_INIT;
    free(take_log(f));
    assert_int_equal(vm_store_begin_delete(&f->r.ctx, f->uuid, &err), 0);
    assert_int_equal(vm_store_repair(&f->r.ctx, &err), 0);
    expect_log(f, "forget %s\n");
    assert_false(vm_store_exists(&f->r.ctx, f->uuid));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_start_stop, setup, teardown),
        cmocka_unit_test_setup_teardown(test_start_failure_keeps_autoboot, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reboot_and_kill, setup, teardown),
        cmocka_unit_test_setup_teardown(test_access_unsupported, setup, teardown),
        cmocka_unit_test_setup_teardown(test_live_snapshot_switches_disks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_boot_all_reports_every_vm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interrupted_delete_forgets, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
