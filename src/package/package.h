/* package/package.h - the Lambda deployment package's files (internal):
 * gathered and checked once, then written as a zip by sdsinf_lambda_package
 * and by the stack's upload (aws/stack.c). */
#ifndef SDSINF_PACKAGE_PACKAGE_H
#define SDSINF_PACKAGE_PACKAGE_H

#include "package/elf.h"

#include <stdio.h>

typedef struct sdsinf__package_file {
    char *path;          /* where it was read */
    char *name;          /* "bootstrap", or the soname (lib/<name>) */
    unsigned char *data; /* its bytes */
    size_t len;
    sdsinf__elf elf;
} sdsinf__package_file;

typedef struct sdsinf__package {
    sdsinf__package_file files[1 + SDSINF_PACKAGE_MAX_LIBS]; /* [0]: the
                                                                bootstrap */
    int nfiles;
    sdsinf__package_file prices; /* prices/aws.json (data NULL: none) */
} sdsinf__package;

/* Reads bootstrap (NULL: this program), finds the libraries it needs that
 * AL2023 lacks and its price table (sdsinf_prices_path), and checks every
 * file's glibc needs (offenders to progress); *info describes it.  Free *p with sdsinf__package_free
 * either way. */
int sdsinf__package_gather(const char *bootstrap,
                           sdsinf_stack_progress progress, void *arg,
                           sdsinf__package *p, sdsinf_package_info *info,
                           sdsinf_err *err);
/* The zip of p to f; its size into *nbytes. */
int sdsinf__package_zip(const sdsinf__package *p, FILE *f, uint64_t *nbytes,
                        sdsinf_err *err);
void sdsinf__package_free(sdsinf__package *p);

/* Whether glibc version need v ("GLIBC_2.17") is one Amazon Linux 2023's
 * glibc 2.34 has; its major and minor into *major, *minor when it is a
 * number at all (GLIBC_PRIVATE is none). */
int sdsinf__glibc_version_ok(const char *v, unsigned *major,
                             unsigned *minor);
/* Whether a provided.al2023 function has library soname (al2023.c). */
int sdsinf__al2023_has(const char *soname);
/* Whether AL2023's soname defines no symbol versions (the package drops a
 * file's version needs of it: the loader would warn at every start). */
int sdsinf__al2023_unversioned(const char *soname);

#endif /* SDSINF_PACKAGE_PACKAGE_H */
