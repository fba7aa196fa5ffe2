/* vmstore: the zfs(8) subset the compute node needs, over lib/storage.
 * Same verbs, flags, columns and messages as zfs where they exist; errors
 * exit 1, usage errors exit 2. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"
#include "storage/storage.h"

static const char *const usage_text =
    "usage: vmstore <command> [args]\n"
    "\tlist [-rHp] [-t type[,...]] [-o property[,...]] [-s property]... [-S property]... [name]...\n"
    "\tget [-rHp] [-o \"all\" | field[,...]] [-t type[,...]] <\"all\" | property[,...]> name...\n"
    "\tset <property=value> ... <name>...\n"
    "\tcreate [-ps] [-o property=value]... [-V size] <name>\n"
    "\tsnapshot [-r] [-o property=value]... <dataset@snapname>...\n"
    "\tdestroy [-r] <name>\n"
    "\trollback [-r] <snapshot>\n"
    "\tclone [-p] [-o property=value]... <snapshot> <name>\n"
    "\trename <name> <newname>\n"
    "\tswap <name> <name>\n"
    "\thold <tag> <snapshot>...\n"
    "\trelease <tag> <snapshot>...\n"
    "\tholds [-H] [-p] <snapshot>...\n"
    "\tresize [--shrink] <volume> <size>\n"
    "\timport [-V size] [-f format] [-o property=value]... <file> <volume>\n"
    "\tchanged <snapshot> [<snapshot>]\n"
    "\tspace [-p]\n";

static int usage(const char *msg, ...) __attribute__((format(printf, 1, 2)));
static int usage(const char *msg, ...)
{
    if (msg) {
        va_list ap;
        va_start(ap, msg);
        vfprintf(stderr, msg, ap);
        va_end(ap);
        fputc('\n', stderr);
    }
    fputs(usage_text, stderr);
    return 2;
}

static int fail(vm_err *err)
{
    fprintf(stderr, "%s\n", err->msg);
    return err->code == VMERR_USAGE ? 2 : 1;
}

/* getopt with zfs's message for unknown options. */
static int opt_error(int c)
{
    if (c == '?')
        return usage("invalid option '%c'", optopt);
    return usage("missing argument for '%c' option", optopt);
}

static const char *canon_prop(const char *p)
{
    static const char *const alias[][2] = {
        { "avail", "available" }, { "refer", "referenced" }, { "reserv", "reservation" },
        { "refreserv", "refreservation" }, { "compress", "compression" },
        { "volblock", "volblocksize" }, { "usedsnap", "usedbysnapshots" }, { NULL, NULL } };
    for (size_t i = 0; alias[i][0]; i++)
        if (!strcmp(p, alias[i][0]))
            return alias[i][1];
    return p;
}

static const char *header(const char *p)
{
    static const char *const h[][2] = {
        { "available", "AVAIL" }, { "referenced", "REFER" }, { "reservation", "RESERV" },
        { "refreservation", "REFRESERV" }, { "compression", "COMPRESS" },
        { "volblocksize", "VOLBLOCK" }, { "usedbysnapshots", "USEDSNAP" }, { NULL, NULL } };
    for (size_t i = 0; h[i][0]; i++)
        if (!strcmp(p, h[i][0]))
            return h[i][1];
    return NULL;
}

static bool is_size_prop(const char *p)
{
    static const char *const s[] = { "used", "available", "referenced", "usedbysnapshots", "volsize",
        "volblocksize", "quota", "refquota", "reservation", "refreservation", NULL };
    for (size_t i = 0; s[i]; i++)
        if (!strcmp(p, s[i]))
            return true;
    return false;
}

static bool none_when_zero(const char *p)
{
    return !strcmp(p, "quota") || !strcmp(p, "refquota") || !strcmp(p, "reservation") ||
           !strcmp(p, "refreservation");
}

static void fmt_time(int64_t t, char *buf, size_t n)
{
    time_t tt = (time_t)t;
    struct tm tm;
    localtime_r(&tt, &tm);
    strftime(buf, n, "%a %b %e %H:%M %Y", &tm);
}

/* One property value as zfs prints it. */
static char *fmt_value(const char *prop, json_t *pv, bool parsable)
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

static int parse_types(const char *s, int *types)
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
static void print_table(json_t *rows, json_t *heads, json_t *right, bool scripted)
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

typedef struct sortkey {
    const char *prop;
    bool desc;
} sortkey;

