/* output.c - where a write of a path goes, in one place: files written whole
 * (a regular file through a temporary file renamed onto it; a device, FIFO,
 * socket or terminal straight through) and directories written whole
 * (built beside and renamed into place); an s3:// location through a
 * private file or directory under the scratch directory, stored when
 * committed (location.h).  Sections: paths, files, directories. */
#define _GNU_SOURCE /* renameat2, nftw */
#include "core/location.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* ---- paths ------------------------------------------------------------------ */

static char *dup_n(const char *s, size_t n)
{
    char *d = sdsinf__malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = 0;
    }
    return d;
}

/* Where a write of `path` lands: each symlink followed to its final target
 * (a relative target read beside its link).  *magic is set when a link
 * lives on /proc (/dev/stdout, /dev/fd/N): it names an open file, not a
 * place to rename onto.  NULL (errno set) on failure; caller frees. */
static char *final_target(const char *path, int *magic)
{
    struct stat st, proc;
    int have_proc = stat("/proc", &proc) == 0;
    char link[4096], *p = dup_n(path, strlen(path));
    for (int hops = 0; p; hops++) {
        if (lstat(p, &st) != 0 || !S_ISLNK(st.st_mode))
            return p; /* the final target, or a path still to create */
        *magic |= have_proc && st.st_dev == proc.st_dev;
        ssize_t n = hops < 40 ? readlink(p, link, sizeof link - 1) : -1;
        if (n < 0 || n == (ssize_t)sizeof link - 1) {
            errno = hops >= 40 ? ELOOP : n < 0 ? errno : ENAMETOOLONG;
            sdsinf__free(p);
            return NULL;
        }
        const char *slash = strrchr(p, '/');
        size_t dir = link[0] != '/' && slash ? (size_t)(slash - p) + 1 : 0;
        char *q = sdsinf__malloc(dir + (size_t)n + 1);
        if (q) {
            memcpy(q, p, dir);
            memcpy(q + dir, link, (size_t)n);
            q[dir + (size_t)n] = 0;
        }
        sdsinf__free(p);
        p = q;
    }
    errno = ENOMEM;
    return NULL;
}

/* A fresh name beside `final`: prefix + its last component + ".tmpXXXXXX"
 * with the X's filled in by make (0, or -1 with errno; EEXIST retried):
 * make creates the file or directory. */
static char *fresh_beside(const char *final, const char *prefix,
                          int (*make)(const char *name))
{
    const char *slash = strrchr(final, '/');
    size_t dir = slash ? (size_t)(slash - final) + 1 : 0;
    size_t n = strlen(final) + strlen(prefix) + 11;
    char *name = sdsinf__malloc(n);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t v = (uint64_t)getpid() * 0x9E3779B97F4A7C15ull ^
                 (uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)name;
    for (int attempt = 0; name && attempt < 100; attempt++) {
        snprintf(name, n, "%.*s%s%s.tmp", (int)dir, final, prefix,
                 final + dir);
        char *x = name + strlen(name);
        v = v * 6364136223846793005ull + 1442695040888963407ull;
        for (int i = 0; i < 6; i++)
            x[i] = "abcdefghijklmnopqrstuvwxyz0123456789"[(v >> (8 * i + 16))
                                                         % 36];
        x[6] = 0;
        if (make(name) == 0)
            return name;
        if (errno != EEXIST)
            break;
    }
    int e = name ? errno : ENOMEM;
    sdsinf__free(name);
    errno = e;
    return NULL;
}

/* ---- files ------------------------------------------------------------------ */

static int make_file(const char *name)
{
    int fd = open(name, O_WRONLY | O_CREAT | O_EXCL, 0666); /* umask applies */
    return fd < 0 ? -1 : close(fd);
}

/* A private file under the scratch directory for what goes to remote
 * location path, stored there by commit. */
