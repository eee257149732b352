/* channel_local.c - the "local" channel (the default): workers that are
 * processes (or threads) of one machine, over Unix domain sockets.
 *
 * Layout: worker w of run R listens at <dir>/<R>.<w>.sock, where dir is
 * the config string (default $TMPDIR/sdsinf-<R>, TMPDIR unset: /tmp).  The
 * run id in the name keeps runs that share a directory apart; the hello
 * that opens every connection carries it too, and frames of any other run
 * are refused.
 *
 * Wire (native byte order, one machine): a sender connects once per peer,
 * lazily, retrying while the peer is not listening yet, and keeps the
 * connection.  It writes a hello (magic, run, source), then per message a
 * 32-byte frame header (payload length, key) and the payload.
 *
 * Each instance runs one I/O thread that accepts connections and reads
 * every frame as soon as it arrives into a queue that recv takes from.
 * Without it, two workers sending each other large messages would block
 * in write() with full socket buffers and neither would ever read (and a
 * worker could not send a large message to itself).  Payloads are read
 * straight into the malloc'd buffer recv hands over: one copy per side.
 *
 * Sends wait at most the send timeout (30 s; control op
 * SDSINF_LOCAL_SEND_TIMEOUT) for the peer to listen and to read; a peer
 * that hung up is reconnected once and the message sent again whole (the
 * runtime deduplicates).  Every close removes the worker's own socket and
 * then the directory if that left it empty; close(cleanup=1) also removes
 * the sockets of the run's workers that died (nobody listening), never
 * those of workers still open: every worker may clean up as it finishes,
 * and the last one leaves nothing. */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

/* Control operation: int * milliseconds a send may wait (>= 0). */

#define HELLO_MAGIC 0x314c4453u /* "SDL1" */
#define HELLO_SIZE 16           /* magic u32, source u32, run u64 */
#define FRAME_SIZE 32           /* length u64, batch layer source target
                                   chunk nchunks u32 */
#define MAX_FRAME ((uint64_t)1 << 40) /* larger lengths are corrupt */
#define SEND_TIMEOUT_MS 30000
#define IO_POLL_MS 1000         /* the I/O thread's idle wake-up */
#define SOCK_BUF (4 << 20)      /* socket buffer sizes asked for */

typedef struct local_node {
    struct local_node *next;
    void *data; /* malloc'd: handed to the receiver as is */
    size_t len;
} local_node;

/* An accepted connection, as the I/O thread reads it. */
typedef struct local_conn {
    int fd;
    int hello;        /* the hello has been read */
    uint32_t source;  /* from the hello */
    unsigned char hdr[FRAME_SIZE];
    size_t hdr_got;
    unsigned char *data; /* the payload being read, or NULL */
    size_t len, got;
} local_conn;

typedef struct local_channel {
    sdsinf_channel base;
    char *dir;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* own socket */
    int listen_fd, wake[2];
    int *peer; /* workers sending connections, -1 until made */
    int send_timeout_ms;
    int io_started, sync_ready;
    pthread_t io;
    /* shared with the I/O thread, under mu */
    pthread_mutex_t mu;
    pthread_cond_t ready;
    local_node *head, *tail;
    int io_err;         /* a failure of the I/O thread, for recv */
    char io_msg[200];
    /* the I/O thread's own */
    local_conn *conns;
    struct pollfd *pfd;
    int nconns, cap;
} local_channel;

/* ---- Helpers ------------------------------------------------------------ */

static int set_flags(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 ||
        fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
        return -1;
    return 0;
}

static double remaining_ms(double deadline)
{
    double left = (deadline - sdsinf__now()) * 1e3;
    return left > 0 ? left : 0;
}


/* mkdir -p with mode 0700 for the components it creates. */

/* dir/<run>.<w>.sock into out (sun_path bytes); -1 when too long. */
static int sock_path(const local_channel *lc, int w, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s/%" PRIu64 ".%d.sock", lc->dir, lc->base.run, w);
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}

static void fill_addr(struct sockaddr_un *a, const char *path)
{
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    memcpy(a->sun_path, path, strlen(path) + 1);
}

static void put32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static uint64_t get64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* ---- The I/O thread ------------------------------------------------------ */

