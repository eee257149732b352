/* plan.c - `sdsinf plan` (plan.h): the search's frontier and the best
 * configuration of each kind printed as tables or JSON, drawn by gnuplot,
 * and the recommendation.
 * Sections: describing a candidate, the plot, entry. */
#define _POSIX_C_SOURCE 200809L
#include "plan.h"
#include "cli_util.h"
#include "prices.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

/* ---- describing a candidate -------------------------------------------- */

/* "lambda sqs 62w tree 2x5 1769MB" or "mpi 4x c5.xlarge" into buf (one
 * Lambda worker sends nothing: no channel). */
static const char *describe(const sdsinf_deployment *d, char *buf, size_t n)
{
    const char *e = sdsinf_engine_name(d->engine);
    if (d->engine == SDSINF_ENGINE_LAMBDA && d->workers == 1)
        snprintf(buf, n, "%s 1w %dMB", e, d->memory_mb);
    else if (d->engine != SDSINF_ENGINE_LAMBDA)
        snprintf(buf, n, "%s %dx %s", e, d->machines, d->instance);
    else if (d->bfr > 0)
        snprintf(buf, n, "%s %s %dw tree %dx%d %dMB", e,
                 sdsinf_via_name(d->channel), d->workers, d->bfr, d->nlevels,
                 d->memory_mb);
    else
        snprintf(buf, n, "%s %s %dw %dMB", e, sdsinf_via_name(d->channel),
                 d->workers, d->memory_mb);
    return buf;
}

/* A kind of candidate (sdsinf_candidate_kind): "lambda sqs", "mpi" (static
 * text: it goes into gnuplot's script as a label). */
static const char *kind_name(int kind)
{
    static const char *const lambda[SDSINF_VIAS + 1] = {
        "lambda 1 worker", "lambda sqs", "lambda sns", "lambda s3",
        "lambda sqs+s3"};
    return kind <= SDSINF_VIAS ? lambda[kind]
                               : sdsinf_engine_name(kind - SDSINF_VIAS);
}

static cJSON *candidate_json(const sdsinf_candidate *c)
{
    const sdsinf_deployment *d = &c->d;
    cJSON *o = cJSON_CreateObject();
    int lambda = d->engine == SDSINF_ENGINE_LAMBDA;
    if (!o)
        return NULL;
    cli_json_add_string(o, "kind", kind_name(sdsinf_candidate_kind(d)));
    cli_json_add_string(o, "engine", sdsinf_engine_name(d->engine));
    cli_json_add_string(o, "channel", lambda ? sdsinf_via_name(d->channel)
                                             : NULL);
    cJSON_AddNumberToObject(o, "workers", d->workers);
    cJSON_AddNumberToObject(o, "bfr", d->bfr);
    cJSON_AddNumberToObject(o, "nlevels", d->nlevels);
    cJSON_AddNumberToObject(o, "memory_mb", lambda ? d->memory_mb : 0);
    cJSON_AddNumberToObject(o, "batch_size", (double)d->batch_size);
    cli_json_add_string(o, "instance", lambda ? NULL : d->instance);
    cJSON_AddNumberToObject(o, "machines", lambda ? 0 : d->machines);
    cJSON_AddNumberToObject(o, "seconds", c->p.seconds);
    cJSON_AddNumberToObject(o, "usd", c->p.usd);
    cJSON_AddNumberToObject(o, "startup_seconds", c->p.startup_seconds);
    cJSON_AddNumberToObject(o, "compute_seconds", c->p.compute_seconds);
    cJSON_AddNumberToObject(o, "channel_seconds", c->p.channel_seconds);
    return o;
}

static void print_row(const sdsinf_candidate *c, const char *mark)
{
    char what[96];
    printf("%-2s %-40s %9lld %11.2f %12.6f\n", mark,
           describe(&c->d, what, sizeof what), (long long)c->d.batch_size,
           c->p.seconds, c->p.usd);
}

/* ---- the plot ------------------------------------------------------------- */

/* Whether two points of the log-log plot are close enough for their
 * labels to overlap. */
