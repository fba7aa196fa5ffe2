/* imgadm import: an image (uuid, name@version or name) from the sources,
 * origin images first.  Progress on a TTY: the download with bytes, rate
 * and ETA, then install's phases; -q quiet, -j the result as JSON. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "image/image.h"
#include "imgadm.h"

typedef struct dl_bar {
    imgadm_bar bar; /* install's phases */
    int64_t t0, last_ms;
    uint64_t done0; /* bytes already there when the download started */
    bool drawn;
} dl_bar;

static void human(double v, char out[16])
{
    const char *u = "BKMGT";
    int i = 0;
    while (v >= 1024 && i < 4) {
        v /= 1024;
        i++;
    }
    snprintf(out, 16, i ? "%.1f%c" : "%.0f%c", v, u[i]);
}

static void import_progress(void *arg, const char *phase, uint64_t done, uint64_t total)
{
    dl_bar *d = arg;
    if (!d->bar.on)
        return;
    if (strcmp(phase, "download") != 0) {
        if (d->drawn) {
            fprintf(stderr, "\n");
            d->drawn = false;
        }
        imgadm_bar_cb(&d->bar, phase, done, total);
        return;
    }
    int64_t now = now_ms();
    if (d->t0 == 0 || done < d->done0) {
        d->t0 = now;
        d->done0 = done;
    }
    if (done != total && now - d->last_ms < 250)
        return;
    d->last_ms = now;
    double secs = (double)(now - d->t0) / 1000.0;
    double rate = secs > 0.05 ? (double)(done - d->done0) / secs : 0;
    char dn[16], tt[16], rt[16], eta[24] = "--:--";
    human((double)done, dn);
    human((double)total, tt);
    human(rate, rt);
    if (rate > 0 && total >= done) {
        long left = (long)((double)(total - done) / rate);
        snprintf(eta, sizeof eta, "%ld:%02ld", left / 60, left % 60);
    }
    int pct = total ? (int)(done * 100 / total) : 0, fill = pct * 30 / 100;
    fprintf(stderr, "\r%-10s [%.*s%*s] %3d%% %s/%s %s/s ETA %s\033[K", "download", fill,
            "##############################", 30 - fill, "", pct, dn, tt, rt, eta);
    d->drawn = true;
}

static void print_note(void *arg, const char *line)
{
    dl_bar *d = arg;
    if (d->drawn) {
        fprintf(stderr, "\r\033[K");
        d->drawn = false;
    }
    printf("%s\n", line);
    fflush(stdout);
}

int imgadm_cmd_import(vm_ctx *ctx, int argc, char **argv)
{
    const char *pool = NULL, *source = NULL;
    int quiet = 0, as_json = 0, flags = 0, c;
    static const vm_longopt lo[] = { { "allow-setuid", false, 'A' }, { "quiet", false, 'q' }, { NULL, false, 0 } };
    vm_opts op;
    vm_opts_init(&op, argc, argv, "qjS:P:h", lo, 0);
    while ((c = vm_opts_next(&op)) != -1) {
        switch (c) {
        case 'q': quiet = 1; break;
        case 'j': as_json = 1; break;
        case 'S': source = op.arg; break;
        case 'P': pool = op.arg; break;
        case 'A': flags |= IMG_INSTALL_ALLOW_SETUID; break;
        case 'h': imgadm_usage(stdout); return 0;
        default: return imgadm_opt_error(&op, c);
        }
    }
    if (op.npos != 1)
        return imgadm_usage_error("%s", "import needs exactly one <uuid>, <name>@<version> or <name>");
    dl_bar d = { .bar = { .on = !quiet && !as_json && isatty(2), .last_pct = -2 } };
    img_import_opts o = { .progress = import_progress,
                          .progress_arg = &d,
                          .note = quiet || as_json ? NULL : print_note,
                          .note_arg = &d,
                          .source = source,
                          .flags = flags };
    vm_err err = VM_ERR_INIT;
    cleanup_json json_t *done = NULL;
    int rc = img_import(ctx, pool, op.pos[0], &o, &done, &err);
    if (d.drawn)
        fprintf(stderr, "\r\033[K");
    imgadm_bar_end(&d.bar);
    if (rc < 0)
        return imgadm_fail(&err);
    if (as_json) {
        cleanup_free char *s = json_pretty(done);
        printf("%s\n", s);
    }
    return 0;
}
