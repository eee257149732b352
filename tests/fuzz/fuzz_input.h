/* fuzz_input.h - hands a fuzz input to the library as a file. */
#ifndef SDSINF_FUZZ_INPUT_H
#define SDSINF_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>

/* Writes the input to `name` in this process's scratch directory (made on
 * the first call, removed at exit, one file name per process); returns the
 * file's path.  fuzz_dir() is that directory. */
const char *fuzz_write(const char *name, const uint8_t *data, size_t size);
const char *fuzz_dir(void);

/* libFuzzer's entry point, which every target defines. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
