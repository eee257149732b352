/* cli_util.c - small helpers the command-line modules share: filling an
 * sdsinf_err, flag tables, writing JSON through cJSON, writing files
 * atomically and reading them whole. */
#include "cli_util.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void cli_json_add_string(cJSON *o, const char *key, const char *s)
{
    if (s)
        cJSON_AddStringToObject(o, key, s);
    else
        cJSON_AddNullToObject(o, key);
}

int cli_json_write(cJSON *o, FILE *f, sdsinf_err *err)
{
    char *text = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!text)
        return cli_fail(err, SDSINF_ENOMEM, "no memory for the JSON output");
    fputs(text, f);
    cJSON_free(text);
    return SDSINF_OK;
}

int cli_json_store(const cJSON *o, const char *path, sdsinf_err *err)
{
    sdsinf_output out;
    int rc = sdsinf_output_open(path, &out, err);
    if (rc == SDSINF_OK &&
        (rc = cli_json_write(cJSON_Duplicate(o, 1), out.f, err)) ==
            SDSINF_OK) {
        fputc('\n', out.f);
        rc = sdsinf_output_commit(&out, err);
    }
    sdsinf_output_abort(&out);
    return rc;
}

void cli_catch_stop_signals(void (*handler)(int sig))
{
    int sigs[2] = {SIGINT, SIGTERM};
    for (int i = 0; i < 2; i++) {
        struct sigaction sa;
        if (sigaction(sigs[i], NULL, &sa) != 0 || sa.sa_handler == SIG_IGN)
            continue;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = handler;
        sigemptyset(&sa.sa_mask);
        sigaction(sigs[i], &sa, NULL);
    }
}

