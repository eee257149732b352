/* aws.h - `sdsinf aws SUBCOMMAND`: the deployed stack (template, deploy,
 * status, destroy), each subcommand one line of the table in aws.c. */
#ifndef SDSINF_TOOLS_AWS_H
#define SDSINF_TOOLS_AWS_H

#include "sdsinf.h"

#include <stdio.h>

/* The flags the subcommands take (each names those it accepts). */
typedef struct aws_opts {
    const char *stack;   /* --stack NAME */
    const char *package; /* --package KEY: the function's zip in the
                            stack's bucket (the function's slot) */
    const char *arch;    /* --arch x86_64|arm64 */
    long max_workers;    /* --max-workers N (alias --workers) */
    long memory_mb;      /* --memory MB */
    int json;            /* --json */
    int progress, no_progress; /* --progress, --no-progress (meter.h) */
} aws_opts;

/* Reads argv (argc items) into *o, accepting only the flags named in
 * `allowed` ("--stack --json"); 0, or 2 (bad usage, said on stderr). */
int aws_flags(const char *sub, int argc, char **argv, const char *allowed,
              aws_opts *o);

/* sdsinf aws SUBCOMMAND [flags]: argv after "aws"; the exit status. */
int aws_main(int argc, char **argv);

/* The usage line `sdsinf help` shows for `aws`. */
void aws_usage(FILE *f);

#endif /* SDSINF_TOOLS_AWS_H */
