/* Control characters escaped for terminal output (see escape.h). */
#include "common/escape.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"

static bool needs_escape(const unsigned char *p)
{
    return *p < 0x20 || *p == 0x7f || (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f);
}

char *vm_cell_escape(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t extra = 0;
    for (; *p; p++)
        if (needs_escape(p))
            extra += 6;
    if (!extra)
        return NULL;
    char *out = xmalloc(strlen(s) + extra + 1), *o = out;
    for (p = (const unsigned char *)s; *p; p++) {
        if (!needs_escape(p)) {
            *o++ = (char)*p;
            continue;
        }
        switch (*p) {
        case '\n': o += sprintf(o, "\\n"); break;
        case '\r': o += sprintf(o, "\\r"); break;
        case '\t': o += sprintf(o, "\\t"); break;
        case 0xc2:
            o += sprintf(o, "\\u%04x", p[1]);
            p++;
            break;
        default: o += sprintf(o, "\\x%02x", *p); break;
        }
    }
    *o = '\0';
    return out;
}
