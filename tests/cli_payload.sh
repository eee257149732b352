#!/usr/bin/env bash
# cli_payload.sh SDSINF DATA - `sdsinf run PAYLOAD.json`: an SDS-Inf payload
# gives the workers, launch tree, sizes, batch size, image count and the
# metrics' name; the flags give the data and override the rest.  Bad
# payloads fail with exit 1 and a message naming the file and what is
# wrong (the line of invalid JSON, the key's path); missing data names the
# S3 place and the flag to give (exit 2).  The metrics files have SDS-Inf's
# headers then ours, one row per worker per layer, layer records adding up
# to the run's totals, and a failed run leaves none.  With the shared data,
# SDS-Inf's own queue payload runs on the real network with SDS-Inf's own
# partition (its conn files) and reproduces the golden categories.
set -u
sdsinf=$(cd "$(dirname "$1")" && pwd)/$(basename "$1") data=${2:-}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sdsinf-payload-XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
failures=0
. "$(dirname "$0")/cli_check.sh"

# csv_get FILE ROW COLUMN: the value in data row ROW (1 = first after the
# header) of COLUMN.
csv_get() {
    awk -F, -v row="$2" -v name="$3" '
        NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i; next }
        NR == row + 1 { print (c ? $c : "NO-COLUMN"); exit }' "$1"
}

# csv_sum FILE COLUMN: the sum of COLUMN over the data rows.
csv_sum() {
    awk -F, -v name="$2" '
        NR == 1 { for (i = 1; i <= NF; i++) if ($i == name) c = i; next }
        { s += $c } END { printf "%.0f\n", s }' "$1"
}

"$sdsinf" generate --neurons 128 --layers 8 --images 60 --seed 5 --out "$tmp/g" >/dev/null || exit 1
img=$tmp/g/sparse-images-128.tsv gold=$tmp/g/n128-l8-categories.tsv

# payload NAME [SED-EDIT...]: writes $tmp/NAME.json from a
# template (2 workers, 128 x 8, numData 50 = more than 2 batches of 20).
payload() {
    local name=$1
    shift
    cat >"$tmp/$name.json" <<'EOF'
{
    "data_params":
        {
            "weights_loc": {"bucket": "w-bucket", "subfolder": "expts/128/t1"},
            "inf_data_loc": {"bucket": "i-bucket", "subfolder": "expts/128/t1"},
            "connectivity_loc": {"bucket": "c-bucket", "subfolder": "expts/128/t1"},
            "metrics_loc":
                {
                    "bucket": "m-bucket",
                    "subfolder": "expts/128/t1_128n_2w_20bs_queue",
                    "filename": "3_t1_128n_2w_20bs_queue.csv",
                    "expt_id": 3
                }
        },
    "invoc_params": {"bfr": 2, "nlevels": 1, "total_nworkers": 2},
    "model_params":
        {
            "numNeurons": 128,
            "numLayers": 8,
            "numData": 50,
            "batchSize": 20,
            "numBatches": 2
        }
}
EOF
    for edit in "$@"; do
        sed -i "$edit" "$tmp/$name.json"
    done
}

