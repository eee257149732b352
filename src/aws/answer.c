/* aws/answer.c - what AWS answers and is sent: XML answers (libxml2),
 * error codes and their statuses, query-protocol forms, JSON strings (the
 * Lambda API's bodies), base64 and SHA-256 (OpenSSL's libcrypto). */
#include "aws/aws.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ---- XML ------------------------------------------------------------------ */

/* A parsed answer and the texts merged from several nodes, freed with it. */
struct sdsinf_aws_xml {
    xmlDocPtr doc;
    xmlChar **merged;
    size_t nmerged;
};

int sdsinf__aws_xml_parse(const char *body, size_t len, const char *what,
                          sdsinf_aws_xml **out, sdsinf_err *err)
{
    if (len > INT_MAX)
        return sdsinf__fail(err, SDSINF_EPARSE,
                            "AWS answer to %.80s: %zu bytes is too long", what,
                            len);
    sdsinf_aws_xml *x = sdsinf__calloc(1, sizeof *x);
    if (!x)
        return sdsinf__fail(err, SDSINF_ENOMEM,
                            "AWS answer to %.80s: no memory", what);
    /* no network, no entity expansion, no DTD; errors are ours to report */
    x->doc = xmlReadMemory(body ? body : "", (int)len, "answer.xml", NULL,
                           XML_PARSE_NONET | XML_PARSE_NOERROR |
                               XML_PARSE_NOWARNING | XML_PARSE_NOCDATA);
    if (!x->doc || !xmlDocGetRootElement(x->doc)) {
        const xmlError *e = xmlGetLastError();
        int line = e ? e->line : 0;
        sdsinf__aws_xml_free(x);
        return sdsinf__fail(err, SDSINF_EPARSE,
                            "AWS answer to %.80s is not XML (line %d of %zu "
                            "bytes): %.60s",
                            what, line, len,
                            e && e->message ? e->message : "no root element");
    }
    x->doc->_private = x;
    *out = x;
    return SDSINF_OK;
}

void sdsinf__aws_xml_free(sdsinf_aws_xml *x)
{
    if (!x)
        return;
    for (size_t i = 0; i < x->nmerged; i++)
        xmlFree(x->merged[i]);
    sdsinf__free(x->merged);
    if (x->doc)
        xmlFreeDoc(x->doc);
    sdsinf__free(x);
}

static int is_named(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && n->name &&
           !strcmp((const char *)n->name, name);
}

/* Depth first from n (n included); no recursion (answers may nest deep). */
static const xmlNode *find_from(const xmlNode *n, const char *name)
{
    const xmlNode *top = n;
    while (n) {
        if (is_named(n, name))
            return n;
        if (n->children && n->type == XML_ELEMENT_NODE) {
            n = n->children;
            continue;
        }
        while (n && n != top && !n->next)
            n = n->parent;
        if (!n || n == top)
            return NULL;
        n = n->next;
    }
    return NULL;
}

const sdsinf_aws_node *sdsinf__aws_xml_find(const sdsinf_aws_xml *x,
                                            const sdsinf_aws_node *from,
                                            const char *name)
{
    const xmlNode *n = from ? from : xmlDocGetRootElement(x->doc);
    return n ? find_from(n, name) : NULL;
}

const sdsinf_aws_node *sdsinf__aws_xml_next(const sdsinf_aws_node *n,
                                            const char *name)
{
    for (n = n ? n->next : NULL; n; n = n->next)
        if (is_named(n, name))
            return n;
    return NULL;
}

/* n's element child named `name`. */
static const xmlNode *child_of(const xmlNode *n, const char *name)
{
    for (const xmlNode *c = n->children; c; c = c->next)
        if (is_named(c, name))
            return c;
    return NULL;
}

