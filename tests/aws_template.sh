#!/usr/bin/env bash
# aws_template.sh SDSINF SRC_DIR - the templates `sdsinf aws template`
# prints (the default, 64 workers, with the function's --package, and with
# the server's --server):
# JSON whose policies are least privilege (tests/aws_template.py), and,
# with cfn-lint installed ($SDSINF_VENVS/cfn-lint, by
# scripts/install-aws-tools.sh), free of cfn-lint's errors and warnings;
# skipped (77) after the policy check without cfn-lint.  Also bad usage,
# and the deploying user's policy (deploy/aws-deployer-policy.json).
set -eu
sdsinf=$1 src=$2
venvs=${SDSINF_VENVS:-/opt/sdsinf-venvs}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$sdsinf" aws template >"$tmp/default.json"
"$sdsinf" aws template --max-workers 64 >"$tmp/w64.json"
"$sdsinf" aws template --max-workers 3 --package pkg/sdsinf.zip --memory 1024 \
    --arch arm64 >"$tmp/package.json"
"$sdsinf" aws template --max-workers 2 --server >"$tmp/server.json"
grep -q '"AWS::IAM::InstanceProfile"' "$tmp/server.json"
grep -q '"ServerProfileArn"' "$tmp/server.json"
if grep -q '"AWS::IAM::InstanceProfile"' "$tmp/default.json"; then
    echo "FAIL: the template without --server has an instance profile"; exit 1
fi
grep -q '"S3Key":.*"pkg/sdsinf.zip"' "$tmp/package.json"
grep -q '"arm64"' "$tmp/package.json"
if grep -q '"AWS::Lambda::Function"' "$tmp/default.json"; then
    echo "FAIL: the template without --package has a function"; exit 1
fi
python3 "$src/tests/aws_template.py" "$src" "$tmp/default.json" "$tmp/w64.json" \
    "$tmp/package.json" "$tmp/server.json"
# 64 workers: still within CloudFormation's 51,200 bytes for a template
# sent in the request (deploy sends it unformatted)
size=$(python3 -c 'import json,sys; print(len(json.dumps(json.load(open(sys.argv[1])), separators=(",", ":"))))' "$tmp/w64.json")
[ "$size" -le 51200 ] || { echo "FAIL: 64 workers' template has $size bytes"; exit 1; }
echo "ok: 64 workers' template: $size bytes"
# bad usage: exit 2 with a reason
for args in "template --max-workers 0" "template --max-workers 65" \
    "template --arch sparc" "template --stack" "deploy" "deploy --stack 1bad" \
    "status --stack a_b" "destroy --stack x --max-workers 3" "frobnicate" "" \
    "upload --stack x" "upload --weights w" "upload --stack x --workers 3" \
    "run --stack x" "run --weights w --images i" \
    "run --stack x --weights w --images i --nonsense 1" \
    "run --stack x --weights w --images i --out -" \
    "run --stack x --weights w --images i --wait-s 0"; do
    rc=0
    "$sdsinf" aws $args >/dev/null 2>"$tmp/err" || rc=$?
    [ "$rc" -eq 2 ] && [ -s "$tmp/err" ] ||
        { echo "FAIL: sdsinf aws $args: exit $rc"; cat "$tmp/err"; exit 1; }
done
"$sdsinf" aws help | grep -q "aws deploy --stack NAME"
"$sdsinf" help | grep -q "aws template|deploy|upload|run|status|destroy"
echo "ok: bad usage"
lint=$venvs/cfn-lint/bin/cfn-lint
if [ ! -x "$lint" ]; then
    echo "SKIP: cfn-lint is not installed in $venvs/cfn-lint (run scripts/install-aws-tools.sh)"
    exit 77
fi
"$lint" --format parseable "$tmp/default.json" "$tmp/w64.json" "$tmp/package.json" \
    "$tmp/server.json"
echo "ok: cfn-lint $("$lint" --version | tr -d '\n') passes the four templates"
