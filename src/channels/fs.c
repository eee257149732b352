/* channels/fs.c - the "fs" channel: an object store in a directory, with the
 * Object variant's semantics (SDS-Inf on S3), for processes that share a
 * filesystem.
 *
 * One object per (run, batch, layer, source, target), at the known key
 *   <dir>/<run>/<batch>/<layer>/<target>/<source>.msg
 * where dir is the config string (default /dev/shm/sdsinf-store, or
 * $TMPDIR/sdsinf-store without /dev/shm: sdsinf__scratch_dir; a journaled
 * disk filesystem makes every create and rename wait on its journal, 10x
 * slower here).  A sender writes a temporary file beside it (a name that
 * starts with '.') and renames it into place, so a reader sees a whole
 * object or none; sending a key again replaces its object (the runtime
 * deduplicates).  Objects stay until the run is cleaned up.
 *
 * Cleanup: run_create (the run's coordinator) makes <dir>/<run> with a
 * mark, <dir>/<run>/.created, and run_destroy removes <dir>/<run> (and the
 * default store, once empty); a worker that outlives run_destroy (the run
 * ended without it) finds the mark gone and sends nothing more, so it
 * does not make the run again.  In a run made without run_create,
 * close(cleanup=1) does that, or, while other workers of the run still
 * have it open, leaves a mark (<dir>/<run>/.cleanup) so that the last of
 * them to close removes it: every worker may clean up as it finishes.
 * Open instances are known from a per-process count and, across
 * processes, from a file each holds an fcntl() write lock on
 * (<dir>/<run>/.open.<worker>.<pid>.<n>: channels/presence.h); the lock
 * dies with its process, so a crashed worker never holds a run's cleanup
 * back.
 *
 * Requests, as an object store would bill them: an object put is a send,
 * an object read or looked for a receive (empty when not there: every
 * poll of recv), a listing of a layer's objects a list, an object removed
 * a remove.  The channel's own bookkeeping (the open files, the marks,
 * the directories) is not counted: an object store has none of it.
 *
 * recv fetches exactly the `want` key, polling with backoff (0.05 ms,
 * doubling to 2 ms) until the timeout.  With control(SDSINF_FS_LISTING,
 * &on) recv instead lists <dir>/<run>/<batch>/<layer>/<self>/ (batch and
 * layer from `want`) and returns any object it has not returned yet, as
 * SDS-Inf did.  A key holds one object: send a block's chunks as one
 * message (max_message 0). */
#include "channels/channels.h"
#include "channels/settings.h"
#include "channels/presence.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Control operation: int *, nonzero to receive by listing. */

#define POLL_FIRST_MS 0.05
#define POLL_MAX_MS 2.0
#define SEEN_SLOTS 16 /* (batch, layer) directories listing remembers */
#define PATH_CAP 4096 /* a directory's path */
#define FILE_CAP (PATH_CAP + 320) /* a file's: directory and name */
#define NOT_THERE 1   /* internal: the object is not (yet) there */

/* The sources already returned from one (batch, layer) in listing mode. */
typedef struct fs_seen {
    uint32_t batch, layer;
    uint64_t used; /* when last used, for eviction; 0: empty slot */
    unsigned char *bits; /* one bit per worker */
} fs_seen;

typedef struct fs_channel {
    sdsinf_channel base;
    char *root;          /* <dir>/<run> */
    sdsinf__presence *presence; /* the instance's open mark */
    int listing;
    int own_store;       /* <dir> is the default store, sdsinf's own */
    int created;         /* the run was made by run_create */
    fs_seen seen[SEEN_SLOTS];
    uint64_t clock;
} fs_channel;

static atomic_ullong tmp_counter;
static pthread_mutex_t opens_mu = PTHREAD_MUTEX_INITIALIZER; /* open, close
                                         and run_destroy of this process */

/* ---- Helpers ------------------------------------------------------------ */

/* <root>/<batch>/<layer>/<target> into out; -1 when too long. */
static int dir_of(const fs_channel *fc, uint32_t batch, uint32_t layer,
                  uint32_t target, char *out)
{
    int n = snprintf(out, PATH_CAP, "%s/%" PRIu32 "/%" PRIu32 "/%" PRIu32,
                     fc->root, batch, layer, target);
    return n < 0 || n >= PATH_CAP - 64 ? -1 : 0; /* room for a file name */
}

