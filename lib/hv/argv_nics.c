/* NICs (the VM's nics[]) on the QEMU command line.
 *
 * Each NIC is a tap device that vmadm creates, plugs into its nic tag's
 * bridge and protects (lib/net) before QEMU starts; QEMU gets it as an
 * inherited descriptor (fd plan kind "tap", see argv_internal.h), so the
 * confined QEMU needs neither /dev/net/tun nor CAP_NET_ADMIN:
 *   -netdev tap,id=<interface>,fd=<n>
 *   -device <model>,id=<interface>,netdev=<interface>,mac=<mac>,bus=pcie.0,addr=0x6.<i>
 *
 * PCI slots: SmartOS keeps bus-0 device 6 for NICs (disks may not use it,
 * reference D25); the NIC i-th by interface number sits at 0:6:i.  Adding
 * a NIC (it gets the next interface number) therefore never moves a NIC
 * or a disk the guest already knows; removing one packs the NICs after it
 * down, so function 0 stays present (a guest scans a device's other
 * functions only when function 0 exists); function 0 is always marked
 * multifunction, so the guest's name for it never changes when a second
 * NIC comes.  At most 8 NICs per HVM VM.
 *
 * Models: virtio -> virtio-net-pci (with host_mtu=<mtu> when the NIC has
 * an mtu, so the guest learns it from the device), e1000 -> e1000,
 * rtl8139 -> rtl8139.  A VM without NICs gets "-nic none". */
#include "hv/argv_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/units.h"
#include "common/util.h"

#define HV_PCI_NIC_DEV 6
#define HV_MAX_NICS VM_MAX_HVM_NICS

static const char *qemu_model(const char *model)
{
    static const char *const map[][2] = { { "virtio", "virtio-net-pci" },
                                          { "e1000", "e1000" },
                                          { "rtl8139", "rtl8139" } };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(model, map[i][0]))
            return map[i][1];
    return NULL;
}

/* "<letters><number>" (net0, eth3): it names QEMU objects and fds. */
static long interface_number(const char *ifname)
{
    const char *p = ifname;
    while (*p >= 'a' && *p <= 'z')
        p++;
    int64_t n;
    if (p == ifname || !*p || strlen(ifname) > 15 || !parse_i64(p, &n) || n > 9999 || !isdigit((unsigned char)*p))
        return -1;
    return (long)n;
}

/* Six two-digit hex octets separated by ':', unicast (QEMU refuses a
 * multicast MAC on a NIC). */
static bool mac_valid(const char *m)
{
    if (strlen(m) != 17)
        return false;
    for (int i = 0; i < 17; i++)
        if (i % 3 == 2 ? m[i] != ':' : !isxdigit((unsigned char)m[i]))
            return false;
    return !(strtoul(m, NULL, 16) & 1);
}

static int plan_nic(json_t *n, size_t index, hv_nic *p, vm_err *err)
{
    if (!json_is_object(n))
        return vm_err_set(err, VMERR_INVALID, "NIC %zu is not an object", index);
    const char *ifn = json_string_value(json_object_get(n, "interface"));
    p->id = ifn ? xstrdup(ifn) : xasprintf("net%zu", index);
    p->number = interface_number(p->id);
    if (p->number < 0)
        return vm_err_set(err, VMERR_INVALID, "NIC %zu: interface \"%s\" is not valid", index, p->id);
    p->mac = json_string_value(json_object_get(n, "mac"));
    if (!p->mac)
        return vm_err_set(err, VMERR_INVALID, "NIC %s has no mac", p->id);
    if (!mac_valid(p->mac))
        return vm_err_set(err, VMERR_INVALID, "NIC %s: mac \"%s\" is not a valid unicast MAC address", p->id, p->mac);
    const char *model = json_string_value(json_object_get(n, "model"));
    p->device = qemu_model(model ? model : "virtio");
    if (!p->device)
        return vm_err_set(err, VMERR_INVALID, "NIC %s: model \"%s\" is not valid (virtio, e1000 or rtl8139)", p->id,
                          model);
    json_t *mtu = json_object_get(n, "mtu");
    if (mtu && !json_is_null(mtu)) {
        int64_t v = 0;
        if (json_is_integer(mtu))
            v = json_integer_value(mtu);
        else if (!json_is_string(mtu) || !parse_i64(json_string_value(mtu), &v))
            v = -1;
        if (v < 576 || v > 9000)
            return vm_err_set(err, VMERR_INVALID, "NIC %s: mtu must be an integer from 576 to 9000", p->id);
        p->mtu = (long)v;
    }
    return 0;
}