static int remote_open(const char *path, sdsinf_output *o, sdsinf_err *err)
{
    size_t n = strlen(sdsinf__scratch_dir()) + 32;
    int fd = -1, rc = SDSINF_OK;
    o->name = dup_n(path, strlen(path));
    o->final = dup_n(path, strlen(path));
    o->temp = sdsinf__malloc(n);
    if (!o->name || !o->final || !o->temp)
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "%s: no memory", path);
    else if ((rc = sdsinf__scratch_make("sdsinf-out", path, o->temp, n, &fd,
                                        err)) != SDSINF_OK) {
        sdsinf__free(o->temp);
        o->temp = NULL; /* nothing made: nothing to remove */
    } else if (!(o->f = fdopen(fd, "w"))) {
        rc = sdsinf__fail(err, SDSINF_EIO, "%s: cannot write %s: %s", path,
                          o->temp, strerror(errno));
        close(fd);
    }
    if (rc != SDSINF_OK)
        sdsinf_output_abort(o);
    return rc;
}

/* SDSINF_EINVAL, naming path, unless the directory final (where a write of
 * path lands) goes in exists and may be written: checked before a file or
 * directory is made beside final. */
static int parent_check(const char *path, const char *final, sdsinf_err *err)
{
    struct stat ds;
    int rc = SDSINF_OK;
    const char *slash = strrchr(final, '/');
    char *dir = slash == final ? dup_n("/", 1)
                : slash        ? dup_n(final, (size_t)(slash - final))
                               : dup_n(".", 1);
    if (!dir)
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "%s: no memory", path);
    else if ((errno = 0, stat(dir, &ds) != 0) || !S_ISDIR(ds.st_mode))
        rc = sdsinf__fail(err, SDSINF_EINVAL, "%s: its directory %s %s: "
                          "create it first (mkdir -p %s) or choose another "
                          "path", path, dir, errno == ENOENT ? "does not "
                          "exist" : "is not a directory", dir);
    else if (access(dir, W_OK | X_OK) != 0)
        rc = sdsinf__fail(err, SDSINF_EINVAL, "%s: its directory %s is not "
                          "writable (%s): choose another path", path, dir,
                          strerror(errno));
    sdsinf__free(dir);
    return rc;
}

int sdsinf_output_check(const char *path, sdsinf_err *err)
{
    struct stat st;
    int magic = 0, rc = SDSINF_OK;
    if (sdsinf_location_remote(path))
        return SDSINF_OK;
    char *final = final_target(path, &magic);
    if (!final)
        return sdsinf__fail(err, SDSINF_EINVAL, "%s: cannot write: %s", path,
                            strerror(errno));
    int exists = stat(final, &st) == 0;
    if (exists && S_ISDIR(st.st_mode))
        rc = sdsinf__fail(err, SDSINF_EINVAL, "%s is a directory: give a "
                          "file name", path);
    else if (!exists || (!magic && S_ISREG(st.st_mode)))
        rc = parent_check(path, final, err); /* made or replaced beside */
    sdsinf__free(final);
    return rc;
}

int sdsinf_output_open(const char *path, sdsinf_output *o, sdsinf_err *err)
{
    struct stat st;
    memset(o, 0, sizeof *o);
    if (sdsinf_location_remote(path))
        return remote_open(path, o, err);
    int magic = 0, rc = SDSINF_OK, exists = stat(path, &st) == 0;
    if (!exists && errno != ENOENT)
        return sdsinf__fail(err, SDSINF_EIO, "%s: cannot write: %s", path,
                            strerror(errno));
    if ((rc = sdsinf_output_check(path, err)) != SDSINF_OK)
        return rc;
    if (!(o->name = dup_n(path, strlen(path))))
        return sdsinf__fail(err, SDSINF_ENOMEM, "%s: no memory", path);
    /* a regular file or a new path goes through a temporary file */
    if ((!exists || S_ISREG(st.st_mode)) &&
        (!(o->final = final_target(path, &magic)) ||
         (!magic && !(o->temp = fresh_beside(o->final, "", make_file))))) {
        rc = sdsinf__fail(err, SDSINF_EIO, "%s: cannot write: %s", path,
                          strerror(errno));
        goto done;
    }
    if (o->temp && exists)
        chmod(o->temp, st.st_mode & 07777); /* keep the file's mode */
    /* a link to an open file is appended to: truncating it would lose
     * what its other writers wrote */
    if (!(o->f = fopen(o->temp ? o->temp : path, magic ? "a" : "w")))
        rc = sdsinf__fail(err, SDSINF_EIO, "%s: cannot write: %s", path,
                          strerror(errno));
done:
    if (rc != SDSINF_OK)
        sdsinf_output_abort(o);
    return rc;
}

