/* getopt-style option parsing without globals (see opts.h). */
#include "common/opts.h"

#include <stdio.h>
#include <string.h>

void vm_opts_init(vm_opts *o, int argc, char **argv, const char *spec, const vm_longopt *longs, int flags)
{
    memset(o, 0, sizeof *o);
    o->argc = argc;
    o->argv = argv;
    o->spec = spec ? spec : "";
    o->longs = longs;
    o->flags = flags;
    o->i = o->w = 1;
    o->pos = argv + 1;
}

/* The value of the option just found: the rest of the word, else the
 * next word; ':' when there is none. */
static int take_value(vm_opts *o, int c)
{
    if (o->next && *o->next) {
        o->arg = o->next;
        o->next = NULL;
        return c;
    }
    o->next = NULL;
    if (o->i >= o->argc) {
        o->opt = c;
        return ':';
    }
    o->arg = o->argv[o->i++];
    return c;
}

static int short_opt(vm_opts *o)
{
    int c = (unsigned char)*o->next++;
    o->word_start = o->next - 1 == o->word + 1;
    const char *p = c == ':' ? NULL : strchr(o->spec, c);
    if (!p) {
        o->opt = c;
        return '?';
    }
    if (p[1] == ':')
        return take_value(o, c);
    return c;
}

static int long_opt(vm_opts *o, const char *word)
{
    const char *name = word + 2, *eq = strchr(name, '=');
    size_t n = eq ? (size_t)(eq - name) : strlen(name);
    o->opt = 0;
    for (const vm_longopt *l = o->longs; l && l->name; l++) {
        if (strlen(l->name) != n || strncmp(l->name, name, n))
            continue;
        if (!l->has_arg) {
            if (eq)
                return '?';
            return l->val;
        }
        if (eq) {
            o->arg = eq + 1;
            return l->val;
        }
        if (take_value(o, l->val) == ':') {
            o->opt = 0;
            return ':';
        }
        return l->val;
    }
    return '?';
}

int vm_opts_next(vm_opts *o)
{
    o->arg = NULL;
    if (o->next && *o->next)
        return short_opt(o);
    o->next = NULL;
    while (o->i < o->argc) {
        char *word = o->argv[o->i];
        if (o->ended || word[0] != '-' || !word[1]) {
            o->argv[o->w++] = o->argv[o->i++];
            if (o->flags & VM_OPTS_POSIX)
                o->ended = true;
            continue;
        }
        o->i++;
        o->word = word;
        if (!strcmp(word, "--")) {
            o->ended = true;
            continue;
        }
        if (word[1] == '-')
            return long_opt(o, word);
        o->next = word + 1;
        return short_opt(o);
    }
    o->npos = o->w - 1;
    o->argv[o->w] = NULL;
    return -1;
}

void vm_opts_skip_word(vm_opts *o)
{
    o->next = NULL;
}

void vm_opts_error(const vm_opts *o, int c, char *buf, size_t n)
{
    if (o->opt) {
        snprintf(buf, n, c == ':' ? "missing argument for '%c' option" : "invalid option '%c'", o->opt);
        return;
    }
    const char *w = o->word ? o->word : "";
    size_t l = strcspn(w, "=");
    if (c == ':')
        snprintf(buf, n, "missing argument for '%.*s' option", (int)l, w);
    else
        snprintf(buf, n, "unrecognized option '%.*s'", (int)l, w);
}
