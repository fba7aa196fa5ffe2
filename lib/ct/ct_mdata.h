/* The guest metadata socket inside a container (SmartOS's zone socket).
 *
 * vminfod's metadata service listens on run/vms/<uuid>/zonecontrol/
 * metadata.sock (lib/mdata/paths.h).  The directory, not the socket, is
 * bind-mounted read-only at /.zonecontrol and /native/.zonecontrol (the
 * path cloud-init's DataSourceSmartOS and mdata-client use), so:
 *   - the guest cannot remove or replace the socket (read-only mount, and
 *     the directory is root's on the host);
 *   - a service restart (new socket in the same directory) is visible
 *     inside without restarting the container;
 *   - a start without the service (directory absent: "optional") still
 *     starts, and a client then fails at once (no socket) instead of
 *     waiting for an answer that never comes. */
#ifndef VM_CT_MDATA_H
#define VM_CT_MDATA_H

#include <jansson.h>

#include "common/err.h"
#include "ct/ct_config.h"

/* Appends the two lxc.mount.entry items; fails (VMERR_INVALID) when the
 * runtime directory cannot be written in a mount entry (blanks,
 * backslashes). */
int ct_mdata_mounts(json_t *items, const ct_inputs *in, vm_err *err);

#endif
