/* legacy.c - SDS-Inf's per-worker data layout, written and read.
 *
 *   nnp.<w>    per layer a block: `layer nnz`, then `row col value` lines:
 *              row = an output neuron worker w owns, col = an input neuron
 *              (the transpose of the GraphChallenge layer), 0-based
 *   train.<w>  `sample feature value` for the input features w owns
 *   conn.<l>   `row owner target...` for each row of layer l's input
 *              (stage l) that some other worker needs, l = 0..L-1
 * Reading checks what SDS-Inf never did: every output owned once, conn
 * owners equal to the nnp and train owners, conn targets equal to the ones
 * the weights imply, and no worker its own target.  SDS-Inf lists only
 * rows that carry data (a feature no image sets is not listed), so the
 * conn files' pairs can be fewer than the plan's. */
#include "core/parse.h"
#include "model/model.h"
#include "plan/plan.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int open_out(const char *dir, const char *name, long id,
                    sdsinf_output *o, sdsinf_err *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.%ld", dir, name, id);
    return sdsinf_output_open(path, o, err);
}

int sdsinf_legacy_save(const sdsinf_model *m, const sdsinf_plan *p,
                       const sdsinf_csr *images, const char *dir,
                       sdsinf_err *err)
{
    sdsinf_output o;
    int rc = SDSINF_OK;
    sdsinf_plan_stats st;
    sdsinf_plan_get_stats(p, &st);
    if (st.neurons != m->neurons || st.layers != m->layers)
        return sdsinf__fail(err, SDSINF_EINVAL, "the plan is for another "
                            "model");
    if (mkdir(dir, 0777) != 0 && errno != EEXIST)
        return sdsinf__fail(err, SDSINF_EIO, "%s: cannot create: %s", dir,
                            strerror(errno));
    for (int w = 0; w < st.workers && rc == SDSINF_OK; w++) {
        if ((rc = open_out(dir, "nnp", w, &o, err)))
            return rc;
        for (int32_t l = 0; l < m->layers; l++) {
            const sdsinf_csr *wt = &m->layer[l].wt;
            const uint16_t *own = sdsinf_plan_owner(p, l + 1);
            int64_t nnz = 0;
            for (int64_t c = 0; c < wt->nrows; c++)
                nnz += own[c] == w ? wt->rowptr[c + 1] - wt->rowptr[c] : 0;
            fprintf(o.f, "%d %lld\n", l, (long long)nnz);
            for (int64_t c = 0; c < wt->nrows; c++)
                for (int64_t e = wt->rowptr[c]; own[c] == w && e < wt->rowptr[c + 1]; e++)
                    fprintf(o.f, "%lld %u %.9g\n", (long long)c, wt->col[e],
                            (double)wt->val[e]);
        }
        if ((rc = sdsinf_output_commit(&o, err)) ||
            (rc = open_out(dir, "train", w, &o, err)))
            return rc;
        const uint16_t *own0 = sdsinf_plan_owner(p, 0);
        for (int64_t s = 0; images && s < images->nrows; s++)
            for (int64_t e = images->rowptr[s]; e < images->rowptr[s + 1]; e++)
                if (own0[images->col[e]] == w)
                    fprintf(o.f, "%lld %u %.9g\n", (long long)s, images->col[e],
                            (double)images->val[e]);
        rc = sdsinf_output_commit(&o, err);
    }
    for (int32_t l = 0; l < m->layers && rc == SDSINF_OK; l++) {
        if ((rc = open_out(dir, "conn", l, &o, err)))
            return rc;
        const uint16_t *own = sdsinf_plan_owner(p, l);
        for (int32_t k = 0; k < m->neurons; k++) {
            const uint16_t *t;
            int64_t n;
            sdsinf_plan_targets(p, l + 1, k, &t, &n);
            if (n == 0)
                continue;
            fprintf(o.f, "%d %u", k, own[k]);
            for (int64_t i = 0; i < n; i++)
                fprintf(o.f, " %u", t[i]);
            fputc('\n', o.f);
        }
        rc = sdsinf_output_commit(&o, err);
    }
    return rc;
}

