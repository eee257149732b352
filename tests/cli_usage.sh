#!/usr/bin/env bash
# cli_usage.sh - the command line's usage and JSON: each command takes only
# its own flags (another command's is bad usage naming both), `CMD --help`
# (`aws SUBCOMMAND --help` too) and `help CMD` print the command's usage,
# `help` an unknown command is bad usage listing the known ones, a channel
# the build left out is bad usage saying how to get it, before anything is loaded (as is an s3://
# location in a build without the AWS client: a failure), and --json stays
# valid JSON whatever a path holds (a double quote, a backslash, a tab).
# usage: cli_usage.sh SDSINF [DATA_DIR]   (the data directory is unused)
set -u

bin=${1:?usage: cli_usage.sh SDSINF [DATA_DIR]}
if [ ! -x "$bin" ]; then
    echo "skip: $bin is not an executable"
    exit 77
fi
bin=$(cd "$(dirname "$bin")" && pwd)/$(basename "$bin")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/sdsinf-usage-XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
failures=0
. "$(dirname "$0")/cli_check.sh"
cd "$tmp" || exit 1

# field KEY: KEY of the JSON object on the last line of $tmp/stdout, as
# python's json reads it (nothing when that line is not JSON).
field() {
    python3 -c 'import json, sys
last = open(sys.argv[1]).read().splitlines()[-1]
sys.stdout.write(json.loads(last)[sys.argv[2]])' "$tmp/stdout" "$1" 2>/dev/null
}

echo "== each command takes only its own flags"
check 2 "--channel is not an option of generate" "generate --channel redis" \
    "$bin" generate --neurons 64 --layers 4 --images 10 --out g \
    --channel redis
expect "... and writes nothing" ! -e g
check 2 "see sdsinf generate --help" "... pointing to generate's usage" \
    "$bin" generate --neurons 64 --layers 4 --images 10 --out g \
    --channel redis
check 2 "--dry-run is not an option of infer" "infer --dry-run" \
    "$bin" infer --weights w --images i --dry-run
check 2 "--json is not an option of version" "version --json" \
    "$bin" version --json

echo "== a channel this build left out: bad usage, before loading anything"
# inputs that exist (a missing one is refused first), not loaded
"$bin" generate --neurons 64 --layers 2 --images 4 --out m >/dev/null
left_out=
for ch in redis mpi sqs sns s3; do
    "$bin" run --channel $ch --weights m --images m/sparse-images-64.tsv \
        --workers 2 >"$tmp/stdout" 2>"$tmp/stderr"
    if grep -q "is not in this build" "$tmp/stderr"; then
        left_out="$left_out $ch"
        check 2 "apt-get install" "run --channel $ch says how to get it" \
            "$bin" run --channel $ch --weights m --images m/sparse-images-64.tsv \
            --workers 2
        check 2 "apt-get install" "demo --channel $ch, before generating" \
            "$bin" demo --channel $ch --out d
        expect "... and writes nothing" ! -e d
    else
        echo "skip: this build has channel $ch"
    fi
done

if [ "${left_out% s3}" != "$left_out" ]; then # no AWS client
    check 1 "built without the AWS client" \
        "an s3:// location says how to get it" \
        "$bin" infer --weights s3://sdsinf-none/m --images m/sparse-images-64.tsv \
        --out o
    expect "... and writes nothing" ! -e o
else
    echo "skip: this build has the AWS client"
fi

echo "== usage"
check 0 "--workers" "run --help" "$bin" run --help
expect "... on stdout" "$(grep -c -- '--workers W' "$tmp/stdout")" -ge 1
check 0 "--workers" "help run" "$bin" help run
expect "... on stdout, the same" "$("$bin" run --help | cksum)" = \
    "$(cksum < "$tmp/stdout")"
check 0 "sdsinf run PAYLOAD.json" "run --help after other flags" \
    "$bin" run --workers 3 --help
for c in infer generate convert partition sdsinf-export sdsinf-import run \
         demo clean version; do
    check 0 "usage: sdsinf $c" "$c --help" "$bin" "$c" --help
