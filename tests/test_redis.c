/* test_redis.c - what the shared conformance suite does not cover of the
 * "redis" channel: its settings (URLs, environment, TLS refused), a server
 * that is not there, passwords and permissions (SDSINF_EACCES), a server
 * out of memory (SDSINF_ETHROTTLED), Unix sockets and databases, expiry of what
 * an aborted worker leaves, a send the server refuses, a server that stops
 * answering, and distributed runs over it with duplicated and reordered
 * messages that still equal one process bit for bit and leave no key
 * behind.  Runs against the private server tests/with_redis.sh starts
 * ($SDSINF_REDIS_URL, _PORT, _SOCKET and _PID); exits 77 without one. */
#include "testutil.h"

#include "core/core.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int tu_fault_register(const char *inner, sdsinf_err *err); /* fault_channel.c */

static const char *g_url;
static uint64_t g_run;

static uint64_t new_run(void)
{
    return ++g_run;
}

/* Opens worker self of W on run; the status, with the error in *err. */
static int try_open(const char *config, int self, int W, uint64_t run,
                    sdsinf_channel **ch, sdsinf_err *err)
{
    *ch = NULL;
    return sdsinf_channel_open("redis", config, self, W, run, ch, err);
}

static sdsinf_channel *open_ok(const char *config, int self, int W,
                               uint64_t run)
{
    sdsinf_channel *ch;
    sdsinf_err err = {0};
    if (try_open(config, self, W, run, &ch, &err) != SDSINF_OK)
        fail_msg("open redis (%s): %s", config ? config : "default", err.msg);
    return ch;
}

/* The keys of run the server holds (the channel's run_residue). */
static int64_t run_keys(const char *config, uint64_t run)
{
    sdsinf_err err = {0};
    int64_t n = -1;
    if (sdsinf_channel_run_residue("redis", config, run, &n, &err) != SDSINF_OK)
        fail_msg("counting keys: %s", err.msg);
    return n;
}

/* A message to self and back. */
static void round_trip(sdsinf_channel *ch, size_t len)
{
    sdsinf_err err = {0};
    sdsinf_msg_key k = {ch->run, 0, 1, (uint32_t)ch->self, (uint32_t)ch->self,
                        0, 1};
    unsigned char *m = malloc(len + 1);
    void *p = NULL;
    size_t n = 0;
    assert_non_null(m);
    for (size_t i = 0; i < len; i++)
        m[i] = (unsigned char)(i * 7 + 3);
    if (sdsinf_channel_send(ch, &k, m, len, &err) != SDSINF_OK ||
        sdsinf_channel_recv(ch, &k, &p, &n, 5000, &err) != SDSINF_OK)
        fail_msg("round trip: %s", err.msg);
    assert_int_equal(n, len);
    assert_memory_equal(p, m, len);
    free(p);
    free(m);
}

/* Runs a shell command; its exit status. */
static int sh(const char *fmt, ...) SDSINF__PRINTF(1, 2);
static int sh(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof cmd, fmt, ap);
    va_end(ap);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- Settings --------------------------------------------------------------- */

static void expect_refused(const char *config, int code, const char *needle)
{
    sdsinf_channel *ch;
    sdsinf_err err = {0};
    int rc = try_open(config, 0, 1, new_run(), &ch, &err);
    if (rc != code || !strstr(err.msg, needle) || !strstr(err.msg, "redis"))
        fail_msg("config '%s': got %s '%s', wanted %s naming '%s'", config,
                 sdsinf_status_name(rc), err.msg, sdsinf_status_name(code),
                 needle);
    assert_null(ch);
}