/* Records the first failure for recv to report; wakes the receiver. */
static void io_fail(local_channel *lc, int code, const char *what, size_t len,
                    uint32_t source)
{
    pthread_mutex_lock(&lc->mu);
    if (!lc->io_err) {
        lc->io_err = code;
        snprintf(lc->io_msg, sizeof lc->io_msg,
                 "channel 'local': worker %d lost a %zu-byte message from "
                 "worker %" PRIu32 ": %s",
                 lc->base.self, len, source, what);
    }
    pthread_cond_signal(&lc->ready);
    pthread_mutex_unlock(&lc->mu);
}

static void deliver(local_channel *lc, local_conn *c)
{
    local_node *n = sdsinf__malloc(sizeof *n);
    if (!n) {
        io_fail(lc, SDSINF_ENOMEM, "no memory to queue it", c->len, c->source);
        free(c->data);
    } else {
        n->next = NULL;
        n->data = c->data;
        n->len = c->len;
        pthread_mutex_lock(&lc->mu);
        if (lc->tail)
            lc->tail->next = n;
        else
            lc->head = n;
        lc->tail = n;
        pthread_cond_signal(&lc->ready);
        pthread_mutex_unlock(&lc->mu);
    }
    c->data = NULL;
    c->len = c->got = c->hdr_got = 0;
}

/* A complete hello or frame header in c->hdr: 0, or -1 to drop c. */
static int parse_header(local_channel *lc, local_conn *c)
{
    const unsigned char *h = c->hdr;
    c->hdr_got = 0;
    if (!c->hello) {
        uint32_t src = get32(h + 4);
        if (get32(h) != HELLO_MAGIC || get64(h + 8) != lc->base.run ||
            src >= (uint32_t)lc->base.workers)
            return -1; /* not one of this run's workers */
        c->hello = 1;
        c->source = src;
        return 0;
    }
    uint64_t len = get64(h);
    if (get32(h + 16) != c->source || get32(h + 20) != (uint32_t)lc->base.self ||
        len > MAX_FRAME || len > SIZE_MAX)
        return -1;
    c->len = (size_t)len;
    c->got = 0;
    c->data = malloc(c->len ? c->len : 1);
    if (!c->data) {
        io_fail(lc, SDSINF_ENOMEM, "no memory to receive it", c->len, c->source);
        return -1;
    }
    if (c->len == 0)
        deliver(lc, c);
    return 0;
}

/* Reads what c has: 0 to keep it, -1 to drop it (closed or bad). */
static int conn_read(local_channel *lc, local_conn *c)
{
    for (;;) {
        ssize_t r;
        if (c->data) {
            r = read(c->fd, c->data + c->got, c->len - c->got);
            if (r > 0 && (c->got += (size_t)r) == c->len)
                deliver(lc, c);
        } else {
            size_t need = c->hello ? FRAME_SIZE : HELLO_SIZE;
            r = read(c->fd, c->hdr + c->hdr_got, need - c->hdr_got);
            if (r > 0 && (c->hdr_got += (size_t)r) == need &&
                parse_header(lc, c) != 0)
                return -1;
        }
        if (r == 0)
            return -1;
        if (r < 0 && errno != EINTR)
            return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    }
}

static void conn_drop(local_channel *lc, int i)
{
    close(lc->conns[i].fd);
    free(lc->conns[i].data);
    lc->conns[i] = lc->conns[--lc->nconns];
}

/* Takes every pending connection. */
static void accept_all(local_channel *lc)
{
    for (;;) {
        int fd = accept(lc->listen_fd, NULL, NULL);
        if (fd < 0) {
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                sdsinf__sleep_ms(1); /* e.g. out of descriptors: retry shortly */
            return;
        }
        if (set_flags(fd) != 0) {
            close(fd);
            continue;
        }
        if (lc->nconns == lc->cap) {
            int cap = lc->cap ? 2 * lc->cap : 8;
            local_conn *nc = sdsinf__realloc(lc->conns, (size_t)cap * sizeof *nc);
            if (nc)
                lc->conns = nc;
            struct pollfd *np =
                nc ? sdsinf__realloc(lc->pfd, (size_t)(cap + 2) * sizeof *np)
                   : NULL;
            if (np)
                lc->pfd = np;
            if (!nc || !np) {
                io_fail(lc, SDSINF_ENOMEM, "no memory to accept its connection", 0,
                        UINT32_MAX);
                close(fd);
                continue;
            }
            lc->cap = cap;
        }
        local_conn *c = &lc->conns[lc->nconns++];
        memset(c, 0, sizeof *c);
        c->fd = fd;
    }
}