done
for c in package template deploy upload run status destroy; do
    check 0 "sdsinf aws $c " "aws $c --help" "$bin" aws $c --help
    check 0 "sdsinf aws $c " "aws $c -h, after a flag" "$bin" aws $c --json -h
done
check 0 "--always-on" "aws server --help: its flags" "$bin" aws server --help
check 0 "" "help generate" "$bin" help generate
expect "... has no run flag" "$(grep -c -- '--channel' "$tmp/stdout")" = 0
check 0 "commands:" "help" "$bin" help
check 0 "commands:" "--help" "$bin" --help
check 2 "unknown command 'nosuch'" "help nosuch" "$bin" help nosuch
expect "... listing the known ones" \
    "$(grep -c 'known: infer, generate' "$tmp/stderr")" = 1
check 2 "unknown command 'nosuch'" "nosuch" "$bin" nosuch

echo "== --json with a quote, a backslash and a tab in a path"
odd=$'odd"quote\\back\ttab'
check 0 "" "generate --out '$odd' --json" \
    "$bin" generate --neurons 64 --layers 4 --images 20 --out "$odd" --json
expect "... parses, out is the path" "$(field out)" = "$odd"
imgs="$odd/sparse-images-64.tsv"
check 0 "" "infer --out/--scores '$odd.*' --json" \
    "$bin" infer --weights "$odd" --images "$imgs" --out "$odd.cats" \
    --scores "$odd.scores" --json
expect "... parses, out is the path" "$(field out)" = "$odd.cats"
expect "... scores too" "$(field scores)" = "$odd.scores"
check 0 "" "partition --out '$odd.plan'" \
    "$bin" partition --weights "$odd" --workers 2 --out "$odd.plan"
check 0 "" "sdsinf-export --out '$odd.layout' --json" \
    "$bin" sdsinf-export --weights "$odd" --plan "$odd.plan" \
    --images "$imgs" --out "$odd.layout" --json
expect "... parses, out is the path" "$(field out)" = "$odd.layout"
check 0 "" "run --metrics '$odd.m' --json" \
    "$bin" run --weights "$odd" --images "$imgs" --plan "$odd.plan" \
    --metrics "$odd.m" --json
expect "... parses, metrics is the prefix" "$(field metrics)" = "$odd.m"
expect "... and $odd.m.json parses, CONFIG its name" "$(python3 -c '
import json, sys
sys.stdout.write(json.load(open(sys.argv[1] + ".json"))["run"]["CONFIG"])' \
    "$odd.m")" = "$odd.m"

# generate names the files it writes (its help and its last words), and a
# flag's help says what it means for the command at hand.
check 0 "sparse-images-N.tsv" "help generate names its files" "$bin" help generate
check 0 "neurons per layer of the network to make" "help generate: --neurons" \
    "$bin" help generate
if grep -qF "the model's" "$tmp/stdout"; then
    echo "FAIL: help generate speaks of a model it has not"
    failures=$((failures + 1))
fi
check 0 "the images (lines: image feature value)" "help run: --images" \
    "$bin" help run
if grep -qF "how many images to make" "$tmp/stdout"; then
    echo "FAIL: help run explains generate's --images"
    failures=$((failures + 1))
fi
check 0 "sparse-images-16.tsv, n16-l2-categories.tsv" "generate names its files" \
    "$bin" generate --neurons 16 --layers 2 --images 3 --out "$tmp/gen16"

# worker prints no JSON (its outcome goes to the coordinator), as the
# README says.
check 2 "--json is not an option of worker" "worker --json" \
    "$bin" worker --spec x --json
readme=$(dirname "$0")/../README.md
if [ -f "$readme" ]; then
    expect "the README names worker as taking no --json" \
        "$(tr '\n' ' ' <"$readme" | grep -c 'but `version` and `worker`')" = 1
fi

echo
if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed"
    exit 1
fi
echo "all usage checks passed"