static sortkey g_sort[16];
static size_t g_nsort;

static int cmp_rows(const void *a, const void *b)
{
    json_t *ra = *(json_t *const *)a, *rb = *(json_t *const *)b;
    for (size_t i = 0; i < g_nsort; i++) {
        json_t *va = json_object_get(json_object_get(ra, g_sort[i].prop), "value");
        json_t *vb = json_object_get(json_object_get(rb, g_sort[i].prop), "value");
        int c = 0;
        if (json_is_integer(va) && json_is_integer(vb))
            c = json_integer_value(va) < json_integer_value(vb) ? -1 : json_integer_value(va) > json_integer_value(vb);
        else if (json_is_string(va) && json_is_string(vb))
            c = strcmp(json_string_value(va), json_string_value(vb));
        else
            c = (va != NULL) - (vb != NULL);
        if (c)
            return g_sort[i].desc ? -c : c;
    }
    /* qsort is not stable: fall back to list order. */
    return (int)(json_integer_value(json_object_get(ra, "\x01idx")) - json_integer_value(json_object_get(rb, "\x01idx")));
}

static int cmd_list(vs_pool *pool, int argc, char **argv)
{
    bool rec = false, scripted = false, parsable = false;
    int types = VS_FILESYSTEM | VS_VOLUME, c;
    bool types_given = false;
    cleanup_strv char **cols = strv_split("name,used,available,referenced,mountpoint", ",");
    vm_err err = VM_ERR_INIT;
    g_nsort = 0;
    while ((c = getopt(argc, argv, "+rHpt:o:s:S:d:")) != -1) {
        switch (c) {
        case 'r': rec = true; break;
        case 'd': rec = true; break;
        case 'H': scripted = true; break;
        case 'p': parsable = true; break;
        case 't':
            if (parse_types(optarg, &types) < 0)
                return 2;
            types_given = true;
            break;
        case 'o':
            strv_free(cols);
            cols = strv_split(optarg, ",");
            break;
        case 's': case 'S':
            if (g_nsort < 16)
                g_sort[g_nsort++] = (sortkey){ canon_prop(optarg), c == 'S' };
            break;
        default:
            return opt_error(c);
        }
    }
    cleanup_json json_t *names = json_array();
    if (optind >= argc) {
        json_t *n = NULL;
        if (vs_list(pool, NULL, types, VS_RECURSIVE, &n, &err) < 0)
            return fail(&err);
        json_array_extend(names, n);
        json_decref(n);
    } else {
        int rc = 0;
        for (int i = optind; i < argc; i++) {
            json_t *n = NULL;
            int t = types;
            /* Naming a snapshot lists it even without -t snapshot. */
            if (strchr(argv[i], '@') && !types_given)
                t |= VS_SNAPSHOT;
            if (vs_list(pool, argv[i], t, rec ? VS_RECURSIVE : 0, &n, &err) < 0) {
                fprintf(stderr, "%s\n", err.msg);
                vm_err_clear(&err);
                rc = 1;
                continue;
            }
            json_array_extend(names, n);
            json_decref(n);
        }
        if (rc && json_array_size(names) == 0)
            return rc;
    }
    size_t n = json_array_size(names), i;
    json_t **props = xcalloc(n + 1, sizeof *props);
    for (i = 0; i < n; i++) {
        if (vs_get(pool, json_string_value(json_array_get(names, i)), &props[i], &err) < 0) {
            for (size_t j = 0; j < i; j++)
                json_decref(props[j]);
            free(props);
            return fail(&err);
        }
        json_object_set_new(props[i], "\x01idx", json_integer((json_int_t)i));
    }
    if (g_nsort)
        qsort(props, n, sizeof *props, cmp_rows);
    cleanup_json json_t *heads = json_array(), *right = json_array(), *rows = json_array();
    for (size_t k = 0; cols[k]; k++) {
        const char *p = canon_prop(cols[k]);
        const char *h = header(p);
        cleanup_free char *up = xstrdup(cols[k]);
        if (!h && !strchr(p, ':'))
            for (char *q = up; *q; q++)
                *q = (char)(*q >= 'a' && *q <= 'z' ? *q - 32 : *q);
        json_array_append_new(heads, json_string(h ? h : up));
        json_array_append_new(right, json_boolean(is_size_prop(p)));
    }
    for (i = 0; i < n; i++) {
        json_t *row = json_array();
        for (size_t k = 0; cols[k]; k++) {
            const char *p = canon_prop(cols[k]);
            cleanup_free char *v = fmt_value(p, json_object_get(props[i], p), parsable);
            json_array_append_new(row, json_string(v));
        }
        json_array_append_new(rows, row);
        json_decref(props[i]);
    }
    free(props);
    if (n == 0 && optind >= argc) {
        fprintf(stderr, "no datasets available\n");
        return 0;
    }
    print_table(rows, heads, right, scripted);
    return 0;
}