static void *io_main(void *arg)
{
    local_channel *lc = arg;
    for (;;) {
        struct pollfd head[2] = {{lc->wake[0], POLLIN, 0},
                                 {lc->listen_fd, POLLIN, 0}};
        struct pollfd *pfd = lc->pfd ? lc->pfd : head;
        pfd[0] = head[0];
        pfd[1] = head[1];
        for (int i = 0; i < lc->nconns; i++)
            pfd[2 + i] = (struct pollfd){lc->conns[i].fd, POLLIN, 0};
        int n = poll(pfd, (nfds_t)(2 + lc->nconns), IO_POLL_MS);
        if (n < 0 && errno != EINTR)
            sdsinf__sleep_ms(1); /* e.g. ENOMEM: try again shortly */
        if (n <= 0)
            continue;
        if (pfd[0].revents)
            break;
        /* connections first: accepting may move pfd */
        for (int i = lc->nconns - 1; i >= 0; i--)
            if (pfd[2 + i].revents && conn_read(lc, &lc->conns[i]) != 0)
                conn_drop(lc, i);
        if (pfd[1].revents)
            accept_all(lc);
    }
    return NULL;
}

/* ---- Open and close ------------------------------------------------------ */

/* Undoes open, step by step as far as it got. */
static void local_release(local_channel *lc)
{
    if (lc->io_started) {
        char b = 1;
        while (write(lc->wake[1], &b, 1) < 0 && errno == EINTR) {
        }
        pthread_join(lc->io, NULL);
    }
    while (lc->nconns > 0)
        conn_drop(lc, lc->nconns - 1);
    sdsinf__free(lc->conns);
    sdsinf__free(lc->pfd);
    if (lc->listen_fd >= 0) {
        close(lc->listen_fd);
        unlink(lc->path);
    }
    for (int i = 0; i < 2; i++)
        if (lc->wake[i] >= 0)
            close(lc->wake[i]);
    for (int w = 0; lc->peer && w < lc->base.workers; w++)
        if (lc->peer[w] >= 0)
            close(lc->peer[w]);
    sdsinf__free(lc->peer);
    while (lc->head) {
        local_node *n = lc->head;
        lc->head = n->next;
        free(n->data);
        sdsinf__free(n);
    }
    if (lc->sync_ready) {
        pthread_cond_destroy(&lc->ready);
        pthread_mutex_destroy(&lc->mu);
    }
}

/* Binds and listens at lc->path; clears a stale socket left by a dead
 * process of the same run.  SDSINF_OK or a failure naming the path. */
static int local_listen(local_channel *lc, sdsinf_err *err)
{
    struct sockaddr_un a;
    fill_addr(&a, lc->path);
    for (int attempt = 0;; attempt++) {
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0)
            return sdsinf__fail(err, SDSINF_EIO,
                                "channel 'local': worker %d cannot make a "
                                "socket: %s",
                                lc->base.self, strerror(errno));
        if (bind(fd, (struct sockaddr *)&a, sizeof a) == 0) {
            int sz = SOCK_BUF;
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof sz);
            if (listen(fd, SOMAXCONN) != 0 || set_flags(fd) != 0) {
                int e = errno;
                close(fd);
                unlink(lc->path);
                return sdsinf__fail(err, SDSINF_EIO,
                                    "channel 'local': worker %d cannot listen "
                                    "at %s: %s",
                                    lc->base.self, lc->path, strerror(e));
            }
            lc->listen_fd = fd;
            return SDSINF_OK;
        }
        int e = errno;
        int stale = 0;
        if (e == EADDRINUSE && attempt < 2) /* alive, or left by a crash? */
            stale = connect(fd, (struct sockaddr *)&a, sizeof a) != 0 &&
                    errno == ECONNREFUSED;
        close(fd);
        if (stale) {
            unlink(lc->path);
            continue;
        }
        if (e == ENOENT && attempt < 2 && sdsinf__mkdir_p(lc->dir) == 0)
            continue; /* the directory went away (another run's cleanup) */
        if (e == EADDRINUSE)
            return sdsinf__fail(err, SDSINF_EINVAL,
                                "channel 'local': %s is in use: worker %d of "
                                "run %" PRIu64 " is open elsewhere; give each "
                                "run its own id",
                                lc->path, lc->base.self, lc->base.run);
        return sdsinf__fail(err, SDSINF_EIO,
                            "channel 'local': worker %d cannot bind %s: %s",
                            lc->base.self, lc->path, strerror(e));
    }
}

