/* channels/redis.c - the "redis" channel: workers on any machines that reach
 * one Redis server (>= 6.0), through hiredis.
 *
 * Layout: one list per worker and run, at the key "sdsinf:{<run>}:<w>"
 * (the braces keep a run's keys in one slot of a Redis Cluster).  A send
 * appends the message's bytes (its key is in its own header) to its
 * target's list (RPUSH) and sets the list's expiry (EXPIRE, the ttl
 * setting) in one MULTI/EXEC, so a list never exists without an expiry:
 * whatever a run aborted on every side leaves, the server drops after ttl
 * seconds.
 * recv pops the worker's own list: BLPOP (a wait in seconds with
 * millisecond digits) until POLL_TAIL_MS before the deadline, then LPOP
 * with pauses of up to 2 ms: Redis ends a blocking wait only on its timer
 * (1/hz s, 100 ms by default, late), and recv ends on time.  A message that
 * comes during a BLPOP ends it at once; on Redis >= 6.2 the same round trip
 * takes what else the list holds (LPOP with a count, up to POP_BATCH),
 * kept for the next calls.
 *
 * Round trips: a send writes its commands and returns without reading the
 * replies (at most MAX_PENDING sends stay unconfirmed); the next recv (or
 * close, or a send past the bound) reads them in the same round trip as
 * its pop, and reports a send the server refused.  Each instance has its
 * own connection, made in open (a fork()ed process opens its own).
 *
 * Settings (the config string, else $SDSINF_REDIS_URL, else
 * redis://127.0.0.1:6379):
 *   redis://[[user]:password@]host[:port][/db][?ttl=S]
 *   unix://[[user]:password@]/path/to/redis.sock[?db=N&ttl=S]
 * Passwords may be %-encoded; without one in the URL, $SDSINF_REDIS_PASSWORD
 * is used; ttl defaults to $SDSINF_REDIS_TTL, else 600 s.  rediss:// (TLS)
 * is refused: it needs hiredis >= 1.0 with SSL (hiredis_ssl).
 *
 * Cleanup: run_create (the run's coordinator) sets a mark key,
 * "sdsinf:{<run>}:created" (with the ttl), that each open reads in its
 * first round trip, and run_destroy removes the run's keys (UNLINK of the
 * known names: the lists 0..W-1 and the marks; never a KEYS scan).  In a
 * run made without run_create: every instance's connection is named
 * "sdsinf-<run>-<w>" (CLIENT SETNAME) while it is open; close(cleanup=1)
 * sets a mark key ("sdsinf:{<run>}:cleanup"); then any close drops its
 * name and, when the server (CLIENT LIST) shows no other connection of the
 * run and the mark is there, removes the run's keys.  A worker that died
 * lost its connection, so it never holds a run's cleanup back.  Where the
 * server refuses CLIENT SETNAME or CLIENT LIST, cleanup is left to the
 * expiry.  run_residue counts the run's keys (SCAN).
 *
 * Requests: a round trip is one (a send's MULTI..EXEC, though its replies
 * are read later, is a send; a pop a receive, empty when it got nothing;
 * CLIENT LIST and SCAN lists; an UNLINK batch a remove).  Refusals map to
 * statuses: NOAUTH, WRONGPASS, NOPERM to SDSINF_EACCES; BUSY, OOM,
 * LOADING, TRYAGAIN, MASTERDOWN and a full client table to
 * SDSINF_ETHROTTLED.
 *
 * Sections: settings, connection, replies of sends, open and close, send
 * and receive, the run's keys. */
#include "channels/channels.h"

#include <hiredis/hiredis.h>

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_URL "redis://127.0.0.1:6379"
#define DEFAULT_TTL_S 600
#define MAX_TTL_S 315360000 /* ten years */
#define CONNECT_TIMEOUT_MS 5000
#define COMMAND_TIMEOUT_MS 10000 /* the longest wait for an ordinary reply */
#define REPLY_SLACK_MS 2000      /* a receive's replies, past its wait */
#define POLL_TAIL_MS 150         /* the end of a wait polls (LPOP): Redis
                                    ends blocking waits on its timer, up to
                                    1/hz s (100 ms by default) late */
#define POLL_FIRST_MS 0.05       /* the tail's first pause, doubling to */
#define POLL_MAX_MS 2.0
#define MAX_PENDING 256          /* sends whose replies are not read yet */
#define POP_BATCH 32             /* messages one receive takes at most */
#define SEND_REPLIES 4           /* MULTI, RPUSH, EXPIRE, EXEC */
#define UNLINK_BATCH 64          /* keys per UNLINK */
#define KEY_CAP 64               /* "sdsinf:{<run>}:<w>" */
#define DIRECT_MIN (64u << 10)   /* messages from this size skip hiredis's
                                    output buffer */
#define HINT "is redis-server running? start it with `redis-server --port 6379`"

/* A send whose replies have not been read: what it was, for messages. */
typedef struct redis_pending {
    uint32_t target, batch, layer;
    size_t len;
} redis_pending;

typedef struct redis_channel {
    sdsinf_channel base;
    redisContext *c;  /* NULL when not connected (or the link broke) */
    pid_t pid;        /* the process that opened the instance */
    int named;        /* the connection carries the run's client name */
    int created;      /* the run was made by run_create (its mark is set) */
    int timeout_ms;   /* the socket timeout now set; 0: none set */
    /* settings */
    char host[256], path[108], user[128], pass[256];
    int port, db;
    long ttl_s;
    char where[300];  /* the server, for messages (no password) */
    char name[64];    /* the connection's name */
    char who[32];     /* "worker <w>", or "the coordinator", for messages */
    char prefix[48];  /* "sdsinf:{<run>}:" */
    /* sends not confirmed yet: a ring */
    redis_pending pend[MAX_PENDING];
    int npend, pend0;
    /* messages popped, not returned yet: a ring */
    struct {
        void *data;
        size_t len;
    } got[POP_BATCH];
    int ngot, got0;
    int version;      /* the server's, major * 100 + minor; -1: unknown */
} redis_channel;

/* ---- Settings -------------------------------------------------------------- */

