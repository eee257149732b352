/* lambda.h - the sdsinf executable as a Lambda function's bootstrap. */
#ifndef SDSINF_CLI_LAMBDA_H
#define SDSINF_CLI_LAMBDA_H

/* Serves invocations through the Lambda Runtime API
 * ($AWS_LAMBDA_RUNTIME_API) until it goes away, and returns the exit
 * status.  An event is a JSON object: {"worker_spec": "<spec text>"} runs
 * that worker (sdsinf_lambda_worker); {"run": {"weights": "...",
 * "workers": 8, ...}} a coordinator, `sdsinf run --weights ... --workers 8
 * ... --json` through run_command (argv without the program's name), in
 * this process, its JSON answer the response; with "result":
 * "s3://..." beside "run" (sdsinf aws run's event), that JSON, or the
 * run's error as {"error": {"status", "message"}}, is stored there too.
 * $_HANDLER (the function's Handler setting) picks which it serves:
 * "sdsinf", "bootstrap" (the template's) or unset both, "worker" or
 * "coordinator" one; anything else is an init error. */
int cli_lambda_runtime(int (*run_command)(int argc, char **argv));

#endif /* SDSINF_CLI_LAMBDA_H */
