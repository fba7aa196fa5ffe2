/* The QEMU command line for a VM.  Kept free of side effects so it can be
 * unit-tested (tests/unit/hv/golden) and reused by the benchmark ("start the
 * same argv by hand").  The device classes each add their own options
 * (argv_add_<class>, see argv_internal.h); disks live in argv_disks.c, the
 * PCI slot allocator in argv_pci.c. */
#include "hv/hv_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include "common/units.h"
#include "common/util.h"
#include "hv/argv_internal.h"

static int json_int_or(json_t *o, const char *key, long def, long *out, vm_err *err)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        *out = def;
        return 0;
    }
    if (json_is_integer(v)) {
        *out = (long)json_integer_value(v);
        return 0;
    }
    if (json_is_string(v)) {
        int64_t n;
        if (parse_i64(json_string_value(v), &n)) {
            *out = (long)n;
            return 0;
        }
        if (json_string_value(v)[0] == '-' && parse_i64(json_string_value(v) + 1, &n)) {
            *out = -(long)n;
            return 0;
        }
    }
    return vm_err_set(err, VMERR_INVALID, "%s must be an integer", key);
}

static bool plain_word(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("_.,+=-", *s))
            return false;
    return true;
}

static int parse_cpu(const char *cpu_type, const char *accel, char **cpu, vm_err *err)
{
    if (!cpu_type || !*cpu_type)
        *cpu = xstrdup("qemu64");
    else if (!strcmp(cpu_type, "host"))
        /* KVM: the nested hosts we run on reject IA32_ARCH_CAPABILITIES;
         * TCG has no "host" model, "max" is its closest equivalent. */
        *cpu = xstrdup(!strcmp(accel, "kvm") ? "host,-arch-capabilities" : "max");
    else if (plain_word(cpu_type))
        *cpu = xstrdup(cpu_type);
    else
        return vm_err_set(err, VMERR_INVALID, "cpu_type \"%s\" is not valid", cpu_type);
    return 0;
}

int hv_machine_parse(const vm_ctx *ctx, json_t *vmobj, const char *accel, hv_machine *m, vm_err *err)
{
    *m = (hv_machine){ .accel = accel };
    m->uuid = json_string_value(json_object_get(vmobj, "uuid"));
    if (!m->uuid || !uuid_valid(m->uuid))
        return vm_err_set(err, VMERR_INVALID, "VM object has no valid uuid");
    if (!accel || (strcmp(accel, "kvm") && strcmp(accel, "tcg")))
        return vm_err_set(err, VMERR_INVALID, "accelerator must be kvm or tcg");
    /* VNC is off unless asked for: a vnc_port (0 = first free display), or
     * a vnc_password alone (then the first free display).  SmartOS turns it
     * on when vnc_port is absent; we do not (issue 14 #6). */
    const char *pw = json_string_value(json_object_get(vmobj, "vnc_password"));
    long vnc_def = pw && *pw ? 0 : -1;
    if (json_int_or(vmobj, "ram", 256, &m->ram, err) < 0 || json_int_or(vmobj, "vcpus", 1, &m->vcpus, err) < 0 ||
        json_int_or(vmobj, "vnc_port", vnc_def, &m->vnc_port, err) < 0)
        return -1;
    m->vnc_unix = m->vnc_port != -1 && !(pw && *pw);
    if (m->ram < 1)
        return vm_err_set(err, VMERR_INVALID, "ram must be at least 1 (MiB)");
    if (m->vcpus < 1 || m->vcpus > 255)
        return vm_err_set(err, VMERR_INVALID, "vcpus must be between 1 and 255");

    m->rundir = vm_ctx_vm_rundir(ctx, m->uuid);
    /* Fail before anything exists rather than with QEMU's bind error. */
    struct sockaddr_un sa;
    cleanup_free char *longest = xasprintf("%s/console.sock", m->rundir);
    if (strlen(longest) >= sizeof sa.sun_path)
        return vm_err_set(err, VMERR_INVALID,
                          "socket path %s is too long (%zu bytes, unix sockets allow %zu): "
                          "use a shorter VMADM_ROOT",
                          longest, strlen(longest), sizeof sa.sun_path - 1);
    return parse_cpu(json_string_value(json_object_get(vmobj, "cpu_type")), accel, &m->cpu, err);
}

void hv_machine_free(hv_machine *m)
{
    free(m->cpu);
    free(m->rundir);
    *m = (hv_machine){ 0 };
}

