/* core/parse.h - reading text files: whole files, lines, tokens, triplets into CSR (internal). */
#ifndef SDSINF_PARSE_H
#define SDSINF_PARSE_H

#include "core/core.h"

/* The whole content of a file, NUL-terminated (data[size] == 0); path
 * may be an s3:// location (location.h). */
typedef struct sdsinf__file {
    char *data;
    size_t size;
} sdsinf__file;
int sdsinf__file_read(const char *path, sdsinf__file *f, sdsinf_err *err);
void sdsinf__file_free(sdsinf__file *f);

/* A line-oriented cursor over a text buffer, tracking the 1-based line. */
typedef struct sdsinf__lines {
    const char *p, *end;
    const char *path; /* for messages */
    int64_t line;     /* number of the line the last next() returned */
    const char *cur, *cur_end; /* the current line, without its newline */
    const char *line_start;    /* its first byte, for columns */
} sdsinf__lines;
void sdsinf__lines_init(sdsinf__lines *ls, const sdsinf__file *f,
                        const char *path);
/* Advances to the next line that is not blank (returns 0 at the end). */
int sdsinf__lines_next(sdsinf__lines *ls);
/* Token readers on the current line: skip blanks, parse one token.  They
 * return SDSINF_OK or SDSINF_EPARSE with a message naming path:line. */
int sdsinf__tok_u64(sdsinf__lines *ls, const char *what, uint64_t *v,
                    sdsinf_err *err);
int sdsinf__tok_f32(sdsinf__lines *ls, const char *what, float *v,
                    sdsinf_err *err);
/* Copies the next token (at most cap-1 bytes); 0 when the line is done. */
size_t sdsinf__tok_str(sdsinf__lines *ls, char *buf, size_t cap);
/* The same, checked: SDSINF_EPARSE naming path:line and the column of a
 * control byte (NUL included) in the token, `what` being the field's name;
 * *len gets the token's length (0 when the line is done). */
int sdsinf__tok_word(sdsinf__lines *ls, const char *what, char *buf,
                     size_t cap, size_t *len, sdsinf_err *err);
/* SDSINF_EPARSE unless only blanks remain on the current line. */
int sdsinf__tok_end(sdsinf__lines *ls, sdsinf_err *err);

/* Parses a whole string as a finite float (for flags). */
int sdsinf__parse_float(const char *s, float *v);

/* Entries as read from a file: 0-based (row, col, value) and the line each
 * came from; grown by push. */
typedef struct sdsinf__triplets {
    uint32_t *row, *col;
    float *val;
    int64_t *line;
    int64_t n, cap;
} sdsinf__triplets;
/* Appends an entry; 0 when out of memory (t unchanged). */
int sdsinf__triplets_push(sdsinf__triplets *t, uint32_t r, uint32_t c,
                          float v, int64_t line);
void sdsinf__triplets_free(sdsinf__triplets *t);
/* The most rows a file with n entries may imply (ids or a declared size):
 * beyond this a few bytes would claim gigabytes of row offsets. */
#define SDSINF__SPARSE_LIMIT(n) (1024 * ((uint64_t)(n) + 1024))
/* Triplets -> CSR: sorts by (row, col), rejects duplicates naming the line
 * of the second occurrence in `path`.  Rows and columns must be in range. */
int sdsinf__csr_from_triplets(int64_t nrows, int64_t ncols,
                              const sdsinf__triplets *t, const char *path,
                              sdsinf_csr *out, sdsinf_err *err);

#endif /* SDSINF_PARSE_H */
