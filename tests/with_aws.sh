#!/usr/bin/env bash
# with_aws.sh [--moto] COMMAND [ARG...] - runs COMMAND against a private AWS
# emulator on 127.0.0.1 at a free port: ministack (SQS, SNS, S3 as AWS
# documents them; no signature check) or, with --moto, moto_server with
# its IAM authentication on (signatures checked; the keys of an IAM user
# made in it, and a role's temporary credentials in
# SDSINF_TEST_TEMP_{KEY,SECRET,TOKEN}).  Exports AWS_ENDPOINT_URL, credentials, AWS_REGION, empty
# AWS config files, SDSINF_AWS_EMULATOR (ministack or moto) and
# SDSINF_AWS_PID.  Afterwards the emulator must hold no queue, topic,
# subscription, bucket, object, stack, IAM role (but moto's own, made
# here), instance profile, log group, function or EC2 instance not
# terminated (every run and stack cleaned up after itself), and
# ministack's Lambda functions (sdsinf as their bootstrap: it calls the
# emulator back) no file in their scratch directory, else the test fails
# listing them.  Exits with COMMAND's status; 77 (CTest's
# skip) when the emulator is not installed (scripts/install-aws-tools.sh
# installs both in virtual environments under $SDSINF_VENVS, default
# /opt/sdsinf-venvs).
set -u
venvs=${SDSINF_VENVS:-/opt/sdsinf-venvs}
kind=ministack
if [ "${1:-}" = --moto ]; then
    kind=moto
    shift
fi
if [ "$kind" = ministack ]; then
    server=$venvs/ministack/bin/ministack
else
    server=$venvs/moto/bin/moto_server
fi
py=$venvs/$kind/bin/python
if [ ! -x "$server" ] || ! "$py" -c 'import botocore' 2>/dev/null; then
    echo "SKIP: $kind is not installed in $venvs/$kind (run scripts/install-aws-tools.sh)"
    exit 77
fi
if ! command -v curl >/dev/null; then
    echo "SKIP: curl is not installed (apt-get install curl)"
    exit 77
fi
dir=$(mktemp -d "${TMPDIR:-/tmp}/sdsinf-aws.XXXXXX")
mkdir "$dir/scratch"
pid=
stop() {
    if [ -n "$pid" ]; then
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    fi
    rm -rf "$dir"
}
trap stop EXIT
trap 'exit 130' INT TERM

# A port nobody listens on, tried until the emulator answers on it.
for attempt in 1 2 3 4 5 6 7 8; do
    port=$(( 20000 + (RANDOM * 32768 + RANDOM + $$) % 40000 ))
    if [ "$kind" = ministack ]; then
        # its Lambda functions (local processes) inherit the endpoint, and
        # keep their code and temporary files in $dir, removed at the end,
        # and their scratch in $dir/scratch, which must be empty then
        (cd "$dir" && GATEWAY_PORT=$port BIND_HOST=127.0.0.1 IOT_MTLS_ENABLED=0 \
            AWS_ENDPOINT_URL=http://127.0.0.1:$port TMPDIR=$dir \
            SDSINF_SCRATCH=$dir/scratch exec "$server") >"$dir/server.log" 2>&1 &
    else
        (cd "$dir" && exec "$server" -H 127.0.0.1 -p "$port") \
            >"$dir/server.log" 2>&1 &
    fi
    pid=$!
    for i in $(seq 200); do
        if curl -s -o /dev/null "http://127.0.0.1:$port/" 2>/dev/null; then
            break 2
        fi
        kill -0 "$pid" 2>/dev/null || break # it could not bind: another port
        sleep 0.05
    done
    kill "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    pid=
done
if [ -z "$pid" ]; then
    echo "FAIL: could not start $kind on 127.0.0.1"
    tail -n 5 "$dir/server.log" 2>/dev/null
    exit 1
fi

: >"$dir/config"
: >"$dir/credentials"
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_SESSION_TOKEN AWS_DEFAULT_REGION
for s in SQS SNS S3 CLOUDFORMATION EC2 LAMBDA; do unset "AWS_ENDPOINT_URL_$s"; done
unset AWS_EC2_METADATA_SERVICE_ENDPOINT
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_REGION=us-east-1
export AWS_CONFIG_FILE=$dir/config AWS_SHARED_CREDENTIALS_FILE=$dir/credentials
export AWS_ACCESS_KEY_ID=sdsinf-test AWS_SECRET_ACCESS_KEY=sdsinf-test-secret
export SDSINF_AWS_EMULATOR=$kind SDSINF_AWS_PID=$pid

