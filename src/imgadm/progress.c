/* imgadm's progress bar: phase, bar, percentage and sizes on one
 * redrawn stderr line, at most every 250 ms unless the phase or percentage
 * changed. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "common/util.h"
#include "imgadm.h"

static void human(uint64_t v, char out[16])
{
    const char *u = "BKMGT";
    double d = (double)v;
    int i = 0;
    while (d >= 1024 && i < 4) {
        d /= 1024;
        i++;
    }
    snprintf(out, 16, i ? "%.1f%c" : "%.0f%c", d, u[i]);
}

void imgadm_bar_cb(void *arg, const char *phase, uint64_t done, uint64_t total)
{
    imgadm_bar *b = arg;
    if (!b->on)
        return;
    int pct = total ? (int)(done * 100 / total) : -1;
    int64_t now = now_ms();
    bool newphase = strcmp(b->phase, phase) != 0;
    if (!newphase && pct == b->last_pct && now - b->last_ms < 250)
        return;
    snprintf(b->phase, sizeof(b->phase), "%s", phase);
    b->last_pct = pct;
    b->last_ms = now;
    char d[16], t[16];
    human(done, d);
    if (total) {
        human(total, t);
        int fill = pct * 30 / 100;
        fprintf(stderr, "\r%-10s [%.*s%*s] %3d%% %s/%s\033[K", phase, fill, "##############################", 30 - fill,
                "", pct, d, t);
    } else {
        fprintf(stderr, "\r%-10s %s\033[K", phase, done ? d : "...");
    }
    b->drawn = 1;
}

void imgadm_bar_end(imgadm_bar *b)
{
    if (b->on && b->drawn)
        fprintf(stderr, "\r\033[K");
}