int sdsinf_output_commit(sdsinf_output *o, sdsinf_err *err)
{
    int rc = SDSINF_OK, bad = fflush(o->f) != 0 || ferror(o->f), e = errno;
    if (fclose(o->f) != 0 || bad)
        rc = sdsinf__fail(err, SDSINF_EIO, "%s: write failed: %s", o->name,
                          strerror(bad ? e : errno));
    o->f = NULL;
    if (rc == SDSINF_OK && sdsinf_location_remote(o->final))
        rc = sdsinf__location_store(o->temp, o->final, err); /* temp goes */
    else if (rc == SDSINF_OK && o->temp && rename(o->temp, o->final) != 0)
        rc = sdsinf__fail(err, SDSINF_EIO, "%s: cannot rename %s into "
                          "place: %s", o->name, o->temp, strerror(errno));
    else if (rc == SDSINF_OK) {
        sdsinf__free(o->temp); /* renamed: nothing to remove */
        o->temp = NULL;
    }
    sdsinf_output_abort(o);
    return rc;
}

void sdsinf_output_abort(sdsinf_output *o)
{
    if (o->f)
        fclose(o->f);
    if (o->temp)
        unlink(o->temp);
    sdsinf__free(o->temp);
    sdsinf__free(o->final);
    sdsinf__free(o->name);
    memset(o, 0, sizeof *o);
}

/* ---- directories ------------------------------------------------------------ */

static int make_dir(const char *name)
{
    return mkdir(name, 0777); /* umask applies */
}