if [ "$kind" = moto ]; then
    # An IAM user allowed everything, its key, then authentication on.
    keys=$("$py" - <<'EOF'
import json, os, boto3
iam = boto3.client("iam", endpoint_url=os.environ["AWS_ENDPOINT_URL"],
                   region_name=os.environ["AWS_REGION"])
iam.create_user(UserName="sdsinf")
iam.put_user_policy(UserName="sdsinf", PolicyName="all", PolicyDocument=json.dumps(
    {"Version": "2012-10-17",
     "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
k = iam.create_access_key(UserName="sdsinf")["AccessKey"]
# a role allowed everything, and temporary credentials of it (a session
# token, as Lambda has)
allow = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "*", "Resource": "*"}]})
trust = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}]})
role = iam.create_role(RoleName="sdsinf", AssumeRolePolicyDocument=trust)["Role"]
iam.put_role_policy(RoleName="sdsinf", PolicyName="all", PolicyDocument=allow)
sts = boto3.client("sts", endpoint_url=os.environ["AWS_ENDPOINT_URL"],
                   region_name=os.environ["AWS_REGION"],
                   aws_access_key_id=k["AccessKeyId"],
                   aws_secret_access_key=k["SecretAccessKey"])
t = sts.assume_role(RoleArn=role["Arn"], RoleSessionName="sdsinf")["Credentials"]
print(k["AccessKeyId"], k["SecretAccessKey"], t["AccessKeyId"],
      t["SecretAccessKey"], t["SessionToken"])
EOF
    ) || { echo "FAIL: could not make an IAM user in moto"; exit 1; }
    read -r AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY SDSINF_TEST_TEMP_KEY \
        SDSINF_TEST_TEMP_SECRET SDSINF_TEST_TEMP_TOKEN <<<"$keys"
    export SDSINF_TEST_TEMP_KEY SDSINF_TEST_TEMP_SECRET SDSINF_TEST_TEMP_TOKEN
    curl -s -f -X POST -H "Content-Type: text/plain" --data-binary 0 "$AWS_ENDPOINT_URL/moto-api/reset-auth" >/dev/null ||
        { echo "FAIL: could not switch moto's authentication on"; exit 1; }
fi

"$@"
rc=$?
left=$("$py" - <<'EOF' 2>&1
import os, botocore.session
s = botocore.session.get_session()
def client(name):
    return s.create_client(name, endpoint_url=os.environ["AWS_ENDPOINT_URL"],
                           region_name=os.environ["AWS_REGION"])
left = []
left += ["queue " + u for u in client("sqs").list_queues().get("QueueUrls", [])]
sns = client("sns")
left += ["topic " + t["TopicArn"] for t in sns.list_topics().get("Topics", [])]
left += ["subscription " + x["SubscriptionArn"]
         for x in sns.list_subscriptions().get("Subscriptions", [])]
s3 = client("s3")
for b in s3.list_buckets().get("Buckets", []):
    left.append("bucket " + b["Name"])
    objs = s3.list_objects_v2(Bucket=b["Name"]).get("Contents", [])
    left += ["object s3://%s/%s" % (b["Name"], o["Key"]) for o in objs[:20]]
left += ["stack " + x["StackName"] + " " + x["StackStatus"]
         for x in client("cloudformation").list_stacks()["StackSummaries"]
         if x["StackStatus"] != "DELETE_COMPLETE"]
left += ["role " + r["RoleName"] for r in client("iam").list_roles()["Roles"]
         if os.environ["SDSINF_AWS_EMULATOR"] != "moto" or r["RoleName"] != "sdsinf"]
left += ["log group " + g["logGroupName"]
         for g in client("logs").describe_log_groups()["logGroups"]]
if os.environ["SDSINF_AWS_EMULATOR"] == "ministack":  # (moto's Lambda needs
    # Docker, and its ListFunctions fails the signature check)
    left += ["function " + f["FunctionName"]
             for f in client("lambda").list_functions()["Functions"]]
left += ["instance profile " + p["InstanceProfileName"]
         for p in client("iam").list_instance_profiles()["InstanceProfiles"]]
left += ["instance %s %s" % (i["InstanceId"], i["State"]["Name"])
         for r in client("ec2").describe_instances()["Reservations"]
         for i in r["Instances"] if i["State"]["Name"] != "terminated"]
print("\n".join(left))
EOF
) || { echo "FAIL: could not list what the emulator holds: $left"; left=error; }
if [ -n "$(find "$dir/scratch" -mindepth 1 2>/dev/null)" ]; then
    left="$left${left:+
}files the Lambda functions left: $(find "$dir/scratch" -mindepth 1 | head -n 5)"
fi
if [ -n "$left" ]; then
    echo "FAIL: the emulator holds resources after the test:"
    echo "$left" | head -n 40
    [ "$rc" -eq 0 ] && rc=1
fi
exit "$rc"
