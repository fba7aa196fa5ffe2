/* The cloud-init NoCloud seed drive of an HVM whose payload says
 * "nocloud": true (lib/mdata/nocloud.h has the seed's contents, nocloud.c
 * in this directory writes it at each start).
 *
 * Where: an ide-cd on port 5 (bus ide.5) of the q35 machine's own ICH9
 * AHCI controller (00:1f.2, part of device 31, which hv_pci_init always
 * reserves).  So the seed takes no PCI slot: the VM's disks keep their
 * sticky pci_slots and no slot any future device may claim is used; the
 * guest sees it at the same place on every boot.  Read-only from end to
 * end: QEMU gets a read-only descriptor of run/vms/<uuid>/cidata.iso
 * (kind "seed", opened by hv_start after writing it) and readonly=on.
 * Drive and device id "cidata" (disk ids are disk<N>, cdrom<i>, file<i>:
 * no clash).  No bootindex: it is never a boot device.  A VM without
 * "nocloud": true gets nothing here. */
#include "argv_internal.h"

#include "common/util.h"

void argv_add_nocloud(hv_argv *a, hv_fdplan *p, const hv_machine *m, json_t *vmobj)
{
    if (!json_is_true(json_object_get(vmobj, "nocloud")))
        return;
    cleanup_free char *seed = xasprintf("%s/%s", m->rundir, HV_NOCLOUD_SEED);
    int set = p->next_set++;
    argv_add_fd(a, p, set, "seed", seed, NULL, seed);
    argv_optf(a, "-drive", "if=none,id=cidata,format=raw,media=cdrom,readonly=on,file=/dev/fdset/%d,file.locking=off",
              set);
    argv_optf(a, "-device", "ide-cd,id=cidata,drive=cidata,bus=ide.5");
}
