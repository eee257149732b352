#!/usr/bin/env bash
# cli_aws_server.sh SDSINF [DATA] - the server baseline on EC2 (sdsinf aws
# server) against the private ministack tests/with_aws.sh starts.  Its EC2
# takes the launch but boots nothing, so the user data is run here, as the
# instance would run it: with the emulator's S3 and its metadata service
# (IMDSv2, the role's credentials; the test's own keys are not passed),
# installing sdsinf from a package zip in the bucket with the AWS CLI when
# one is on the PATH (else from SDSINF_BIN).  Checks: bad usage; the dry
# runs (the request's UserData is the printed script; shellcheck passes
# when installed); deploy --server makes the instance profile; a job
# launched with --wait (the instance tagged, with the stack's profile)
# prints the result the user data wrote: the golden categories of a small
# generated network, equal to `sdsinf infer`, with the cost of boot + job
# at the price table's c5.xlarge price; the instance terminated after; a
# job whose inputs are missing reports the failure; an always-on
# instance's user data installs a `sdsinf` that carries the role's
# credentials; --terminate; destroy ends what is left.  With DATA, the
# real 1024x120 network's first 6,000 images through the job's user data
# too.
set -euo pipefail
sdsinf=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
data=${2:-}
ministack_for="CloudFormation, EC2 and metadata service"
. "$(dirname "$0")/aws_test.sh"
stack=sdsinf-srv # destroyed here, once deployed
deployed=
on_exit() {
    [ -z "$deployed" ] || "$sdsinf" aws destroy --stack $stack >/dev/null 2>&1 || true
}

small_network

echo "== bad usage: exit 2 with a reason"
own="--bucket bk1 --profile arn:aws:iam::1:instance-profile/p --package p.zip --region us-east-1"
for args in "" "--job --always-on $own" "--job $own --images s3://bk1/i" \
    "--job $own --weights $tmp/g --images s3://bk1/i" \
    "--job $own --weights s3://bk1/w --images s3://bk1/i --instance-type 'c5;x'" \
    "--job $own --weights s3://bk1/w --images s3://bk1/i --arch sparc" \
    "--job $own --weights s3://bk1/w --images s3://bk1/i --run a_b" \
    "--job --bucket bk1 --weights s3://bk1/w --images s3://bk1/i --region us-east-1" \
    "--job $own --weights s3://bk1/w --images s3://bk1/i --print-request --wait" \
    "--always-on --stack $stack --profile x --package p.zip" \
    "--always-on $own --timeout 5" "--always-on $own --frobnicate"; do
    rc=0
    eval "\"\$sdsinf\" aws server $args" >/dev/null 2>"$tmp/err" || rc=$?
    [ "$rc" -eq 2 ] && [ -s "$tmp/err" ] ||
        { echo "sdsinf aws server $args: exit $rc"; cat "$tmp/err"; fail "bad usage"; }
done
"$sdsinf" aws server --help >"$tmp/help"
grep -q -- "--always-on" "$tmp/help"
"$sdsinf" aws help >"$tmp/help"
grep -q "aws server --stack NAME (--job | --always-on)" "$tmp/help"
rc=0
"$sdsinf" aws server $own --job --weights s3://bk1/w --images s3://bk1/i \
    --instance-type t9.nano --print-user-data >/dev/null 2>"$tmp/err" || rc=$?
[ "$rc" -eq 1 ] && grep -q "no price for t9.nano" "$tmp/err" || fail "an unpriced type: $(cat "$tmp/err")"
echo "ok"

echo "== dry runs: the user data and the request it goes in"
dry="$own --weights s3://bk1/model --images s3://bk1/in/images.tsv --run r-1"
"$sdsinf" aws server --job $dry --check s3://bk1/in/gold.tsv --print-user-data >"$tmp/ud.sh"
"$sdsinf" aws server --job $dry --check s3://bk1/in/gold.tsv --print-request >"$tmp/rq.txt"
for line in Action=RunInstances ImageId=resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64 \
    InstanceType=c5.xlarge MinCount=1 MaxCount=1 InstanceInitiatedShutdownBehavior=terminate \
    IamInstanceProfile.Arn=arn:aws:iam::1:instance-profile/p ClientToken=r-1 \
    MetadataOptions.HttpTokens=required TagSpecification.1.ResourceType=instance \
    TagSpecification.2.ResourceType=volume TagSpecification.1.Tag.2.Key=sdsinf:run \
    TagSpecification.1.Tag.2.Value=r-1 TagSpecification.1.Tag.3.Value=job; do
    grep -qx -- "$line" "$tmp/rq.txt" || { cat "$tmp/rq.txt"; fail "the request lacks $line"; }
