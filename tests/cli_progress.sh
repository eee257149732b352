#!/usr/bin/env bash
# cli_progress.sh SDSINF DATA - progress on long commands: under a
# pseudo-terminal (Python's pty) run, infer, partition, plan --calibrate,
# generate, convert and aws deploy (under the AWS emulator, when it is
# installed) redraw one line on standard
# error (\r: stage, how far, rate, time left); with --json, or when
# standard error is not a terminal, nothing but the results (stdout only
# JSON); --progress and --no-progress force it either way.
set -eu
sdsinf=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
"$sdsinf" generate --neurons 256 --layers 40 --images 600 --out "$tmp/m" >/dev/null
imgs=$(ls "$tmp"/m/sparse-images-*.tsv)

# on_terminal.py OUT ERR CMD...: runs CMD with standard error on a pseudo-terminal
# (stdout a pipe); writes what each showed.
cat >"$tmp/on_terminal.py" <<'PY'
import os, pty, subprocess, sys
out, err, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
master, slave = pty.openpty()
p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=slave)
os.close(slave)
seen = b""
while True:
    try:
        chunk = os.read(master, 65536)
    except OSError:  # EIO: the child closed the terminal
        break
    if not chunk:
        break
    seen += chunk
stdout = p.stdout.read()
rc = p.wait()
open(out, "wb").write(stdout)
open(err, "wb").write(seen)
sys.exit(rc)
PY
run="run --weights $tmp/m --images $imgs --workers 3 --batch-size 50 --out $tmp/cats"

echo "== run under a terminal: progress lines"
python3 "$tmp/on_terminal.py" "$tmp/o" "$tmp/e" "$sdsinf" $run
grep -q $'\rrun: [0-9]*/[0-9]* worker-layers' "$tmp/e" || fail "no progress line: $(cat -v "$tmp/e")"
grep -q "elapsed" "$tmp/e" && grep -q "ended after" "$tmp/e" || fail "no time in the progress"
grep -q $'\r' "$tmp/o" && fail "progress on stdout"
echo "$(tr '\r' '\n' <"$tmp/e" | grep -c 'worker-layers') progress lines"

echo "== run --json under a terminal: only JSON on stdout, no progress"
python3 "$tmp/on_terminal.py" "$tmp/o" "$tmp/e" "$sdsinf" $run --json
python3 -c "import json,sys; [json.loads(l) for l in open(sys.argv[1]) if l.strip()]" "$tmp/o" ||
    fail "stdout of --json is not only JSON: $(cat "$tmp/o")"
grep -q "worker-layers" "$tmp/e" && fail "progress with --json"
echo "== --progress forces it through --json; --no-progress silences a terminal"
python3 "$tmp/on_terminal.py" "$tmp/o" "$tmp/e" "$sdsinf" $run --json --progress
grep -q "worker-layers" "$tmp/e" || fail "--progress showed nothing"
python3 "$tmp/on_terminal.py" "$tmp/o" "$tmp/e" "$sdsinf" $run --no-progress
grep -q "worker-layers" "$tmp/e" && fail "--no-progress showed progress"

echo "== not a terminal: no progress, unless --progress"
"$sdsinf" $run 2>"$tmp/e" >/dev/null
grep -q $'\r' "$tmp/e" && fail "progress to a file"
"$sdsinf" $run --progress 2>"$tmp/e" >/dev/null
grep -q $'\rrun: ' "$tmp/e" || fail "--progress to a file showed nothing"

echo "== infer under a terminal"
python3 "$tmp/on_terminal.py" "$tmp/o" "$tmp/e" "$sdsinf" infer --weights "$tmp/m" --images "$imgs" --batch-size 50 --out "$tmp/c1"
grep -q $'\rinfer: [0-9]*/[0-9]* layers' "$tmp/e" || fail "infer showed no progress: $(cat -v "$tmp/e")"