static int cmd_get(vs_pool *pool, int argc, char **argv)
{
    bool rec = false, scripted = false, parsable = false;
    int types = VS_ALL, c;
    cleanup_strv char **fields = strv_split("name,property,value,source", ",");
    vm_err err = VM_ERR_INIT;
    while ((c = getopt(argc, argv, "+rHpo:t:s:d:")) != -1) {
        switch (c) {
        case 'r': case 'd': rec = true; break;
        case 'H': scripted = true; break;
        case 'p': parsable = true; break;
        case 's': break;
        case 'o':
            strv_free(fields);
            fields = strcmp(optarg, "all") ? strv_split(optarg, ",") : strv_split("name,property,value,source", ",");
            for (size_t i = 0; fields[i]; i++)
                if (strcmp(fields[i], "name") && strcmp(fields[i], "property") &&
                    strcmp(fields[i], "value") && strcmp(fields[i], "source") && strcmp(fields[i], "received"))
                    return usage("invalid field '%s'", fields[i]);
            break;
        case 't':
            if (parse_types(optarg, &types) < 0)
                return 2;
            break;
        default:
            return opt_error(c);
        }
    }
    if (argc - optind < 1)
        return usage("missing property argument");
    if (argc - optind < 2)
        return usage("missing dataset argument");
    cleanup_strv char **want = strv_split(argv[optind], ",");
    bool all = !strcmp(argv[optind], "all");
    cleanup_json json_t *heads = json_array(), *right = json_array(), *rows = json_array();
    for (size_t k = 0; fields[k]; k++) {
        cleanup_free char *up = xstrdup(fields[k]);
        for (char *q = up; *q; q++)
            *q = (char)(*q - 32);
        json_array_append_new(heads, json_string(up));
        json_array_append_new(right, json_false());
    }
    int rc = 0;
    for (int i = optind + 1; i < argc; i++) {
        cleanup_json json_t *names = NULL;
        int t = strchr(argv[i], '@') ? types | VS_SNAPSHOT : types;
        /* Like zfs get: without -r only the named dataset itself, not its
         * snapshots. */
        if (!rec && !strchr(argv[i], '@'))
            t &= ~VS_SNAPSHOT;
        if (vs_list(pool, argv[i], t, rec ? VS_RECURSIVE : 0, &names, &err) < 0) {
            fprintf(stderr, "%s\n", err.msg);
            vm_err_clear(&err);
            rc = 1;
            continue;
        }
        size_t j;
        json_t *nm;
        json_array_foreach(names, j, nm) {
            cleanup_json json_t *props = NULL;
            const char *name = json_string_value(nm);
            if (vs_get(pool, name, &props, &err) < 0) {
                fprintf(stderr, "%s\n", err.msg);
                vm_err_clear(&err);
                rc = 1;
                continue;
            }
            cleanup_json json_t *plist = json_array();
            if (all) {
                const char *k;
                json_t *v;
                json_object_foreach(props, k, v)
                    if (strcmp(k, "name"))
                        json_array_append_new(plist, json_string(k));
            } else {
                for (size_t k = 0; want[k]; k++)
                    json_array_append_new(plist, json_string(canon_prop(want[k])));
            }
            size_t k;
            json_t *pn;
            json_array_foreach(plist, k, pn) {
                const char *p = json_string_value(pn);
                json_t *pv = json_object_get(props, p);
                if (!pv && !strchr(p, ':') && !is_size_prop(p) && strcmp(p, "origin") &&
                    strcmp(p, "mountpoint") && strcmp(p, "compression") && strcmp(p, "type") &&
                    strcmp(p, "creation") && strcmp(p, "name") && strcmp(p, "userrefs") && strcmp(p, "guid")) {
                    return usage("bad property list: invalid property '%s'", p);
                }
                json_t *row = json_array();
                for (size_t f = 0; fields[f]; f++) {
                    if (!strcmp(fields[f], "name"))
                        json_array_append_new(row, json_string(name));
                    else if (!strcmp(fields[f], "property"))
                        json_array_append_new(row, json_string(p));
                    else if (!strcmp(fields[f], "value")) {
                        cleanup_free char *v = fmt_value(p, pv, parsable);
                        json_array_append_new(row, json_string(v));
                    } else if (!strcmp(fields[f], "source")) {
                        const char *s = json_string_value(json_object_get(pv, "source"));
                        json_array_append_new(row, json_string(s ? s : "-"));
                    } else
                        json_array_append_new(row, json_string("-"));
                }
                json_array_append_new(rows, row);
            }
        }
    }
    if (json_array_size(rows))
        print_table(rows, heads, right, scripted);
    return rc;
}

