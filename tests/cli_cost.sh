#!/usr/bin/env bash
# cli_cost.sh SDSINF DATA - `sdsinf cost`: the bill of recorded runs with
# known counts equals the one worked out by hand from the price table
# (requests by service or of one channel, Lambda, regions); a run on a
# channel AWS does not bill costs $0, and --as prices its requests as an
# AWS channel's; a run's JSON and its metrics give the same bill; bad
# price tables and records fail naming the file and what is wrong.
set -u
sdsinf=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
src=$(cd "$(dirname "$0")/.." && pwd)
prices=$src/prices/aws.json
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sdsinf-cost-XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
failures=0
. "$(dirname "$0")/cli_check.sh"

# usd FILE: the cost_usd of the JSON line in FILE.
usd() {
    sed -n 's/.*"cost_usd":\([-0-9.e+]*\).*/\1/p' "$1" | tail -1
}

# same WHAT GOT WANT: GOT equals WANT to 1e-9 relative.
same() {
    if awk -v g="$2" -v w="$3" 'BEGIN { d = g - w; if (d < 0) d = -d;
                                        exit !(g != "" && d <= 1e-9 * (w < 0 ? -w : w) + 1e-15) }'; then
        echo "ok:   $1 ($2)"
    else
        echo "FAIL: $1: $2, want $3"
        failures=$((failures + 1))
    fi
}

echo "== a run on sns with a claim check in S3, on Lambda: by hand"
# us-east-1: Lambda 9 x 0.2e-6 + 500 GB-s x 0.0000166667; SNS 1,500 units
# x 0.5e-6 (deliveries free); SQS 8,000 units x 0.4e-6 (7,500 calls, 500
# more units); S3 10 PUT x 5e-6 + 10 GET x 4e-7 (DELETE free).
cat >"$tmp/sns.json" <<'EOF'
{"workers":8,"channel":"sns","bytes_sent":50000000,
 "requests":{"sns":{"send":1000,"units":1500,"bytes":50000000},
             "sqs":{"receive":4000,"empty":500,"remove":3500,"units":8000},
             "s3":{"send":10,"receive":10,"remove":10}},
 "lambda":{"invocations":9,"gb_seconds":500,"arch":"x86_64"},"cost_usd":null}
EOF
check 0 '"billed":true' "requests by service" \
    "$sdsinf" cost "$tmp/sns.json" --prices "$prices" --json
same "sns + sqs + s3 + Lambda at us-east-1" "$(usd "$tmp/stdout")" \
    "$(awk 'BEGIN { printf "%.12g", 9*0.2e-6 + 500*0.0000166667 + 1500*0.5e-6 + 8000*0.4e-6 + 10*5e-6 + 10*4e-7 }')"
check 0 "total 0.012339" "the table" "$sdsinf" cost "$tmp/sns.json" --prices "$prices"
check 0 "64KiB-units" "the table names the units beyond one a call" \
    "$sdsinf" cost "$tmp/sns.json" --prices "$prices"
# eu-west-2: S3 at 0.0053 / 0.00042 per 1000
check 0 '"region":"eu-west-2"' "another region" \
    "$sdsinf" cost "$tmp/sns.json" --prices "$prices" --region eu-west-2 --json
same "S3 at eu-west-2's prices" \
    "$(sed -n 's/.*"s3":\([0-9.e+-]*\).*/\1/p' "$tmp/stdout" | tail -1)" \
    "$(awk 'BEGIN { printf "%.12g", 10*5.3e-6 + 10*4.2e-7 }')"

echo "== a Lambda run: its metrics PREFIX bills as its run JSON"
# us-east-1: Lambda 4 x 0.2e-6 + 12.5 GB-s x 0.0000133334 (arm64); SQS 520
# units x 0.4e-6; S3 2 PUT x 5e-6 + (2 + 14) GET x 4e-7 (its claim check,
# and its workers' fetches of their plan, shards and inputs)
cat >"$tmp/lam.json" <<'EOF'
{"workers":4,"channel":"sqs","launcher":"lambda","bytes_sent":2000000,
 "requests":{"send":100,"receive":300,"empty":50,"remove":90,"list":0,"retries":0,"units":520,
             "send_units":0,"s3_put":2,"s3_get":2,"s3_list":0,"s3_remove":2,"lambda_invocations":4},
 "lambda":{"invocations":4,"gb_seconds":12.5,"arch":"arm64"},
 "storage_requests":{"send":0,"receive":14,"empty":0,"remove":0,"list":0,"retries":0,"units":0,
                     "send_units":0,"s3_put":0,"s3_get":0,"s3_list":0,"s3_remove":0}}
