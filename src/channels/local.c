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
 * Life cycle, under an flock of the file: run_create (the coordinator's)
 * makes the directory and the file, marked as made so; open creates and
 * sizes the file if that is not done (or checks it holds the same run) and
 * marks its slot open; close marks it closed.  run_destroy removes the
 * file, the run's message files and the directory if that left it empty.
 * In a run made without run_create, the last close (no other slot open;
 * with cleanup: held by a live process) does that instead.  Files removed
 * while others still map them stay valid to those.  Requests are calls
 * (send, receive; empty: a receive that timed out).  A send waits, at most the send timeout (30 s; control
 * op SDSINF_LOCAL_SEND_TIMEOUT), for its target to open; to one that has
 * been open and closed it goes into the ring all the same (a late
 * duplicate, or a loss the receiver's timeout reports). */
#define _DEFAULT_SOURCE /* flock, syscall */
#include "channels/channels.h"
#include "channels/settings.h"

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

#define SHM_MAGIC 0x324d4853444c4453ull /* "SDLSHM2" */
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
    uint32_t flags, spare;  /* RUN_CREATED */
} shm_header;

#define RUN_CREATED 1u /* made by run_create: removed by run_destroy */
#define PATH_CAP 4096  /* a directory's path */
#define FILE_CAP (PATH_CAP + 32) /* a file's in it */

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

/* Removes the run's message files from dir (and, with shm, its shared
 * file), counting each removal; the number of this run's entries left
 * that could not be removed, or with dry_run, of those there are. */
static int64_t run_files(const char *dir, uint64_t run, int shm, int dry_run,
                         sdsinf_requests *req)
{
    DIR *d = opendir(dir);
    char prefix[32];
    int plen = snprintf(prefix, sizeof prefix, "%" PRIu64 ".", run);
    int64_t left = 0;
    if (req)
        req->list++;
    if (!d)
        return 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t n = strlen(de->d_name);
        if (strncmp(de->d_name, prefix, (size_t)plen) != 0)
            continue;
        int ours = n >= 5 && (!strcmp(de->d_name + n - 4, ".msg") ||
                              (shm && !strcmp(de->d_name + plen, "shm")));
        if (ours && !dry_run) {
            char p[PATH_CAP + 256];
            snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
            if (req)
                req->remove++;
            ours = unlink(p) != 0 && errno != ENOENT;
        }
        left += dry_run || ours;
    }
    closedir(d);
    return left;
}