static int near(const sdsinf_prediction *x, const sdsinf_prediction *y)
{
    return x->seconds < 1.3 * y->seconds && y->seconds < 1.3 * x->seconds &&
           x->usd < 1.3 * y->usd && y->usd < 1.3 * x->usd;
}

/* The best of each kind's labels: a point close to an earlier labelled
 * one joins its label ("local, mpi"). */
static void put_labels(FILE *g, const sdsinf_advice *a)
{
    size_t best[SDSINF_CANDIDATE_KINDS], n = 0;
    int owner[SDSINF_CANDIDATE_KINDS];
    for (size_t i = 0; i < a->n && n < SDSINF_CANDIDATE_KINDS; i++)
        if (a->c[i].best_of_kind) {
            int h = 0;
            while (h < (int)n && (owner[h] != h ||
                                  !near(&a->c[best[h]].p, &a->c[i].p)))
                h++;
            owner[n] = h; /* itself when no earlier label is near */
            best[n++] = i;
        }
    for (size_t h = 0; h < n; h++) {
        if (owner[h] != (int)h)
            continue;
        fprintf(g, "%.9g %.9g \"", a->c[best[h]].p.seconds,
                a->c[best[h]].p.usd);
        for (size_t k = h; k < n; k++)
            if (owner[k] == (int)h)
                fprintf(g, "%s%s", k > h ? ", " : "",
                        kind_name(sdsinf_candidate_kind(&a->c[best[k]].d)));
        fprintf(g, "\"\n");
    }
}

/* Draws the frontier (seconds against dollars, both logarithmic) and the
 * recommendation into o->plot with gnuplot; a missing gnuplot is a note,
 * not a failure (the table says it all). */
