/* hv_build_argv: the QEMU command line derived from a VM object. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "common/util.h"
#include "hv/hv.h"

#define UUID "6f2b1d5e-2c47-4c1a-9d0e-0b5c3a9e7f11"

static vm_ctx test_ctx(const char *root)
{
    vm_ctx c = { 0 };
    c.root = (char *)root;
    c.run_dir = xasprintf("%s/run", root);
    c.etc_dir = xasprintf("%s/etc/vms", root);
    return c;
}

static void free_ctx(vm_ctx *c)
{
    free(c->run_dir);
    free(c->etc_dir);
}

/* Builds argv for `json` (VM object text); returns NULL on error with msg. */
static char **build(const char *json, const char *accel, vm_err *err)
{
    vm_ctx c = test_ctx("/tmp/vmadm-root");
    json_t *vm = json_loads(json, 0, NULL);
    assert_non_null(vm);
    char **argv = NULL;
    int rc = hv_build_argv(&c, NULL, vm, accel, &argv, err);
    json_decref(vm);
    free_ctx(&c);
    return rc == 0 ? argv : NULL;
}

/* Index of the value following option `opt` whose text equals `val`, or -1. */
static int find_opt(char **argv, const char *opt, const char *val)
{
    for (int i = 0; argv[i] && argv[i + 1]; i++)
        if (!strcmp(argv[i], opt) && !strcmp(argv[i + 1], val))
            return i + 1;
    return -1;
}

static int count_opt(char **argv, const char *opt)
{
    int n = 0;
    for (int i = 0; argv[i]; i++)
        n += !strcmp(argv[i], opt);
    return n;
}

static bool has_arg(char **argv, const char *val)
{
    for (int i = 0; argv[i]; i++)
        if (!strcmp(argv[i], val))
            return true;
    return false;
}

static void expect_error(const char *json, const char *accel, const char *msg_prefix)
{
    vm_err err = VM_ERR_INIT;
    char **argv = build(json, accel, &err);
    if (argv) {
        strv_free(argv);
        fail_msg("expected failure '%s'", msg_prefix);
    }
    if (strncmp(err.msg, msg_prefix, strlen(msg_prefix)) != 0)
        fail_msg("got '%s', expected prefix '%s'", err.msg, msg_prefix);
}

static void test_pci_slot_parse(void **state)
{
    (void)state;
    int b, d, f;
    vm_err err = VM_ERR_INIT;
    assert_int_equal(hv_parse_pci_slot("0:4:0", &b, &d, &f, &err), 0);
    assert_true(b == 0 && d == 4 && f == 0);
    assert_int_equal(hv_parse_pci_slot("4:1", &b, &d, &f, &err), 0);
    assert_true(b == 0 && d == 4 && f == 1);
    assert_int_equal(hv_parse_pci_slot("5", &b, &d, &f, &err), 0);
    assert_true(b == 0 && d == 5 && f == 0);
    assert_int_equal(hv_parse_pci_slot("255:31:7", &b, &d, &f, &err), 0);
    assert_true(b == 255 && d == 31 && f == 7);
    const char *bad[] = { "foo",  "4:0:0:0", "256:0:0", "-1:0:0", "4:32:0", "4:0:8", "",
                          "4::0", ":4",      "4:",      "0x4",    " 4",     "1000" };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        vm_err e = VM_ERR_INIT;
        assert_int_equal(hv_parse_pci_slot(bad[i], &b, &d, &f, &e), -1);
        char want[64];
        snprintf(want, sizeof want, "pci_slot \"%s\" is not valid", bad[i]);
        assert_string_equal(e.msg, want);
    }
}

