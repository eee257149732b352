/* channels/local.c - the "local" channel (the default): workers that are
 * processes (or threads) of one machine, through shared memory.
 *
 * The run's workers map one file, <dir>/<R>.shm (dir: the config string;
 * default /dev/shm/sdsinf-<R>, or $TMPDIR/sdsinf-<R> where /dev/shm is
 * missing: sdsinf__scratch_dir): a header, a slot per worker (open, pid, bell) and a ring per
 * (source, target) pair.  A ring has one writer and one reader, so it
 * needs no lock: the writer publishes its tail, the reader its head.
 *
 * A message goes into the ring as a 16-byte frame (length, kind) and its
 * payload, padded to 8 bytes, when it is at most a quarter of the ring and
 * fits the room left; otherwise into a file of its own,
 * <dir>/<R>.<source>.<seq>.msg, which the ring's frame names and the reader
 * removes.  So a send never waits for the reader (two workers may send each
 * other large messages before either reads, a worker may send to itself),
 * unless the ring is full of frames: then it waits, taking its own incoming
 * messages meanwhile, so that two such senders do not wait on each other.
 *
 * Waking: each worker has a bell, a counter in its slot.  A sender rings
 * the target's bell after publishing; a reader that frees room in a ring
 * whose writer asked for it rings the writer's.  A worker with nothing to
 * read sleeps on its bell (a futex), and is only woken (a system call) when
 * it sleeps: a busy run moves its messages without any.
 *
 * Life cycle, under an flock of the file: open creates and sizes the file
 * (or checks it holds the same run) and marks its slot open; close marks
 * it closed and, when no other slot is open (with cleanup: held by a live
 * process), removes the file, the run's message files and the directory if
 * that left it empty.  Files removed while others still map them stay
 * valid to those.  A send waits, at most the send timeout (30 s; control
 * op SDSINF_LOCAL_SEND_TIMEOUT), for its target to open; to one that has
 * been open and closed it goes into the ring all the same (a late
 * duplicate, or a loss the receiver's timeout reports). */
#define _DEFAULT_SOURCE /* flock, syscall */
#include "channels/channels.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/futex.h>
#include <sys/syscall.h>
#endif

#define SHM_MAGIC 0x314d4853444c4453ull /* "SDLSHM1" */
#define SEND_TIMEOUT_MS 30000
#define RING_MAX (256u << 10)  /* a ring's bytes, for few workers */
#define RING_MIN (16u << 10)   /* ... and at least */
#define RINGS_BUDGET (1ull << 30) /* all rings' bytes (sparse) at most */
#define FRAME 16               /* length u64, kind u32, spare u32 */
#define KIND_INLINE 0
#define KIND_FILE 1            /* the payload: the file's seq, u64 */

_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2 && ATOMIC_INT_LOCK_FREE == 2,
               "shared-memory rings need lock-free atomics");

typedef struct shm_header {
    uint64_t magic, run;
    uint32_t workers, ring; /* ring: the bytes of each ring */
} shm_header;

typedef struct shm_slot { /* one cache line per worker */
    _Atomic uint32_t bell;     /* rung on every arrival, and on room freed */
    _Atomic uint32_t sleepers; /* threads asleep on the bell */
    _Atomic uint32_t open;
    _Atomic int32_t pid;
    _Atomic uint64_t seq;      /* the last message file's number */
    _Atomic uint32_t opened;   /* has been open (a closed one is done) */
    char pad[36];
} shm_slot;

typedef struct shm_ring { /* the writer's line, then the reader's */
    _Atomic uint64_t tail;
    _Atomic uint32_t want_room; /* the writer waits for room */
    char pad1[52];
    _Atomic uint64_t head;
    char pad2[56];
} shm_ring;

#define HEADER_BYTES 4096

/* A message taken from a ring before recv asked (while a send waited). */
typedef struct local_node {
    struct local_node *next;
    void *data;
    size_t len;
} local_node;

typedef struct local_channel {
    sdsinf_channel base;
    char *dir;
    char *path;          /* the shared file */
    int fd;
    unsigned char *map;  /* the shared file, map_len bytes */
    size_t map_len;
    uint32_t ring;       /* bytes per ring */
    shm_slot *slots;     /* workers */
    shm_ring *rings;     /* workers x workers: [source * W + target] */
    unsigned char *data; /* the rings' bytes, in the same order */
    int open_marked;     /* this worker's slot is marked open */
    int next_source;     /* where recv's scan starts: fairness */
    int send_timeout_ms;
    local_node *head, *tail;
} local_channel;