/* ---- Reading ----------------------------------------------------------------- */

typedef struct reader {
    const char *dir;
    int32_t N, L, W;
    sdsinf__triplets *layer; /* L: (input k, output c, value) */
    uint16_t *owner;         /* (L + 1) x N, NONE where unknown */
    sdsinf__triplets train;  /* (sample, feature, value) */
    sdsinf__triplets *conn;  /* L: (row, target), when owners are rebuilt */
    int maxid;               /* largest worker id the conn files name */
    int64_t listed_pairs;    /* (row, target) pairs the conn files list */
} reader;

#define NONE 0xFFFF

static int file_exists(const char *dir, const char *name, long id)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s/%s.%ld", dir, name, id);
    return stat(path, &st) == 0;
}

/* The largest l of the conn.<l> files in dir (-1 with none), so that a
 * gap in their numbers is found, not taken for the model's end. */
static int conn_last(const char *dir, long *last, sdsinf_err *err)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    if (!d)
        return sdsinf__fail(err, SDSINF_EIO, "%s: cannot open: %s", dir,
                            strerror(errno));
    *last = -1;
    while ((de = readdir(d)) != NULL) {
        const char *s = de->d_name;
        char *end;
        if (strncmp(s, "conn.", 5) || s[5] < '0' || s[5] > '9')
            continue;
        errno = 0;
        long l = strtol(s + 5, &end, 10);
        if (!*end && errno == 0 && l > *last)
            *last = l;
    }
    closedir(d);
    return SDSINF_OK;
}

/* Reads nnp.<w>: its blocks give layer triplets and output owners. */
static int read_nnp(reader *r, int w, sdsinf_err *err)
{
    char path[4096];
    sdsinf__file f = {0};
    sdsinf__lines ls;
    int rc;
    int32_t layer = -1;
    uint64_t left = 0;
    snprintf(path, sizeof path, "%s/nnp.%d", r->dir, w);
    if ((rc = sdsinf__file_read(path, &f, err)) != SDSINF_OK)
        return rc;
    sdsinf__lines_init(&ls, &f, path);
    while (sdsinf__lines_next(&ls)) {
        uint64_t a, b;
        float v;
        if (left == 0) { /* a block header: `layer nnz` */
            if ((rc = sdsinf__tok_u64(&ls, "layer", &a, err)) ||
                (rc = sdsinf__tok_u64(&ls, "entry count", &left, err)) ||
                (rc = sdsinf__tok_end(&ls, err)))
                goto done;
            if (++layer >= r->L) {
                rc = sdsinf__fail(err, SDSINF_EPARSE, "%s:%lld: more than %d "
                                  "layer blocks", path, (long long)ls.line,
                                  r->L);
                goto done;
            }
            continue;
        }
        if ((rc = sdsinf__tok_u64(&ls, "row", &a, err)) ||
            (rc = sdsinf__tok_u64(&ls, "column", &b, err)) ||
            (rc = sdsinf__tok_f32(&ls, "value", &v, err)) ||
            (rc = sdsinf__tok_end(&ls, err)))
            goto done;
        left--;
        if (a >= (uint64_t)r->N || b >= (uint64_t)r->N) {
            rc = sdsinf__fail(err, SDSINF_EPARSE, "%s:%lld: neuron (%llu, "
                              "%llu) outside 0..%d", path, (long long)ls.line,
                              (unsigned long long)a, (unsigned long long)b,
                              r->N - 1);
            goto done;
        }
        uint16_t *o = &r->owner[(size_t)(layer + 1) * r->N + a];
        if (*o != NONE && *o != w) {
            rc = sdsinf__fail(err, SDSINF_EPARSE, "%s:%lld: output %llu of "
                              "layer %d is owned by worker %u too", path,
                              (long long)ls.line, (unsigned long long)a,
                              layer, *o);
            goto done;
        }
        *o = (uint16_t)w;
        if (v != 0 && !sdsinf__triplets_push(&r->layer[layer], (uint32_t)b,
                                             (uint32_t)a, v, ls.line)) {
            rc = sdsinf__fail(err, SDSINF_ENOMEM, "%s: no memory", path);
            goto done;
        }
    }
    if (left || layer + 1 != r->L)
        rc = sdsinf__fail(err, SDSINF_EPARSE, "%s: truncated: %d of %d layer "
                          "blocks, %llu entries missing", path, layer + 1,
                          r->L, (unsigned long long)left);
done:
    sdsinf__file_free(&f);
    return rc;
}