static void test_basic(void **state)
{
    (void)state;
    vm_err err = VM_ERR_INIT;
    char **a = build("{\"uuid\":\"" UUID "\",\"ram\":1024,\"vcpus\":2,\"vnc_port\":-1}", "tcg", &err);
    assert_non_null(a);
    assert_string_equal(a[0], "qemu-system-x86_64");
    assert_true(find_opt(a, "-machine", "q35") > 0);
    assert_true(find_opt(a, "-accel", "tcg") > 0);
    assert_true(find_opt(a, "-m", "1024") > 0);
    assert_true(find_opt(a, "-smp", "2") > 0);
    assert_true(find_opt(a, "-cpu", "qemu64") > 0);
    assert_true(find_opt(a, "-uuid", UUID) > 0);
    assert_true(find_opt(a, "-display", "none") > 0);
    assert_true(has_arg(a, "-nodefaults"));
    /* sockets and the console log are descriptors vmadm opens */
    assert_true(find_opt(a, "-chardev", "socket,id=qmp,fd=4,server=on,wait=off") > 0);
    assert_true(find_opt(a, "-add-fd", "fd=5,set=1,opaque=console.log") > 0);
    assert_true(find_opt(a, "-chardev", "socket,id=serial0,fd=6,server=on,wait=off,logfile=/dev/fdset/1") > 0);
    assert_true(find_opt(a, "-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny") > 0);
    for (int i = 0; a[i]; i++)
        assert_null(strstr(a[i], "/tmp/vmadm-root")); /* QEMU opens no path of the VM */
    assert_true(find_opt(a, "-serial", "chardev:serial0") > 0);
    assert_true(find_opt(a, "-nic", "none") > 0);
    assert_int_equal(count_opt(a, "-vnc"), 0);
    assert_int_equal(count_opt(a, "-device"), 0);
    assert_int_equal(count_opt(a, "-bios"), 0);
    strv_free(a);
}

static void test_disks_virtio_multifunction(void **state)
{
    (void)state;
    vm_err err = VM_ERR_INIT;
    char **a = build("{\"uuid\":\"" UUID "\",\"vnc_port\":-1,\"disks\":["
                     "{\"path\":\"/x/" UUID "/disk0\",\"zfs_filesystem\":\"zones/" UUID "/disk0\","
                     "\"boot\":true,\"model\":\"virtio\",\"pci_slot\":\"0:4:0\"},"
                     "{\"path\":\"/img/data.qcow2\",\"model\":\"virtio\",\"pci_slot\":\"4:1\"},"
                     "{\"path\":\"/img/z.raw\",\"model\":\"virtio\",\"pci_slot\":\"5\",\"notrim\":true}]}",
                     "tcg", &err);
    assert_non_null(a);
    /* pool NULL: the volume disk falls back to its path */
    assert_true(find_opt(a, "-add-fd", "fd=7,set=2,opaque=/x/" UUID "/disk0") > 0);
    assert_true(find_opt(a, "-add-fd", "fd=8,set=2,opaque=/x/" UUID "/disk0") > 0);
    assert_true(find_opt(a, "-drive", "if=none,id=disk0,format=raw,file=/dev/fdset/2,file.locking=off,discard=unmap") >
                0);
    assert_true(find_opt(a, "-device",
                         "virtio-blk-pci,id=disk0,drive=disk0,bus=pcie.0,"
                         "addr=0x4.0,multifunction=on,bootindex=0") > 0);
    assert_true(find_opt(a, "-drive",
                         "if=none,id=file1,format=qcow2,file=/dev/fdset/3,file.locking=off,"
                         "discard=unmap") > 0);
    assert_true(find_opt(a, "-device",
                         "virtio-blk-pci,id=file1,drive=file1,bus=pcie.0,"
                         "addr=0x4.1") > 0);
    /* alone on device 5: no multifunction, notrim: no discard */
    assert_true(find_opt(a, "-drive", "if=none,id=file2,format=raw,file=/dev/fdset/4,file.locking=off") > 0);
    assert_true(find_opt(a, "-device",
                         "virtio-blk-pci,id=file2,drive=file2,bus=pcie.0,"
                         "addr=0x5.0") > 0);
    strv_free(a);
}

