#!/usr/bin/env bash
# stack_concurrent.sh SDSINF [DATA] - what runs at once on one deployed
# stack cost: `sdsinf run --stack` on sqs, sns and s3, 8 workers, alone and
# then two at once (the second on threads), on the real network (1024 x
# 120, the first 6,000 images, hypergraph plan) where DATA/graphchallenge
# is at hand, else on generated data (1024 x 24, 1,000 images); each run
# checked against the golden categories (or `sdsinf infer`).  Prints per
# run: receives (of them empty), removes (SQS: deletes and hand-backs of
# the other run's messages; S3: its cleanup), sends and seconds.  Runs
# the emulator itself: bench/stack_concurrent.sh build/sdsinf ../shared/data
. "$(dirname "$0")/under_aws.sh"
tmp=$(mktemp -d)
stack=sdsinf-bench
trap '"$sdsinf" aws destroy --stack $stack >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
gc=${data:+$data/graphchallenge}
if [ -n "$gc" ] && [ -d "$gc/neuron1024" ]; then
    label=real w=$gc/neuron1024 img=$gc/sparse-images-1024-first6000.tsv
    gold=$gc/neuron1024-l120-categories-first6000.tsv
else
    label=generated w=$tmp/g img=$tmp/g/sparse-images-1024.tsv gold=$tmp/gold.tsv
    "$sdsinf" generate --neurons 1024 --layers 24 --images 1000 --seed 3 --out "$w" >/dev/null
    "$sdsinf" infer --weights "$w" --images "$img" --out "$gold" --quiet
fi
"$sdsinf" partition --weights "$w" --workers 8 --method hypergraph --out "$tmp/plan" >/dev/null
"$sdsinf" aws deploy --stack $stack --max-workers 8 >/dev/null 2>&1
run() { # tag, channel, run arguments...: JSON into $tmp/TAG.j
    local tag=$1 ch=$2; shift 2
    "$sdsinf" run --weights "$w" --images "$img" --plan "$tmp/plan" --check "$gold" \
        --workers 8 --channel "$ch" --stack $stack "$@" --json | tail -n 1 >"$tmp/$tag.j"
}
show() { # channel, label, tag
    python3 - "$tmp/$3.j" "$label" "$1" "$2" <<'PY'
import json, sys
j = json.load(open(sys.argv[1]))
assert j.get("check") == "pass", j.get("check")
r = j["requests"]
print("%-9s %-4s %-9s %8d %6d %7d %6d %8.2f" % (sys.argv[2], sys.argv[3], sys.argv[4],
      r["receive"], r["empty"], r["remove"], r["send"], j["seconds"]))
PY
}
printf '%-9s %-4s %-9s %8s %6s %7s %6s %8s\n' data ch runs receive empty remove send seconds
for ch in sqs sns s3; do
    run alone $ch
    show $ch alone alone
    run a $ch &
    pa=$!
    run b $ch --launcher threads &
    pb=$!
    wait $pa
    wait $pb
    show $ch "1st of 2" a
    show $ch "2nd of 2" b
done
