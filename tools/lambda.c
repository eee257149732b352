/* lambda.c - the Lambda bootstrap (cli_lambda_runtime): the handler
 * sdsinf_lambda_serve calls, which tells a worker's event from a
 * coordinator's and runs it; a coordinator's command line runs with
 * stdout and stderr caught in temporary files (its JSON answer, its
 * error's last line), and its JSON (or error) goes to the event's
 * "result" location when it names one (sdsinf aws run waits there). */
#include "lambda.h"

#include "cli_util.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_ARGS 128

typedef struct lambda_ctx {
    int (*run_command)(int argc, char **argv);
    int workers, coordinators; /* what it serves, from $_HANDLER */
} lambda_ctx;

static int lambda_init(void *ctx, sdsinf_err *err)
{
    lambda_ctx *x = ctx;
    const char *h = getenv("_HANDLER");
    if (!h || !h[0] || !strcmp(h, "sdsinf") || !strcmp(h, "bootstrap"))
        x->workers = x->coordinators = 1;
    else if (!strcmp(h, "worker"))
        x->workers = 1;
    else if (!strcmp(h, "coordinator"))
        x->coordinators = 1;
    else
        return cli_fail(err, SDSINF_EINVAL, "the function's handler "
                        "(_HANDLER) is '%.80s': give sdsinf (or "
                        "bootstrap: both), worker or coordinator", h);
    return SDSINF_OK;
}

static int run_worker(const sdsinf_lambda_invocation *inv, const char *text,
                      char **body, size_t *len, sdsinf_err *err)
{
    sdsinf_worker_spec s;
    int rc = sdsinf_worker_spec_read(text, strlen(text), &s, err);
    if (rc != SDSINF_OK)
        return rc;
    rc = sdsinf_lambda_worker(inv, &s, body, len, err);
    sdsinf_worker_spec_free(&s);
    return rc;
}

/* The arguments of `run` from the options object o: "--key" and its value
 * (a string, or a number), a lone "--key" for true, nothing for false;
 * numbers written into num (MAX_ARGS x 32 bytes).  *argc, or -1 with err
 * filled. */
static int run_args(const cJSON *o, char **argv, char (*num)[32],
                    sdsinf_err *err)
{
    int n = 0, json = 0;
    char *flag;
    argv[n++] = "run";
    for (const cJSON *it = o->child; it; it = it->next) {
        const char *k = it->string;
        if (!k || !k[0] || strspn(k, "abcdefghijklmnopqrstuvwxyz0123456789-")
                               != strlen(k) || strlen(k) > 28)
            return cli_fail(err, SDSINF_EINVAL, "the run's option '%.40s' "
                            "is not one: give run's flags without '--'",
                            k ? k : ""), -1;
        if (cJSON_IsFalse(it) || cJSON_IsNull(it))
            continue;
        if (n + 3 >= MAX_ARGS)
            return cli_fail(err, SDSINF_EINVAL, "the run has too many "
                            "options"), -1;
        snprintf(flag = num[n], 32, "--%s", k);
        argv[n++] = flag;
        json |= !strcmp(k, "json");
        if (cJSON_IsString(it))
            argv[n++] = it->valuestring;
        else if (cJSON_IsNumber(it) && (argv[n] = num[n]))
            snprintf(argv[n++], 32, "%.17g", it->valuedouble);
        else if (!cJSON_IsTrue(it))
            return cli_fail(err, SDSINF_EINVAL, "the run's option '%s' is "
                            "not a string, number or boolean", k), -1;
    }
    if (!json)
        argv[n++] = "--json";
    argv[n] = NULL;
    return n;
}

/* Points file descriptor fd at a new temporary file; *saved is a copy
 * of what it was. */
static FILE *catch_fd(int fd, int *saved)
{
    FILE *t = tmpfile();
    if (!t || (*saved = dup(fd)) < 0 || dup2(fileno(t), fd) < 0) {
        if (t)
            fclose(t);
        return NULL;
    }
    return t;
}

/* Puts fd back and returns what was written to it (malloc'd, or NULL). */
static char *release_fd(int fd, int saved, FILE *t, size_t *len)
{
    char *s = NULL;
    long n;
    dup2(saved, fd);
    close(saved);
    if (fseek(t, 0, SEEK_END) == 0 && (n = ftell(t)) >= 0 &&
        fseek(t, 0, SEEK_SET) == 0 && (s = malloc((size_t)n + 1))) {
        *len = fread(s, 1, (size_t)n, t);
        s[*len] = '\0';
    }
    fclose(t);
    return s;
}

/* Stores the run's record at `where`: the JSON object its output ends
 * with (out, len bytes; may be NULL), with "error" when it failed (rc,
 * err); the failure to store it into err (SDSINF_OK when stored). */
