#include "image/image.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/lock.h"
#include "common/units.h"
#include "common/util.h"
#include "image/compress.h"
#include "image/catalog.h"
#include "image/internal.h"
#include "image/sha1.h"
#include "storage/storage.h"
#include "storage/stream.h"

#define OWNER_PROP "imgadm:image"

static void report(const img_progress_fn fn, void *arg, const char *phase, uint64_t done, uint64_t total)
{
    if (fn)
        fn(arg, phase, done, total);
}

/* ---- get / list ---- */

/* Installed = manifest present and the @final snapshot exists. */
/* ---- the shipped file as a stream: sha1 of the compressed bytes,
 * decompressed output on demand ---- */

typedef struct img_src {
    int fd; /* borrowed: read with pread, so one open file serves every pass */
    const char *path; /* for messages */
    img_decomp *dc;
    img_sha1 sha;
    uint8_t *in; /* compressed input buffer */
    size_t inpos, inlen;
    uint64_t consumed; /* compressed bytes read */
    uint64_t total; /* file size */
    uint64_t produced; /* decompressed bytes handed out */
    uint64_t limit; /* refuse more decompressed bytes than this (0: none) */
    const char *limit_why; /* names the bound in the message */
    bool eof;
    bool finished; /* decompressor end checked */
    uint8_t *out; /* decompressed output for archive callbacks */
    vm_err err; /* failure seen inside a libarchive callback */
    img_progress_fn progress;
    void *parg;
    const char *phase;
} img_src;

#define SRC_BUF (1u << 20)

/* The image file of an install: opened once, every later use goes through
 * this descriptor (fdpath names it for qemu-img). */
typedef struct img_file {
    int fd;
    const char *path; /* as the operator gave it, for messages */
    char fdpath[64]; /* /proc/<pid>/fd/<fd> */
    struct stat st; /* at open */
} img_file;

static int src_open(img_src *s, int fd, const char *path, int comp, vm_err *err)
{
    memset(s, 0, sizeof(*s));
    s->fd = fd;
    s->path = path;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return vm_err_sys(err, errno, "cannot stat %s", path);
    s->total = (uint64_t)st.st_size;
    if (img_decomp_new(comp, &s->dc, err) < 0)
        return -1;
    img_sha1_init(&s->sha);
    s->in = xmalloc(SRC_BUF);
    s->out = xmalloc(SRC_BUF);
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    return 0;
}

static void src_close(img_src *s)
{
    img_decomp_free(s->dc);
    free(s->in);
    free(s->out);
    memset(s, 0, sizeof(*s));
    s->fd = -1;
}

/* Up to cap decompressed bytes into buf; 0 at the end of the data. */
static long src_read(img_src *s, uint8_t *buf, size_t cap, vm_err *err)
{
    for (;;) {
        if (s->inpos == s->inlen && !s->eof) {
            ssize_t n = pread(s->fd, s->in, SRC_BUF, (off_t)s->consumed);
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0)
                return vm_err_sys(err, errno, "cannot read %s", s->path);
            if (n == 0) {
                s->eof = true;
            } else {
                img_sha1_update(&s->sha, s->in, (size_t)n);
                s->consumed += (uint64_t)n;
                s->inpos = 0;
                s->inlen = (size_t)n;
                report(s->progress, s->parg, s->phase, s->consumed, s->total);
            }
        }
        const uint8_t *p = s->in + s->inpos;
        size_t left = s->inlen - s->inpos;
        long got = img_decomp_step(s->dc, &p, &left, buf, cap, err);
        if (got < 0) {
            vm_err_prefix(err, "%s: ", s->path);
            return -1;
        }
        s->inpos = s->inlen - left;
        s->produced += (uint64_t)got;
        if (s->limit && s->produced > s->limit)
            return vm_err_set(err, VMERR_INVALID,
                              "%s decompresses to more than %llu MiB (%s): refusing a decompression bomb", s->path,
                              (unsigned long long)(s->limit / VM_MiB), s->limit_why);
        if (got > 0)
            return got;
        if (s->eof && s->inpos == s->inlen) {
            if (!s->finished) {
                s->finished = true;
                if (img_decomp_finish(s->dc, err) < 0) {
                    vm_err_prefix(err, "%s: ", s->path);
                    return -1;
                }
            }
            return 0;
        }
    }
}

/* Reads (and decompresses) the rest, so the hash covers the whole file. */
static int src_drain(img_src *s, vm_err *err)
{
    long n;
    while ((n = src_read(s, s->out, SRC_BUF, err)) > 0)
        ;
    return n < 0 ? -1 : 0;
}

static int check_sha1(img_sha1 *sha, const char *want, const char *path, vm_err *err)
{
    uint8_t d[20];
    char hex[41];
    img_sha1_final(sha, d);
    img_sha1_hex(d, hex);
    if (strcmp(hex, want) != 0)
        return vm_err_set(err, VMERR_INVALID, "sha1 mismatch: manifest says %s, %s has %s", want, path, hex);
    return 0;
}

/* ---- zvol install ---- */

static bool all_zero(const uint8_t *p, size_t n)
{
    return n == 0 || (p[0] == 0 && memcmp(p, p + 1, n - 1) == 0);
}