static int local_open(sdsinf_channel *ch, const char *config, sdsinf_err *err)
{
    local_channel *lc = (local_channel *)ch;
    int rc = SDSINF_OK;
    char def[4096];
    lc->listen_fd = lc->wake[0] = lc->wake[1] = -1;
    lc->send_timeout_ms = SEND_TIMEOUT_MS;
    if (!config || !config[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(def, sizeof def, "%s/sdsinf-%" PRIu64, t && t[0] ? t : "/tmp",
                 ch->run);
        config = def;
    }
    size_t dlen = strlen(config);
    lc->dir = sdsinf__malloc(dlen + 1);
    lc->peer = sdsinf__mallocarray((size_t)ch->workers, sizeof *lc->peer);
    if (!lc->dir || !lc->peer) {
        rc = sdsinf__fail(err, SDSINF_ENOMEM,
                          "channel 'local': no memory to open worker %d",
                          ch->self);
        goto done;
    }
    memcpy(lc->dir, config, dlen + 1);
    for (int w = 0; w < ch->workers; w++)
        lc->peer[w] = -1;
    if (sock_path(lc, ch->workers - 1, lc->path, sizeof lc->path) != 0) {
        rc = sdsinf__fail(err, SDSINF_EINVAL,
                          "channel 'local': socket paths under '%s' exceed %zu "
                          "bytes; pass a shorter directory as the config",
                          lc->dir, sizeof lc->path - 1);
        goto done;
    }
    sock_path(lc, ch->self, lc->path, sizeof lc->path);
    if (sdsinf__mkdir_p(lc->dir) != 0) {
        rc = sdsinf__fail(err, SDSINF_EIO,
                          "channel 'local': worker %d cannot make the run "
                          "directory %s: %s",
                          ch->self, lc->dir, strerror(errno));
        goto done;
    }
    if (pipe(lc->wake) != 0 || set_flags(lc->wake[0]) != 0 ||
        set_flags(lc->wake[1]) != 0) {
        rc = sdsinf__fail(err, SDSINF_EIO,
                          "channel 'local': worker %d cannot make a pipe: %s",
                          ch->self, strerror(errno));
        goto done;
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&lc->ready, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&lc->mu, NULL);
    lc->sync_ready = 1;
    if ((rc = local_listen(lc, err)) != SDSINF_OK)
        goto done;
    int e = pthread_create(&lc->io, NULL, io_main, lc);
    if (e != 0) {
        rc = sdsinf__fail(err, e == EAGAIN ? SDSINF_ENOMEM : SDSINF_EIO,
                          "channel 'local': worker %d cannot start its I/O "
                          "thread: %s",
                          ch->self, strerror(e));
        goto done;
    }
    lc->io_started = 1;
done:
    if (rc != SDSINF_OK) {
        local_release(lc);
        sdsinf__free(lc->dir);
    }
    return rc;
}

/* Whether a process listens at path (a worker of the run still open). */
static int listening(const char *path)
{
    struct sockaddr_un a;
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || set_flags(fd) != 0) {
        if (fd >= 0)
            close(fd);
        return 1; /* cannot tell: keep it */
    }
    fill_addr(&a, path);
    int r = connect(fd, (struct sockaddr *)&a, sizeof a);
    int e = r == 0 ? 0 : errno;
    close(fd); /* the listener sees a connection without a hello: dropped */
    return e != ECONNREFUSED && e != ENOENT;
}

/* Removes the sockets of the run's dead workers from the directory. */
static void remove_dead(local_channel *lc)
{
    DIR *d = opendir(lc->dir);
    char prefix[32], path[sizeof lc->path];
    int plen = snprintf(prefix, sizeof prefix, "%" PRIu64 ".", lc->base.run);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        const char *s = de->d_name;
        size_t n = strlen(s);
        if (strncmp(s, prefix, (size_t)plen) != 0 || n < 6 ||
            strcmp(s + n - 5, ".sock") != 0)
            continue;
        int k = snprintf(path, sizeof path, "%s/%s", lc->dir, s);
        if (k > 0 && (size_t)k < sizeof path && !listening(path))
            unlink(path);
    }
    closedir(d);
}

