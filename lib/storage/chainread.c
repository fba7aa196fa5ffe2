/* Direct reads of a frozen qcow2 chain (chainread.h). */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/cmd.h"
#include "common/util.h"
#include "storage/chainread.h"

#define MAX_DEPTH 64

typedef struct ext {
    uint64_t start, len;
    int64_t off; /* in files[depth]; -1: reads as zeros */
    int depth;
} ext;

struct vs_chainread {
    int fds[MAX_DEPTH];
    dev_t dev[MAX_DEPTH];
    ino_t ino[MAX_DEPTH];
    int n;
    ext *e;
    size_t ne;
};

/* The backing file named in a qcow2 header (NULL: none, or not qcow2),
 * resolved next to `path` when relative. */
static char *backing_of(int fd, const char *path)
{
    uint8_t h[20];
    if (pread(fd, h, sizeof h, 0) != (ssize_t)sizeof h || memcmp(h, "QFI\xfb", 4) != 0)
        return NULL;
    uint64_t off;
    uint32_t len;
    memcpy(&off, h + 8, 8);
    memcpy(&len, h + 16, 4);
    off = be64toh(off);
    len = be32toh(len);
    if (!off || !len || len > 1023)
        return NULL;
    char name[1024];
    if (pread(fd, name, len, (off_t)off) != (ssize_t)len)
        return NULL;
    name[len] = '\0';
    if (strchr(name, ':'))
        return xstrdup(""); /* a protocol or json: name — qemu's job */
    if (name[0] == '/')
        return xstrdup(name);
    cleanup_free char *d = xstrdup(path);
    return xasprintf("%s/%s", dirname(d), name);
}

/* Opens the chain from path down, or (check) tells whether it still is
 * the one opened in c (0: it is, 1: not).  2: a backing file only qemu
 * can name. */
static int walk_chain(vs_chainread *c, const char *path, bool check, vm_err *err)
{
    cleanup_free char *p = xstrdup(path);
    int i = 0;
    while (p) {
        if (i >= MAX_DEPTH)
            return vm_err_set(err, VMERR_UNSUPPORTED, "%s: a backing chain deeper than %d", path, MAX_DEPTH);
        if (!*p)
            return 2;
        int fd = open(p, O_RDONLY | O_CLOEXEC);
        struct stat st;
        if (fd < 0 || fstat(fd, &st) < 0) {
            int e = errno;
            if (fd >= 0)
                close(fd);
            return vm_err_sys(err, e, "cannot open %s", p);
        }
        char *next = backing_of(fd, p);
        if (check) {
            close(fd);
            if (i >= c->n || st.st_dev != c->dev[i] || st.st_ino != c->ino[i]) {
                free(next);
                return 1;
            }
        } else {
            c->fds[i] = fd;
            c->dev[i] = st.st_dev;
            c->ino[i] = st.st_ino;
            c->n = i + 1;
        }
        free(p);
        p = next;
        i++;
    }
    return check && i != c->n ? 1 : 0;
}

/* qemu-img map's extents; 0 when one is data without a file offset. */
static int load_map(vs_chainread *c, const char *path, vm_err *err)
{
    char *argv[] = { "qemu-img", "map", "-U", "-f", "qcow2", "--output=json", (char *)path, NULL };
    cleanup_free char *out = NULL;
    if (run_cmd(argv, &out, err) != 0) {
        if (!vm_err_is_set(err))
            vm_err_set(err, VMERR_IO, "qemu-img map failed");
        return -1;
    }
    json_error_t je;
    cleanup_json json_t *map = json_loads(out, 0, &je);
    if (!json_is_array(map))
        return vm_err_set(err, VMERR_IO, "qemu-img map: unexpected output for %s", path);
    c->e = xcalloc(json_array_size(map) + 1, sizeof *c->e);
    size_t i;
    json_t *m;
    uint64_t at = 0;
    json_array_foreach(map, i, m) {
        ext *x = &c->e[c->ne];
        x->start = (uint64_t)json_integer_value(json_object_get(m, "start"));
        x->len = (uint64_t)json_integer_value(json_object_get(m, "length"));
        x->depth = (int)json_integer_value(json_object_get(m, "depth"));
        json_t *off = json_object_get(m, "offset");
        bool data = json_is_true(json_object_get(m, "data")), zero = json_is_true(json_object_get(m, "zero"));
        if (x->start != at || !x->len)
            return vm_err_set(err, VMERR_IO, "qemu-img map: unexpected extents for %s", path);
        at += x->len;
        if (data && !zero && (!json_is_integer(off) || x->depth < 0 || x->depth >= c->n))
            return 0; /* compressed, or not in a file: qemu's job */
        x->off = data && !zero ? (int64_t)json_integer_value(off) : -1;
        c->ne++;
    }
    return 1;
}