/* Decompresses into a new sparse file at dst (zero blocks become holes). */
static int decompress_to(img_src *s, const char *dst, vm_err *err)
{
    cleanup_close int fd = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return vm_err_sys(err, errno, "cannot create %s", dst);
    uint64_t off = 0;
    const size_t blk = 64 * 1024;
    long n;
    while ((n = src_read(s, s->out, SRC_BUF, err)) > 0) {
        for (size_t i = 0; i < (size_t)n; i += blk) {
            size_t k = (size_t)n - i < blk ? (size_t)n - i : blk;
            if (!all_zero(s->out + i, k)) {
                const uint8_t *p = s->out + i;
                size_t left = k;
                uint64_t o = off + i;
                while (left) {
                    ssize_t w = pwrite(fd, p, left, (off_t)o);
                    if (w < 0 && errno == EINTR)
                        continue;
                    if (w < 0)
                        return vm_err_sys(err, errno, "cannot write %s", dst);
                    p += w;
                    o += (uint64_t)w;
                    left -= (size_t)w;
                }
            }
        }
        off += (uint64_t)n;
    }
    if (n < 0)
        return -1;
    if (ftruncate(fd, (off_t)off) < 0)
        return vm_err_sys(err, errno, "cannot write %s", dst);
    return 0;
}

typedef struct disk_probe {
    const char *format; /* "raw" or "qcow2" */
    uint64_t virtual_size;
} disk_probe;

static int probe_disk(const char *path, const char *type, disk_probe *dp, vm_err *err)
{
    cleanup_close int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return vm_err_sys(err, errno, "cannot open %s", path);
    uint8_t head[512];
    memset(head, 0, sizeof(head));
    ssize_t n = pread(fd, head, sizeof(head), 0);
    if (n < 0)
        return vm_err_sys(err, errno, "cannot read %s", path);
    struct stat st;
    if (fstat(fd, &st) < 0)
        return vm_err_sys(err, errno, "cannot stat %s", path);
    if (n >= 262 && memcmp(head + 257, "ustar", 5) == 0)
        return vm_err_set(err, VMERR_INVALID,
                          "image type mismatch: manifest says \"%s\" but the file holds a tar archive", type);
    if (n < 4 || memcmp(head, "QFI\xfb", 4) != 0) {
        dp->format = "raw";
        dp->virtual_size = (uint64_t)st.st_size;
        return 0;
    }
    dp->format = "qcow2";
    char *argv[] = { "qemu-img", "info", "--output=json", "-f", "qcow2", (char *)path, NULL };
    cleanup_free char *out = NULL;
    if (run_cmd(argv, &out, err) != 0) {
        vm_err_prefix(err, "invalid qcow2 image: ");
        return -1;
    }
    json_error_t je;
    cleanup_json json_t *info = json_loads(out, 0, &je);
    json_t *vs = json_object_get(info, "virtual-size");
    if (!json_is_integer(vs))
        return vm_err_set(err, VMERR_INVALID, "invalid qcow2 image: qemu-img info gave no virtual size");
    /* A backing or external data file would make the volume read host files. */
    if (json_object_get(info, "backing-filename") || json_object_get(info, "full-backing-filename"))
        return vm_err_set(err, VMERR_INVALID, "qcow2 image refers to a backing file: images must be standalone");
    json_t *fsd = json_object_get(json_object_get(json_object_get(info, "format-specific"), "data"), "data-file");
    if (fsd)
        return vm_err_set(err, VMERR_INVALID, "qcow2 image refers to an external data file: images must be standalone");
    dp->virtual_size = (uint64_t)json_integer_value(vs);
    return 0;
}

typedef struct hash_job {
    const char *path; /* what is opened: /proc/<pid>/fd/<n> of the install's fd */
    const char *shown; /* the operator's name for it */
    const char *want;
    img_progress_fn progress;
    void *parg;
    uint64_t total;
    int rc;
    vm_err err;
} hash_job;

static void hash_progress(void *arg, uint64_t done)
{
    hash_job *j = arg;
    report(j->progress, j->parg, "verify", done, j->total);
}

static void *hash_thread(void *arg)
{
    hash_job *j = arg;
    char hex[41];
    j->rc = img_sha1_file(j->path, hex, NULL, hash_progress, j, &j->err);
    if (j->rc == 0 && strcmp(hex, j->want) != 0)
        j->rc =
            vm_err_set(&j->err, VMERR_INVALID, "sha1 mismatch: manifest says %s, %s has %s", j->want, j->shown, hex);
    return NULL;
}

/* Test hook (never set in production): VMADM_TEST_IMGADM_PAUSE_AFTER_HASH
 * names a FIFO.  Once the image file has been hashed (and before its bytes
 * are used again) imgadm writes "hashed\n" to it, then waits until the test
 * opens it for writing and closes it.  Lets a test swap or rewrite the file
 * at exactly the moment an attacker would. */
static void test_pause_after_hash(void)
{
    const char *fifo = getenv("VMADM_TEST_IMGADM_PAUSE_AFTER_HASH");
    if (!fifo || !*fifo)
        return;
    int fd = open(fifo, O_WRONLY | O_CLOEXEC);
    if (fd >= 0) {
        ssize_t w = write(fd, "hashed\n", 7);
        (void)w;
        close(fd);
    }
    fd = open(fifo, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        char b[64];
        while (read(fd, b, sizeof b) > 0)
            ;
        close(fd);
    }
}