/* Copies s[0..n) into dst (cap bytes), decoding %XX; -1 when it does not
 * fit or an escape is bad. */
static int copy_decoded(char *dst, size_t cap, const char *s, size_t n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int ch = (unsigned char)s[i];
        if (ch == '%') {
            char hex[3] = {0}, *end;
            if (i + 2 >= n)
                return -1;
            hex[0] = s[i + 1];
            hex[1] = s[i + 2];
            ch = (int)strtol(hex, &end, 16);
            if (*end || hex[0] == '-' || hex[0] == '+' || hex[0] == ' ')
                return -1;
            i += 2;
        }
        if (o + 1 >= cap)
            return -1;
        dst[o++] = (char)ch;
    }
    dst[o] = 0;
    return 0;
}

/* A whole decimal number in [lo, hi] from s[0..n); -1 if not one. */
static long parse_num(const char *s, size_t n, long lo, long hi)
{
    long v = 0;
    if (n == 0 || n > 10)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v < lo || v > hi ? -1 : v;
}

/* The query "k=v&k=v" of a URL: ttl and (unix sockets) db. */
static int parse_query(redis_channel *rc, const char *q, int unix_socket,
                       int *ttl_given, sdsinf_err *err)
{
    while (*q) {
        size_t len = strcspn(q, "&");
        const char *eq = memchr(q, '=', len);
        long v = -1;
        if (eq && (size_t)(eq - q) == 3 && !strncmp(q, "ttl", 3)) {
            v = parse_num(eq + 1, len - 4, 1, MAX_TTL_S);
            rc->ttl_s = v;
            *ttl_given = 1;
        } else if (eq && unix_socket && (size_t)(eq - q) == 2 &&
                   !strncmp(q, "db", 2)) {
            v = parse_num(eq + 1, len - 3, 0, 1000000);
            rc->db = (int)v;
        }
        if (v < 0)
            return sdsinf__fail(err, SDSINF_EINVAL,
                                "channel 'redis': bad setting '%.*s' in the "
                                "URL (known: ttl=SECONDS from 1 to %d%s)",
                                (int)(len < 60 ? len : 60), q, MAX_TTL_S,
                                unix_socket ? ", db=N" : "");
        q += len + (q[len] == '&');
    }
    return SDSINF_OK;
}

/* "[user]:password@" at the start of s (up to `end`): fills user and pass;
 * returns where the rest begins. */
static const char *parse_userinfo(redis_channel *rc, const char *s,
                                  const char *end, int *bad)
{
    const char *at = memchr(s, '@', (size_t)(end - s));
    *bad = 0;
    if (!at)
        return s;
    const char *colon = memchr(s, ':', (size_t)(at - s));
    if (!colon) { /* "user@": a user without a password */
        *bad = copy_decoded(rc->user, sizeof rc->user, s, (size_t)(at - s));
        return at + 1;
    }
    *bad = copy_decoded(rc->user, sizeof rc->user, s, (size_t)(colon - s)) ||
           copy_decoded(rc->pass, sizeof rc->pass, colon + 1,
                        (size_t)(at - colon - 1));
    return at + 1;
}

/* Fills the connection settings from the config string or the
 * environment. */
static int parse_config(redis_channel *rc, const char *config, sdsinf_err *err)
{
    const char *url = config && config[0] ? config : getenv("SDSINF_REDIS_URL");
    int ttl_given = 0, bad = 0, unix_socket = 0;
    if (!url || !url[0])
        url = DEFAULT_URL;
    rc->port = 6379;
    rc->ttl_s = DEFAULT_TTL_S;
    if (!strncmp(url, "rediss://", 9))
        return sdsinf__fail(err, SDSINF_ENOTSUP,
                            "channel 'redis': TLS (rediss://) needs hiredis >= "
                            "1.0 built with SSL; this build has hiredis %d.%d "
                            "without it: use redis:// on a trusted network or "
                            "a TLS tunnel (stunnel, ssh -L)",
                            HIREDIS_MAJOR, HIREDIS_MINOR);
    if (!strncmp(url, "unix://", 7))
        unix_socket = 1;
    else if (strncmp(url, "redis://", 8) != 0)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "channel 'redis': '%.80s' is not a Redis URL: "
                            "redis://[:password@]host[:port][/db] or "
                            "unix:///path/to/redis.sock",
                            url);
    const char *s = url + (unix_socket ? 7 : 8);
    const char *q = strchr(s, '?');
    const char *end = q ? q : s + strlen(s);
    if (unix_socket) {
        const char *slash = memchr(s, '/', (size_t)(end - s));
        const char *p = slash ? parse_userinfo(rc, s, slash, &bad) : s;
        if (bad || p != slash || (size_t)(end - p) >= sizeof rc->path)
            return sdsinf__fail(err, SDSINF_EINVAL,
                                "channel 'redis': bad socket URL '%.80s': "
                                "unix://[:password@]/path/to/redis.sock",
                                url);
        memcpy(rc->path, p, (size_t)(end - p));
        rc->path[end - p] = 0;
    } else {
        const char *hostend = memchr(s, '/', (size_t)(end - s));
        if (!hostend)
            hostend = end;
        const char *h = parse_userinfo(rc, s, hostend, &bad);
        const char *portp = NULL, *hend = hostend;
        if (*h == '[') { /* an IPv6 address */
            const char *rb = memchr(h, ']', (size_t)(hostend - h));
            bad |= !rb;
            if (rb) {
                portp = rb + 1 < hostend && rb[1] == ':' ? rb + 2 : NULL;
                bad |= rb + 1 < hostend && rb[1] != ':';
                hend = rb;
                h++;
            }
        } else {
            const char *colon = memchr(h, ':', (size_t)(hostend - h));
            if (colon) {
                portp = colon + 1;
                hend = colon;
            }
        }
        if (!bad && hend > h && (size_t)(hend - h) < sizeof rc->host) {
            memcpy(rc->host, h, (size_t)(hend - h));
            rc->host[hend - h] = 0;
        } else {
            bad = 1;
        }
        long port = portp ? parse_num(portp, (size_t)(hostend - portp), 1, 65535)
                          : 6379;
        long db = hostend + 1 < end
                      ? parse_num(hostend + 1, (size_t)(end - hostend - 1), 0,
                                  1000000)
                      : 0;
        if (bad || port < 0 || db < 0)
            return sdsinf__fail(err, SDSINF_EINVAL,
                                "channel 'redis': bad URL '%.80s': "
                                "redis://[[user]:password@]host[:port][/db]"
                                "[?ttl=S]",
                                url);
        rc->port = (int)port;
        rc->db = (int)db;
    }
    if (q) {
        int r = parse_query(rc, q + 1, unix_socket, &ttl_given, err);
        if (r != SDSINF_OK)
            return r;
    }
    const char *env = getenv("SDSINF_REDIS_PASSWORD");
    if (!rc->pass[0] && env && env[0]) {
        if (strlen(env) >= sizeof rc->pass)
            return sdsinf__fail(err, SDSINF_EINVAL,
                                "channel 'redis': $SDSINF_REDIS_PASSWORD is "
                                "over %zu bytes",
                                sizeof rc->pass - 1);
        memcpy(rc->pass, env, strlen(env) + 1);
    }
    env = getenv("SDSINF_REDIS_TTL");
    if (!ttl_given && env && env[0]) {
        long v = parse_num(env, strlen(env), 1, MAX_TTL_S);
        if (v < 0)
            return sdsinf__fail(err, SDSINF_EINVAL,
                                "channel 'redis': $SDSINF_REDIS_TTL='%.40s' "
                                "must be seconds from 1 to %d",
                                env, MAX_TTL_S);
        rc->ttl_s = v;
    }
    if (unix_socket && rc->db)
        snprintf(rc->where, sizeof rc->where, "unix://%s?db=%d", rc->path,
                 rc->db);
    else if (unix_socket)
        snprintf(rc->where, sizeof rc->where, "unix://%s", rc->path);
    else
        snprintf(rc->where, sizeof rc->where, "redis://%s%s%s:%d/%d",
                 strchr(rc->host, ':') ? "[" : "", rc->host,
                 strchr(rc->host, ':') ? "]" : "", rc->port, rc->db);
    return SDSINF_OK;
}

