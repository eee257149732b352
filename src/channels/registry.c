/* channels/registry.c - the channel registry and the sdsinf_channel_* wrappers.
 *
 * The registry holds pointers to method tables (the caller keeps its table
 * alive while registered); the built-in channels enter it once, from one
 * static table, on first use, and a plugin's (the MPI plugin's mpi) when
 * first asked for by name (plugin/load.c).  Each entry also holds its
 * channel's shared state (type_init, run on first use; type_cleanup at
 * exit) and counts its users (open instances and run calls under way), so
 * that a table replaced while in use keeps its state until its last user
 * is done.  The wrappers check the table (version, the methods it must
 * have), validate every argument before a channel sees it, and keep the
 * instance's counters (a version 1 channel's requests too), so a channel
 * only moves bytes. */
#include "channels/channels.h"
#include "channels/settings.h"
#include "plugin/plugin.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* The built-in channels this build has, and those it left out: the name
 * (before the ':' of `needs`) and what it needs. */
#define BUILT(table, built, needs) built ? &table : NULL,
#define LEFT_OUT(table, built, needs) built ? NULL : needs,
static const sdsinf_channel_methods *const builtins[] = {
    SDSINF__BUILTIN_CHANNELS(BUILT)};
static const char *const left_out[] = {SDSINF__BUILTIN_CHANNELS(LEFT_OUT)};
#define NBUILTIN (sizeof builtins / sizeof *builtins)

#define DEFAULT_CHANNEL "local"
#define MAX_CHANNELS 64    /* registered tables, built-ins included */
#define MAX_WORKERS 65536  /* endpoints: a plan's 65535 workers and its
                              run's coordinator */

/* One registered table and what the registry keeps for it. */
struct sdsinf_channel_type {
    const sdsinf_channel_methods *m; /* NULL: a free entry */
    int current; /* found by name; 0: replaced, kept for its users */
    int users;   /* open instances and run calls under way */
    int ready;   /* type_init succeeded: state is the channel's */
    void *state;
};
typedef struct sdsinf_channel_type chan_type;

static pthread_once_t reg_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;  /* the entries */
static pthread_mutex_t init_mu = PTHREAD_MUTEX_INITIALIZER; /* type_init */
static chan_type reg[MAX_CHANNELS];
static int at_exit_set; /* types_at_exit is registered (under init_mu) */

static void reg_builtins(void)
{
    for (size_t i = 0, n = 0; i < NBUILTIN; i++)
        if (builtins[i])
            reg[n++] = (chan_type){builtins[i], 1, 0, 0, NULL};
}

/* Counters of an instance that threads may share (SDSINF_CAP_THREADSAFE). */
#if defined(__GNUC__)
#define COUNT(field, n) __atomic_fetch_add(&(field), (n), __ATOMIC_RELAXED)
#else
#define COUNT(field, n) ((field) += (n))
#endif

/* The current entry called name, or NULL (reg_mu held). */
static chan_type *entry_named(const char *name)
{
    for (int i = 0; i < MAX_CHANNELS; i++)
        if (reg[i].m && reg[i].current && strcmp(reg[i].m->name, name) == 0)
            return &reg[i];
    return NULL;
}

/* Takes t's state out for type_cleanup (reg_mu held): the function to call
 * once the lock is dropped, or NULL; with `drop`, frees the entry. */
static void (*entry_retire(chan_type *t, int drop, void **state))(void *)
{
    void (*fn)(void *) = t->ready && t->m->version >= 2 ? t->m->type_cleanup
                                                         : NULL;
    *state = t->state;
    t->ready = 0;
    t->state = NULL;
    if (drop)
        t->m = NULL;
    return fn;
}

/* At exit: every channel's shared state goes. */
static void types_at_exit(void)
{
    pthread_mutex_lock(&reg_mu);
    for (int i = 0; i < MAX_CHANNELS; i++) {
        void *state;
        void (*fn)(void *) = reg[i].m ? entry_retire(&reg[i], 0, &state) : NULL;
        if (fn)
            fn(state);
    }
    pthread_mutex_unlock(&reg_mu);
}