/* The same bytes are hashed and installed: every pass reads the one file
 * descriptor opened at the start (a rename or a new file at the path changes
 * nothing), and a write into that file while it is used is caught by its
 * change time.  A write in the same clock tick as the file's last change
 * would keep ctime, so reading starts only once the coarse clock (the one
 * the kernel stamps ctime with) has moved past it. */
static void stable_begin(const struct stat *st)
{
    for (int i = 0; i < 200; i++) {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME_COARSE, &now);
        if (now.tv_sec > st->st_ctim.tv_sec || (now.tv_sec == st->st_ctim.tv_sec && now.tv_nsec > st->st_ctim.tv_nsec))
            return;
        struct timespec ms = { 0, 10 * 1000 * 1000 };
        nanosleep(&ms, NULL);
    }
}

static int stable_check(int fd, const struct stat *st0, const char *path, vm_err *err)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return vm_err_sys(err, errno, "cannot stat %s", path);
    if (st.st_size != st0->st_size || st.st_ctim.tv_sec != st0->st_ctim.tv_sec ||
        st.st_ctim.tv_nsec != st0->st_ctim.tv_nsec || st.st_mtim.tv_sec != st0->st_mtim.tv_sec ||
        st.st_mtim.tv_nsec != st0->st_mtim.tv_nsec)
        return vm_err_set(err, VMERR_IO, "%s changed while being installed", path);
    return 0;
}

/* Largest decompressed zvol image accepted: image_size plus room for qcow2
 * metadata (1 MiB + 1/256).  Decompression stops there, before writing more. */
static uint64_t bomb_limit(uint64_t bytes)
{
    return bytes + bytes / 256 + (uint64_t)VM_MiB;
}

/* qemu-img cannot read compressed streams: decompress to a sparse temp file
 * (var/imgadm/tmp/<uuid>.<pid>.raw, swept once this process is gone),
 * verifying the shipped bytes on the way. */
static int zvol_decompress(const img_file *f, int comp, const char *tmp, const char *want, uint64_t volsize,
                           const img_install_opts *opts, vm_err *err)
{
    img_src s;
    if (src_open(&s, f->fd, f->path, comp, err) < 0) {
        src_close(&s);
        return -1;
    }
    s.progress = opts ? opts->progress : NULL;
    s.parg = opts ? opts->progress_arg : NULL;
    s.phase = "decompress";
    s.limit = bomb_limit(volsize);
    s.limit_why = "its manifest image_size plus margin";
    int r = decompress_to(&s, tmp, err);
    if (r == 0)
        r = check_sha1(&s.sha, want, f->path, err);
    src_close(&s);
    if (r == 0) {
        test_pause_after_hash();
        r = stable_check(f->fd, &f->st, f->path, err);
    }
    return r;
}

static int install_zvol(const vm_ctx *ctx, vs_pool *vp, const char *ds, json_t *m, const img_file *f, int comp,
                        const img_install_opts *opts, vm_err *err)
{
    const char *uuid = json_string_value(json_object_get(m, "uuid"));
    const char *want = json_string_value(json_object_get(json_array_get(json_object_get(m, "files"), 0), "sha1"));
    int64_t vbytes;
    if (!mib_to_bytes(json_integer_value(json_object_get(m, "image_size")), &vbytes))
        return vm_err_set(err, VMERR_INVALID, "manifest image_size is out of range");
    uint64_t volsize = (uint64_t)vbytes;
    img_progress_fn pf = opts ? opts->progress : NULL;
    void *pa = opts ? opts->progress_arg : NULL;
    cleanup_free char *tmpdir = xasprintf("%s/var/imgadm/tmp", ctx->root);
    cleanup_free char *tmp = NULL;
    const char *src = f->fdpath;
    int rc = -1;
    bool created = false, threaded = false;
    pthread_t th;
    hash_job job = { .path = f->fdpath, .shown = f->path, .want = want, .progress = pf, .parg = pa };
    cleanup_json json_t *props = json_pack("{ss}", OWNER_PROP, uuid);

    stable_begin(&f->st);
    if (comp != IMG_COMP_NONE) {
        if (mkdir_p(tmpdir, 0700, err) < 0)
            return -1;
        tmp = xasprintf("%s/%s.%d.raw", tmpdir, uuid, (int)getpid());
        unlink(tmp);
        if (zvol_decompress(f, comp, tmp, want, volsize, opts, err) < 0)
            goto out;
        src = tmp;
    }
    disk_probe dp = { "raw", 0 };
    if (probe_disk(src, "zvol", &dp, err) < 0)
        goto out;
    if (dp.virtual_size > volsize) {
        vm_err_set(err, VMERR_INVALID, "image file is larger than its manifest image_size: %llu bytes > %llu MiB",
                   (unsigned long long)dp.virtual_size, (unsigned long long)(volsize / VM_MiB));
        goto out;
    }
    bool verified = opts && (opts->flags & IMG_INSTALL_VERIFIED);
    if (comp == IMG_COMP_NONE && !verified) {
        /* The uncompressed file is hashed while qemu-img reads it (both
         * through the install's fd): one pass over the data each, in
         * parallel, instead of a copy.  stable_check proves afterwards that
         * both saw the same bytes.  The test hook serialises them. */
        job.total = (uint64_t)f->st.st_size;
        if (pthread_create(&th, NULL, hash_thread, &job) != 0) {
            vm_err_set(err, VMERR_INTERNAL, "cannot start hashing thread");
            goto out;
        }
        threaded = true;
        if (getenv("VMADM_TEST_IMGADM_PAUSE_AFTER_HASH")) {
            pthread_join(th, NULL);
            threaded = false;
            test_pause_after_hash();
        }
    }
    /* The storage layer copies (qemu-img convert, sparse) before its
     * metadata commit: a crash never leaves a half-filled volume. */
    report(pf, pa, "convert", 0, 0);
    if (vs_import_vol(vp, ds, src, dp.format, volsize, props, err) < 0) {
        vm_err_prefix(err, "cannot import image %s: ", uuid);
        goto out;
    }
    created = true;
    if (threaded) {
        pthread_join(th, NULL);
        threaded = false;
    }
    if (comp == IMG_COMP_NONE) {
        if (!verified && job.rc < 0) {
            *err = job.err;
            goto out;
        }
        if (stable_check(f->fd, &f->st, f->path, err) < 0)
            goto out;
    }
    rc = 0;
out:
    if (threaded)
        pthread_join(th, NULL);
    if (tmp)
        unlink(tmp);
    if (rc < 0 && created) {
        vm_err e2 = VM_ERR_INIT;
        if (vs_destroy(vp, ds, VS_RECURSIVE, &e2) < 0)
            vm_log(ctx, "error", "imgadm: cannot remove partial %s: %s", ds, e2.msg);
    }
    return rc;
}

