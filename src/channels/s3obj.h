/* channels/s3obj.h - the s3 channel's combined objects (layout=source,
 * internal): the blocks a source sends its targets in one layer, then a
 * trailer indexing them: per block {u32 target, u32 0, u64 offset, u64
 * length}, then {u32 entries, u32 magic "S3SB"}, all little-endian.  A
 * block added again for a target is appended and its entry moved, so the
 * offsets read from an older trailer of the same object stay good. */
#ifndef SDSINF_S3OBJ_H
#define SDSINF_S3OBJ_H

#include "core/core.h"

typedef struct sdsinf__s3obj_entry {
    uint32_t target;
    uint64_t offset, len;
} sdsinf__s3obj_entry;

/* An object being built or read: its blocks' bytes (data, len; may be
 * none when read from a tail) and its entries.  Zero it to start; free
 * with sdsinf__s3obj_free. */
typedef struct sdsinf__s3obj {
    unsigned char *data;
    size_t len, cap;
    sdsinf__s3obj_entry *e;
    uint32_t n, ecap;
} sdsinf__s3obj;

#define SDSINF__S3OBJ_BAD (-2)   /* bytes that are no combined object */
#define SDSINF__S3OBJ_SHORT (-1) /* the trailer lies before the bytes given */

/* Appends a block for target (len bytes, copied): 0, or -1 (memory). */
int sdsinf__s3obj_add(sdsinf__s3obj *o, uint32_t target, const void *block,
                      size_t len);
/* The object's bytes, blocks and trailer, into *out (the caller frees it
 * with sdsinf__free) of *len bytes: 0, or -1 (memory). */
int sdsinf__s3obj_encode(const sdsinf__s3obj *o, unsigned char **out,
                         size_t *len);
/* Reads the trailer from an object's last `got` bytes (its size is
 * `size`): the entries into o (o's bytes untouched), the blocks' length
 * into *blocks.  0; SDSINF__S3OBJ_SHORT when the trailer does not all lie
 * in those bytes (*need: its length); SDSINF__S3OBJ_BAD; -3 for memory. */
int sdsinf__s3obj_parse(const unsigned char *tail, size_t got, uint64_t size,
                        sdsinf__s3obj *o, uint64_t *blocks, uint64_t *need);
/* o becomes the whole object in bytes (len of them): as parse (size len),
 * then its blocks copied. */
int sdsinf__s3obj_load(sdsinf__s3obj *o, const unsigned char *bytes,
                       size_t len);
/* The entry of target's block (the latest), or NULL. */
const sdsinf__s3obj_entry *sdsinf__s3obj_find(const sdsinf__s3obj *o,
                                              uint32_t target);
/* Empties o, keeping its memory. */
void sdsinf__s3obj_clear(sdsinf__s3obj *o);
void sdsinf__s3obj_free(sdsinf__s3obj *o);

#endif /* SDSINF_S3OBJ_H */