echo "== a payload: 2 workers, the first min(50, 2 x 20) = 40 images"
payload p
mkdir "$tmp/cwd"
"$sdsinf" infer --weights "$tmp/g" --images "$img" --scores "$tmp/single.tsv" --quiet >/dev/null
if check 0 '"check":"pass"' "run p.json (golden categories of the 40 images)" \
        env -C "$tmp/cwd" "$sdsinf" run "$tmp/p.json" --weights "$tmp/g" \
        --images "$img" --check "$gold" --scores "$tmp/s.tsv" --json; then
    j=$(tail -n 1 "$tmp/stdout")
    expect "2 workers, 40 images" "$(echo "$j" | grep -c '"workers":2,.*"images":40,')" = 1
    expect "scores equal one process's for those images" \
        "$(head -n 40 "$tmp/single.tsv" | cmp - "$tmp/s.tsv" && echo same)" = same
    expect "the payload's connectivity is named as not read" \
        "$(grep -c 'connectivity is in S3 (bucket c-bucket' "$tmp/stderr")" = 1
    m=$tmp/cwd/3_t1_128n_2w_20bs_queue
    expect "metrics in the current directory, named from metrics_loc" \
        "$(ls "$tmp/cwd" | tr '\n' ' ')" = "3_t1_128n_2w_20bs_queue-layers.csv 3_t1_128n_2w_20bs_queue.csv 3_t1_128n_2w_20bs_queue.json "
    expect "run record header: SDS-Inf's columns first" \
        "$(head -n 1 "$m.csv" | cut -d, -f1-26)" = "CONFIG,BFR,NLEVELS,TOTAL_NWORKERS,NUM_NEURONS,NUM_LAYERS,NUM_DATA,BATCH_SIZE,NUM_BATCHES,METRIC_PUBLISH_CALLS,METRIC_NUM_MESSAGES_SENT,METRIC_SIZE_MESSAGES_SENT,METRIC_RECEIVE_POLL_CALLS,METRIC_NUM_MESSAGES_RECEIVED,METRIC_SIZE_MESSAGES_RECEIVED,METRIC_ELAPSED_TIME_BATCH,METRIC_ELAPSED_TIME_COMMUNICATION,METRIC_ELAPSED_TIME_COMPUTATION,METRIC_ELAPSED_TIME_COMPRESSION,METRIC_LAMBDA_RUNTIME,METRIC_DYNAMODB_ITEMS_WRITTEN,METRIC_DYNAMODB_TOTAL_ITEMS_READ,METRIC_DYNAMODB_UNIQUE_ITEMS_READ,METRIC_MAX_ROW_NNZ,METRIC_MAX_MESSAGE_SIZE,METRIC_MAX_BATCH_MSG_SIZE"
    expect "layer header: SDS-Inf's columns first" \
        "$(head -n 1 "$m-layers.csv" | cut -d, -f1-26)" = "CONFIG,WORKER_ID,LAYER,PUBLISH_NUM,PUBLISH_TOTAL_SIZE,PUBLISH_MAX_SIZE,PUBLISH_MIN_SIZE,PUBLISH_AVG_SIZE,MSG_NUM,MSG_TOTAL_SIZE,MSG_MAX_SIZE,MSG_MIN_SIZE,MSG_AVG_SIZE,LS_NUM_TARGETS,NNZ,CHUNKS_SENT,CHUNKS_PER_TARGET,CHUNK_TOTAL_SIZE,CHUNK_MIN_SIZE,CHUNK_MAX_SIZE,CHUNK_AVG_SIZE,NNZ_SENT,NNZ_PER_TARGET,ROWS_SENT,ROWS_PER_TARGET,LAYER_DURATION"
    expect "CONFIG as SDS-Inf names it" "$(csv_get "$m.csv" 1 CONFIG)" = t1_128n_2w_20bs_queue
    expect "sizes from the payload" \
        "$(csv_get "$m.csv" 1 NUM_NEURONS)/$(csv_get "$m.csv" 1 NUM_LAYERS)/$(csv_get "$m.csv" 1 NUM_DATA)/$(csv_get "$m.csv" 1 BATCH_SIZE)/$(csv_get "$m.csv" 1 NUM_BATCHES)" = 128/8/40/20/2
    expect "launch tree and expt_id" \
        "$(csv_get "$m.csv" 1 BFR)/$(csv_get "$m.csv" 1 NLEVELS)/$(csv_get "$m.csv" 1 TOTAL_NWORKERS)/$(csv_get "$m.csv" 1 EXPT_ID)" = 2/1/2/3
    expect "messages sent as the run reports them" \
        "$(csv_get "$m.csv" 1 METRIC_NUM_MESSAGES_SENT)" = "$(echo "$j" | sed 's/.*"messages_sent":\([0-9]*\).*/\1/')"
    expect "publish calls = the channel's send requests" \
        "$(csv_get "$m.csv" 1 METRIC_PUBLISH_CALLS)" = "$(echo "$j" | sed 's/.*"requests":{"send":\([0-9]*\).*/\1/')"
    expect "bytes sent as the run reports them" \
        "$(csv_get "$m.csv" 1 METRIC_SIZE_MESSAGES_SENT)" = "$(echo "$j" | sed 's/.*"bytes_sent":\([0-9]*\).*/\1/')"
    expect "Lambda and DynamoDB columns empty" \
        "$(csv_get "$m.csv" 1 METRIC_LAMBDA_RUNTIME)$(csv_get "$m.csv" 1 METRIC_DYNAMODB_ITEMS_WRITTEN)" = ""
    expect "one row per worker per layer (2 x (8 + 1))" "$(( $(wc -l <"$m-layers.csv") - 1 ))" = 18
    expect "layer records add up to the bytes sent" \
        "$(csv_sum "$m-layers.csv" PUBLISH_TOTAL_SIZE)" = "$(csv_get "$m.csv" 1 METRIC_SIZE_MESSAGES_SENT)"
    expect "layer records add up to the messages sent" \
        "$(csv_sum "$m-layers.csv" CHUNKS_SENT)" = "$(csv_get "$m.csv" 1 METRIC_NUM_MESSAGES_SENT)"
    expect "some layer carried bytes" "$(csv_sum "$m-layers.csv" NNZ_SENT)" -gt 0
    expect "the JSON has the run record and 18 layer records" \
        "$(grep -o '"WORKER_ID"' "$m.json" | wc -l)/$(grep -c '"run":{"CONFIG":"t1_128n_2w_20bs_queue"' "$m.json")" = 18/1
    if command -v python3 >/dev/null; then
        expect "the JSON parses" "$(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(len(d["layers"]), d["run"]["METRIC_LAMBDA_RUNTIME"])' "$m.json")" = "18 None"
    fi
