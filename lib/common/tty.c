/* Console attach: stdin/stdout <-> a console fd, CTRL-] detaches. */
#include "common/tty.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static bool write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, buf, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && errno == EAGAIN) {
            struct pollfd pfd = { fd, POLLOUT, 0 };
            poll(&pfd, 1, 100);
            continue;
        }
        if (w <= 0)
            return false;
        buf += w;
        len -= (size_t)w;
    }
    return true;
}

static int relay(int fd, int quiet_ms, vm_err *err)
{
    char buf[4096];
    bool in_open = true;
    for (;;) {
        struct pollfd p[2] = { { fd, POLLIN, 0 }, { 0, POLLIN, 0 } };
        /* After input ends (a pipe, not a tty), show the answer and leave
         * once fd has been quiet for quiet_ms. */
        int r = poll(p, in_open ? 2 : 1, in_open ? -1 : quiet_ms);
        if (r == 0)
            return 0;
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return vm_err_sys(err, errno, "console poll");
        }
        if (p[0].revents) {
            ssize_t n = read(fd, buf, sizeof buf);
            if (n < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (n <= 0 || !write_all(1, buf, (size_t)n))
                return 0; /* the VM or container is gone */
        }
        if (in_open && p[1].revents) {
            ssize_t n = read(0, buf, sizeof buf);
            if (n < 0 && (errno == EINTR || errno == EAGAIN))
                continue;
            if (n <= 0) {
                in_open = false;
                continue;
            }
            char *esc = memchr(buf, VM_TTY_DETACH, (size_t)n);
            size_t len = esc ? (size_t)(esc - buf) : (size_t)n;
            if ((len && !write_all(fd, buf, len)) || esc)
                return 0;
        }
    }
}

int vm_tty_relay(int fd, const vm_tty_opts *opts, vm_err *err)
{
    struct termios saved, raw;
    bool tty = isatty(0) && tcgetattr(0, &saved) == 0;
    if (tty) {
        raw = saved;
        cfmakeraw(&raw);
        tcsetattr(0, opts->tcsa, &raw);
        if (opts->banner)
            fputs(opts->banner, stderr);
    }
    int rc = relay(fd, opts->quiet_ms, err);
    if (tty) {
        tcsetattr(0, opts->tcsa, &saved);
        if (opts->farewell)
            fputs(opts->farewell, stderr);
    }
    return rc;
}