static int cmd_set(vs_pool *pool, int argc, char **argv)
{
    vm_err err = VM_ERR_INIT;
    int i = 1, rc = 0;
    cleanup_json json_t *assign = json_array();
    for (; i < argc && strchr(argv[i], '='); i++)
        json_array_append_new(assign, json_string(argv[i]));
    if (json_array_size(assign) == 0)
        return usage("missing property=value argument(s)");
    if (i >= argc)
        return usage("missing dataset name(s)");
    for (; i < argc; i++) {
        size_t k;
        json_t *a;
        json_array_foreach(assign, k, a) {
            cleanup_free char *p = xstrdup(json_string_value(a));
            char *eq = strchr(p, '=');
            *eq = '\0';
            if (vs_set(pool, argv[i], canon_prop(p), eq + 1, &err) < 0) {
                fprintf(stderr, "%s\n", err.msg);
                vm_err_clear(&err);
                rc = 1;
                break;
            }
        }
    }
    return rc;
}

/* -o prop=value into an object; returns -1 (usage printed) on bad syntax. */
static int add_opt_prop(json_t *props, const char *arg)
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

static int cmd_create(vs_pool *pool, int argc, char **argv)
{
    bool parents = false, sparse = false;
    const char *vsize = NULL;
    cleanup_json json_t *props = json_object();
    vm_err err = VM_ERR_INIT;
    int c;
    while ((c = getopt(argc, argv, "+psV:o:b:")) != -1) {
        switch (c) {
        case 'p': parents = true; break;
        case 's': sparse = true; break;
        case 'V': vsize = optarg; break;
        case 'b':
            if (json_object_get(props, "volblocksize"))
                return usage("property 'volblocksize' specified multiple times");
            json_object_set_new(props, "volblocksize", json_string(optarg));
            break;
        case 'o':
            if (add_opt_prop(props, optarg) < 0)
                return 2;
            break;
        default:
            return opt_error(c);
        }
    }
    if (optind >= argc)
        return usage("missing filesystem argument");
    if (argc - optind > 1)
        return usage("too many arguments");
    if (sparse && !vsize)
        return usage("'-s' and '-b' can only be used when creating a volume");
    const char *name = argv[optind];
    uint64_t size = 0;
    if (vsize && vs_parse_size(vsize, false, &size) < 0) {
        fprintf(stderr, "bad volume size '%s': bad numeric value\n", vsize);
        return 2;
    }
    if (parents) {
        cleanup_free char *p = xstrdup(name);
        for (char *s = strchr(p, '/'); s; s = strchr(s + 1, '/')) {
            *s = '\0';
            if (strcmp(p, vs_pool_name(pool)) && !vs_exists(pool, p) && vs_create_fs(pool, p, NULL, &err) < 0)
                return fail(&err);
            *s = '/';
        }
        if (vs_exists(pool, name))
            return 0;
    }
    if (vsize) {
        /* zfs create -V reserves the whole volume unless -s (sparse). */
        if (!sparse && !json_object_get(props, "refreservation"))
            json_object_set_new(props, "refreservation", json_string("auto"));
        if (vs_create_vol(pool, name, size, props, &err) < 0)
            return fail(&err);
    } else if (vs_create_fs(pool, name, props, &err) < 0) {
        return fail(&err);
    }
    return 0;
}