/* ---- tarball install ---- */

static la_ssize_t arch_read(struct archive *a, void *arg, const void **buf)
{
    img_src *s = arg;
    long n = src_read(s, s->out, SRC_BUF, &s->err);
    if (n < 0) {
        archive_set_error(a, EIO, "%s", s->err.msg);
        return -1;
    }
    *buf = s->out;
    return n;
}

static int arch_fail(struct archive *a, img_src *s, const char *type, vm_err *err)
{
    if (vm_err_is_set(&s->err)) {
        *err = s->err;
        return -1;
    }
    return vm_err_set(err, VMERR_INVALID,
                      "image type mismatch: manifest says \"%s\" but %s is not a valid tar archive: %s", type, s->path,
                      archive_error_string(a));
}

/* One pass over the tarball: checks every entry, and extracts into root
 * when root is not NULL.  sha_out gets the hash of the shipped bytes. */
static int tar_pass(const img_file *f, int comp, const char *type, int tflags, uint64_t limit, const char *root,
                    const img_install_opts *opts, uint8_t sha_out[20], vm_err *err)
{
    img_src s;
    int rc = -1;
    struct archive *a = archive_read_new();
    img_extract *x = NULL;
    img_tarcheck c;
    img_tarcheck_init(&c, tflags);
    if (src_open(&s, f->fd, f->path, comp, err) < 0)
        goto out;
    s.limit = limit;
    s.limit_why = "the bound its manifest sets: image_size, or 100 times files.0.size + 256 MiB";
    s.progress = opts ? opts->progress : NULL;
    s.parg = opts ? opts->progress_arg : NULL;
    s.phase = root ? "extract" : "verify";
    archive_read_support_format_tar(a); /* decompression is ours */
    if (archive_read_open(a, &s, NULL, arch_read, NULL) != ARCHIVE_OK) {
        arch_fail(a, &s, type, err);
        goto out;
    }
    if (root && img_extract_open(root, &x, err) < 0)
        goto out;
    for (;;) {
        struct archive_entry *e;
        int r = archive_read_next_header(a, &e);
        if (r == ARCHIVE_EOF)
            break;
        if (r < ARCHIVE_WARN) {
            arch_fail(a, &s, type, err);
            goto out;
        }
        cleanup_free char *rel = NULL;
        cleanup_free char *rlink = NULL;
        if (img_tarcheck_entry(&c, e, &rel, &rlink, err) < 0)
            goto out;
        if (!root) {
            if (archive_read_data_skip(a) < ARCHIVE_WARN) {
                arch_fail(a, &s, type, err);
                goto out;
            }
            continue;
        }
        r = img_extract_entry(x, a, e, rel, rlink, err);
        if (r == IMG_EXTRACT_READ_ERROR) {
            arch_fail(a, &s, type, err);
            goto out;
        }
        if (r < 0)
            goto out;
    }
    if (x && img_extract_finish(x, err) < 0)
        goto out;
    if (src_drain(&s, err) < 0)
        goto out;
    img_sha1_final(&s.sha, sha_out);
    rc = 0;
out:
    img_extract_free(x);
    archive_read_free(a);
    img_tarcheck_free(&c);
    src_close(&s);
    return rc;
}

/* Largest decompressed tar stream accepted (what extraction can write):
 * image_size (MiB) plus margin when the manifest gives it, else 100 times
 * the shipped size plus 256 MiB (real root file systems compress 2-10x). */
static uint64_t tar_limit(json_t *m)
{
    int64_t b;
    json_t *isz = json_object_get(m, "image_size");
    if (json_is_integer(isz) && mib_to_bytes(json_integer_value(isz), &b))
        return bomb_limit((uint64_t)b);
    uint64_t size =
        (uint64_t)json_integer_value(json_object_get(json_array_get(json_object_get(m, "files"), 0), "size"));
    if (size > UINT64_MAX / 128)
        return UINT64_MAX;
    return size * 100 + 256 * (uint64_t)VM_MiB;
}

