/* The -a switch rule and the estimate: pure functions of what was
 * measured (migrate.h). */
#include <stdio.h>

#include "migrate/migrate.h"

bool mig_should_switch(const mig_rule *rule, const mig_round *r, size_t n, char *why, size_t len)
{
    if (n == 0)
        return false;
    const mig_round *last = &r[n - 1];
    /* The rate this link really gave: the last round's, when it moved
     * enough to measure; else the best seen. */
    double rate = 0;
    for (size_t i = 0; i < n; i++)
        if (r[i].seconds > 0.05 && r[i].bytes / r[i].seconds > rate)
            rate = (double)r[i].bytes / r[i].seconds;
    if (last->seconds > 0.05 && last->bytes > (1u << 20))
        rate = (double)last->bytes / last->seconds;
    double fits = rate * rule->downtime_s;
    uint64_t budget = fits > (double)rule->floor_bytes ? (uint64_t)fits : rule->floor_bytes;
    /* The next delta is about what the guest wrote during the last round:
     * its size is the best predictor we have. */
    if (n >= 2 && last->bytes <= budget) {
        snprintf(why, len, "the last delta (%llu bytes) fits the downtime budget (%llu bytes: %.1f s at %.1f MB/s)",
                 (unsigned long long)last->bytes, (unsigned long long)budget, rule->downtime_s, rate / 1e6);
        return true;
    }
    if (rule->flat_rounds > 0 && n > (size_t)rule->flat_rounds) {
        size_t flat = 0;
        for (size_t i = n - (size_t)rule->flat_rounds; i < n; i++)
            if (r[i].bytes >= r[i - 1].bytes * 95 / 100)
                flat++;
        if (flat == (size_t)rule->flat_rounds) {
            snprintf(why, len, "the delta stopped shrinking for %d rounds (last %llu bytes)", rule->flat_rounds,
                     (unsigned long long)last->bytes);
            return true;
        }
    }
    if (rule->max_rounds > 0 && n >= (size_t)rule->max_rounds) {
        snprintf(why, len, "%zu rounds done (the limit)", n);
        return true;
    }
    return false;
}

json_t *mig_estimate_json(uint64_t bytes, double rate_mb_s, bool live)
{
    double rate = rate_mb_s > 0 ? rate_mb_s * 1e6 : 20e6;
    double total = (double)bytes / rate;
    /* A full migration is down for the whole copy; rounds and live only
     * for the last delta, which the estimate cannot know: the floor. */
    double down = live ? 0.3 : total;
    return json_pack("{s:I,s:f,s:f}", "size_bytes", (json_int_t)bytes, "total_seconds", total, "downtime_seconds",
                     down);
}