/* The source of an object's file name ("<source>.msg"), or -1. */
static long parse_name(const char *s, int workers)
{
    long v = 0;
    const char *p = s;
    while (*p >= '0' && *p <= '9' && v <= workers)
        v = v * 10 + (*p++ - '0');
    if (p == s || strcmp(p, ".msg") != 0 || v >= workers)
        return -1;
    return v;
}

/* Reads a whole object into a malloc'd buffer: SDSINF_OK, NOT_THERE, or
 * a failure. */
static int read_object(const fs_channel *fc, const char *path, void **msg,
                       size_t *len, sdsinf_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? NOT_THERE
                               : sdsinf__fail(err, SDSINF_EIO,
                                              "channel 'fs': worker %d cannot "
                                              "open %s: %s",
                                              fc->base.self, path,
                                              strerror(errno));
    int rc = SDSINF_OK;
    unsigned char *buf = NULL;
    struct stat st;
    if (fstat(fd, &st) != 0 || st.st_size < 0) {
        rc = sdsinf__fail(err, SDSINF_EIO,
                          "channel 'fs': worker %d cannot stat %s: %s",
                          fc->base.self, path, strerror(errno));
        goto done;
    }
    size_t size = (size_t)st.st_size, got = 0;
    buf = malloc(size ? size : 1);
    if (!buf) {
        rc = sdsinf__fail(err, SDSINF_ENOMEM,
                          "channel 'fs': worker %d has no memory for the "
                          "%zu-byte object %s",
                          fc->base.self, size, path);
        goto done;
    }
    while (got < size) {
        ssize_t r = read(fd, buf + got, size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            rc = sdsinf__fail(err, SDSINF_EIO,
                              "channel 'fs': worker %d read %zu of %zu bytes "
                              "of %s: %s",
                              fc->base.self, got, size, path,
                              r < 0 ? strerror(errno) : "it shrank");
            goto done;
        }
        got += (size_t)r;
    }
    *msg = buf;
    *len = size;
    buf = NULL;
done:
    free(buf);
    close(fd);
    return rc;
}

/* ---- Open and close ------------------------------------------------------ */

static void fs_release(fs_channel *fc)
{
    for (int i = 0; i < SEEN_SLOTS; i++)
        sdsinf__free(fc->seen[i].bits);
    sdsinf__free(fc->root);
    fc->root = NULL;
}

const char *sdsinf__fs_store(const char *config, char *def, size_t cap)
{
    if (config && config[0])
        return config;
    snprintf(def, cap, "%s/sdsinf-store", sdsinf__scratch_dir());
    return def;
}

/* <store>/<run> into root (config, or the default store); SDSINF_EINVAL
 * when too long for the objects' paths under it. */
static int run_root(const char *config, uint64_t run, char root[PATH_CAP],
                    sdsinf_err *err)
{
    char def[PATH_CAP];
    const char *store = sdsinf__fs_store(config, def, sizeof def);
    if (snprintf(root, PATH_CAP, "%s/%" PRIu64, store, run) >= PATH_CAP - 128)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "channel 'fs': the store %.80s... is too long; "
                            "pass a shorter directory as the config",
                            store);
    return SDSINF_OK;
}

/* The failure to make or open the run's directory root (errno e). */
static int root_fail(const char *who, const char *root, int e,
                     sdsinf_err *err)
{
    return sdsinf__fail(err, sdsinf__errno_status(e),
                        "channel 'fs': %s cannot open the run directory %s: "
                        "%s; pass a directory it may write as the config",
                        who, root, strerror(e));
}

/* Removes the run at root and, from the default store (own_store), the
 * store once no run is left in it; each object removed counted in *req.
 * 0, or -1 with errno. */
static int remove_run(const char *root, int own_store, sdsinf_requests *req)
{
    char path[FILE_CAP];
    int64_t objects = 0;
    snprintf(path, sizeof path, "%s", root);
    int rc = sdsinf__rm_tree(path, sizeof path, 0, ".msg", &objects, NULL);
    int e = errno;
    req->remove += (uint64_t)objects;
    char *slash = strrchr(path, '/');
    if (own_store && slash && slash != path) {
        *slash = 0;
        rmdir(path); /* the default store, once no run is left in it
                        (sdsinf__mkdir_p retries a run's directory whose
                        parent went meanwhile) */
    }
    errno = e;
    return rc;
}