const char *sdsinf__aws_xml_text(const sdsinf_aws_node *n, const char *child,
                                 size_t *len)
{
    if (!n || (child && !(n = child_of(n, child))))
        return NULL;
    const xmlNode *t = n->children;
    const char *s = "";
    if (t && !t->next && t->type == XML_TEXT_NODE && t->content) {
        s = (const char *)t->content;
    } else if (t) { /* several nodes: merged, kept until the answer goes */
        sdsinf_aws_xml *x = n->doc ? n->doc->_private : NULL;
        xmlChar **m = x ? sdsinf__realloc(x->merged, (x->nmerged + 1) *
                                                          sizeof *m)
                        : NULL;
        if (!m)
            return NULL;
        x->merged = m;
        if (!(m[x->nmerged] = xmlNodeGetContent(n)))
            return NULL;
        s = (const char *)m[x->nmerged++];
    }
    if (len)
        *len = strlen(s);
    return s;
}

int sdsinf__aws_xml_copy(const sdsinf_aws_node *n, const char *child,
                         char *out, size_t cap)
{
    size_t len;
    const char *s = sdsinf__aws_xml_text(n, child, &len);
    if (!s || len >= cap)
        return -1;
    memcpy(out, s, len + 1);
    return 0;
}

/* ---- Errors ------------------------------------------------------------------ */

int sdsinf__aws_error_parse(const char *body, size_t len, char *code,
                            size_t code_cap, char *message,
                            size_t message_cap)
{
    sdsinf_aws_xml *x = NULL;
    code[0] = message[0] = 0;
    if (!body || !len)
        return SDSINF_EPARSE;
    int rc = sdsinf__aws_xml_parse(body, len, "an error", &x, NULL);
    if (rc != SDSINF_OK)
        return rc;
    const sdsinf_aws_node *e = sdsinf__aws_xml_find(x, NULL, "Error");
    if (e) {
        if (sdsinf__aws_xml_copy(e, "Code", code, code_cap) != 0)
            code[0] = 0;
        const char *m = sdsinf__aws_xml_text(e, "Message", NULL);
        if (m && message_cap) /* (a long one: its start) */
            snprintf(message, message_cap, "%s", m);
    }
    sdsinf__aws_xml_free(x);
    return e ? SDSINF_OK : SDSINF_EPARSE;
}

static int in_list(const char *code, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(code, *list))
            return 1;
    return 0;
}

int sdsinf__aws_error_status(const char *code, long http, int *retry)
{
    static const char *const denied[] = {
        "AccessDenied", "AccessDeniedException", "InvalidClientTokenId",
        "SignatureDoesNotMatch", "UnrecognizedClientException",
        "InvalidAccessKeyId", "ExpiredToken", "ExpiredTokenException",
        "AuthorizationError", "InvalidSecurity", "MissingAuthenticationToken",
        "AuthFailure", "InvalidToken", "AccountProblem",
        "UnauthorizedOperation", NULL};
    static const char *const throttled[] = {
        "Throttling", "ThrottlingException", "ThrottledException",
        "RequestThrottled", "RequestThrottledException", "SlowDown",
        "TooManyRequestsException", "RequestLimitExceeded",
        "ProvisionedThroughputExceededException", "BandwidthLimitExceeded",
        "AWS.SimpleQueueService.RequestThrottled", "KMSThrottlingException",
        "EC2ThrottledException", "PriorRequestNotComplete", NULL};
    static const char *const transient[] = {
        "InternalError", "InternalFailure", "ServiceUnavailable",
        "RequestTimeout", "RequestTimeoutException",
        "AWS.SimpleQueueService.ServiceUnavailable", NULL};
    code = code ? code : "";
    *retry = 0;
    if (in_list(code, denied) || (!code[0] && (http == 401 || http == 403)))
        return SDSINF_EACCES;
    if (in_list(code, throttled) || http == 429 || http == 503) {
        *retry = 1;
        return SDSINF_ETHROTTLED;
    }
    if (in_list(code, transient) || http >= 500)
        *retry = 1;
    return SDSINF_EIO;
}

/* ---- Forms ---------------------------------------------------------------- */

static void form_put(sdsinf_aws_form *f, const char *s, size_t n)
{
    if (f->failed)
        return;
    if (f->len + n + 1 > f->cap) {
        size_t cap = f->cap ? f->cap : 1024;
        while (cap < f->len + n + 1)
            cap *= 2;
        char *p = sdsinf__realloc(f->s, cap);
        if (!p) {
            f->failed = 1;
            return;
        }
        f->s = p;
        f->cap = cap;
    }
    memcpy(f->s + f->len, s, n);
    f->len += n;
    f->s[f->len] = 0;
}