static void test_settings(void **state)
{
    (void)state;
    expect_refused("rediss://127.0.0.1:6379", SDSINF_ENOTSUP, "TLS");
    expect_refused("rediss://127.0.0.1:6379", SDSINF_ENOTSUP, "hiredis >= 1.0");
    expect_refused("http://127.0.0.1", SDSINF_EINVAL, "not a Redis URL");
    expect_refused("redis://127.0.0.1:99999", SDSINF_EINVAL, "bad URL");
    expect_refused("redis://127.0.0.1:63x9", SDSINF_EINVAL, "bad URL");
    expect_refused("redis://127.0.0.1:6379/x", SDSINF_EINVAL, "bad URL");
    expect_refused("redis://:6379", SDSINF_EINVAL, "bad URL");
    expect_refused("redis://[::1:6379", SDSINF_EINVAL, "bad URL");
    expect_refused("redis://:p%zzss@127.0.0.1", SDSINF_EINVAL, "bad URL");
    expect_refused("redis://127.0.0.1?ttl=0", SDSINF_EINVAL, "ttl=0");
    expect_refused("redis://127.0.0.1?colour=blue", SDSINF_EINVAL, "colour");
    expect_refused("redis://127.0.0.1?db=2", SDSINF_EINVAL, "db=2");
    expect_refused("unix://relative.sock", SDSINF_EINVAL, "socket URL");

    /* the environment: the URL, then a bad ttl */
    char url[256];
    snprintf(url, sizeof url, "%s/0?ttl=30", g_url);
    setenv("SDSINF_REDIS_TTL", "soon", 1);
    expect_refused(NULL, SDSINF_EINVAL, "SDSINF_REDIS_TTL");
    sdsinf_channel *ch = open_ok(url, 0, 1, new_run()); /* the URL's ttl wins */
    assert_int_equal(sdsinf_channel_close(ch, 1, NULL), SDSINF_OK);
    unsetenv("SDSINF_REDIS_TTL");
    ch = open_ok(NULL, 0, 1, new_run()); /* $SDSINF_REDIS_URL */
    round_trip(ch, 100);
    assert_int_equal(sdsinf_channel_close(ch, 1, NULL), SDSINF_OK);

    /* a percent-encoded password is decoded (the server has none: AUTH is
     * refused, naming the credentials) */
    snprintf(url, sizeof url, "redis://:p%%40ss@127.0.0.1:%s",
             getenv("SDSINF_REDIS_PORT"));
    expect_refused(url, SDSINF_EINVAL, "credentials");

    /* control: unknown operations, and counting needs its argument */
    sdsinf_err err = {0};
    ch = open_ok(g_url, 0, 1, new_run());
    assert_int_equal(sdsinf_channel_control(ch, 121, NULL, &err), SDSINF_ENOTSUP);
    assert_int_equal(sdsinf_channel_run_residue("redis", g_url, ch->run, NULL,
                                                &err),
                     SDSINF_EINVAL);
    assert_int_equal(sdsinf_channel_close(ch, 1, NULL), SDSINF_OK);
}

/* No server at the address: a quick, clear error saying what to do. */
static void test_no_server(void **state)
{
    (void)state;
    double t0 = sdsinf__now();
    expect_refused("redis://127.0.0.1:1", SDSINF_EIO, "redis://127.0.0.1:1/0");
    expect_refused("redis://127.0.0.1:1", SDSINF_EIO, "redis-server --port");
    expect_refused("unix:///nonexistent/redis.sock", SDSINF_EIO,
                   "unix:///nonexistent/redis.sock");
    assert_true(sdsinf__now() - t0 < 5);
}

/* A server with a password: refused without it, with a wrong one (access
 * denied, saying where the password goes); taken from the URL or the
 * environment. */
static void test_password(void **state)
{
    (void)state;
    const char *port = getenv("SDSINF_REDIS_PORT");
    char url[256];
    assert_int_equal(sh("redis-cli -p %s config set requirepass 's3 cr@t' "
                        ">/dev/null", port), 0);
    expect_refused(g_url, SDSINF_EACCES, "needs a password");
    expect_refused(g_url, SDSINF_EACCES, "SDSINF_REDIS_PASSWORD");
    snprintf(url, sizeof url, "redis://:wrong@127.0.0.1:%s", port);
    expect_refused(url, SDSINF_EACCES, "credentials");
    expect_refused(url, SDSINF_EACCES, "WRONGPASS");
    sdsinf_err err = {0};
    assert_int_equal(sdsinf_channel_run_create("redis", url, new_run(), 2,
                                               NULL, &err),
                     SDSINF_EACCES);
    snprintf(url, sizeof url, "redis://:s3%%20cr%%40t@127.0.0.1:%s", port);
    sdsinf_channel *ch = open_ok(url, 0, 1, new_run());
    round_trip(ch, 10);
    assert_int_equal(sdsinf_channel_close(ch, 1, NULL), SDSINF_OK);
    snprintf(url, sizeof url, "redis://default:s3%%20cr%%40t@127.0.0.1:%s", port);
    ch = open_ok(url, 0, 1, new_run()); /* AUTH user password */
    assert_int_equal(sdsinf_channel_close(ch, 1, NULL), SDSINF_OK);
    setenv("SDSINF_REDIS_PASSWORD", "s3 cr@t", 1);
    ch = open_ok(g_url, 0, 1, new_run());
    round_trip(ch, 10);
    assert_int_equal(sdsinf_channel_close(ch, 1, NULL), SDSINF_OK);
    assert_int_equal(sh("redis-cli -p %s -a 's3 cr@t' --no-auth-warning "
                        "config set requirepass '' >/dev/null", port), 0);
    unsetenv("SDSINF_REDIS_PASSWORD");
    ch = open_ok(g_url, 0, 1, new_run());
    assert_int_equal(sdsinf_channel_close(ch, 1, NULL), SDSINF_OK);
}