done
sed -n 's/^UserData=//p' "$tmp/rq.txt" | base64 -d >"$tmp/sent.sh"
cmp "$tmp/sent.sh" "$tmp/ud.sh" || fail "the request's UserData is not the printed user data"
grep -q "^check='s3://bk1/in/gold.tsv'$" "$tmp/ud.sh"
grep -q '"\$bin" infer --weights "\$weights" --images "\$images" --check "\$check"' "$tmp/ud.sh"
"$sdsinf" aws server --always-on $own --instance-type c7g.xlarge --run r-2 \
    --key-name mine --print-request >"$tmp/rq2.txt"
grep -qx "ImageId=resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64" "$tmp/rq2.txt"
grep -qx "KeyName=mine" "$tmp/rq2.txt"
if grep -q InstanceInitiatedShutdownBehavior "$tmp/rq2.txt"; then
    fail "an always-on instance would terminate on shutdown"
fi
"$sdsinf" aws server --always-on $own --ami ami-0123456789abcdef0 --run r-3 \
    --print-request >"$tmp/rq3.txt"
grep -qx "ImageId=ami-0123456789abcdef0" "$tmp/rq3.txt"
if command -v shellcheck >/dev/null; then
    sed -n "/<<'SDSINF_ENV'/,/^SDSINF_ENV/p" "$tmp/ud.sh" | sed '1d;$d' >"$tmp/env.sh"
    "$sdsinf" aws server --always-on $own --run r-2 --print-user-data >"$tmp/ud2.sh"
    shellcheck -e SC1091 "$tmp/ud.sh" "$tmp/ud2.sh"
    shellcheck -s bash "$tmp/env.sh"
    echo "ok: shellcheck passes the user data"
else
    echo "note: no shellcheck here: the user data not linted"
fi
echo "ok"

echo "== deploy --server"
"$sdsinf" aws deploy --stack $stack --max-workers 1 --server --no-function --json >"$tmp/deploy.j" 2>"$tmp/deploy.err" ||
    { cat "$tmp/deploy.err"; fail "deploy"; }