/* Runs t's type_init if it has not succeeded yet; t is held (a user). */
static int entry_init(chan_type *t, sdsinf_err *err)
{
    const sdsinf_channel_methods *m = t->m;
    int rc = SDSINF_OK;
    if (m->version < 2 || !m->type_init)
        return SDSINF_OK;
    pthread_mutex_lock(&init_mu);
    if (!t->ready) {
        void *state = NULL;
        rc = m->type_init(m, &state, err);
        if (rc == SDSINF_OK && !at_exit_set)
            at_exit_set = atexit(types_at_exit) == 0;
        pthread_mutex_lock(&reg_mu);
        t->state = rc == SDSINF_OK ? state : NULL;
        t->ready = rc == SDSINF_OK;
        pthread_mutex_unlock(&reg_mu);
    }
    pthread_mutex_unlock(&init_mu);
    return rc;
}

/* Ends a use of t: a replaced table's state goes with its last user. */
static void entry_release(chan_type *t)
{
    void *state = NULL;
    void (*fn)(void *) = NULL;
    pthread_mutex_lock(&reg_mu);
    if (--t->users == 0 && !t->current)
        fn = entry_retire(t, 1, &state);
    pthread_mutex_unlock(&reg_mu);
    if (fn)
        fn(state);
}

/* SDSINF_OK when the table can be used by this library. */
static int check_methods(const sdsinf_channel_methods *m, sdsinf_err *err)
{
    const char *name = m->name;
    int rc = sdsinf__table_check("channel", m->version,
                                 SDSINF_CHANNEL_VERSION, name, err);
    if (rc != SDSINF_OK)
        return rc;
    if (m->instance_size < sizeof(sdsinf_channel))
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "channel '%s': instance_size %zu is below "
                            "sizeof(sdsinf_channel) %zu; embed sdsinf_channel "
                            "first in the instance",
                            name, m->instance_size, sizeof(sdsinf_channel));
    if (!m->open || !m->send || !m->recv || !m->close)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "channel '%s': open, send, recv and close must all "
                            "be set in its table",
                            name);
    if (m->version >= 2 && m->run_create && !m->run_destroy)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "channel '%s': run_create without run_destroy; "
                            "set run_destroy to remove what run_create makes",
                            name);
    return SDSINF_OK;
}

int sdsinf_channel_register(const sdsinf_channel_methods *m, sdsinf_err *err)
{
    if (!m)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "sdsinf_channel_register: NULL table");
    int rc = check_methods(m, err);
    if (rc != SDSINF_OK)
        return rc;
    void *state = NULL;
    void (*fn)(void *) = NULL;
    pthread_once(&reg_once, reg_builtins);
    pthread_mutex_lock(&reg_mu);
    chan_type *old = entry_named(m->name), *t = NULL;
    if (old && old->m == m) { /* the same table again */
        pthread_mutex_unlock(&reg_mu);
        return SDSINF_OK;
    }
    if (old && old->users == 0) { /* its entry is free to take over */
        fn = entry_retire(old, 0, &state);
        t = old;
    }
    for (int i = 0; !t && i < MAX_CHANNELS; i++)
        if (!reg[i].m)
            t = &reg[i];
    if (!t) {
        rc = sdsinf__fail(err, SDSINF_ENOMEM,
                          "channel '%s': the registry is full (%d channels)",
                          m->name, MAX_CHANNELS);
    } else {
        if (old && old != t)
            old->current = 0; /* its state goes with its last user */
        *t = (chan_type){m, 1, 0, 0, NULL};
    }
    pthread_mutex_unlock(&reg_mu);
    if (fn)
        fn(state);
    return rc;
}

/* The table registered as name, or NULL. */
static const sdsinf_channel_methods *registered(const char *name)
{
    pthread_once(&reg_once, reg_builtins);
    pthread_mutex_lock(&reg_mu);
    chan_type *t = entry_named(name);
    const sdsinf_channel_methods *found = t ? t->m : NULL;
    pthread_mutex_unlock(&reg_mu);
    return found;
}

/* A name no table is registered as may be a plugin's channel: loading the
 * plugin registers it. */
const sdsinf_channel_methods *sdsinf_channel_find(const char *name)
{
    if (!name || !name[0])
        name = DEFAULT_CHANNEL;
    const sdsinf_channel_methods *found = registered(name);
    if (!found && sdsinf__plugin_channel(name, NULL) == SDSINF_OK)
        found = registered(name);
    return found;
}

