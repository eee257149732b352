/* fuzz_plan.c - fuzz target: a plan directory's plan.bin.  A failure must
 * name the file and leave the output alone; a loaded plan must answer its
 * queries within bounds. */
#include "sdsinf.h"
#include "fuzz_input.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sdsinf_plan *p = NULL;
    sdsinf_err err = {0};
    fuzz_write("plan.bin", data, size);
    int rc = sdsinf_plan_load(fuzz_dir(), NULL, &p, &err);
    if (rc != SDSINF_OK) {
        if (p || (rc != SDSINF_ENOMEM && !strstr(err.msg, "plan.bin")))
            abort();
        return 0;
    }
    sdsinf_plan_stats st;
    sdsinf_plan_get_stats(p, &st);
    int64_t total = 0;
    for (int32_t l = 1; l <= st.layers; l++)
        for (int32_t k = 0; k < st.neurons; k++) {
            const uint16_t *t;
            int64_t n;
            sdsinf_plan_targets(p, l, k, &t, &n);
            for (int64_t i = 0; i < n; i++)
                if (t[i] >= st.workers)
                    abort();
            total += n;
        }
    for (int32_t s = 0; s <= st.layers; s++)
        for (int32_t k = 0; k < st.neurons; k++)
            if (sdsinf_plan_owner(p, s)[k] >= st.workers)
                abort();
    if (total != st.row_target_pairs)
        abort();
    sdsinf_plan_free(p);
    return 0;
}
