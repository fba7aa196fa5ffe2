/* The guest metadata channel of an HVM (SmartOS's layout): COM2 (ttyS1 in
 * a Linux guest) on a chardev socket that vmadm binds and QEMU listens on,
 * run/vms/<uuid>/mdata.sock (lib/mdata/paths.h), and SMBIOS type 1 saying
 * "SmartDC HVM", which cloud-init's ds-identify and DataSourceSmartOS look
 * for before they speak to the port.
 *
 * Why QEMU listens and the service connects (not the reverse): QEMU opens
 * no path (confine.c), so its end is a descriptor vmadm bound before QEMU
 * ran — present from the guest's first instruction and for QEMU's whole
 * life, whatever the service does.  vminfod's metadata service connects
 * as a client and reconnects within MDATA_RETRY_MS whenever it (or QEMU)
 * restarts; while nobody is connected QEMU discards what the guest writes,
 * so the UART never blocks the guest, and cloud-init's flush loop simply
 * retries until the service answers. */
#include "argv_internal.h"

#include "common/util.h"
#include "mdata/paths.h"

void argv_add_mdata(hv_argv *a, hv_fdplan *p, const hv_machine *m)
{
    cleanup_free char *sock = xasprintf("%s/%s", m->rundir, MDATA_HVM_SOCK);
    int fd = hv_fd_add(p, "listen", sock, NULL);
    argv_optf(a, "-chardev", "socket,id=mdata,fd=%d,server=on,wait=off", fd);
    argv_optf(a, "-serial", "chardev:mdata");
    argv_optf(a, "-smbios", "type=1,manufacturer=Joyent,product=SmartDC HVM,serial=%s,uuid=%s,family=Virtual Machine",
              m->uuid, m->uuid);
}