/* Appends item to the comma-separated list buf (used bytes *n). */
static void names_add(char *buf, size_t cap, size_t *n, const char *item,
                      int len, const char *note)
{
    if (*n + 1 >= cap)
        return;
    int k = snprintf(buf + *n, cap - *n, "%s%.*s%s", *n ? ", " : "", len,
                     item, note);
    *n += k > 0 ? (size_t)k : 0;
    if (*n >= cap)
        *n = cap - 1;
}

/* Every channel this build knows, comma-separated, for messages: the
 * registered ones, the plugin's (mpi) and those left out, marked. */
static void known_names(char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = 0;
    pthread_once(&reg_once, reg_builtins);
    pthread_mutex_lock(&reg_mu);
    int mpi_registered = entry_named("mpi") != NULL;
    for (int i = 0; i < MAX_CHANNELS; i++)
        if (reg[i].m && reg[i].current)
            names_add(buf, cap, &n, reg[i].m->name, (int)strlen(reg[i].m->name),
                      "");
    pthread_mutex_unlock(&reg_mu);
    if (!mpi_registered)
        names_add(buf, cap, &n, "mpi", 3,
                  sdsinf__plugin_built() & SDSINF__PLUGIN_MPI
                      ? " (MPI plugin)"
                      : " (not in this build)");
    for (size_t i = 0; i < NBUILTIN; i++) {
        const char *colon = left_out[i] ? strchr(left_out[i], ':') : NULL;
        if (colon)
            names_add(buf, cap, &n, left_out[i], (int)(colon - left_out[i]),
                      " (not in this build)");
    }
}

/* The failure of a name that is not registered: a plugin's that cannot
 * be loaded, left out of this build, or unknown. */
static int unknown_name(const char *name, sdsinf_err *err)
{
    int rc = name ? sdsinf__plugin_channel(name, err) : SDSINF_EINVAL;
    if (rc != SDSINF_EINVAL && rc != SDSINF_OK)
        return rc;
    for (size_t i = 0; name && i < NBUILTIN; i++) {
        const char *lo = left_out[i], *colon = lo ? strchr(lo, ':') : NULL;
        if (colon && strlen(name) == (size_t)(colon - lo) &&
            !strncmp(name, lo, (size_t)(colon - lo)))
            return sdsinf__fail(err, SDSINF_ENOTSUP,
                                "channel '%s' is not in this build: it needs "
                                "%s",
                                name, colon + 1);
    }
    char names[320];
    known_names(names, sizeof names);
    return sdsinf__fail(err, SDSINF_EINVAL, "unknown channel '%s' (known: %s)",
                        name ? name : DEFAULT_CHANNEL, names);
}

int sdsinf__channel_config_prepare(const sdsinf_channel_methods *m,
                                   const char *config, char *out, size_t cap,
                                   sdsinf_err *err)
{
    if (m->version >= 3 && m->config_prepare)
        return m->config_prepare(config, out, cap, err);
    return sdsinf__config_copy(config, out, cap, err);
}

int sdsinf__channel_resolve(const char *name,
                            const sdsinf_channel_methods **out,
                            sdsinf_err *err)
{
    *out = sdsinf_channel_find(name);
    return *out ? SDSINF_OK : unknown_name(name, err);
}

/* Holds the entry of channel `name` for a use, its shared state made. */
static int entry_acquire(const char *name, chan_type **out, sdsinf_err *err)
{
    if (!name || !name[0])
        name = DEFAULT_CHANNEL;
    sdsinf_channel_find(name); /* (a plugin's: loaded) */
    pthread_mutex_lock(&reg_mu);
    chan_type *t = entry_named(name);
    if (t)
        t->users++;
    pthread_mutex_unlock(&reg_mu);
    if (!t)
        return unknown_name(name, err);
    int rc = entry_init(t, err);
    if (rc != SDSINF_OK) {
        entry_release(t);
        return rc;
    }
    *out = t;
    return SDSINF_OK;
}

