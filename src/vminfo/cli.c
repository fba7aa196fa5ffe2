/* Helpers shared by vminfo's commands (vminfo_cli.h). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "vminfo_cli.h"

int vminfo_parse_flags(int argc, char **argv, const char *letters, int *flags)
{
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt(argc, argv, letters)) != -1) {
        const char *p = strchr(letters, c);
        if (c == '?' || !p)
            return -1;
        flags[p - letters] = 1;
    }
    return 0;
}

int vminfo_fail(const vm_err *err)
{
    fprintf(stderr, "%s\n", err->msg);
    return 1;
}

int vminfo_print_pretty(json_t *j)
{
    cleanup_free char *s = json_pretty(j);
    printf("%s\n", s);
    return 0;
}

const char *vminfo_jstr(json_t *o, const char *k, const char *dflt)
{
    json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : dflt;
}
