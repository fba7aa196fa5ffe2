/* Minimal QMP client used by lib/hv (internal to the module, exposed as a
 * header so the unit tests can drive the framing over a socketpair).
 *
 * QEMU sends one JSON object per line: a greeting {"QMP":...}, then for each
 * command a {"return":...} or {"error":...}, with asynchronous {"event":...}
 * lines interleaved at any point.  Events seen while waiting for a reply are
 * kept in `events` so callers can look for SHUTDOWN/STOP afterwards. */
#ifndef VM_HV_QMP_H
#define VM_HV_QMP_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

#include "common/err.h"

typedef struct qmp_conn {
    int fd;
    char *buf; /* bytes received but not yet parsed */
    size_t len, cap;
    json_t *events; /* array of event objects seen so far */
    json_t *greeting; /* the "QMP" member of the greeting */
    int timeout_ms; /* per-read limit */
} qmp_conn;

#define QMP_CONN_INIT \
    { \
        -1, NULL, 0, 0, NULL, NULL, 5000 \
    }

/* Takes ownership of a connected fd: reads the greeting and negotiates
 * capabilities. */
int qmp_attach_fd(qmp_conn *c, int fd, int timeout_ms, vm_err *err);
/* connect(2) to a unix socket then qmp_attach_fd. */
int qmp_connect(qmp_conn *c, const char *path, int timeout_ms, vm_err *err);
/* Reads one message (greeting, reply or event); *msg is a new reference.
 * Fails with VMERR_TIMEOUT or VMERR_IO ("connection closed"). */
int qmp_read_msg(qmp_conn *c, int timeout_ms, json_t **msg, vm_err *err);
/* Sends {"execute": cmd, "arguments": args} (args borrowed, may be NULL)
 * and waits for its reply, collecting events.  *ret (may be NULL) receives
 * the "return" value; an {"error"} reply becomes the error message
 * "QMP <cmd>: <desc>". */
int qmp_exec(qmp_conn *c, const char *cmd, json_t *args, json_t **ret, vm_err *err);
/* Same with a full command object {"execute":..., "arguments":...}. */
int qmp_exec_obj(qmp_conn *c, json_t *cmd, json_t **ret, vm_err *err);
/* qmp_exec with `fd` passed along (SCM_RIGHTS), e.g. for getfd. */
int qmp_exec_fd(qmp_conn *c, const char *cmd, json_t *args, int fd, json_t **ret, vm_err *err);
/* QMP add-fd: passes `fd` (SCM_RIGHTS) into a new fd set; *set = its id,
 * for "/dev/fdset/<set>".  With *set >= 0 on entry, adds to that set. */
int qmp_add_fd(qmp_conn *c, int fd, const char *opaque, int64_t *set, vm_err *err);
/* 1 if an event named `name` has been seen. */
int qmp_saw_event(const qmp_conn *c, const char *name);
void qmp_close(qmp_conn *c);

#endif