static int fs_open(sdsinf_channel *ch, const char *config, sdsinf_err *err)
{
    fs_channel *fc = (fs_channel *)ch;
    char root[PATH_CAP], who[32];
    int rc;
    fc->own_store = !config || !config[0];
    snprintf(who, sizeof who, "worker %d", ch->self);
    if ((rc = run_root(config, ch->run, root, err)) != SDSINF_OK)
        return rc;
    if (!(fc->root = sdsinf__malloc(strlen(root) + 1)))
        return sdsinf__fail(err, SDSINF_ENOMEM,
                            "channel 'fs': no memory to open worker %d", ch->self);
    strcpy(fc->root, root);
    pthread_mutex_lock(&opens_mu);
    if (sdsinf__presence_enter(fc->root, ch->self, &fc->presence) != 0) {
        rc = root_fail(who, fc->root, errno, err);
    } else {
        char mark[FILE_CAP];
        snprintf(mark, sizeof mark, "%s/.created", fc->root);
        fc->created = access(mark, F_OK) == 0;
    }
    pthread_mutex_unlock(&opens_mu);
    if (rc != SDSINF_OK)
        fs_release(fc);
    return rc;
}

static int fs_close(sdsinf_channel *ch, int cleanup, sdsinf_err *err)
{
    (void)err;
    fs_channel *fc = (fs_channel *)ch;
    pthread_mutex_lock(&opens_mu);
    /* (a run made by run_create is run_destroy's to remove) */
    if (sdsinf__presence_leave(fc->presence, cleanup && !fc->created) == 1) {
        remove_run(fc->root, fc->own_store, &ch->requests);
        sdsinf__presence_removed(fc->root);
    }
    fc->presence = NULL;
    pthread_mutex_unlock(&opens_mu);
    fs_release(fc);
    return SDSINF_OK;
}

/* Makes the run's directory, marked as made by run_create. */
static int fs_run_create(void *state, const char *config, uint64_t run,
                         int workers, sdsinf_requests *req, sdsinf_err *err)
{
    (void)state, (void)workers;
    char root[PATH_CAP], mark[FILE_CAP];
    int rc = run_root(config, run, root, err), fd = -1;
    if (rc != SDSINF_OK)
        return rc;
    snprintf(mark, sizeof mark, "%s/.created", root);
    if (sdsinf__mkdir_p(root) != 0 ||
        (fd = open(mark, O_WRONLY | O_CREAT | O_CLOEXEC, 0600)) < 0)
        return root_fail("run_create", root, errno, err);
    (void)req; /* the mark is bookkeeping, not an object */
    close(fd);
    return SDSINF_OK;
}

/* Removes the run's directory, whatever is in it. */
static int fs_run_destroy(void *state, const char *config, uint64_t run,
                          int workers, sdsinf_requests *req, sdsinf_err *err)
{
    (void)state, (void)workers;
    char root[PATH_CAP];
    int rc = run_root(config, run, root, err);
    pthread_mutex_lock(&opens_mu);
    if (rc == SDSINF_OK && remove_run(root, !config || !config[0], req) != 0)
        rc = sdsinf__fail(err, sdsinf__errno_status(errno),
                          "channel 'fs': cannot remove all of %s: %s; remove "
                          "it by hand", root, strerror(errno));
    pthread_mutex_unlock(&opens_mu);
    return rc;
}

/* The run's directory and everything under it. */
static int fs_run_residue(void *state, const char *config, uint64_t run,
                          int64_t *items, sdsinf_err *err)
{
    (void)state;
    char root[PATH_CAP], path[FILE_CAP];
    int64_t n = 0;
    int rc = run_root(config, run, root, err);
    if (rc != SDSINF_OK)
        return rc;
    snprintf(path, sizeof path, "%s", root);
    if (sdsinf__rm_tree(path, sizeof path, 1, NULL, &n, NULL) != 0)
        return sdsinf__fail(err, sdsinf__errno_status(errno),
                            "channel 'fs': cannot look through %s: %s", root,
                            strerror(errno));
    *items = n;
    return SDSINF_OK;
}

/* ---- Send ------------------------------------------------------------------ */

/* Writes msg to tmp (created, never existing before) whole. */
static int write_file(const char *tmp, const void *msg, size_t len)
{
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    const unsigned char *p = msg;
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, p + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = w < 0 ? errno : EIO;
            close(fd);
            unlink(tmp);
            errno = e;
            return -1;
        }
        done += (size_t)w;
    }
    if (close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return -1;
    }
    return 0;
}