static int install_tar(const vm_ctx *ctx, vs_pool *vp, const char *ds, json_t *m, const img_file *f, int comp,
                       const img_install_opts *opts, vm_err *err)
{
    uint64_t limit = tar_limit(m);
    const char *uuid = json_string_value(json_object_get(m, "uuid"));
    const char *type = json_string_value(json_object_get(m, "type"));
    const char *want = json_string_value(json_object_get(json_array_get(json_object_get(m, "files"), 0), "sha1"));
    int tflags = opts && (opts->flags & IMG_INSTALL_ALLOW_SETUID) ? IMG_TAR_ALLOW_SETUID : 0;
    uint8_t d1[20], d2[20];
    char hex[41];

    /* Pass 1 writes nothing: a lying or unsafe tarball is refused before
     * the dataset exists. */
    stable_begin(&f->st);
    if (tar_pass(f, comp, type, tflags, limit, NULL, opts, d1, err) < 0)
        return -1;
    img_sha1_hex(d1, hex);
    if (strcmp(hex, want) != 0)
        return vm_err_set(err, VMERR_INVALID, "sha1 mismatch: manifest says %s, %s has %s", want, f->path, hex);
    test_pause_after_hash();

    cleanup_json json_t *props = json_pack("{ss}", OWNER_PROP, uuid);
    if (vs_create_fs(vp, ds, props, err) < 0)
        return -1;
    int rc = -1;
    cleanup_free char *dir = NULL;
    cleanup_free char *root = NULL;
    cleanup_free char *rootlink = NULL;
    if (vs_fs_path(vp, ds, &dir, err) < 0)
        goto out;
    rootlink = xasprintf("%s/root", dir);
    if (mkdir(rootlink, 0755) < 0 && errno != EEXIST) {
        vm_err_sys(err, errno, "cannot create %s", rootlink);
        goto out;
    }
    root = realpath(rootlink, NULL);
    if (!root) {
        vm_err_sys(err, errno, "cannot resolve %s", rootlink);
        goto out;
    }
    /* Pass 2 hashes again what it extracts: the same bytes or a refusal. */
    if (tar_pass(f, comp, type, tflags, limit, root, opts, d2, err) < 0)
        goto out;
    if (memcmp(d1, d2, 20) != 0) {
        vm_err_set(err, VMERR_IO, "%s changed while being installed", f->path);
        goto out;
    }
    if (stable_check(f->fd, &f->st, f->path, err) < 0)
        goto out;
    rc = 0;
out:
    if (rc < 0) {
        vm_err e2 = VM_ERR_INIT;
        /* The files go first: on a full pool that frees the space the
         * pool's own metadata update (the destroy) needs. */
        char *rm[] = { "rm", "-rf", "--one-file-system", root, NULL };
        if (root && run_cmd(rm, NULL, &e2) != 0)
            vm_log(ctx, "error", "imgadm: cannot empty partial %s: %s", ds, e2.msg);
        vm_err_clear(&e2);
        if (vs_destroy(vp, ds, VS_RECURSIVE, &e2) < 0)
            vm_log(ctx, "error", "imgadm: cannot remove partial %s: %s", ds, e2.msg);
    }
    return rc;
}

/* ---- send stream install ----
 * An image file may also be a send stream (lib/storage/stream.h) of one
 * dataset, told by its content (the "VMADMSTR" magic after
 * decompression): a volume for a zvol image, a filesystem holding root/
 * for a zone-dataset/lx-dataset image.  Full, or relative to the origin it
 * was cloned from when that is an installed image's @final here.  Pass 1
 * hashes the file as shipped; pass 2 reads the same descriptor through
 * the decompressor (bounded as the other formats) into vs_receive, hashes
 * again and must match: the bytes received are the bytes verified. */

#define STREAM_MAGIC "VMADMSTR"

/* The first n decompressed bytes (fewer at the end of the data). */
static int peek(const img_file *f, int comp, uint8_t *head, size_t n, size_t *got, vm_err *err)
{
    img_src s;
    int r = src_open(&s, f->fd, f->path, comp, err);
    *got = 0;
    while (r == 0 && *got < n) {
        long k = src_read(&s, head + *got, n - *got, err);
        if (k < 0)
            r = -1;
        else if (k == 0)
            break;
        else
            *got += (size_t)k;
    }
    src_close(&s);
    return r;
}

/* The codec's reader takes a short read as the end: fill len. */
static ssize_t stream_read(void *arg, void *buf, size_t len)
{
    img_src *s = arg;
    size_t got = 0;
    while (got < len) {
        long n = src_read(s, (uint8_t *)buf + got, len - got, &s->err);
        if (n < 0) {
            errno = EIO;
            return -1;
        }
        if (n == 0)
            break;
        got += (size_t)n;
    }
    return (ssize_t)got;
}