/* Reads train.<w>: the features it holds are owned by w. */
static int read_train(reader *r, int w, sdsinf_err *err)
{
    char path[4096];
    sdsinf__file f = {0};
    sdsinf__lines ls;
    int rc;
    snprintf(path, sizeof path, "%s/train.%d", r->dir, w);
    if (!file_exists(r->dir, "train", w))
        return SDSINF_OK; /* no inputs given */
    if ((rc = sdsinf__file_read(path, &f, err)) != SDSINF_OK)
        return rc;
    sdsinf__lines_init(&ls, &f, path);
    while (sdsinf__lines_next(&ls)) {
        uint64_t s, k;
        float v;
        if ((rc = sdsinf__tok_u64(&ls, "sample", &s, err)) ||
            (rc = sdsinf__tok_u64(&ls, "feature", &k, err)) ||
            (rc = sdsinf__tok_f32(&ls, "value", &v, err)) ||
            (rc = sdsinf__tok_end(&ls, err)))
            break;
        if (k >= (uint64_t)r->N || s >= UINT32_MAX) {
            rc = sdsinf__fail(err, SDSINF_EPARSE, "%s:%lld: feature %llu "
                              "outside 0..%d", path, (long long)ls.line,
                              (unsigned long long)k, r->N - 1);
            break;
        }
        if (r->owner[k] != NONE && r->owner[k] != w) {
            rc = sdsinf__fail(err, SDSINF_EPARSE, "%s:%lld: feature %llu is "
                              "held by worker %u too", path,
                              (long long)ls.line, (unsigned long long)k,
                              r->owner[k]);
            break;
        }
        r->owner[k] = (uint16_t)w;
        if (v != 0 && !sdsinf__triplets_push(&r->train, (uint32_t)s,
                                             (uint32_t)k, v, ls.line)) {
            rc = sdsinf__fail(err, SDSINF_ENOMEM, "%s: no memory", path);
            break;
        }
    }
    sdsinf__file_free(&f);
    return rc;
}

/* Reads conn.<l>: owners fill in unknown ones and must match known ones;
 * the targets must be exactly those the plan implies. */