/* Undoes open as far as it got; with `last`, also removes the run. */
static void local_release(local_channel *lc, int last)
{
    if (last)
        run_files(lc->dir, lc->base.run, 1, 0, &lc->base.requests);
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

/* What a failed system call on path means for `who`: the status and a
 * message saying what to do. */
static int sys_fail(const char *who, const char *doing, const char *path,
                    int e, sdsinf_err *err)
{
    int code = sdsinf__errno_status(e);
    return sdsinf__fail(err, code, "channel 'local': %s cannot %s %s: %s%s",
                        who, doing, path, strerror(e),
                        code == SDSINF_EACCES
                            ? "; give it a directory it may write (the "
                              "channel config, or $SDSINF_SCRATCH)"
                            : "");
}

/* Opens path (the run's file in dir) into *fd, locked: one that no closer
 * removed meanwhile, made (with dir) when missing. */
static int file_open_locked(const char *dir, const char *path, int *fd,
                            const char *who, sdsinf_err *err)
{
    for (;;) {
        struct stat st;
        *fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
        if (*fd < 0 && errno == ENOENT && sdsinf__mkdir_p(dir) == 0)
            continue; /* the directory went with another run's cleanup */
        if (*fd < 0)
            return sys_fail(who, "open", path, errno, err);
        while (flock(*fd, LOCK_EX) != 0 && errno == EINTR) {
        }
        if (fstat(*fd, &st) == 0 && st.st_nlink > 0)
            return SDSINF_OK;
        close(*fd); /* removed by the run's last closer: a new one */
        *fd = -1;
    }
}

/* Sizes a new file (fd, at path) and writes header h, or checks that an
 * existing one holds the same run (and adds h's flags to it). */
static int file_prepare(int fd, const char *path, const shm_header *h,
                        size_t map_len, const char *who, sdsinf_err *err)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return sys_fail(who, "stat", path, errno, err);
    if (st.st_size == 0) {
        if (ftruncate(fd, (off_t)map_len) != 0 ||
            pwrite(fd, h, sizeof *h, 0) != (ssize_t)sizeof *h)
            return sdsinf__fail(err, SDSINF_EIO, "channel 'local': cannot "
                                "size %s to %zu bytes: %s", path, map_len,
                                strerror(errno));
        return SDSINF_OK;
    }
    shm_header got;
    if ((size_t)st.st_size != map_len ||
        pread(fd, &got, sizeof got, 0) != (ssize_t)sizeof got ||
        got.magic != h->magic || got.run != h->run ||
        got.workers != h->workers || got.ring != h->ring)
        return sdsinf__fail(err, SDSINF_EINVAL, "channel 'local': %s belongs "
                            "to another run or worker count (%s of %u "
                            "workers, run %" PRIu64 "); give each run its own "
                            "id or remove the file", path, who, h->workers,
                            h->run);
    got.flags |= h->flags;
    if (h->flags && pwrite(fd, &got, sizeof got, 0) != (ssize_t)sizeof got)
        return sys_fail(who, "write", path, errno, err);
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

/* The run's directory and file: dir (config, or the default) and
 * <dir>/<run>.shm into path; SDSINF_EINVAL when too long. */
static int run_paths(const char *config, uint64_t run, char dir[PATH_CAP],
                     char path[FILE_CAP], sdsinf_err *err)
{
    char def[PATH_CAP];
    const char *d = sdsinf__local_dir(config, run, def, sizeof def);
    if (snprintf(dir, PATH_CAP, "%s", d) >= PATH_CAP - 40)
        return sdsinf__fail(err, SDSINF_EINVAL, "channel 'local': the "
                            "directory %.80s... is too long; pass a shorter "
                            "one as the config", d);
    snprintf(path, FILE_CAP, "%s/%" PRIu64 ".shm", dir, run);
    return SDSINF_OK;
}

/* Whether the run was made by run_create (its state stays for
 * run_destroy). */
static int run_created(const local_channel *lc)
{
    return lc->map && (((const volatile shm_header *)lc->map)->flags &
                       RUN_CREATED);
}

static int local_open(sdsinf_channel *ch, const char *config, sdsinf_err *err)
{
    local_channel *lc = (local_channel *)ch;
    char dir[PATH_CAP], path[FILE_CAP], who[32];
    int rc;
    lc->fd = -1;
    lc->send_timeout_ms = SEND_TIMEOUT_MS;
    snprintf(who, sizeof who, "worker %d", ch->self);
    if ((rc = run_paths(config, ch->run, dir, path, err)))
        return rc;
    lc->dir = sdsinf__malloc(strlen(dir) + 1);
    lc->path = sdsinf__malloc(strlen(path) + 1);
    if (!lc->dir || !lc->path) {
        local_release(lc, 0);
        return sdsinf__fail(err, SDSINF_ENOMEM, "channel 'local': no memory "
                            "to open worker %d", ch->self);
    }
    strcpy(lc->dir, dir);
    strcpy(lc->path, path);
    lc->ring = ring_bytes(ch->workers);
    lc->map_len = map_bytes(ch->workers, lc->ring);
    shm_header h = {SHM_MAGIC, ch->run, (uint32_t)ch->workers, lc->ring, 0, 0};
    if (sdsinf__mkdir_p(lc->dir) != 0) {
        rc = sys_fail(who, "make the run directory", lc->dir, errno, err);
        local_release(lc, 0);
        return rc;
    }
    if ((rc = file_open_locked(lc->dir, lc->path, &lc->fd, who, err)) !=
            SDSINF_OK ||
        (rc = file_prepare(lc->fd, lc->path, &h, lc->map_len, who, err)) !=
            SDSINF_OK)
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
    int last = !run_created(lc); /* a file this open made, nobody else
                                    holds: remove */
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
    int last = !run_created(lc);
    while (flock(lc->fd, LOCK_EX) != 0 && errno == EINTR) {
    }
    atomic_store(&lc->slots[ch->self].open, 0);
    for (int w = 0; w < ch->workers; w++)
        last &= !slot_held(&lc->slots[w], cleanup);
    local_release(lc, last);
    return SDSINF_OK;
}

/* Makes the run's directory and its shared file, marked as made here. */
static int local_run_create(void *state, const char *config, uint64_t run,
                            int workers, sdsinf_requests *req,
                            sdsinf_err *err)
{
    (void)state;
    char dir[PATH_CAP], path[FILE_CAP];
    int fd = -1, rc = run_paths(config, run, dir, path, err);
    uint32_t ring = ring_bytes(workers);
    shm_header h = {SHM_MAGIC, run, (uint32_t)workers, ring, RUN_CREATED, 0};
    if (rc == SDSINF_OK && sdsinf__mkdir_p(dir) != 0)
        rc = sys_fail("run_create", "make the run directory", dir, errno, err);
    if (rc == SDSINF_OK &&
        (rc = file_open_locked(dir, path, &fd, "run_create", err)) ==
            SDSINF_OK) {
        req->send++;
        rc = file_prepare(fd, path, &h, map_bytes(workers, ring),
                          "run_create", err);
    }
    if (fd >= 0)
        close(fd);
    return rc;
}

/* Removes the run's file, its message files and its directory once that
 * is empty (an owner record keeps it: sweep.c removes both). */
static int local_run_destroy(void *state, const char *config, uint64_t run,
                             int workers, sdsinf_requests *req,
                             sdsinf_err *err)
{
    (void)state, (void)workers;
    char dir[PATH_CAP], path[FILE_CAP];
    int rc = run_paths(config, run, dir, path, err);
    if (rc != SDSINF_OK)
        return rc;
    int64_t left = run_files(dir, run, 1, 0, req);
    if (rmdir(dir) == 0)
        req->remove++;
    if (left)
        return sdsinf__fail(err, SDSINF_EIO, "channel 'local': %lld files of "
                            "run %" PRIu64 " in %s could not be removed: "
                            "remove them by hand", (long long)left, run, dir);
    return SDSINF_OK;
}

/* The run's file and message files, and its directory when nothing else
 * is in it. */
static int local_run_residue(void *state, const char *config, uint64_t run,
                             int64_t *items, sdsinf_err *err)
{
    (void)state;
    char dir[PATH_CAP], path[FILE_CAP];
    int rc = run_paths(config, run, dir, path, err);
    if (rc != SDSINF_OK)
        return rc;
    int64_t n = run_files(dir, run, 1, 1, NULL), all = 0;
    DIR *d = opendir(dir);
    for (struct dirent *de; d && (de = readdir(d));)
        all += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
    if (d)
        closedir(d);
    *items = n + (d && all == n);
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
    SDSINF__COUNT(ch, receive, 1);
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
    SDSINF__COUNT(ch, empty, 1);
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
    SDSINF__COUNT(ch, send, 1);
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
    .run_create = local_run_create,
    .run_destroy = local_run_destroy,
    .run_residue = local_run_residue,
    .config_prepare = sdsinf__config_dir_absolute,
};