static int local_close(sdsinf_channel *ch, int cleanup, sdsinf_err *err)
{
    (void)err;
    local_channel *lc = (local_channel *)ch;
    local_release(lc); /* our own socket goes */
    if (cleanup)
        remove_dead(lc);
    rmdir(lc->dir); /* fails, harmlessly, while anything is left in it */
    sdsinf__free(lc->dir);
    return SDSINF_OK;
}

/* ---- Send and receive ---------------------------------------------------- */

/* Writes the iovecs whole by the deadline: SDSINF_OK, SDSINF_ETIMEDOUT, or
 * SDSINF_EIO with *gone set when the peer hung up. */
static int write_all(int fd, struct iovec *iov, int n, double deadline,
                     int *gone)
{
    *gone = 0;
    while (n > 0) {
        struct msghdr mh;
        memset(&mh, 0, sizeof mh);
        mh.msg_iov = iov;
        mh.msg_iovlen = (size_t)n;
        ssize_t w = sendmsg(fd, &mh, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                *gone = errno == EPIPE || errno == ECONNRESET;
                return SDSINF_EIO;
            }
            double left = remaining_ms(deadline);
            if (left <= 0)
                return SDSINF_ETIMEDOUT;
            struct pollfd p = {fd, POLLOUT, 0};
            poll(&p, 1, (int)left + 1);
            continue;
        }
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
    return SDSINF_OK;
}

/* Connects to worker t and says hello, retrying while t is not listening
 * yet, until the deadline. */
static int peer_connect(local_channel *lc, uint32_t t, double deadline,
                        sdsinf_err *err)
{
    char path[sizeof lc->path];
    struct sockaddr_un a;
    sock_path(lc, (int)t, path, sizeof path);
    fill_addr(&a, path);
    double backoff = 0.5;
    int e = 0, retry = 0;
    for (;;) {
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        if (fd < 0 || set_flags(fd) != 0) {
            e = errno;
            if (fd >= 0)
                close(fd);
            return sdsinf__fail(err, SDSINF_EIO,
                                "channel 'local': worker %d cannot make a "
                                "socket: %s",
                                lc->base.self, strerror(e));
        }
        int r = connect(fd, (struct sockaddr *)&a, sizeof a);
        e = r == 0 ? 0 : errno;
        if (e == EINPROGRESS) { /* not on Linux; wait for the outcome */
            struct pollfd p = {fd, POLLOUT, 0};
            socklen_t sl = sizeof e;
            if (poll(&p, 1, (int)remaining_ms(deadline) + 1) <= 0 ||
                getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &sl) != 0)
                e = ETIMEDOUT;
        }
        if (e == 0) {
            unsigned char h[HELLO_SIZE];
            int gone, sz = SOCK_BUF;
            setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof sz);
            put32(h, HELLO_MAGIC);
            put32(h + 4, (uint32_t)lc->base.self);
            put64(h + 8, lc->base.run);
            struct iovec iov = {h, sizeof h};
            if (write_all(fd, &iov, 1, deadline, &gone) == SDSINF_OK) {
                lc->peer[t] = fd;
                return SDSINF_OK;
            }
            e = ECONNRESET;
        }
        close(fd);
        retry = e == ENOENT || e == ECONNREFUSED || e == EAGAIN ||
                e == ECONNRESET || e == ETIMEDOUT;
        double left = remaining_ms(deadline);
        if (!retry || left <= 0)
            break;
        sdsinf__sleep_ms(backoff < left ? backoff : left);
        backoff = backoff * 2 < 50 ? backoff * 2 : 50;
    }
    return sdsinf__fail(err, retry ? SDSINF_ETIMEDOUT : SDSINF_EIO,
                        "channel 'local': worker %d could not reach worker %"
                        PRIu32 " at %s within %d ms (%s); is that worker "
                        "running with the same run id and directory?",
                        lc->base.self, t, path, lc->send_timeout_ms,
                        strerror(e));
}