/* The stream's object fits the manifest; message otherwise. */
static int stream_fits(json_t *m, json_t *obj, const char *pn, uint64_t volsize, vm_err *err)
{
    const char *type = json_string_value(json_object_get(m, "type"));
    const char *kind = json_string_value(json_object_get(obj, "kind"));
    const char *origin = json_string_value(json_object_get(obj, "origin"));
    bool zvol = strcmp(type, "zvol") == 0;
    if (!kind || (strcmp(kind, "volume") != 0 && strcmp(kind, "filesystem") != 0))
        return vm_err_set(err, VMERR_INVALID, "image file is a send stream without a dataset");
    if (zvol != (strcmp(kind, "volume") == 0))
        return vm_err_set(err, VMERR_INVALID, "image file is a send stream of a %s, manifest type %s needs a %s", kind,
                          type, zvol ? "volume" : "filesystem");
    if (json_object_get(obj, "from"))
        return vm_err_set(err, VMERR_INVALID,
                          "image file is an incremental send stream (from @%s): an image needs a full stream, or one "
                          "relative to an installed image it was cloned from",
                          json_string_value(json_object_get(obj, "from")));
    cleanup_free char *prefix = xasprintf("%s/", pn);
    if (origin && (!str_has_prefix(origin, prefix) || !str_has_suffix(origin, "@final")))
        return vm_err_set(err, VMERR_INVALID, "image file is a send stream relative to '%s', which is not an image",
                          origin);
    json_t *vsz = json_object_get(obj, "volsize");
    if (zvol && json_is_integer(vsz) && (uint64_t)json_integer_value(vsz) > volsize)
        return vm_err_set(err, VMERR_INVALID,
                          "image file is larger than its manifest image_size: %llu bytes > %llu MiB",
                          (unsigned long long)json_integer_value(vsz), (unsigned long long)(volsize / VM_MiB));
    return 0;
}

/* After the receive: the image's snapshot is @final, a zone dataset has root/. */
static int stream_finish(vs_pool *vp, const char *ds, const char *uuid, bool zvol, vm_err *err)
{
    cleanup_json json_t *snaps = NULL;
    if (vs_set(vp, ds, OWNER_PROP, uuid, err) < 0 || vs_list(vp, ds, VS_SNAPSHOT, 0, &snaps, err) < 0)
        return -1;
    const char *got = json_string_value(json_array_get(snaps, 0));
    cleanup_free char *final = xasprintf("%s@final", ds);
    if (got && strcmp(got, final) != 0 && vs_rename(vp, got, final, err) < 0)
        return -1;
    if (zvol)
        return 0;
    cleanup_free char *dir = NULL;
    if (vs_fs_path(vp, ds, &dir, err) < 0)
        return -1;
    cleanup_free char *root = xasprintf("%s/root", dir);
    struct stat st;
    if (lstat(root, &st) < 0 || !S_ISDIR(st.st_mode))
        return vm_err_set(err, VMERR_INVALID,
                          "image file is a send stream of a filesystem without a root/ directory: not a zone dataset");
    return 0;
}

static int install_stream(vs_pool *vp, const char *pn, const char *ds, json_t *m, const img_file *f, int comp,
                          const img_install_opts *opts, vm_err *err)
{
    const char *uuid = json_string_value(json_object_get(m, "uuid"));
    const char *want = json_string_value(json_object_get(json_array_get(json_object_get(m, "files"), 0), "sha1"));
    bool zvol = strcmp(json_string_value(json_object_get(m, "type")), "zvol") == 0;
    int64_t vbytes = 0;
    if (zvol && !mib_to_bytes(json_integer_value(json_object_get(m, "image_size")), &vbytes))
        return vm_err_set(err, VMERR_INVALID, "manifest image_size is out of range");
    char hex[41];
    stable_begin(&f->st);
    hash_job job = { .path = f->fdpath,
                     .shown = f->path,
                     .want = want,
                     .progress = opts ? opts->progress : NULL,
                     .parg = opts ? opts->progress_arg : NULL,
                     .total = (uint64_t)f->st.st_size };
    /* Hashed first, unless the caller did: the stream reader acts on the
     * bytes as it reads them. */
    if (!(opts && (opts->flags & IMG_INSTALL_VERIFIED)))
        hash_thread(&job);
    if (job.rc < 0) {
        *err = job.err;
        return -1;
    }
    test_pause_after_hash();
    img_src s;
    vs_stream_reader *r = NULL;
    json_t *header;
    vs_stream_rec rec;
    int rc = src_open(&s, f->fd, f->path, comp, err);
    bool received = false;
    if (rc == 0) {
        s.limit = zvol ? bomb_limit((uint64_t)vbytes) : tar_limit(m);
        s.limit_why = zvol ? "its manifest image_size plus margin"
                           : "the bound its manifest sets: image_size, or 100 times files.0.size + 256 MiB";
        s.progress = opts ? opts->progress : NULL;
        s.parg = opts ? opts->progress_arg : NULL;
        s.phase = "receive";
        rc = vs_stream_reader_open(stream_read, &s, &r, &header, err);
    }
    if (rc == 0 && vs_stream_next(r, &rec, err) != 1)
        rc = vm_err_is_set(err) ? -1 : vm_err_set(err, VMERR_INVALID, "image file is a send stream without a dataset");
    if (rc == 0 && rec.type != VS_REC_OBJECT)
        rc = vm_err_set(err, VMERR_INVALID, "image file is a send stream without a dataset");
    if (rc == 0)
        rc = stream_fits(m, rec.json, pn, (uint64_t)vbytes, err);
    int flags = VS_RECV_LAST | (opts && (opts->flags & IMG_INSTALL_ALLOW_SETUID) ? 0 : VS_RECV_NO_SETUID);
    if (rc == 0) {
        rc = vs_receive(vp, ds, r, rec.json, flags, err);
        received = rc == 0;
    }
    if (vm_err_is_set(&s.err)) /* the file's own failure explains the stream's */
        *err = s.err;
    if (rc == 0)
        rc = stream_finish(vp, ds, uuid, zvol, err);
    if (rc == 0)
        rc = src_drain(&s, err);
    if (rc == 0) {
        uint8_t d[20];
        img_sha1_final(&s.sha, d);
        img_sha1_hex(d, hex);
        if (strcmp(hex, want) != 0)
            rc = vm_err_set(err, VMERR_IO, "%s changed while being installed", f->path);
    }
    if (rc == 0)
        rc = stable_check(f->fd, &f->st, f->path, err);
    vs_stream_reader_free(r);
    src_close(&s);
    if (rc < 0 && received) {
        vm_err e2 = VM_ERR_INIT;
        vs_destroy(vp, ds, VS_RECURSIVE, &e2);
    }
    return rc < 0 ? -1 : 0;
}