static int read_conn(reader *r, int32_t l, const sdsinf_plan *p, int pass,
                     sdsinf_err *err)
{
    char path[4096];
    sdsinf__file f = {0};
    sdsinf__lines ls;
    int rc;
    uint8_t *mark = NULL;
    snprintf(path, sizeof path, "%s/conn.%d", r->dir, l);
    if ((rc = sdsinf__file_read(path, &f, err)) != SDSINF_OK)
        return rc;
    if (pass == 2 && !(mark = sdsinf__calloc((size_t)r->W, 1))) {
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
        goto done;
    }
    sdsinf__lines_init(&ls, &f, path);
    int64_t rows = 0;
    while (sdsinf__lines_next(&ls)) {
        uint64_t k, o, t;
        rows++;
        if ((rc = sdsinf__tok_u64(&ls, "row", &k, err)) ||
            (rc = sdsinf__tok_u64(&ls, "owner", &o, err)))
            goto done;
        if (k >= (uint64_t)r->N || o >= (uint64_t)r->W) {
            rc = sdsinf__fail(err, SDSINF_EPARSE, "%s:%lld: row %llu or owner "
                              "%llu out of range (%d neurons, %d workers)",
                              path, (long long)ls.line, (unsigned long long)k,
                              (unsigned long long)o, r->N, r->W);
            goto done;
        }
        /* pass 1 fills in unknown owners; pass 2 reads the plan's */
        uint16_t known = pass == 1 ? r->owner[(size_t)l * r->N + k]
                                   : sdsinf_plan_owner(p, l)[k];
        if (known == NONE)
            known = r->owner[(size_t)l * r->N + k] = (uint16_t)o;
        if (known != o) {
            rc = sdsinf__fail(err, SDSINF_EPARSE, "%s:%lld: row %llu is owned "
                              "by worker %llu here but by worker %u in the %s "
                              "files", path, (long long)ls.line,
                              (unsigned long long)k, (unsigned long long)o,
                              known, l == 0 ? "train" : "nnp");
            goto done;
        }
        r->maxid = (int)o > r->maxid ? (int)o : r->maxid;
        if (pass == 1) {
            char tok[32];
            for (sdsinf__lines probe = ls;
                 r->conn && sdsinf__tok_str(&probe, tok, sizeof tok);) {
                if ((rc = sdsinf__tok_u64(&ls, "target", &t, err)))
                    goto done;
                if (t >= (uint64_t)r->W) {
                    rc = sdsinf__fail(err, SDSINF_EPARSE, "%s:%lld: target "
                                      "%llu out of range", path,
                                      (long long)ls.line, (unsigned long long)t);
                    goto done;
                }
                r->maxid = (int)t > r->maxid ? (int)t : r->maxid;
                if (!sdsinf__triplets_push(&r->conn[l], (uint32_t)k,
                                           (uint32_t)t, 1, ls.line)) {
                    rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
                    goto done;
                }
            }
            continue;
        }
        const uint16_t *want;
        int64_t n, i = 0;
        sdsinf_plan_targets(p, l + 1, (int32_t)k, &want, &n);
        /* the targets, in any order (SDS-Inf does not sort them), each
         * once, none the owner: as a set, exactly what the weights need */
        memset(mark, 0, (size_t)r->W);
        char tok[32];
        for (sdsinf__lines probe = ls; sdsinf__tok_str(&probe, tok, sizeof tok);) {
            if ((rc = sdsinf__tok_u64(&ls, "target", &t, err)))
                goto done;
            if (t == o || t >= (uint64_t)r->W || mark[t]) {
                rc = sdsinf__fail(err, SDSINF_EPARSE,
                                  "%s:%lld: target %llu of row %llu is %s",
                                  path, (long long)ls.line,
                                  (unsigned long long)t, (unsigned long long)k,
                                  t == o ? "its owner" : t >= (uint64_t)r->W
                                                             ? "out of range"
                                                             : "repeated");
                goto done;
            }
            mark[t] = 1;
            i++;
        }
        r->listed_pairs += i;
        int64_t match = 0;
        for (int64_t j = 0; j < n; j++)
            match += mark[want[j]];
        if (i != n || match != n) {
            rc = sdsinf__fail(err, SDSINF_EPARSE, "%s:%lld: row %llu lists "
                              "%lld targets, %lld of them right; the weights "
                              "need %lld", path, (long long)ls.line,
                              (unsigned long long)k, (long long)i,
                              (long long)match, (long long)n);
            goto done;
        }
    }
    /* An empty file is damage, unless the nnp files' owners need nothing
     * in this layer (one worker, a layer that stays local). */
    if (rows == 0 && r->conn)
        rc = sdsinf__fail(err, SDSINF_EPARSE, "%s: empty: without nnp files "
                          "the owners come from the conn files, and an empty "
                          "one leaves its layer's unknown; export the layout "
                          "again", path);
    else if (rows == 0 && pass == 2) {
        sdsinf_plan_stats st;
        sdsinf_plan_get_stats(p, &st);
        if (st.pairs_per_layer[l] > 0)
            rc = sdsinf__fail(err, SDSINF_EPARSE, "%s: empty, but the nnp "
                              "files' owners need %lld row-target pairs in "
                              "this layer; export the layout again", path,
                              (long long)st.pairs_per_layer[l]);
    }
done:
    sdsinf__free(mark);
    sdsinf__file_free(&f);
    return rc;
}

