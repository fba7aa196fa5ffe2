/* New empty qcow2 layers (qcow2new.h): the bytes qemu-img create writes. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "storage/qcow2new.h"

#define CBITS 16
#define CS (1u << CBITS)
#define HEADER_LEN 112
#define EXT_BACKING_FORMAT 0xe2792acau
#define EXT_FEATURE_TABLE 0x6803f857u

/* QEMU 7.2's feature name table: (type, bit, name). */
static const struct {
    uint8_t type, bit;
    const char *name;
} features[] = {
    { 0, 0, "dirty bit" },        { 0, 1, "corrupt bit" },         { 0, 2, "external data file" },
    { 0, 3, "compression type" }, { 0, 4, "extended L2 entries" }, { 1, 0, "lazy refcounts" },
    { 2, 0, "bitmaps" },          { 2, 1, "raw external data" },
};

static void be32(uint8_t *p, uint32_t v)
{
    v = htobe32(v);
    memcpy(p, &v, 4);
}

static void be64(uint8_t *p, uint64_t v)
{
    v = htobe64(v);
    memcpy(p, &v, 8);
}

static void be16(uint8_t *p, uint16_t v)
{
    v = htobe16(v);
    memcpy(p, &v, 2);
}

/* The header cluster's bytes up to and with the backing name. */
static void header(uint8_t *h, uint64_t size, const char *backing, uint32_t l1_size)
{
    size_t at = HEADER_LEN;
    memcpy(h, "QFI\xfb", 4);
    be32(h + 4, 3);
    be32(h + 20, CBITS);
    be64(h + 24, size);
    be32(h + 36, l1_size);
    be64(h + 40, l1_size ? 3 * (uint64_t)CS : 0); /* L1 */
    be64(h + 48, CS); /* refcount table */
    be32(h + 56, 1);
    be32(h + 96, 4); /* refcount order: 16 bits */
    be32(h + 100, HEADER_LEN);
    if (backing) {
        be32(h + at, EXT_BACKING_FORMAT);
        be32(h + at + 4, 5);
        memcpy(h + at + 8, "qcow2", 5);
        at += 16;
    }
    size_t n = sizeof features / sizeof features[0];
    be32(h + at, EXT_FEATURE_TABLE);
    be32(h + at + 4, (uint32_t)(n * 48));
    at += 8;
    for (size_t i = 0; i < n; i++, at += 48) {
        h[at] = features[i].type;
        h[at + 1] = features[i].bit;
        memcpy(h + at + 2, features[i].name, strlen(features[i].name));
    }
    at += 8; /* the end of the extensions */
    if (backing) {
        size_t bl = strlen(backing);
        be64(h + 8, at);
        be32(h + 16, (uint32_t)bl);
        memcpy(h + at, backing, bl);
    }
}

static int pwrite_all(int fd, const void *buf, size_t n, off_t off)
{
    for (size_t done = 0; done < n;) {
        ssize_t r = pwrite(fd, (const uint8_t *)buf + done, n - done, off + (off_t)done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return -1;
        done += (size_t)r;
    }
    return 0;
}

int vs_qcow2_new(const char *path, uint64_t size, const char *backing, vm_err *err)
{
    uint64_t per_l1 = (uint64_t)CS * (CS / 8);
    uint64_t l1_size = size / per_l1 + (size % per_l1 != 0);
    if (size % 512 || l1_size * 8 > CS || (backing && (!*backing || strlen(backing) > 1023)))
        return 0;
    uint32_t l1_clusters = l1_size ? 1 : 0;
    /* One buffer, written whole like qemu-img's: no holes in it (its
     * allocation is what a later header update on a full disk relies on,
     * and what the pool's space accounting expects of an empty layer). */
    size_t len = 3 * (size_t)CS + (size_t)l1_size * 8;
    cleanup_free uint8_t *b = xcalloc(1, len);
    header(b, size, backing, (uint32_t)l1_size);
    be64(b + CS, 2 * (uint64_t)CS); /* the refcount table's one block */
    for (size_t i = 0; i < 3 + l1_clusters; i++)
        be16(b + 2 * CS + 2 * i, 1);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return vm_err_sys(err, errno, "cannot create %s", path);
    bool ok = pwrite_all(fd, b, len, 0) == 0 && fdatasync(fd) == 0;
    int e = errno;
    close(fd);
    if (!ok) {
        unlink(path);
        return e == ENOSPC || e == EDQUOT ? vm_err_set(err, VMERR_NOSPACE, "cannot write %s: %s", path, strerror(e))
                                          : vm_err_sys(err, e, "cannot write %s", path);
    }
    return 1;
}