static int cmd_snapshot(vs_pool *pool, int argc, char **argv)
{
    bool rec = false;
    vm_err err = VM_ERR_INIT;
    cleanup_json json_t *props = json_object();
    int c;
    while ((c = getopt(argc, argv, "+ro:")) != -1) {
        switch (c) {
        case 'r': rec = true; break;
        case 'o':
            if (add_opt_prop(props, optarg) < 0)
                return 2;
            break;
        default: return opt_error(c);
        }
    }
    if (optind >= argc)
        return usage("missing snapshot argument");
    for (int i = optind; i < argc; i++) {
        if (vs_snapshot(pool, argv[i], rec ? VS_RECURSIVE : 0, &err) < 0)
            return fail(&err);
        const char *k;
        json_t *v;
        json_object_foreach(props, k, v)
            if (vs_set(pool, argv[i], k, json_string_value(v), &err) < 0)
                return fail(&err);
    }
    return 0;
}

static int cmd_destroy(vs_pool *pool, int argc, char **argv)
{
    int flags = 0, c;
    vm_err err = VM_ERR_INIT;
    while ((c = getopt(argc, argv, "+rfd")) != -1) {
        switch (c) {
        case 'r': flags |= VS_RECURSIVE; break;
        case 'f': flags |= VS_FORCE; break;
        case 'd': flags |= VS_DEFER; break;
        default: return opt_error(c);
        }
    }
    if (optind >= argc)
        return usage("missing dataset argument");
    if (argc - optind > 1)
        return usage("too many arguments");
    if (vs_destroy(pool, argv[optind], flags, &err) < 0)
        return fail(&err);
    return 0;
}

static int cmd_rollback(vs_pool *pool, int argc, char **argv)
{
    bool rec = false;
    int c;
    vm_err err = VM_ERR_INIT;
    while ((c = getopt(argc, argv, "+rRf")) != -1) {
        switch (c) {
        case 'r': case 'R': rec = true; break;
        case 'f': break;
        default: return opt_error(c);
        }
    }
    if (optind >= argc)
        return usage("missing dataset argument");
    if (argc - optind > 1)
        return usage("too many arguments");
    const char *snap = argv[optind];
    if (!strchr(snap, '@')) {
        fprintf(stderr, "'%s' is not a snapshot\n", snap);
        return 2;
    }
    /* Without -r vmstore always said a malformed name does not exist. */
    if (!rec && !vs_valid_name(snap)) {
        fprintf(stderr, "cannot open '%s': dataset does not exist\n", snap);
        return 1;
    }
    /* The library refuses without -r when newer snapshots exist. */
    if (vs_rollback(pool, snap, rec ? VS_RECURSIVE : 0, &err) < 0)
        return fail(&err);
    return 0;
}

static int cmd_clone(vs_pool *pool, int argc, char **argv)
{
    bool parents = false;
    cleanup_json json_t *props = json_object();
    vm_err err = VM_ERR_INIT;
    int c;
    while ((c = getopt(argc, argv, "+po:")) != -1) {
        switch (c) {
        case 'p': parents = true; break;
        case 'o':
            if (add_opt_prop(props, optarg) < 0)
                return 2;
            break;
        default: return opt_error(c);
        }
    }
    if (argc - optind < 1)
        return usage("missing source dataset argument");
    if (argc - optind < 2)
        return usage("missing target dataset argument");
    if (argc - optind > 2)
        return usage("too many arguments");
    const char *name = argv[optind + 1];
    if (parents) {
        cleanup_free char *p = xstrdup(name);
        for (char *s = strchr(p, '/'); s; s = strchr(s + 1, '/')) {
            *s = '\0';
            if (strcmp(p, vs_pool_name(pool)) && !vs_exists(pool, p) && vs_create_fs(pool, p, NULL, &err) < 0)
                return fail(&err);
            *s = '/';
        }
    }
    if (json_object_get(props, "volsize")) {
        uint64_t v;
        if (vs_parse_size(json_string_value(json_object_get(props, "volsize")), false, &v) < 0) {
            fprintf(stderr, "cannot create '%s': bad numeric value '%s'\n", name,
                    json_string_value(json_object_get(props, "volsize")));
            return 1;
        }
        json_object_set_new(props, "volsize", json_integer((json_int_t)v));
    }
    if (vs_clone(pool, argv[optind], name, props, &err) < 0)
        return fail(&err);
    return 0;
}