static int plot(const plan_opts *o, const sdsinf_advice *a, sdsinf_err *err)
{
    const char *dot = strrchr(o->plot, '.');
    int svg = dot && !strcmp(dot, ".svg");
    if (!dot || (!svg && strcmp(dot, ".png")))
        return cli_fail(err, SDSINF_EINVAL, "--plot %s: name a .png or .svg "
                        "file", o->plot);
    if (strpbrk(o->plot, "'\n")) /* it goes into gnuplot's script */
        return cli_fail(err, SDSINF_EINVAL, "--plot: a file name without "
                        "quotes or newlines, please");
    if (system("command -v gnuplot >/dev/null 2>&1") != 0) {
        fprintf(stderr, "sdsinf: no plot: gnuplot is not installed (Debian: "
                "apt-get install gnuplot-nox); %s not written\n", o->plot);
        return SDSINF_OK;
    }
    FILE *g = popen("gnuplot", "w");
    if (!g)
        return cli_fail(err, SDSINF_EIO, "cannot start gnuplot");
    fprintf(g, "set terminal %s size 900,600\nset output '%s'\n"
            "set logscale xy\nset format xy '%%g'\nset grid\n"
            "set key top right\n"
            "set xlabel 'predicted seconds for %lld images'\n"
            "set ylabel 'predicted USD'\nset title 'sdsinf plan: the "
            "frontier'\n", svg ? "svg" : "png", o->plot,
            (long long)o->images);
    if (o->max_seconds > 0)
        fprintf(g, "set arrow from %g, graph 0 to %g, graph 1 nohead dt 2\n",
                o->max_seconds, o->max_seconds);
    if (o->max_usd > 0)
        fprintf(g, "set arrow from graph 0, first %g to graph 1, first %g "
                "nohead dt 2\n", o->max_usd, o->max_usd);
    fprintf(g, "plot '-' with linespoints title 'frontier', '-' with points "
            "pt 6 ps 1.5 title 'the best of each kind', '-' with labels "
            "left offset 1,0 font ',9' notitle, '-' with points pt 7 ps 2 "
            "title 'recommended'\n");
    for (size_t i = 0; i < a->n; i++)
        if (a->c[i].frontier)
            fprintf(g, "%.9g %.9g\n", a->c[i].p.seconds, a->c[i].p.usd);
    fprintf(g, "e\n");
    for (size_t i = 0; i < a->n; i++)
        if (a->c[i].best_of_kind)
            fprintf(g, "%.9g %.9g\n", a->c[i].p.seconds, a->c[i].p.usd);
    fprintf(g, "e\n");
    put_labels(g, a);
    fprintf(g, "e\n");
    long k = a->recommended >= 0 ? a->recommended : a->nearest;
    if (k >= 0)
        fprintf(g, "%.9g %.9g\n", a->c[k].p.seconds, a->c[k].p.usd);
    fprintf(g, "e\n");
    int status = pclose(g);
    if (status == -1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return cli_fail(err, SDSINF_EIO, "gnuplot failed drawing %s (status "
                        "%d)", o->plot, status);
    return SDSINF_OK;
}

/* ---- the machines ---------------------------------------------------------- */

/* Keeps in t's prices only the instance types the comma-separated list
 * names (t->instances reordered in place); an unpriced one is an error. */
static int keep_machines(const char *list, price_table *t, sdsinf_err *err)
{
    size_t kept = 0, n;
    for (const char *p = list; *p; p += n + (p[n] == ',')) {
        size_t k;
        n = strcspn(p, ",");
        for (k = kept; k < t->prices.ninstances; k++)
            if (strlen(t->instances[k].type) == n &&
                !strncmp(t->instances[k].type, p, n))
                break;
        if (k == t->prices.ninstances)
            return cli_fail(err, SDSINF_EINVAL, "--machines: '%.*s' is not "
                            "an instance type %s prices for %s (once each)",
                            (int)n, p, t->path, t->prices.region);
        sdsinf_instance_price swap = t->instances[kept];
        t->instances[kept++] = t->instances[k];
        t->instances[k] = swap;
    }
    t->prices.ninstances = kept;
    return SDSINF_OK;
}

int plan_machines_check(const plan_opts *o, int *usage, sdsinf_err *err)
{
    price_table t = {0};
    int rc = prices_load(o->prices, o->region, &t, err);
    *usage = 0;
    if (rc == SDSINF_OK && (rc = keep_machines(o->machines, &t, err)))
        *usage = 1;
    prices_free(&t);
    return rc;
}

/* ---- entry ------------------------------------------------------------------ */

static void print_table(const plan_opts *o, const calibration *c,
                        const sdsinf_advice *a, const price_table *t)
{
    char what[96];
    printf("%lld images through %d x %d (calibrated on %lld images), %s "
           "prices; %zu configurations can run, the frontier:\n   %-40s "
           "%9s %11s %12s\n", (long long)o->images, c->c.neurons,
           c->c.layers, (long long)c->images, t->prices.region, a->n,
           "configuration", "batch", "seconds", "USD");
    for (size_t i = 0; i < a->n; i++)
        if (a->c[i].frontier || (long)i == a->recommended)
            print_row(&a->c[i], (long)i == a->recommended ? "*" : "");
    printf("the best of each kind (%s; '>': none of its kind meets the "
           "bound, its nearest):\n   %-40s %9s %11s %12s\n",
           o->max_seconds > 0 ? "the cheapest within the bounds"
                              : "the fastest within the budget",
           "configuration", "batch", "seconds", "USD");
    for (int k = 0; k < SDSINF_CANDIDATE_KINDS; k++)
        for (size_t i = 0; i < a->n; i++)
            if (a->c[i].best_of_kind &&
                sdsinf_candidate_kind(&a->c[i].d) == k)
                print_row(&a->c[i], (long)i == a->recommended ? "*"
                                    : a->c[i].best_of_kind == 2 ? ">" : "");
    if (a->achievable) {
        const sdsinf_candidate *r = &a->c[a->recommended];
        printf("recommended (%s): %s, batch %lld: %.2f s, $%.6f\n",
               o->max_seconds > 0 ? "the cheapest within the bounds"
                                  : "the fastest within the budget",
               describe(&r->d, what, sizeof what),
               (long long)r->d.batch_size, r->p.seconds, r->p.usd);
    } else if (a->nearest >= 0) {
        const sdsinf_candidate *r = &a->c[a->nearest];
        printf("not achievable: no configuration meets the bound; the "
               "nearest (%s): %s, batch %lld: %.2f s, $%.6f\n",
               o->max_seconds > 0 ? "the fastest" : "the cheapest",
               describe(&r->d, what, sizeof what),
               (long long)r->d.batch_size, r->p.seconds, r->p.usd);
    }
}

static int print_json(const plan_opts *o, const calibration *c,
                      const sdsinf_advice *a, sdsinf_err *err)
{
    cJSON *j = cJSON_CreateObject(), *list;
    if (!j || !(list = cJSON_AddArrayToObject(j, "candidates"))) {
        cJSON_Delete(j);
        return cli_fail(err, SDSINF_ENOMEM, "no memory");
    }
    cJSON_AddNumberToObject(j, "images", (double)o->images);
    cJSON_AddNumberToObject(j, "neurons", c->c.neurons);
    cJSON_AddNumberToObject(j, "layers", c->c.layers);
    if (o->max_seconds > 0)
        cJSON_AddNumberToObject(j, "max_seconds", o->max_seconds);
    if (o->max_usd > 0)
        cJSON_AddNumberToObject(j, "max_usd", o->max_usd);
    cJSON_AddNumberToObject(j, "evaluated", (double)a->n);
    cJSON_AddBoolToObject(j, "achievable", a->achievable);
    for (size_t i = 0; i < a->n; i++)
        if (a->c[i].frontier)
            cJSON_AddItemToArray(list, candidate_json(&a->c[i]));
    if (!(list = cJSON_AddArrayToObject(j, "kinds"))) {
        cJSON_Delete(j);
        return cli_fail(err, SDSINF_ENOMEM, "no memory");
    }
    for (int k = 0; k < SDSINF_CANDIDATE_KINDS; k++)
        for (size_t i = 0; i < a->n; i++)
            if (a->c[i].best_of_kind &&
                sdsinf_candidate_kind(&a->c[i].d) == k) {
                cJSON *c = candidate_json(&a->c[i]);
                cJSON_AddBoolToObject(c, "meets", a->c[i].best_of_kind == 1);
                cJSON_AddItemToArray(list, c);
            }
    if (a->recommended >= 0)
        cJSON_AddItemToObject(j, "recommended",
                              candidate_json(&a->c[a->recommended]));
    else
        cJSON_AddNullToObject(j, "recommended");
    if (a->nearest >= 0)
        cJSON_AddItemToObject(j, "nearest", candidate_json(&a->c[a->nearest]));
    else
        cJSON_AddNullToObject(j, "nearest");
    int rc = cli_json_write(j, stdout, err);
    putchar('\n');
    return rc;
}

int plan_report(const plan_opts *o, const calibration *c, sdsinf_err *err)
{
    price_table t = {0};
    sdsinf_advice a = {0};
    int rc;
    if ((rc = prices_load(o->prices, o->region, &t, err)))
        return rc;
    if (!t.latency.present) {
        rc = cli_fail(err, SDSINF_EINVAL, "%s has no latency block: the "
                      "planner's constants are there (see the project's "
                      "prices/aws.json)", t.path);
        goto done;
    }
    if (o->machines && (rc = keep_machines(o->machines, &t, err)))
        goto done;
    if ((rc = sdsinf_advise(&c->c, &t.latency.model, &t.prices, o->images,
                            o->max_seconds, o->max_usd, &a, err)))
        goto done;
    if (!a.n) {
        rc = cli_fail(err, SDSINF_EINVAL, "no configuration can run %lld "
                      "images of this model (every one is over Lambda's "
                      "memory or time, and no EC2 type has vCPUs in %s)",
                      (long long)o->images, t.path);
        goto done;
    }
    if (o->json)
        rc = print_json(o, c, &a, err);
    else
        print_table(o, c, &a, &t);
    if (!rc && o->plot)
        rc = plot(o, &a, err);
done:
    sdsinf_advice_free(&a);
    prices_free(&t);
    return rc;
}