echo "== partition (the hypergraph partitioner's steps), plan --calibrate, generate, convert under a terminal"
python3 "$tmp/on_terminal.py" "$tmp/o" "$tmp/e" "$sdsinf" partition --weights "$tmp/m" --workers 3 --out "$tmp/plan"
grep -q $'\rpartition: initial plan: [0-9]*/[0-9]* steps .*steps/s' "$tmp/e" || fail "partition showed no steps: $(cat -v "$tmp/e")"
grep -q "partition: annealing: ended after" "$tmp/e" || fail "partition showed not each step: $(cat -v "$tmp/e")"
python3 "$tmp/on_terminal.py" "$tmp/o" "$tmp/e" "$sdsinf" partition --weights "$tmp/m" --workers 3 --json
grep -q "partition:" "$tmp/e" && fail "partition --json showed progress"
python3 "$tmp/on_terminal.py" "$tmp/o" "$tmp/e" "$sdsinf" plan --calibrate --weights "$tmp/m"
grep -q $'\rcalibrate: the kernel on one thread: [0-9]*/40 layers' "$tmp/e" || fail "plan --calibrate showed no progress: $(cat -v "$tmp/e")"
grep -q "calibrate: a run's bytes and messages: ended after" "$tmp/e" || fail "no calibration run stage"
python3 "$tmp/on_terminal.py" "$tmp/o" "$tmp/e" "$sdsinf" plan --calibrate --weights "$tmp/m" --no-progress
grep -q "calibrate:" "$tmp/e" && fail "plan --no-progress showed progress"
python3 "$tmp/on_terminal.py" "$tmp/o" "$tmp/e" "$sdsinf" generate --neurons 256 --layers 40 --images 600 --out "$tmp/g"
grep -q $'\rgenerate: the golden categories: [0-9]*/[0-9]* layers' "$tmp/e" || fail "generate showed no progress: $(cat -v "$tmp/e")"
python3 "$tmp/on_terminal.py" "$tmp/o" "$tmp/e" "$sdsinf" convert --weights "$tmp/m" --out "$tmp/m.sdsinf"
grep -q $'\rload the model: [0-9]*/40 layer files' "$tmp/e" || fail "convert showed no progress: $(cat -v "$tmp/e")"
echo "== aws deploy under a terminal (ministack's CloudFormation): its resources made so far"
rc=0
bash "$(dirname "$0")/with_aws.sh" bash -c '
    set -e
    [ "$SDSINF_AWS_EMULATOR" = ministack ] || exit 77
    on_terminal=$1 tmp=$2 sdsinf=$3
    python3 "$on_terminal" "$tmp/o" "$tmp/deploy.e" "$sdsinf" aws deploy --stack sdsinf-progress --max-workers 1
    "$sdsinf" aws destroy --stack sdsinf-progress >/dev/null 2>&1
    python3 "$on_terminal" "$tmp/o" "$tmp/quiet.e" "$sdsinf" aws deploy --stack sdsinf-progress --max-workers 1 --no-progress
    "$sdsinf" aws destroy --stack sdsinf-progress >/dev/null 2>&1
' _ "$tmp/on_terminal.py" "$tmp" "$sdsinf" || rc=$?
if [ "$rc" -eq 77 ]; then
    echo "skip: no AWS emulator (scripts/install-aws-tools.sh): aws deploy's progress not shown"
else
    [ "$rc" -eq 0 ] || fail "aws deploy under a terminal failed ($rc): $(cat -v "$tmp/deploy.e" 2>/dev/null)"
    grep -q $'\raws deploy: [0-9]*/[0-9]* resources' "$tmp/deploy.e" || fail "aws deploy showed no progress: $(cat -v "$tmp/deploy.e")"
    grep -q "aws deploy: ended after" "$tmp/deploy.e" || fail "aws deploy's progress did not end"
    grep -q "CREATE_COMPLETE *AWS::SNS::Topic" "$tmp/deploy.e" || fail "aws deploy's events are gone"
    grep -q "aws deploy:" "$tmp/quiet.e" && fail "aws deploy --no-progress showed progress"
    grep -q "CREATE_COMPLETE *AWS::SNS::Topic" "$tmp/quiet.e" || fail "aws deploy --no-progress: no events"
fi
echo "PASS"
