#!/usr/bin/env bash
# cli_plan.sh SDSINF DATA - `sdsinf plan` on a generated small model:
# --calibrate writes a calibration file with a figure per layer; planning
# from it prints the frontier and a recommendation that meets the bound
# (table and --json) and the best configuration of each kind (Lambda on
# each channel, the EC2 engines, the server baselines); an impossible
# bound is reported with the nearest configuration; a budget picks the
# fastest within it; --plot draws a PNG and an SVG with gnuplot, and
# without gnuplot says so and succeeds;
# a bad calibration file fails naming the file; usage errors exit 2 (an
# unpriced --machines type, both bounds at once);
# bench/probe_latency.py measures request latencies on the AWS emulator
# into a price table plan takes.
set -u
sdsinf=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sdsinf-plan-XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
failures=0
. "$(dirname "$0")/cli_check.sh"

# field NAME FILE: the value of "NAME": in the last line of FILE (the
# first occurrence, a number or true/false).
field() {
    tail -1 "$2" | sed -n "s/^[^{]*{.*\"$1\":\([-0-9.e+a-z]*\).*/\1/p"
}

echo "== calibrate a generated model"
check 0 "" "generate 64 x 6" "$sdsinf" generate --neurons 64 --layers 6 \
    --images 10 --out "$tmp/model"
check 0 "written to $tmp/cal.json" "plan --calibrate --out" \
    "$sdsinf" plan --weights "$tmp/model" --calibrate --out "$tmp/cal.json"
expect "the calibration has 6 layers" \
    "$(grep -o '"layers":6' "$tmp/cal.json")" = '"layers":6'
expect "six compute figures" "$(sed -n 's/.*"compute_seconds":\[\([^]]*\)\].*/\1/p' \
    "$tmp/cal.json" | tr ',' '\n' | grep -c .)" = 6

echo "== plan from it: a latency bound"
check 0 "recommended (the cheapest within the bounds)" "plan: table" \
    "$sdsinf" plan --calibration "$tmp/cal.json" --images 100000 \
    --max-seconds 60
expect "the table has a frontier" "$(grep -c 'lambda\|server\|mpi\|local\|redis' "$tmp/stdout")" -ge 2
expect "... and the best of each kind, the server baselines among them" \
    "$(sed -n '/the best of each kind/,$p' "$tmp/stdout" | grep -c 'server-job 1x\|server-always 1x')" -eq 2
check 0 '"achievable":true' "plan: --json" "$sdsinf" plan \
    --calibration "$tmp/cal.json" --images 100000 --max-seconds 60 --json
expect "--json: one line on stdout" "$(wc -l <"$tmp/stdout")" -eq 1
cp "$tmp/stdout" "$tmp/plan.json"
rec=$(tail -1 "$tmp/stdout" | sed -n 's/.*"recommended":{\([^}]*\)}.*/\1/p')
secs=$(echo "$rec" | sed -n 's/.*"seconds":\([-0-9.e+]*\).*/\1/p' | head -1)
expect "the recommendation meets 60 s ($secs)" \
    "$(awk -v s="$secs" 'BEGIN { print (s != "" && s <= 60) }')" = 1
if command -v python3 >/dev/null; then
    check 0 "" "--json: the candidates are a frontier, fastest first" \
        python3 -c '
import json, sys
d = json.loads(open(sys.argv[1]).read().splitlines()[-1])
c = d["candidates"]
assert c and d["evaluated"] >= len(c)
for a, b in zip(c, c[1:]):
    assert a["seconds"] <= b["seconds"] and a["usd"] > b["usd"], (a, b)
r = d["recommended"]
assert r["seconds"] <= 60
assert all(x["usd"] >= r["usd"] for x in c if x["seconds"] <= 60)
# the best of each kind: every engine, the server baselines among them,
# and Lambda on each channel, once each; those that meet the bound do
k = {x["kind"]: x for x in d["kinds"]}
assert len(k) == len(d["kinds"]), d["kinds"]
for name in ("lambda sqs", "lambda sns", "lambda s3", "lambda sqs+s3",
             "local", "mpi", "redis", "server-job", "server-always"):
    assert name in k, (name, sorted(k))
assert k["server-job"]["startup_seconds"] > 0 == k["server-always"]["startup_seconds"]
assert k["mpi"]["machines"] >= 2 and k["mpi"]["instance"]
assert all(x["seconds"] <= 60 for x in d["kinds"] if x["meets"])
assert dict(r, meets=True) in d["kinds"]
' "$tmp/plan.json"
fi

echo "== an impossible bound, a budget"
check 0 "not achievable" "plan: 1 microsecond" "$sdsinf" plan \
    --calibration "$tmp/cal.json" --images 100000 --max-seconds 0.000001
check 0 '"achievable":false' "plan: 1 microsecond, --json" "$sdsinf" plan \
    --calibration "$tmp/cal.json" --images 100000 --max-seconds 0.000001 \
    --json
expect "... with the nearest configuration" \
    "$(tail -1 "$tmp/stdout" | grep -c '"nearest":{')" -eq 1
check 0 "the fastest within the budget" "plan: a budget" "$sdsinf" plan \
    --calibration "$tmp/cal.json" --images 100000 --max-usd 0.01

echo "== given machines"
check 0 '"achievable"' "plan --machines c5.xlarge" "$sdsinf" plan \
    --calibration "$tmp/cal.json" --images 100000 --max-seconds 60 \
    --machines c5.xlarge --json
