/* core/location.h - where a command's data is: a local path or an object
 * in S3, s3://BUCKET/KEY (internal).  Readers go through fetch (a local
 * path to read: the path itself, or a private copy of the object), writers
 * through sdsinf_output (output.c), which ends in store; nothing else
 * needs to know where data lives.
 *
 * An s3:// location names an object, or, where no object has its key, a
 * "directory": the objects under KEY/ (one level, as a model's layer files
 * or a plan directory).  Bucket and key take letters, digits and
 * "-_./"; the key may not be empty, start with '/' or hold "//". */
#ifndef SDSINF_LOCATION_H
#define SDSINF_LOCATION_H

#include "core/core.h"

#define SDSINF__LOCATION_MAX 2048 /* bytes in a location, NUL included */

/* sdsinf_location_remote and sdsinf_location_requests: sdsinf.h. */

/* Adds q to this process's count of those requests: a worker's, made in a
 * process of its own and reported to its run's coordinator. */
void sdsinf__location_requests_add(const sdsinf_requests *q);

/* "dir/name" into out (cap bytes), dir local or remote (a trailing '/'
 * dropped); SDSINF_EINVAL naming dir when it does not fit. */
int sdsinf__location_join(const char *dir, const char *name, char *out,
                          size_t cap, sdsinf_err *err);

/* loc as every process of a run reads it: a local path made absolute
 * against the working directory, a remote one as it is; SDSINF_EINVAL
 * when it does not fit. */
int sdsinf__location_absolute(const char *loc, char *out, size_t cap,
                              sdsinf_err *err);

/* Where a fetched location can be read. */
typedef struct sdsinf__fetched {
    char path[4096]; /* read here: the location itself when it is local */
    char temp[4096]; /* the private directory holding a copy; "" if none */
    const char *loc; /* the location (borrowed), for messages */
} sdsinf__fetched;

/* A local path to read loc from.  A local path is used as it is (the
 * reader says what is wrong with it).  An s3:// object is fetched whole
 * into a private file (mode 0600) under the scratch directory, keeping its
 * last name; a "directory" into a private directory of its objects; each
 * in sdsinf-fetch-<pid>-<start time>.XXXXXX, which the sweep of stale runs
 * removes once that process is gone (killed as it read).  An
 * absent bucket or key is SDSINF_EIO naming loc and AWS's code
 * (NoSuchBucket, NoSuchKey), a refusal SDSINF_EACCES, each saying what to
 * do.  Call sdsinf__location_release after reading, also on failure. */
int sdsinf__location_fetch(const char *loc, sdsinf__fetched *f,
                           sdsinf_err *err);
/* Removes the copy (a mapping of it stays valid) and, when err holds a
 * message naming the copy's path, names the location there instead.  f
 * may be one fetch never filled (zeroed). */
void sdsinf__location_release(sdsinf__fetched *f, sdsinf_err *err);

/* What identifies the content of file loc, into out (cap bytes): a local
 * file's device, inode, size and modification time (stat), an s3://
 * object's ETag, size and Last-Modified (one HEAD, counted as a receive,
 * not a GET); it changes when the content does.  SDSINF_EIO naming loc
 * when it cannot be seen, SDSINF_EINVAL when out is too small. */
int sdsinf__location_identity(const char *loc, char *out, size_t cap,
                              sdsinf_err *err);

/* Stores local file `file` whole at remote location loc (one PUT, or a
 * multipart upload for a big file: readers see all of it or the object
 * as it was). */
int sdsinf__location_store(const char *file, const char *loc,
                           sdsinf_err *err);
/* The names of local directory dir's regular files (hidden ones, starting
 * with '.', left out), sorted, into *names (n of them; free them with
 * sdsinf__dir_files_free). */
int sdsinf__dir_files(const char *dir, char ***names, size_t *n,
                      sdsinf_err *err);
void sdsinf__dir_files_free(char **names, size_t n);
/* Appends a copy of name to the *n names of array *v (room for *cap,
 * grown as needed; free them with sdsinf__dir_files_free): 0, or -1 for
 * want of memory (nothing added). */
int sdsinf__names_add(char ***v, size_t *n, size_t *cap, const char *name);
/* Stores every regular file of local directory dir at loc/NAME, the file
 * named `last` (may be NULL) after the others (a plan's plan.bin: a reader
 * that finds it finds the rest). */
int sdsinf__location_store_dir(const char *dir, const char *loc,
                               const char *last, sdsinf_err *err);
/* This process's count of its locations' requests (what
 * sdsinf_location_requests reports), for code that makes S3 requests of
 * its own for them (staging): add to it atomically. */
sdsinf_requests *sdsinf__location_tally(void);

/* Removes the objects of remote "directory" loc (one level, as fetch
 * reads it; none is no error). */
int sdsinf__location_remove(const char *loc, sdsinf_err *err);


/* ---- The object store: aws/location_s3.c, or core/location_none.c in a
 * build without the AWS client (each call then says how to get it) ---- */

/* Writes the object at remote loc to new file `dest`, or, when no object
 * has loc's key but objects lie under it, makes directory dest holding
 * them; counts its requests into *r (atomically). */
int sdsinf__remote_fetch(const char *loc, const char *dest,
                         sdsinf_requests *r, sdsinf_err *err);
/* Remote object loc's identity (sdsinf__location_identity) into out. */
int sdsinf__remote_identity(const char *loc, char *out, size_t cap,
                            sdsinf_requests *r, sdsinf_err *err);
/* Stores local file `file` at remote loc, whole. */
int sdsinf__remote_store(const char *file, const char *loc,
                         sdsinf_requests *r, sdsinf_err *err);
/* Deletes the objects one level under remote loc/. */
int sdsinf__remote_remove(const char *loc, sdsinf_requests *r,
                          sdsinf_err *err);

#endif /* SDSINF_LOCATION_H */
