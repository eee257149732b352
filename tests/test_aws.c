/* test_aws.c - the AWS client without a service: the configuration chain
 * (environment, profiles in config and credentials files under a
 * temporary HOME), error answers and their statuses, forms, JSON strings,
 * base64, the EC2 launch request, the CA bundle's fallback. */
#include "testutil.h"

#include "aws/aws.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const vars[] = {
    "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "AWS_ENDPOINT_URL_SNS",
    "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_CLOUDFORMATION",
    "AWS_ENDPOINT_URL_EC2", "AWS_ENDPOINT_URL_LAMBDA", "AWS_MAX_ATTEMPTS",
    NULL};

static char *g_home;

/* A clean environment with HOME a fresh directory holding .aws/. */
static int setup(void **state)
{
    (void)state;
    for (int i = 0; vars[i]; i++)
        unsetenv(vars[i]);
    g_home = tu_mkdtemp();
    char aws[4096];
    snprintf(aws, sizeof aws, "%s/.aws", g_home);
    assert_int_equal(sdsinf__mkdir_p(aws), 0);
    setenv("HOME", g_home, 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmdir(g_home);
    free(g_home);
    return 0;
}

static void write_aws(const char *name, const char *text)
{
    char dir[4096];
    snprintf(dir, sizeof dir, "%s/.aws", g_home);
    free(tu_write(dir, name, text));
}

static void test_no_credentials(void **state)
{
    (void)state;
    sdsinf_aws_config c;
    sdsinf_err err = {0};
    assert_int_equal(sdsinf__aws_config_load(&c, &err), SDSINF_EACCES);
    assert_non_null(strstr(err.msg, "AWS_ACCESS_KEY_ID"));
}

static void test_environment(void **state)
{
    (void)state;
    sdsinf_aws_config c;
    sdsinf_err err = {0};
    setenv("AWS_ACCESS_KEY_ID", "AKENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "secret-env", 1);
    setenv("AWS_SESSION_TOKEN", "tok", 1);
    setenv("AWS_DEFAULT_REGION", "eu-west-1", 1);
    write_aws("credentials", "[default]\naws_access_key_id = AKFILE\n"
                             "aws_secret_access_key = secret-file\n");
    assert_int_equal(sdsinf__aws_config_load(&c, &err), SDSINF_OK);
    assert_string_equal(c.access_key, "AKENV");
    assert_string_equal(c.secret_key, "secret-env");
    assert_string_equal(c.session_token, "tok");
    assert_string_equal(c.region, "eu-west-1");
    assert_string_equal(c.credentials_from, "environment");
    assert_string_equal(c.endpoint[SDSINF_AWS_SQS],
                        "https://sqs.eu-west-1.amazonaws.com");
    assert_string_equal(c.endpoint[SDSINF_AWS_S3],
                        "https://s3.eu-west-1.amazonaws.com");
    assert_string_equal(c.endpoint[SDSINF_AWS_EC2],
                        "https://ec2.eu-west-1.amazonaws.com");
    assert_int_equal(c.max_attempts, 5);
    setenv("AWS_REGION", "ap-south-1", 1); /* over AWS_DEFAULT_REGION */
    setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566/", 1);
    setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9000", 1);
    setenv("AWS_MAX_ATTEMPTS", "2", 1);
    assert_int_equal(sdsinf__aws_config_load(&c, &err), SDSINF_OK);
    assert_string_equal(c.region, "ap-south-1");
    assert_string_equal(c.endpoint[SDSINF_AWS_SQS], "http://127.0.0.1:4566");
    assert_string_equal(c.endpoint[SDSINF_AWS_SNS], "http://127.0.0.1:4566");
    assert_string_equal(c.endpoint[SDSINF_AWS_S3], "http://127.0.0.1:9000");
    assert_int_equal(c.max_attempts, 2);
    setenv("AWS_MAX_ATTEMPTS", "0", 1);
    assert_int_equal(sdsinf__aws_config_load(&c, &err), SDSINF_EINVAL);
    assert_non_null(strstr(err.msg, "AWS_MAX_ATTEMPTS"));
    unsetenv("AWS_MAX_ATTEMPTS");
    setenv("AWS_ENDPOINT_URL_SQS", "ftp://x", 1);
    assert_int_equal(sdsinf__aws_config_load(&c, &err), SDSINF_EINVAL);
    assert_non_null(strstr(err.msg, "AWS_ENDPOINT_URL_SQS"));
    unsetenv("AWS_ENDPOINT_URL_SQS");
    setenv("AWS_REGION", "us-east-1/../x", 1);
    assert_int_equal(sdsinf__aws_config_load(&c, &err), SDSINF_EINVAL);
    assert_non_null(strstr(err.msg, "region"));
}

static void test_profiles(void **state)
{
    (void)state;
    sdsinf_aws_config c;
    sdsinf_err err = {0};
    write_aws("credentials",
              "# keys\n[default]\naws_access_key_id=AKDEF\n"
              "aws_secret_access_key=sdef\n\n[work]\n"
              "aws_access_key_id = AKWORK\naws_secret_access_key = swork\n"
              "aws_session_token = twork\n");
    write_aws("config", "[default]\nregion = us-west-2\n"
                        "[profile work]\nregion=eu-central-1\n"
                        "endpoint_url = http://localhost:4566\n"
                        "s3 =\n  addressing_style = path\n"
                        "[profile onlyconf]\naws_access_key_id = AKCONF\n"
                        "aws_secret_access_key = sconf\n");
    assert_int_equal(sdsinf__aws_config_load(&c, &err), SDSINF_OK);
    assert_string_equal(c.access_key, "AKDEF");
    assert_string_equal(c.region, "us-west-2");
    assert_string_equal(c.profile, "default");
    assert_string_equal(c.credentials_from, "credentials file");
    setenv("AWS_PROFILE", "work", 1);
    assert_int_equal(sdsinf__aws_config_load(&c, &err), SDSINF_OK);
    assert_string_equal(c.access_key, "AKWORK");
    assert_string_equal(c.secret_key, "swork");
    assert_string_equal(c.session_token, "twork");
    assert_string_equal(c.region, "eu-central-1");
    assert_string_equal(c.endpoint[SDSINF_AWS_SNS], "http://localhost:4566");
    setenv("AWS_PROFILE", "onlyconf", 1);
    assert_int_equal(sdsinf__aws_config_load(&c, &err), SDSINF_OK);
    assert_string_equal(c.access_key, "AKCONF");
    assert_string_equal(c.credentials_from, "config file");
    assert_string_equal(c.region, "us-east-1");
    setenv("AWS_PROFILE", "missing", 1);
    assert_int_equal(sdsinf__aws_config_load(&c, &err), SDSINF_EACCES);
    assert_non_null(strstr(err.msg, "missing"));

    /* other files, named by the environment */
    char *cred = tu_write(g_home, "other-cred",
                          "[x]\naws_access_key_id=AKX\naws_secret_access_key=sx\n");
    setenv("AWS_SHARED_CREDENTIALS_FILE", cred, 1);
    setenv("AWS_PROFILE", "x", 1);
    assert_int_equal(sdsinf__aws_config_load(&c, &err), SDSINF_OK);
    assert_string_equal(c.access_key, "AKX");
    free(cred);
}

static void test_bad_files(void **state)
{
    (void)state;
    sdsinf_aws_config c;
    sdsinf_err err = {0};
    write_aws("credentials", "[default]\naws_access_key_id=A\njunk line\n");
    assert_int_equal(sdsinf__aws_config_load(&c, &err), SDSINF_EPARSE);
    assert_non_null(strstr(err.msg, "credentials:3"));
    write_aws("credentials", "[default\n");
    assert_int_equal(sdsinf__aws_config_load(&c, &err), SDSINF_EPARSE);
    assert_non_null(strstr(err.msg, ":1"));
    write_aws("credentials", "");
    write_aws("config", "[default]\nregion = bad region\n");
    setenv("AWS_ACCESS_KEY_ID", "A", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "B", 1);
    assert_int_equal(sdsinf__aws_config_load(&c, &err), SDSINF_EINVAL);
    assert_non_null(strstr(err.msg, "bad region"));
}

static void test_errors(void **state)
{
    (void)state;
    char code[64], msg[128];
    int retry;
    const char *sqs = "<?xml version=\"1.0\"?><ErrorResponse xmlns=\"http://"
                      "queue.amazonaws.com/doc/2012-11-05/\"><Error><Type>"
                      "Sender</Type><Code>AWS.SimpleQueueService."
                      "NonExistentQueue</Code><Message>The specified queue "
                      "does not exist &amp; never did.</Message></Error>"
                      "<RequestId>r1</RequestId></ErrorResponse>";
    assert_int_equal(sdsinf__aws_error_parse(sqs, strlen(sqs), code,
                                             sizeof code, msg, sizeof msg),
                     0);
    assert_string_equal(code, "AWS.SimpleQueueService.NonExistentQueue");
    assert_string_equal(msg, "The specified queue does not exist & never did.");
    const char *s3 = "<Error><Code>SlowDown</Code><Message>Reduce your "
                     "request rate.</Message></Error>";
    assert_int_equal(sdsinf__aws_error_parse(s3, strlen(s3), code, sizeof code,
                                             msg, sizeof msg),
                     0);
    assert_int_equal(sdsinf__aws_error_status(code, 503, &retry),
                     SDSINF_ETHROTTLED);
    assert_true(retry);
    assert_int_equal(sdsinf__aws_error_status("SignatureDoesNotMatch", 403,
                                              &retry),
                     SDSINF_EACCES);
    assert_false(retry);
    assert_int_equal(sdsinf__aws_error_status("InvalidClientTokenId", 403,
                                              &retry),
                     SDSINF_EACCES);
    assert_int_equal(sdsinf__aws_error_status("AccessDenied", 403, &retry),
                     SDSINF_EACCES);
    assert_int_equal(sdsinf__aws_error_status("Throttling", 400, &retry),
                     SDSINF_ETHROTTLED);
    assert_int_equal(sdsinf__aws_error_status("RequestThrottled", 403, &retry),
                     SDSINF_ETHROTTLED);
    assert_int_equal(sdsinf__aws_error_status("", 500, &retry), SDSINF_EIO);
    assert_true(retry);
    assert_int_equal(sdsinf__aws_error_status("", 403, &retry), SDSINF_EACCES);
    assert_int_equal(sdsinf__aws_error_status("NoSuchKey", 404, &retry),
                     SDSINF_EIO);
    assert_false(retry);
    /* not XML, no error element, empty */
    assert_int_equal(sdsinf__aws_error_parse("<html>", 6, code, sizeof code,
                                             msg, sizeof msg),
                     SDSINF_EPARSE);
    assert_int_equal(sdsinf__aws_error_parse("<a><b/></a>", 11, code,
                                             sizeof code, msg, sizeof msg),
                     SDSINF_EPARSE);
    assert_int_equal(sdsinf__aws_error_parse(NULL, 0, code, sizeof code, msg,
                                             sizeof msg),
                     SDSINF_EPARSE);
    assert_string_equal(code, "");
}

static void test_xml(void **state)
{
    (void)state;
    const char *a = "<R><Result><Message><Id>1</Id><Body>x&lt;y</Body></Message>"
                    "<Message><Id>2</Id><Body><![CDATA[z]]>w</Body></Message>"
                    "</Result></R>";
    sdsinf_aws_xml *x = NULL;
    sdsinf_err err = {0};
    assert_int_equal(sdsinf__aws_xml_parse(a, strlen(a), "a test", &x, &err),
                     SDSINF_OK);
    const sdsinf_aws_node *m = sdsinf__aws_xml_find(x, NULL, "Message");
    assert_non_null(m);
    size_t n;
    assert_string_equal(sdsinf__aws_xml_text(m, "Body", &n), "x<y");
    assert_int_equal(n, 3);
    m = sdsinf__aws_xml_next(m, "Message");
    assert_non_null(m);
    assert_string_equal(sdsinf__aws_xml_text(m, "Body", NULL), "zw");
    char id[4];
    assert_int_equal(sdsinf__aws_xml_copy(m, "Id", id, sizeof id), 0);
    assert_string_equal(id, "2");
    assert_null(sdsinf__aws_xml_next(m, "Message"));
    assert_null(sdsinf__aws_xml_text(m, "Nope", NULL));
    sdsinf__aws_xml_free(x);
    assert_int_equal(sdsinf__aws_xml_parse("<a>", 3, "a test", &x, &err),
                     SDSINF_EPARSE);
    assert_non_null(strstr(err.msg, "a test"));
    /* no entities from outside */
    const char *xxe = "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY e SYSTEM "
                      "\"file:///etc/passwd\">]><r><Body>&e;</Body></r>";
    if (sdsinf__aws_xml_parse(xxe, strlen(xxe), "xxe", &x, &err) == SDSINF_OK) {
        const char *t = sdsinf__aws_xml_text(sdsinf__aws_xml_find(x, NULL, "r"),
                                             "Body", NULL);
        assert_true(!t || !strstr(t, "root:"));
        sdsinf__aws_xml_free(x);
    }
}

/* JSON strings: escaped for a body, read from the Lambda API's answers. */
static void test_json(void **state)
{
    (void)state;
    char out[64];
    const char *doc = " { \"n\": -1.5e3, \"o\": {\"message\": \"inner\", "
                      "\"a\": [1, \"]\", {}]}, \"t\": true,\n"
                      "\"message\": \"say \\\"hi\\\"\\n\\u0041\\u00e9\\/\" } ";
    assert_int_equal(sdsinf__aws_json_string(doc, strlen(doc), "message",
                                             out, sizeof out), 0);
    assert_string_equal(out, "say \"hi\"\nA?/"); /* the top level's */
    assert_int_equal(sdsinf__aws_json_string(doc, strlen(doc), "o", out,
                                             sizeof out), -1); /* no string */
    assert_int_equal(sdsinf__aws_json_string(doc, strlen(doc), "x", out,
                                             sizeof out), -1);
    assert_string_equal(out, "");
    assert_int_equal(sdsinf__aws_json_string(doc, strlen(doc), "message",
                                             out, 5), 0);
    assert_string_equal(out, "say "); /* cut to fit */
    static const char *const bad[] = {"", "[]", "{\"message\" \"x\"}",
                                      "{\"message\": \"x", "{\"a\": 1 \"message\": \"x\"}",
                                      "{\"message\": \"\\q\"}", "{\"message\": \"\\u12\"}",
                                      "\"message\""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(sdsinf__aws_json_string(bad[i], strlen(bad[i]),
                                                 "message", out, sizeof out),
                         -1);
    /* only len bytes are read */
    assert_int_equal(sdsinf__aws_json_string("{\"m\": \"ab\"}", 8, "m", out,
                                             sizeof out), -1);

    const char *s = "a\"b\\c\n\x01\x7f";
    size_t need = sdsinf__aws_json_escape(s, NULL, 0);
    assert_int_equal(need, strlen("a\\\"b\\\\c\\u000a\\u0001\\u007f"));
    assert_int_equal(sdsinf__aws_json_escape(s, out, sizeof out), need);
    assert_string_equal(out, "a\\\"b\\\\c\\u000a\\u0001\\u007f");
    assert_int_equal(sdsinf__aws_json_escape(s, out, 4), need);
    assert_string_equal(out, "a\\\""); /* whole escapes only */
    assert_int_equal(sdsinf__aws_json_escape(s, out, 3), need);
    assert_string_equal(out, "a");
}

static void test_encodings(void **state)
{
    (void)state;
    char b64[64];
    unsigned char back[64];
    assert_int_equal(sdsinf__aws_base64_encode("", 0, b64), 0);
    assert_int_equal(sdsinf__aws_base64_encode("\x00\x01\x02", 3, b64), 4);
    assert_string_equal(b64, "AAEC");
    assert_int_equal(sdsinf__aws_base64_encode("hello", 5, b64), 8);
    assert_string_equal(b64, "aGVsbG8=");
    assert_int_equal(sdsinf__aws_base64_decode("aGVsbG8=", 8, back), 5);
    assert_memory_equal(back, "hello", 5);
    assert_int_equal(sdsinf__aws_base64_decode("aGVsbA==", 8, back), 4);
    assert_int_equal(sdsinf__aws_base64_decode("aGV", 3, back), -1);
    assert_int_equal(sdsinf__aws_base64_decode("a=Vs", 4, back), -1);
    assert_int_equal(sdsinf__aws_base64_decode("a*Vs", 4, back), -1);
    assert_int_equal(sdsinf__aws_base64_decode("", 0, back), 0);
    char hex[65];
    sdsinf__aws_sha256_hex("", 0, hex);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934c"
                             "a495991b7852b855");

    sdsinf_aws_form f;
    sdsinf__aws_form_init(&f, "SendMessage", "2012-11-05");
    sdsinf__aws_form_add(&f, "a b+c/=&", 8, "MessageAttribute.%d.Name", 1);
    assert_true(sdsinf__aws_form_ok(&f));
    assert_string_equal(f.s, "Action=SendMessage&Version=2012-11-05&"
                             "MessageAttribute.1.Name=a%20b%2Bc%2F%3D%26");
    sdsinf__aws_form_free(&f);
}

/* The EC2 launch request: every parameter as sent, decoded a line each
 * (the user data base64); a spec EC2 would refuse, refused first. */
static void test_ec2_request(void **state)
{
    (void)state;
    const char *tags[] = {"Name=x y", "sdsinf:run=r=1", NULL};
    sdsinf_ec2_spec s = {.version = SDSINF_EC2_SPEC_VERSION,
                         .image = "resolve:ssm:/p", .instance_type = "c5.xlarge",
                         .user_data = "hi", .client_token = "r-1",
                         .terminate_on_shutdown = 1, .tags = tags};
    sdsinf_err err = {0};
    char *t = NULL;
    assert_int_equal(sdsinf_ec2_request(&s, &t, &err), SDSINF_OK);
    assert_string_equal(
        t, "Action=RunInstances\nVersion=2016-11-15\nImageId=resolve:ssm:/p\n"
           "InstanceType=c5.xlarge\nMinCount=1\nMaxCount=1\nUserData=aGk=\n"
           "InstanceInitiatedShutdownBehavior=terminate\nClientToken=r-1\n"
           "MetadataOptions.HttpTokens=required\n"
           "MetadataOptions.HttpEndpoint=enabled\n"
           "TagSpecification.1.ResourceType=instance\n"
           "TagSpecification.1.Tag.1.Key=Name\n"
           "TagSpecification.1.Tag.1.Value=x y\n"
           "TagSpecification.1.Tag.2.Key=sdsinf:run\n"
           "TagSpecification.1.Tag.2.Value=r=1\n"
           "TagSpecification.2.ResourceType=volume\n"
           "TagSpecification.2.Tag.1.Key=Name\n"
           "TagSpecification.2.Tag.1.Value=x y\n"
           "TagSpecification.2.Tag.2.Key=sdsinf:run\n"
           "TagSpecification.2.Tag.2.Value=r=1\n");
    free(t);
    const char *bad_tags[] = {"=v", NULL};
    sdsinf_ec2_spec b = s;
    b.tags = bad_tags;
    assert_int_equal(sdsinf_ec2_request(&b, &t, &err), SDSINF_EINVAL);
    assert_non_null(strstr(err.msg, "Key=Value"));
    b = s;
    b.client_token = "has space";
    assert_int_equal(sdsinf_ec2_request(&b, &t, &err), SDSINF_EINVAL);
    b = s;
    b.image = "";
    assert_int_equal(sdsinf_ec2_request(&b, &t, &err), SDSINF_EINVAL);
    char *big = malloc(SDSINF_EC2_USER_DATA_MAX + 2);
    memset(big, 'x', SDSINF_EC2_USER_DATA_MAX + 1);
    big[SDSINF_EC2_USER_DATA_MAX + 1] = 0;
    b = s;
    b.user_data = big;
    assert_int_equal(sdsinf_ec2_request(&b, &t, &err), SDSINF_EINVAL);
    assert_non_null(strstr(err.msg, "16384"));
    big[SDSINF_EC2_USER_DATA_MAX] = 0; /* at the limit: fine */
    assert_int_equal(sdsinf_ec2_request(&b, &t, &err), SDSINF_OK);
    free(t);
    free(big);
    b = s;
    b.version = SDSINF_EC2_SPEC_VERSION + 1;
    assert_int_equal(sdsinf_ec2_request(&b, &t, &err), SDSINF_EINVAL);
}

/* A request nobody answers: retried max_attempts - 1 times, each counted,
 * then an error naming the request, the endpoint and what to set. */
static void test_retries(void **state)
{
    (void)state;
    sdsinf_aws_config c;
    sdsinf_err err = {0};
    setenv("AWS_ACCESS_KEY_ID", "A", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "B", 1);
    setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:1", 1);
    setenv("AWS_MAX_ATTEMPTS", "3", 1);
    assert_int_equal(sdsinf__aws_config_load(&c, &err), SDSINF_OK);
    sdsinf_aws *a = NULL;
    assert_int_equal(sdsinf__aws_new_with(&c, &a, &err), SDSINF_OK);
    sdsinf_aws_form f;
    sdsinf_aws_response rs;
    uint64_t retries = 0;
    sdsinf__aws_form_init(&f, "ListQueues", "2012-11-05");
    double t0 = sdsinf__now();
    assert_int_equal(sdsinf__aws_post_form(a, SDSINF_AWS_SQS, NULL, &f,
                                           "ListQueues", 1000, 0, &rs,
                                           &retries, &err),
                     SDSINF_EIO);
    assert_int_equal(retries, 2);
    assert_true(sdsinf__now() - t0 < 5.0); /* backoff bounded */
    assert_non_null(strstr(err.msg, "ListQueues"));
    assert_non_null(strstr(err.msg, "127.0.0.1:1"));
    assert_non_null(strstr(err.msg, "AWS_ENDPOINT_URL"));
    sdsinf__aws_response_free(&rs);
    /* no retry asked: one attempt */
    retries = 0;
    assert_int_equal(sdsinf__aws_post_form(a, SDSINF_AWS_SQS, NULL, &f,
                                           "ListQueues", 1000, 1, &rs,
                                           &retries, &err),
                     SDSINF_EIO);
    assert_int_equal(retries, 0);
    sdsinf__aws_response_free(&rs);
    sdsinf__aws_form_free(&f);
    sdsinf__aws_free(a);
}

/* The CA bundle when libcurl's own is not there (a libcurl built for
 * another system): the first readable file of the places, AL2023's before
 * Debian's; libcurl's own when it is readable or names none. */
static void test_ca_pick(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp(), none[4096], later[4096];
    char *a = tu_write(dir, "a.crt", "x"), *b = tu_write(dir, "b.crt", "x");
    snprintf(none, sizeof none, "%s/none.crt", dir);
    snprintf(later, sizeof later, "%s/later.crt", dir);
    const char *places[] = {none, a, b, NULL}, *missing[] = {none, later,
                                                             NULL};
    assert_ptr_equal(sdsinf__aws_ca_pick(later, places), a);
    assert_null(sdsinf__aws_ca_pick(b, places)); /* its own is there */
    assert_null(sdsinf__aws_ca_pick(NULL, places)); /* it names none */
    assert_null(sdsinf__aws_ca_pick(later, missing));
    assert_string_equal(sdsinf__aws_ca_places[0],
                        "/etc/pki/tls/certs/ca-bundle.crt");
    assert_string_equal(sdsinf__aws_ca_places[1],
                        "/etc/ssl/certs/ca-certificates.crt");
    /* a Debian libcurl on AL2023 (its own missing) takes AL2023's bundle;
     * AL2023's on Debian takes Debian's: here, whichever this system has */
    const char *here = sdsinf__aws_ca_pick(none, sdsinf__aws_ca_places);
    if (access("/etc/pki/tls/certs/ca-bundle.crt", R_OK) == 0)
        assert_string_equal(here, "/etc/pki/tls/certs/ca-bundle.crt");
    else if (access("/etc/ssl/certs/ca-certificates.crt", R_OK) == 0)
        assert_string_equal(here, "/etc/ssl/certs/ca-certificates.crt");
    free(a);
    free(b);
    tu_rmdir(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_no_credentials, setup, teardown),
        cmocka_unit_test_setup_teardown(test_environment, setup, teardown),
        cmocka_unit_test_setup_teardown(test_profiles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_files, setup, teardown),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_xml),
        cmocka_unit_test(test_json),
        cmocka_unit_test(test_encodings),
        cmocka_unit_test(test_ec2_request),
        cmocka_unit_test_setup_teardown(test_retries, setup, teardown),
        cmocka_unit_test(test_ca_pick),
    };
    return cmocka_run_group_tests_name("aws", tests, NULL, NULL);
}