EOF
# the run record of its --metrics PREFIX.json (the columns cost reads)
cat >"$tmp/lam-m.json" <<'EOF'
{"run":{"CONFIG":"lam","TOTAL_NWORKERS":4,"METRIC_SIZE_MESSAGES_SENT":2000000,
 "METRIC_LAMBDA_RUNTIME":12.5,"CHANNEL":"sqs","LAUNCHER":"lambda",
 "REQUESTS_SEND":100,"REQUESTS_RECEIVE":300,"REQUESTS_EMPTY":50,"REQUESTS_REMOVE":90,
 "REQUESTS_LIST":0,"REQUESTS_RETRIES":0,"REQUESTS_UNITS":520,"REQUESTS_SEND_UNITS":0,
 "REQUESTS_S3_PUT":2,"REQUESTS_S3_GET":2,"REQUESTS_S3_LIST":0,"REQUESTS_S3_REMOVE":2,
 "STORAGE_SEND":0,"STORAGE_RECEIVE":14,"STORAGE_REMOVE":0,"STORAGE_LIST":0,"STORAGE_RETRIES":0,
 "LAMBDA_INVOCATIONS":4,"LAMBDA_GB_SECONDS":12.5,"LAMBDA_ARCH":"arm64"},"layers":[]}
EOF
lam_usd=$(awk 'BEGIN { printf "%.12g", 4*0.2e-6 + 12.5*0.0000133334 + 520*0.4e-6 + 2*5e-6 + 16*4e-7 }')
check 0 '"billed":true' "a Lambda run's JSON" "$sdsinf" cost "$tmp/lam.json" --prices "$prices" --json
same "Lambda (arm64) + SQS + S3, the run JSON" "$(usd "$tmp/stdout")" "$lam_usd"
check 0 '"billed":true' "a Lambda run's metrics" "$sdsinf" cost "$tmp/lam-m" --prices "$prices" --json
same "the metrics PREFIX: the same bill" "$(usd "$tmp/stdout")" "$lam_usd"
check 0 "lambda   GB-seconds" "the metrics' table itemises Lambda" \
    "$sdsinf" cost "$tmp/lam-m" --prices "$prices"
sed 's/"arm64"/"sparc"/' "$tmp/lam-m.json" >"$tmp/lam-bad.json"
check 1 "run.LAMBDA_ARCH is 'sparc'" "metrics with an unknown architecture" \
    "$sdsinf" cost "$tmp/lam-bad" --prices "$prices"

echo "== one channel's requests (sqs): every call billed, the units from the bytes"
cat >"$tmp/sqs.json" <<'EOF'
{"channel":"sqs","workers":2,"bytes_sent":2000000,
 "requests":{"send":10,"receive":300,"empty":280,"remove":20,"list":0,"retries":3,"units":0}}
EOF
# 330 calls; 10 sends of 200 kB: 4 units each (+30); 20 full receives of
# 100 kB: 2 each (+20); 380 units
check 0 '"estimated":true' "units estimated" \
    "$sdsinf" cost "$tmp/sqs.json" --prices "$prices" --json
same "sqs at us-east-1" "$(usd "$tmp/stdout")" "$(awk 'BEGIN { printf "%.12g", 380*0.4e-6 }')"
check 0 "estimated from the bytes" "the table says so" \
    "$sdsinf" cost "$tmp/sqs.json" --prices "$prices"

echo "== a real run on the local channel: not billed; --as prices it"
"$sdsinf" generate --neurons 128 --layers 6 --images 40 --seed 3 --out "$tmp/g" >/dev/null || exit 1
"$sdsinf" run --weights "$tmp/g" --images "$tmp/g/sparse-images-128.tsv" --workers 3 \
    --metrics "$tmp/m" --json --quiet >"$tmp/run.json" || exit 1
check 0 "is not a billed AWS service" "local costs nothing" \
    "$sdsinf" cost "$tmp/run.json" --prices "$prices"