/* A user the server denies the list commands: its sends are refused with
 * SDSINF_EACCES (the next call reports it), naming the refusal. */
static void test_no_permission(void **state)
{
    (void)state;
    const char *port = getenv("SDSINF_REDIS_PORT");
    char url[256];
    assert_int_equal(sh("redis-cli -p %s acl setuser reader on '>pw' '~*' "
                        "'&*' +@all -rpush >/dev/null", port), 0);
    snprintf(url, sizeof url, "redis://reader:pw@127.0.0.1:%s", port);
    uint64_t run = new_run();
    sdsinf_channel *a = open_ok(url, 0, 1, run);
    sdsinf_msg_key k = {run, 0, 2, 0, 0, 0, 1};
    sdsinf_err err = {0};
    void *m = NULL;
    size_t n = 0;
    assert_int_equal(sdsinf_channel_send(a, &k, "abc", 3, &err), SDSINF_OK);
    assert_int_equal(sdsinf_channel_recv(a, &k, &m, &n, 100, &err),
                     SDSINF_EACCES);
    if (!strstr(err.msg, "NOPERM") || !strstr(err.msg, "allowed"))
        fail_msg("a send without permission: %s", err.msg);
    assert_int_equal(sdsinf_channel_close(a, 1, &err), SDSINF_OK);
    assert_int_equal(sh("redis-cli -p %s acl deluser reader >/dev/null", port),
                     0);
    assert_int_equal(run_keys(g_url, run), 0);
}

/* A server out of memory refuses writes: SDSINF_ETHROTTLED, saying to
 * retry or raise maxmemory. */
static void test_throttled(void **state)
{
    (void)state;
    const char *port = getenv("SDSINF_REDIS_PORT");
    uint64_t run = new_run();
    sdsinf_channel *a = open_ok(g_url, 0, 1, run);
    sdsinf_msg_key k = {run, 0, 2, 0, 0, 0, 1};
    sdsinf_err err = {0};
    void *m = NULL;
    size_t n = 0;
    assert_int_equal(sh("redis-cli -p %s config set maxmemory 1 >/dev/null",
                        port), 0);
    int sent = sdsinf_channel_send(a, &k, "abc", 3, &err);
    int rc = sdsinf_channel_recv(a, &k, &m, &n, 100, &err);
    int created = sdsinf_channel_run_create("redis", g_url, new_run(), 1, NULL,
                                            NULL);
    assert_int_equal(sh("redis-cli -p %s config set maxmemory 0 >/dev/null",
                        port), 0);
    assert_int_equal(sent, SDSINF_OK);
    assert_int_equal(rc, SDSINF_ETHROTTLED);
    if (!strstr(err.msg, "OOM") || !strstr(err.msg, "maxmemory"))
        fail_msg("a server out of memory: %s", err.msg);
    assert_int_equal(created, SDSINF_ETHROTTLED);
    assert_int_equal(sdsinf_channel_close(a, 1, &err), SDSINF_OK);
    assert_int_equal(run_keys(g_url, run), 0);
}

static void test_unix_socket_and_db(void **state)
{
    (void)state;
    const char *sock = getenv("SDSINF_REDIS_SOCKET");
    char url[512];
    if (!sock)
        skip();
    snprintf(url, sizeof url, "unix://%s?db=3&ttl=60", sock);
    uint64_t run = new_run();
    sdsinf_channel *a = open_ok(url, 0, 2, run), *b = open_ok(url, 1, 2, run);
    round_trip(a, 70000); /* over the direct-write size */
    sdsinf_msg_key k = {run, 0, 0, 0, 1, 0, 1};
    assert_int_equal(sdsinf_channel_send(a, &k, "x", 1, NULL), SDSINF_OK);
    assert_int_equal(run_keys(url, run), 1); /* in database 3 */
    assert_int_equal(run_keys(g_url, run), 0);
    assert_int_equal(sdsinf_channel_close(a, 1, NULL), SDSINF_OK);
    assert_int_equal(sdsinf_channel_close(b, 0, NULL), SDSINF_OK);
    assert_int_equal(run_keys(url, run), 0);
}

