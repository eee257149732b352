/* meter.c - the progress line (meter.h). */
#include "meter.h"

#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define METER_EVERY_S 0.1

static double meter_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int meter_wanted(int force_on, int force_off, int json, int quiet)
{
    if (force_on || force_off)
        return force_on && !force_off;
    return !json && !quiet && isatty(2);
}

void meter_begin(meter *m, int on, const char *stage, const char *unit)
{
    if (m->drawn)
        meter_end(m);
    m->on = on;
    m->stage = stage;
    m->unit = unit;
    m->t0 = meter_now();
    m->last = 0;
    m->drawn = 0;
}

/* Seconds as m:ss (h:mm:ss past an hour). */
static void put_duration(double s)
{
    long t = s < 0 ? 0 : s > 3.6e7 ? 36000000L : (long)(s + 0.5);
    if (t >= 3600)
        fprintf(stderr, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
    else
        fprintf(stderr, "%ld:%02ld", t / 60, t % 60);
}

void meter_show(meter *m, double done, double total)
{
    double t = meter_now(), el = t - m->t0;
    if (!m->on || (t - m->last < METER_EVERY_S && !(total > 0 &&
                                                    done >= total)))
        return;
    m->last = t;
    m->drawn = 1;
    fprintf(stderr, "\r%s: ", m->stage);
    if (total > 0)
        fprintf(stderr, "%.0f/%.0f %s %5.1f%%", done, total, m->unit,
                100 * done / total);
    else if (done > 0)
        fprintf(stderr, "%.0f %s", done, m->unit);
    if (el > 0 && done > 0)
        fprintf(stderr, done / el >= 100 ? "  %.0f %s/s" : "  %.3g %s/s",
                done / el, m->unit);
    fputs("  elapsed ", stderr);
    put_duration(el);
    if (total > 0 && done > 0 && done < total) {
        fputs("  left ", stderr);
        put_duration(el * (total - done) / done);
    }
    fputs("\033[K", stderr); /* the rest of an earlier, longer line */
    fflush(stderr);
}

void meter_note(meter *m, const char *line)
{
    if (m->on && m->drawn)
        fputs("\r\033[K", stderr);
    fprintf(stderr, "%s\n", line);
    m->last = 0;
    m->drawn = 0;
}

void meter_end(meter *m)
{
    if (m->on && m->drawn) {
        fprintf(stderr, "\r%s: ended after ", m->stage);
        put_duration(meter_now() - m->t0);
        fputs("\033[K\n", stderr);
    }
    m->drawn = 0;
    m->on = 0;
}