int sdsinf__channel_type_state(const sdsinf_channel_methods *m, void **state,
                               sdsinf_err *err)
{
    chan_type *t = NULL;
    pthread_once(&reg_once, reg_builtins);
    pthread_mutex_lock(&reg_mu);
    for (int i = 0; i < MAX_CHANNELS && !t; i++)
        if (reg[i].m == m)
            t = &reg[i];
    for (int i = 0; i < MAX_CHANNELS && !t; i++)
        if (!reg[i].m) { /* replaced by another of its name: kept aside */
            t = &reg[i];
            *t = (chan_type){m, 0, 0, 0, NULL};
        }
    if (t)
        t->users++; /* held until exit */
    pthread_mutex_unlock(&reg_mu);
    if (!t)
        return sdsinf__fail(err, SDSINF_ENOMEM,
                            "channel '%s': the registry is full (%d channels)",
                            m->name, MAX_CHANNELS);
    int rc = entry_init(t, err);
    *state = rc == SDSINF_OK ? t->state : NULL;
    return rc;
}

int sdsinf_channel_open(const char *name, const char *config, int self,
                        int workers, uint64_t run, sdsinf_channel **out,
                        sdsinf_err *err)
{
    return sdsinf__channel_open(name, config, self, workers, run, 0, out,
                                err);
}

int sdsinf__channel_open(const char *name, const char *config, int self,
                         int workers, uint64_t run, int run_made,
                         sdsinf_channel **out, sdsinf_err *err)
{
    if (!out)
        return sdsinf__fail(err, SDSINF_EINVAL, "sdsinf_channel_open: NULL out");
    const sdsinf_channel_methods *m;
    int rc = sdsinf__channel_resolve(name, &m, err);
    if (rc != SDSINF_OK || (rc = check_methods(m, err)) != SDSINF_OK)
        return rc;
    if (workers < 1 || workers > MAX_WORKERS || self < 0 || self >= workers)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "channel '%s': worker %d of %d workers: need "
                            "1 <= workers <= %d and 0 <= self < workers",
                            m->name, self, workers, MAX_WORKERS);
    chan_type *t;
    if ((rc = entry_acquire(name, &t, err)) != SDSINF_OK)
        return rc;
    m = t->m; /* (replaced meanwhile: the current one) */
    sdsinf_channel *ch = sdsinf__calloc(1, m->instance_size);
    if (!ch) {
        entry_release(t);
        return sdsinf__fail(err, SDSINF_ENOMEM,
                            "channel '%s': no memory for worker %d's instance",
                            m->name, self);
    }
    ch->methods = m;
    ch->self = self;
    ch->workers = workers;
    ch->run = run;
    ch->type_state = t->state;
    ch->type_ = t;
    ch->max_message = m->max_message; /* an open may change them */
    ch->whole_above = 0;
    ch->run_made = run_made;
    rc = m->open(ch, config, err);
    if (rc != SDSINF_OK) {
        sdsinf__free(ch);
        entry_release(t);
        return rc;
    }
    *out = ch;
    return SDSINF_OK;
}

/* Checks an instance handed to a wrapper. */
static int check_instance(const sdsinf_channel *ch, const char *call,
                          sdsinf_err *err)
{
    if (!ch || !ch->methods)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "%s: NULL or unopened channel", call);
    return check_methods(ch->methods, err);
}

/* Checks that a key belongs to this instance's run and names real
 * workers; `what` says which key ("message", "awaited"). */
static int check_key(const sdsinf_channel *ch, const sdsinf_msg_key *k,
                     const char *what, sdsinf_err *err)
{
    const char *name = ch->methods->name;
    if (k->run != ch->run)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "channel '%s', worker %d: %s key is for run %" PRIu64
                            " but the channel was opened for run %" PRIu64,
                            name, ch->self, what, k->run, ch->run);
    if (k->source >= (uint32_t)ch->workers || k->target >= (uint32_t)ch->workers)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "channel '%s', worker %d: %s key from worker %" PRIu32
                            " to worker %" PRIu32 " is out of range (%d workers)",
                            name, ch->self, what, k->source, k->target,
                            ch->workers);
    if (k->nchunks && k->chunk >= k->nchunks)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "channel '%s', worker %d: %s key has chunk %" PRIu32
                            " of %" PRIu32,
                            name, ch->self, what, k->chunk, k->nchunks);
    return SDSINF_OK;
}

