/* channels/claim.c - the claim check of the sqs and sns channels
 * (claim.h): settings, pointers, storing and fetching blocks, the run's
 * objects.  Sections: settings and names, pointers, an instance's
 * objects, the run's objects. */
#include "channels/claim.h"
#include "aws/s3.h"
#include "channels/channels.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FETCH_FIRST_MS 2.0
#define FETCH_MAX_MS 500.0
#define FETCH_WAIT_S 5.0        /* the longest wait for an object */
#define KEY_CHARS "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ" \
                  "0123456789-_./"

/* ---- Settings and names ------------------------------------------------ */

int sdsinf__claim_setting(sdsinf__claim_settings *c,
                          const sdsinf__setting *it)
{
    if (sdsinf__setting_is(it, "claim")) {
        static const char *const modes[] = {"off", "auto", "always"};
        for (int m = 0; m < 3; m++)
            if (it->vlen == strlen(modes[m]) &&
                !strncmp(it->val, modes[m], it->vlen)) {
                c->mode = m;
                return 0;
            }
        return -1;
    }
    if (sdsinf__setting_is(it, "claim_above")) {
        int64_t v = sdsinf__setting_decimal(it, 12, 1, INT64_MAX);
        if (v < 0)
            return -1;
        c->above = v;
        return 0;
    }
    if (sdsinf__setting_is(it, "bucket"))
        return it->vlen < 3 || it->val[0] == '.' || it->val[0] == '-' ||
                       sdsinf__setting_name(it, ".-", c->bucket,
                                            sizeof c->bucket)
                   ? -1
                   : 0;
    return 1;
}

/* The run's bucket (the setting's, else its own) and root. */
static void run_names(const sdsinf__claim_settings *st, const char *prefix,
                      uint64_t run, char bucket[64],
                      char root[SDSINF__CLAIM_ROOT_CAP])
{
    if (st->bucket[0])
        snprintf(bucket, 64, "%s", st->bucket);
    else
        snprintf(bucket, 64, "sdsinf-claim-%016" PRIx64, run);
    snprintf(root, SDSINF__CLAIM_ROOT_CAP, "%.47s/%016" PRIx64 "/", prefix,
             run);
}

/* ---- Pointers ------------------------------------------------------------ */

/* A decimal of 1..20 digits at *s (len bytes left) ending at a space: its
 * value, *s moved past the space; -1 when there is none. */
static int read_decimal(const char **s, size_t *left, uint64_t *v)
{
    size_t i = 0;
    uint64_t x = 0;
    for (; i < *left && (*s)[i] >= '0' && (*s)[i] <= '9'; i++) {
        unsigned d = (unsigned)((*s)[i] - '0');
        if (i >= 19 && x > (UINT64_MAX - d) / 10)
            return -1;
        x = x * 10 + d;
    }
    if (i == 0 || i >= *left || (*s)[i] != ' ' || ((*s)[0] == '0' && i > 1))
        return -1;
    *v = x;
    *s += i + 1;
    *left -= i + 1;
    return 0;
}

int sdsinf__claim_parse(const char *text, size_t len, sdsinf__claim_ptr *p)
{
    const char *s = text;
    size_t left = len;
    if (left < 3 || memcmp(s, "@1 ", 3))
        return -1;
    s += 3;
    left -= 3;
    if (read_decimal(&s, &left, &p->size) != 0 || left < 18 || s[16] != ' ')
        return -1;
    p->sum = 0;
    for (int i = 0; i < 16; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                       : -1;
        if (d < 0)
            return -1;
        p->sum = p->sum << 4 | (uint64_t)d;
    }
    s += 17;
    left -= 17;
    if (left == 0 || left >= sizeof p->key || s[0] == '/')
        return -1;
    for (size_t i = 0; i < left; i++)
        if (!s[i] || !strchr(KEY_CHARS, s[i]) ||
            (s[i] == '.' && i + 1 < left && s[i + 1] == '.'))
            return -1;
    memcpy(p->key, s, left);
    p->key[left] = 0;
    return 0;
}

/* ---- An instance's objects ----------------------------------------------- */

int sdsinf__claim_open(sdsinf__claim *c, sdsinf_channel *ch, sdsinf_aws *a,
                       const char *channel, const sdsinf__claim_settings *st,
                       const char *prefix, size_t max_message,
                       size_t above, int created, sdsinf_err *err)
{
    memset(c, 0, sizeof *c);
    c->ch = ch;
    c->aws = a;
    c->channel = channel;
    c->mode = st->mode;
    run_names(st, prefix, ch->run, c->bucket, c->root);
    /* this instance's keys differ from any other's, a reopened worker's
     * of the same run too */
    uint64_t seed[3] = {(uint64_t)getpid(), (uint64_t)(sdsinf__now() * 1e9),
                        (uint64_t)(uintptr_t)c};
    c->nonce = sdsinf__checksum(seed, sizeof seed, (uint64_t)ch->self);
    size_t over = st->above > 0 ? (size_t)st->above : above;
    ch->max_message = max_message;
    ch->whole_above = c->mode == SDSINF__CLAIM_OFF      ? 0
                      : c->mode == SDSINF__CLAIM_ALWAYS ? max_message
                      : over > max_message              ? over
                                                        : max_message;
    if (created || c->mode == SDSINF__CLAIM_OFF || st->bucket[0])
        return SDSINF_OK;
    SDSINF__COUNT(ch, s3_put, 1); /* a standalone run: its own bucket */
    return sdsinf__s3_bucket_create(a, c->bucket, &ch->requests.retries, err);
}