/* A worker that dies after sending leaves a list the server drops after
 * the ttl; the lists carry it from the first message on. */
static void test_expiry(void **state)
{
    (void)state;
    char url[256];
    snprintf(url, sizeof url, "%s?ttl=1", g_url);
    uint64_t run = new_run();
    fflush(stdout);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) { /* sends to worker 1, then dies without closing */
        sdsinf_channel *ch = NULL;
        sdsinf_msg_key k = {run, 0, 0, 0, 1, 0, 1}, w = {run, 0, 0, 1, 0, 0, 1};
        void *m = NULL;
        size_t n = 0;
        int rc = sdsinf_channel_open("redis", url, 0, 2, run, &ch, NULL);
        if (rc == SDSINF_OK)
            rc = sdsinf_channel_send(ch, &k, "abc", 3, NULL);
        if (rc == SDSINF_OK) /* confirmed: a poll reads the send's replies */
            rc = sdsinf_channel_recv(ch, &w, &m, &n, 0, NULL) == SDSINF_ETIMEDOUT
                     ? SDSINF_OK
                     : SDSINF_EIO;
        _exit(rc == SDSINF_OK ? 0 : 1);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_int_equal(run_keys(g_url, run), 1);
    double t0 = sdsinf__now();
    while (run_keys(g_url, run) != 0 && sdsinf__now() - t0 < 5)
        sdsinf__sleep_ms(50);
    assert_int_equal(run_keys(g_url, run), 0);
    assert_true(sdsinf__now() - t0 > 0.5);
}

/* A send the server refuses (the target's key holds a string) is reported
 * by the sender's next call, naming the message. */
static void test_refused_send(void **state)
{
    (void)state;
    uint64_t run = new_run();
    assert_int_equal(sh("redis-cli -p %s set 'sdsinf:{%" PRIu64 "}:1' x "
                        ">/dev/null", getenv("SDSINF_REDIS_PORT"), run), 0);
    sdsinf_channel *a = open_ok(g_url, 0, 2, run);
    sdsinf_msg_key k = {run, 2, 5, 0, 1, 0, 1}, w = {run, 2, 5, 1, 0, 0, 1};
    sdsinf_err err = {0};
    void *m = NULL;
    size_t n = 0;
    assert_int_equal(sdsinf_channel_send(a, &k, "abcd", 4, &err), SDSINF_OK);
    assert_int_equal(sdsinf_channel_recv(a, &w, &m, &n, 100, &err), SDSINF_EIO);
    if (!strstr(err.msg, "WRONGTYPE") || !strstr(err.msg, "to worker 1") ||
        !strstr(err.msg, "layer 5"))
        fail_msg("a refused send: %s", err.msg);
    assert_int_equal(sdsinf_channel_recv(a, &w, &m, &n, 0, &err),
                     SDSINF_ETIMEDOUT); /* reported once */
    assert_int_equal(sdsinf_channel_close(a, 1, &err), SDSINF_OK);
    assert_int_equal(run_keys(g_url, run), 0);
}

/* A server that stops answering: a receive still ends, within its wait
 * and the slack, saying so; once the server is back, the next call
 * connects again and works. */
static void test_stopped_server(void **state)
{
    (void)state;
    const char *pid_s = getenv("SDSINF_REDIS_PID");
    if (!pid_s)
        skip();
    pid_t pid = (pid_t)atol(pid_s);
    uint64_t run = new_run();
    sdsinf_channel *ch = open_ok(g_url, 0, 1, run);
    sdsinf_msg_key k = {run, 0, 0, 0, 0, 0, 1};
    sdsinf_err err = {0};
    void *m = NULL;
    size_t n = 0;
    round_trip(ch, 10);
    assert_int_equal(kill(pid, SIGSTOP), 0);
    double t0 = sdsinf__now();
    int sent = sdsinf_channel_send(ch, &k, "late", 4, &err); /* unconfirmed */
    int rc = sdsinf_channel_recv(ch, &k, &m, &n, 300, &err);
    double took = sdsinf__now() - t0;
    kill(pid, SIGCONT);
    assert_int_equal(sent, SDSINF_OK);
    assert_int_equal(rc, SDSINF_ETIMEDOUT);
    if (!strstr(err.msg, "no answer") || !strstr(err.msg, g_url))
        fail_msg("a stopped server: %s", err.msg);
    assert_true(took > 0.3 && took < 6);
    print_message("stopped server: %.2f s: %s\n", took, err.msg);
    /* the send went through before the server stopped, or not at all */
    rc = sdsinf_channel_recv(ch, &k, &m, &n, 1000, &err);
    assert_true(rc == SDSINF_OK || rc == SDSINF_ETIMEDOUT);
    if (rc == SDSINF_OK)
        free(m);
    round_trip(ch, 10);
    assert_int_equal(sdsinf_channel_close(ch, 1, &err), SDSINF_OK);
}

