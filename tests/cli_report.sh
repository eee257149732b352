#!/usr/bin/env bash
# cli_report.sh SDSINF DATA - `sdsinf report` of a recorded run (a small
# demo's metrics): every plot is there and non-empty, the page renders in
# headless Chromium without console errors and its screenshot is not
# blank; text from the metrics is HTML-escaped; without gnuplot the page
# says it has no plots; the published figures' table (and the workbook's
# total cost) where the configuration matches: neurons, layers, workers,
# batch size and the kind of channel.  Skips (77) without gnuplot or Chromium.
set -eu
sdsinf=$1 data=$2
here=$(cd "$(dirname "$0")" && pwd)
command -v gnuplot >/dev/null || { echo "SKIP: gnuplot is not installed (apt-get install gnuplot-nox)"; exit 77; }
chromium=$(command -v chromium || command -v chromium-browser || true)
[ -n "$chromium" ] || { echo "SKIP: chromium is not installed (apt-get install chromium)"; exit 77; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

echo "== the demo writes a report and prints its path"
"$sdsinf" demo --neurons 256 --layers 16 --images 200 --workers 3 --out "$tmp/demo" | tee "$tmp/log"
grep -qF "7. report" "$tmp/log" || fail "the demo printed no report step"
grep -qF "report   $tmp/demo/metrics-report.html" "$tmp/log" || fail "the demo's summary names no report"
[ -s "$tmp/demo/metrics-report.html" ] || fail "no demo report"

echo "== report of the recorded run"
"$sdsinf" report "$tmp/demo" --out "$tmp/r.html" --reference "$data/sds-inf-reference" | tee "$tmp/out"
[ "$(cat "$tmp/out")" = "$tmp/r.html" ] || fail "report printed not its path"
"$sdsinf" report "$tmp/demo" --out "$tmp/r2.html" --json | tail -n 1 >"$tmp/j"
grep -qF "{\"report\":\"$tmp/r2.html\"}" "$tmp/j" || fail "report --json: $(cat "$tmp/j")"
# every plot: timeline, balance, 3 workers' time split, traffic x2
python3 - "$tmp/r.html" 7 <<'PY'
import re, sys
page = open(sys.argv[1]).read()
figs = re.findall(r"<figure>(.*?)</figure>", page, re.S)
assert len(figs) == int(sys.argv[2]), f"{len(figs)} plots, not {sys.argv[2]}"
for f in figs:
    svg = re.search(r"<svg.*?</svg>", f, re.S)
    assert svg and len(svg.group(0)) > 2000 and "<path" in svg.group(0), \
        "a plot without an SVG picture: " + f[:80]
assert "http://" not in re.sub(r'xmlns(:\w+)?="http://[^"]*"', "", page) \
    .replace("http://www.w3.org", ""), "a reference to the network"
print(f"{len(figs)} plots, each a non-empty inline SVG")
PY

echo "== Chromium renders it without console errors; the screenshot is not blank"
( cd "$tmp" && timeout 120 "$chromium" --headless=new --no-sandbox --disable-gpu \
    --user-data-dir="$tmp/profile" --enable-logging=stderr --v=0 \
    --window-size=1200,2400 --screenshot="$tmp/shot.png" "file://$tmp/r.html" \
    >"$tmp/chromium.out" 2>"$tmp/chromium.err" ) || { cat "$tmp/chromium.err"; fail "chromium failed"; }
if grep -E "CONSOLE|Uncaught|ERROR:.*(html|svg)" "$tmp/chromium.err"; then
    fail "console errors rendering the report"
fi
[ -s "$tmp/shot.png" ] || fail "no screenshot"
python3 "$here/png_colours.py" "$tmp/shot.png" 50 || fail "the screenshot is blank"
# a page with a console error is caught the same way (the check works)
printf '<!DOCTYPE html><script>console.error("x"); undefined_call()</script>' >"$tmp/bad.html"
( cd "$tmp" && timeout 120 "$chromium" --headless=new --no-sandbox --disable-gpu \
    --user-data-dir="$tmp/profile" --enable-logging=stderr --v=0 \
    --dump-dom "file://$tmp/bad.html" >/dev/null 2>"$tmp/bad.err" ) || true
grep -qE "CONSOLE|Uncaught" "$tmp/bad.err" || fail "chromium's log shows no console errors at all"

echo "== text from the metrics is HTML-escaped"
python3 - "$tmp/demo/metrics.json" "$tmp/evil.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["run"]["CONFIG"] = "<script>alert('x')</script>&"
d["run"]["CHANNEL"] = "<b>fs\"</b>"
json.dump(d, open(sys.argv[2], "w"))
PY
"$sdsinf" report "$tmp/evil.json" --reference "$data/sds-inf-reference" >/dev/null
grep -q "<script" "$tmp/evil-report.html" && fail "a script from the metrics went into the page"
grep -qF "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;" "$tmp/evil-report.html" || fail "CONFIG not escaped"

echo "== bad metrics: an error naming the file"
head -c 3000 "$tmp/demo/metrics.json" >"$tmp/cut.json"
if "$sdsinf" report "$tmp/cut.json" 2>"$tmp/err"; then fail "a cut file made a report"; fi
grep -q "cut.json" "$tmp/err" || fail "the error names no file: $(cat "$tmp/err")"
printf '{"run": {}, "layers": [{"WORKER_ID": -3, "LAYER": 0}]}' >"$tmp/neg.json"
if "$sdsinf" report "$tmp/neg.json" 2>"$tmp/err"; then fail "a negative worker made a report"; fi
grep -q "neg.json" "$tmp/err"
if "$sdsinf" report "$tmp/nothing" 2>"$tmp/err"; then fail "no metrics made a report"; fi
grep -q "sdsinf run --metrics PREFIX" "$tmp/err"

echo "== without gnuplot: a page without plots, saying so"
SDSINF_GNUPLOT="$tmp/no-gnuplot" "$sdsinf" report "$tmp/demo" --out "$tmp/np.html" 2>"$tmp/err"
grep -q "no plots" "$tmp/err" || fail "no note on stderr"
grep -q "No plots: cannot run" "$tmp/np.html" || fail "the page does not say it has no plots"
grep -q "<svg" "$tmp/np.html" && fail "plots without gnuplot?"

echo "== a configuration SDS-Inf published: its table"
python3 - "$tmp/demo/metrics.json" "$tmp/c1.json" "$tmp/c1-16.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["run"].update(NUM_NEURONS=1024, NUM_LAYERS=120, TOTAL_NWORKERS=8, BATCH_SIZE=10000, CHANNEL="sqs")
json.dump(d, open(sys.argv[2], "w"))
d["run"].update(NUM_LAYERS=16)
json.dump(d, open(sys.argv[3], "w"))
PY
if [ -d "$data/sds-inf-reference" ]; then
    "$sdsinf" report "$tmp/c1.json" --reference "$data/sds-inf-reference" >/dev/null
    grep -q "Published configuration c1_1024n_8w_10000bs_SQS" "$tmp/c1-report.html" || fail "no published table for c1"
    # the workbook's total cost of c1 ($0.0215316) beside this run's bill
    grep -qE "<tr><td>total cost \(USD[^<]*</td><td>0\.02153[0-9]*</td><td>[0-9.e-]+</td>" "$tmp/c1-report.html" ||
        fail "no published total cost for c1: $(grep -o '<tr><td>total cost.*' "$tmp/c1-report.html")"
    "$sdsinf" report "$tmp/c1-16.json" --reference "$data/sds-inf-reference" >/dev/null
    grep -q "SDS-Inf published no configuration of 1024 neurons, 16 layers" "$tmp/c1-16-report.html" ||
        fail "16 layers matched a 120-layer configuration"
    grep -q "SDS-Inf published no configuration" "$tmp/r.html" || fail "no note for an unpublished configuration"
fi
"$sdsinf" report "$tmp/c1.json" --reference "$tmp/none" >/dev/null
grep -q "No published figures to compare with" "$tmp/c1-report.html" || fail "no note without the data"
grep -q "<h2>Cost</h2>" "$tmp/c1-report.html"
echo "PASS"