/* The pid in a temp file name "<uuid>.<pid>.raw", or 0. */
static long tmp_owner(const char *name)
{
    const char *dot = strchr(name, '.');
    if (!dot || dot - name != 36)
        return 0;
    char *end;
    long pid = strtol(dot + 1, &end, 10);
    if (end == dot + 1 || strcmp(end, ".raw") != 0 || pid <= 0)
        return 0;
    return pid;
}

/* uuid NULL: every temp file whose process is gone.  uuid set: also those of
 * this image whatever their pid (the caller holds the image's lock, so no
 * live install of it can own them). */
static void sweep_tmp(const vm_ctx *ctx, const char *uuid)
{
    cleanup_free char *dir = xasprintf("%s/var/imgadm/tmp", ctx->root);
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        long pid = tmp_owner(de->d_name);
        if (!pid)
            continue;
        bool mine = uuid && strncmp(de->d_name, uuid, 36) == 0;
        bool dead = pid != (long)getpid() && kill((pid_t)pid, 0) < 0 && errno == ESRCH;
        if (mine || dead)
            unlinkat(dirfd(d), de->d_name, 0);
    }
    closedir(d);
}

void img_tmp_sweep(const vm_ctx *ctx)
{
    sweep_tmp(ctx, NULL);
}

/* A dataset that an interrupted install of this image left behind. */
static bool leftover_of(vs_pool *vp, const char *ds, const char *uuid)
{
    cleanup_free char *owner = NULL;
    vm_err e2 = VM_ERR_INIT;
    if (vs_get_str(vp, ds, OWNER_PROP, &owner, &e2) < 0)
        return false;
    return strcmp(owner, uuid) == 0;
}

int img_install(const vm_ctx *ctx, const char *pool, const char *manifest_path, const char *file_path,
                const img_install_opts *opts, vm_err *err)
{
    const char *pn = img_pool_of(ctx, pool);
    cleanup_json json_t *m = NULL;
    if (read_json_file(manifest_path, &m, err) < 0) {
        vm_err_prefix(err, "cannot read manifest: ");
        return -1;
    }
    if (img_manifest_validate(m, err) < 0)
        return -1;
    const char *uuid = json_string_value(json_object_get(m, "uuid"));
    const char *type = json_string_value(json_object_get(m, "type"));
    json_t *f0 = json_array_get(json_object_get(m, "files"), 0);
    uint64_t want_size = (uint64_t)json_integer_value(json_object_get(f0, "size"));
    const char *cname = json_string_value(json_object_get(f0, "compression"));
    int comp = img_comp_parse(cname);

    /* The file is opened once: every check and pass below reads this fd. */
    cleanup_close int fd = open(file_path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0)
        return vm_err_sys(err, errno, "cannot open image file %s", file_path);
    img_file f = { .fd = fd, .path = file_path };
    snprintf(f.fdpath, sizeof f.fdpath, "/proc/%ld/fd/%d", (long)getpid(), fd);
    if (fstat(fd, &f.st) < 0)
        return vm_err_sys(err, errno, "cannot open image file %s", file_path);
    /* Cheap checks of the file against the manifest before any change. */
    if (!S_ISREG(f.st.st_mode))
        return vm_err_set(err, VMERR_INVALID, "image file %s is not a regular file", file_path);
    if ((uint64_t)f.st.st_size != want_size)
        return vm_err_set(err, VMERR_INVALID, "size mismatch: manifest says %llu bytes, %s has %llu bytes",
                          (unsigned long long)want_size, file_path, (unsigned long long)f.st.st_size);
    uint8_t head[16];
    ssize_t hn = pread(fd, head, sizeof head, 0);
    if (hn < 0)
        return vm_err_sys(err, errno, "cannot read %s", file_path);
    int detected = img_comp_detect(head, (size_t)hn);
    if (detected != comp)
        return vm_err_set(err, VMERR_INVALID, "compression mismatch: manifest says \"%s\" but %s is \"%s\"", cname,
                          file_path, img_comp_name(detected));

    cleanup_free char *lockname = xasprintf("image-%s", uuid);
    cleanup_lock vm_lock lk = VM_LOCK_INIT;
    if (vm_lock_acquire(ctx, lockname, -1, &lk, err) < 0)
        return -1;
    sweep_tmp(ctx, uuid);
    cleanup_free char *mpath = img_manifest_path(ctx, pn, uuid);
    cleanup_vs_pool vs_pool *vp = NULL;
    if (vs_pool_open(ctx, pn, &vp, err) < 0)
        return -1;
    cleanup_free char *ds = xasprintf("%s/%s", pn, uuid);
    if (path_exists(mpath) && img_installed(vp, uuid))
        return vm_err_set(err, VMERR_EXISTS, "image %s is already installed", uuid);
    if (vs_exists(vp, ds)) {
        if (!leftover_of(vp, ds, uuid))
            return vm_err_set(err, VMERR_EXISTS, "cannot install image %s: dataset %s already exists", uuid, ds);
        vm_log(ctx, "warn", "imgadm: removing %s left by an interrupted install", ds);
        if (vs_destroy(vp, ds, VS_RECURSIVE, err) < 0)
            return -1;
    }
    cleanup_free char *idir = img_images_dir(ctx);
    if (mkdir_p(idir, 0755, err) < 0)
        return -1;

    /* The format by content: a send stream, else raw/qcow2 or a tarball. */
    uint8_t magic[8];
    size_t mlen = 0;
    if (peek(&f, comp, magic, sizeof magic, &mlen, err) < 0)
        return -1;
    bool stream = mlen == sizeof magic && memcmp(magic, STREAM_MAGIC, sizeof magic) == 0;
    int r = stream                  ? install_stream(vp, pn, ds, m, &f, comp, opts, err)
        : strcmp(type, "zvol") == 0 ? install_zvol(ctx, vp, ds, m, &f, comp, opts, err)
                                    : install_tar(ctx, vp, ds, m, &f, comp, opts, err);
    if (r < 0)
        return -1;
    cleanup_free char *snap = xasprintf("%s@final", ds);
    if ((!stream && vs_snapshot(vp, snap, 0, err) < 0) || write_json_atomic(mpath, m, err) < 0) {
        vm_err e2 = VM_ERR_INIT;
        unlink(mpath);
        if (vs_destroy(vp, ds, VS_RECURSIVE, &e2) < 0)
            vm_log(ctx, "error", "imgadm: cannot remove partial %s: %s", ds, e2.msg);
        return -1;
    }
    vm_log(ctx, "info", "imgadm: installed image %s into %s", uuid, ds);
    return 0;
}