/* ---- Distributed runs over redis --------------------------------------------- */

/* "shuffle:redis": duplicates what a worker sends (a copy right after the
 * message) and reorders what it receives (a message held back while the
 * next one, already there, goes first), each with probability 1/3, seeded
 * per worker.  Unlike fault_channel.c's reordering on the send side, it
 * never holds a message past the receiver's next call, so a worker that
 * closes as it finishes loses nothing. */
typedef struct shuffle_channel {
    sdsinf_channel base;
    sdsinf_channel *inner;
    uint64_t rng;
    void *held;
    size_t held_len;
    int has_held;
} shuffle_channel;

static int coin(shuffle_channel *sc)
{
    sc->rng = sc->rng * 6364136223846793005ull + 1442695040888963407ull;
    return (sc->rng >> 33) % 3 == 0;
}

static int shuffle_open(sdsinf_channel *ch, const char *config, sdsinf_err *err)
{
    shuffle_channel *sc = (shuffle_channel *)ch;
    sc->rng = 77 + (uint64_t)ch->self;
    return sdsinf_channel_open("redis", config, ch->self, ch->workers, ch->run,
                               &sc->inner, err);
}

static int shuffle_send(sdsinf_channel *ch, const sdsinf_msg_key *key,
                        const void *msg, size_t len, sdsinf_err *err)
{
    shuffle_channel *sc = (shuffle_channel *)ch;
    int rc = sdsinf_channel_send(sc->inner, key, msg, len, err);
    if (rc == SDSINF_OK && coin(sc))
        rc = sdsinf_channel_send(sc->inner, key, msg, len, err);
    return rc;
}

static int shuffle_recv(sdsinf_channel *ch, const sdsinf_msg_key *want,
                        void **msg, size_t *len, int timeout_ms,
                        sdsinf_err *err)
{
    shuffle_channel *sc = (shuffle_channel *)ch;
    void *m = NULL, *next = NULL;
    size_t n = 0, next_n = 0;
    if (sc->has_held) { /* what was held back goes now */
        *msg = sc->held;
        *len = sc->held_len;
        sc->has_held = 0;
        return SDSINF_OK;
    }
    int rc = sdsinf_channel_recv(sc->inner, want, &m, &n, timeout_ms, err);
    if (rc == SDSINF_OK && coin(sc) &&
        sdsinf_channel_recv(sc->inner, want, &next, &next_n, 0, NULL) ==
            SDSINF_OK) {
        sc->held = m; /* the later one overtakes it */
        sc->held_len = n;
        sc->has_held = 1;
        m = next;
        n = next_n;
    }
    if (rc == SDSINF_OK) {
        *msg = m;
        *len = n;
    }
    return rc;
}

static int shuffle_close(sdsinf_channel *ch, int cleanup, sdsinf_err *err)
{
    shuffle_channel *sc = (shuffle_channel *)ch;
    if (sc->has_held)
        free(sc->held);
    return sdsinf_channel_close(sc->inner, cleanup, err);
}

/* A version 1 table (the core counts its calls as requests; a run over it
 * has no create or destroy: its redis instances clean up as they close). */
static const sdsinf_channel_methods shuffle_methods = {
    .version = 1, .name = "shuffle:redis",
    .instance_size = sizeof(shuffle_channel), .caps = SDSINF_CAP_PROCESSES,
    .open = shuffle_open, .send = shuffle_send, .recv = shuffle_recv,
    .close = shuffle_close};

typedef struct fixture {
    sdsinf_model *m;
    sdsinf_csr images;
    sdsinf_result single;
} fixture;

