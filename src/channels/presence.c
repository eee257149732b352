/* channels/presence.c - the open instances of a run on this machine: lock
 * files that die with their process, counts of this process's own. */
#include "channels/presence.h"
#include "channels/channels.h"
#include "run/sweep.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The runs this process has open, by directory. */
typedef struct open_run {
    struct open_run *next;
    pid_t pid; /* the process that counted (a fork()ed child starts over) */
    int count;
    char dir[];
} open_run;

struct sdsinf__presence {
    open_run *counted;
    int fd;        /* the locked file's descriptor */
    char path[];   /* <dir>/.open.<worker>.<pid>.<n> */
};

static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static open_run *opens;
static atomic_ullong counter;

/* Counts an instance of dir open in this process (mu held). */
static open_run *count_open(const char *dir)
{
    pid_t me = getpid();
    open_run *r = opens;
    while (r && (r->pid != me || strcmp(r->dir, dir) != 0))
        r = r->next;
    if (!r) {
        size_t n = strlen(dir) + 1;
        if (!(r = sdsinf__malloc(sizeof *r + n)))
            return NULL;
        r->pid = me;
        r->count = 0;
        memcpy(r->dir, dir, n);
        r->next = opens;
        opens = r;
    }
    r->count++;
    return r;
}

/* Uncounts one (mu held); how many this process still has open. */
static int uncount_open(open_run *r)
{
    int left = --r->count;
    if (left == 0) {
        open_run **p = &opens;
        while (*p != r)
            p = &(*p)->next;
        *p = r->next;
        sdsinf__free(r);
    }
    return left;
}

/* Whether another live process has the run at dir open; removes the
 * files of processes that died. */
static int others_open(const char *dir)
{
    DIR *d = opendir(dir);
    char me[32], path[4096];
    int live = 0;
    snprintf(me, sizeof me, ".%ld.", (long)getpid());
    if (!d)
        return 0;
    struct dirent *de;
    while (!live && (de = readdir(d))) {
        const char *s = de->d_name;
        if (strncmp(s, ".open.", 6) != 0)
            continue;
        const char *dot = strchr(s + 6, '.'); /* .<pid>.<n> after the worker */
        if (dot && strncmp(dot, me, strlen(me)) == 0)
            continue; /* this process's: counted in memory (and closing a
                         descriptor of it would drop its lock) */
        snprintf(path, sizeof path, "%s/%s", dir, s);
        int fd = open(path, O_RDWR | O_CLOEXEC);
        if (fd < 0)
            continue;
        struct flock fl;
        memset(&fl, 0, sizeof fl);
        fl.l_type = F_WRLCK;
        fl.l_whence = SEEK_SET;
        if (fcntl(fd, F_GETLK, &fl) == 0 && fl.l_type == F_UNLCK)
            unlink(path); /* its process is gone */
        else
            live = 1;
        close(fd);
    }
    closedir(d);
    return live;
}

/* Makes and write-locks p's file; 0, or -1 with errno. */
static int lock_file(sdsinf__presence *p)
{
    p->fd = open(p->path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (p->fd < 0)
        return -1;
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    if (fcntl(p->fd, F_SETLK, &fl) != 0) {
        int e = errno;
        close(p->fd);
        unlink(p->path);
        errno = e;
        return -1;
    }
    return 0;
}

int sdsinf__presence_enter(const char *dir, int self, sdsinf__presence **out)
{
    size_t cap = strlen(dir) + 96;
    sdsinf__presence *p = sdsinf__malloc(sizeof *p + cap);
    if (!p) {
        errno = ENOMEM;
        return -1;
    }
    snprintf(p->path, cap, "%s/.open.%d.%ld.%llu", dir, self, (long)getpid(),
             (unsigned long long)atomic_fetch_add(&counter, 1));
    pthread_mutex_lock(&mu);
    int rc = -1, e = 0;
    for (int attempt = 0; attempt < 2 && rc != 0; attempt++) /* ENOENT: the
                                            run was just removed: again */
        if ((rc = sdsinf__mkdir_p(dir) == 0 ? lock_file(p) : -1) != 0 &&
            (e = errno) != ENOENT)
            break;
    if (rc == 0 && !(p->counted = count_open(dir))) {
        close(p->fd);
        unlink(p->path);
        rc = -1;
        e = ENOMEM;
    }
    pthread_mutex_unlock(&mu);
    if (rc != 0) {
        sdsinf__free(p);
        errno = e;
        return -1;
    }
    *out = p;
    return 0;
}

int sdsinf__presence_join(const char *channel, const char *dir, int self,
                          sdsinf__presence **out, sdsinf_err *err)
{
    if (sdsinf__presence_enter(dir, self, out) == 0)
        return SDSINF_OK;
    int e = errno;
    return sdsinf__fail(err, sdsinf__errno_status(e),
                        "channel '%s': worker %d cannot mark itself open in "
                        "%.100s: %s; set SDSINF_SCRATCH to a directory it may "
                        "write",
                        channel, self, dir, strerror(e));
}

int sdsinf__presence_leave(sdsinf__presence *p, int cleanup)
{
    if (!p)
        return 0;
    char *slash = strrchr(p->path, '/'), mark[4096];
    *slash = 0; /* p->path is the directory now */
    snprintf(mark, sizeof mark, "%s/.cleanup", p->path);
    pthread_mutex_lock(&mu);
    int here = uncount_open(p->counted);
    /* ordered so that of two leaving at once, one sees the other gone:
     * give up the file, mark, then look */
    close(p->fd);
    *slash = '/';
    unlink(p->path);
    *slash = 0;
    if (cleanup) {
        int fd = open(mark, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        if (fd >= 0)
            close(fd);
    }
    int last = !here && access(mark, F_OK) == 0 && !others_open(p->path);
    if (!last && !here)
        rmdir(p->path); /* (only once empty) */
    sdsinf__free(p);
    if (!last)
        pthread_mutex_unlock(&mu);
    return last;
}

void sdsinf__presence_removed(const char *dir)
{
    char path[4096];
    snprintf(path, sizeof path, "%s", dir);
    sdsinf__rm_tree(path, sizeof path, 0, NULL, NULL, NULL);
    pthread_mutex_unlock(&mu);
}

int sdsinf__standalone_join(sdsinf__standalone *s, const char *channel,
                            const char *name, uint64_t run, int self,
                            sdsinf_err *err)
{
    snprintf(s->dir, sizeof s->dir, "%s/sdsinf-%s-%s-%016" PRIx64,
             sdsinf__scratch_dir(), channel, name, run);
    return sdsinf__presence_join(channel, s->dir, self, &s->presence, err);
}

int sdsinf__standalone_leave(sdsinf__standalone *s, int cleanup,
                             sdsinf__standalone_remove remove, void *ctx,
                             sdsinf_err *err)
{
    int code = SDSINF_OK;
    sdsinf__presence *p = s->presence;
    s->presence = NULL;
    if (sdsinf__presence_leave(p, cleanup) == 1) {
        if (remove)
            code = remove(ctx, err);
        sdsinf__presence_removed(s->dir);
    }
    return code;
}

int sdsinf__standalone_opened(sdsinf__standalone *s, int code, int created,
                              int cleanup, sdsinf__standalone_remove remove,
                              void *ctx)
{
    if (code == SDSINF_OK && created)
        sdsinf__standalone_leave(s, 0, NULL, NULL, NULL);
    else if (code != SDSINF_OK)
        sdsinf__standalone_leave(s, cleanup, remove, ctx, NULL);
    return code;
}
