/* fuzz_aws.c - fuzz target: what an AWS endpoint answers (src/aws): the
 * XML parser with the lookups the channels make (messages, their bodies
 * and attributes), the error reader, the JSON string reader (Lambda's
 * answers), base64 decoding of any text, and a
 * message body read as a claim check's pointer (channels/claim.h).
 * No input may crash them; what decodes encodes back to the same bytes. */
#include "aws/aws.h"
#include "channels/claim.h"
#include "fuzz_input.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void check(int ok)
{
    if (!ok)
        abort();
}

/* Decodes s; whatever decodes encodes to text of the same length that
 * decodes to the same bytes (unused low bits of the last digit may
 * differ). */
static void base64_round_trip(const char *s, size_t n)
{
    unsigned char *bin = malloc(n / 4 * 3 + 1), *again = malloc(n / 4 * 3 + 1);
    char *back = malloc(n + 1);
    long got = bin && again && back ? sdsinf__aws_base64_decode(s, n, bin) : -1;
    if (got >= 0) {
        check(sdsinf__aws_base64_encode(bin, (size_t)got, back) == n);
        check(sdsinf__aws_base64_decode(back, n, again) == got);
        check(memcmp(bin, again, (size_t)got) == 0);
    }
    free(bin);
    free(again);
    free(back);
}

/* A body read as a pointer: one that parses is written back the same. */
static void pointer_round_trip(const char *s, size_t n)
{
    sdsinf__claim_ptr p;
    char back[SDSINF__CLAIM_PTR_CAP + 64];
    if (sdsinf__claim_parse(s, n, &p) != 0)
        return;
    check(strlen(p.key) > 0 && strlen(p.key) < sizeof p.key);
    int len = snprintf(back, sizeof back, "@1 %" PRIu64 " %016" PRIx64 " %s",
                       p.size, p.sum, p.key);
    check(len > 0 && (size_t)len == n && memcmp(back, s, n) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *body = (const char *)data;
    char code[128], msg[256];
    sdsinf__aws_error_parse(body, size, code, sizeof code, msg, sizeof msg);
    check(strlen(code) < sizeof code && strlen(msg) < sizeof msg);
    /* a JSON answer (Lambda's): a member read stays in its buffer, and its
     * text, escaped again, is read back as long, the same where it is
     * ASCII (bytes above it come back as '?') */
    if (sdsinf__aws_json_string(body, size, "errorMessage", msg, sizeof msg) ==
        0) {
        char doc[sizeof msg * 6 + 32], again[sizeof msg];
        check(strlen(msg) < sizeof msg);
        int n = snprintf(doc, sizeof doc, "{\"errorMessage\":\"");
        n += (int)sdsinf__aws_json_escape(msg, doc + n, sizeof doc - (size_t)n);
        n += snprintf(doc + n, sizeof doc - (size_t)n, "\"}");
        int ascii = 1;
        for (const char *c = msg; *c; c++)
            ascii &= (unsigned char)*c < 0x80;
        check(sdsinf__aws_json_string(doc, (size_t)n, "errorMessage", again,
                                      sizeof again) == 0 &&
              strlen(again) == strlen(msg) && (!ascii || !strcmp(again, msg)));
    }

    sdsinf_aws_xml *x = NULL;
    if (sdsinf__aws_xml_parse(body, size, "fuzz", &x, NULL) == SDSINF_OK) {
        const sdsinf_aws_node *m = sdsinf__aws_xml_find(x, NULL, "Message");
        for (int i = 0; m && i < 64; i++, m = sdsinf__aws_xml_next(m, "Message")) {
            size_t n = 0;
            const char *t = sdsinf__aws_xml_text(m, "Body", &n);
            if (t) {
                check(strlen(t) == n);
                pointer_round_trip(t, n);
            }
            const sdsinf_aws_node *a = sdsinf__aws_xml_find(x, m,
                                                            "BinaryValue");
            if ((t = sdsinf__aws_xml_text(a, NULL, &n)))
                base64_round_trip(t, n);
            char id[64];
            sdsinf__aws_xml_copy(m, "ReceiptHandle", id, sizeof id);
        }
        sdsinf__aws_xml_free(x);
    }
    base64_round_trip(body, size);
    pointer_round_trip(body, size);
    return 0;
}