static int cmd_two(vs_pool *pool, int argc, char **argv, int (*fn)(vs_pool *, const char *, const char *, vm_err *))
{
    vm_err err = VM_ERR_INIT;
    if (argc - optind < 2)
        return usage("missing %s argument", argc - optind < 1 ? "source dataset" : "target dataset");
    if (argc - optind > 2)
        return usage("too many arguments");
    if (fn(pool, argv[optind], argv[optind + 1], &err) < 0)
        return fail(&err);
    return 0;
}

static int cmd_hold(vs_pool *pool, int argc, char **argv, bool release)
{
    vm_err err = VM_ERR_INIT;
    int rc = 0, c;
    while ((c = getopt(argc, argv, "+r")) != -1)
        if (c != 'r')
            return opt_error(c);
    if (argc - optind < 1)
        return usage("missing tag argument");
    if (argc - optind < 2)
        return usage("missing snapshot argument");
    for (int i = optind + 1; i < argc; i++) {
        int r = release ? vs_release(pool, argv[optind], argv[i], &err)
                        : vs_hold(pool, argv[optind], argv[i], &err);
        if (r < 0) {
            fprintf(stderr, "%s\n", err.msg);
            vm_err_clear(&err);
            rc = 1;
        }
    }
    return rc;
}

static int cmd_holds(vs_pool *pool, int argc, char **argv)
{
    bool scripted = false, parsable = false;
    int c, rc = 0;
    vm_err err = VM_ERR_INIT;
    while ((c = getopt(argc, argv, "+Hpr")) != -1) {
        switch (c) {
        case 'H': scripted = true; break;
        case 'p': parsable = true; break;
        case 'r': break;
        default: return opt_error(c);
        }
    }
    if (optind >= argc)
        return usage("missing snapshot argument");
    cleanup_json json_t *heads = json_pack("[sss]", "NAME", "TAG", "TIMESTAMP");
    cleanup_json json_t *right = json_pack("[bbb]", 0, 0, 0), *rows = json_array();
    for (int i = optind; i < argc; i++) {
        cleanup_json json_t *h = NULL;
        if (vs_holds_detail(pool, argv[i], &h, &err) < 0) {
            fprintf(stderr, "%s\n", err.msg);
            vm_err_clear(&err);
            rc = 1;
            continue;
        }
        const char *tag;
        json_t *ts;
        json_object_foreach(h, tag, ts) {
            char b[64];
            if (parsable)
                snprintf(b, sizeof b, "%lld", (long long)json_integer_value(ts));
            else
                fmt_time(json_integer_value(ts), b, sizeof b);
            json_array_append_new(rows, json_pack("[sss]", argv[i], tag, b));
        }
    }
    if (json_array_size(rows))
        print_table(rows, heads, right, scripted);
    return rc;
}

static int cmd_resize(vs_pool *pool, int argc, char **argv)
{
    int flags = 0;
    vm_err err = VM_ERR_INIT;
    static const struct option lo[] = { { "shrink", no_argument, NULL, 's' }, { NULL, 0, NULL, 0 } };
    int c;
    while ((c = getopt_long(argc, argv, "+", lo, NULL)) != -1) {
        if (c != 's')
            return usage(NULL);
        flags |= VS_ALLOW_SHRINK;
    }
    if (argc - optind != 2)
        return usage("resize needs a volume and a size");
    uint64_t v;
    if (vs_parse_size(argv[optind + 1], false, &v) < 0) {
        fprintf(stderr, "bad volume size '%s': bad numeric value\n", argv[optind + 1]);
        return 2;
    }
    if (vs_resize(pool, argv[optind], v, flags, &err) < 0)
        return fail(&err);
    return 0;
}

static int cmd_import(vs_pool *pool, int argc, char **argv)
{
    const char *vsize = NULL, *fmtname = NULL;
    cleanup_json json_t *props = json_object();
    vm_err err = VM_ERR_INIT;
    int c;
    while ((c = getopt(argc, argv, "+V:f:o:")) != -1) {
        switch (c) {
        case 'V': vsize = optarg; break;
        case 'f': fmtname = optarg; break;
        case 'o':
            if (add_opt_prop(props, optarg) < 0)
                return 2;
            break;
        default: return opt_error(c);
        }
    }
    if (argc - optind != 2)
        return usage("import needs a file and a volume name");
    uint64_t size = 0;
    if (vsize && vs_parse_size(vsize, false, &size) < 0) {
        fprintf(stderr, "bad volume size '%s': bad numeric value\n", vsize);
        return 2;
    }
    if (vs_import_vol(pool, argv[optind + 1], argv[optind], fmtname, size, props, &err) < 0)
        return fail(&err);
    return 0;
}

