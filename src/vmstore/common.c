/* Helpers shared by the vmstore verbs: usage and error output (zfs's exit
 * codes: 1 for errors, 2 for usage), property names and zfs's formatting of
 * values and tables (-H, -p, -o). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "vmstore.h"

void print_usage(FILE *f)
{
    fputs("usage: vmstore <command> [args]\n", f);
    for (const vmstore_cmd *c = vmstore_cmds; c->name; c++)
        if (c->usage)
            fprintf(f, "\t%s\n", c->usage);
}

int usage(const char *msg, ...)
{
    if (msg) {
        va_list ap;
        va_start(ap, msg);
        vfprintf(stderr, msg, ap);
        va_end(ap);
        fputc('\n', stderr);
    }
    print_usage(stderr);
    return 2;
}

int fail(vm_err *err)
{
    fprintf(stderr, "%s\n", err->msg);
    return err->code == VMERR_USAGE ? 2 : 1;
}

int opt_error(const vm_opts *o, int c)
{
    char m[160];
    vm_opts_error(o, c, m, sizeof m);
    return usage("%s", m);
}

int no_opts(int *argc, char **argv)
{
    vm_opts o;
    vm_opts_init(&o, *argc, argv, "", NULL, VM_OPTS_POSIX);
    int c = vm_opts_next(&o);
    if (c != -1)
        return opt_error(&o, c);
    *argc = o.npos + 1;
    return 0;
}

const char *canon_prop(const char *p)
{
    static const char *const alias[][2] = { { "avail", "available" },          { "refer", "referenced" },
                                            { "reserv", "reservation" },       { "refreserv", "refreservation" },
                                            { "compress", "compression" },     { "volblock", "volblocksize" },
                                            { "usedsnap", "usedbysnapshots" }, { NULL, NULL } };
    for (size_t i = 0; alias[i][0]; i++)
        if (!strcmp(p, alias[i][0]))
            return alias[i][1];
    return p;
}

bool is_size_prop(const char *p)
{
    static const char *const s[] = { "used",  "available", "referenced",  "usedbysnapshots", "volsize", "volblocksize",
                                     "quota", "refquota",  "reservation", "refreservation",  NULL };
    for (size_t i = 0; s[i]; i++)
        if (!strcmp(p, s[i]))
            return true;
    return false;
}

static bool none_when_zero(const char *p)
{
    return !strcmp(p, "quota") || !strcmp(p, "refquota") || !strcmp(p, "reservation") || !strcmp(p, "refreservation");
}

void fmt_time(int64_t t, char *buf, size_t n)
{
    time_t tt = (time_t)t;
    struct tm tm;
    localtime_r(&tt, &tm);
    strftime(buf, n, "%a %b %e %H:%M %Y", &tm);
}

/* One property value as zfs prints it. */
char *fmt_value(const char *prop, json_t *pv, bool parsable)
{
    json_t *v = json_object_get(pv, "value");
    if (!v)
        return xstrdup("-");
    if (!json_is_integer(v))
        return xstrdup(json_string_value(v) ? json_string_value(v) : "-");
    int64_t n = json_integer_value(v);
    if (parsable)
        return xasprintf("%lld", (long long)n);
    if (!strcmp(prop, "creation")) {
        char b[64];
        fmt_time(n, b, sizeof b);
        return xstrdup(b);
    }
    if (n == 0 && none_when_zero(prop))
        return xstrdup("none");
    if (is_size_prop(prop)) {
        char b[16];
        vs_format_size((uint64_t)n, b);
        return xstrdup(b);
    }
    return xasprintf("%lld", (long long)n);
}

int parse_types(const char *s, int *types)
{
    cleanup_strv char **v = strv_split(s, ",");
    *types = 0;
    for (size_t i = 0; v[i]; i++) {
        if (!strcmp(v[i], "filesystem") || !strcmp(v[i], "fs"))
            *types |= VS_FILESYSTEM;
        else if (!strcmp(v[i], "volume") || !strcmp(v[i], "vol"))
            *types |= VS_VOLUME;
        else if (!strcmp(v[i], "snapshot") || !strcmp(v[i], "snap"))
            *types |= VS_SNAPSHOT;
        else if (!strcmp(v[i], "all"))
            *types |= VS_ALL;
        else
            return usage("invalid type '%s'", v[i]), -1;
    }
    return 0;
}

/* Table output: zfs pads columns with two spaces, numbers right-aligned,
 * -H gives tab-separated rows without a header. */
void print_table(json_t *rows, json_t *heads, json_t *right, bool scripted)
{
    size_t ncol = json_array_size(heads), i, c;
    size_t *w = xcalloc(ncol, sizeof *w);
    json_t *row;
    if (!scripted)
        for (c = 0; c < ncol; c++)
            w[c] = strlen(json_string_value(json_array_get(heads, c)));
    json_array_foreach(rows, i, row)
        for (c = 0; c < ncol; c++) {
            size_t l = strlen(json_string_value(json_array_get(row, c)));
            if (l > w[c])
                w[c] = l;
        }
    for (i = scripted ? 1 : 0; i <= json_array_size(rows); i++) {
        json_t *r = i == 0 ? heads : json_array_get(rows, i - 1);
        for (c = 0; c < ncol; c++) {
            const char *s = json_string_value(json_array_get(r, c));
            if (scripted) {
                printf("%s%s", s, c + 1 < ncol ? "\t" : "\n");
                continue;
            }
            bool last = c + 1 == ncol;
            if (json_is_true(json_array_get(right, c)) && i > 0)
                printf("%*s%s", (int)w[c], s, last ? "\n" : "  ");
            else if (last)
                printf("%s\n", s);
            else
                printf("%-*s  ", (int)w[c], s);
        }
    }
    free(w);
}

/* -o prop=value into an object; returns -1 (usage printed) on bad syntax. */
int add_opt_prop(json_t *props, const char *arg)
{
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg)
        return usage("missing '=' for property=value argument"), -1;
    cleanup_free char *k = xstrndup(arg, (size_t)(eq - arg));
    if (json_object_get(props, canon_prop(k)))
        return usage("property '%s' specified multiple times", k), -1;
    json_object_set_new(props, canon_prop(k), json_string(eq + 1));
    return 0;
}
