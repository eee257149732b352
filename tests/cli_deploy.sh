#!/usr/bin/env bash
# cli_deploy.sh SDSINF - one command deploys the worker function, against
# the private ministack tests/with_aws.sh starts (its Lambda runs the
# bootstrap as a local process): `sdsinf aws deploy --stack` makes the
# stack's bucket first, stores this sdsinf's package there under its hash
# and makes every resource of the template with the function; an invoke
# of the function (Lambda's Invoke API, through botocore) answers a
# coordinator's run equal to `sdsinf infer`; deploying again uploads
# nothing and changes nothing; --arch of another machine is refused; the
# stack is destroyed (with_aws.sh checks that no function, stack, bucket,
# role or log group is left).  Prints the deploy's time and the first
# invoke's.
set -euo pipefail
sdsinf=$1 stack=sdsinf-fn
. "$(dirname "$0")/aws_test.sh"
"$sdsinf" generate --neurons 128 --layers 8 --images 40 --seed 4 --out "$tmp/g" >/dev/null
img=$tmp/g/sparse-images-128.tsv
"$sdsinf" infer --weights "$tmp/g" --images "$img" --scores "$tmp/single.tsv" --quiet
# (a plan made here: the package leaves out the MPI plugin, and with it
# Zoltan, which a hypergraph plan of a build with Zoltan needs)
"$sdsinf" partition --weights "$tmp/g" --workers 2 --method block --out "$tmp/plan" >/dev/null

echo "== deploy: the bucket first, the package, the function"
t0=$(date +%s.%N)
"$sdsinf" aws deploy --stack $stack --max-workers 2 --json 2>"$tmp/deploy.err" |
    tail -n 1 >"$tmp/deploy.j" || { cat "$tmp/deploy.err"; fail "deploy"; }
t1=$(date +%s.%N)
grep -q "its bucket first" "$tmp/deploy.err" && grep -q ": uploaded$" "$tmp/deploy.err" ||
    { cat "$tmp/deploy.err"; fail "deploy's progress"; }
key=$(field "$tmp/deploy.j" "r['package']['key']")
[ "$(field "$tmp/deploy.j" "r['package']['uploaded']")" = True ] || fail "nothing uploaded"
"$sdsinf" aws template --max-workers 2 --package "$key" >"$tmp/template.json"
"$sdsinf" aws status --stack $stack --json | tail -n 1 >"$tmp/status.j"
"$py" - "$tmp/template.json" "$tmp/status.j" "$tmp/deploy.j" <<'PY'
import json, os, sys, botocore.session
t = json.load(open(sys.argv[1]))["Resources"]
st = json.load(open(sys.argv[2]))
dep = json.load(open(sys.argv[3]))
have = {r["logical"]: r for r in st["resources"]}
missing = [k for k in t if k not in have or have[k]["status"] != "CREATE_COMPLETE"
           and have[k]["status"] != "UPDATE_COMPLETE"]
assert not missing, "not made: %s" % missing
s = botocore.session.get_session()
c = lambda n: s.create_client(n, endpoint_url=os.environ["AWS_ENDPOINT_URL"],
                              region_name=os.environ["AWS_REGION"])
f = c("lambda").get_function(FunctionName="sdsinf-fn-worker")["Configuration"]
assert f["Runtime"] == "provided.al2023" and f["Architectures"] == [dep["package"]["arch"]], f
head = c("s3").head_object(Bucket=st["outputs"]["BucketName"], Key=dep["package"]["key"])
assert head["ContentLength"] == dep["package"]["nbytes"], head
print("ok: %d resources, the function %s (%s) from s3://%s/%s (%d bytes)"
      % (len(t), f["FunctionName"], f["Runtime"], st["outputs"]["BucketName"],
         dep["package"]["key"], head["ContentLength"]))
PY

echo "== invoke: a coordinator's run"
"$py" - "$tmp/g" "$img" "$tmp/plan" "$tmp/s.tsv" <<'PY'
import json, os, sys, time, botocore.session
s = botocore.session.get_session()
lam = s.create_client("lambda", endpoint_url=os.environ["AWS_ENDPOINT_URL"],
                      region_name=os.environ["AWS_REGION"])
ev = {"run": {"weights": sys.argv[1], "images": sys.argv[2], "plan": sys.argv[3],
              "launcher": "local", "scores": sys.argv[4]}}