static int cmd_changed(vs_pool *pool, int argc, char **argv)
{
    vm_err err = VM_ERR_INIT;
    cleanup_json json_t *ext = NULL;
    if (argc - optind < 1 || argc - optind > 2)
        return usage("changed needs one or two snapshots");
    if (vs_changed_blocks(pool, argv[optind], argc - optind == 2 ? argv[optind + 1] : NULL, &ext, &err) < 0)
        return fail(&err);
    cleanup_free char *s = json_compact(ext);
    printf("%s\n", s);
    return 0;
}

static int cmd_space(vs_pool *pool, int argc, char **argv)
{
    vm_err err = VM_ERR_INIT;
    vs_space sp;
    (void)argc;
    (void)argv;
    if (vs_pool_space(pool, &sp, &err) < 0)
        return fail(&err);
    printf("{\"size\":%llu,\"used\":%llu,\"free\":%llu,\"reserved\":%llu,\"available\":%llu}\n",
           (unsigned long long)sp.size, (unsigned long long)sp.used, (unsigned long long)sp.free,
           (unsigned long long)sp.reserved, (unsigned long long)sp.available);
    return 0;
}

int main(int argc, char **argv)
{
    vm_ctx ctx;
    vm_err err = VM_ERR_INIT;
    cleanup_vs_pool vs_pool *pool = NULL;
    int rc;

    if (argc < 2)
        return usage("missing command");
    const char *cmd = argv[1];
    if (!strcmp(cmd, "-?") || !strcmp(cmd, "help") || !strcmp(cmd, "--help")) {
        fputs(usage_text, stdout);
        return 0;
    }
    static const char *const cmds[] = { "list", "get", "set", "create", "snapshot", "snap", "destroy",
        "rollback", "clone", "rename", "swap", "hold", "release", "holds", "resize", "import",
        "changed", "space", NULL };
    bool known = false;
    for (size_t i = 0; cmds[i]; i++)
        known |= !strcmp(cmds[i], cmd);
    if (!known)
        return usage("unrecognized command '%s'", cmd);
    if (vm_ctx_init(&ctx, &err) < 0)
        return fail(&err);
    if (vs_pool_open(&ctx, NULL, &pool, &err) < 0) {
        rc = fail(&err);
        vm_ctx_free(&ctx);
        return rc;
    }
    argc--;
    argv++;
    optind = 1;
    opterr = 0;
    if (!strcmp(cmd, "list"))
        rc = cmd_list(pool, argc, argv);
    else if (!strcmp(cmd, "get"))
        rc = cmd_get(pool, argc, argv);
    else if (!strcmp(cmd, "set"))
        rc = cmd_set(pool, argc, argv);
    else if (!strcmp(cmd, "create"))
        rc = cmd_create(pool, argc, argv);
    else if (!strcmp(cmd, "snapshot") || !strcmp(cmd, "snap"))
        rc = cmd_snapshot(pool, argc, argv);
    else if (!strcmp(cmd, "destroy"))
        rc = cmd_destroy(pool, argc, argv);
    else if (!strcmp(cmd, "rollback"))
        rc = cmd_rollback(pool, argc, argv);
    else if (!strcmp(cmd, "clone"))
        rc = cmd_clone(pool, argc, argv);
    else if (!strcmp(cmd, "rename"))
        rc = cmd_two(pool, argc, argv, vs_rename);
    else if (!strcmp(cmd, "swap"))
        rc = cmd_two(pool, argc, argv, vs_swap);
    else if (!strcmp(cmd, "hold"))
        rc = cmd_hold(pool, argc, argv, false);
    else if (!strcmp(cmd, "release"))
        rc = cmd_hold(pool, argc, argv, true);
    else if (!strcmp(cmd, "holds"))
        rc = cmd_holds(pool, argc, argv);
    else if (!strcmp(cmd, "resize"))
        rc = cmd_resize(pool, argc, argv);
    else if (!strcmp(cmd, "import"))
        rc = cmd_import(pool, argc, argv);
    else if (!strcmp(cmd, "changed"))
        rc = cmd_changed(pool, argc, argv);
    else
        rc = cmd_space(pool, argc, argv);
    vs_pool_close(pool);
    pool = NULL;
    vm_ctx_free(&ctx);
    return rc;
}
