/* PCI bus 0 of the q35 machine: slot syntax and the one slot allocator. */
#include "hv/argv_internal.h"

#include <ctype.h>

#include "common/util.h"
#include "hv/hv.h"

static int parse_num(const char *s, size_t len, int max, int *out)
{
    if (len == 0 || len > 3)
        return -1;
    int v = 0;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

int hv_parse_pci_slot(const char *s, int *bus, int *dev, int *fn, vm_err *err)
{
    int f[3], nf = 0;
    const char *p = s, *start = s;
    if (!s)
        return vm_err_set(err, VMERR_INVALID, "pci_slot is not a string");
    for (;; p++) {
        if (*p == ':' || *p == '\0') {
            if (nf == 3)
                goto bad;
            /* Ranges are checked below once we know which field is which. */
            if (parse_num(start, (size_t)(p - start), 255, &f[nf]) < 0)
                goto bad;
            nf++;
            if (*p == '\0')
                break;
            start = p + 1;
        }
    }
    int b = 0, d, fu = 0;
    if (nf == 3) {
        b = f[0];
        d = f[1];
        fu = f[2];
    } else if (nf == 2) {
        d = f[0];
        fu = f[1];
    } else {
        d = f[0];
    }
    if (d > 31 || fu > 7)
        goto bad;
    *bus = b;
    *dev = d;
    *fn = fu;
    return 0;
bad:
    return vm_err_set(err, VMERR_INVALID, "pci_slot \"%s\" is not valid", s);
}

void hv_pci_init(hv_pci_bus *bus, bool vga)
{
    *bus = (hv_pci_bus){ 0 };
    bus->reserved = 1u << 0 | 1u << 31;
    if (vga)
        bus->reserved |= 1u << HV_PCI_VGA_DEV;
}

int hv_pci_claim(hv_pci_bus *bus, const char *slot, const char *what, int *dev, int *fn, vm_err *err)
{
    int b;
    if (hv_parse_pci_slot(slot, &b, dev, fn, err) < 0)
        return -1;
    if (b != 0)
        return vm_err_set(err, VMERR_UNSUPPORTED, "pci_slot \"%s\": only PCI bus 0 is supported on this host", slot);
    if (bus->reserved & (1u << *dev))
        return vm_err_set(err, VMERR_INVALID, "pci_slot \"%s\" invalid: PCI device %d is reserved", slot, *dev);
    if (bus->used[*dev] & (1u << *fn))
        return vm_err_set(err, VMERR_INVALID, "VM has multiple %s in pci_slot \"%s\"", what, slot);
    bus->used[*dev] |= (unsigned char)(1u << *fn);
    return 0;
}

char *hv_pci_addr(const hv_pci_bus *bus, int dev, int fn)
{
    bool multi = fn == 0 && (bus->used[dev] & ~1u);
    return xasprintf("bus=pcie.0,addr=0x%x.%d%s", dev, fn, multi ? ",multifunction=on" : "");
}