int sdsinf_channel_send(sdsinf_channel *ch, const sdsinf_msg_key *key,
                        const void *msg, size_t len, sdsinf_err *err)
{
    int rc = check_instance(ch, "sdsinf_channel_send", err);
    if (rc != SDSINF_OK)
        return rc;
    const sdsinf_channel_methods *m = ch->methods;
    if (!key || (!msg && len))
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "channel '%s', worker %d: send needs a key and, "
                            "unless len is 0, a message",
                            m->name, ch->self);
    if ((rc = check_key(ch, key, "message", err)) != SDSINF_OK)
        return rc;
    if (key->source != (uint32_t)ch->self)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "channel '%s': worker %d sends a key with source %"
                            PRIu32 "; set key->source to the sender",
                            m->name, ch->self, key->source);
    size_t max = m->version >= 4 ? ch->max_message : m->max_message;
    size_t whole = m->version >= 4 ? ch->whole_above : 0;
    if (max && len > max && !whole)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "channel '%s', worker %d: a %zu-byte message to "
                            "worker %" PRIu32 " exceeds the channel's limit of "
                            "%zu; encode it in chunks of at most that",
                            m->name, ch->self, len, key->target, max);
    rc = m->send(ch, key, msg, len, err);
    if (m->version < 2) /* a version 2 channel counts its own requests */
        SDSINF__COUNT(ch, send, 1);
    if (rc == SDSINF_OK) {
        COUNT(ch->msgs_sent, 1);
        COUNT(ch->bytes_sent, (uint64_t)len);
    }
    return rc;
}

int sdsinf_channel_recv(sdsinf_channel *ch, const sdsinf_msg_key *want,
                        void **msg, size_t *len, int timeout_ms,
                        sdsinf_err *err)
{
    int rc = check_instance(ch, "sdsinf_channel_recv", err);
    if (rc != SDSINF_OK)
        return rc;
    const sdsinf_channel_methods *m = ch->methods;
    if (!msg || !len || timeout_ms < 0)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "channel '%s', worker %d: recv needs msg and len "
                            "pointers and a timeout >= 0 ms (got %d)",
                            m->name, ch->self, timeout_ms);
    if (want) {
        if ((rc = check_key(ch, want, "awaited", err)) != SDSINF_OK)
            return rc;
        if (want->target != (uint32_t)ch->self)
            return sdsinf__fail(err, SDSINF_EINVAL,
                                "channel '%s': worker %d awaits a key for "
                                "worker %" PRIu32 "; set want->target to self",
                                m->name, ch->self, want->target);
    } else if (m->caps & SDSINF_CAP_KEYED) {
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "channel '%s' is keyed: worker %d must say which "
                            "message it awaits (want: source, layer, batch)",
                            m->name, ch->self);
    }
    void *p = NULL;
    size_t n = 0;
    rc = m->recv(ch, want, &p, &n, timeout_ms, err);
    if (m->version < 2) {
        SDSINF__COUNT(ch, receive, 1);
        SDSINF__COUNT(ch, empty, rc == SDSINF_ETIMEDOUT);
    }
    if (rc != SDSINF_OK)
        return rc;
    COUNT(ch->msgs_recv, 1);
    COUNT(ch->bytes_recv, (uint64_t)n);
    *msg = p;
    *len = n;
    return SDSINF_OK;
}

int sdsinf_channel_control(sdsinf_channel *ch, int op, void *arg,
                           sdsinf_err *err)
{
    int rc = check_instance(ch, "sdsinf_channel_control", err);
    if (rc != SDSINF_OK)
        return rc;
    if (op < 100 || !ch->methods->control)
        return sdsinf__fail(err, SDSINF_ENOTSUP,
                            "channel '%s', worker %d: no control operation %d",
                            ch->methods->name, ch->self, op);
    return ch->methods->control(ch, op, arg, err);
}

int sdsinf_channel_flush(sdsinf_channel *ch, sdsinf_err *err)
{
    int rc = check_instance(ch, "sdsinf_channel_flush", err);
    if (rc != SDSINF_OK)
        return rc;
    const sdsinf_channel_methods *m = ch->methods;
    return m->version >= 2 && m->flush ? m->flush(ch, err) : SDSINF_OK;
}

int sdsinf_channel_requests(const sdsinf_channel *ch, sdsinf_requests *out)
{
    if (!ch || !out)
        return SDSINF_EINVAL;
#if defined(__GNUC__)
#define LOAD_(kind) \
    out->kind = __atomic_load_n(&ch->requests.kind, __ATOMIC_RELAXED);
#else
#define LOAD_(kind) out->kind = ch->requests.kind;
#endif
    SDSINF__REQUEST_KINDS(LOAD_)
#undef LOAD_
    return SDSINF_OK;
}

