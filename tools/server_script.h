/* server_script.h - the user data of sdsinf aws server: the script an
 * instance runs at its first boot (server_script.c). */
#ifndef SDSINF_TOOLS_SERVER_SCRIPT_H
#define SDSINF_TOOLS_SERVER_SCRIPT_H

#include "sdsinf.h"

/* The objects of a run, under s3://BUCKET/runs/RUN/: a job's result (with
 * categories.tsv and log.txt beside it), an always-on instance's sign
 * that sdsinf is installed. */
#define SERVER_RESULT_KEY "result.json"
#define SERVER_READY_KEY "ready.json"

typedef struct server_script {
    int job;                   /* 1: --job; 0: --always-on */
    const char *run;           /* the run's name */
    const char *out;           /* s3://BUCKET/runs/RUN */
    const char *package;       /* s3://BUCKET/KEY: sdsinf to install */
    const char *weights, *images, *check; /* --job's (check may be NULL) */
    const char *instance_type;
    double usd_per_hour;
    long threads;              /* sdsinf infer's --threads; < 0: its own */
    long timeout_s;            /* --job: the power-off after it */
} server_script;

/* The script into *text (malloc'd); values are quoted for the shell, the
 * caller checks what they may hold.  SDSINF_EINVAL when it is over EC2's
 * SDSINF_EC2_USER_DATA_MAX bytes. */
int server_script_make(const server_script *u, char **text, sdsinf_err *err);

#endif /* SDSINF_TOOLS_SERVER_SCRIPT_H */