static void test_disks_ahci_nvme_cdrom(void **state)
{
    (void)state;
    vm_err err = VM_ERR_INIT;
    char **a = build("{\"uuid\":\"" UUID "\",\"vnc_port\":-1,\"disks\":["
                     "{\"path\":\"/d/disk0\",\"boot\":true,\"model\":\"ahci\",\"pci_slot\":\"0:4:0\"},"
                     "{\"path\":\"/d/disk1\",\"model\":\"nvme\",\"pci_slot\":\"0:7:0\","
                     "\"uuid\":\"4869641c-555b-6809-bd97-b9fc2a84e1b9\",\"guest_block_size\":\"512/4096\"},"
                     "{\"path\":\"/iso/boot.iso\",\"model\":\"ahci\",\"media\":\"cdrom\","
                     "\"pci_slot\":\"0:3:0\"}]}",
                     "tcg", &err);
    assert_non_null(a);
    assert_true(find_opt(a, "-device", "ich9-ahci,id=sata-disk0,bus=pcie.0,addr=0x4.0") > 0);
    assert_true(find_opt(a, "-device", "ide-hd,id=disk0,drive=disk0,bus=sata-disk0.0,bootindex=0") > 0);
    assert_true(find_opt(a, "-device",
                         "nvme,id=disk1,drive=disk1,serial=4869641c-555b-6809-bd97-"
                         "b9fc2a84e1b9,bus=pcie.0,addr=0x7.0,logical_block_size=512,"
                         "physical_block_size=4096") > 0);
    assert_true(find_opt(a, "-drive",
                         "if=none,id=cdrom2,format=raw,media=cdrom,readonly=on,"
                         "file=/dev/fdset/4,file.locking=off") > 0);
    assert_true(find_opt(a, "-device", "ich9-ahci,id=sata-cdrom2,bus=pcie.0,addr=0x3.0") > 0);
    assert_true(find_opt(a, "-device", "ide-cd,id=cdrom2,drive=cdrom2,bus=sata-cdrom2.0") > 0);
    strv_free(a);
}

static void test_firmware(void **state)
{
    (void)state;
    vm_err err = VM_ERR_INIT;
    char **a = build("{\"uuid\":\"" UUID "\",\"bootrom\":\"uefi\",\"vnc_port\":-1}", "tcg", &err);
    assert_non_null(a);
    assert_true(find_opt(a, "-drive",
                         "if=pflash,format=raw,unit=0,readonly=on,"
                         "file=/usr/share/OVMF/OVMF_CODE_4M.fd") > 0);
    assert_true(find_opt(a, "-add-fd", "fd=7,set=2,opaque=uefi-vars") > 0);
    assert_true(find_opt(a, "-drive", "if=pflash,format=raw,unit=1,file=/dev/fdset/2") > 0);
    strv_free(a);
    a = build("{\"uuid\":\"" UUID "\",\"bootrom\":\"bios\",\"vnc_port\":-1}", "tcg", &err);
    assert_non_null(a);
    assert_int_equal(count_opt(a, "-drive"), 0);
    assert_int_equal(count_opt(a, "-bios"), 0);
    strv_free(a);
    /* SmartOS's firmware paths name one of the two; no other path is read. */
    a = build("{\"uuid\":\"" UUID "\",\"bootrom\":\"/usr/share/bhyve/uefi-rom.bin\",\"vnc_port\":-1}", "tcg", &err);
    assert_non_null(a);
    assert_true(find_opt(a, "-drive", "if=pflash,format=raw,unit=1,file=/dev/fdset/2") > 0);
    strv_free(a);
    a = build("{\"uuid\":\"" UUID "\",\"bootrom\":\"/usr/share/bhyve/uefi-csm-rom.bin\",\"vnc_port\":-1}", "tcg", &err);
    assert_non_null(a);
    assert_int_equal(count_opt(a, "-drive"), 0);
    assert_int_equal(count_opt(a, "-bios"), 0);
    strv_free(a);
    expect_error(
        "{\"uuid\":\"" UUID "\",\"bootrom\":\"/opt/rom.bin\"}", "tcg",
        "bootrom \"/opt/rom.bin\" is not valid (accepted: bios, uefi, /usr/share/bhyve/uefi-rom.bin, "
        "/usr/share/bhyve/uefi-csm-rom.bin, /usr/share/bhyve/BHYVE_UEFI.fd, /usr/share/bhyve/BHYVE_UEFI_CSM.fd)");
}

