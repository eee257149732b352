/* calibrate.h - the planner's measurements (calibrate.c): this machine's
 * kernel time per layer of a model, and the bytes and messages per layer
 * of a quick distributed run, on a calibration batch; written to and read
 * from a calibration file.
 *
 * The file: one JSON object {sdsinf_calibration: 1, neurons, layers,
 * workers, images (the batch measured), weight_bytes, density,
 * compute_seconds, bytes, messages (arrays of `layers` numbers >= 0, per
 * image and layer: as sdsinf_calibration has them), about (optional)}. */
#ifndef SDSINF_CALIBRATE_H
#define SDSINF_CALIBRATE_H

#include "sdsinf.h"

/* The images of a calibration batch, and the workers of its run. */
#define CALIBRATE_IMAGES 256
#define CALIBRATE_WORKERS 4

/* A calibration and the arrays behind it (owned). */
typedef struct calibration {
    sdsinf_calibration c;
    int64_t images;
    double *data; /* 4 x layers: density, compute, bytes, messages */
} calibration;

/* Measures model m on a batch of CALIBRATE_IMAGES images, the first of
 * `sample` (borrowed; NULL: generated from seed): sdsinf_infer on one
 * thread, timed per layer, and a run on `workers` threads over the mem
 * channel (a block plan), its per-layer records; `show`: each stage's
 * progress on standard error (meter.h). */
int calibrate_measure(const sdsinf_model *m, const sdsinf_csr *sample,
                      int workers, uint64_t seed, int show,
                      calibration *out, sdsinf_err *err);
int calibrate_save(const calibration *c, const char *path, sdsinf_err *err);
int calibrate_load(const char *path, calibration *out, sdsinf_err *err);
void calibrate_free(calibration *c);

#endif /* SDSINF_CALIBRATE_H */
