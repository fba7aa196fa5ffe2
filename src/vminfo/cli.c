/* Helpers shared by vminfo's commands (vminfo_cli.h). */
#include <stdio.h>
#include <string.h>

#include "common/opts.h"
#include "common/util.h"
#include "vminfo_cli.h"

int vminfo_parse_flags(int argc, char **argv, const char *letters, int *flags)
{
    int c;
    vm_opts o;
    vm_opts_init(&o, argc, argv, letters, NULL, 0);
    while ((c = vm_opts_next(&o)) != -1) {
        const char *p = strchr(letters, c);
        if (c == '?' || c == ':' || !p)
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