static void test_vnc(void **state)
{
    (void)state;
    vm_err err = VM_ERR_INIT;
    /* off unless asked for (issue 14 #6) */
    char **a = build("{\"uuid\":\"" UUID "\"}", "tcg", &err);
    assert_non_null(a);
    assert_int_equal(count_opt(a, "-vnc"), 0);
    assert_int_equal(count_opt(a, "-device"), 0);
    strv_free(a);
    /* asked for without a password: a unix socket only */
    a = build("{\"uuid\":\"" UUID "\",\"vnc_port\":0}", "tcg", &err);
    assert_non_null(a);
    assert_true(find_opt(a, "-vnc", "unix:vnc.sock") > 0);
    assert_true(find_opt(a, "-device", "VGA,id=video0,bus=pcie.0,addr=0x1e.0") > 0);
    strv_free(a);
    /* a password alone asks for VNC on the first free display */
    a = build("{\"uuid\":\"" UUID "\",\"vnc_password\":\"pw\"}", "tcg", &err);
    assert_non_null(a);
    assert_true(find_opt(a, "-vnc", "127.0.0.1:0,to=99,password=on") > 0);
    strv_free(a);
    a = build("{\"uuid\":\"" UUID "\",\"vnc_port\":5905,\"vnc_password\":\"s3cret\"}", "tcg", &err);
    assert_non_null(a);
    assert_true(find_opt(a, "-vnc", "127.0.0.1:5,password=on") > 0);
    for (int i = 0; a[i]; i++)
        assert_null(strstr(a[i], "s3cret")); /* never on the command line */
    strv_free(a);
    expect_error("{\"uuid\":\"" UUID "\",\"vnc_port\":5000}", "tcg", "vnc_port 5000 is not usable");
    /* device 30 is the framebuffer when VNC is on */
    expect_error("{\"uuid\":\"" UUID "\",\"vnc_port\":0,\"disks\":[{\"path\":\"/a\",\"pci_slot\":\"0:30:0\"}]}", "tcg",
                 "pci_slot \"0:30:0\" invalid: PCI device 30 is reserved");
}

static void test_cpu(void **state)
{
    (void)state;
    vm_err err = VM_ERR_INIT;
    char **a = build("{\"uuid\":\"" UUID "\",\"cpu_type\":\"host\",\"vnc_port\":-1}", "kvm", &err);
    assert_non_null(a);
    assert_true(find_opt(a, "-cpu", "host,-arch-capabilities") > 0);
    assert_true(find_opt(a, "-accel", "kvm") > 0);
    strv_free(a);
    a = build("{\"uuid\":\"" UUID "\",\"cpu_type\":\"host\",\"vnc_port\":-1}", "tcg", &err);
    assert_non_null(a);
    assert_true(find_opt(a, "-cpu", "max") > 0);
    strv_free(a);
    a = build("{\"uuid\":\"" UUID "\",\"cpu_type\":\"Haswell-noTSX\",\"vnc_port\":-1}", "tcg", &err);
    assert_non_null(a);
    assert_true(find_opt(a, "-cpu", "Haswell-noTSX") > 0);
    strv_free(a);
    expect_error("{\"uuid\":\"" UUID "\",\"cpu_type\":\"x y\"}", "tcg", "cpu_type \"x y\" is not valid");
}

static void test_extra_opts(void **state)
{
    (void)state;
    vm_err err = VM_ERR_INIT;
    char **a = build("{\"uuid\":\"" UUID "\",\"vnc_port\":-1,"
                     "\"qemu_extra_opts\":\"-fw_cfg  name=opt/vmadm/mode,string=acpid\"}",
                     "tcg", &err);
    assert_non_null(a);
    int n = (int)strv_len(a);
    assert_string_equal(a[n - 2], "-fw_cfg");
    assert_string_equal(a[n - 1], "name=opt/vmadm/mode,string=acpid");
    strv_free(a);
}