int sdsinf_channel_close(sdsinf_channel *ch, int cleanup, sdsinf_err *err)
{
    if (!ch)
        return SDSINF_OK;
    int rc = check_instance(ch, "sdsinf_channel_close", err);
    if (rc == SDSINF_OK)
        rc = ch->methods->close(ch, cleanup, err);
    /* (a wrapper's copy of its inner instance has another table) */
    if (ch->type_ && ch->type_->m == ch->methods)
        entry_release(ch->type_);
    sdsinf__free(ch);
    return rc;
}

/* ---- A run's life --------------------------------------------------------- */

enum { RUN_CREATE, RUN_DESTROY, RUN_RESIDUE };

/* Calls the channel's run_create, run_destroy or run_residue (op) for run;
 * its requests are added to *req (may be NULL). */
static int run_call(int op, const char *name, const char *config,
                    uint64_t run, int workers, int64_t *items,
                    sdsinf_requests *req, sdsinf_err *err)
{
    static const char *const what[] = {"sdsinf_channel_run_create",
                                       "sdsinf_channel_run_destroy",
                                       "sdsinf_channel_run_residue"};
    if (op != RUN_RESIDUE && (workers < 1 || workers > MAX_WORKERS))
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "%s: %d workers; need 1 to %d", what[op],
                            workers, MAX_WORKERS);
    if (op == RUN_RESIDUE && !items)
        return sdsinf__fail(err, SDSINF_EINVAL, "%s: NULL items", what[op]);
    chan_type *t;
    int rc = entry_acquire(name, &t, err);
    if (rc != SDSINF_OK)
        return rc;
    const sdsinf_channel_methods *m = t->m;
    sdsinf_requests mine = {0};
    int v2 = m->version >= 2;
    if (op == RUN_CREATE && v2 && m->run_create)
        rc = m->run_create(t->state, config, run, workers, &mine, err);
    else if (op == RUN_DESTROY && v2 && m->run_destroy)
        rc = m->run_destroy(t->state, config, run, workers, &mine, err);
    else if (op == RUN_RESIDUE && v2 && m->run_residue)
        rc = m->run_residue(t->state, config, run, items, err);
    else if (op == RUN_RESIDUE)
        rc = sdsinf__fail(err, SDSINF_ENOTSUP,
                          "channel '%s' cannot count what a run left (its "
                          "table has no run_residue)",
                          m->name);
    entry_release(t);
    if (req)
        sdsinf__requests_add(req, &mine);
    return rc;
}

int sdsinf_channel_run_create(const char *name, const char *config,
                              uint64_t run, int workers, sdsinf_requests *req,
                              sdsinf_err *err)
{
    return run_call(RUN_CREATE, name, config, run, workers, NULL, req, err);
}

int sdsinf_channel_run_destroy(const char *name, const char *config,
                               uint64_t run, int workers, sdsinf_requests *req,
                               sdsinf_err *err)
{
    return run_call(RUN_DESTROY, name, config, run, workers, NULL, req, err);
}

int sdsinf_channel_run_residue(const char *name, const char *config,
                               uint64_t run, int64_t *items, sdsinf_err *err)
{
    return run_call(RUN_RESIDUE, name, config, run, 0, items, NULL, err);
}

/* ---- Helpers for channels --------------------------------------------------- */

void sdsinf__requests_add(sdsinf_requests *sum, const sdsinf_requests *add)
{
#define ADD_(kind) sum->kind += add->kind;
    SDSINF__REQUEST_KINDS(ADD_)
#undef ADD_
}

void sdsinf__requests_since(sdsinf_requests *sum, const sdsinf_requests *now,
                            const sdsinf_requests *before)
{
#define SINCE_(kind) sum->kind += now->kind - before->kind;
    SDSINF__REQUEST_KINDS(SINCE_)
#undef SINCE_
}

int sdsinf__errno_status(int e)
{
    return e == EACCES || e == EPERM || e == EROFS ? SDSINF_EACCES
           : e == ENOMEM                           ? SDSINF_ENOMEM
                                                   : SDSINF_EIO;
}