/* Whether the run, made by run_create, has been removed by run_destroy
 * (its mark is gone): a worker that outlives its run must not make it
 * again. */
static int run_destroyed(const fs_channel *fc)
{
    char mark[FILE_CAP];
    snprintf(mark, sizeof mark, "%s/.created", fc->root);
    return fc->created && access(mark, F_OK) != 0;
}

static int fs_send(sdsinf_channel *ch, const sdsinf_msg_key *key,
                   const void *msg, size_t len, sdsinf_err *err)
{
    fs_channel *fc = (fs_channel *)ch;
    char dir[PATH_CAP], tmp[FILE_CAP], path[FILE_CAP];
    if (key->chunk != 0)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "channel 'fs': worker %d sends chunk %" PRIu32
                            " of batch %" PRIu32 " layer %" PRIu32 " to worker %"
                            PRIu32 "; a key holds one object: send the block's "
                            "chunks as one message",
                            ch->self, key->chunk, key->batch, key->layer,
                            key->target);
    if (dir_of(fc, key->batch, key->layer, key->target, dir) != 0)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "channel 'fs': object paths under %s are too long; "
                            "pass a shorter directory as the config",
                            fc->root);
    snprintf(path, sizeof path, "%s/%" PRIu32 ".msg", dir, key->source);
    snprintf(tmp, sizeof tmp, "%s/.%" PRIu32 ".msg.%ld.%llu.tmp", dir, key->source,
             (long)getpid(), (unsigned long long)atomic_fetch_add(&tmp_counter, 1));
    SDSINF__COUNT(ch, send, 1);
    for (int attempt = 0;; attempt++) {
        int e = 0;
        if (write_file(tmp, msg, len) != 0)
            e = errno;
        else if (rename(tmp, path) != 0) {
            e = errno;
            unlink(tmp);
        }
        if (!e)
            return SDSINF_OK;
        if (e == ENOENT && run_destroyed(fc))
            return sdsinf__fail(err, SDSINF_ECANCELED,
                                "channel 'fs': worker %d: run %" PRIu64
                                " is gone from %s (its coordinator ended it "
                                "and removed it)",
                                ch->self, ch->run, fc->root);
        if (e == ENOENT && attempt == 0 && sdsinf__mkdir_p(dir) == 0)
            continue; /* the key's first object: make its directory */
        if (e == ENOENT && attempt == 0)
            e = errno;
        return sdsinf__fail(err, sdsinf__errno_status(e),
                            "channel 'fs': worker %d cannot store %s (%zu "
                            "bytes): %s; check the store directory is "
                            "writable and has room",
                            ch->self, path, len, strerror(e));
    }
}

/* ---- Receive ----------------------------------------------------------------- */

static int timed_out(const fs_channel *fc, const sdsinf_msg_key *want,
                     const char *where, int timeout_ms, sdsinf_err *err)
{
    if (fc->listing)
        return sdsinf__fail(err, SDSINF_ETIMEDOUT,
                            "channel 'fs': worker %d found no new object in %s "
                            "in %d ms (listing batch %" PRIu32 " layer %" PRIu32
                            ", awaiting worker %" PRIu32 ")",
                            fc->base.self, where, timeout_ms, want->batch,
                            want->layer, want->source);
    return sdsinf__fail(err, SDSINF_ETIMEDOUT,
                        "channel 'fs': worker %d found no object at %s in %d "
                        "ms (awaiting batch %" PRIu32 " layer %" PRIu32
                        " from worker %" PRIu32 " of run %" PRIu64 ")",
                        fc->base.self, where, timeout_ms, want->batch,
                        want->layer, want->source, fc->base.run);
}

/* The seen-set of (batch, layer), made (evicting the oldest) if absent. */
static fs_seen *seen_of(fs_channel *fc, uint32_t batch, uint32_t layer)
{
    fs_seen *s = NULL, *old = &fc->seen[0];
    for (int i = 0; i < SEEN_SLOTS && !s; i++) {
        fs_seen *x = &fc->seen[i];
        if (x->used && x->batch == batch && x->layer == layer)
            s = x;
        else if (x->used < old->used)
            old = x;
    }
    if (!s) {
        unsigned char *bits = sdsinf__calloc(((size_t)fc->base.workers + 7) / 8, 1);
        if (!bits)
            return NULL;
        s = old;
        sdsinf__free(s->bits);
        s->bits = bits;
        s->batch = batch;
        s->layer = layer;
    }
    s->used = ++fc->clock;
    return s;
}

