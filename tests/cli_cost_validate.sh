#!/usr/bin/env bash
# cli_cost_validate.sh SDSINF DATA - the cost model reproduces every total
# cost SDS-Inf published (sds-inf-reference/published-expt-plan-*.csv)
# from its raw metrics (published-metric-reports-*.csv) within 2%:
# `sdsinf cost --validate` compares them all, its JSON's last line says
# how many and the largest error; the price table's workbook prices are
# the workbook's own constants.  Skips without the shared data.
set -u
sdsinf=$1 ref=$2/sds-inf-reference
prices=$(cd "$(dirname "$0")/.." && pwd)/prices/aws.json
if [ ! -f "$ref/published-expt-plan-pub-sub-mq.csv" ]; then
    echo "SKIP: $ref/published-expt-plan-pub-sub-mq.csv not found (the shared reference data is absent)"
    exit 77
fi
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sdsinf-validate-XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
failures=0
. "$(dirname "$0")/cli_check.sh"

check 0 "32 published totals compared" "the table" \
    "$sdsinf" cost --validate "$ref" --prices "$prices"
cat "$tmp/stdout"
check 0 '"configurations":32' "--json: every published total" \
    "$sdsinf" cost --validate "$ref" --prices "$prices" --json
last=$(tail -1 "$tmp/stdout")
err=$(printf '%s' "$last" | sed -n 's/.*"max_error":\([0-9.e+-]*\).*/\1/p')
rows=$(printf '%s' "$last" | grep -o '"published_usd"' | wc -l)
expect "max_error $err within 2%" "$(awk -v e="$err" 'BEGIN { print (e != "" && e <= 0.02) }')" = 1
expect "32 rows" "$rows" -eq 32
lat=$(printf '%s' "$last" | sed -n 's/.*"max_latency_error":\([0-9.e+-]*\).*/\1/p')
expect "the first latency model's largest batch-time error ($lat) is reported" -n "$lat"
expect "the 65536n 8-worker Queue run (#N/A) skipped" \
    "$(printf '%s' "$last" | grep -c 'c16_65536n_8w_10000bs_SQS')" -eq 1

# sdsinf's own prediction beside them: a calibration of the real 1024n
# network prices its 8 published configurations (4 per variant)
g=$2/graphchallenge
"$sdsinf" plan --calibrate --weights "$g/neuron1024" --sample "$g/sparse-images-1024-first6000.tsv" \
    --out "$tmp/cal-1024.json" --quiet >/dev/null
check 0 '"sdsinf_predicted":8' "--calibration: sdsinf predicted on the 1024n configurations" \
    "$sdsinf" cost --validate "$ref" --prices "$prices" --calibration "$tmp/cal-1024.json" --json
last=$(tail -1 "$tmp/stdout")
expect "configurations and max_error unchanged with a calibration" \
    "$(printf '%s' "$last" | grep -c '"configurations":32,"max_error":')" -eq 1
expect "8 rows with sdsinf's cost and batch time" \
    "$(printf '%s' "$last" | grep -o '"sdsinf_usd":[0-9.e+-]*,"sdsinf_batch_seconds":[0-9.e+-]*' | wc -l)" -eq 8
check 0 "sdsinf predicted on 8 of them" "the table's sdsinf columns" \
    "$sdsinf" cost --validate "$ref" --prices "$prices" --calibration "$tmp/cal-1024.json"
grep -E '^  c1_1024n_8w_10000bs_SQS .* [0-9.]+ +[0-9.]+$' "$tmp/stdout" >/dev/null ||
    { echo "FAIL: no sdsinf columns on c1: $(grep c1_1024n_8w "$tmp/stdout")"; failures=$((failures + 1)); }
printf '{"sdsinf_calibration": 1}' >"$tmp/bad-cal.json"
check 1 "bad-cal.json" "a bad calibration file is named" \
    "$sdsinf" cost --validate "$ref" --prices "$prices" --calibration "$tmp/cal-1024.json,$tmp/bad-cal.json"
check 2 "--calibration goes with --validate" "--calibration without --validate" \
    "$sdsinf" cost "$tmp/cal-1024.json" --calibration "$tmp/cal-1024.json"

# a workbook whose total is off by 10% fails the check (exit 1)
mkdir "$tmp/ref"
cp "$ref"/published-*.csv "$tmp/ref/"
sed -i 's/^c1_1024n_8w_10000bs_SQS,8,8,1,1000,,507.99376999999998,63.499221249999998,6.349922125E-3,2.1531605009375003E-2/c1_1024n_8w_10000bs_SQS,8,8,1,1000,,507.99376999999998,63.499221249999998,6.349922125E-3,2.3684765510312503E-2/' \
    "$tmp/ref/published-expt-plan-pub-sub-mq.csv"
check 1 "the cost model is 9.09% off a published total" "a total 10% off" \
    "$sdsinf" cost --validate "$tmp/ref" --prices "$prices"
# the table's workbook prices must be the workbook's own
sed '/"sds-inf-workbook"/,$ s/"usd_per_gb_published": 0.09/"usd_per_gb_published": 0/' \
    "$prices" >"$tmp/prices.json"
check 1 "the workbook's SNS Data Transfer Out Per Byte is 9e-11, but" \
    "a price table whose workbook prices are not the workbook's" \
    "$sdsinf" cost --validate "$ref" --prices "$tmp/prices.json"
check 1 "published-expt-plan-pub-sub-mq.csv: cannot open" "no workbook" \
    "$sdsinf" cost --validate "$tmp" --prices "$prices"

[ "$failures" -eq 0 ] && echo PASS || { echo "$failures FAILED"; exit 1; }
