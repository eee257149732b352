# stack_test.sh - sourced by the scripts that test a deployed stack through
# tests/with_aws.sh (cli_upload.sh, cli_aws_run.sh), with $stack set: skips
# (77) unless the emulator is ministack (its CloudFormation and Lambda);
# sets py (ministack's Python, with botocore), tmp (removed at exit, when
# stack $stack is destroyed too) and a private SDSINF_SCRATCH (nothing may
# be left in it); defines fail MESSAGE and field FILE EXPR (a Python
# expression over r, the JSON object on FILE's last line).
set -euo pipefail
: "${AWS_ENDPOINT_URL:?run me through tests/with_aws.sh}"
if [ "${SDSINF_AWS_EMULATOR:-}" != ministack ]; then
    echo "SKIP: needs ministack's CloudFormation and Lambda"; exit 77
fi
py=${SDSINF_VENVS:-/opt/sdsinf-venvs}/ministack/bin/python
tmp=$(mktemp -d)
trap '"$sdsinf" aws destroy --stack $stack >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
export SDSINF_SCRATCH=$tmp/scratch
mkdir "$SDSINF_SCRATCH"
fail() { echo "FAIL: $*"; exit 1; }
field() { tail -n 1 "$1" | "$py" -c "import json,sys; r=json.load(sys.stdin); print($2)"; }