t0 = time.monotonic()
r = lam.invoke(FunctionName="sdsinf-fn-worker", Payload=json.dumps(ev).encode())
body = r["Payload"].read().decode()
assert "FunctionError" not in r, (r.get("FunctionError"), body)
out = json.loads(body)
assert out["workers"] == 2 and out["launcher"] == "local", out
print("ok: invoked in %.2f s: %d workers, %s categories" % (time.monotonic() - t0, out["workers"], out["categories"]))
PY
cmp "$tmp/s.tsv" "$tmp/single.tsv" || fail "the function's run differs from infer"
echo "ok: the function's run equals infer; the deploy took $(echo "$t1 - $t0" | bc) s"

echo "== deploy again: nothing to upload, nothing to change"
"$sdsinf" aws deploy --stack $stack --max-workers 2 --json 2>"$tmp/again.err" | tail -n 1 >"$tmp/again.j"
[ "$(field "$tmp/again.j" "r['package']['uploaded']")" = False ] &&
    [ "$(field "$tmp/again.j" "r['package']['key']")" = "$key" ] &&
    grep -q "there already, nothing to upload" "$tmp/again.err" && grep -q "up to date" "$tmp/again.err" ||
    { cat "$tmp/again.err"; fail "the second deploy"; }
echo "ok: the same package: $(grep 'there already' "$tmp/again.err")"
"$sdsinf" aws deploy --stack $stack --max-workers 2 --package "$key" 2>"$tmp/err" >/dev/null
grep -q "up to date" "$tmp/err" || { cat "$tmp/err"; fail "deploy --package KEY"; }
echo "ok: deploy --package KEY (a zip in the bucket already): the same stack"

echo "== a redeploy keeps the function's memory unless given again"
[ "$(field "$tmp/deploy.j" "r['function']['memory_mb']")" = 2048 ] ||
    fail "the default memory is not 2048 MB"
"$sdsinf" aws deploy --stack $stack --max-workers 2 --memory 1024 --json 2>"$tmp/err" |
    tail -n 1 >"$tmp/mem.j" || { cat "$tmp/err"; fail "deploy --memory 1024"; }
"$sdsinf" aws deploy --stack $stack 2>"$tmp/err" >"$tmp/mem.txt" ||
    { cat "$tmp/err"; fail "deploy again without --memory or --max-workers"; }
"$sdsinf" aws status --stack $stack --json | tail -n 1 >"$tmp/status.j"
grep -q ", 1024 MB, " "$tmp/mem.txt" || { cat "$tmp/mem.txt"; fail "deploy does not show 1024 MB"; }
[ "$(field "$tmp/mem.j" "r['function']['memory_mb']")" = 1024 ] &&
    [ "$(field "$tmp/status.j" "r['outputs']['FunctionMemory']")" = 1024 ] &&
    [ "$(field "$tmp/status.j" "r['outputs']['MaxWorkers']")" = 2 ] &&
    [ "$(field "$tmp/status.j" "r['outputs']['FunctionArch']")" = "$(field "$tmp/deploy.j" "r['package']['arch']")" ] ||
    fail "status does not show the function's 1024 MB and arch, or the stack's 2 workers"
"$py" - <<'PY' || fail "the function's MemorySize after the redeploy"
import os, botocore.session
lam = botocore.session.get_session().create_client(
    "lambda", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name=os.environ["AWS_REGION"])
f = lam.get_function(FunctionName="sdsinf-fn-worker")["Configuration"]
assert f["MemorySize"] == 1024 and f["Timeout"] == 900, f
print("ok: MemorySize %d and Timeout %d kept by a redeploy without --memory" % (f["MemorySize"], f["Timeout"]))
PY

other=arm64
[ "$(field "$tmp/deploy.j" "r['package']['arch']")" = arm64 ] && other=x86_64
rc=0; "$sdsinf" aws deploy --stack $stack --arch $other 2>"$tmp/err" || rc=$?
[ "$rc" = 2 ] && grep -q "deploy packages this sdsinf, built for" "$tmp/err" || { cat "$tmp/err"; fail "--arch $other: exit $rc"; }
echo "ok: --arch $other refused: $(head -n 1 "$tmp/err")"

echo "== destroy"
t0=$(date +%s.%N)
"$sdsinf" aws destroy --stack $stack 2>"$tmp/err" >/dev/null || { cat "$tmp/err"; fail "destroy"; }
echo "ok: destroyed in $(echo "$(date +%s.%N) - $t0" | bc) s ($(grep -c . "$tmp/err") lines of progress)"
