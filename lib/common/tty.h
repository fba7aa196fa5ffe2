/* The interactive console attach shared by the hypervisor (QEMU's console
 * socket) and the container runtime (LXC's console pty).
 *
 * vm_tty_relay() copies fd -> stdout and stdin -> fd until
 *  - CTRL-] (VM_TTY_DETACH) is typed: the bytes before it in the same read
 *    are still sent, the key itself and anything after it are not;
 *  - stdin reaches EOF: what fd still says is shown until it has been quiet
 *    for opts->quiet_ms, then the relay ends;
 *  - fd reaches EOF or fails, or stdout cannot be written (the VM or
 *    container is gone, or our reader is).
 * All of these return 0; only a failing poll() is an error ("console
 * poll").  fd is neither closed nor shut down.
 *
 * A terminal on stdin is put in raw mode (cfmakeraw) with opts->tcsa for the
 * whole relay and restored to its saved settings, with the same action,
 * before returning, whatever ended the relay.  opts->banner / opts->farewell
 * (may be NULL) are written to stderr right after entering / leaving raw
 * mode, and only when stdin is a terminal. */
#ifndef VM_TTY_H
#define VM_TTY_H

#include "common/err.h"

#define VM_TTY_DETACH 0x1d /* CTRL-] */

typedef struct vm_tty_opts {
    int tcsa; /* tcsetattr action: TCSANOW or TCSAFLUSH */
    int quiet_ms; /* after stdin EOF, leave once fd is quiet this long */
    const char *banner; /* e.g. "[Connected to ...]\r\n" */
    const char *farewell;
} vm_tty_opts;

int vm_tty_relay(int fd, const vm_tty_opts *opts, vm_err *err);

#endif