fi

echo "== flags override the payload"
if check 0 '"workers":3,' "--workers 3 --batch-size 7 --metrics DIR/x" \
        "$sdsinf" run "$tmp/p.json" --weights "$tmp/g" --images "$img" \
        --workers 3 --batch-size 7 --metrics "$tmp/x" --quiet --json; then
    expect "3 workers, batches of 7 over the 40 images" \
        "$(csv_get "$tmp/x.csv" 1 TOTAL_NWORKERS)/$(csv_get "$tmp/x.csv" 1 BFR)/$(csv_get "$tmp/x.csv" 1 NUM_DATA)/$(csv_get "$tmp/x.csv" 1 BATCH_SIZE)/$(csv_get "$tmp/x.csv" 1 NUM_BATCHES)" = 3/3/40/7/6
    expect "3 x 9 layer rows" "$(( $(wc -l <"$tmp/x-layers.csv") - 1 ))" = 27
fi
check 0 '"images":40,' "--layers 4 (fewer than the payload's)" \
    "$sdsinf" run "$tmp/p.json" --weights "$tmp/g" --images "$img" --layers 4 \
    --bias -0.3 --metrics "$tmp/l4" --quiet --json
expect "... and the metrics say 4 layers" "$(csv_get "$tmp/l4.csv" 1 NUM_LAYERS)" = 4
payload tree 's/"bfr": 2, "nlevels": 1, "total_nworkers": 2/"bfr": 2, "nlevels": 2, "total_nworkers": 6/'
check 0 '"workers":6,' "a launch tree of 2 x 2 levels = 6 workers" \
    "$sdsinf" run "$tmp/tree.json" --weights "$tmp/g" --images "$img" \
    --check "$gold" --metrics "$tmp/tree" --quiet --json
expect "... BFR 2, NLEVELS 2" "$(csv_get "$tmp/tree.csv" 1 BFR)/$(csv_get "$tmp/tree.csv" 1 NLEVELS)" = 2/2
"$sdsinf" partition --weights "$tmp/g" --workers 4 --method block --out "$tmp/plan4" >/dev/null
check 1 "is a plan for 4 workers, not 2" "a plan for other workers than the payload's" \
    "$sdsinf" run "$tmp/p.json" --weights "$tmp/g" --images "$img" --plan "$tmp/plan4" --quiet