expect "... no other EC2 type" \
    "$(tail -1 "$tmp/stdout" | grep -o '"instance":"[^"]*"' | sort -u | grep -vc c5.xlarge)" -eq 0
check 2 "'t2.nano' is not an instance type" "plan --machines t2.nano" \
    "$sdsinf" plan --calibration "$tmp/cal.json" --images 10 \
    --max-seconds 60 --machines t2.nano
check 2 "'c9.bogus' is not an instance type" \
    "plan --machines c9.bogus, before calibrating" \
    "$sdsinf" plan --neurons 64 --layers 4 --images 10 --max-seconds 60 \
    --machines c9.bogus
check 2 "--max-seconds and --max-usd: give one of them" "plan: both bounds" \
    "$sdsinf" plan --calibration "$tmp/cal.json" --images 10 \
    --max-seconds 60 --max-usd 0.01

echo "== calibrate and plan at once, from --neurons --layers"
check 0 '"achievable":true' "plan --neurons 64 --layers 4 --json" \
    "$sdsinf" plan --neurons 64 --layers 4 --images 1000 --max-seconds 100 \
    --json --quiet

echo "== the plot"
if command -v gnuplot >/dev/null; then
    for ext in png svg; do
        check 0 "" "plan --plot frontier.$ext" "$sdsinf" plan \
            --calibration "$tmp/cal.json" --images 100000 --max-seconds 60 \
            --plot "$tmp/frontier.$ext"
        expect "frontier.$ext is not empty" -s "$tmp/frontier.$ext"
    done
    expect "the PNG is a PNG" "$(head -c 4 "$tmp/frontier.png" | tail -c 3)" = PNG
else
    echo "skip: gnuplot is not installed (apt-get install gnuplot-nox): the plot is not drawn here"
fi
mkdir -p "$tmp/bin" && ln -sf "$(command -v sed)" "$tmp/bin/sed"
check 0 "gnuplot is not installed" "plan --plot without gnuplot" \
    env PATH="$tmp/bin" "$sdsinf" plan --calibration "$tmp/cal.json" \
    --images 1000 --max-seconds 60 --plot "$tmp/none.png"
expect "... writes no plot" ! -e "$tmp/none.png"
check 1 "name a .png or .svg" "plan --plot x.pdf" "$sdsinf" plan \
    --calibration "$tmp/cal.json" --images 1000 --max-seconds 60 \
    --plot "$tmp/x.pdf"

echo "== bad calibrations, bad usage"
printf '{"sdsinf_calibration":1,"neurons":64,"layers":2,"workers":4,"images":9,"weight_bytes":1,"density":[1,1],"compute_seconds":[1],"bytes":[1,1],"messages":[1,1]}' >"$tmp/short.json"
check 1 "$tmp/short.json: compute_seconds must be an array of 2" \
    "plan: a short series" "$sdsinf" plan --calibration "$tmp/short.json" \
    --images 10 --max-seconds 1
printf '{"sdsinf_calibration":1,\n"neurons":' >"$tmp/cut.json"
check 1 "$tmp/cut.json" "plan: a cut file" "$sdsinf" plan \
    --calibration "$tmp/cut.json" --images 10 --max-seconds 1
check 1 "$tmp/none.json" "plan: no file" "$sdsinf" plan \
    --calibration "$tmp/none.json" --images 10 --max-seconds 1
check 2 "a bound" "plan without a bound" "$sdsinf" plan \
    --calibration "$tmp/cal.json" --images 10
check 2 "needs a model" "plan without a model" "$sdsinf" plan --images 10 \
    --max-seconds 1
check 2 "--images needs an integer" "plan --images x" "$sdsinf" plan \
    --calibration "$tmp/cal.json" --images x --max-seconds 1

# every latency constant says where it comes from: measured, documented,
# fitted, typical or assumed (prices/aws.json's latency.sources)
prices=$(cd "$(dirname "$0")/.." && pwd)/prices/aws.json
if python3 - "$prices" <<'PY'
import json, sys
lat = json.load(open(sys.argv[1]))["latency"]
consts = [k for k in lat if k not in ("sources", "source", "date", "note")]
src = lat["sources"]
bad = [k for k in consts if not src.get(k, "").split(":")[0] in
       ("measured", "documented", "fitted", "typical", "assumed")]
assert not bad, f"constants without a source: {bad}"
print(f"ok:   {len(consts)} latency constants, each with its source")
PY
then :; else failures=$((failures + 1)); fi
sed 's/"sources": {/"sources": {"no_such_constant": "x",/' "$prices" >"$tmp/prices.json"
check 1 "no_such_constant" "a source of no constant" "$sdsinf" plan \
    --calibration "$tmp/cal.json" --images 10 --max-seconds 1 --prices "$tmp/prices.json"

echo "== measured latencies: bench/probe_latency.py on the AWS emulator"
rc=0
python3 "$(dirname "$0")/../bench/probe_latency.py" --sdsinf "$sdsinf" \
    --out "$tmp/measured.json" --channels sqs,s3 --layers 4 --images 50 \
    >"$tmp/probe.out" 2>&1 || rc=$?
if [ "$rc" -eq 77 ]; then
    echo "skip: no AWS emulator (scripts/install-aws-tools.sh): the probe not run"
else
    expect "the probe ran (exit $rc): $(tail -3 "$tmp/probe.out")" "$rc" -eq 0
    expect "... and measured sqs's and s3's latencies" \
        "$(grep -c '"measured: bench/probe_latency.py' "$tmp/measured.json")" -eq 4
    check 0 "recommended" "plan with the measured table" "$sdsinf" plan \
        --calibration "$tmp/cal.json" --images 1000 --max-seconds 60 \
        --prices "$tmp/measured.json"
fi

[ "$failures" -eq 0 ] && echo "all passed" || echo "$failures failed"
[ "$failures" -eq 0 ]
