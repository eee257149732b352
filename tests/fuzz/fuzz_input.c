/* fuzz_input.c - hands a fuzz input to the library as a file. */
#include "fuzz_input.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static char scratch[4096], input[4200];

static void remove_scratch(void)
{
    unlink(input);
    rmdir(scratch);
}

const char *fuzz_dir(void)
{
    return scratch;
}

const char *fuzz_write(const char *name, const uint8_t *data, size_t size)
{
    if (!scratch[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(scratch, sizeof scratch, "%s/sdsinf-fuzz-XXXXXX",
                 tmp ? tmp : "/tmp");
        if (!mkdtemp(scratch))
            abort();
        snprintf(input, sizeof input, "%s/%s", scratch, name);
        atexit(remove_scratch);
    }
    FILE *f = fopen(input, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
        abort();
    return input;
}