/* ---- Helpers ------------------------------------------------------------ */

static uint32_t ring_bytes(int workers)
{
    uint64_t r = RING_MAX, w2 = (uint64_t)workers * (uint64_t)workers;
    while (r > RING_MIN && r * w2 > RINGS_BUDGET)
        r /= 2;
    return (uint32_t)r;
}

static size_t map_bytes(int workers, uint32_t ring)
{
    size_t w = (size_t)workers;
    return HEADER_BYTES + w * sizeof(shm_slot) + w * w * sizeof(shm_ring) +
           w * w * ring;
}

static size_t pad8(size_t n)
{
    return (n + 7) & ~(size_t)7;
}

/* <dir>/<run>.<source>.<seq>.msg into a malloc'd string, or NULL. */
static char *msg_path(const local_channel *lc, uint32_t source, uint64_t seq)
{
    size_t n = strlen(lc->dir) + 64;
    char *p = sdsinf__malloc(n);
    if (p)
        snprintf(p, n, "%s/%" PRIu64 ".%" PRIu32 ".%" PRIu64 ".msg", lc->dir,
                 lc->base.run, source, seq);
    return p;
}

/* Copies n bytes into ring r at position pos (mod the ring), and out. */
static void ring_put(const local_channel *lc, unsigned char *r, uint64_t pos,
                     const void *src, size_t n)
{
    size_t at = (size_t)(pos % lc->ring), first = lc->ring - at;
    if (first > n)
        first = n;
    memcpy(r + at, src, first);
    memcpy(r, (const unsigned char *)src + first, n - first);
}

static void ring_get(const local_channel *lc, const unsigned char *r,
                     uint64_t pos, void *dst, size_t n)
{
    size_t at = (size_t)(pos % lc->ring), first = lc->ring - at;
    if (first > n)
        first = n;
    memcpy(dst, r + at, first);
    memcpy((unsigned char *)dst + first, r, n - first);
}

/* ---- The bell ------------------------------------------------------------ */

