/* fuzz_spec.c - fuzz target: a worker's spec as text (sdsinf_worker_spec_
 * read).  A failure must say what went wrong (and, past the first line,
 * on which line); a spec read must write back to text that reads back to
 * the same spec, and that writes back to the very same text. */
#include "sdsinf.h"
#include "fuzz_input.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void check(int ok)
{
    if (!ok)
        abort();
}

/* Whether two optional strings are equal. */
static int same(const char *a, const char *b)
{
    return a == b || (a && b && !strcmp(a, b));
}

static int same_spec(const sdsinf_worker_spec *a, const sdsinf_worker_spec *b)
{
    return a->run == b->run && a->worker == b->worker &&
           a->workers == b->workers && same(a->launcher, b->launcher) &&
           a->bfr == b->bfr && a->nlevels == b->nlevels &&
           same(a->exec, b->exec) && same(a->channel, b->channel) &&
           same(a->channel_config, b->channel_config) &&
           same(a->plan_dir, b->plan_dir) &&
           same(a->inputs_dir, b->inputs_dir) && same(a->bias, b->bias) &&
           !memcmp(&a->ymax, &b->ymax, sizeof a->ymax) &&
           a->batch_size == b->batch_size && same(a->codec, b->codec) &&
           a->level == b->level && a->timeout_ms == b->timeout_ms &&
           a->max_message == b->max_message &&
           a->kernel_threads == b->kernel_threads &&
           same(a->progress, b->progress);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sdsinf_worker_spec s, back;
    sdsinf_err err = {0};
    char *text = NULL, *again = NULL;
    size_t len = 0, len2 = 0;
    int rc = sdsinf_worker_spec_read(data, size, &s, &err);
    if (rc != SDSINF_OK) {
        check(err.code == rc && err.msg[0] &&
              (rc == SDSINF_EPARSE || rc == SDSINF_ENOTSUP ||
               rc == SDSINF_ENOMEM));
        check(rc != SDSINF_EPARSE || strstr(err.msg, "line ") ||
              strstr(err.msg, "bytes") || strstr(err.msg, "a spec must"));
        return 0;
    }
    check(sdsinf_worker_spec_write(&s, &text, &len, NULL) == SDSINF_OK);
    check(strlen(text) == len);
    check(sdsinf_worker_spec_read(text, len, &back, NULL) == SDSINF_OK);
    check(same_spec(&s, &back));
    check(sdsinf_worker_spec_write(&back, &again, &len2, NULL) == SDSINF_OK);
    check(len == len2 && !memcmp(text, again, len));
    free(text);
    free(again);
    sdsinf_worker_spec_free(&back);
    sdsinf_worker_spec_free(&s);
    return 0;
}
