# aws_test.sh - the preamble of the command-line tests that run through
# tests/with_aws.sh (directly: cli_stack.sh, cli_deploy.sh, cli_upload.sh,
# cli_aws_run.sh, cli_aws_server.sh, cli_lambda_launch.sh; through
# aws_cli.sh: cli_sqs.sh, cli_sns.sh, cli_s3.sh, cli_s3_paths.sh).  Source
# it after setting sdsinf (the tool) and, for a test of a deployed stack,
# stack (its name: destroyed at exit), or ministack_for (what the test
# needs of ministack, for the skip's message).  It fails outside
# with_aws.sh; with stack or ministack_for it skips (77) unless the
# emulator is ministack and gives the test a private SDSINF_SCRATCH
# ($tmp/scratch).  Sets py (ministack's Python, with botocore) and tmp (a
# directory removed at exit, after the test's own on_exit, when it defines
# one, and the stack's destruction); defines fail MESSAGE, field FILE EXPR
# (a Python expression over r, the JSON object on FILE's last line) and
# small_network.
: "${AWS_ENDPOINT_URL:?run me through tests/with_aws.sh}"
aws_test_stack=${stack:-}
aws_test_ministack=$aws_test_stack${ministack_for:-}
if [ -n "$aws_test_ministack" ] && [ "${SDSINF_AWS_EMULATOR:-}" != ministack ]; then
    echo "SKIP: needs ministack's ${ministack_for:-CloudFormation and Lambda}"
    exit 77
fi
py=${SDSINF_VENVS:-/opt/sdsinf-venvs}/ministack/bin/python
tmp=$(mktemp -d)
aws_test_exit() {
    if declare -F on_exit >/dev/null; then on_exit || true; fi
    if [ -n "$aws_test_stack" ]; then
        "$sdsinf" aws destroy --stack "$aws_test_stack" >/dev/null 2>&1 || true
    fi
    rm -rf "$tmp"
}
trap aws_test_exit EXIT
if [ -n "$aws_test_ministack" ]; then
    export SDSINF_SCRATCH=$tmp/scratch
    mkdir "$SDSINF_SCRATCH"
fi
fail() { echo "FAIL: $*"; exit 1; }
# field FILE EXPR: EXPR of r, the file's JSON (a document, or its last line)
field() {
    "$py" -c "import json,sys
s = open(sys.argv[1]).read()
try: r = json.loads(s)
except ValueError: r = json.loads(s.strip().splitlines()[-1])
print($2)" "$1"
}

# small_network: the network of 128 neurons and 8 layers with 60 images
# (seed 5) in $tmp/g, the images' file in img, and `sdsinf infer`'s scores
# and categories of them in $tmp/single.tsv and $tmp/single-cats.tsv.
small_network() {
    "$sdsinf" generate --neurons 128 --layers 8 --images 60 --seed 5 --out "$tmp/g" >/dev/null
    img=$tmp/g/sparse-images-128.tsv
    "$sdsinf" infer --weights "$tmp/g" --images "$img" --scores "$tmp/single.tsv" \
        --out "$tmp/single-cats.tsv" --quiet
}