/* Rings worker w's bell, waking it only if it sleeps. */
static void bell_ring(shm_slot *s)
{
    atomic_fetch_add(&s->bell, 1);
    if (atomic_load(&s->sleepers) == 0)
        return;
#ifdef __linux__
    syscall(SYS_futex, &s->bell, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
#endif
}

/* Sleeps while the bell still reads `seen`, at most ms milliseconds. */
static void bell_wait(shm_slot *s, uint32_t seen, double ms)
{
    atomic_fetch_add(&s->sleepers, 1);
    if (atomic_load(&s->bell) == seen) {
#ifdef __linux__
        long long ns = (long long)(ms * 1e6);
        struct timespec ts = {(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
        syscall(SYS_futex, &s->bell, FUTEX_WAIT, seen, &ts, NULL, 0);
#else
        sdsinf__sleep_ms(ms < 0.2 ? ms : 0.2);
#endif
    }
    atomic_fetch_sub(&s->sleepers, 1);
}

/* ---- Open and close ------------------------------------------------------ */

/* Whether slot w is held: open, by this process or (unless dead_free) one
 * that may be alive. */
static int slot_held(const shm_slot *s, int dead_free)
{
    return atomic_load(&s->open) &&
           (!dead_free || !sdsinf__process_ended(atomic_load(&s->pid)));
}

/* Removes the run's message files from the directory. */
static void remove_run_files(const local_channel *lc)
{
    DIR *d = opendir(lc->dir);
    char prefix[32];
    int plen = snprintf(prefix, sizeof prefix, "%" PRIu64 ".", lc->base.run);
    if (!d)
        return;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (strncmp(de->d_name, prefix, (size_t)plen) != 0 || n < 5 ||
            strcmp(de->d_name + n - 4, ".msg") != 0)
            continue;
        char *p = sdsinf__malloc(strlen(lc->dir) + n + 2);
        if (p) {
            sprintf(p, "%s/%s", lc->dir, de->d_name);
            unlink(p);
            sdsinf__free(p);
        }
    }
    closedir(d);
}

/* Undoes open as far as it got; with `last`, also removes the run. */
static void local_release(local_channel *lc, int last)
{
    if (last) {
        unlink(lc->path);
        remove_run_files(lc);
    }
    if (lc->map)
        munmap(lc->map, lc->map_len);
    if (lc->fd >= 0)
        close(lc->fd); /* drops the flock */
    while (lc->head) {
        local_node *n = lc->head;
        lc->head = n->next;
        free(n->data);
        sdsinf__free(n);
    }
    if (lc->dir)
        rmdir(lc->dir); /* fails, harmlessly, while anything is left in it */
    sdsinf__free(lc->dir);
    sdsinf__free(lc->path);
    lc->dir = lc->path = NULL;
}

/* Opens the run's file, locked, one that no closer removed meanwhile. */
static int file_open_locked(local_channel *lc, sdsinf_err *err)
{
    for (;;) {
        struct stat st;
        lc->fd = open(lc->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (lc->fd < 0 && errno == ENOENT && sdsinf__mkdir_p(lc->dir) == 0)
            continue; /* the directory went with another run's cleanup */
        if (lc->fd < 0)
            return sdsinf__fail(err, SDSINF_EIO, "channel 'local': worker %d "
                                "cannot open %s: %s", lc->base.self, lc->path,
                                strerror(errno));
        while (flock(lc->fd, LOCK_EX) != 0 && errno == EINTR) {
        }
        if (fstat(lc->fd, &st) == 0 && st.st_nlink > 0)
            return SDSINF_OK;
        close(lc->fd); /* removed by the run's last closer: a new one */
        lc->fd = -1;
    }
}

/* Sizes a new file and writes its header, or checks an existing one's. */
static int file_prepare(local_channel *lc, sdsinf_err *err)
{
    struct stat st;
    shm_header h = {SHM_MAGIC, lc->base.run, (uint32_t)lc->base.workers,
                    lc->ring};
    if (fstat(lc->fd, &st) != 0)
        return sdsinf__fail(err, SDSINF_EIO, "channel 'local': %s: %s",
                            lc->path, strerror(errno));
    if (st.st_size == 0) {
        if (ftruncate(lc->fd, (off_t)lc->map_len) != 0 ||
            pwrite(lc->fd, &h, sizeof h, 0) != (ssize_t)sizeof h)
            return sdsinf__fail(err, SDSINF_EIO, "channel 'local': cannot "
                                "size %s to %zu bytes: %s", lc->path,
                                lc->map_len, strerror(errno));
        return SDSINF_OK;
    }
    shm_header got;
    if ((size_t)st.st_size != lc->map_len ||
        pread(lc->fd, &got, sizeof got, 0) != (ssize_t)sizeof got ||
        memcmp(&got, &h, sizeof h) != 0)
        return sdsinf__fail(err, SDSINF_EINVAL, "channel 'local': %s belongs "
                            "to another run or worker count (worker %d of "
                            "%d, run %" PRIu64 "); give each run its own id "
                            "or remove the file", lc->path, lc->base.self,
                            lc->base.workers, lc->base.run);
    return SDSINF_OK;
}

const char *sdsinf__local_dir(const char *config, uint64_t run, char *def,
                              size_t cap)
{
    if (config && config[0])
        return config;
    snprintf(def, cap, "%s/sdsinf-%" PRIu64, sdsinf__scratch_dir(), run);
    return def;
}

static int local_open(sdsinf_channel *ch, const char *config, sdsinf_err *err)
{
    local_channel *lc = (local_channel *)ch;
    char def[4096];
    int rc;
    lc->fd = -1;
    lc->send_timeout_ms = SEND_TIMEOUT_MS;
    config = sdsinf__local_dir(config, ch->run, def, sizeof def);
    size_t dlen = strlen(config);
    lc->dir = sdsinf__malloc(dlen + 1);
    lc->path = sdsinf__malloc(dlen + 32);
    if (!lc->dir || !lc->path) {
        local_release(lc, 0);
        return sdsinf__fail(err, SDSINF_ENOMEM, "channel 'local': no memory "
                            "to open worker %d", ch->self);
    }
    memcpy(lc->dir, config, dlen + 1);
    snprintf(lc->path, dlen + 32, "%s/%" PRIu64 ".shm", lc->dir, ch->run);
    lc->ring = ring_bytes(ch->workers);
    lc->map_len = map_bytes(ch->workers, lc->ring);
    if (sdsinf__mkdir_p(lc->dir) != 0) {
        rc = sdsinf__fail(err, SDSINF_EIO, "channel 'local': worker %d cannot "
                          "make the run directory %s: %s", ch->self, lc->dir,
                          strerror(errno));
        local_release(lc, 0);
        return rc;
    }
    if ((rc = file_open_locked(lc, err)) != SDSINF_OK ||
        (rc = file_prepare(lc, err)) != SDSINF_OK)
        goto fail;
    void *m = mmap(NULL, lc->map_len, PROT_READ | PROT_WRITE, MAP_SHARED,
                   lc->fd, 0);
    if (m == MAP_FAILED) {
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "channel 'local': cannot map "
                          "%zu bytes of %s: %s", lc->map_len, lc->path,
                          strerror(errno));
        goto fail;
    }
    size_t W = (size_t)ch->workers;
    lc->map = m;
    lc->slots = (shm_slot *)(lc->map + HEADER_BYTES);
    lc->rings = (shm_ring *)(lc->slots + W);
    lc->data = (unsigned char *)(lc->rings + W * W);
    shm_slot *me = &lc->slots[ch->self];
    if (slot_held(me, 1)) {
        rc = sdsinf__fail(err, SDSINF_EINVAL, "channel 'local': worker %d of "
                          "run %" PRIu64 " is open elsewhere (pid %d); give "
                          "each run its own id", ch->self, ch->run,
                          (int)atomic_load(&me->pid));
        goto fail;
    }
    atomic_store(&me->pid, (int32_t)getpid());
    atomic_store(&me->open, 1);
    atomic_store(&me->opened, 1);
    lc->open_marked = 1;
    flock(lc->fd, LOCK_UN);
    return SDSINF_OK;
fail: {
    int last = 1; /* a file this open made, nobody else holds: remove */
    for (int w = 0; lc->map && w < ch->workers; w++)
        last &= !slot_held(&lc->slots[w], 1);
    local_release(lc, last && lc->map);
    return rc;
}
}

static int local_close(sdsinf_channel *ch, int cleanup, sdsinf_err *err)
{
    (void)err;
    local_channel *lc = (local_channel *)ch;
    int last = 1;
    while (flock(lc->fd, LOCK_EX) != 0 && errno == EINTR) {
    }
    atomic_store(&lc->slots[ch->self].open, 0);
    for (int w = 0; w < ch->workers; w++)
        last &= !slot_held(&lc->slots[w], cleanup);
    local_release(lc, last);
    return SDSINF_OK;
}

/* ---- Receive ------------------------------------------------------------- */

/* Takes the next message from ring (source, self) if any: *got 1 with
 * *msg (malloc'd) and *len, 0 when the ring is empty. */
static int ring_take(local_channel *lc, int source, int *got, void **msg,
                     size_t *len, sdsinf_err *err)
{
    int W = lc->base.workers, self = lc->base.self;
    shm_ring *r = &lc->rings[(size_t)source * W + self];
    unsigned char *d = lc->data + ((size_t)source * W + self) * lc->ring;
    uint64_t head = atomic_load_explicit(&r->head, memory_order_relaxed);
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    *got = 0;
    if (head == tail)
        return SDSINF_OK;
    unsigned char f[FRAME];
    uint64_t n, seq = 0;
    uint32_t kind;
    ring_get(lc, d, head, f, FRAME);
    memcpy(&n, f, 8);
    memcpy(&kind, f + 8, 4);
    size_t body = kind == KIND_FILE ? 8 : pad8((size_t)n);
    if ((kind != KIND_INLINE && kind != KIND_FILE) ||
        (kind == KIND_INLINE && n > lc->ring / 4) ||
        FRAME + body > tail - head)
        return sdsinf__fail(err, SDSINF_ECORRUPT, "channel 'local': worker "
                            "%d: a damaged frame from worker %d in %s",
                            self, source, lc->path);
    void *m = malloc(n ? (size_t)n : 1);
    if (!m)
        return sdsinf__fail(err, SDSINF_ENOMEM, "channel 'local': no memory "
                            "for a %" PRIu64 "-byte message", n);
    if (kind == KIND_INLINE)
        ring_get(lc, d, head + FRAME, m, (size_t)n);
    else
        ring_get(lc, d, head + FRAME, &seq, 8);
    atomic_store_explicit(&r->head, head + FRAME + body, memory_order_release);
    if (atomic_load(&r->want_room)) {
        atomic_store(&r->want_room, 0);
        bell_ring(&lc->slots[source]);
    }
    if (kind == KIND_FILE) {
        char *p = msg_path(lc, (uint32_t)source, seq);
        int fd = p ? open(p, O_RDONLY | O_CLOEXEC) : -1;
        size_t got_n = 0;
        while (fd >= 0 && got_n < n) {
            ssize_t k = read(fd, (unsigned char *)m + got_n, (size_t)n - got_n);
            if (k <= 0 && !(k < 0 && errno == EINTR))
                break;
            got_n += k > 0 ? (size_t)k : 0;
        }
        if (fd >= 0)
            close(fd);
        if (p && got_n == n)
            unlink(p);
        int rc = got_n == n ? SDSINF_OK
                 : sdsinf__fail(err, SDSINF_EIO, "channel 'local': worker %d "
                                "cannot read the %" PRIu64 "-byte message %s "
                                "from worker %d: %s", self, n,
                                p ? p : "(no memory)", source,
                                fd < 0 ? strerror(errno) : "cut short");
        sdsinf__free(p);
        if (rc != SDSINF_OK) {
            free(m);
            return rc;
        }
    }
    *msg = m;
    *len = (size_t)n;
    *got = 1;
    return SDSINF_OK;
}

/* The next message from any ring, sources in turn (*got 0: none). */
static int take_any(local_channel *lc, int *got, void **msg, size_t *len,
                    sdsinf_err *err)
{
    int W = lc->base.workers;
    for (int i = 0; i < W; i++) {
        int s = (lc->next_source + i) % W;
        int rc = ring_take(lc, s, got, msg, len, err);
        if (rc != SDSINF_OK || *got) {
            lc->next_source = (s + 1) % W;
            return rc;
        }
    }
    return SDSINF_OK;
}

/* Moves every message waiting in the rings to the private queue (a send
 * waiting for room keeps its own inbox moving). */
static int drain(local_channel *lc, sdsinf_err *err)
{
    for (;;) {
        void *m;
        size_t n;
        int got, rc = take_any(lc, &got, &m, &n, err);
        if (rc != SDSINF_OK || !got)
            return rc;
        local_node *node = sdsinf__malloc(sizeof *node);
        if (!node) {
            free(m);
            return sdsinf__fail(err, SDSINF_ENOMEM, "channel 'local': no "
                                "memory");
        }
        *node = (local_node){NULL, m, n};
        if (lc->tail)
            lc->tail->next = node;
        else
            lc->head = node;
        lc->tail = node;
    }
}

static int local_recv(sdsinf_channel *ch, const sdsinf_msg_key *want,
                      void **msg, size_t *len, int timeout_ms, sdsinf_err *err)
{
    local_channel *lc = (local_channel *)ch;
    shm_slot *me = &lc->slots[ch->self];
    if (lc->head) {
        local_node *n = lc->head;
        if (!(lc->head = n->next))
            lc->tail = NULL;
        *msg = n->data;
        *len = n->len;
        sdsinf__free(n);
        return SDSINF_OK;
    }
    double deadline = sdsinf__now() + timeout_ms / 1e3;
    for (;;) {
        uint32_t seen = atomic_load(&me->bell);
        int got, rc = take_any(lc, &got, msg, len, err);
        if (rc != SDSINF_OK || got)
            return rc;
        double left = (deadline - sdsinf__now()) * 1e3;
        if (left <= 0)
            break;
        bell_wait(me, seen, left);
    }
    if (want)
        return sdsinf__fail(err, SDSINF_ETIMEDOUT, "channel 'local': worker "
                            "%d got no message in %d ms (awaiting batch %"
                            PRIu32 " layer %" PRIu32 " from worker %" PRIu32
                            " of run %" PRIu64 " at %s)", ch->self,
                            timeout_ms, want->batch, want->layer, want->source,
                            ch->run, lc->path);
    return sdsinf__fail(err, SDSINF_ETIMEDOUT, "channel 'local': worker %d got "
                        "no message in %d ms (run %" PRIu64 " at %s)",
                        ch->self, timeout_ms, ch->run, lc->path);
}

/* ---- Send ---------------------------------------------------------------- */

/* Writes the message to a file of its own; its number into *seq. */
static int file_write(local_channel *lc, const void *msg, size_t len,
                      uint64_t *seq, sdsinf_err *err)
{
    shm_slot *me = &lc->slots[lc->base.self];
    for (;;) {
        *seq = atomic_fetch_add(&me->seq, 1) + 1;
        char *p = msg_path(lc, (uint32_t)lc->base.self, *seq);
        if (!p)
            return sdsinf__fail(err, SDSINF_ENOMEM, "channel 'local': no "
                                "memory");
        int fd = open(p, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        if (fd < 0 && errno == EEXIST) { /* an earlier open of this worker's */
            sdsinf__free(p);
            continue;
        }
        size_t done = 0;
        while (fd >= 0 && done < len) {
            ssize_t k = write(fd, (const unsigned char *)msg + done, len - done);
            if (k < 0 && errno == EINTR)
                continue;
            if (k <= 0)
                break;
            done += (size_t)k;
        }
        int e = errno;
        if (fd >= 0)
            close(fd);
        if (done == len) {
            sdsinf__free(p);
            return SDSINF_OK;
        }
        if (fd >= 0)
            unlink(p);
        int rc = sdsinf__fail(err, SDSINF_EIO, "channel 'local': worker %d "
                              "cannot write a %zu-byte message to %s: %s",
                              lc->base.self, len, p, strerror(e));
        sdsinf__free(p);
        return rc;
    }
}

/* Waits for the target to open, or for room in a ring: sleeps on this
 * worker's bell (rung by arrivals too, which it takes meanwhile). */
static int send_wait(local_channel *lc, uint32_t seen, double deadline,
                     sdsinf_err *err)
{
    int rc = drain(lc, err);
    if (rc != SDSINF_OK)
        return rc;
    double left = (deadline - sdsinf__now()) * 1e3;
    if (left <= 0)
        return SDSINF_ETIMEDOUT;
    bell_wait(&lc->slots[lc->base.self], seen, left < 5 ? left : 5);
    return SDSINF_OK;
}

static int local_send(sdsinf_channel *ch, const sdsinf_msg_key *key,
                      const void *msg, size_t len, sdsinf_err *err)
{
    local_channel *lc = (local_channel *)ch;
    uint32_t t = key->target;
    int W = ch->workers, rc = SDSINF_OK;
    shm_ring *r = &lc->rings[(size_t)ch->self * W + t];
    unsigned char *d = lc->data + ((size_t)ch->self * W + t) * lc->ring;
    shm_slot *me = &lc->slots[ch->self], *peer = &lc->slots[t];
    double deadline = sdsinf__now() + lc->send_timeout_ms / 1e3;
    int inline_ok = len <= lc->ring / 4;
    uint64_t seq = 0, tail = atomic_load_explicit(&r->tail,
                                                  memory_order_relaxed);
    for (;;) { /* the target open, and room for the frame */
        uint32_t seen = atomic_load(&me->bell);
        uint64_t room = lc->ring - (tail - atomic_load_explicit(
                                               &r->head, memory_order_acquire));
        if (atomic_load(&peer->opened)) {
            if (inline_ok && FRAME + pad8(len) <= room)
                break;
            if (FRAME + 8 <= room) {
                inline_ok = 0;
                break;
            }
            atomic_store(&r->want_room, 1);
            if (room != lc->ring - (tail - atomic_load(&r->head)))
                continue; /* room came meanwhile */
        }
        if ((rc = send_wait(lc, seen, deadline, err)) != SDSINF_OK)
            break;
    }
    if (rc == SDSINF_ETIMEDOUT)
        return sdsinf__fail(err, rc, "channel 'local': worker %d could not "
                            "send %zu bytes (batch %" PRIu32 " layer %" PRIu32
                            ") to worker %" PRIu32 " within %d ms: %s", ch->self,
                            len, key->batch, key->layer, t,
                            lc->send_timeout_ms, atomic_load(&peer->opened)
                                ? "it is not reading"
                                : "it is not running (same run id and "
                                  "directory?)");
    if (rc != SDSINF_OK)
        return rc;
    if (!inline_ok && (rc = file_write(lc, msg, len, &seq, err)) != SDSINF_OK)
        return rc;
    unsigned char f[FRAME] = {0};
    uint64_t n = len;
    uint32_t kind = inline_ok ? KIND_INLINE : KIND_FILE;
    memcpy(f, &n, 8);
    memcpy(f + 8, &kind, 4);
    ring_put(lc, d, tail, f, FRAME);
    if (inline_ok)
        ring_put(lc, d, tail + FRAME, msg, len);
    else
        ring_put(lc, d, tail + FRAME, &seq, 8);
    atomic_store_explicit(&r->tail, tail + FRAME + (inline_ok ? pad8(len) : 8),
                          memory_order_release);
    bell_ring(peer);
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
