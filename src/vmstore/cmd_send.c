/* vmstore send / receive (zfs send/receive for volume and filesystem
 * snapshots; the stream format is lib/storage/stream.h).  `-i` takes an
 * earlier snapshot of the same dataset or the dataset's origin. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/fdq.h"
#include "common/util.h"
#include "storage/stream.h"
#include "vmstore.h"

/* zfs accepts "-i @a", "-i a" and "-i ds@a" for the base. */
static char *base_name(const char *snap, const char *from)
{
    const char *at = strchr(snap, '@');
    size_t dslen = (size_t)(at - snap);
    if (from[0] == '@')
        return xasprintf("%.*s%s", (int)dslen, snap, from);
    if (!strchr(from, '@'))
        return xasprintf("%.*s@%s", (int)dslen, snap, from);
    return xstrdup(from);
}

/* zfs send -nvP's estimate: "full\t<snap>\t<bytes>" or
 * "incremental\t<from>\t<snap>\t<bytes>", then "size\t<bytes>"; -v
 * alone says it in words. */
static void print_estimate(FILE *out, const char *snap, const char *base, uint64_t bytes, bool parsable)
{
    char h[16];
    vs_format_size(bytes, h);
    if (parsable && base)
        fprintf(out, "incremental\t%s\t%s\t%llu\nsize\t%llu\n", base, snap, (unsigned long long)bytes,
                (unsigned long long)bytes);
    else if (parsable)
        fprintf(out, "full\t%s\t%llu\nsize\t%llu\n", snap, (unsigned long long)bytes, (unsigned long long)bytes);
    else
        fprintf(out, "%s send of %s estimated size is %s\ntotal estimated size is %s\n", base ? "incremental" : "full",
                snap, h, h);
}

/* One object: snap after base, or what a resume token names. */
static int send_stream(vs_pool *pool, const char *snap, const char *base, const char *token)
{
    vm_err err = VM_ERR_INIT;
    if (isatty(STDOUT_FILENO)) {
        fprintf(stderr, "Error: Stream can not be written to a terminal.\nYou must redirect standard output.\n");
        return 1;
    }
    int fd = STDOUT_FILENO;
    vs_stream_writer *w = NULL;
    cleanup_json json_t *header = json_pack("{s:s, s:s}", "kind", "vmstore", "pool", vs_pool_name(pool));
    vs_fdq *q = vs_fdq_writer(fd); /* write-behind: hashing goes on while the pipe is full */
    int r = vs_stream_writer_open(q ? vs_fdq_write : vs_stream_fd_write, q ? (void *)q : &fd, header, &w, &err);
    if (r == 0)
        r = token ? vs_send_token(pool, token, w, &err) : vs_send(pool, snap, base, w, &err);
    if (r == 0)
        r = vs_stream_writer_finish(w, NULL, &err);
    vs_stream_writer_free(w);
    if (vs_fdq_close(q) < 0 && r == 0)
        r = vm_err_sys(&err, errno, "cannot write the stream");
    return r < 0 ? fail(&err) : 0;
}

int cmd_send(vs_pool *pool, int argc, char **argv)
{
    const char *from = NULL, *token = NULL;
    bool dry = false, parsable = false, verbose = false;
    int c;
    vm_opts o;
    vm_opts_init(&o, argc, argv, "i:nPvt:", NULL, VM_OPTS_POSIX);
    while ((c = vm_opts_next(&o)) != -1) {
        switch (c) {
        case 'i': from = o.arg; break;
        case 't': token = o.arg; break;
        case 'n': dry = true; break;
        case 'P': parsable = true; break;
        case 'v': verbose = true; break;
        default: return opt_error(&o, c);
        }
    }
    if (token)
        return o.npos || from || dry || parsable ? usage("-t takes no other options or arguments")
                                                 : send_stream(pool, NULL, NULL, token);
    if (o.npos < 1)
        return usage("missing snapshot argument");
    if (o.npos > 1)
        return usage("too many arguments");
    const char *snap = o.pos[0];
    if (!strchr(snap, '@'))
        return usage("'%s' is not a snapshot", snap);
    cleanup_free char *base = from ? base_name(snap, from) : NULL;
    vm_err err = VM_ERR_INIT;
    if (dry || parsable || verbose) {
        uint64_t bytes = 0;
        if (vs_send_size(pool, snap, base, &bytes, &err) < 0)
            return fail(&err);
        print_estimate(dry ? stdout : stderr, snap, base, bytes, parsable);
        if (dry)
            return 0;
    }
    return send_stream(pool, snap, base, NULL);
}

int cmd_receive(vs_pool *pool, int argc, char **argv)
{
    bool resumable = false, abort_it = false;
    int c;
    vm_opts o;
    vm_opts_init(&o, argc, argv, "sA", NULL, VM_OPTS_POSIX);
    while ((c = vm_opts_next(&o)) != -1) {
        switch (c) {
        case 's': resumable = true; break;
        case 'A': abort_it = true; break;
        default: return opt_error(&o, c);
        }
    }
    if (o.npos < 1)
        return usage("missing dataset argument");
    if (o.npos > 1)
        return usage("too many arguments");
    const char *name = o.pos[0];
    if (!vs_valid_name(name) || strchr(name, '@'))
        return usage("'%s' is not a valid dataset name", name);
    if (abort_it) {
        vm_err err = VM_ERR_INIT;
        return resumable                             ? usage("-A and -s exclude each other")
            : vs_receive_abort(pool, name, &err) < 0 ? fail(&err)
                                                     : 0;
    }
    if (isatty(STDIN_FILENO)) {
        fprintf(stderr, "Error: Backup stream can not be read from a terminal.\nYou must redirect standard input.\n");
        return 1;
    }
    vm_err err = VM_ERR_INIT;
    int fd = STDIN_FILENO;
    vs_stream_reader *r = NULL;
    json_t *header;
    /* read-ahead: the pipe is drained while a record is verified (stdin
     * carries nothing but the stream) */
    vs_fdq *q = vs_fdq_reader(fd);
    if (vs_stream_reader_open(q ? vs_fdq_read : vs_stream_fd_read, q ? (void *)q : &fd, &r, &header, &err) < 0) {
        vs_fdq_close(q);
        return fail(&err);
    }
    vs_stream_rec rec;
    int rc = vs_stream_next(r, &rec, &err);
    if (rc == 1 && rec.type != VS_REC_OBJECT)
        rc = vm_err_set(&err, VMERR_INVALID, "invalid stream: no dataset in it");
    else if (rc == 0)
        rc = vm_err_set(&err, VMERR_INVALID, "invalid stream: it holds no dataset");
    if (rc == 1)
        rc = vs_receive(pool, name, r, rec.json, VS_RECV_LAST | VS_RECV_DEVICES | (resumable ? VS_RECV_RESUMABLE : 0),
                        &err);
    vs_stream_reader_free(r);
    vs_fdq_close(q);
    return rc < 0 ? fail(&err) : 0;
}