/* j's number `key`, 0 when absent. */
static double num(const cJSON *j, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

/* j's string `key`, NULL when absent or null. */
static const char *text(const cJSON *j, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

void cli_run_summary(const cJSON *j, FILE *f)
{
    const char *check = text(j, "check"), *metrics = text(j, "metrics");
    const cJSON *staged = cJSON_GetObjectItemCaseSensitive(j, "staged");
    fprintf(f, "%.0f workers: %.0f images, %.0f categories in %.3f s "
            "(start-up %.3f s); %.0f messages, %.0f bytes (%.0f per image)"
            "%s\n", num(j, "workers"), num(j, "images"),
            num(j, "categories"), num(j, "seconds"),
            num(j, "startup_seconds"), num(j, "messages_sent"),
            num(j, "bytes_sent"), num(j, "bytes_per_image"),
            !check                   ? ""
            : !strcmp(check, "pass") ? "; check passed"
                                     : "; CHECK FAILED");
    const cJSON *lambda = cJSON_GetObjectItemCaseSensitive(j, "lambda");
    /* a null cost_usd: the run had no price table, and $0 would be wrong */
    int priced = !cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(j, "cost_usd"));
    char cost[64];
    snprintf(cost, sizeof cost, "cost $%.6f at list prices",
             num(j, "cost_usd"));
    if (lambda)
        fprintf(f, "lambda: %.0f invocations (%.0f warm), %.3f GB-s billed "
                "at %.0f MB (the workers' peak: %.0f MB); %s\n",
                num(lambda, "invocations"), num(lambda, "warm"),
                num(lambda, "gb_seconds"), num(lambda, "memory_mb"),
                num(j, "peak_mb"), priced ? cost : "cost unknown");
    if (!priced)
        fprintf(f, "cost unknown: the run found no price table; save its "
                "--json as RUN.json and run `sdsinf cost RUN.json --prices "
                "FILE` (FILE: a table such as prices/aws.json)\n");
    if (metrics)
        fprintf(f, "metrics: %s.csv, %s-layers.csv, %s.json\n", metrics,
                metrics, metrics);
    if (staged)
        fprintf(f, "staged in the stack's bucket: %.0f bytes uploaded, "
                "%.0f bytes there already\n", num(staged, "bytes_uploaded"),
                num(staged, "bytes_skipped"));
    if (text(j, "record"))
        fprintf(f, "recorded: %s\n", text(j, "record"));
}

/* ---- files written whole or not at all ----------------------------------- */

/* 1 when path is a link to this process's standard output (/dev/stdout,
 * /dev/fd/1): written through stdout itself, in order with what it prints. */
static int names_stdout(const char *path)
{
    struct stat ln, st, out;
    return lstat(path, &ln) == 0 && S_ISLNK(ln.st_mode) &&
           stat(path, &st) == 0 && fstat(fileno(stdout), &out) == 0 &&
           st.st_dev == out.st_dev && st.st_ino == out.st_ino;
}

int cli_files_open(cli_files *s, const char *path, FILE **f, sdsinf_err *err)
{
    sdsinf_output *o = &s->out[s->n];
    int rc;
    if (s->n >= CLI_FILES_MAX)
        return cli_fail(err, SDSINF_ENOMEM, "%s: no room for another file",
                        path);
    memset(o, 0, sizeof *o);
    if (!strcmp(path, "-") || names_stdout(path))
        o->f = stdout;
    else if ((rc = sdsinf_output_open(path, o, err)))
        return rc;
    *f = o->f;
    s->n++;
    return SDSINF_OK;
}

int cli_files_commit(cli_files *s, sdsinf_err *err)
{
    int rc = SDSINF_OK;
    for (int i = 0; i < s->n && rc == SDSINF_OK; i++)
        if (fflush(s->out[i].f) != 0 || ferror(s->out[i].f))
            rc = cli_fail(err, SDSINF_EIO, "%s: write failed: %s",
                          s->out[i].name ? s->out[i].name : "standard output",
                          strerror(errno));
    for (int i = 0; i < s->n && rc == SDSINF_OK; i++)
        if (s->out[i].f != stdout)
            rc = sdsinf_output_commit(&s->out[i], err);
    cli_files_discard(s);
    return rc;
}

void cli_files_discard(cli_files *s)
{
    for (int i = 0; i < s->n; i++)
        if (s->out[i].f != stdout)
            sdsinf_output_abort(&s->out[i]);
    memset(s, 0, sizeof *s);
}

int cli_read_file(const char *path, size_t max, char **buf, size_t *len,
                   sdsinf_err *err)
{
    FILE *f = fopen(path, "rb");
    char *b = NULL;
    size_t n = 0;
    int rc = SDSINF_OK;
    *buf = NULL;
    *len = 0;
    if (!f)
        return cli_fail(err, SDSINF_EIO, "%s: cannot open: %s", path,
                        strerror(errno));
    if (!(b = malloc(max + 1))) {
        fclose(f);
        return cli_fail(err, SDSINF_ENOMEM, "%s: no memory to read it", path);
    }
    n = fread(b, 1, max + 1, f);
    if (ferror(f))
        rc = cli_fail(err, SDSINF_EIO, "%s: cannot read: %s", path,
                      strerror(errno));
    else if (n > max)
        rc = cli_fail(err, SDSINF_EPARSE, "%s: over %zu bytes: too large "
                      "for what it should hold", path, max);
    fclose(f);
    if (rc != SDSINF_OK) {
        free(b);
        return rc;
    }
    b[n] = '\0';
    *buf = b;
    *len = n;
    return SDSINF_OK;
}

int cli_error(const sdsinf_err *err)
{
    fprintf(stderr, "sdsinf: error %s: %s\n", sdsinf_status_name(err->code),
            err->msg);
    return 1;
}

const cli_flag *cli_flag_find(const cli_flag *table, const char *name,
                              size_t len)
{
    for (const cli_flag *f = table; f->name; f++)
        if (strlen(f->name) == len && !strncmp(f->name, name, len))
            return f;
    return NULL;
}

void cli_flag_set(const cli_flag *f, void *opts, const char *v)
{
    char *field = (char *)opts + f->at;
    if (f->kind == CLI_SWITCH) {
        int on = 1;
        memcpy(field, &on, sizeof on);
    } else {
        memcpy(field, &v, sizeof v);
    }
}