int sdsinf__claim_store(sdsinf__claim *c, const void *msg, size_t len,
                        char *ptr, size_t *plen, sdsinf_err *err)
{
    char key[SDSINF__CLAIM_KEY_CAP];
    snprintf(key, sizeof key, "%s%d/%016" PRIx64 "-%" PRIu64, c->root,
             c->ch->self, c->nonce, c->seq++);
    SDSINF__COUNT(c->ch, s3_put, 1);
    int code = sdsinf__s3_put(c->aws, c->bucket, key, msg, len,
                              &c->ch->requests.retries, err);
    if (code != SDSINF_OK)
        return code;
    int n = snprintf(ptr, SDSINF__CLAIM_PTR_CAP, "@1 %zu %016" PRIx64 " %s",
                     len, sdsinf__checksum(msg, len, 0), key);
    *plen = (size_t)n;
    return SDSINF_OK;
}

int sdsinf__claim_fetch(sdsinf__claim *c, const char *text, size_t len,
                        unsigned char **data, size_t *dlen, sdsinf_err *err)
{
    sdsinf__claim_ptr p;
    if (sdsinf__claim_parse(text, len, &p) != 0)
        return sdsinf__fail(err, SDSINF_ECORRUPT,
                            "channel '%s': worker %d got a pointer that "
                            "sdsinf did not write ('%.40s'); is another "
                            "program using the queue?",
                            c->channel, c->ch->self, len ? text : "");
    if (strncmp(p.key, c->root, strlen(c->root)))
        return 1; /* another run's (a shared topic or stack) */
    double wait_ms = FETCH_FIRST_MS, deadline = sdsinf__now() + FETCH_WAIT_S;
    for (;;) {
        sdsinf_aws_response rs;
        uint64_t size = 0;
        SDSINF__COUNT(c->ch, s3_get, 1);
        int code = sdsinf__s3_get(c->aws, c->bucket, p.key, NULL, &rs, &size,
                                  &c->ch->requests.retries, err);
        if (code == SDSINF_OK && (rs.len != p.size ||
                                  sdsinf__checksum(rs.body, rs.len, 0) !=
                                      p.sum))
            code = sdsinf__fail(err, SDSINF_ECORRUPT,
                                "channel '%s': worker %d: object "
                                "s3://%s/%.100s holds %zu bytes, not the %"
                                PRIu64 " (checksum %016" PRIx64 ") its "
                                "pointer names; another program writes "
                                "under the run's keys?",
                                c->channel, c->ch->self, c->bucket, p.key,
                                rs.len, p.size, p.sum);
        if (code == SDSINF_OK) {
            unsigned char *body = (unsigned char *)rs.body;
            if (!body && !(body = malloc(1)))
                code = sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
            rs.body = NULL;
            *data = body;
            *dlen = rs.len;
        }
        sdsinf__aws_response_free(&rs);
        if (code != SDSINF_S3_NOT_FOUND)
            return code;
        double left = (deadline - sdsinf__now()) * 1e3;
        if (left <= 0)
            return sdsinf__fail(err, SDSINF_EIO,
                                "channel '%s': worker %d got a pointer to "
                                "s3://%s/%.100s, which is not there (%.0f s "
                                "later): was the run removed while it ran?",
                                c->channel, c->ch->self, c->bucket, p.key,
                                FETCH_WAIT_S);
        sdsinf__sleep_ms(wait_ms < left ? wait_ms : left);
        wait_ms = wait_ms * 2 < FETCH_MAX_MS ? wait_ms * 2 : FETCH_MAX_MS;
    }
}

/* ---- The run's objects ----------------------------------------------------- */

int sdsinf__claim_run_create(sdsinf_aws *a, const sdsinf__claim_settings *st,
                             uint64_t run, sdsinf_requests *req,
                             sdsinf_err *err)
{
    char bucket[64], root[SDSINF__CLAIM_ROOT_CAP];
    if (st->mode == SDSINF__CLAIM_OFF || st->bucket[0])
        return SDSINF_OK;
    run_names(st, "", run, bucket, root);
    req->s3_put++;
    return sdsinf__s3_bucket_create(a, bucket, &req->retries, err);
}

int sdsinf__claim_run_remove(sdsinf_aws *a, const sdsinf__claim_settings *st,
                             const char *prefix, uint64_t run,
                             sdsinf_requests *req, sdsinf_err *err)
{
    char bucket[64], root[SDSINF__CLAIM_ROOT_CAP];
    if (st->mode == SDSINF__CLAIM_OFF)
        return SDSINF_OK;
    run_names(st, prefix, run, bucket, root);
    return sdsinf__s3_remove_run(a, bucket, root, !st->bucket[0],
                                 &req->s3_list, &req->s3_remove,
                                 &req->retries, err);
}

int sdsinf__claim_run_count(sdsinf_aws *a, const sdsinf__claim_settings *st,
                            const char *prefix, uint64_t run, int64_t *items,
                            sdsinf_err *err)
{
    char bucket[64], root[SDSINF__CLAIM_ROOT_CAP];
    int64_t n = 0;
    uint64_t retries = 0;
    if (st->mode == SDSINF__CLAIM_OFF)
        return SDSINF_OK;
    run_names(st, prefix, run, bucket, root);
    int code = sdsinf__s3_count_prefix(a, bucket, root, &n, &retries, err);
    if (code == SDSINF_S3_NOT_FOUND)
        return SDSINF_OK;
    if (code == SDSINF_OK)
        *items += n + !st->bucket[0];
    return code;
}
