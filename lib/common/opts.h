/* Command-line options, one way for every tool (vmadm, vmstore, imgadm,
 * vminfo; issue 19), as getopt(3) does it but without its globals:
 *
 *   - short options bundle: `-Hpo uuid` is -H -p -o uuid;
 *   - an option that takes a value takes the rest of its word or, when
 *     that is empty, the next word (`-ouuid`, `-o uuid`, `-Ho uuid`);
 *   - `--` ends options, a lone `-` is a positional (stdin);
 *   - long options `--name`, `--name=value` or `--name value`;
 *   - permute mode (default): options may come after positionals, as
 *     SmartOS's vmadm and imgadm accept; VM_OPTS_POSIX stops at the first
 *     positional (zfs, and `vmadm login <uuid> <command ...>`).
 *
 * Parsing reorders argv in place: when vm_opts_next returns -1 the
 * positionals, in their order, are o->pos[0 .. o->npos), NULL-terminated
 * (argv needs argc + 1 slots, as main's has).  argv[0] (the verb) is
 * never an option.  Nothing is allocated. */
#ifndef VM_OPTS_H
#define VM_OPTS_H

#include <stdbool.h>
#include <stddef.h>

enum { VM_OPTS_POSIX = 1 };

typedef struct vm_longopt {
    const char *name; /* without "--" */
    bool has_arg;
    int val; /* what vm_opts_next returns for it */
} vm_longopt;

typedef struct vm_opts {
    /* results */
    const char *arg; /* value of the option just returned, or NULL */
    int opt; /* the short option of the last '?' or ':' (0 for a long one) */
    const char *word; /* the whole word it came from ("-Hx", "--bogus") */
    bool word_start; /* the '?' option was the first letter of word */
    char **pos; /* positionals (valid after -1) */
    int npos;
    /* private */
    int argc, i, w;
    char **argv;
    const char *spec;
    const vm_longopt *longs;
    const char *next; /* rest of a bundle */
    int flags;
    bool ended;
} vm_opts;

/* spec: getopt letters, ':' after one that takes a value ("pHo:s:");
 * longs: terminated by a NULL name, or NULL. */
void vm_opts_init(vm_opts *o, int argc, char **argv, const char *spec, const vm_longopt *longs, int flags);
/* The next option (its letter or longopt val, the value in o->arg); '?'
 * for an unknown option, ':' for one missing its value; -1 at the end. */
int vm_opts_next(vm_opts *o);
/* After '?': drop the rest of the current bundle (a caller that reads
 * the whole word itself, e.g. `vmadm kill -KILL`). */
void vm_opts_skip_word(vm_opts *o);
/* The error of a '?' or ':' return, in getopt's words:
 * "invalid option 'x'", "unrecognized option '--x'",
 * "missing argument for 'x' option" / "... '--x' option". */
void vm_opts_error(const vm_opts *o, int c, char *buf, size_t n);

#endif