/* ---- Connection -------------------------------------------------------------- */

static struct timeval tv_of(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    return tv;
}

/* Sets the socket timeout of reads and writes to ms, when it changes; to
 * -ms when it is below that (a receive's timeout serves an ordinary
 * command too: fewer system calls). */
static void set_timeout(redis_channel *rc, int ms)
{
    if (ms < 0 && rc->timeout_ms >= -ms)
        return;
    ms = ms < 0 ? -ms : ms;
    if (rc->c && rc->timeout_ms != ms &&
        redisSetTimeout(rc->c, tv_of(ms)) == REDIS_OK)
        rc->timeout_ms = ms;
}

/* Writes the commands appended so far, whole.  hiredis writes with write():
 * SIGPIPE is blocked meanwhile, and one it raised is taken back, so a
 * server that hung up is an error, never the signal.  0 or -1. */
static int flush_out(redis_channel *rc)
{
    sigset_t pipe_set, old, pending;
    sigemptyset(&pipe_set);
    sigaddset(&pipe_set, SIGPIPE);
    sigpending(&pending);
    int was_pending = sigismember(&pending, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
    int done = 0, ok;
    do
        ok = redisBufferWrite(rc->c, &done) == REDIS_OK;
    while (ok && !done);
    if (!ok && !was_pending) {
        struct timespec zero = {0, 0};
        sigpending(&pending);
        if (sigismember(&pending, SIGPIPE))
            sigtimedwait(&pipe_set, NULL, &zero);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return ok ? 0 : -1;
}

static int get_reply(redis_channel *rc, redisReply **r)
{
    void *p = NULL;
    if (redisGetReply(rc->c, &p) != REDIS_OK || !p)
        return -1;
    *r = p;
    return 0;
}

/* Drops the connection after a failure (a reply may be half read). */
static void disconnect(redis_channel *rc)
{
    if (rc->c)
        redisFree(rc->c);
    rc->c = NULL;
    rc->timeout_ms = 0;
    rc->npend = rc->pend0 = 0;
}

/* A failure of the link while `doing` (e: the errno of a write of our
 * own, else 0 for hiredis's error): the connection is dropped (the next
 * call makes a new one). */
static int link_fail_errno(redis_channel *rc, const char *doing, int e,
                           sdsinf_err *err)
{
    char why[128];
    int timed = e == EAGAIN || e == EWOULDBLOCK;
    if (e) {
        snprintf(why, sizeof why, "%s", strerror(e));
    } else if (rc->c && rc->c->err) {
        snprintf(why, sizeof why, "%s", rc->c->errstr);
        timed = rc->c->err == REDIS_ERR_IO &&
                (!strcmp(rc->c->errstr, strerror(EAGAIN)) ||
                 !strcmp(rc->c->errstr, strerror(EWOULDBLOCK)));
    } else {
        snprintf(why, sizeof why, "no reply");
    }
    int unconfirmed = rc->npend, within_ms = rc->timeout_ms;
    disconnect(rc);
    if (timed)
        return sdsinf__fail(err, SDSINF_ETIMEDOUT,
                            "channel 'redis': %s got no answer from %s "
                            "within %d ms while %s (%d sends unconfirmed); is "
                            "the server overloaded or stopped?",
                            rc->who, rc->where, within_ms,
                            doing, unconfirmed);
    return sdsinf__fail(err, SDSINF_EIO,
                        "channel 'redis': %s lost %s while %s: %s (%d "
                        "sends unconfirmed); " HINT,
                        rc->who, rc->where, doing, why, unconfirmed);
}

static int link_fail(redis_channel *rc, const char *doing, sdsinf_err *err)
{
    return link_fail_errno(rc, doing, 0, err);
}

/* Writes the iovecs whole on the connection's socket (blocking, within the
 * socket's timeout), never raising SIGPIPE: 0, or an errno. */
static int write_direct(int fd, struct iovec *iov, int n)
{
    while (n > 0) {
        struct msghdr mh;
        memset(&mh, 0, sizeof mh);
        mh.msg_iov = iov;
        mh.msg_iovlen = (size_t)n;
        ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return errno;
        size_t done = (size_t)w;
        while (n > 0 && done >= iov->iov_len) {
            done -= iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + done;
            iov->iov_len -= done;
        }
    }
    return 0;
}

/* The status of an error reply: access refused (SDSINF_EACCES), load shed
 * (SDSINF_ETHROTTLED), else dflt. */
static int reply_status(const char *reply, int dflt)
{
    static const char *const denied[] = {"NOAUTH", "WRONGPASS", "NOPERM"};
    static const char *const shed[] = {"BUSY", "OOM", "LOADING", "TRYAGAIN",
                                       "MASTERDOWN"};
    size_t n = strcspn(reply, " ");
    for (size_t i = 0; i < sizeof denied / sizeof *denied; i++)
        if (n == strlen(denied[i]) && !strncmp(reply, denied[i], n))
            return SDSINF_EACCES;
    for (size_t i = 0; i < sizeof shed / sizeof *shed; i++)
        if (n == strlen(shed[i]) && !strncmp(reply, shed[i], n))
            return SDSINF_ETHROTTLED;
    return strstr(reply, "max number of clients") ? SDSINF_ETHROTTLED : dflt;
}

/* What to do about a refusal of that status ("" for others). */
static const char *refusal_hint(int code)
{
    return code == SDSINF_EACCES
               ? "; give a user allowed the list commands and its password: "
                 "redis://[USER]:PASSWORD@host:port or $SDSINF_REDIS_PASSWORD"
           : code == SDSINF_ETHROTTLED
               ? "; the server sheds load (busy, out of memory, or at its "
                 "client limit): retry later, or raise its maxmemory or "
                 "maxclients"
               : "";
}

/* The failure of a request `what` the server refused with `reply`: its
 * status (reply_status, else dflt) and a message saying what to do. */
static int refused(const redis_channel *rc, const char *what,
                   const char *reply, int dflt, sdsinf_err *err)
{
    int code = reply_status(reply, dflt);
    /* the reply (the cause) short enough that all of it fits */
    return sdsinf__fail(err, code, "channel 'redis': %s refused %s: %.80s%s",
                        rc->where, what, reply, refusal_hint(code));
}

/* The server's version from INFO's text, as major * 100 + minor; -1. */
static int server_version(const char *info)
{
    const char *v = info ? strstr(info, "redis_version:") : NULL;
    int major = 0, minor = 0;
    if (!v || sscanf(v + 14, "%d.%d", &major, &minor) != 2)
        return -1;
    return major * 100 + minor;
}

/* Connects, authenticates, selects the database and names the connection
 * (one round trip after the connect). */
static int connect_server(redis_channel *rc, sdsinf_err *err)
{
    struct timeval tv = tv_of(CONNECT_TIMEOUT_MS);
    redisContext *c = rc->path[0] ? redisConnectUnixWithTimeout(rc->path, tv)
                                  : redisConnectWithTimeout(rc->host, rc->port, tv);
    int code = SDSINF_OK;
    if (!c)
        return sdsinf__fail(err, SDSINF_ENOMEM,
                            "channel 'redis': no memory for %s's connection",
                            rc->who);
    rc->c = c;
    rc->timeout_ms = 0;
    rc->version = -1;
    if (c->err) {
        code = sdsinf__fail(err, SDSINF_EIO,
                            "channel 'redis': %s cannot connect to %s: "
                            "%s; " HINT ", or set SDSINF_REDIS_URL",
                            rc->who, rc->where, c->errstr);
        goto done;
    }
    if (!rc->path[0])
        redisEnableKeepAlive(c);
    set_timeout(rc, -COMMAND_TIMEOUT_MS);
    char db[16];
    snprintf(db, sizeof db, "%d", rc->db);
    int nrep = 0, ok = 1;
    if (rc->pass[0]) { /* AUTH [user] password */
        const char *argv[3] = {"AUTH", rc->user[0] ? rc->user : rc->pass,
                               rc->pass};
        ok &= redisAppendCommandArgv(c, rc->user[0] ? 3 : 2, argv, NULL) ==
              REDIS_OK;
        nrep++;
    }
    if (rc->db) {
        const char *argv[2] = {"SELECT", db};
        ok &= redisAppendCommandArgv(c, 2, argv, NULL) == REDIS_OK;
        nrep++;
    }
    char mark[KEY_CAP];
    snprintf(mark, sizeof mark, "%screated", rc->prefix);
    const char *name_argv[3] = {"CLIENT", "SETNAME", rc->name};
    const char *info_argv[2] = {"INFO", "server"};
    const char *created_argv[2] = {"EXISTS", mark};
    ok &= redisAppendCommandArgv(c, 3, name_argv, NULL) == REDIS_OK;
    ok &= redisAppendCommandArgv(c, 2, info_argv, NULL) == REDIS_OK;
    ok &= redisAppendCommandArgv(c, 2, created_argv, NULL) == REDIS_OK;
    nrep += 3;
    if (!ok || flush_out(rc) != 0) {
        code = link_fail(rc, "opening", err);
        goto done;
    }
    for (int i = 0; i < nrep; i++) {
        redisReply *r;
        if (get_reply(rc, &r) != 0) {
            code = link_fail(rc, "opening", err);
            goto done;
        }
        int is_err = r->type == REDIS_REPLY_ERROR;
        /* < 0 AUTH or SELECT, 0 SETNAME, 1 INFO, 2 EXISTS */
        int step = i - (nrep - 3);
        if (is_err && code == SDSINF_OK && !strncmp(r->str, "NOAUTH", 6)) {
            code = sdsinf__fail(err, SDSINF_EACCES,
                                "channel 'redis': %s needs a password: put "
                                "it in the URL (redis://:PASSWORD@host:port) "
                                "or in $SDSINF_REDIS_PASSWORD",
                                rc->where);
        } else if (step < 0 && is_err && code == SDSINF_OK) {
            int auth = rc->pass[0] && i == 0;
            code = refused(rc, auth ? "the credentials" : "the database number",
                           r->str, SDSINF_EINVAL, err);
        } else if (is_err && code == SDSINF_OK &&
                   reply_status(r->str, SDSINF_OK) == SDSINF_ETHROTTLED) {
            code = refused(rc, "the connection", r->str, SDSINF_OK, err);
        } else if (step == 0 && is_err) {
            rc->named = 0; /* cleanup is left to the expiry */
        } else if (step == 0) {
            rc->named = 1;
        } else if (step == 1 && r->type == REDIS_REPLY_STRING &&
                   code == SDSINF_OK) {
            int v = rc->version = server_version(r->str);
            if (v >= 0 && v < 600)
                code = sdsinf__fail(err, SDSINF_ENOTSUP,
                                    "channel 'redis': %s runs Redis %d.%d; the "
                                    "channel needs Redis >= 6.0 (sub-second "
                                    "blocking waits)",
                                    rc->where, v / 100, v % 100);
        } else if (step == 2) {
            rc->created = r->type == REDIS_REPLY_INTEGER && r->integer > 0;
        }
        freeReplyObject(r);
    }
done:
    if (code != SDSINF_OK)
        disconnect(rc);
    return code;
}

/* A connection, made again if an earlier failure dropped it. */
static int ensure_connected(redis_channel *rc, sdsinf_err *err)
{
    if (rc->pid != getpid())
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "channel 'redis': worker %d's instance was opened "
                            "by process %ld and used by process %ld; open one "
                            "in each process",
                            rc->base.self, (long)rc->pid, (long)getpid());
    return rc->c ? SDSINF_OK : connect_server(rc, err);
}

/* ---- Replies of sends ------------------------------------------------------ */

static void list_key(const redis_channel *rc, uint32_t w, char *out)
{
    snprintf(out, KEY_CAP, "%s%" PRIu32, rc->prefix, w);
}

/* Reads the replies of the unconfirmed sends.  SDSINF_OK, or the first
 * refusal (the later replies are read all the same), or a link failure. */
static int drain(redis_channel *rc, sdsinf_err *err)
{
    int code = SDSINF_OK;
    while (rc->npend > 0) {
        redis_pending p = rc->pend[rc->pend0];
        for (int i = 0; i < SEND_REPLIES; i++) {
            redisReply *r;
            if (get_reply(rc, &r) != 0)
                return link_fail(rc, "confirming its sends", err);
            const char *why = r->type == REDIS_REPLY_ERROR ? r->str : NULL;
            if (i == SEND_REPLIES - 1 && r->type != REDIS_REPLY_ARRAY)
                why = "the transaction was aborted";
            for (size_t e = 0; i == SEND_REPLIES - 1 && r->type ==
                               REDIS_REPLY_ARRAY && e < r->elements; e++)
                if (r->element[e]->type == REDIS_REPLY_ERROR)
                    why = r->element[e]->str; /* e.g. WRONGTYPE */
            if (why && code == SDSINF_OK) {
                int st = reply_status(why, SDSINF_EIO);
                code = sdsinf__fail(err, st,
                                    "channel 'redis': %s refused worker %d's "
                                    "%zu-byte message to worker %" PRIu32
                                    " (batch %" PRIu32 " layer %" PRIu32
                                    "): %.80s%s",
                                    rc->where, rc->base.self, p.len, p.target,
                                    p.batch, p.layer, why, refusal_hint(st));
            }
            freeReplyObject(r);
        }
        rc->pend0 = (rc->pend0 + 1) % MAX_PENDING;
        rc->npend--;
    }
    return code;
}

/* ---- Open and close ------------------------------------------------------- */

/* Fills rc's settings for run (of `workers`) and its identity: worker
 * self, or (self < 0) the run's coordinator, whose connection's name is
 * not one of the run's workers'. */
static int redis_setup(redis_channel *rc, const char *config, uint64_t run,
                       int workers, int self, sdsinf_err *err)
{
    int code = parse_config(rc, config, err);
    if (code != SDSINF_OK)
        return code;
    rc->base.run = run;
    rc->base.workers = workers;
    rc->pid = getpid();
    snprintf(rc->prefix, sizeof rc->prefix, "sdsinf:{%" PRIu64 "}:", run);
    if (self >= 0) {
        snprintf(rc->name, sizeof rc->name, "sdsinf-%" PRIu64 "-%d", run,
                 self);
        snprintf(rc->who, sizeof rc->who, "worker %d", self);
    } else {
        snprintf(rc->name, sizeof rc->name, "sdsinf-coordinator-%" PRIu64,
                 run);
        snprintf(rc->who, sizeof rc->who, "the coordinator");
    }
    return SDSINF_OK;
}

static int redis_open(sdsinf_channel *ch, const char *config, sdsinf_err *err)
{
    redis_channel *rc = (redis_channel *)ch;
    int code = redis_setup(rc, config, ch->run, ch->workers, ch->self, err);
    return code != SDSINF_OK ? code : connect_server(rc, err);
}

/* Whether CLIENT LIST's text shows a connection of this run (one it
 * cannot read counts as one). */
static int run_open_elsewhere(const redis_channel *rc, const redisReply *r)
{
    char pat[64];
    if (r->type != REDIS_REPLY_STRING)
        return 1;
    snprintf(pat, sizeof pat, " name=sdsinf-%" PRIu64 "-", rc->base.run);
    return strstr(r->str, pat) != NULL;
}

/* Removes the run's keys: the lists of its workers and the marks. */
static int remove_run(redis_channel *rc, sdsinf_err *err)
{
    static const char *const marks[] = {"cleanup", "created"};
    char keys[UNLINK_BATCH][KEY_CAP];
    const char *argv[UNLINK_BATCH + 1];
    int W = rc->base.workers, batches = 0, code = SDSINF_OK;
    argv[0] = "UNLINK";
    for (int w = 0; w < W + 2;) { /* w >= W: the marks */
        int n = 0;
        for (; w < W + 2 && n < UNLINK_BATCH; w++, n++) {
            if (w < W)
                list_key(rc, (uint32_t)w, keys[n]);
            else
                snprintf(keys[n], KEY_CAP, "%s%s", rc->prefix, marks[w - W]);
            argv[1 + n] = keys[n];
        }
        if (redisAppendCommandArgv(rc->c, n + 1, argv, NULL) != REDIS_OK)
            return link_fail(rc, "removing the run", err);
        batches++;
        if (batches == 16 || w == W + 2) { /* a bounded pipeline */
            if (flush_out(rc) != 0)
                return link_fail(rc, "removing the run", err);
            SDSINF__COUNT(&rc->base, remove, 1);
            for (; batches > 0; batches--) {
                redisReply *r;
                if (get_reply(rc, &r) != 0)
                    return link_fail(rc, "removing the run", err);
                if (r->type == REDIS_REPLY_ERROR && code == SDSINF_OK)
                    code = refused(rc, "removing the run's keys", r->str,
                                   SDSINF_EIO, err);
                freeReplyObject(r);
            }
        }
    }
    return code;
}

/* Leaves the run: marks it for cleanup if asked, drops this connection's
 * name, and removes the run when no other connection of it is left and a
 * mark is there. */
static int leave_run(redis_channel *rc, int cleanup, sdsinf_err *err)
{
    char mark[KEY_CAP], ttl[24];
    snprintf(mark, sizeof mark, "%scleanup", rc->prefix);
    snprintf(ttl, sizeof ttl, "%ld", rc->ttl_s);
    const char *set_argv[5] = {"SET", mark, "1", "EX", ttl};
    const char *unname_argv[3] = {"CLIENT", "SETNAME", ""};
    const char *list_argv[2] = {"CLIENT", "LIST"};
    const char *exists_argv[2] = {"EXISTS", mark};
    int nrep = 0, ok = 1;
    if (cleanup) {
        ok &= redisAppendCommandArgv(rc->c, 5, set_argv, NULL) == REDIS_OK;
        nrep++;
    }
    if (rc->named) {
        ok &= redisAppendCommandArgv(rc->c, 3, unname_argv, NULL) == REDIS_OK;
        nrep++;
    }
    ok &= redisAppendCommandArgv(rc->c, 2, list_argv, NULL) == REDIS_OK;
    ok &= redisAppendCommandArgv(rc->c, 2, exists_argv, NULL) == REDIS_OK;
    nrep += 2;
    if (!ok || flush_out(rc) != 0)
        return link_fail(rc, "closing", err);
    SDSINF__COUNT(&rc->base, list, 1);
    int others = !rc->named, marked = 0;
    for (int i = 0; i < nrep; i++) {
        redisReply *r;
        if (get_reply(rc, &r) != 0)
            return link_fail(rc, "closing", err);
        if (i == nrep - 2)
            others |= run_open_elsewhere(rc, r);
        else if (i == nrep - 1)
            marked = r->type == REDIS_REPLY_INTEGER && r->integer > 0;
        freeReplyObject(r);
    }
    rc->named = 0;
    return !others && marked ? remove_run(rc, err) : SDSINF_OK;
}

static int redis_close(sdsinf_channel *ch, int cleanup, sdsinf_err *err)
{
    redis_channel *rc = (redis_channel *)ch;
    int code = SDSINF_OK;
    if (rc->pid == getpid()) { /* a fork()ed child only lets go */
        if (rc->c) {
            set_timeout(rc, -COMMAND_TIMEOUT_MS);
            code = drain(rc, err);
        }
        /* (a run made by run_create is run_destroy's to remove) */
        int r = rc->created ? SDSINF_OK : ensure_connected(rc, err);
        if (r == SDSINF_OK && !rc->created) /* after a failure: again */
            r = leave_run(rc, cleanup, err);
        code = code != SDSINF_OK ? code : r;
    }
    if (rc->c)
        redisFree(rc->c);
    rc->c = NULL;
    for (; rc->ngot > 0; rc->ngot--, rc->got0 = (rc->got0 + 1) % POP_BATCH)
        free(rc->got[rc->got0].data);
    return code;
}

/* ---- Send and receive ------------------------------------------------------- */

static int redis_send(sdsinf_channel *ch, const sdsinf_msg_key *key,
                      const void *msg, size_t len, sdsinf_err *err)
{
    redis_channel *rc = (redis_channel *)ch;
    int code = ensure_connected(rc, err);
    if (code != SDSINF_OK)
        return code;
    set_timeout(rc, -COMMAND_TIMEOUT_MS);
    if (rc->npend == MAX_PENDING && (code = drain(rc, err)) != SDSINF_OK)
        return code;
    char lkey[KEY_CAP], ttl[24];
    list_key(rc, key->target, lkey);
    snprintf(ttl, sizeof ttl, "%ld", rc->ttl_s);
    const char *multi[1] = {"MULTI"}, *exec[1] = {"EXEC"};
    const char *push[3] = {"RPUSH", lkey, len ? msg : ""};
    size_t push_len[3] = {5, strlen(lkey), len};
    const char *expire[3] = {"EXPIRE", lkey, ttl};
    if (redisAppendCommandArgv(rc->c, 1, multi, NULL) != REDIS_OK)
        return link_fail(rc, "sending", err);
    if (len < DIRECT_MIN) { /* through hiredis's buffer */
        if (redisAppendCommandArgv(rc->c, 3, push, push_len) != REDIS_OK)
            return link_fail(rc, "sending", err);
    } else { /* RPUSH's bytes written from msg itself: no copies */
        char head[128];
        int n = snprintf(head, sizeof head,
                         "*3\r\n$5\r\nRPUSH\r\n$%zu\r\n%s\r\n$%zu\r\n",
                         strlen(lkey), lkey, len);
        struct iovec iov[3] = {
            {head, (size_t)n}, {(void *)msg, len}, {(void *)"\r\n", 2}};
        int e;
        if (flush_out(rc) != 0)
            return link_fail(rc, "sending", err);
        if ((e = write_direct(rc->c->fd, iov, 3)) != 0)
            return link_fail_errno(rc, "sending", e, err);
    }
    if (redisAppendCommandArgv(rc->c, 3, expire, NULL) != REDIS_OK ||
        redisAppendCommandArgv(rc->c, 1, exec, NULL) != REDIS_OK ||
        flush_out(rc) != 0)
        return link_fail(rc, "sending", err);
    SDSINF__COUNT(ch, send, 1);
    int slot = (rc->pend0 + rc->npend) % MAX_PENDING;
    rc->pend[slot] = (redis_pending){key->target, key->batch, key->layer, len};
    rc->npend++;
    return SDSINF_OK;
}

/* Takes the message out of a string reply (hiredis 0.x allocates it with
 * malloc: it is handed over as is; later versions' allocator may differ,
 * so it is copied). */
static int take_string(redisReply *s, void **msg, size_t *len)
{
    size_t n = (size_t)s->len;
#if HIREDIS_MAJOR == 0
    void *p = s->str ? s->str : malloc(1);
    s->str = NULL;
#else
    void *p = malloc(n ? n : 1);
    if (p && n)
        memcpy(p, s->str, n);
#endif
    if (!p)
        return -1;
    *msg = p;
    *len = n;
    return 0;
}

static int timed_out(const redis_channel *rc, const sdsinf_msg_key *want,
                     int timeout_ms, sdsinf_err *err)
{
    char lkey[KEY_CAP];
    list_key(rc, (uint32_t)rc->base.self, lkey);
    if (want)
        return sdsinf__fail(err, SDSINF_ETIMEDOUT,
                            "channel 'redis': worker %d got no message in %d "
                            "ms (awaiting batch %" PRIu32 " layer %" PRIu32
                            " from worker %" PRIu32 "; list %s at %s)",
                            rc->base.self, timeout_ms, want->batch, want->layer,
                            want->source, lkey, rc->where);
    return sdsinf__fail(err, SDSINF_ETIMEDOUT,
                        "channel 'redis': worker %d got no message in %d ms "
                        "(list %s at %s)",
                        rc->base.self, timeout_ms, lkey, rc->where);
}

/* Keeps a popped string reply's message in the ring; 0, or -1 when out of
 * memory. */
static int keep_popped(redis_channel *rc, redisReply *s)
{
    int slot = (rc->got0 + rc->ngot) % POP_BATCH;
    if (take_string(s, &rc->got[slot].data, &rc->got[slot].len) != 0)
        return -1;
    rc->ngot++;
    return 0;
}

/* One pop (BLPOP for wait_ms, or LPOP for 0) and, on Redis >= 6.2, what
 * else the list holds (LPOP with a count, up to the ring's room), after
 * the unconfirmed sends' replies, all in one round trip within left_ms
 * and the slack.  The messages go to the (empty) ring.  SDSINF_OK (the
 * ring may still be empty: the wait ended without one) or a failure (the
 * messages that came with a send's failure stay for the next call). */
static int pop_once(redis_channel *rc, int wait_ms, double left_ms,
                    sdsinf_err *err)
{
    char lkey[KEY_CAP], secs[32], count[16];
    list_key(rc, (uint32_t)rc->base.self, lkey);
    snprintf(secs, sizeof secs, "%d.%03d", wait_ms / 1000, wait_ms % 1000);
    snprintf(count, sizeof count, "%d", POP_BATCH - 1);
    const char *blpop[3] = {"BLPOP", lkey, secs}, *lpop[3] = {"LPOP", lkey, count};
    int more = rc->version >= 602, nrep = 1 + more;
    char what[48];
    snprintf(what, sizeof what, "%s's pop", rc->who);
    int ok = wait_ms > 0 ? redisAppendCommandArgv(rc->c, 3, blpop, NULL)
                         : redisAppendCommandArgv(rc->c, 2, lpop, NULL);
    if (more && ok == REDIS_OK)
        ok = redisAppendCommandArgv(rc->c, 3, lpop, NULL);
    /* a stuck server: whole seconds, so that it rarely changes */
    set_timeout(rc, ((int)left_ms + REPLY_SLACK_MS + 999) / 1000 * 1000);
    if (ok != REDIS_OK || flush_out(rc) != 0)
        return link_fail(rc, "receiving", err);
    SDSINF__COUNT(&rc->base, receive, 1);
    sdsinf_err send_err = {0};
    int send_rc = drain(rc, &send_err);
    if (!rc->c) /* the link failed */
        return sdsinf__fail(err, send_rc, "%s", send_err.msg);
    int code = SDSINF_OK;
    for (int i = 0; i < nrep; i++) {
        redisReply *r;
        if (get_reply(rc, &r) != 0)
            return link_fail(rc, "receiving", err);
        int nomem = 0;
        if (i == 0 && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
            r->element[1]->type == REDIS_REPLY_STRING) /* BLPOP: key, value */
            nomem = keep_popped(rc, r->element[1]);
        else if (i == 0 && r->type == REDIS_REPLY_STRING) /* LPOP */
            nomem = keep_popped(rc, r);
        else if (i == 1 && r->type == REDIS_REPLY_ARRAY) /* LPOP with count */
            for (size_t e = 0; e < r->elements && !nomem; e++)
                nomem = r->element[e]->type != REDIS_REPLY_STRING ||
                        rc->ngot == POP_BATCH || keep_popped(rc, r->element[e]);
        else if (r->type == REDIS_REPLY_ERROR && code == SDSINF_OK)
            code = refused(rc, what, r->str, SDSINF_EIO, err);
        else if (r->type != REDIS_REPLY_NIL && code == SDSINF_OK)
            code = sdsinf__fail(err, SDSINF_EIO,
                                "channel 'redis': worker %d got a reply of type "
                                "%d to its pop from %s",
                                rc->base.self, r->type, rc->where);
        if (nomem && code == SDSINF_OK)
            code = sdsinf__fail(err, SDSINF_ENOMEM,
                                "channel 'redis': worker %d has no memory for "
                                "a message it popped (lost)",
                                rc->base.self);
        freeReplyObject(r);
    }
    SDSINF__COUNT(&rc->base, empty, rc->ngot == 0);
    if (send_rc != SDSINF_OK)
        return sdsinf__fail(err, send_rc, "%s", send_err.msg);
    return code;
}

static int redis_recv(sdsinf_channel *ch, const sdsinf_msg_key *want,
                      void **msg, size_t *len, int timeout_ms, sdsinf_err *err)
{
    redis_channel *rc = (redis_channel *)ch;
    int code = SDSINF_OK;
    double deadline = sdsinf__now() + timeout_ms / 1e3, nap = POLL_FIRST_MS;
    for (;;) {
        if (rc->ngot > 0) { /* popped earlier */
            *msg = rc->got[rc->got0].data;
            *len = rc->got[rc->got0].len;
            rc->got0 = (rc->got0 + 1) % POP_BATCH;
            rc->ngot--;
            return SDSINF_OK;
        }
        if ((code = ensure_connected(rc, err)) != SDSINF_OK)
            return code;
        double left = (deadline - sdsinf__now()) * 1e3;
        int wait_ms = left > POLL_TAIL_MS + 1 ? (int)(left - POLL_TAIL_MS) : 0;
        if ((code = pop_once(rc, wait_ms, left > 0 ? left : 0, err)) != SDSINF_OK)
            return code;
        if (rc->ngot > 0)
            continue;
        left = (deadline - sdsinf__now()) * 1e3;
        if (left <= 0)
            return timed_out(rc, want, timeout_ms, err);
        if (wait_ms == 0) { /* the tail: polls, backing off */
            sdsinf__sleep_ms(nap < left ? nap : left);
            nap = nap * 2 < POLL_MAX_MS ? nap * 2 : POLL_MAX_MS;
        }
    }
}

/* ---- The run's keys ----------------------------------------------------------- */

/* How many keys of the run the server holds (SCAN: for checks and
 * run_residue, not for the runtime). */
static int count_run_keys(redis_channel *rc, int64_t *out, sdsinf_err *err)
{
    char pat[KEY_CAP + 2], cursor[32] = "0";
    int64_t n = 0;
    snprintf(pat, sizeof pat, "%s*", rc->prefix);
    set_timeout(rc, -COMMAND_TIMEOUT_MS);
    int code = SDSINF_OK;
    do {
        const char *argv[6] = {"SCAN", cursor, "MATCH", pat, "COUNT", "1000"};
        redisReply *r;
        if (redisAppendCommandArgv(rc->c, 6, argv, NULL) != REDIS_OK ||
            flush_out(rc) != 0 || get_reply(rc, &r) != 0)
            return link_fail(rc, "counting the run's keys", err);
        SDSINF__COUNT(&rc->base, list, 1);
        int shape = r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
                    r->element[0]->type == REDIS_REPLY_STRING &&
                    r->element[1]->type == REDIS_REPLY_ARRAY;
        if (shape) {
            snprintf(cursor, sizeof cursor, "%s", r->element[0]->str);
            n += (int64_t)r->element[1]->elements;
        } else {
            code = refused(rc, "SCAN",
                           r->type == REDIS_REPLY_ERROR ? r->str : "?",
                           SDSINF_EIO, err);
        }
        freeReplyObject(r);
    } while (code == SDSINF_OK && strcmp(cursor, "0") != 0);
    if (code == SDSINF_OK)
        *out = n;
    return code;
}

/* Sets the mark that tells the run's instances run_create made it. */
static int mark_created(redis_channel *rc, sdsinf_err *err)
{
    char mark[KEY_CAP], ttl[24];
    snprintf(mark, sizeof mark, "%screated", rc->prefix);
    snprintf(ttl, sizeof ttl, "%ld", rc->ttl_s);
    const char *argv[5] = {"SET", mark, "1", "EX", ttl};
    redisReply *r;
    if (redisAppendCommandArgv(rc->c, 5, argv, NULL) != REDIS_OK ||
        flush_out(rc) != 0 || get_reply(rc, &r) != 0)
        return link_fail(rc, "creating the run", err);
    SDSINF__COUNT(&rc->base, send, 1);
    int code = r->type == REDIS_REPLY_ERROR
                   ? refused(rc, "the run's mark", r->str, SDSINF_EIO, err)
                   : SDSINF_OK;
    freeReplyObject(r);
    return code;
}

enum { RUN_CREATE, RUN_DESTROY, RUN_RESIDUE };

/* Does the coordinator's part of run (op: RUN_*) on a connection of its
 * own; its requests are added to *req. */
static int coordinate(int op, const char *config, uint64_t run, int workers,
                      int64_t *items, sdsinf_requests *req, sdsinf_err *err)
{
    redis_channel *rc = sdsinf__calloc(1, sizeof *rc);
    if (!rc)
        return sdsinf__fail(err, SDSINF_ENOMEM, "channel 'redis': no memory "
                            "for the coordinator's connection");
    int code = redis_setup(rc, config, run, workers, -1, err);
    if (code == SDSINF_OK)
        code = connect_server(rc, err);
    if (code == SDSINF_OK)
        code = op == RUN_CREATE    ? mark_created(rc, err)
               : op == RUN_DESTROY ? remove_run(rc, err)
                                   : count_run_keys(rc, items, err);
    if (req)
        sdsinf__requests_add(req, &rc->base.requests);
    disconnect(rc);
    sdsinf__free(rc);
    return code;
}

static int redis_run_create(void *state, const char *config, uint64_t run,
                            int workers, sdsinf_requests *req,
                            sdsinf_err *err)
{
    (void)state;
    return coordinate(RUN_CREATE, config, run, workers, NULL, req, err);
}

static int redis_run_destroy(void *state, const char *config, uint64_t run,
                             int workers, sdsinf_requests *req,
                             sdsinf_err *err)
{
    (void)state;
    return coordinate(RUN_DESTROY, config, run, workers, NULL, req, err);
}

static int redis_run_residue(void *state, const char *config, uint64_t run,
                             int64_t *items, sdsinf_err *err)
{
    (void)state;
    return coordinate(RUN_RESIDUE, config, run, 1, items, NULL, err);
}

const sdsinf_channel_methods sdsinf__channel_redis = {
    .version = SDSINF_CHANNEL_VERSION,
    .name = "redis",
    .instance_size = sizeof(redis_channel),
    .caps = SDSINF_CAP_PROCESSES | SDSINF_CAP_DETACHED,
    .max_message = 0,
    .open = redis_open,
    .send = redis_send,
    .recv = redis_recv,
    .close = redis_close,
    .run_create = redis_run_create,
    .run_destroy = redis_run_destroy,
    .run_residue = redis_run_residue,
};