static int remove_entry(const char *path, const struct stat *st, int flag,
                        struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* Removes a directory tree this process built (links not followed). */
static void remove_tree(const char *dir)
{
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* 1 when dir holds nothing, or holds `marker`: one of ours to replace. */
static int replaceable(const char *dir, const char *marker)
{
    char path[4096];
    struct stat st;
    struct dirent *e;
    DIR *d;
    int empty = 1;
    snprintf(path, sizeof path, "%s/%s", dir, marker);
    if (stat(path, &st) == 0)
        return 1;
    if (!(d = opendir(dir)))
        return 0;
    while (empty && (e = readdir(d)))
        empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
    closedir(d);
    return empty;
}

/* A private directory under the scratch directory for what goes under
 * remote location dir, stored there by commit. */
static int remote_dir_begin(const char *dir, const char *marker,
                            sdsinf_output_dir *d, sdsinf_err *err)
{
    size_t n = strlen(sdsinf__scratch_dir()) + 32;
    int rc = SDSINF_OK;
    d->marker = marker;
    if (!(d->path = dup_n(dir, strlen(dir))) || !(d->temp = sdsinf__malloc(n)))
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "%s: no memory", dir);
    else
        rc = sdsinf__scratch_make("sdsinf-out", dir, d->temp, n, NULL, err);
    if (rc == SDSINF_OK)
        return SDSINF_OK;
    sdsinf__free(d->temp);
    d->temp = NULL; /* nothing made: nothing to remove */
    sdsinf_output_dir_abort(d);
    return rc;
}

int sdsinf_output_dir_begin(const char *dir, const char *marker,
                            sdsinf_output_dir *d, sdsinf_err *err)
{
    struct stat st;
    int magic = 0, rc = SDSINF_OK;
    size_t n = strlen(dir);
    memset(d, 0, sizeof *d);
    if (sdsinf_location_remote(dir))
        return remote_dir_begin(dir, marker, d, err);
    while (n > 1 && dir[n - 1] == '/')
        n--; /* plan8/ names plan8 */
    const char *slash = memrchr(dir, '/', n), *base = slash ? slash + 1 : dir;
    size_t nb = n - (size_t)(base - dir);
    if (nb == 0 || (nb == 1 && base[0] == '.') ||
        (nb == 2 && !strncmp(base, "..", 2)))
        return sdsinf__fail(err, SDSINF_EINVAL, "%s: give the directory a "
                            "name of its own, not '.', '..' or '/'", dir);
    char *given = dup_n(dir, n);
    if (!given || !(d->path = final_target(given, &magic))) {
        rc = sdsinf__fail(err, SDSINF_EIO, "%s: cannot write: %s", dir,
                          strerror(errno));
        goto done;
    }
    if (stat(d->path, &st) == 0 && !S_ISDIR(st.st_mode)) {
        rc = sdsinf__fail(err, SDSINF_EINVAL, "%s exists and is not a "
                          "directory: remove it or choose another path", dir);
        goto done;
    }
    if (stat(d->path, &st) == 0 && !replaceable(d->path, marker)) {
        rc = sdsinf__fail(err, SDSINF_EINVAL, "%s exists and is not what "
                          "this command writes (it has no %s): remove it or "
                          "choose another path", dir, marker);
        goto done;
    }
    if ((rc = parent_check(dir, d->path, err)) != SDSINF_OK)
        goto done;
    if (!(d->temp = fresh_beside(d->path, ".", make_dir)))
        rc = sdsinf__fail(err, SDSINF_EIO, "%s: cannot create a directory "
                          "beside it: %s", dir, strerror(errno));
done:
    sdsinf__free(given);
    if (rc != SDSINF_OK)
        sdsinf_output_dir_abort(d);
    return rc;
}

/* Puts new where the non-empty directory dir is: swapped with it (the old
 * one then at new, *old NULL), or, where the filesystem cannot swap, the
 * old one moved aside first (to *old).  0 or -1 with errno. */
static int swap_in(const char *new, const char *dir, char **old)
{
    if (renameat2(AT_FDCWD, new, AT_FDCWD, dir, RENAME_EXCHANGE) == 0)
        return 0;
    if (!(*old = fresh_beside(dir, ".old.", make_dir)))
        return -1;
    if (rename(dir, *old) == 0 && rename(new, dir) == 0)
        return 0;
    int e = errno;
    rename(*old, dir); /* put the old one back, if it moved */
    rmdir(*old);
    sdsinf__free(*old);
    *old = NULL;
    errno = e;
    return -1;
}

int sdsinf_output_dir_commit(sdsinf_output_dir *d, sdsinf_err *err)
{
    char *old = NULL;
    int rc = SDSINF_OK;
    if (sdsinf_location_remote(d->path)) { /* the marker last */
        rc = sdsinf__location_store_dir(d->temp, d->path, d->marker, err);
    } else if (rename(d->temp, d->path) == 0) { /* new, or empty */
        sdsinf__free(d->temp);
        d->temp = NULL;
    } else if ((errno != ENOTEMPTY && errno != EEXIST) ||
               swap_in(d->temp, d->path, &old) != 0) {
        rc = sdsinf__fail(err, SDSINF_EIO, "%s: cannot rename %s into place: "
                          "%s", d->path, d->temp, strerror(errno));
    } else {
        remove_tree(old ? old : d->temp); /* the old directory */
        sdsinf__free(d->temp);
        d->temp = NULL;
    }
    sdsinf__free(old);
    sdsinf_output_dir_abort(d);
    return rc;
}

void sdsinf_output_dir_abort(sdsinf_output_dir *d)
{
    if (d->temp)
        remove_tree(d->temp);
    sdsinf__free(d->temp);
    sdsinf__free(d->path);
    memset(d, 0, sizeof *d);
}