static int by_number(const void *a, const void *b)
{
    const hv_nic *x = a, *y = b;
    return (x->number > y->number) - (x->number < y->number);
}

int hv_nics_plan(json_t *vmobj, hv_pci_bus *bus, hv_nics *out, vm_err *err)
{
    json_t *nics = json_object_get(vmobj, "nics");
    if (nics && !json_is_array(nics))
        return vm_err_set(err, VMERR_INVALID, "nics must be an array");
    out->n = json_array_size(nics);
    out->v = xcalloc(out->n ? out->n : 1, sizeof *out->v);
    if (out->n > HV_MAX_NICS)
        return vm_err_set(err, VMERR_INVALID, "VM has %zu NICs: at most %d fit on PCI device %d", out->n, HV_MAX_NICS,
                          HV_PCI_NIC_DEV);
    for (size_t i = 0; i < out->n; i++)
        if (plan_nic(json_array_get(nics, i), i, &out->v[i], err) < 0)
            return -1;
    qsort(out->v, out->n, sizeof *out->v, by_number);
    for (size_t i = 0; i < out->n; i++) {
        if (i && out->v[i].number == out->v[i - 1].number)
            return vm_err_set(err, VMERR_INVALID, "two NICs have interface number %ld (%s and %s)", out->v[i].number,
                              out->v[i - 1].id, out->v[i].id);
        for (size_t j = 0; j < i; j++)
            if (!strcasecmp(out->v[j].mac, out->v[i].mac))
                return vm_err_set(err, VMERR_INVALID, "NICs %s and %s have the same mac %s", out->v[j].id, out->v[i].id,
                                  out->v[i].mac);
        char slot[32];
        snprintf(slot, sizeof slot, "0:%d:%d", HV_PCI_NIC_DEV, (int)i);
        if (hv_pci_claim(bus, slot, "NICs or disks", &out->v[i].dev, &out->v[i].fn, err) < 0) {
            vm_err_prefix(err, "NIC %s: ", out->v[i].id);
            return -1;
        }
    }
    return 0;
}

void hv_nics_free(hv_nics *n)
{
    for (size_t i = 0; i < n->n; i++)
        free(n->v[i].id);
    free(n->v);
    *n = (hv_nics){ 0 };
}

void argv_add_nics(hv_argv *a, hv_fdplan *fp, const hv_pci_bus *bus, const hv_nics *nics)
{
    if (!nics->n) {
        /* -nodefaults already means no NIC; say so explicitly. */
        argv_optf(a, "-nic", "none");
        return;
    }
    for (size_t i = 0; i < nics->n; i++) {
        const hv_nic *n = &nics->v[i];
        cleanup_free char *addr = hv_pci_addr(bus, n->dev, n->fn);
        /* Function 0 always says multifunction: a second NIC must not
         * change how the guest names the first (systemd's enp0s6 vs
         * enp0s6f0 follows that bit). */
        const char *multi = n->fn == 0 && !strstr(addr, "multifunction") ? ",multifunction=on" : "";
        int fd = hv_fd_add(fp, "tap", n->id, NULL);
        argv_optf(a, "-netdev", "tap,id=%s,fd=%d", n->id, fd);
        cleanup_free char *mtu =
            n->mtu && !strcmp(n->device, "virtio-net-pci") ? xasprintf(",host_mtu=%ld", n->mtu) : xstrdup("");
        argv_optf(a, "-device", "%s,id=%s,netdev=%s,mac=%s,%s%s%s", n->device, n->id, n->id, n->mac, addr, multi, mtu);
    }
}
