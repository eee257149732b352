/* aws/aws.h - a small AWS client for the AWS channels (internal): requests
 * signed with SigV4 by libcurl (CURLOPT_AWS_SIGV4), the standard
 * configuration chain, retries of throttling and 5xx with jittered
 * exponential backoff, and the services' XML answers read with libxml2.
 *
 * One client (sdsinf_aws) serves every channel instance of a process: it
 * is thread-safe, keeps its connections alive and shares them (and DNS
 * answers and TLS sessions) between threads; a fork()ed child that uses
 * it gets connections of its own.  Channels make it in their type_init
 * and free it in type_cleanup.
 *
 * Configuration, as the AWS CLI and SDKs read it (first found wins):
 *   region:      $AWS_REGION, $AWS_DEFAULT_REGION, the profile's `region`,
 *                us-east-1;
 *   credentials: $AWS_ACCESS_KEY_ID + $AWS_SECRET_ACCESS_KEY (+
 *                $AWS_SESSION_TOKEN), else the profile's aws_access_key_id,
 *                aws_secret_access_key, aws_session_token from the
 *                credentials file, then the config file;
 *   profile:     $AWS_PROFILE, $AWS_DEFAULT_PROFILE, "default"; files
 *                $AWS_SHARED_CREDENTIALS_FILE (~/.aws/credentials) with
 *                sections [NAME], $AWS_CONFIG_FILE (~/.aws/config) with
 *                [profile NAME] (or [default]);
 *   endpoints:   $AWS_ENDPOINT_URL_<SERVICE> (SQS, SNS, S3,
 *                CLOUDFORMATION, EC2, LAMBDA), $AWS_ENDPOINT_URL, the profile's
 *                `endpoint_url`, https://<service>.<region>.amazonaws.com;
 *   retries:     $AWS_MAX_ATTEMPTS (attempts per request, 1..20; 5).
 *
 * Errors: every failure names the service, the request (`what`) and, for
 * an error answer, its HTTP status, AWS's error code and message and the
 * request id.  Access refused (AccessDenied, InvalidClientTokenId,
 * SignatureDoesNotMatch, ...) is SDSINF_EACCES, throttling that outlasts
 * the retries (Throttling, SlowDown, RequestThrottled, 429, 503)
 * SDSINF_ETHROTTLED, an endpoint that cannot be reached SDSINF_EIO. */
#ifndef SDSINF_AWS_H
#define SDSINF_AWS_H

#include "core/core.h"

#include <stddef.h>
#include <stdint.h>

/* The services the client signs for: index into the endpoints. */
typedef enum sdsinf_aws_service {
    SDSINF_AWS_SQS,
    SDSINF_AWS_SNS,
    SDSINF_AWS_S3,
    SDSINF_AWS_CLOUDFORMATION,
    SDSINF_AWS_EC2,
    SDSINF_AWS_LAMBDA,
    SDSINF_AWS_NSERVICES
} sdsinf_aws_service;

/* "sqs", "sns", "s3", "cloudformation", "ec2", "lambda": the SigV4
 * service names. */
const char *sdsinf__aws_service_name(sdsinf_aws_service s);

/* ---- Configuration ------------------------------------------------------ */

typedef struct sdsinf_aws_config {
    char region[64];
    char access_key[128];
    char secret_key[256];
    char session_token[4096]; /* "" when none */
    char profile[128];        /* the profile read ("default" ...) */
    char endpoint[SDSINF_AWS_NSERVICES][512]; /* no trailing '/' */
    int max_attempts;         /* tries per request, first one included */
    const char *credentials_from; /* "environment", "credentials file",
                                     "config file" (for messages) */
} sdsinf_aws_config;

/* Fills *c from the environment and the profile's files (above).  A file
 * that cannot be parsed is SDSINF_EPARSE naming it and the line; no
 * credentials anywhere SDSINF_EACCES saying how to give them; a bad
 * variable SDSINF_EINVAL. */
int sdsinf__aws_config_load(sdsinf_aws_config *c, sdsinf_err *err);

/* ---- The client ----------------------------------------------------------- */

typedef struct sdsinf_aws sdsinf_aws;

/* Makes a client with the configuration loaded now (caller frees it with
 * sdsinf__aws_free). */
int sdsinf__aws_new(sdsinf_aws **out, sdsinf_err *err);
/* As sdsinf__aws_new with a configuration of the caller's (copied). */
int sdsinf__aws_new_with(const sdsinf_aws_config *c, sdsinf_aws **out,
                         sdsinf_err *err);
void sdsinf__aws_free(sdsinf_aws *a); /* NULL is fine */
/* A channel type's type_init and type_cleanup for the AWS channels: their
 * shared state is one client of the process (m unused). */
int sdsinf__aws_type_init(const sdsinf_channel_methods *m, void **state,
                          sdsinf_err *err);