int vs_chainread_open(const char *path, vs_chainread **out, vm_err *err)
{
    *out = NULL;
    vs_chainread *c = xcalloc(1, sizeof *c);
    int r = walk_chain(c, path, false, err);
    if (r == 0)
        r = load_map(c, path, err);
    else if (r == 2)
        r = 0;
    if (r == 1 && walk_chain(c, path, true, err) != 0)
        r = vm_err_is_set(err) ? -1 : 0; /* changed under the map */
    if (r != 1) {
        vs_chainread_close(c);
        return r;
    }
    for (int i = 0; i < c->n; i++)
        posix_fadvise(c->fds[i], 0, 0, POSIX_FADV_SEQUENTIAL);
    *out = c;
    return 1;
}

json_t *vs_chainread_data(const vs_chainread *c)
{
    json_t *list = json_array();
    for (size_t i = 0; i < c->ne; i++) {
        if (c->e[i].off < 0)
            continue;
        json_t *last = json_array_get(list, json_array_size(list) - 1);
        uint64_t lo = last ? (uint64_t)json_integer_value(json_object_get(last, "offset")) : 0;
        uint64_t ll = last ? (uint64_t)json_integer_value(json_object_get(last, "length")) : 0;
        if (last && lo + ll == c->e[i].start)
            json_object_set_new(last, "length", json_integer((json_int_t)(ll + c->e[i].len)));
        else
            json_array_append_new(
                list, json_pack("{s:I,s:I}", "offset", (json_int_t)c->e[i].start, "length", (json_int_t)c->e[i].len));
    }
    return list;
}

int vs_chainread_pread(vs_chainread *c, void *buf, size_t n, uint64_t off, vm_err *err)
{
    /* the extent holding off: binary search */
    size_t lo = 0, hi = c->ne;
    while (hi - lo > 1) {
        size_t mid = (lo + hi) / 2;
        if (c->e[mid].start <= off)
            lo = mid;
        else
            hi = mid;
    }
    uint8_t *p = buf;
    for (size_t i = lo; n; i++) {
        if (i >= c->ne || off < c->e[i].start)
            return vm_err_set(err, VMERR_INVALID, "read beyond the volume");
        uint64_t in = off - c->e[i].start;
        size_t k = c->e[i].len - in < n ? (size_t)(c->e[i].len - in) : n;
        if (c->e[i].off < 0) {
            memset(p, 0, k);
        } else {
            for (size_t done = 0; done < k;) {
                ssize_t r = pread(c->fds[c->e[i].depth], p + done, k - done, (off_t)(c->e[i].off + in + done));
                if (r < 0 && errno == EINTR)
                    continue;
                if (r <= 0)
                    return vm_err_sys(err, r < 0 ? errno : EIO, "cannot read the volume");
                done += (size_t)r;
            }
        }
        p += k;
        off += k;
        n -= k;
    }
    return 0;
}

void vs_chainread_close(vs_chainread *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->n; i++)
        close(c->fds[i]);
    free(c->e);
    free(c);
}
