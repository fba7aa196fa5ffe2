/* vmadm send [-i <snapshot>] <uuid> > stream; vmadm receive [-n] < stream
 * (issue 17; lib/migrate/vmstream.h has the format and the promises). */
#include <stdio.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>

#include "common/fdq.h"
#include "migrate/vmstream.h"
#include "vmadm.h"

/* -i takes a VM snapshot's name (as create-snapshot gave it) or, with
 * its prefix, any snapshot the datasets carry (a migration's). */
static char *snap_arg(const char *s)
{
    if (!s)
        return NULL;
    if (str_has_prefix(s, "vmsnap-") || str_has_prefix(s, MIG_SNAP_PREFIX))
        return xstrdup(s);
    return xasprintf("vmsnap-%s", s);
}

int cmd_send(const vm_ctx *ctx, args *a)
{
    vm_opts o;
    int c;
    const char *from = NULL, *upto = NULL;
    vm_opts_init(&o, a->argc - 1, a->argv + 1, "i:s:vd", NULL, 0);
    while ((c = vm_opts_next(&o)) != -1) {
        if (c == 'i')
            from = o.arg;
        else if (c == 's')
            upto = o.arg;
        else if (c != 'v' && c != 'd') {
            char m[160];
            vm_opts_error(&o, c, m, sizeof m);
            return usage(m);
        }
    }
    if (o.npos != 1 || !uuid_shape(o.pos[0]))
        return usage("Invalid or missing argument UUID");
    if (isatty(STDOUT_FILENO)) {
        fprintf(stderr, "Refusing to write a send stream to a terminal: redirect stdout.\n");
        return 1;
    }
    cleanup_free char *f = snap_arg(from), *s = snap_arg(upto);
    mig_send_opts so = { .from = f, .snapshot = s };
    vm_err e = VM_ERR_INIT;
    int fd = STDOUT_FILENO;
    cleanup_free char *taken = NULL;
    vs_fdq *q = vs_fdq_writer(fd); /* write-behind: hashing goes on while the pipe is full */
    int r = mig_send(ctx, o.pos[0], &so, q ? vs_fdq_write : vs_stream_fd_write, q ? (void *)q : &fd, &taken, &e);
    if (vs_fdq_close(q) < 0 && r == 0)
        r = vm_err_sys(&e, errno, "cannot write the stream");
    if (r < 0)
        return fail(&e);
    fprintf(stderr, "Successfully sent VM %s (snapshot %s)\n", o.pos[0], taken);
    return 0;
}

int cmd_receive(const vm_ctx *ctx, args *a)
{
    vm_opts o;
    int c;
    int flags = 0;
    bool json = false;
    bool abort_it = false;
    static const vm_longopt longs[] = { { "hidden", false, 'x' }, { NULL, false, 0 } };
    vm_opts_init(&o, a->argc - 1, a->argv + 1, "njvdsA", longs, 0);
    while ((c = vm_opts_next(&o)) != -1) {
        if (c == 'n')
            flags |= MIG_RECV_CHECK;
        else if (c == 's')
            flags |= MIG_RECV_RESUMABLE;
        else if (c == 'A')
            abort_it = true;
        else if (c == 'j')
            json = true;
        else if (c == 'x')
            flags |= MIG_RECV_HIDDEN;
        else if (c != 'v' && c != 'd') {
            char m[160];
            vm_opts_error(&o, c, m, sizeof m);
            return usage(m);
        }
    }
    vm_err e = VM_ERR_INIT;
    if (abort_it) {
        if (o.npos != 1)
            return usage(o.npos ? "Too many arguments." : "Missing UUID.");
        if (mig_receive_abort(ctx, o.pos[0], &e) < 0)
            return fail(&e);
        fprintf(stderr, "Discarded the partial receive of VM %s\n", o.pos[0]);
        return 0;
    }
    if (o.npos)
        return usage("Too many arguments.");
    if (isatty(STDIN_FILENO)) {
        fprintf(stderr, "vmadm receive reads a send stream on stdin.\n");
        return 2;
    }
    cleanup_json json_t *rep = NULL;
    if (mig_receive(ctx, STDIN_FILENO, flags, &rep, &e) < 0)
        return fail(&e);
    if (json || (flags & MIG_RECV_CHECK))
        print_json(rep);
    if (!(flags & MIG_RECV_CHECK))
        fprintf(stderr, "Successfully received VM %s\n", json_string_value(json_object_get(rep, "uuid")));
    return 0;
}