static int local_send(sdsinf_channel *ch, const sdsinf_msg_key *key,
                      const void *msg, size_t len, sdsinf_err *err)
{
    local_channel *lc = (local_channel *)ch;
    double deadline = sdsinf__now() + lc->send_timeout_ms / 1e3;
    unsigned char h[FRAME_SIZE];
    put64(h, (uint64_t)len);
    put32(h + 8, key->batch);
    put32(h + 12, key->layer);
    put32(h + 16, key->source);
    put32(h + 20, key->target);
    put32(h + 24, key->chunk);
    put32(h + 28, key->nchunks);
    for (int attempt = 0;; attempt++) {
        int rc, gone;
        if (lc->peer[key->target] < 0 &&
            (rc = peer_connect(lc, key->target, deadline, err)) != SDSINF_OK)
            return rc;
        struct iovec iov[2] = {{h, sizeof h}, {(void *)msg, len}};
        rc = write_all(lc->peer[key->target], iov, len ? 2 : 1, deadline, &gone);
        if (rc == SDSINF_OK)
            return SDSINF_OK;
        int e = errno;
        close(lc->peer[key->target]);
        lc->peer[key->target] = -1; /* a partial frame: never reuse */
        if (gone && attempt == 0)
            continue; /* the peer restarted: send it all again */
        if (rc == SDSINF_ETIMEDOUT)
            return sdsinf__fail(err, rc,
                                "channel 'local': worker %d could not send %zu "
                                "bytes (batch %" PRIu32 " layer %" PRIu32
                                ") to worker %" PRIu32 " within %d ms: it is "
                                "not reading",
                                ch->self, len, key->batch, key->layer,
                                key->target, lc->send_timeout_ms);
        return sdsinf__fail(err, rc,
                            "channel 'local': worker %d lost its connection to "
                            "worker %" PRIu32 " sending batch %" PRIu32
                            " layer %" PRIu32 ": %s",
                            ch->self, key->target, key->batch, key->layer,
                            strerror(e));
    }
}

static int local_recv(sdsinf_channel *ch, const sdsinf_msg_key *want,
                      void **msg, size_t *len, int timeout_ms, sdsinf_err *err)
{
    local_channel *lc = (local_channel *)ch;
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    int rc = SDSINF_OK, waited = 0;
    pthread_mutex_lock(&lc->mu);
    while (!lc->head && !lc->io_err && waited != ETIMEDOUT)
        waited = pthread_cond_timedwait(&lc->ready, &lc->mu, &deadline);
    local_node *n = lc->head;
    if (n) {
        lc->head = n->next;
        if (!lc->head)
            lc->tail = NULL;
    } else if (lc->io_err) {
        rc = sdsinf__fail(err, lc->io_err, "%s", lc->io_msg);
        lc->io_err = 0;
    }
    pthread_mutex_unlock(&lc->mu);
    if (rc != SDSINF_OK)
        return rc;
    if (!n) {
        if (want)
            return sdsinf__fail(err, SDSINF_ETIMEDOUT,
                                "channel 'local': worker %d got no message in "
                                "%d ms (awaiting batch %" PRIu32 " layer %" PRIu32
                                " from worker %" PRIu32 " of run %" PRIu64
                                " at %s)",
                                ch->self, timeout_ms, want->batch, want->layer,
                                want->source, ch->run, lc->path);
        return sdsinf__fail(err, SDSINF_ETIMEDOUT,
                            "channel 'local': worker %d got no message in %d "
                            "ms (run %" PRIu64 " at %s)",
                            ch->self, timeout_ms, ch->run, lc->path);
    }
    *msg = n->data;
    *len = n->len;
    sdsinf__free(n);
    return SDSINF_OK;
}

static int local_control(sdsinf_channel *ch, int op, void *arg, sdsinf_err *err)
{
    local_channel *lc = (local_channel *)ch;
    if (op == SDSINF_LOCAL_SEND_TIMEOUT) {
        if (!arg || *(int *)arg < 0)
            return sdsinf__fail(err, SDSINF_EINVAL,
                                "channel 'local', worker %d: the send timeout "
                                "needs an int >= 0 (milliseconds)",
                                ch->self);
        lc->send_timeout_ms = *(int *)arg;
        return SDSINF_OK;
    }
    return sdsinf__fail(err, SDSINF_ENOTSUP,
                        "channel 'local', worker %d: no control operation %d",
                        ch->self, op);
}

const sdsinf_channel_methods sdsinf__channel_local = {
    .version = SDSINF_CHANNEL_VERSION,
    .name = "local",
    .instance_size = sizeof(local_channel),
    .caps = SDSINF_CAP_PROCESSES,
    .max_message = 0,
    .open = local_open,
    .send = local_send,
    .recv = local_recv,
    .close = local_close,
    .control = local_control,
};