/* Rows still without an owner are not listed in the conn files, so they
 * have no targets: each goes with its outputs (from the last stage down);
 * the rest (no outputs at all) get the block owner.  w: the L layers. */
static void owners_complete(reader *r, const sdsinf_csr *const *w)
{
    int32_t N = r->N;
    for (int32_t l = r->L - 1; l >= 0; l--)
        for (int32_t k = 0; k < N; k++) {
            uint16_t *o = &r->owner[(size_t)l * N + k];
            if (*o == NONE && w[l]->rowptr[k + 1] > w[l]->rowptr[k])
                *o = r->owner[(size_t)(l + 1) * N + w[l]->col[w[l]->rowptr[k]]];
        }
    for (size_t i = 0; i < (size_t)(r->L + 1) * N; i++)
        if (r->owner[i] == NONE)
            r->owner[i] = (uint16_t)((int64_t)(i % N) * r->W / N);
}

/* Without nnp files, owners of the outputs come from the conn files and
 * the weights: an output's owner is in (targets + owner) of each of its
 * listed inputs, and is its unlisted inputs' owner; a row that is not
 * listed has no targets, so it sits with all its outputs. */
static int rebuild_owners(reader *r, const sdsinf_model *m, sdsinf_err *err)
{
    int32_t N = r->N, L = r->L;
    int rc = SDSINF_OK;
    int64_t *cnt = sdsinf__calloc((size_t)r->W, sizeof *cnt);
    int64_t *load = sdsinf__calloc((size_t)r->W, sizeof *load);
    uint8_t *covered = sdsinf__mallocarray((size_t)N * r->W, 1);
    sdsinf_csr *tl = sdsinf__calloc((size_t)L, sizeof *tl);
    if (!cnt || !load || !covered || !tl) {
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
        goto done;
    }
    for (int32_t l = 0; l < L && rc == SDSINF_OK; l++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/conn.%d", r->dir, l);
        rc = sdsinf__csr_from_triplets(N, r->W, &r->conn[l], path, &tl[l], err);
    }
    for (int32_t l = 0; l < L && rc == SDSINF_OK; l++) {
        const sdsinf_csr *wt = &m->layer[l].wt;
        const uint16_t *in = r->owner + (size_t)l * N;
        uint16_t *out = r->owner + (size_t)(l + 1) * N;
        memset(covered, 0, (size_t)N * r->W);
        memset(load, 0, (size_t)r->W * sizeof *load);
        /* first the outputs whose owner is known or forced, then the rest:
         * each takes the candidate that serves the most targets not yet
         * served (then the least loaded), so the target lists come out as
         * the conn files give them */
        for (int round = 0; round < 2; round++)
            for (int32_t c = 0; c < N; c++) {
                int64_t q = 0;
                if (out[c] == NONE) {
                    memset(cnt, 0, (size_t)r->W * sizeof *cnt);
                    for (int64_t e = wt->rowptr[c]; e < wt->rowptr[c + 1]; e++) {
                        uint32_t k = wt->col[e];
                        if (in[k] == NONE)
                            continue; /* no constraint yet */
                        q++;
                        cnt[in[k]]++;
                        for (int64_t i = tl[l].rowptr[k]; i < tl[l].rowptr[k + 1]; i++)
                            cnt[tl[l].col[i]]++;
                    }
                    int best = -1, matches = 0;
                    int64_t best_gain = -1;
                    for (int x = 0; q > 0 && x < r->W; x++) {
                        if (cnt[x] != q)
                            continue;
                        matches++;
                        int64_t gain = 0;
                        for (int64_t e = wt->rowptr[c]; e < wt->rowptr[c + 1]; e++)
                            gain += in[wt->col[e]] != x &&
                                    !covered[(size_t)wt->col[e] * r->W + x];
                        if (gain > best_gain ||
                            (gain == best_gain && load[x] < load[best])) {
                            best = x;
                            best_gain = gain;
                        }
                    }
                    if (matches == 0 || (round == 0 && matches > 1))
                        continue; /* the back pass, a later round, a default */
                    out[c] = (uint16_t)best;
                } else if (round == 1) {
                    continue; /* placed in round 0 */
                }
                load[out[c]]++;
                for (int64_t e = wt->rowptr[c]; e < wt->rowptr[c + 1]; e++)
                    covered[(size_t)wt->col[e] * r->W + out[c]] = 1;
            }
    }
done:
    for (int32_t l = 0; tl && l < L; l++)
        sdsinf_csr_free(&tl[l]);
    sdsinf__free(tl);
    sdsinf__free(cnt);
    sdsinf__free(load);
    sdsinf__free(covered);
    return rc;
}

