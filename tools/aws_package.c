/* aws_package.c - `sdsinf aws package` (the Lambda deployment package: a
 * zip, or a container recipe with --image) and deploy's part of it: the
 * stack's bucket made first when there is none, then the package stored
 * there under its content's hash, which the function's code names. */
#include "aws.h"
#include "cli_util.h"

#include <sys/stat.h>

#include <stdlib.h>
#include <string.h>

void aws_to_stderr(const char *line, void *arg)
{
    (void)arg;
    fprintf(stderr, "%s\n", line);
}

void aws_package_print(const sdsinf_package_info *in, FILE *f)
{
    fprintf(f, "  %-24s %10llu bytes  %s\n", "bootstrap",
            (unsigned long long)in->bootstrap_nbytes, in->bootstrap);
    for (int i = 0; i < in->nlibs; i++)
        if (in->libs[i].path[0])
            fprintf(f, "  lib/%-20s %10llu bytes  %s\n", in->libs[i].soname,
                    (unsigned long long)in->libs[i].nbytes, in->libs[i].path);
    if (in->prices[0])
        fprintf(f, "  %-24s %10llu bytes  %s\n", "prices/aws.json",
                (unsigned long long)in->prices_nbytes, in->prices);
    else
        fputs("  no price table found (SDSINF_PRICES, or share/sdsinf/aws.json "
              "or prices/aws.json beside the bootstrap): its runs on Lambda "
              "will have no cost_usd\n", f);
    fputs("  from Amazon Linux 2023:", f);
    for (int i = 0; i < in->nlibs; i++)
        if (!in->libs[i].path[0])
            fprintf(f, " %s", in->libs[i].soname);
    fprintf(f, "\n  %s, newest glibc needed %s (Amazon Linux 2023 has "
            "2.34)\n", in->arch, in->glibc[0] ? in->glibc : "none");
}

cJSON *aws_package_json(const sdsinf_package_info *in)
{
    cJSON *j = cJSON_CreateObject(), *b = cJSON_AddObjectToObject(j,
                                                                  "bootstrap");
    cJSON_AddStringToObject(b, "path", in->bootstrap);
    cJSON_AddNumberToObject(b, "nbytes", (double)in->bootstrap_nbytes);
    cJSON_AddNumberToObject(j, "nbytes", (double)in->nbytes);
    cJSON_AddStringToObject(j, "arch", in->arch);
    cli_json_add_string(j, "glibc", in->glibc[0] ? in->glibc : NULL);
    cli_json_add_string(j, "prices", in->prices[0] ? in->prices : NULL);
    cJSON *bundled = cJSON_AddArrayToObject(j, "bundled");
    cJSON *provided = cJSON_AddArrayToObject(j, "provided");
    for (int i = 0; i < in->nlibs; i++) {
        const sdsinf_package_lib *l = &in->libs[i];
        if (!l->path[0]) {
            cJSON_AddItemToArray(provided, cJSON_CreateString(l->soname));
            continue;
        }
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "soname", l->soname);
        cJSON_AddStringToObject(o, "path", l->path);
        cJSON_AddNumberToObject(o, "nbytes", (double)l->nbytes);
        cJSON_AddItemToArray(bundled, o);
    }
    return j;
}

int aws_package(int argc, char **argv)
{
    aws_opts o;
    sdsinf_err err = {0};
    sdsinf_package_info info;
    int rc = aws_flags("package", argc, argv, "--out --image --bootstrap "
                       "--json", &o);
    if (rc)
        return rc;
    if (!o.out == !o.image) {
        fprintf(stderr, "sdsinf aws package: give --out FILE (the zip) or "
                "--image DIR (a container recipe), one of them\n");
        return 2;
    }
    struct stat st;
    if (o.out && stat(o.out, &st) == 0 && S_ISDIR(st.st_mode))
        return aws_usage_error("package", "--out %s is a directory: give a "
                               "file name", o.out);
    const char *where = o.out ? o.out : o.image;
    rc = o.out ? sdsinf_lambda_package(o.bootstrap, o.out, aws_to_stderr, NULL,
                                       &info, &err)
               : sdsinf_lambda_image(o.bootstrap, o.image, aws_to_stderr, NULL,
                                     &info, &err);
    if (rc != SDSINF_OK)
        return cli_error(&err);
    if (!o.json) {
        printf("%s %s: %llu bytes\n", o.out ? "package" : "container recipe",
               where, (unsigned long long)info.nbytes);
        aws_package_print(&info, stdout);
        if (o.image)
            printf("build it: docker build --platform linux/%s -t "
                   "sdsinf-lambda %s\n",
                   strcmp(info.arch, "arm64") ? "amd64" : "arm64", where);
        return 0;
    }
    cJSON *j = aws_package_json(&info);
    cJSON_AddStringToObject(j, o.out ? "out" : "image", where);
    rc = cli_json_write(j, stdout, &err);
    putchar('\n');
    return rc == SDSINF_OK ? 0 : cli_error(&err);
}

int aws_deploy_package(const aws_opts *o, char *key, size_t cap,
                       sdsinf_package_info *info, int *uploaded,
                       sdsinf_err *err)
{
    sdsinf_stack_info *st = calloc(1, sizeof *st);
    if (!st)
        return cli_fail(err, SDSINF_ENOMEM, "no memory");
    int rc = sdsinf_stack_describe(o->stack, st, err), have = 0;
    for (int i = 0; rc == SDSINF_OK && i < st->noutputs; i++)
        have |= !strcmp(st->outputs[i].key, SDSINF_STACK_OUT_BUCKET);
    free(st);
    rc = SDSINF_OK;
    if (!have) { /* the function's code lives in the stack's bucket */
        aws_opts first = *o;
        first.package = NULL;
        char *body = aws_template_text(&first, 0, NULL);
        fprintf(stderr, "stack %s: its bucket first (the function's code "
                "goes there)\n", o->stack);
        rc = body ? sdsinf_stack_deploy(o->stack, body, aws_to_stderr, NULL, err)
                  : cli_fail(err, SDSINF_ENOMEM, "no memory");
        cJSON_free(body);
    }
    if (rc == SDSINF_OK)
        rc = sdsinf_stack_put_package(o->stack, NULL, aws_to_stderr, NULL, key,
                                      cap, uploaded, info, err);
    return rc;
}
