/* fault_channel.c - a fault-injection channel for tests: "faulty:<inner>"
 * wraps any registered channel and, with a seeded random choice per
 * message, drops, duplicates, reorders or delays what a worker sends.
 *
 * Interface (declare these in the test that links this file):
 *
 *   int tu_fault_register(const char *inner, sdsinf_err *err);
 *       Registers "faulty:<inner>" (e.g. "faulty:mem"), with the inner
 *       channel's caps and max_message.  Up to 8 inner channels.
 *   typedef struct { uint64_t dropped, duplicated, reordered, delayed; }
 *       tu_fault_stats;   (sdsinf_channel_control(ch, TU_FAULT_STATS, &s))
 *
 * Open "faulty:<inner>" with config "<options>|<inner config>", or just
 * "<inner config>" (no '|': no faults unless $SDSINF_FAULTS holds the
 * options).  Options, comma-separated, all optional:
 *   seed=N        the random seed (default 1); worker w draws from
 *                 seed + w, so a run is reproducible
 *   drop=P        probability that a message is never sent
 *   dup=P         ... that it is sent twice (the copy right after it)
 *   reorder=P     ... that it is held back and sent after the worker's
 *                 next message (or when the worker next receives/closes)
 *   delay=P       ... that it is held back delay_ms (at most; uniform)
 *   delay_ms=N    (default 20)
 * e.g. "seed=7,dup=0.2,reorder=0.3|/tmp/run".  Faults apply on the send
 * side; held messages go out from the sender's later send, recv (which
 * waits in slices so due messages leave on time) and close (a late message
 * is still delivered: only drop loses one).  Other control ops go to the
 * inner channel (fs's listing works through the wrapper), and so do flush,
 * a run's create, destroy and residue (the table is its shared state:
 * type_init), the instance's run_made (set on the inner one) and the
 * inner instance's request counters (copied after each call).
 * Instances are thread-safe when the inner channel is. */
#include "channels/channels.h"
#include "core/core.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TU_FAULT_STATS 900 /* control op: tu_fault_stats * */
#define MAX_INNER 8

typedef struct tu_fault_stats {
    uint64_t dropped, duplicated, reordered, delayed;
} tu_fault_stats;

int tu_fault_register(const char *inner, sdsinf_err *err);

typedef struct fault_opts {
    uint64_t seed;
    double drop, dup, reorder, delay;
    int delay_ms;
} fault_opts;

typedef struct held_msg {
    struct held_msg *next;
    sdsinf_msg_key key;
    void *data;
    size_t len;
    double due;     /* when a delayed message may go */
    int until_next; /* reordered: goes after the next message */
} held_msg;

typedef struct fault_channel {
    sdsinf_channel base;
    sdsinf_channel *inner;
    fault_opts o;
    uint64_t rng;
    pthread_mutex_t mu;
    held_msg *head, *tail;
    tu_fault_stats st;
} fault_channel;

typedef struct fault_table {
    sdsinf_channel_methods m;
    char name[80];
    const char *inner; /* points into name */
} fault_table;

static fault_table tables[MAX_INNER];
static int ntables;
static pthread_mutex_t tables_mu = PTHREAD_MUTEX_INITIALIZER;

static const char *inner_name(const sdsinf_channel *ch)
{
    return ((const fault_table *)ch->methods)->inner;
}

/* The inner channel's config: what follows the options' '|', if any. */
static const char *inner_config(const char *config)
{
    const char *bar = config ? strchr(config, '|') : NULL;
    return bar ? bar + 1 : config;
}

/* A call's status, once the inner instance's requests are the wrapper's
 * (fc->mu held). */
static int counted(fault_channel *fc, int rc)
{
    sdsinf_channel_requests(fc->inner, &fc->base.requests);
    return rc;
}