check 0 '"workers":4,' "... unless --workers agrees with the plan" \
    "$sdsinf" run "$tmp/p.json" --weights "$tmp/g" --images "$img" --plan "$tmp/plan4" \
    --workers 4 --metrics "$tmp/p4" --quiet --json

echo "== the data is in S3: the flags must give it (exit 2)"
check 2 "S3 (bucket w-bucket, expts/128/t1); give --weights" "no --weights" \
    "$sdsinf" run "$tmp/p.json" --images "$img"
check 2 "S3 (bucket i-bucket, expts/128/t1); give --images" "no --images" \
    "$sdsinf" run "$tmp/p.json" --weights "$tmp/g"

echo "== bad payloads: exit 1, the file and what is wrong"
payload badjson 's/"numLayers": 8,/"numLayers": 8/'
check 1 "$tmp/badjson.json:20: invalid JSON at column 13" "invalid JSON: file and line" \
    "$sdsinf" run "$tmp/badjson.json" --weights "$tmp/g" --images "$img"
payload trailing '$a }'
check 1 "$tmp/trailing.json:25: invalid JSON: more text" "text after the object" \
    "$sdsinf" run "$tmp/trailing.json" --weights "$tmp/g" --images "$img"
printf '' >"$tmp/empty.json"
check 1 "$tmp/empty.json:1: invalid JSON: the file is empty" "an empty file" \
    "$sdsinf" run "$tmp/empty.json" --weights "$tmp/g" --images "$img"
payload nolayers '/"numLayers"/d'
check 1 "$tmp/nolayers.json: model_params has no numLayers" "a missing key" \
    "$sdsinf" run "$tmp/nolayers.json" --weights "$tmp/g" --images "$img"
payload noinvoc '/"invoc_params"/d'
check 1 "$tmp/noinvoc.json: no invoc_params" "a missing section" \
    "$sdsinf" run "$tmp/noinvoc.json" --weights "$tmp/g" --images "$img"
payload nobucket 's/"bucket": "w-bucket", //'
check 1 "data_params.weights_loc has no bucket" "a location without its bucket" \
    "$sdsinf" run "$tmp/nobucket.json" --weights "$tmp/g" --images "$img"
payload strtype 's/"numNeurons": 128/"numNeurons": "128"/'
check 1 "model_params.numNeurons must be an integer from 1 to 2147483647, not a string" \
    "a number given as a string" "$sdsinf" run "$tmp/strtype.json" --weights "$tmp/g" --images "$img"
payload objtype 's/"invoc_params": {.*}/"invoc_params": [2, 1, 2]/'
check 1 "invoc_params must be an object, not an array" "a section of the wrong type" \
    "$sdsinf" run "$tmp/objtype.json" --weights "$tmp/g" --images "$img"
payload fraction 's/"batchSize": 20/"batchSize": 2.5/'
check 1 "model_params.batchSize must be an integer from 1 to 9007199254740992, not 2.5" \
    "a fraction" "$sdsinf" run "$tmp/fraction.json" --weights "$tmp/g" --images "$img"
payload zero 's/"numData": 50/"numData": 0/'
check 1 "model_params.numData must be an integer from 1" "out of range" \
    "$sdsinf" run "$tmp/zero.json" --weights "$tmp/g" --images "$img"
payload badtree 's/"total_nworkers": 2/"total_nworkers": 5/'
check 1 "bfr 2 over 1 level starts 2 workers, not total_nworkers 5" "a launch tree that does not add up" \
    "$sdsinf" run "$tmp/badtree.json" --weights "$tmp/g" --images "$img"
payload twice 's/"bfr": 2,/"bfr": 2, "bfr": 4,/'
check 1 "invoc_params.bfr appears twice" "a key given twice" \
    "$sdsinf" run "$tmp/twice.json" --weights "$tmp/g" --images "$img"
printf '[1, 2]\n' >"$tmp/array.json"
check 1 "$tmp/array.json: the payload must be a JSON object, not an array" "not an object" \
    "$sdsinf" run "$tmp/array.json" --weights "$tmp/g" --images "$img"
