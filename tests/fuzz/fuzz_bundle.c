/* fuzz_bundle.c - fuzz target: the model bundle reader.  Each input is
 * loaded as it is, and again with its size field and checksums made right,
 * so mutations reach the structural checks behind the checksums.  A failure
 * must name the file; a model that loads must run a sample through every
 * layer (the reader promises no file content makes inference read out of
 * bounds). */
#include "sdsinf.h"
#include "fuzz_input.h"

#include "core/core.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The bundle layout (bundle.c): a 64-byte header, then from byte 64 one
 * 88-byte entry a layer; the arrays follow. */
#define HEADER_SIZE 64
#define H_NEURONS 16
#define H_LAYERS 20
#define H_FLAGS 28
#define H_FILE_SIZE 32
#define H_TABLE_SUM 48
#define H_HEADER_SUM 56
#define ENTRY_SIZE 88
#define E_NNZ 0
#define E_OFF 8
#define E_SUM 80
#define NARRAYS 8

static uint64_t get(const uint8_t *b, size_t off, size_t n)
{
    uint64_t v = 0;
    memcpy(&v, b + off, n); /* little-endian hosts only, as bundles are */
    return v;
}

static void put64(uint8_t *b, size_t off, uint64_t v)
{
    memcpy(b + off, &v, sizeof v);
}

/* Recomputes one layer's checksum, when its arrays lie inside the file. */
static void fix_layer(uint8_t *b, size_t size, uint8_t *entry, uint64_t n,
                      int vec)
{
    uint64_t nnz = get(entry, E_NNZ, 8), c = 0;
    if (nnz > size / 8)
        return;
    uint64_t sz[NARRAYS] = {(n + 1) * 8, nnz * 4, nnz * 4, (n + 1) * 8,
                            nnz * 4,     nnz * 4, vec ? n * 4 : 0, n * 4};
    for (int a = 0; a < NARRAYS; a++) {
        uint64_t off = get(entry, E_OFF + 8 * (size_t)a, 8);
        if (!sz[a])
            continue;
        if (off > size || sz[a] > size - off)
            return;
        c = sdsinf__checksum(b + off, (size_t)sz[a], c);
    }
    put64(entry, E_SUM, c);
}

/* Makes the size field and every checksum it can agree with the bytes. */
static void fix_bundle(uint8_t *b, size_t size)
{
    uint64_t n = get(b, H_NEURONS, 4), layers = get(b, H_LAYERS, 4);
    int vec = get(b, H_FLAGS, 4) & 1;
    put64(b, H_FILE_SIZE, size);
    if (layers * ENTRY_SIZE <= size - HEADER_SIZE) {
        for (uint64_t l = 0; l < layers; l++)
            fix_layer(b, size, b + HEADER_SIZE + l * ENTRY_SIZE, n, vec);
        put64(b, H_TABLE_SUM, sdsinf__checksum(b + HEADER_SIZE,
                                               layers * ENTRY_SIZE, 0));
    }
    put64(b, H_HEADER_SUM, sdsinf__checksum(b, H_HEADER_SUM, 0));
}

/* Runs one sample with every feature 1 through every layer. */
static void run_model(const sdsinf_model *m)
{
    sdsinf_csr y = {0}, next = {0}, t;
    sdsinf_err err = {0};
    if (sdsinf_csr_alloc(&y, 1, m->neurons, m->neurons, &err) != SDSINF_OK)
        return;
    for (int32_t c = 0; c < m->neurons; c++) {
        y.col[c] = (uint32_t)c;
        y.val[c] = 1.0f;
    }
    y.rowptr[1] = m->neurons;
    for (int32_t l = 0; l < m->layers; l++) {
        if (sdsinf_layer_forward(NULL, &m->layer[l], m->ymax, &y, &next,
                                 &err) != SDSINF_OK)
            break;
        t = y;
        y = next;
        next = t;
    }
    sdsinf_csr_free(&y);
    sdsinf_csr_free(&next);
}

static void load(const char *path)
{
    sdsinf_model *m = NULL;
    sdsinf_err err = {0};
    int rc = sdsinf_model_load(path, NULL, &m, &err);
    if (rc == SDSINF_OK)
        run_model(m);
    else if (m || (rc != SDSINF_ENOMEM && !strstr(err.msg, path)))
        abort();
    sdsinf_model_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    load(fuzz_write("model.sdsinf", data, size));
    if (size < HEADER_SIZE || memcmp(data, "SDSINFMB", 8) != 0)
        return 0;
    uint8_t *fixed = malloc(size);
    if (!fixed)
        abort();
    memcpy(fixed, data, size);
    fix_bundle(fixed, size);
    load(fuzz_write("model.sdsinf", fixed, size));
    free(fixed);
    return 0;
}