/* splitmix64: a uniform double in [0, 1). */
static double draw(fault_channel *fc)
{
    uint64_t z = (fc->rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    z ^= z >> 31;
    return (double)(z >> 11) * (1.0 / 9007199254740992.0);
}

/* Parses "k=v,k=v"; SDSINF_EINVAL naming the bad option. */
static int parse_opts(const char *s, size_t n, fault_opts *o, sdsinf_err *err)
{
    memset(o, 0, sizeof *o);
    o->seed = 1;
    o->delay_ms = 20;
    while (n > 0) {
        const char *end = memchr(s, ',', n);
        size_t len = end ? (size_t)(end - s) : n;
        char item[64], *eq, *rest = NULL;
        if (len >= sizeof item)
            return sdsinf__fail(err, SDSINF_EINVAL, "faulty: option too long");
        memcpy(item, s, len);
        item[len] = 0;
        eq = strchr(item, '=');
        double v = eq ? strtod(eq + 1, &rest) : 0;
        if (len && (!eq || !rest || *rest || v < 0))
            return sdsinf__fail(err, SDSINF_EINVAL,
                                "faulty: bad option '%s' (want seed=N, drop=P, "
                                "dup=P, reorder=P, delay=P, delay_ms=N)",
                                item);
        if (len) {
            *eq = 0;
            if (!strcmp(item, "seed"))
                o->seed = (uint64_t)v;
            else if (!strcmp(item, "drop"))
                o->drop = v;
            else if (!strcmp(item, "dup"))
                o->dup = v;
            else if (!strcmp(item, "reorder"))
                o->reorder = v;
            else if (!strcmp(item, "delay"))
                o->delay = v;
            else if (!strcmp(item, "delay_ms"))
                o->delay_ms = (int)v;
            else
                return sdsinf__fail(err, SDSINF_EINVAL,
                                    "faulty: unknown option '%s'", item);
        }
        s += len + (end != NULL);
        n -= len + (end != NULL);
    }
    return SDSINF_OK;
}

static int fault_open(sdsinf_channel *ch, const char *config, sdsinf_err *err)
{
    fault_channel *fc = (fault_channel *)ch;
    const char *bar = config ? strchr(config, '|') : NULL;
    const char *env = getenv("SDSINF_FAULTS");
    const char *inner_cfg = inner_config(config);
    int rc = bar ? parse_opts(config, (size_t)(bar - config), &fc->o, err)
                 : parse_opts(env ? env : "", env ? strlen(env) : 0, &fc->o, err);
    if (rc != SDSINF_OK)
        return rc;
    fc->rng = fc->o.seed + (uint64_t)ch->self * 0x632be59bd9b4e019ull;
    rc = sdsinf__channel_open(inner_name(ch), inner_cfg, ch->self,
                              ch->workers, ch->run, ch->run_made, &fc->inner,
                              err);
    if (rc == SDSINF_OK) { /* the messages the inner instance takes */
        ch->max_message = fc->inner->max_message;
        ch->whole_above = fc->inner->whole_above;
        pthread_mutex_init(&fc->mu, NULL);
    }
    return rc;
}

/* Holds a copy of a message back; SDSINF_ENOMEM when out of memory. */
static int hold(fault_channel *fc, const sdsinf_msg_key *key, const void *msg,
                size_t len, double due, int until_next, sdsinf_err *err)
{
    held_msg *h = sdsinf__malloc(sizeof *h);
    void *data = sdsinf__malloc(len ? len : 1);
    if (!h || !data) {
        sdsinf__free(h);
        sdsinf__free(data);
        return sdsinf__fail(err, SDSINF_ENOMEM, "faulty:%s: no memory to hold a "
                            "message", inner_name(&fc->base));
    }
    if (len)
        memcpy(data, msg, len);
    *h = (held_msg){NULL, *key, data, len, due, until_next};
    if (fc->tail)
        fc->tail->next = h;
    else
        fc->head = h;
    fc->tail = h;
    return SDSINF_OK;
}

/* Sends the held messages that may go (all of them when `all`): delayed
 * ones that are due, reordered ones when `after_next` (a message has just
 * gone past them). */
static int flush(fault_channel *fc, int all, int after_next, sdsinf_err *err)
{
    double now = sdsinf__now();
    int rc = SDSINF_OK;
    held_msg **p = &fc->head, *last = NULL;
    while (*p) {
        held_msg *h = *p;
        int go = all || (h->until_next ? after_next : h->due <= now);
        if (!go) {
            last = h;
            p = &h->next;
            continue;
        }
        if (rc == SDSINF_OK)
            rc = sdsinf_channel_send(fc->inner, &h->key, h->data, h->len, err);
        *p = h->next;
        sdsinf__free(h->data);
        sdsinf__free(h);
    }
    fc->tail = last;
    return rc;
}

static int fault_send(sdsinf_channel *ch, const sdsinf_msg_key *key,
                      const void *msg, size_t len, sdsinf_err *err)
{
    fault_channel *fc = (fault_channel *)ch;
    pthread_mutex_lock(&fc->mu);
    int rc = flush(fc, 0, 0, err);
    double r = draw(fc), cut = 0;
    if (rc != SDSINF_OK) {
    } else if (r < (cut += fc->o.drop)) {
        fc->st.dropped++;
    } else if (r < (cut += fc->o.reorder)) {
        fc->st.reordered++;
        rc = hold(fc, key, msg, len, 0, 1, err);
    } else if (r < (cut += fc->o.delay)) {
        fc->st.delayed++;
        rc = hold(fc, key, msg, len,
                  sdsinf__now() + draw(fc) * fc->o.delay_ms / 1e3, 0, err);
    } else {
        int dup = r < cut + fc->o.dup;
        rc = sdsinf_channel_send(fc->inner, key, msg, len, err);
        if (rc == SDSINF_OK && dup) {
            fc->st.duplicated++;
            rc = sdsinf_channel_send(fc->inner, key, msg, len, err);
        }
        if (rc == SDSINF_OK) /* earlier reordered messages go after it */
            rc = flush(fc, 0, 1, err);
    }
    rc = counted(fc, rc);
    pthread_mutex_unlock(&fc->mu);
    return rc;
}

/* The earliest due time of a delayed message, or 0 when none. */
static double next_due(const fault_channel *fc)
{
    double due = 0;
    for (const held_msg *h = fc->head; h; h = h->next)
        if (!h->until_next && (due == 0 || h->due < due))
            due = h->due;
    return due;
}

static int fault_recv(sdsinf_channel *ch, const sdsinf_msg_key *want,
                      void **msg, size_t *len, int timeout_ms, sdsinf_err *err)
{
    fault_channel *fc = (fault_channel *)ch;
    double deadline = sdsinf__now() + timeout_ms / 1e3;
    for (;;) {
        pthread_mutex_lock(&fc->mu);
        int rc = flush(fc, 0, 1, err); /* waiting: reordered ones go now */
        double due = next_due(fc);
        pthread_mutex_unlock(&fc->mu);
        if (rc != SDSINF_OK)
            return rc;
        double now = sdsinf__now(), until = due && due < deadline ? due : deadline;
        int slice = until > now ? (int)((until - now) * 1e3) + 1 : 0;
        rc = sdsinf_channel_recv(fc->inner, want, msg, len, slice, err);
        pthread_mutex_lock(&fc->mu);
        counted(fc, rc);
        pthread_mutex_unlock(&fc->mu);
        if (rc != SDSINF_ETIMEDOUT || sdsinf__now() >= deadline) {
            if (rc == SDSINF_ETIMEDOUT) { /* what fell due meanwhile goes
                                             (a slow inner receive may
                                             outlast its slice) */
                sdsinf_err e2 = {0};
                pthread_mutex_lock(&fc->mu);
                int r2 = flush(fc, 0, 1, &e2);
                if (r2 == SDSINF_OK)
                    r2 = sdsinf_channel_flush(fc->inner, &e2);
                pthread_mutex_unlock(&fc->mu);
                if (r2 != SDSINF_OK) {
                    rc = r2;
                    if (err)
                        *err = e2;
                }
            }
            if (rc != SDSINF_OK && err) {
                char inner_msg[sizeof err->msg];
                memcpy(inner_msg, err->msg, sizeof inner_msg);
                sdsinf__fail(err, rc, "faulty:%s (%d ms): %s", inner_name(ch),
                             timeout_ms, inner_msg);
            }
            return rc;
        }
    }
}

static int fault_close(sdsinf_channel *ch, int cleanup, sdsinf_err *err)
{
    fault_channel *fc = (fault_channel *)ch;
    /* what is held is late, not lost: it goes now (flush frees it all) */
    int rc = flush(fc, 1, 1, err);
    int rc2 = sdsinf_channel_close(fc->inner, cleanup, err);
    pthread_mutex_destroy(&fc->mu);
    return rc != SDSINF_OK ? rc : rc2;
}

/* The inner channel's flush (held messages are the faults' delays, not a
 * batch: they keep waiting). */
static int fault_flush(sdsinf_channel *ch, sdsinf_err *err)
{
    fault_channel *fc = (fault_channel *)ch;
    pthread_mutex_lock(&fc->mu);
    int rc = counted(fc, sdsinf_channel_flush(fc->inner, err));
    pthread_mutex_unlock(&fc->mu);
    return rc;
}

/* The shared state of a "faulty:<inner>" table: the table itself, which
 * names the inner channel for the run calls. */
static int fault_type_init(const sdsinf_channel_methods *m, void **state,
                           sdsinf_err *err)
{
    (void)err;
    *state = (void *)m;
    return SDSINF_OK;
}

static int fault_run_create(void *state, const char *config, uint64_t run,
                            int workers, sdsinf_requests *req, sdsinf_err *err)
{
    return sdsinf_channel_run_create(((fault_table *)state)->inner,
                                     inner_config(config), run, workers, req,
                                     err);
}

static int fault_run_destroy(void *state, const char *config, uint64_t run,
                             int workers, sdsinf_requests *req,
                             sdsinf_err *err)
{
    return sdsinf_channel_run_destroy(((fault_table *)state)->inner,
                                      inner_config(config), run, workers, req,
                                      err);
}

static int fault_run_residue(void *state, const char *config, uint64_t run,
                             int64_t *items, sdsinf_err *err)
{
    return sdsinf_channel_run_residue(((fault_table *)state)->inner,
                                      inner_config(config), run, items, err);
}

static int fault_control(sdsinf_channel *ch, int op, void *arg, sdsinf_err *err)
{
    fault_channel *fc = (fault_channel *)ch;
    if (op == TU_FAULT_STATS) {
        if (!arg)
            return sdsinf__fail(err, SDSINF_EINVAL, "faulty: stats need a pointer");
        pthread_mutex_lock(&fc->mu);
        *(tu_fault_stats *)arg = fc->st;
        pthread_mutex_unlock(&fc->mu);
        return SDSINF_OK;
    }
    int rc = sdsinf_channel_control(fc->inner, op, arg, err);
    if (rc != SDSINF_OK && err) {
        char inner_msg[sizeof err->msg];
        memcpy(inner_msg, err->msg, sizeof inner_msg);
        sdsinf__fail(err, rc, "faulty:%s: %s", inner_name(ch), inner_msg);
    }
    return rc;
}

int tu_fault_register(const char *inner, sdsinf_err *err)
{
    const sdsinf_channel_methods *in = sdsinf_channel_find(inner);
    if (!in || !inner || !inner[0])
        return sdsinf__fail(err, SDSINF_EINVAL, "faulty: no channel '%s' to wrap",
                            inner ? inner : "(null)");
    int rc = SDSINF_OK;
    pthread_mutex_lock(&tables_mu);
    fault_table *t = NULL;
    char name[80];
    snprintf(name, sizeof name, "faulty:%s", inner);
    for (int i = 0; i < ntables && !t; i++)
        if (!strcmp(tables[i].name, name))
            t = &tables[i];
    if (!t && ntables == MAX_INNER)
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "faulty: at most %d inner channels",
                          MAX_INNER);
    if (!t && rc == SDSINF_OK) {
        t = &tables[ntables++];
        memcpy(t->name, name, sizeof name);
        t->inner = t->name + strlen("faulty:");
        t->m = (sdsinf_channel_methods){
            .version = SDSINF_CHANNEL_VERSION, .name = t->name,
            .instance_size = sizeof(fault_channel), .caps = in->caps,
            .max_message = in->max_message, .open = fault_open,
            .send = fault_send, .recv = fault_recv, .close = fault_close,
            .control = fault_control, .type_init = fault_type_init,
            .run_create = fault_run_create, .run_destroy = fault_run_destroy,
            .flush = fault_flush, .run_residue = fault_run_residue};
    }
    pthread_mutex_unlock(&tables_mu);
    return rc == SDSINF_OK ? sdsinf_channel_register(&t->m, err) : rc;
}