check 0 '"billed":false' "local: billed false" "$sdsinf" cost "$tmp/run.json" --prices "$prices" --json
same "local: \$0" "$(usd "$tmp/stdout")" 0
same "the run JSON's own cost_usd is sdsinf cost's" "$(usd "$tmp/run.json")" "$(usd "$tmp/stdout")"
send=$(sed -n 's/.*"requests":{"send":\([0-9]*\),"receive":\([0-9]*\).*/\1/p' "$tmp/run.json")
recv=$(sed -n 's/.*"requests":{"send":\([0-9]*\),"receive":\([0-9]*\).*/\2/p' "$tmp/run.json")
list=$(sed -n 's/.*"list":\([0-9]*\).*/\1/p' "$tmp/run.json")
check 0 '"priced_as":"s3"' "--as s3" "$sdsinf" cost "$tmp/run.json" --prices "$prices" --as s3 --json
same "local --as s3: PUTs, GETs and LISTs" "$(usd "$tmp/stdout")" \
    "$(awk -v s="$send" -v r="$recv" -v l="$list" 'BEGIN { printf "%.12g", s*5e-6 + r*4e-7 + l*5e-6 }')"
"$sdsinf" cost "$tmp/run.json" --prices "$prices" --as sqs --json >"$tmp/a" 2>&1
"$sdsinf" cost "$tmp/m" --prices "$prices" --as sqs --json >"$tmp/b" 2>&1
same "the metrics PREFIX bills as the run JSON" "$(usd "$tmp/b")" "$(usd "$tmp/a")"
check 0 '"channel":"local"' "PREFIX.json too" "$sdsinf" cost "$tmp/m.json" --prices "$prices" --json
# the run's last line is its JSON, after the categories on stdout
{ cat "$tmp/g/n128-l6-categories.tsv"; cat "$tmp/run.json"; } >"$tmp/mixed.out"
check 0 '"billed":false' "the last line of mixed output" \
    "$sdsinf" cost "$tmp/mixed.out" --prices "$prices" --json

echo "== the price table: found without --prices, or in \$SDSINF_PRICES"
check 0 "aws.json" "the default table" "$sdsinf" cost "$tmp/sqs.json"
sed 's/"usd_per_million_requests": 0.4,/"usd_per_million_requests": 0.8,/' "$prices" >"$tmp/dear.json"
SDSINF_PRICES=$tmp/dear.json check 0 '"prices":"'"$tmp/dear.json" "SDSINF_PRICES" \
    "$sdsinf" cost "$tmp/sqs.json" --json
same "SQS at twice the price" "$(usd "$tmp/stdout")" "$(awk 'BEGIN { printf "%.12g", 380*0.8e-6 }')"

echo "== bad price tables: exit 1, the file and what is wrong"
# bad NAME SED-EDIT: $tmp/NAME.json, the table with the first match edited
bad() { sed "0,/$2/s//$3/" "$prices" >"$tmp/$1.json"; }
bad nocomma '"sdsinf_prices": 1,' '"sdsinf_prices": 1'
check 1 "$tmp/nocomma.json:3: invalid JSON at column" "invalid JSON: line and column" \
    "$sdsinf" cost "$tmp/sqs.json" --prices "$tmp/nocomma.json"
bad negative '"usd_per_1000_get": 0.0004,' '"usd_per_1000_get": -0.0004,'
check 1 "$tmp/negative.json: regions.us-east-1.s3.usd_per_1000_get must be a number from 0" \
    "a negative price" "$sdsinf" cost "$tmp/sqs.json" --prices "$tmp/negative.json"
bad text '"usd_per_million_publishes": 0.5,' '"usd_per_million_publishes": "0.5",'
check 1 "regions.us-east-1.sns.usd_per_million_publishes must be a number from 0 to 1e+06, not a string" \
    "a price as text" "$sdsinf" cost "$tmp/sqs.json" --prices "$tmp/text.json"
bad missing '"usd_per_million_publishes": 0.5,' ''
check 1 "regions.us-east-1.sns has no usd_per_million_publishes" "a missing price" \
    "$sdsinf" cost "$tmp/sqs.json" --prices "$tmp/missing.json"
bad typo 'usd_per_million_publishes' 'usd_per_milion_publishes'
check 1 "regions.us-east-1.sns.usd_per_milion_publishes is not a key" "a misspelt key" \
    "$sdsinf" cost "$tmp/sqs.json" --prices "$tmp/typo.json"
bad nosource '"source": "https:\/\/aws.amazon.com\/lambda\/pricing\/",' ''
check 1 "regions.us-east-1.lambda has no source" "a price without its source" \
    "$sdsinf" cost "$tmp/sqs.json" --prices "$tmp/nosource.json"
