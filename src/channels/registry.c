/* channels/registry.c - the channel registry and the sdsinf_channel_* wrappers.
 *
 * The registry holds pointers to method tables (the caller keeps its table
 * alive while registered); the built-in channels enter it once, from one
 * static table, on first use.  The wrappers check the table (version, the
 * methods it must have), validate every argument before a channel sees it,
 * and keep the instance's counters, so a channel only moves bytes. */
#include "channels/channels.h"

#include <inttypes.h>
#include <pthread.h>
#include <string.h>

/* The built-in channels (channels/mem.c, local.c, fs.c, redis.c,
 * mpi.c), and those this build left out, with
 * what they need. */

static const sdsinf_channel_methods *const builtins[] = {
    &sdsinf__channel_mem, &sdsinf__channel_local, &sdsinf__channel_fs,
#if SDSINF_HAVE_REDIS
    &sdsinf__channel_redis,
#endif
#if SDSINF_HAVE_MPI
    &sdsinf__channel_mpi,
#endif
};

static const struct {
    const char *name, *needs;
} left_out[] = {
#if !SDSINF_HAVE_REDIS
    {"redis", "hiredis (apt-get install libhiredis-dev, then cmake "
              "-DSDSINF_WITH_REDIS=ON)"},
#endif
#if !SDSINF_HAVE_MPI
    {"mpi", "Open MPI (apt-get install libopenmpi-dev openmpi-bin, then "
            "cmake -DSDSINF_WITH_MPI=ON)"},
#endif
    {NULL, NULL}};

#define DEFAULT_CHANNEL "local"
#define MAX_CHANNELS 64    /* registered tables, built-ins included */
#define MAX_NAME 64        /* bytes of a channel's name, NUL excluded */
#define MAX_WORKERS 65535  /* as many as a plan holds */

static pthread_once_t reg_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static const sdsinf_channel_methods *reg[MAX_CHANNELS];
static int reg_count;

static void reg_builtins(void)
{
    for (size_t i = 0; i < sizeof builtins / sizeof *builtins; i++)
        reg[reg_count++] = builtins[i];
}

/* Counters of an instance that threads may share (SDSINF_CAP_THREADSAFE). */
#if defined(__GNUC__)
#define COUNT(field, n) __atomic_fetch_add(&(field), (n), __ATOMIC_RELAXED)
#else
#define COUNT(field, n) ((field) += (n))
#endif

/* SDSINF_OK when the table can be used by this library. */
static int check_methods(const sdsinf_channel_methods *m, sdsinf_err *err)
{
    const char *name = m->name ? m->name : "(unnamed)";
    if (m->version < 1 || m->version > SDSINF_CHANNEL_VERSION)
        return sdsinf__fail(err, SDSINF_ENOTSUP,
                            "channel '%s': table version %d, this library "
                            "knows versions 1 to %d; rebuild the channel "
                            "against this sdsinf.h",
                            name, m->version, SDSINF_CHANNEL_VERSION);
    if (!m->name || !m->name[0] || strlen(m->name) > MAX_NAME)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "channel table without a name (or one over %d "
                            "bytes): set methods->name",
                            MAX_NAME);
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
    pthread_once(&reg_once, reg_builtins);
    pthread_mutex_lock(&reg_mu);
    int i = 0;
    while (i < reg_count && strcmp(reg[i]->name, m->name) != 0)
        i++;
    if (i == MAX_CHANNELS) {
        rc = sdsinf__fail(err, SDSINF_ENOMEM,
                          "channel '%s': the registry is full (%d channels)",
                          m->name, MAX_CHANNELS);
    } else {
        reg[i] = m; /* a new entry, or the replacement of one */
        if (i == reg_count)
            reg_count++;
    }
    pthread_mutex_unlock(&reg_mu);
    return rc;
}

const sdsinf_channel_methods *sdsinf_channel_find(const char *name)
{
    const sdsinf_channel_methods *found = NULL;
    if (!name || !name[0])
        name = DEFAULT_CHANNEL;
    pthread_once(&reg_once, reg_builtins);
    pthread_mutex_lock(&reg_mu);
    for (int i = 0; i < reg_count && !found; i++)
        if (strcmp(reg[i]->name, name) == 0)
            found = reg[i];
    pthread_mutex_unlock(&reg_mu);
    return found;
}

/* The registered names, comma-separated, for messages. */
static void known_names(char *buf, size_t cap)
{
    size_t n = 0;
    buf[0] = 0;
    pthread_once(&reg_once, reg_builtins);
    pthread_mutex_lock(&reg_mu);
    for (int i = 0; i < reg_count && n + 1 < cap; i++) {
        int k = snprintf(buf + n, cap - n, "%s%s", i ? ", " : "", reg[i]->name);
        n += k > 0 ? (size_t)k : 0;
    }
    pthread_mutex_unlock(&reg_mu);
}

int sdsinf__channel_resolve(const char *name,
                            const sdsinf_channel_methods **out,
                            sdsinf_err *err)
{
    const sdsinf_channel_methods *m = sdsinf_channel_find(name);
    *out = m;
    for (int i = 0; !m && name && left_out[i].name; i++)
        if (!strcmp(name, left_out[i].name))
            return sdsinf__fail(err, SDSINF_ENOTSUP,
                                "channel '%s' is not in this build: it needs "
                                "%s",
                                name, left_out[i].needs);
    if (!m) {
        char names[160];
        known_names(names, sizeof names);
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "unknown channel '%s' (known: %s); register it "
                            "first",
                            name, names);
    }
    return SDSINF_OK;
}

int sdsinf_channel_open(const char *name, const char *config, int self,
                        int workers, uint64_t run, sdsinf_channel **out,
                        sdsinf_err *err)
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
    sdsinf_channel *ch = sdsinf__calloc(1, m->instance_size);
    if (!ch)
        return sdsinf__fail(err, SDSINF_ENOMEM,
                            "channel '%s': no memory for worker %d's instance",
                            m->name, self);
    ch->methods = m;
    ch->self = self;
    ch->workers = workers;
    ch->run = run;
    rc = m->open(ch, config, err);
    if (rc != SDSINF_OK) {
        sdsinf__free(ch);
        return rc;
    }
    *out = ch;
    return SDSINF_OK;
}

/* Checks an instance handed to a wrapper. */
static int check_instance(sdsinf_channel *ch, const char *call, sdsinf_err *err)
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
    if (m->max_message && len > m->max_message)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "channel '%s', worker %d: a %zu-byte message to "
                            "worker %" PRIu32 " exceeds the channel's limit of "
                            "%zu; encode it in chunks of at most that",
                            m->name, ch->self, len, key->target, m->max_message);
    rc = m->send(ch, key, msg, len, err);
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

int sdsinf_channel_close(sdsinf_channel *ch, int cleanup, sdsinf_err *err)
{
    if (!ch)
        return SDSINF_OK;
    int rc = check_instance(ch, "sdsinf_channel_close", err);
    if (rc == SDSINF_OK)
        rc = ch->methods->close(ch, cleanup, err);
    sdsinf__free(ch);
    return rc;
}
