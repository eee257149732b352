/* fuzz_payload.c - fuzz target: any bytes as an SDS-Inf payload, parsed
 * from memory and read from a file.  A failure must name the file and
 * leave the payload zeroed; a success must keep the schema's promises
 * (payload.h); both ways must agree. */
#include "payload.h"
#include "fuzz_input.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Aborts unless a parsed payload holds what payload.h promises. */
static void check_payload(const payload *p)
{
    long long tree = 0, level = 1;
    for (int k = 1; k <= p->nlevels && tree <= 65535; k++) {
        level *= p->bfr;
        tree += level;
    }
    if (!p->weights.bucket || !p->weights.subfolder || !p->inf_data.bucket ||
        !p->inf_data.subfolder || !p->metrics.bucket ||
        !p->metrics.subfolder || !p->weights.bucket[0] ||
        (p->connectivity.bucket && !p->connectivity.subfolder) ||
        p->bfr < 1 || p->nlevels < 1 || p->nlevels > 32 || tree != p->workers ||
        p->neurons < 1 || p->layers < 1 || p->num_data < 1 ||
        p->batch_size < 1 || p->num_batches < 1 || p->expt_id < -1)
        abort();
    int64_t n = payload_images(p);
    if (n < 1 || n > p->num_data)
        abort();
    if (!p->name[0] || !p->config[0] || strchr(p->name, '/') ||
        strchr(p->config, '/') || !strcmp(p->name, ".") ||
        !strcmp(p->name, ".."))
        abort();
}

/* Aborts unless a failure left *p zeroed and named `file`. */
static void check_failure(int rc, const sdsinf_err *err, const payload *p,
                          const char *file)
{
    payload zero;
    memset(&zero, 0, sizeof zero);
    if (memcmp(p, &zero, sizeof zero) ||
        (rc != SDSINF_ENOMEM &&
         (err->code != rc || strncmp(err->msg, file, strlen(file)))))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    payload a, b;
    sdsinf_err err = {0}, ferr = {0};
    int rc = payload_parse("payload.json", (const char *)data, size, &a, &err);
    if (rc == SDSINF_OK)
        check_payload(&a);
    else
        check_failure(rc, &err, &a, "payload.json");

    const char *path = fuzz_write("payload.json", data, size);
    int frc = payload_load(path, &b, &ferr);
    if (frc != SDSINF_ENOMEM && rc != SDSINF_ENOMEM &&
        (frc != rc ||
         (rc == SDSINF_OK && (a.workers != b.workers ||
                              a.num_data != b.num_data ||
                              strcmp(a.name, b.name) ||
                              strcmp(a.config, b.config)))))
        abort();
    if (frc != SDSINF_OK)
        check_failure(frc, &ferr, &b, path);
    payload_free(&a);
    payload_free(&b);
    return 0;
}
