/* Where the metadata service meets a VM (names inside run/vms/<uuid>/,
 * shared by lib/hv, lib/ct and vminfod's metadata service):
 *
 *   HVM   run/vms/<uuid>/mdata.sock: QEMU's COM2 chardev.  vmadm binds it
 *         (root 0600) and hands QEMU the listening descriptor; the service
 *         connects to it as a client (as SmartOS's agent does), so QEMU's
 *         end exists from the first instruction and the service can come
 *         and go: it reconnects within MDATA_RETRY_MS after a QEMU or
 *         service restart.
 *   zone  run/vms/<uuid>/zonecontrol/metadata.sock: the service's
 *         listening socket, in a directory (0711) bind-mounted read-only at
 *         /.zonecontrol and /native/.zonecontrol inside the container.  The
 *         socket is 0666 so container root (an unprivileged host uid) can
 *         connect; on the host the VM's runtime directory (root 0700, or
 *         root:<container gid> 0710) keeps every other user out. */
#ifndef VM_MDATA_PATHS_H
#define VM_MDATA_PATHS_H

#define MDATA_HVM_SOCK "mdata.sock"
#define MDATA_CT_DIR "zonecontrol"
#define MDATA_CT_SOCK "metadata.sock"
#define MDATA_RETRY_MS 1000

#endif
