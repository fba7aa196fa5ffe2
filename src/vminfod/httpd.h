/* vminfod's HTTP transport (libmicrohttpd): TCP and unix-socket listeners
 * in front of vminfod_handle(), and /events streaming with suspend/resume so
 * an idle or slow client costs nothing and never blocks anyone.
 *
 * Security: the unix socket is 0600 (root only) and serves whole VM
 * objects; TCP (any local user can connect) serves the redacted view — no
 * vnc_password, internal_metadata or customer_metadata *_pw — and marks
 * every answer "X-Vminfod-Redacted: true".  `vminfod --listen none` turns
 * TCP off.  Event streams are capped per client (uid / address) and per
 * transport (vminfod_opts). */
#ifndef VMINFOD_HTTPD_H
#define VMINFOD_HTTPD_H

#include "server.h"

typedef struct vminfod_httpd vminfod_httpd;

/* listen: "host:port" (port 0 = any free port) or NULL; sock_path: unix
 * socket path or NULL.  A live daemon already on sock_path is an error. */
int vminfod_httpd_start(vminfod *d, const char *listen, const char *sock_path, vminfod_httpd **out, vm_err *err);
/* "host:port" actually bound ("" without TCP). */
const char *vminfod_httpd_addr(const vminfod_httpd *h);
/* Ends the event streams, waits briefly for them to flush, stops. */
void vminfod_httpd_stop(vminfod_httpd *h);

#endif