/* Percent-encodes s[0..n) (RFC 3986 unreserved characters stay). */
static void form_put_encoded(sdsinf_aws_form *f, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    char buf[768];
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
            (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' ||
            c == '~') {
            buf[o++] = (char)c;
        } else {
            buf[o++] = '%';
            buf[o++] = hex[c >> 4];
            buf[o++] = hex[c & 15];
        }
        if (o > sizeof buf - 3) {
            form_put(f, buf, o);
            o = 0;
        }
    }
    form_put(f, buf, o);
}

void sdsinf__aws_form_init(sdsinf_aws_form *f, const char *action,
                           const char *version)
{
    memset(f, 0, sizeof *f);
    form_put(f, "Action=", 7);
    form_put_encoded(f, action, strlen(action));
    form_put(f, "&Version=", 9);
    form_put_encoded(f, version, strlen(version));
}

void sdsinf__aws_form_add(sdsinf_aws_form *f, const char *value,
                          size_t value_len, const char *key_fmt, ...)
{
    char key[256];
    va_list ap;
    va_start(ap, key_fmt);
    int n = vsnprintf(key, sizeof key, key_fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof key) {
        f->failed = 1;
        return;
    }
    form_put(f, "&", 1);
    form_put_encoded(f, key, (size_t)n);
    form_put(f, "=", 1);
    form_put_encoded(f, value, value_len);
}

int sdsinf__aws_form_ok(const sdsinf_aws_form *f)
{
    return !f->failed && f->s;
}

void sdsinf__aws_form_free(sdsinf_aws_form *f)
{
    sdsinf__free(f->s);
    memset(f, 0, sizeof *f);
}

/* ---- JSON strings ---------------------------------------------------------- */

size_t sdsinf__aws_json_escape(const char *s, char *out, size_t cap)
{
    size_t need = 0;
    int full = !out || !cap; /* once a piece does not fit, none is written */
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char t[8];
        size_t n = 1;
        if (c == '"' || c == '\\')
            n = (size_t)snprintf(t, sizeof t, "\\%c", c);
        else if (c < 0x20 || c >= 0x7f)
            n = (size_t)snprintf(t, sizeof t, "\\u%04x", c);
        else
            t[0] = (char)c;
        if (!full && need + n < cap) {
            memcpy(out + need, t, n);
        } else if (!full) {
            out[need] = 0;
            full = 1;
        }
        need += n;
    }
    if (!full)
        out[need] = 0;
    return need;
}

/* A cursor over JSON text. */
typedef struct jscan {
    const char *p, *end;
} jscan;

static void j_space(jscan *j)
{
    while (j->p < j->end &&
           (*j->p == ' ' || *j->p == '\t' || *j->p == '\r' || *j->p == '\n'))
        j->p++;
}

/* The string at j->p, decoded into out (cap bytes, cut to fit; NULL:
 * skipped) and passed; -1 when there is none.  \\u escapes outside ASCII
 * become '?'. */
static int j_string(jscan *j, char *out, size_t cap)
{
    size_t o = 0;
    if (j->p >= j->end || *j->p != '"')
        return -1;
    for (j->p++; j->p < j->end; j->p++) {
        char c = *j->p;
        if (c == '"') {
            j->p++;
            if (out && cap)
                out[o] = 0;
            return 0;
        }
        if (c == '\\') {
            static const char from[] = "bfnrt\"\\/", to[] = "\b\f\n\r\t\"\\/";
            const char *k;
            if (++j->p >= j->end)
                return -1;
            c = *j->p;
            if (c == 'u') {
                unsigned v = 0;
                for (int i = 0; i < 4; i++) {
                    int d = ++j->p < j->end ? *j->p : 'x';
                    int x = d >= '0' && d <= '9'   ? d - '0'
                            : d >= 'a' && d <= 'f' ? d - 'a' + 10
                            : d >= 'A' && d <= 'F' ? d - 'A' + 10
                                                   : -1;
                    if (x < 0)
                        return -1;
                    v = v * 16 + (unsigned)x;
                }
                c = v && v < 0x80 ? (char)v : '?';
            } else if (c && (k = strchr(from, c))) {
                c = to[k - from];
            } else {
                return -1;
            }
        }
        if (out && o + 1 < cap)
            out[o++] = c;
    }
    return -1;
}