/* One look at the listing directory: SDSINF_OK with a message not
 * returned before, NOT_THERE, or a failure. */
static int list_once(fs_channel *fc, const char *dir, fs_seen *s, void **msg,
                     size_t *len, sdsinf_err *err)
{
    DIR *d = opendir(dir);
    SDSINF__COUNT(&fc->base, list, 1);
    if (!d)
        return errno == ENOENT ? NOT_THERE
                               : sdsinf__fail(err, SDSINF_EIO,
                                              "channel 'fs': worker %d cannot "
                                              "list %s: %s",
                                              fc->base.self, dir,
                                              strerror(errno));
    int rc = NOT_THERE;
    struct dirent *de;
    while (rc == NOT_THERE && (de = readdir(d))) {
        long src = parse_name(de->d_name, fc->base.workers);
        if (src < 0 || (s->bits[src / 8] >> (src % 8)) & 1)
            continue;
        char path[FILE_CAP];
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        SDSINF__COUNT(&fc->base, receive, 1);
        rc = read_object(fc, path, msg, len, err); /* NOT_THERE: vanished */
        if (rc == SDSINF_OK)
            s->bits[src / 8] |= (unsigned char)(1u << (src % 8));
    }
    closedir(d);
    return rc;
}

static int fs_recv(sdsinf_channel *ch, const sdsinf_msg_key *want, void **msg,
                   size_t *len, int timeout_ms, sdsinf_err *err)
{
    fs_channel *fc = (fs_channel *)ch;
    char dir[PATH_CAP], path[FILE_CAP];
    if (dir_of(fc, want->batch, want->layer, (uint32_t)ch->self, dir) != 0)
        return sdsinf__fail(err, SDSINF_EINVAL,
                            "channel 'fs': object paths under %s are too long",
                            fc->root);
    snprintf(path, sizeof path, "%s/%" PRIu32 ".msg", dir, want->source);
    fs_seen *s = NULL;
    if (fc->listing && !(s = seen_of(fc, want->batch, want->layer)))
        return sdsinf__fail(err, SDSINF_ENOMEM,
                            "channel 'fs': worker %d has no memory to list %s",
                            ch->self, dir);
    double deadline = sdsinf__now() + timeout_ms / 1e3, wait = POLL_FIRST_MS;
    for (;;) {
        SDSINF__COUNT(ch, receive, !s);
        int rc = s ? list_once(fc, dir, s, msg, len, err)
                   : read_object(fc, path, msg, len, err);
        if (rc != NOT_THERE)
            return rc;
        SDSINF__COUNT(ch, empty, 1);
        double left = (deadline - sdsinf__now()) * 1e3;
        if (left <= 0)
            return timed_out(fc, want, s ? dir : path, timeout_ms, err);
        sdsinf__sleep_ms(wait < left ? wait : left);
        wait = wait * 2 < POLL_MAX_MS ? wait * 2 : POLL_MAX_MS;
    }
}

static int fs_control(sdsinf_channel *ch, int op, void *arg, sdsinf_err *err)
{
    fs_channel *fc = (fs_channel *)ch;
    if (op == SDSINF_FS_LISTING) {
        if (!arg)
            return sdsinf__fail(err, SDSINF_EINVAL,
                                "channel 'fs', worker %d: listing needs an int "
                                "* (nonzero: on)",
                                ch->self);
        fc->listing = *(int *)arg != 0;
        return SDSINF_OK;
    }
    return sdsinf__fail(err, SDSINF_ENOTSUP,
                        "channel 'fs', worker %d: no control operation %d",
                        ch->self, op);
}

const sdsinf_channel_methods sdsinf__channel_fs = {
    .version = SDSINF_CHANNEL_VERSION,
    .name = "fs",
    .instance_size = sizeof(fs_channel),
    .caps = SDSINF_CAP_KEYED | SDSINF_CAP_PROCESSES | SDSINF_CAP_DETACHED,
    .max_message = 0,
    .open = fs_open,
    .send = fs_send,
    .recv = fs_recv,
    .close = fs_close,
    .control = fs_control,
    .run_create = fs_run_create,
    .run_destroy = fs_run_destroy,
    .run_residue = fs_run_residue,
    .config_prepare = sdsinf__config_dir_absolute,
};