bad baddate '"date": "2026-06-13"' '"date": "13 June"'
check 1 "regions.us-east-1.lambda.date is '13 June': give the date" "a date that is not one" \
    "$sdsinf" cost "$tmp/sqs.json" --prices "$tmp/baddate.json"
bad format '"sdsinf_prices": 1,' '"sdsinf_prices": 2,'
check 1 "sdsinf_prices must be an integer from 1 to 1, not 2" "a later format" \
    "$sdsinf" cost "$tmp/sqs.json" --prices "$tmp/format.json"
# a region the run does not use is checked too
sed '/"ap-southeast-1"/,$ s/"usd_per_1000_put": 0.005,/"usd_per_1000_put": null,/' "$prices" >"$tmp/other.json"
check 1 "regions.ap-southeast-1.s3.usd_per_1000_put must be a number" "an error in another region" \
    "$sdsinf" cost "$tmp/sqs.json" --prices "$tmp/other.json"
bad parallel '"s3_parallel_requests": 4,' '"s3_parallel_requests": 0,'
check 1 "latency.s3_parallel_requests must be a number from 1" "a latency constant out of range" \
    "$sdsinf" cost "$tmp/sqs.json" --prices "$tmp/parallel.json"
check 1 "no region 'mars-1' (the table has: us-east-1, us-west-2, eu-west-1" "an unknown region" \
    "$sdsinf" cost "$tmp/sqs.json" --prices "$prices" --region mars-1
check 1 "$tmp/nowhere.json: cannot open" "no such table" \
    "$sdsinf" cost "$tmp/sqs.json" --prices "$tmp/nowhere.json"
printf '[]' >"$tmp/array.json"
check 1 "the price table must be a JSON object, not an array" "not an object" \
    "$sdsinf" cost "$tmp/sqs.json" --prices "$tmp/array.json"

echo "== bad run records and usage"
printf '{"channel":"sqs","workers":2}\n' >"$tmp/noreq.json"
check 1 "$tmp/noreq.json: no requests" "no requests" \
    "$sdsinf" cost "$tmp/noreq.json" --prices "$prices"
printf '{"channel":"sqs","requests":{"sends":3}}\n' >"$tmp/kind.json"
check 1 "requests.sends is not a key" "an unknown kind of request" \
    "$sdsinf" cost "$tmp/kind.json" --prices "$prices"
printf '{"channel":"sqs","requests":{"receive":3,"empty":4}}\n' >"$tmp/empty.json"
check 1 "counts 4 empty receives of 3 receives" "more empty receives than receives" \
    "$sdsinf" cost "$tmp/empty.json" --prices "$prices"
printf '{"channel":"x","requests":{"dynamo":{"send":1}}}\n' >"$tmp/svc.json"
check 1 "requests.dynamo: the requests by service are objects named sqs, sns or s3" \
    "an unknown service" "$sdsinf" cost "$tmp/svc.json" --prices "$prices"
printf '{"channel":"sqs","requests":{"send":-1}}\n' >"$tmp/neg.json"
check 1 "requests.send must be an integer from 0" "a negative count" \
    "$sdsinf" cost "$tmp/neg.json" --prices "$prices"
printf '{"channel":"sqs","requests":{},"lambda":{"arch":"sparc"}}\n' >"$tmp/arch.json"
check 1 "lambda.arch is 'sparc'" "an unknown architecture" \
    "$sdsinf" cost "$tmp/arch.json" --prices "$prices"
printf '{"channel":"sqs","requests":{},"instance":{"type":"m9.huge","seconds":60}}\n' >"$tmp/ec2.json"
check 1 "no EC2 instance type 'm9.huge'" "an instance type without a price" \
    "$sdsinf" cost "$tmp/ec2.json" --prices "$prices"
check 1 "$tmp/none: cannot open" "no such record" "$sdsinf" cost "$tmp/none" --prices "$prices"
check 2 "--as dynamo: give sqs, sns or s3" "--as an unknown service" \
    "$sdsinf" cost "$tmp/run.json" --prices "$prices" --as dynamo
check 1 "already by service" "--as on requests by service" \
    "$sdsinf" cost "$tmp/sns.json" --prices "$prices" --as sqs
check 2 "cost needs a run record" "nothing to cost" "$sdsinf" cost
check 2 "one of them" "a record and --validate" \
    "$sdsinf" cost "$tmp/run.json" --validate "$tmp"

[ "$failures" -eq 0 ] && echo PASS || { echo "$failures FAILED"; exit 1; }
