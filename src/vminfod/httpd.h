/* vminfod's HTTP transport (libmicrohttpd): TCP and unix-socket listeners
 * in front of vminfod_handle(), and /events streaming with suspend/resume so
 * an idle or slow client costs nothing and never blocks anyone. */
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
