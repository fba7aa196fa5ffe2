/* ucat SOCKET: stdin to a unix socket, its replies to stdout, until the
 * peer has answered every line sent (test helper for tests/e2e/mdata.bats:
 * the busybox test guest's nc cannot connect to unix sockets). */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    char buf[65536];
    if (argc != 2 || strlen(argv[1]) >= sizeof sa.sun_path)
        return 2;
    strcpy(sa.sun_path, argv[1]);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
        perror("connect");
        return 1;
    }
    ssize_t n;
    size_t lines = 0;
    while ((n = read(0, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n; i++)
            lines += buf[i] == '\n';
        if (write(fd, buf, (size_t)n) != n)
            return 1;
    }
    while (lines > 0 && (n = read(fd, buf, sizeof buf)) > 0) {
        for (ssize_t i = 0; i < n; i++)
            lines -= buf[i] == '\n';
        if (write(1, buf, (size_t)n) != n)
            return 1;
    }
    return 0;
}