static void run_equal(fixture *f, int W, const char *launcher,
                      const char *channel, const char *config)
{
    sdsinf_partition_opts po;
    sdsinf_plan *p;
    sdsinf_err err = {0};
    sdsinf_partition_opts_init(&po);
    po.workers = W;
    po.method = "block";
    assert_int_equal(sdsinf_partition(f->m, &po, &p, &err), SDSINF_OK);
    sdsinf_run_opts ro;
    sdsinf_run_opts_init(&ro);
    ro.launcher = launcher;
    ro.channel = channel;
    ro.channel_config = config;
    ro.batch_size = 40;
    ro.timeout_ms = 20000;
    ro.run_id = new_run();
    sdsinf_result r;
    sdsinf_run_stats st;
    if (sdsinf_run(f->m, p, &f->images, &ro, &r, &st, &err) != SDSINF_OK)
        fail_msg("W=%d %s over %s: %s", W, launcher, channel, err.msg);
    assert_int_equal(r.images, f->single.images);
    assert_memory_equal(r.argmax, f->single.argmax,
                        (size_t)r.images * sizeof *r.argmax);
    assert_memory_equal(r.max, f->single.max, (size_t)r.images * sizeof *r.max);
    if (!strncmp(channel, "shuffle:", 8))
        assert_true(st.duplicates > 0); /* the faults showed */
    /* the requests: the records' (each layer's round trips) and, in the
     * total, the coordinator's; a send is one round trip here */
    sdsinf_requests rec = {0};
    for (int64_t i = 0; i < st.nrecords; i++) {
        rec.send += st.records[i].requests.send;
        rec.receive += st.records[i].requests.receive;
    }
    assert_true(rec.send >= st.messages_sent && rec.receive > 0);
    assert_true(st.requests.send >= rec.send &&
                st.requests.receive >= rec.receive);
    print_message("W=%d %s over %s: %.3f s, %" PRIu64 " messages, %" PRIu64
                  " duplicates dropped\n",
                  W, launcher, channel, st.seconds, st.messages_sent,
                  st.duplicates);
    assert_int_equal(run_keys(g_url, ro.run_id), 0);
    sdsinf_run_stats_free(&st);
    sdsinf_result_free(&r);
    sdsinf_plan_free(p);
}

static void test_runs(void **state)
{
    (void)state;
    fixture f;
    sdsinf_gen_opts g;
    sdsinf_gen_opts_init(&g);
    g.neurons = 256;
    g.layers = 12;
    g.images = 120;
    g.seed = 3;
    assert_int_equal(sdsinf_generate_model(&g, &f.m, NULL), SDSINF_OK);
    assert_int_equal(sdsinf_generate_images(&g, &f.images, NULL), SDSINF_OK);
    assert_int_equal(sdsinf_infer(f.m, &f.images, NULL, &f.single, NULL),
                     SDSINF_OK);
    char faults[512];
    snprintf(faults, sizeof faults, "seed=9,dup=0.3|%s", g_url);
    assert_int_equal(tu_fault_register("redis", NULL), SDSINF_OK);
    assert_int_equal(sdsinf_channel_register(&shuffle_methods, NULL), SDSINF_OK);
    run_equal(&f, 4, "threads", "redis", g_url);
    run_equal(&f, 5, "local", "redis", NULL);
    run_equal(&f, 4, "threads", "shuffle:redis", g_url);
    run_equal(&f, 3, "local", "shuffle:redis", NULL); /* forked workers */
    /* fault_channel.c's duplicates too (its reordering and delays on the
     * channel alone: conformance.faulty_redis) */
    run_equal(&f, 4, "threads", "faulty:redis", faults);
    sdsinf_model_free(f.m);
    sdsinf_csr_free(&f.images);
    sdsinf_result_free(&f.single);
}

int main(void)
{
    g_url = getenv("SDSINF_REDIS_URL");
    if (!g_url || !getenv("SDSINF_REDIS_PORT")) {
        fprintf(stderr, "SKIP: no server; run me through tests/with_redis.sh\n");
        return 77;
    }
    g_run = ((uint64_t)getpid() << 32) ^ ((uint64_t)time(NULL) << 8);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_settings),
        cmocka_unit_test(test_no_server),
        cmocka_unit_test(test_password),
        cmocka_unit_test(test_no_permission),
        cmocka_unit_test(test_throttled),
        cmocka_unit_test(test_unix_socket_and_db),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_refused_send),
        cmocka_unit_test(test_stopped_server),
        cmocka_unit_test(test_runs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