int sdsinf_legacy_load(const char *dir, const sdsinf_model *known,
                       const sdsinf_model_opts *mo, sdsinf_model **mout,
                       sdsinf_plan **pout, sdsinf_csr *images,
                       int64_t *conn_pairs, sdsinf_err *err)
{
    reader r = {0};
    int rc = SDSINF_OK;
    sdsinf_csr *w = NULL;
    float *bias = NULL, *bias_vecs = NULL;
    sdsinf_model *m = NULL;
    sdsinf_plan *p = NULL;
    sdsinf_csr im = {0};
    r.dir = dir;
    while (r.W < 65535 && file_exists(dir, "nnp", r.W))
        r.W++;
    long last = -1;
    if ((rc = conn_last(dir, &last, err)) != SDSINF_OK)
        return rc;
    if ((r.W == 0 && !known) || last < 0)
        return sdsinf__fail(err, SDSINF_EINVAL, "%s: no SDS-Inf layout here "
                            "(expected nnp.0.. and conn.0.., or conn.0.. with "
                            "the model's weights)", dir);
    /* the model's layer count where known, else the conn files' */
    int counted = !known && mo->layers <= 0;
    long nl = known ? known->layers : counted ? last + 1 : mo->layers;
    long gap = 0;
    while (gap < nl && file_exists(dir, "conn", gap))
        gap++;
    if (gap < nl && counted)
        return sdsinf__fail(err, SDSINF_EINVAL, "%s/conn.%ld: missing, but "
                            "there are conn files up to conn.%ld: one per "
                            "layer, numbered from 0 without gaps", dir, gap,
                            last);
    if (gap < nl)
        return sdsinf__fail(err, SDSINF_EINVAL, "%s/conn.%ld: missing; a "
                            "model of %ld layers needs conn.0 to conn.%ld, "
                            "one per layer", dir, gap, nl, nl - 1);
    if (last >= nl)
        return sdsinf__fail(err, SDSINF_EINVAL, "%s/conn.%ld: a conn file "
                            "past the model's %ld layers (conn.0 to "
                            "conn.%ld); is it another model's layout?", dir,
                            last, nl, nl - 1);
    r.L = (int32_t)nl;
    r.N = known ? known->neurons : mo->neurons;
    if (r.N <= 0)
        return sdsinf__fail(err, SDSINF_EINVAL, "%s: give the neuron count "
                            "(numNeurons) to read an SDS-Inf layout", dir);
    int rebuild = r.W == 0; /* conn files and the model's weights only */
    if (rebuild)
        r.W = 65535; /* until the conn files tell */
    size_t cells = (size_t)(r.L + 1) * r.N;
    if ((rebuild && !(r.conn = sdsinf__calloc((size_t)r.L, sizeof *r.conn))) ||
        !(r.layer = sdsinf__calloc((size_t)r.L, sizeof *r.layer)) ||
        !(r.owner = sdsinf__mallocarray(cells, sizeof *r.owner)) ||
        !(w = sdsinf__calloc((size_t)r.L, sizeof *w)) ||
        !(bias = sdsinf__mallocarray((size_t)r.L, sizeof *bias))) {
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
        goto done;
    }
    memset(r.owner, 0xFF, cells * sizeof *r.owner);
    for (int i = 0; !rebuild && i < r.W && rc == SDSINF_OK; i++)
        if ((rc = read_nnp(&r, i, err)) == SDSINF_OK)
            rc = read_train(&r, i, err);
    for (int32_t l = 0; l < r.L && rc == SDSINF_OK; l++)
        rc = read_conn(&r, l, NULL, 1, err);
    if (rc == SDSINF_OK && rebuild) {
        r.W = r.maxid + 1;
        for (int i = 0; i < r.W && rc == SDSINF_OK; i++)
            rc = read_train(&r, i, err);
        if (rc == SDSINF_OK)
            rc = rebuild_owners(&r, known, err);
    }
    if (rc != SDSINF_OK)
        goto done;
    const sdsinf_csr **layers = sdsinf__mallocarray((size_t)r.L, sizeof *layers);
    if (!layers) {
        rc = sdsinf__fail(err, SDSINF_ENOMEM, "no memory");
        goto done;
    }
    for (int32_t l = 0; l < r.L && rc == SDSINF_OK; l++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/nnp.*", dir);
        if (known)
            layers[l] = &known->layer[l].w;
        else if ((rc = sdsinf__csr_from_triplets(r.N, r.N, &r.layer[l], path,
                                                 &w[l], err)) == SDSINF_OK)
            layers[l] = &w[l];
    }
    if (rc == SDSINF_OK)
        owners_complete(&r, layers);
    sdsinf__free(layers);
    if (rc != SDSINF_OK)
        goto done;
    if (known) {
        rc = sdsinf__plan_from_owners(known, r.W, r.owner, "sds-inf", 0, 0,
                                      &p, err);
        r.owner = NULL;
        goto plan;
    }
    if ((rc = sdsinf__bias_resolve(mo->bias, NULL, r.N, r.L, r.L, bias,
                                   &bias_vecs, err)) != SDSINF_OK)
        goto done;
    rc = sdsinf_model_from_layers(r.N, r.L, w, bias, bias_vecs, mo->ymax, &m,
                                  err);
    w = NULL;
    if (rc != SDSINF_OK)
        goto done;
    rc = sdsinf__plan_from_owners(m, r.W, r.owner, "sds-inf", 0, 0, &p, err);
    r.owner = NULL;
plan:
    for (int32_t l = 0; l < r.L && rc == SDSINF_OK; l++)
        rc = read_conn(&r, l, p, 2, err);
    if (rc == SDSINF_OK && images) {
        uint64_t rows = 0;
        for (int64_t i = 0; i < r.train.n; i++)
            rows = r.train.row[i] + 1u > rows ? r.train.row[i] + 1u : rows;
        char path[4096];
        snprintf(path, sizeof path, "%s/train.*", dir);
        rc = sdsinf__csr_from_triplets((int64_t)rows, r.N, &r.train, path, &im,
                                       err);
    }
    if (rc != SDSINF_OK)
        goto done;
    *mout = m;
    *pout = p;
    if (images)
        *images = im;
    if (conn_pairs)
        *conn_pairs = r.listed_pairs;
    m = NULL;
    p = NULL;
done:
    for (int32_t l = 0; r.layer && l < r.L; l++)
        sdsinf__triplets_free(&r.layer[l]);
    sdsinf__free(r.layer);
    sdsinf__free(r.owner);
    sdsinf__triplets_free(&r.train);
    for (int32_t l = 0; r.conn && l < r.L; l++)
        sdsinf__triplets_free(&r.conn[l]);
    sdsinf__free(r.conn);
    for (int32_t l = 0; w && l < r.L; l++)
        sdsinf_csr_free(&w[l]);
    sdsinf__free(w);
    sdsinf__free(bias);
    sdsinf__free(bias_vecs);
    sdsinf_model_free(m);
    sdsinf_plan_free(p);
    return rc;
}