deployed=1
"$sdsinf" aws status --stack $stack | grep -q "AWS::IAM::InstanceProfile *ServerProfile *CREATE_COMPLETE"
read -r bucket profile < <("$py" -c 'import json, sys
o = json.loads(open(sys.argv[1]).read().splitlines()[-1])["outputs"]
print(o["BucketName"], o["ServerProfileArn"])' "$tmp/deploy.j")
S3=$AWS_ENDPOINT_URL/$bucket
put() { curl -s -f -X PUT --data-binary "@$1" "$S3/$2" >/dev/null || fail "upload $2"; }
get() { curl -s -f -o "$2" "$S3/$1" || fail "no object $1"; }
for f in "$tmp"/g/n128-l?.tsv "$tmp/g/bias.tsv"; do put "$f" "model/$(basename "$f")"; done
put "$tmp/g/sparse-images-128.tsv" in/images.tsv
put "$tmp/g/n128-l8-categories.tsv" in/gold.tsv
# the package: sdsinf as `bootstrap` in a zip, installed with the AWS CLI;
# without an AWS CLI here, the user data takes SDSINF_BIN instead
"$py" -c 'import sys, zipfile
z = zipfile.ZipFile(sys.argv[1], "w")
i = zipfile.ZipInfo("bootstrap"); i.external_attr = 0o755 << 16
z.writestr(i, open(sys.argv[2], "rb").read()); z.close()' "$tmp/sdsinf.zip" "$sdsinf"
put "$tmp/sdsinf.zip" pkg/sdsinf.zip
if command -v aws >/dev/null && aws --version >/dev/null 2>&1; then
    bin=()
    echo "ok: the user data installs the package with $(aws --version 2>&1 | cut -d' ' -f1)"
else
    bin=(SDSINF_BIN="$sdsinf")
    echo "note: no AWS CLI here: the user data runs $sdsinf, not the package's"
fi
# The user data as the instance runs it: the emulator's metadata service
# and S3, no keys of ours; SDSINF_HOME instead of /opt/sdsinf
as_instance() { # home, script
    env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_SESSION_TOKEN \
        -u AWS_REGION AWS_EC2_METADATA_SERVICE_ENDPOINT="$AWS_ENDPOINT_URL" \
        SDSINF_HOME="$1" SDSINF_NO_SHUTDOWN=1 SDSINF_BOOT_SECONDS=30 \
        "${bin[@]}" bash "$2"
}
# the instance the emulator launched for run $1, as JSON
instance_of() {
    "$py" - "$1" <<'PY'
import json, os, sys, time, botocore.session
ec2 = botocore.session.get_session().create_client(
    "ec2", endpoint_url=os.environ["AWS_ENDPOINT_URL"],
    region_name=os.environ["AWS_REGION"])
for _ in range(300):
    r = ec2.describe_instances(Filters=[{"Name": "tag:sdsinf:run", "Values": [sys.argv[1]]}])
    found = [i for x in r["Reservations"] for i in x["Instances"]]
    if found:
        print(json.dumps(found[0], default=str))
        break
    time.sleep(0.1)
PY
}
echo "ok: stack $stack, bucket $bucket"

job="--stack $stack --job --package pkg/sdsinf.zip --weights s3://$bucket/model --images s3://$bucket/in/images.tsv"
echo "== a job: launched with --wait, its user data run here"
"$sdsinf" aws server $job --check s3://$bucket/in/gold.tsv --run job-1 --print-user-data >"$tmp/job.sh"
"$sdsinf" aws server $job --check s3://$bucket/in/gold.tsv --run job-1 --wait --json \
    >"$tmp/wait.j" 2>"$tmp/wait.err" &
waiter=$!
instance_of job-1 >"$tmp/inst.j"
[ -s "$tmp/inst.j" ] || { kill $waiter; cat "$tmp/wait.err"; fail "no instance tagged sdsinf:run=job-1"; }
"$py" - "$tmp/inst.j" "$stack" "$profile" <<'PY'
import json, sys
i = json.load(open(sys.argv[1]))
tags = {t["Key"]: t["Value"] for t in i["Tags"]}
assert tags == {"Name": "sdsinf-%s-job-1" % sys.argv[2], "sdsinf:run": "job-1",
                "sdsinf:mode": "job", "sdsinf:stack": sys.argv[2]}, tags
assert i["InstanceType"] == "c5.xlarge", i
assert i["IamInstanceProfile"]["Arn"] == sys.argv[3], i
assert i["ImageId"].endswith("al2023-ami-kernel-default-x86_64"), i
print("ok: instance %s launched, tagged, with the stack's profile" % i["InstanceId"])
PY
id=$("$py" -c 'import json, sys; print(json.load(open(sys.argv[1]))["InstanceId"])' "$tmp/inst.j")
as_instance "$tmp/home1" "$tmp/job.sh" 2>"$tmp/job.err" || { cat "$tmp/job.err"; fail "the job's user data"; }
wait $waiter || { cat "$tmp/wait.err"; fail "aws server --wait"; }
"$py" - "$tmp/wait.j" <<'PY'
import json, sys
r = json.loads(open(sys.argv[1]).read().splitlines()[-1])
assert r["status"] == "ok" and r["check"] == "pass" and r["error"] is None, r
assert r["images"] == 60 and r["layers"] == 8 and r["neurons"] == 128, r
assert r["run"] == "job-1" and r["mode"] == "job" and r["instance_type"] == "c5.xlarge", r
assert r["boot_seconds"] == 30 and r["job_seconds"] > 0, r
assert r["billed_seconds"] == max(60, -(-(30 + r["job_seconds"]) // 1)), r
assert abs(r["cost_usd"] - r["billed_seconds"] * 0.17 / 3600) < 1e-12, r
assert r["usd_per_hour"] == 0.17, r
print("ok: the result: %d categories, check %s, billed %d s: $%.6f" %
      (r["categories"], r["check"], r["billed_seconds"], r["cost_usd"]))
PY
get runs/job-1/categories.tsv "$tmp/job-cats.tsv"
cmp "$tmp/job-cats.tsv" "$tmp/single-cats.tsv" || fail "the job's categories differ from sdsinf infer's"
get runs/job-1/log.txt "$tmp/job-log.txt"
grep -q "sdsinf infer ended with status 0" "$tmp/job-log.txt"
"$sdsinf" aws server --terminate "$id" >"$tmp/term.out"
grep -q "instance $id: terminated" "$tmp/term.out"
[ -z "$(ls -A "$tmp/home1" | grep -v -x -e env.sh -e bootstrap -e lib)" ] || fail "the install left $(ls "$tmp/home1")"
echo "ok: the categories equal sdsinf infer's; the instance terminated"
# the name again: job-1's result is not taken for the new launch's (the
# launch and S3's Last-Modified have seconds: one apart at least)
sleep 1
"$sdsinf" aws server $job --check s3://$bucket/in/gold.tsv --run job-1 --wait --json \
    >"$tmp/again.j" 2>"$tmp/again.err" &
waiter=$!
sleep 3
kill -0 $waiter 2>/dev/null || { cat "$tmp/again.err"; fail "the old result was taken for the new launch's"; }
as_instance "$tmp/home1b" "$tmp/job.sh" 2>"$tmp/job.err" || { cat "$tmp/job.err"; fail "the job's user data, again"; }
wait $waiter || { cat "$tmp/again.err"; fail "aws server --wait, again"; }
grep -q "is an earlier launch's: waiting for this one's" "$tmp/again.err"
cmp -s <(tail -n 1 "$tmp/wait.j") <(tail -n 1 "$tmp/again.j") && fail "the same result twice"
echo "ok: a reused --run waits for its own result"

echo "== a job whose inputs are missing: the failure comes back"
"$sdsinf" aws server $job --images s3://$bucket/in/none.tsv --run job-2 --print-user-data >"$tmp/job2.sh"
"$sdsinf" aws server $job --images s3://$bucket/in/none.tsv --run job-2 --wait \
    >"$tmp/wait2.out" 2>"$tmp/wait2.err" &
waiter=$!
instance_of job-2 >/dev/null
as_instance "$tmp/home2" "$tmp/job2.sh" 2>/dev/null || true
rc=0
wait $waiter || rc=$?
[ "$rc" -eq 1 ] && grep -q "run job-2 failed: .*none.tsv" "$tmp/wait2.err" ||
    { cat "$tmp/wait2.err"; fail "a failed job: exit $rc"; }
echo "ok: $(grep "run job-2 failed" "$tmp/wait2.err")"

echo "== always-on: the user data installs sdsinf with the role's credentials"
"$sdsinf" aws server --stack $stack --always-on --package pkg/sdsinf.zip --run on-1 \
    --weights s3://$bucket/model --images s3://$bucket/in/images.tsv --print-user-data >"$tmp/on.sh"
"$sdsinf" aws server --stack $stack --always-on --package pkg/sdsinf.zip --run on-1 \
    --weights s3://$bucket/model --images s3://$bucket/in/images.tsv >"$tmp/on.out"
grep -q "sdsinf infer --weights s3://$bucket/model --images s3://$bucket/in/images.tsv --json" "$tmp/on.out"
on=$(sed -n 's/^launched \(i-[0-9a-f]*\) .*/\1/p' "$tmp/on.out")
as_instance "$tmp/home3" "$tmp/on.sh" 2>"$tmp/on.err" || { cat "$tmp/on.err"; fail "the always-on user data"; }
get runs/on-1/ready.json "$tmp/ready.j"
grep -q '"status":"ready"' "$tmp/ready.j"
# the installed sdsinf, run as one would on the instance
env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY -u AWS_REGION \
    AWS_EC2_METADATA_SERVICE_ENDPOINT="$AWS_ENDPOINT_URL" \
    "$tmp/home3/sdsinf" infer --weights s3://$bucket/model --images s3://$bucket/in/images.tsv \
    --out "$tmp/on-cats.tsv" --quiet >/dev/null
cmp "$tmp/on-cats.tsv" "$tmp/single-cats.tsv"
"$sdsinf" aws server --terminate "$on" --json >"$tmp/term.j"
grep -q '"state":"terminated"' "$tmp/term.j"
echo "ok: $tmp/home3/sdsinf infers with the role's credentials"

if [ -n "$data" ] && [ -d "$data/graphchallenge/neuron1024" ]; then
    echo "== the real 1024x120 network's first 6,000 images through a job's user data"
    gc=$data/graphchallenge
    "$sdsinf" convert --weights "$gc/neuron1024" --out "$tmp/real.sdsinf" >/dev/null
    put "$tmp/real.sdsinf" real/model.sdsinf
    put "$gc/sparse-images-1024-first6000.tsv" real/images.tsv
    put "$gc/neuron1024-l120-categories-first6000.tsv" real/gold.tsv
    rm -f "$tmp/real.sdsinf"
    real="--stack $stack --job --package pkg/sdsinf.zip --weights s3://$bucket/real/model.sdsinf --images s3://$bucket/real/images.tsv --check s3://$bucket/real/gold.tsv --run real-1"
    "$sdsinf" aws server $real --print-user-data >"$tmp/real.sh"
    "$sdsinf" aws server $real --wait >"$tmp/real.out" 2>"$tmp/real.err" &
    waiter=$!
    instance_of real-1 >/dev/null
    as_instance "$tmp/home4" "$tmp/real.sh" 2>"$tmp/real-job.err" || { cat "$tmp/real-job.err"; fail "the real job"; }
    wait $waiter || { cat "$tmp/real.err"; fail "the real job's --wait"; }
    grep -q "6000 images x 120 layers of 1024 neurons: .*check passed" "$tmp/real.out" ||
        { cat "$tmp/real.out"; fail "the real job's result"; }
    cat "$tmp/real.out"
else
    echo "note: no real data (DATA/graphchallenge/neuron1024): the real network not run"
fi

echo "== destroy: the stack, its objects and any server instance left"
"$sdsinf" aws server --stack $stack --always-on --package pkg/sdsinf.zip --run on-2 >/dev/null
"$sdsinf" aws destroy --stack $stack 2>"$tmp/destroy.err" >/dev/null ||
    { cat "$tmp/destroy.err"; fail "destroy"; }
deployed=
grep -q "terminated 1 server instance" "$tmp/destroy.err" || { cat "$tmp/destroy.err"; fail "destroy left the instance"; }
echo "PASS"
