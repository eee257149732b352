/* aws.h - `sdsinf aws SUBCOMMAND`: the deployed stack (template, deploy,
 * status, destroy: aws.c; upload, run: aws_run.c), each subcommand one
 * line of the table in aws.c. */
#ifndef SDSINF_TOOLS_AWS_H
#define SDSINF_TOOLS_AWS_H

#include "sdsinf.h"

#include <cjson/cJSON.h>
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
    const char *weights, *plan, *images, *check; /* upload: what to stage */
} aws_opts;

/* Reads argv (argc items) into *o, accepting only the flags named in
 * `allowed` ("--stack --json"); 0, or 2 (bad usage, said on stderr). */
int aws_flags(const char *sub, int argc, char **argv, const char *allowed,
              aws_opts *o);

/* Tells aws run which flags `sdsinf run` takes: kind(name) of a flag
 * ("--workers") is -1 for none of run's, 0 a switch, 1 one that takes a
 * value (sdsinf.c sets it from its flag table before aws_main). */
void aws_run_flags(int (*kind)(const char *name));

/* Refuses (2, said on stderr) a missing or malformed --stack. */
int aws_stack_name(const char *sub, const aws_opts *o);

/* The subcommands of aws_run.c: upload, run, and the last runs that
 * status shows (into j, --json, or printed when j is NULL; the exit
 * status). */
int aws_upload(int argc, char **argv);
int aws_run(int argc, char **argv);
int aws_runs_show(const sdsinf_stack_info *st, cJSON *j);

/* sdsinf aws SUBCOMMAND [flags]: argv after "aws"; the exit status. */
int aws_main(int argc, char **argv);

/* The usage line `sdsinf help` shows for `aws`. */
void aws_usage(FILE *f);

#endif /* SDSINF_TOOLS_AWS_H */