check 1 "$tmp/nowhere.json: cannot open" "no such payload" \
    "$sdsinf" run "$tmp/nowhere.json" --weights "$tmp/g" --images "$img"
check 1 "$tmp/g: cannot read" "a directory as the payload" \
    "$sdsinf" run "$tmp/g" --weights "$tmp/g" --images "$img"
check 2 "infer takes no argument" "a payload for another command" \
    "$sdsinf" infer "$tmp/p.json" --weights "$tmp/g" --images "$img"
check 2 "unexpected argument" "two payloads" \
    "$sdsinf" run "$tmp/p.json" "$tmp/p.json" --weights "$tmp/g" --images "$img"

echo "== a failed run leaves no metrics, nor temporary files"
mkdir "$tmp/fail"
check 1 "" "a run whose worker dies" \
    env -C "$tmp/fail" SDSINF_TEST_KILL=1:3 "$sdsinf" run "$tmp/p.json" \
    --weights "$tmp/g" --images "$img" --timeout-ms 5000 --quiet
check 1 "" "a run whose model cannot be read" \
    env -C "$tmp/fail" "$sdsinf" run "$tmp/p.json" --weights "$tmp/nowhere" \
    --images "$img" --quiet
expect "nothing written" "$(ls -A "$tmp/fail" | wc -l)" = 0
check 2 "--metrics $tmp/no-dir/m: its directory $tmp/no-dir does not exist" \
    "a metrics prefix in a missing directory, refused up front" \
    "$sdsinf" run "$tmp/p.json" --weights "$tmp/g" --images "$img" \
    --metrics "$tmp/no-dir/m" --quiet

ref=$data/sds-inf-reference gc=$data/graphchallenge
if [ -f "$ref/c1_1024n_8w_10000bs_payload_queue.json" ] && [ -d "$gc/neuron1024" ]; then
    echo "== SDS-Inf's queue payload on the real network, with SDS-Inf's partition"
    "$sdsinf" sdsinf-import --from "$ref/conn-1024n-8w" --weights "$gc/neuron1024" \
        --out "$tmp/realplan" >/dev/null
    mkdir "$tmp/real"
    if check 0 '"check":"pass"' "c1_1024n_8w_10000bs_payload_queue.json, 6,000 images" \
            env -C "$tmp/real" "$sdsinf" run "$ref/c1_1024n_8w_10000bs_payload_queue.json" \
            --weights "$gc/neuron1024" --images "$gc/sparse-images-1024-first6000.tsv" \
            --plan "$tmp/realplan" --check "$gc/neuron1024-l120-categories-first6000.tsv" --json; then
        m=$tmp/real/1_c1_1024n_8w_10000bs_queue
        expect "... 8 workers" "$(tail -n 1 "$tmp/stdout" | grep -c '"workers":8,')" = 1
        expect "... the file has fewer images than numData: said" \
            "$(grep -c 'has 6000 images, fewer than the 10000' "$tmp/stderr")" = 1
        expect "... SDS-Inf's header, then ours" \
            "$(head -n 1 "$m.csv" | cut -d, -f1-26)" = "$(head -n 1 "$ref/master_metrics_c1_1024n_8w_10000bs_queue.csv" | tr -d '\r')"
        expect "... SDS-Inf's layer header, then ours" \
            "$(head -n 1 "$m-layers.csv" | cut -d, -f1-26)" = "$(head -n 1 "$ref/master_layerstats_c1_1024n_8w_10000bs_queue.csv" | tr -d '\r')"
        expect "... CONFIG as SDS-Inf's" "$(csv_get "$m.csv" 1 CONFIG)" = \
            "$(csv_get "$ref/master_metrics_c1_1024n_8w_10000bs_queue.csv" 1 CONFIG)"
        expect "... 8 x 121 layer rows" "$(( $(wc -l <"$m-layers.csv") - 1 ))" = 968
    fi
else
    echo "SKIP (real data): $ref or $gc/neuron1024 not found"
fi

if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed"
    exit 1
fi
echo PASS