/* Passes the value at j->p (a string, a number, a literal, or an object
 * or array whole); -1 when the text ends first. */
static int j_skip(jscan *j)
{
    int depth = 0;
    j_space(j);
    while (j->p < j->end) {
        char c = *j->p;
        if (c == '"') {
            if (j_string(j, NULL, 0) != 0)
                return -1;
            if (depth == 0)
                return 0;
            continue;
        }
        if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (depth == 0) /* a scalar ended by its object's end */
                return 0;
            if (--depth == 0) {
                j->p++;
                return 0;
            }
        } else if (c == ',' && depth == 0) {
            return 0;
        }
        j->p++;
    }
    return -1;
}

int sdsinf__aws_json_string(const char *json, size_t len, const char *key,
                            char *out, size_t cap)
{
    jscan j = {json ? json : "", (json ? json : "") + (json ? len : 0)};
    char k[128];
    if (cap)
        out[0] = 0;
    j_space(&j);
    if (j.p >= j.end || *j.p++ != '{')
        return -1;
    for (;;) {
        j_space(&j);
        if (j_string(&j, k, sizeof k) != 0)
            return -1; /* the end ("}"), or not an object */
        j_space(&j);
        if (j.p >= j.end || *j.p++ != ':')
            return -1;
        j_space(&j);
        if (!strcmp(k, key) && j.p < j.end && *j.p == '"')
            return j_string(&j, out, cap);
        if (j_skip(&j) != 0)
            return -1;
        j_space(&j);
        if (j.p >= j.end || *j.p++ != ',')
            return -1;
    }
}

/* ---- Encodings ------------------------------------------------------------ */

size_t sdsinf__aws_base64_encode(const void *src, size_t n, char *dst)
{
    size_t o = 0;
    const unsigned char *s = src;
    /* in pieces: EVP_EncodeBlock takes an int */
    for (size_t i = 0; i < n;) {
        size_t piece = n - i < ((size_t)3 << 20) ? n - i : (size_t)3 << 20;
        o += (size_t)EVP_EncodeBlock((unsigned char *)dst + o, s + i,
                                     (int)piece);
        i += piece;
    }
    dst[o] = 0;
    return o;
}

long sdsinf__aws_base64_decode(const char *s, size_t n, void *dst)
{
    if (n % 4 || n > (size_t)LONG_MAX / 2)
        return -1;
    unsigned char *d = dst;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t piece = n - i < ((size_t)4 << 20) ? n - i : (size_t)4 << 20;
        int pad = 0;
        /* '=' only at the very end */
        for (size_t j = i; j < i + piece; j++)
            if (s[j] == '=' && !(j + 1 == n || (j + 2 == n && s[n - 1] == '=')))
                return -1;
        if (i + piece == n)
            pad = (n && s[n - 1] == '=') + (n > 1 && s[n - 2] == '=');
        int got = EVP_DecodeBlock(d + o, (const unsigned char *)s + i,
                                  (int)piece);
        if (got < 0 || (size_t)got != piece / 4 * 3)
            return -1;
        o += (size_t)got - (size_t)pad;
        i += piece;
    }
    return (long)o;
}

int sdsinf__aws_sha256_hex(const void *data, size_t n, char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    unsigned char md[SHA256_DIGEST_LENGTH];
    unsigned int mdlen = 0;
    if (EVP_Digest(data ? data : "", n, md, &mdlen, EVP_sha256(), NULL) != 1)
        mdlen = 0; /* (only out of memory): a hash AWS refuses */
    memset(md + mdlen, 0, sizeof md - mdlen);
    for (int i = 0; i < SHA256_DIGEST_LENGTH; i++) {
        hex[2 * i] = digits[md[i] >> 4];
        hex[2 * i + 1] = digits[md[i] & 15];
    }
    hex[64] = 0;
    return mdlen ? 0 : -1;
}
