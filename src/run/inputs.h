/* run/inputs.h - a worker's input features as a file of its own (internal).
 *
 * The run writes, for each worker, the entries of the images in the input
 * features (stage 0 neurons) the plan gives it: inputs-{w}.sdsinf, which
 * the worker loads instead of the whole images file (as SDS-Inf's train.<w>
 * files are per worker).  Layout, native little-endian:
 *   0  magic "SDSINFIN"      8  version (u32), worker (u32)
 *   16 images (u64)          24 neurons, workers (u32 each)
 *   32 entries (u64)         40 reserved (0)
 *   48 checksum of the data  56 checksum of bytes 0-55
 *   then rowptr (images + 1 x i64), col (entries x u32), val (entries x
 *   f32): images x neurons, columns ascending within a row. */
#ifndef SDSINF_INPUTS_H
#define SDSINF_INPUTS_H

#include "core/core.h"

/* Writes every worker's inputs file into dir (dir/inputs-{w}.sdsinf: the
 * entries of images in the stage 0 neurons plan p gives w), in two passes
 * over the images. */
int sdsinf__inputs_save(const sdsinf_csr *images, const sdsinf_plan *p,
                        const char *dir, sdsinf_err *err);
/* Loads worker w's inputs file from dir (a path or an s3:// location: only
 * this file fetched) under plan p, every byte checked
 * (the checksums, the shape, each entry's feature one the plan gives w):
 * SDSINF_EIO, SDSINF_ECORRUPT, or SDSINF_EINVAL for another worker's or
 * plan's file.  Caller frees *out. */
int sdsinf__inputs_load(const char *dir, const sdsinf_plan *p, int w,
                        sdsinf_csr *out, sdsinf_err *err);
/* dir/inputs-{w}.sdsinf into buf (cap bytes), dir a path or an s3://
 * location. */
int sdsinf__inputs_path(const char *dir, int w, char *buf, size_t cap,
                        sdsinf_err *err);

#endif /* SDSINF_INPUTS_H */