static int store_result(const char *where, const char *out, size_t len,
                        int rc, sdsinf_err *err)
{
    const char *last = out;
    for (size_t i = 0; out && i + 1 < len; i++) /* the last line's start */
        if (out[i] == '\n')
            last = out + i + 1;
    cJSON *j = last ? cJSON_Parse(last) : NULL;
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        j = cJSON_CreateObject();
    }
    if (rc != SDSINF_OK) {
        cJSON *e = cJSON_AddObjectToObject(j, "error");
        cJSON_AddStringToObject(e, "status", sdsinf_status_name(rc));
        cJSON_AddStringToObject(e, "message", err->msg);
    }
    cJSON_AddStringToObject(j, "record", where);
    cJSON_AddStringToObject(j, "coordinator", "lambda");
    sdsinf_err e = {0};
    int stored = cli_json_store(j, where, &e);
    cJSON_Delete(j);
    if (stored != SDSINF_OK && rc == SDSINF_OK)
        *err = e;
    else if (stored != SDSINF_OK) /* the run's own error stays the answer */
        fprintf(stderr, "sdsinf: the run's record: %s\n", e.msg);
    return stored;
}

static int run_coordinator(lambda_ctx *x, const cJSON *opts,
                           const char *result, char **body, size_t *len,
                           sdsinf_err *err)
{
    char num[MAX_ARGS][32];
    char *argv[MAX_ARGS + 1], *errs = NULL;
    int argc = run_args(opts, argv, num, err), saved[2] = {-1, -1}, rc;
    size_t elen = 0;
    if (argc < 0)
        return SDSINF_EINVAL;
    fflush(stdout);
    fflush(stderr);
    FILE *out = catch_fd(STDOUT_FILENO, &saved[0]);
    FILE *er = out ? catch_fd(STDERR_FILENO, &saved[1]) : NULL;
    if (!er) {
        if (out)
            free(release_fd(STDOUT_FILENO, saved[0], out, len));
        return cli_fail(err, SDSINF_EIO, "cannot catch the run's output "
                        "(no temporary file)");
    }
    rc = x->run_command(argc, argv);
    fflush(stdout);
    fflush(stderr);
    *body = release_fd(STDOUT_FILENO, saved[0], out, len);
    errs = release_fd(STDERR_FILENO, saved[1], er, &elen);
    if (errs) /* the function's log has it all */
        fputs(errs, stderr);
    if (rc == 0 && !*body)
        rc = 1;
    if (rc != 0) {
        while (elen && errs[elen - 1] == '\n')
            errs[--elen] = '\0';
        const char *last = errs ? strrchr(errs, '\n') : NULL;
        cli_fail(err, rc == 2 ? SDSINF_EINVAL : SDSINF_EIO, "the run: %s",
                 last ? last + 1 : errs && errs[0] ? errs
                                                   : "failed, saying nothing");
    }
    free(errs);
    rc = rc == 0 ? SDSINF_OK : err->code;
    if (result && store_result(result, *body, *len, rc, err) != SDSINF_OK &&
        rc == SDSINF_OK)
        rc = err->code;
    if (rc != SDSINF_OK) {
        free(*body);
        *body = NULL;
    }
    return rc;
}

static int lambda_invoke(void *ctx, const sdsinf_lambda_invocation *inv,
                         char **body, size_t *len, sdsinf_err *err)
{
    lambda_ctx *x = ctx;
    cJSON *j = cJSON_ParseWithLength(inv->payload, inv->len);
    const cJSON *spec = cJSON_GetObjectItemCaseSensitive(j, "worker_spec");
    const cJSON *run = cJSON_GetObjectItemCaseSensitive(j, "run");
    const cJSON *result = cJSON_GetObjectItemCaseSensitive(j, "result");
    int rc;
    if (!cJSON_IsObject(j) || (!cJSON_IsString(spec) && !cJSON_IsObject(run)))
        rc = cli_fail(err, SDSINF_EPARSE, "the event (%zu bytes) is not "
                      "{\"worker_spec\": TEXT} nor {\"run\": {OPTIONS}}",
                      inv->len);
    else if (cJSON_IsString(spec) && !x->workers)
        rc = cli_fail(err, SDSINF_EINVAL, "a worker's event to a function "
                      "whose handler is %s", getenv("_HANDLER"));
    else if (cJSON_IsString(spec))
        rc = run_worker(inv, spec->valuestring, body, len, err);
    else if (!x->coordinators)
        rc = cli_fail(err, SDSINF_EINVAL, "a coordinator's event to a "
                      "function whose handler is %s", getenv("_HANDLER"));
    else if (result && (!cJSON_IsString(result) ||
                        !sdsinf_location_remote(result->valuestring)))
        rc = cli_fail(err, SDSINF_EINVAL, "the event's \"result\" is not "
                      "an s3:// location");
    else
        rc = run_coordinator(x, run, result ? result->valuestring : NULL,
                             body, len, err);
    cJSON_Delete(j);
    return rc;
}

int cli_lambda_runtime(int (*run_command)(int argc, char **argv))
{
    lambda_ctx x = {run_command, 0, 0};
    sdsinf_lambda_handler h = {SDSINF_LAMBDA_HANDLER_VERSION, &x, lambda_init,
                               lambda_invoke};
    sdsinf_err err = {0};
    int rc = sdsinf_lambda_serve(NULL, &h, &err);
    fprintf(stderr, "sdsinf: error %s: %s\n", sdsinf_status_name(rc),
            err.msg);
    return 1;
}