static void test_errors(void **state)
{
    (void)state;
    expect_error("{\"uuid\":\"nope\"}", "tcg", "VM object has no valid uuid");
    expect_error("{\"uuid\":\"" UUID "\"}", "hax", "accelerator must be kvm or tcg");
    expect_error("{\"uuid\":\"" UUID "\",\"disks\":[{\"path\":\"/a\",\"pci_slot\":\"1:4:0\"}]}", "tcg",
                 "pci_slot \"1:4:0\": only PCI bus 0 is supported");
    expect_error("{\"uuid\":\"" UUID "\",\"disks\":[{\"path\":\"/a\",\"pci_slot\":\"0:4:0\"},"
                 "{\"path\":\"/b\",\"pci_slot\":\"4\"}]}",
                 "tcg", "VM has multiple disks in pci_slot \"4\"");
    expect_error("{\"uuid\":\"" UUID "\",\"disks\":[{\"path\":\"/a\",\"pci_slot\":\"0:31:0\"}]}", "tcg",
                 "pci_slot \"0:31:0\" invalid: PCI device 31 is reserved");
    expect_error("{\"uuid\":\"" UUID "\",\"disks\":[{\"path\":\"/a\",\"pci_slot\":\"0:4:0\",\"boot\":true},"
                 "{\"path\":\"/b\",\"pci_slot\":\"0:4:1\",\"boot\":true}]}",
                 "tcg", "multiple boot disks");
    expect_error("{\"uuid\":\"" UUID "\",\"disks\":[{\"path\":\"/a\",\"pci_slot\":\"x\"}]}", "tcg",
                 "pci_slot \"x\" is not valid");
    expect_error("{\"uuid\":\"" UUID "\",\"disks\":[{\"path\":\"/a\"}]}", "tcg", "disk file0 has no pci_slot");
    expect_error("{\"uuid\":\"" UUID "\",\"disks\":[{\"pci_slot\":\"4\"}]}", "tcg",
                 "disk file0 has neither a volume nor a path");
    expect_error("{\"uuid\":\"" UUID "\",\"disks\":[{\"path\":\"/a\",\"pci_slot\":\"4\",\"model\":\"scsi\"}]}", "tcg",
                 "disk file0: model \"scsi\" is not valid");
}

static void test_socket_path_limit(void **state)
{
    (void)state;
    char root[200];
    memset(root, 'r', sizeof root);
    root[0] = '/';
    root[sizeof root - 1] = '\0';
    vm_ctx c = test_ctx(root);
    json_t *vm = json_pack("{s:s}", "uuid", UUID);
    char **argv = NULL;
    vm_err err = VM_ERR_INIT;
    assert_int_equal(hv_build_argv(&c, NULL, vm, "tcg", &argv, &err), -1);
    assert_non_null(strstr(err.msg, "/console.sock is too long"));
    assert_non_null(strstr(err.msg, root));
    json_decref(vm);
    free_ctx(&c);
}

static void test_disk_ids(void **state)
{
    (void)state;
    json_t *d = json_pack("{s:s}", "zfs_filesystem", "zones/" UUID "/disk12");
    char *id = hv_disk_id(d, 0);
    assert_string_equal(id, "disk12");
    free(id);
    json_decref(d);
    d = json_pack("{s:s,s:s}", "path", "/isos/x.iso", "media", "cdrom");
    id = hv_disk_id(d, 3);
    assert_string_equal(id, "cdrom3");
    free(id);
    json_decref(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pci_slot_parse),
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_disks_virtio_multifunction),
        cmocka_unit_test(test_disks_ahci_nvme_cdrom),
        cmocka_unit_test(test_firmware),
        cmocka_unit_test(test_vnc),
        cmocka_unit_test(test_cpu),
        cmocka_unit_test(test_extra_opts),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_socket_path_limit),
        cmocka_unit_test(test_disk_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