void sdsinf__aws_type_cleanup(void *state);
/* The client's configuration (borrowed for the client's life). */
const sdsinf_aws_config *sdsinf__aws_config(const sdsinf_aws *a);
/* The CA bundle the client gives libcurl (CURLOPT_CAINFO) when libcurl's
 * own, `own` (CURLINFO_CAINFO; NULL: none), names a file that is not
 * there, as a libcurl built for another system does (Debian's looks in
 * /etc/ssl/certs, Amazon Linux keeps its bundle in /etc/pki/tls/certs):
 * the first readable file of the NULL-ended `places`; NULL (libcurl's
 * own) when own is readable or NULL, or none of them is. */
const char *sdsinf__aws_ca_pick(const char *own, const char *const *places);
extern const char *const sdsinf__aws_ca_places[]; /* the usual places */

#define SDSINF_AWS_REQUEST_VERSION 1
typedef struct sdsinf_aws_request {
    int version;                /* SDSINF_AWS_REQUEST_VERSION */
    sdsinf_aws_service service;
    const char *method;         /* "GET", "PUT", "POST", "DELETE", "HEAD" */
    const char *path;           /* after the endpoint, query included
                                   ("/", "/bucket/key?partNumber=1"),
                                   percent-encoded by the caller; or a
                                   whole http(s):// URL (a queue's) */
    const char *const *headers; /* extra "Name: value" lines, NULL-ended
                                   (may be NULL) */
    const void *body;           /* borrowed for the call (may be NULL) */
    size_t body_len;
    const char *what;           /* the request, for messages:
                                   "SendMessageBatch to sdsinf-..-3" */
    int timeout_ms;             /* one attempt's limit; 0: 30 s */
    int no_retry;               /* 1: one attempt (a long poll's caller
                                   retries itself) */
} sdsinf_aws_request;

/* An answer: valid after sdsinf__aws_call returned SDSINF_OK or an error
 * answer's status; the caller frees it with sdsinf__aws_response_free. */
typedef struct sdsinf_aws_response {
    long status;            /* HTTP status; 0 when none came */
    char *body;             /* NUL-terminated (len bytes before it);
                               NULL when the answer had no body */
    size_t len;
    char *headers;          /* the answer's header lines, NUL-terminated */
    char error_code[128];   /* AWS's code of an error answer, else "" */
    char request_id[96];    /* x-amz-request-id or the answer's RequestId */
} sdsinf_aws_response;

/* Sends rq (signed; S3 requests carry x-amz-content-sha256; the session
 * token when one is configured), retrying throttling, 5xx and broken
 * connections up to max_attempts with jittered exponential backoff; each
 * retry is added to *retries (atomically; may be NULL).  SDSINF_OK for a
 * 2xx answer; else the status of the failure, with *rs holding the error
 * answer (rs->status, rs->error_code).  rs is always set (free it). */
int sdsinf__aws_call(sdsinf_aws *a, const sdsinf_aws_request *rq,
                     sdsinf_aws_response *rs, uint64_t *retries,
                     sdsinf_err *err);
void sdsinf__aws_response_free(sdsinf_aws_response *rs);

/* A request under way, for a caller that does other work meanwhile (a
 * long poll that outlives one receive call).  start sends it (rq's
 * strings are copied, its body is borrowed until the request ends); wait
 * waits at most timeout_ms (< 0: until it ends) and returns
 * SDSINF_AWS_PENDING while it has not ended (call wait again), else as
 * sdsinf__aws_call, *p then NULL and freed; abandon cuts it short (NULL
 * is fine).  One thread uses a pending request at a time. */
typedef struct sdsinf_aws_pending sdsinf_aws_pending;
#define SDSINF_AWS_PENDING 1
int sdsinf__aws_start(sdsinf_aws *a, const sdsinf_aws_request *rq,
                      uint64_t *retries, sdsinf_aws_pending **p,
                      sdsinf_err *err);
int sdsinf__aws_wait(sdsinf_aws_pending **p, int timeout_ms,
                     sdsinf_aws_response *rs, sdsinf_err *err);
void sdsinf__aws_abandon(sdsinf_aws_pending *p);
/* The value of header `name` (case-insensitive) of an answer into out
 * (cap bytes); 0, or -1 when absent or too long. */
int sdsinf__aws_response_header(const sdsinf_aws_response *rs,
                                const char *name, char *out, size_t cap);

/* ---- Query-protocol forms (SQS, SNS, CloudFormation) ------------------- */

/* A growing "Action=X&Version=Y&k=v..." body; every value is
 * percent-encoded.  Failures (memory) stick until the form is used:
 * sdsinf__aws_form_ok tells. */
typedef struct sdsinf_aws_form {
    char *s;
    size_t len, cap;
    int failed;
} sdsinf_aws_form;
void sdsinf__aws_form_init(sdsinf_aws_form *f, const char *action,
                           const char *version);
/* Appends "&key=value", key from a printf format. */
void sdsinf__aws_form_add(sdsinf_aws_form *f, const char *value,
                          size_t value_len, const char *key_fmt, ...)
    SDSINF__PRINTF(4, 5);