void argv_add_machine(hv_argv *a, const hv_machine *m)
{
    argv_add(a, HV_QEMU_BIN);
    argv_optf(a, "-name", "%s,debug-threads=on", m->uuid);
    argv_optf(a, "-uuid", "%s", m->uuid);
    argv_optf(a, "-machine", "q35");
    argv_optf(a, "-accel", "%s", m->accel);
    argv_optf(a, "-cpu", "%s", m->cpu);
    argv_optf(a, "-m", "%ld", m->ram);
    argv_optf(a, "-smp", "%ld", m->vcpus);
    argv_add(a, "-no-user-config");
    argv_add(a, "-nodefaults");
    /* No window (VNC, when on, comes with argv_add_display); qemu.log lines
     * carry timestamps. */
    argv_optf(a, "-display", "none");
    argv_optf(a, "-msg", "timestamp=on");
    /* QEMU's own seccomp filter (confine.c has the rest of the story). */
    argv_optf(a, "-sandbox", "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
}

/* The sockets are bound by vmadm (root-owned, 0600) and inherited. */
void argv_add_monitor(hv_argv *a, hv_fdplan *p, const hv_machine *m)
{
    cleanup_free char *sock = xasprintf("%s/qmp.sock", m->rundir);
    int fd = hv_fd_add(p, "listen", sock, NULL);
    argv_optf(a, "-chardev", "socket,id=qmp,fd=%d,server=on,wait=off", fd);
    argv_optf(a, "-mon", "chardev=qmp,mode=control");
}

void argv_add_serial(hv_argv *a, hv_fdplan *p, const hv_machine *m)
{
    cleanup_free char *sock = xasprintf("%s/console.sock", m->rundir);
    cleanup_free char *log = xasprintf("%s/console.log", m->rundir);
    int set = p->next_set++;
    argv_add_fd(a, p, set, "log", log, NULL, "console.log");
    int fd = hv_fd_add(p, "listen", sock, NULL);
    argv_optf(a, "-chardev", "socket,id=serial0,fd=%d,server=on,wait=off,logfile=/dev/fdset/%d", fd, set);
    argv_optf(a, "-serial", "chardev:serial0");
}

int argv_add_firmware(hv_argv *a, hv_fdplan *p, const vm_ctx *ctx, const hv_machine *m, json_t *vmobj, char **uefi_vars,
                      vm_err *err)
{
    const char *bootrom = json_string_value(json_object_get(vmobj, "bootrom"));
    /* SmartOS's firmware paths are names for one of the two (units.h). */
    const char *kind = bootrom ? vm_bootrom_kind(bootrom) : "bios";
    if (!kind) {
        return vm_err_set(err, VMERR_INVALID, "bootrom \"%s\" is not valid (accepted: %s)", bootrom,
                          vm_bootroms_accepted());
    } else if (!strcmp(kind, "bios")) {
        /* SeaBIOS is QEMU's default firmware. */
    } else {
        cleanup_free char *vmdir = vm_ctx_vm_dir(ctx, m->uuid);
        *uefi_vars = xasprintf("%s/uefi-vars.fd", vmdir);
        int set = p->next_set++;
        argv_add_fd(a, p, set, "file", *uefi_vars, NULL, "uefi-vars");
        argv_add_fd(a, p, set, "file-ro", *uefi_vars, NULL, "uefi-vars-ro");
        argv_optf(a, "-drive", "if=pflash,format=raw,unit=0,readonly=on,file=%s", HV_OVMF_CODE);
        argv_optf(a, "-drive", "if=pflash,format=raw,unit=1,file=/dev/fdset/%d", set);
    }
    /* `vmadm start <uuid> order=cd once=d`: this start's boot order
     * (lib/vm checked it and took bootindex off the disks). */
    const char *order = json_string_value(json_object_get(vmobj, "_start_boot"));
    if (order)
        argv_optf(a, "-boot", "%s", order);
    return 0;
}

int argv_add_display(hv_argv *a, const hv_machine *m, const hv_pci_bus *bus, json_t *vmobj, json_t **vnc, vm_err *err)
{
    long port = m->vnc_port;
    if (port == -1)
        return 0;
    if (port != 0 && (port < 5900 || port > 65535))
        return vm_err_set(err, VMERR_INVALID, "vnc_port %ld is not usable: QEMU serves VNC on ports 5900-65535", port);
    cleanup_free char *addr = hv_pci_addr(bus, HV_PCI_VGA_DEV, 0);
    if (m->vnc_unix) {
        /* No password: a unix socket only root (and the QEMU user) reach,
         * in rundir/vnc/, QEMU's working directory. */
        cleanup_free char *sock = xasprintf("%s/vnc/vnc.sock", m->rundir);
        argv_optf(a, "-vnc", "unix:vnc.sock");
        argv_optf(a, "-device", "VGA,id=video0,%s", addr);
        *vnc = json_pack("{s:s}", "path", sock);
        return 0;
    }
    const char *pw = json_string_value(json_object_get(vmobj, "vnc_password"));
    int disp = port ? (int)(port - 5900) : 0;
    /* Port 0 = the first free display from 5900 on, as SmartOS picks one.
     * The password never goes on the command line (hv_start sets it). */
    argv_optf(a, "-vnc", "127.0.0.1:%d%s,password=on", disp, port ? "" : ",to=99");
    argv_optf(a, "-device", "VGA,id=video0,%s", addr);
    *vnc = json_pack("{s:s,s:i,s:b,s:s}", "host", "127.0.0.1", "display", disp, "auto", port == 0, "password", pw);
    return 0;
}

void argv_add_extra(hv_argv *a, json_t *vmobj)
{
    const char *extra = json_string_value(json_object_get(vmobj, "qemu_extra_opts"));
    if (!extra)
        return;
    cleanup_strv char **x = strv_split(extra, " ");
    for (char **e = x; e && *e; e++)
        argv_add(a, *e);
}

int hv_build_argv_full(const vm_ctx *ctx, vs_pool *pool, json_t *vmobj, const char *accel, char ***argv_out,
                       json_t **fds_out, char **uefi_out, json_t **vnc_out, vm_err *err)
{
    hv_argv a = { 0 };
    hv_machine m;
    hv_pci_bus bus;
    hv_disks disks = { 0 };
    hv_nics nics = { 0 };
    cleanup_json json_t *fds = json_array();
    hv_fdplan fp = { .fds = fds, .next_set = 1 };
    cleanup_json json_t *vnc = NULL;
    cleanup_free char *uefi_vars = NULL;
    int rc = -1;

    /* Everything the config can get wrong is checked in this order. */
    if (hv_machine_parse(ctx, vmobj, accel, &m, err) < 0)
        goto out;
    hv_pci_init(&bus, m.vnc_port != -1);
    if (hv_disks_plan(pool, vmobj, &bus, &disks, err) < 0 || hv_nics_plan(vmobj, &bus, &nics, err) < 0)
        goto out;

    argv_add_machine(&a, &m);
    argv_add_monitor(&a, &fp, &m);
    argv_add_serial(&a, &fp, &m);
    if (argv_add_firmware(&a, &fp, ctx, &m, vmobj, &uefi_vars, err) < 0 ||
        argv_add_display(&a, &m, &bus, vmobj, &vnc, err) < 0)
        goto out;
    for (size_t i = 0; i < disks.n; i++) {
        if (disks.v[i].cdrom)
            argv_add_cdrom(&a, &fp, &bus, &disks.v[i]);
        else
            argv_add_disk(&a, &fp, &bus, &disks.v[i]);
    }
    argv_add_nocloud(&a, &fp, &m, vmobj);
    argv_add_mdata(&a, &fp, &m);
    /* NICs last (before the operator's extra options): adding one only
     * appends, so no other device's slot or descriptor moves. */
    argv_add_nics(&a, &fp, &bus, &nics);
    argv_add_extra(&a, vmobj);

    *argv_out = argv_steal(&a);
    if (fds_out)
        *fds_out = json_incref(fds);
    if (uefi_out)
        *uefi_out = steal_ptr(uefi_vars);
    if (vnc_out)
        *vnc_out = json_incref(vnc);
    rc = 0;
out:
    argv_free(&a);
    hv_disks_free(&disks);
    hv_nics_free(&nics);
    hv_machine_free(&m);
    return rc;
}

int hv_build_argv(const vm_ctx *ctx, vs_pool *pool, json_t *vmobj, const char *accel, char ***argv, vm_err *err)
{
    return hv_build_argv_full(ctx, pool, vmobj, accel, argv, NULL, NULL, NULL, err);
}

long hv_host_mem_mib(void)
{
    FILE *f = fopen("/proc/meminfo", "re");
    char line[256];
    long kb = 0;
    if (!f)
        return 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemTotal: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb / 1024;
}