/* ---- delete ---- */

int img_delete(const vm_ctx *ctx, const char *pool, const char *uuid, vm_err *err)
{
    const char *pn = img_pool_of(ctx, pool);
    if (!uuid_valid(uuid))
        return vm_err_set(err, VMERR_INVALID, "invalid uuid: \"%s\"", uuid ? uuid : "");
    cleanup_free char *lockname = xasprintf("image-%s", uuid);
    cleanup_lock vm_lock lk = VM_LOCK_INIT;
    if (vm_lock_acquire(ctx, lockname, -1, &lk, err) < 0)
        return -1;
    cleanup_free char *mpath = img_manifest_path(ctx, pn, uuid);
    if (!path_exists(mpath))
        return img_not_found(pn, uuid, err);
    cleanup_vs_pool vs_pool *vp = NULL;
    if (vs_pool_open(ctx, pn, &vp, err) < 0)
        return -1;
    cleanup_free char *ds = xasprintf("%s/%s", pn, uuid);
    cleanup_free char *snap = xasprintf("%s@final", ds);
    if (vs_exists(vp, snap)) {
        cleanup_json json_t *names = NULL;
        if (vs_list(vp, NULL, VS_FILESYSTEM | VS_VOLUME, VS_RECURSIVE, &names, err) < 0)
            return -1;
        cleanup_json json_t *clones = json_array();
        size_t i;
        json_t *n;
        json_array_foreach(names, i, n) {
            cleanup_free char *origin = NULL;
            vm_err e2 = VM_ERR_INIT;
            if (vs_get_str(vp, json_string_value(n), "origin", &origin, &e2) == 0 && strcmp(origin, snap) == 0)
                json_array_append(clones, n);
        }
        if (json_array_size(clones)) {
            cleanup_free char **v = xcalloc(json_array_size(clones) + 1, sizeof(char *));
            json_array_foreach(clones, i, n)
                v[i] = (char *)json_string_value(n);
            cleanup_free char *list = strv_join(v, ", ");
            return vm_err_set(err, VMERR_BUSY, "image \"%s\" has dependent clones: %s", uuid, list);
        }
    }
    /* Uncommit first: if the destroy fails the manifest is put back, and a
     * crash in between leaves a leftover that the next install removes. */
    cleanup_json json_t *m = NULL;
    if (read_json_file(mpath, &m, err) < 0)
        return -1;
    if (unlink(mpath) < 0)
        return vm_err_sys(err, errno, "cannot remove %s", mpath);
    cleanup_free char *idir = img_images_dir(ctx);
    fsync_dir(idir);
    if (vs_exists(vp, ds) && vs_destroy(vp, ds, VS_RECURSIVE, err) < 0) {
        vm_err e2 = VM_ERR_INIT;
        write_json_atomic(mpath, m, &e2);
        return -1;
    }
    vm_log(ctx, "info", "imgadm: deleted image %s from %s", uuid, pn);
    return 0;
}