int sdsinf__aws_form_ok(const sdsinf_aws_form *f);
void sdsinf__aws_form_free(sdsinf_aws_form *f);
/* Posts a form to service s (Content-Type
 * application/x-www-form-urlencoded) at the endpoint or url. */
int sdsinf__aws_post_form(sdsinf_aws *a, sdsinf_aws_service s,
                          const char *url, const sdsinf_aws_form *f,
                          const char *what, int timeout_ms, int no_retry,
                          sdsinf_aws_response *rs, uint64_t *retries,
                          sdsinf_err *err);

/* ---- XML answers -------------------------------------------------------- */

typedef struct sdsinf_aws_xml sdsinf_aws_xml;
typedef struct _xmlNode sdsinf_aws_node; /* libxml2's element */

/* Parses an answer (no network, no entities, no DTD); SDSINF_EPARSE
 * naming `what` when it is not XML.  Caller frees with _xml_free. */
int sdsinf__aws_xml_parse(const char *body, size_t len, const char *what,
                          sdsinf_aws_xml **out, sdsinf_err *err);
void sdsinf__aws_xml_free(sdsinf_aws_xml *x);
/* The first element named `name` (local name, any namespace) at or under
 * `from` (NULL: the document's root), depth first; NULL if none. */
const sdsinf_aws_node *sdsinf__aws_xml_find(const sdsinf_aws_xml *x,
                                            const sdsinf_aws_node *from,
                                            const char *name);
/* The next sibling element of n named `name`; NULL if none. */
const sdsinf_aws_node *sdsinf__aws_xml_next(const sdsinf_aws_node *n,
                                            const char *name);
/* The text of n's child element `child` (NULL: of n itself): a pointer
 * to it (NUL-terminated, valid while x lives) and its length in *len (may
 * be NULL); NULL when there is no such child. */
const char *sdsinf__aws_xml_text(const sdsinf_aws_node *n, const char *child,
                                 size_t *len);
/* Copies that text into out (cap bytes); 0, or -1 when absent or too
 * long. */
int sdsinf__aws_xml_copy(const sdsinf_aws_node *n, const char *child,
                         char *out, size_t cap);

/* Posts query-protocol form f (freed) to service s as `what`, its
 * answer's XML into *x (NULL: not read).  A failure is its status, err
 * set, and AWS's error code of an error answer in code (cap bytes, ""
 * when none; may be NULL). */
int sdsinf__aws_query(sdsinf_aws *a, sdsinf_aws_service s, sdsinf_aws_form *f,
                      const char *what, sdsinf_aws_xml **x, char *code,
                      size_t cap, uint64_t *retries, sdsinf_err *err);

/* AWS's error in an error answer (XML: <Error><Code>, <Message>, S3's and
 * the query protocol's) into code and message (cap bytes each, "" when
 * absent): SDSINF_OK when the answer had an error element, SDSINF_EPARSE
 * when not, SDSINF_ENOMEM when it could not be read for want of memory. */
int sdsinf__aws_error_parse(const char *body, size_t len, char *code,
                            size_t code_cap, char *message,
                            size_t message_cap);
/* The status for AWS error code `code` with HTTP status http:
 * SDSINF_EACCES, SDSINF_ETHROTTLED, else SDSINF_EIO; *retry set when the
 * request is worth repeating (throttling, 5xx). */
int sdsinf__aws_error_status(const char *code, long http, int *retry);

/* ---- JSON strings (the Lambda API's bodies) ------------------------------ */

/* s as the inside of a JSON string ('"', '\\' and the bytes outside
 * printable ASCII escaped) into out (cap bytes, always ended when cap > 0;
 * cut between escapes to fit; NULL: only counted): the length of the whole
 * escaped text, as snprintf counts. */
size_t sdsinf__aws_json_escape(const char *s, char *out, size_t cap);
/* The string member `key` of the JSON object in json[0..len) (top level
 * only), unescaped into out (cap bytes, cut to fit): 0, or -1 when the
 * text is not an object or has no such string member. */
int sdsinf__aws_json_string(const char *json, size_t len, const char *key,
                            char *out, size_t cap);

/* ---- Encodings ------------------------------------------------------------ */

/* Base64 of src into dst, which holds 4 * ((n + 2) / 3) + 1 bytes; the
 * length written (without the NUL). */
size_t sdsinf__aws_base64_encode(const void *src, size_t n, char *dst);
/* Decodes base64 text (no whitespace) into dst, which holds 3 * (n / 4)
 * bytes; the decoded length, or -1 when s is not base64. */
long sdsinf__aws_base64_decode(const char *s, size_t n, void *dst);
/* The hex SHA-256 of data into hex (65 bytes); 0, or -1 when OpenSSL
 * failed (out of memory: hex then holds zeros). */
int sdsinf__aws_sha256_hex(const void *data, size_t n, char hex[65]);

#endif /* SDSINF_AWS_H */
