/* The guest metadata service (SmartOS metadata protocol v2, lib/mdata),
 * run inside vminfod.
 *
 * Why inside vminfod rather than a daemon of its own: the service answers
 * from VM objects, and vminfod already holds every one of them, current,
 * with its change events.  A separate daemon would keep a second copy of
 * every object fed by vminfod's /events (SmartOS's agent does exactly
 * that, over HTTP and JSON), add a process to start, supervise and keep in
 * sync, and add a hop to every read.  Here a GET is a copy of the cached
 * text under vminfod's lock and one JSON parse: no file is read per
 * request.  The service still consumes vminfod only through its public
 * seams (an /events listener for changes, the cache for reads), so moving
 * it out later is mechanical.
 *
 * Threads: one service thread (epoll) owns every socket and connection; a
 * small pool of update workers runs PUT/DELETE through the normal update
 * path (opts.update: lib/vm's vm_update plus read-after-write through
 * vminfod), so a slow update never delays a GET.
 *
 * Transports (paths in lib/mdata/paths.h):
 *   container VMs (joyent, joyent-minimal, lx): a listening socket per VM,
 *     created as soon as vminfod knows the VM (before it first starts) and
 *     recreated when it goes missing;
 *   HVM VMs (bhyve, kvm): a client connection to QEMU's COM2 chardev,
 *     (re)tried every MDATA_RETRY_MS while not connected.
 *
 * Security: a connection belongs to one VM (the socket or chardev it came
 * from), and every answer comes from that VM's object only — no request
 * names a VM.  Lines are bounded (MDATA_MAX_LINE; a longer one is
 * discarded up to its newline and answered "invalid command"), each
 * connection has at most one reply pending (it is not read further until
 * the guest took it), at most opts.max_conns connections per VM, and each
 * VM has at most one update queued or running.  Connections are served
 * round-robin a few requests at a time, so one guest's flood does not
 * starve another.
 *
 * Log: one vminfod log record per request: VM, op, key (never a value),
 * result and latency; a warning when a read takes 10 ms or more. */
#ifndef VMINFOD_MDATA_H
#define VMINFOD_MDATA_H

#include <jansson.h>

#include "common/err.h"
#include "server.h"

typedef struct vminfod_mdata vminfod_mdata;

/* Applies a PUT/DELETE payload (set_/remove_*_metadata) to the VM and
 * returns once vminfod's cache and /events show it (read-after-write). */
typedef int (*vminfod_mdata_update_fn)(void *arg, const char *uuid, json_t *payload, vm_err *err);

typedef struct vminfod_mdata_opts {
    vminfod_mdata_update_fn update; /* NULL: PUT/DELETE answered FAILURE */
    void *update_arg;
    int max_conns; /* per VM; default 16 */
    int workers; /* update threads; default 2 */
} vminfod_mdata_opts;

/* Subscribes to d's events, creates the container sockets, connects to
 * running HVMs and starts serving.  d must be started (vminfod_start). */
int vminfod_mdata_start(vminfod *d, const vminfod_mdata_opts *opts, vminfod_mdata **out, vm_err *err);
/* Stops serving, closes every connection and removes the sockets it
 * created. */
void vminfod_mdata_stop(vminfod_mdata *m);

#endif
