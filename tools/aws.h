/* aws.h - `sdsinf aws SUBCOMMAND`: the deployed stack (template, deploy,
 * status, destroy: aws.c; upload, run: aws_run.c) and the server
 * baseline on EC2 (server, aws_server.c), each subcommand one line of the
 * table in aws.c. */
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
    const char *out;     /* --out FILE: package's zip */
    const char *image;   /* --image DIR: package's container recipe */
    const char *bootstrap; /* --bootstrap EXE: package another executable */
    int no_function;     /* --no-function: deploy the channels' part only */
    const char *arch;    /* --arch x86_64|arm64 */
    long max_workers;    /* --max-workers N (alias --workers) */
    long memory_mb;      /* --memory MB */
    int server;          /* --server: the server baseline's instance
                            profile in the template */
    int json;            /* --json */
    int progress, no_progress; /* --progress, --no-progress (meter.h) */
    const char *weights, *plan, *images, *check; /* upload: what to stage */
} aws_opts;

/* Reads argv (argc items) into *o, accepting only the flags named in
 * `allowed` ("--stack --json"); 0, or 2 (bad usage, said on stderr). */
int aws_flags(const char *sub, int argc, char **argv, const char *allowed,
              aws_opts *o);

/* The stack's CloudFormation template for o as text (cJSON_free it;
 * NULL: no memory, said on stderr), its resources counted into
 * *resources (may be NULL). */
char *aws_template_text(const aws_opts *o, int formatted, int *resources);

/* sdsinf aws package (aws_package.c): argv after "package"; the exit
 * status. */
int aws_package(int argc, char **argv);
/* Deploy's part of the package: stack o->stack made without its function
 * when it has no bucket yet, then this program's package stored in the
 * bucket (its key into key, cap bytes; *uploaded 0 when it was there). */
int aws_deploy_package(const aws_opts *o, char *key, size_t cap,
                       sdsinf_package_info *info, int *uploaded,
                       sdsinf_err *err);
/* A progress line (sdsinf_stack_progress) to stderr. */
void aws_to_stderr(const char *line, void *arg);
/* What a package holds, as lines (after the caller's first) or JSON. */
void aws_package_print(const sdsinf_package_info *in, FILE *f);
cJSON *aws_package_json(const sdsinf_package_info *in);
/* Prints `sdsinf aws SUB: ` + fmt (with arg) and where the options are
 * told on stderr; returns 2, bad usage's exit status. */
int aws_usage_error(const char *sub, const char *fmt, const char *arg);
/* 0 when o->stack is a stack's name (a letter, then letters, digits and
 * '-'), else aws_usage_error's 2. */
int aws_stack_check(const char *sub, const aws_opts *o);

/* sdsinf aws server and server-report (aws_server.c): argv after the
 * subcommand; the exit status. */
int aws_server(int argc, char **argv);
int aws_server_report(int argc, char **argv);
#define AWS_SERVER_SYNOPSIS                                                \
    "--stack NAME (--job | --always-on) --package KEY [options]\n"        \
    "    sdsinf aws server --terminate INSTANCE"
#define AWS_SERVER_ABOUT                                                   \
    "the server baseline on EC2 (needs deploy --server): --job launches "  \
    "an instance that installs sdsinf from the package, runs sdsinf "      \
    "infer on --weights, --images (and --check) in S3, writes "            \
    "runs/RUN/ in the bucket and terminates (--wait: prints the result); " \
    "--always-on one that stays, and the command to run on it; "           \
    "--print-user-data, --print-request: what it would send; sdsinf aws "  \
    "server --help for the options"
#define AWS_SERVER_REPORT_SYNOPSIS "--out s3://BUCKET/runs/RUN [options]"
#define AWS_SERVER_REPORT_ABOUT                                            \
    "what a server instance runs after sdsinf infer: its result, "         \
    "categories and log to runs/RUN/ (--help: its flags)"

/* Tells aws run which flags `sdsinf run` takes: kind(name) of a flag
 * ("--workers") is -1 for none of run's, 0 a switch, 1 one that takes a
 * value (sdsinf.c sets it from its flag table before aws_main). */
void aws_run_flags(int (*kind)(const char *name));

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
