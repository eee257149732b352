#!/usr/bin/env python3
"""The lambda launcher on the real data: golden, invocations, requests, cost.

On the GraphChallenge data (1024 neurons, 120 layers, the first 6,000
images), W workers (default 8) and the hypergraph plan, against the AWS
emulator (ministack, whose Lambda runs the function's bootstrap, the sdsinf
executable, as local processes of this machine):

  * deploys a stack (`sdsinf aws deploy --max-workers W`), puts a zip of
    build/sdsinf as its bootstrap in the stack's bucket and deploys again
    with the worker function (--package, --memory MB: default 1024, near
    SDS-Inf's 1000 MB for 1024 neurons);
  * puts the model bundle, the plan (`sdsinf partition --out s3://..`) and
    the images in the bucket; `sdsinf infer --threads 2` gives the
    reference scores and categories;
  * per channel of --channels (default sqs, sns, s3): `sdsinf run
    --launcher lambda --stack S --channel CH --check GOLD --json`: the
    golden check, the scores and categories byte for byte equal to
    infer's, run and start-up seconds, the invocations and billed
    GB-seconds, the billable requests; then one run on 10,000 images (the
    6,000 and the first 4,000 again, ids shifted; --cost-images) for the
    cost per 10,000 images at list prices, by service (`sdsinf cost
    --json`: Lambda and communication), set against SDS-Inf's published
    $0.0215 (Queue) and $0.0539 (Object) for 10,000 images on 8 workers
    (../shared/data/sds-inf-reference/published-results.md): the goal is
    at most 1/5 of each;
  * destroys the stack.

The billed durations are what the workers took here: every worker, the
emulator and the coordinator share this machine's cores, so a worker's
duration is the whole run's wall time on a contended machine, not what it
would take on Lambda with its own vCPU; the communication's cost (requests
and their 64 KiB units) does not depend on that.  The machine's busy cores
during each run are reported.

Without $AWS_ENDPOINT_URL the program runs itself again under
tests/with_aws.sh (a private ministack on 127.0.0.1, checked empty at the
end).  Output: progress on stderr, a markdown table on stdout, --json FILE
with every figure.  Data or ministack absent: says so and exits 0.  Exit
1 if a run failed, missed the golden check or differed from infer
(--strict: also when the cost goal is missed).
"""

import argparse
import filecmp
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from bench_infer import busy_cores, log, tile_workload  # noqa: E402
from bench_run import data_args, real_data, run_json  # noqa: E402

WITH_AWS = os.path.join(ROOT, "tests", "with_aws.sh")
SDS_INF = {"queue": 0.0215, "object": 0.0539}  # $ per 10,000 images, 8 w
VARIANT = {"sqs": "queue", "sns": "queue", "s3": "object"}
COST_SHARE = 5  # the issue: at most 1/5 of SDS-Inf's
BILLABLE = ("send", "receive", "remove", "list")


def sdsinf(exe, *args, what, timeout=900):
    """Runs `exe args`; its last stdout line as JSON (or None), or dies
    saying what failed."""
    r = subprocess.run([exe, *args], capture_output=True, text=True,
                       timeout=timeout)
    if r.returncode != 0:
        sys.exit(f"bench_lambda: {what} failed (exit {r.returncode}): "
                 f"{r.stderr.strip()[-400:]}")
    lines = r.stdout.strip().splitlines()
    try:
        return json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        return None


def put(bucket, key, path):
    """Stores a file in the emulator's bucket (it checks no signature)."""
    with open(path, "rb") as f:
        req = urllib.request.Request(
            f"{os.environ['AWS_ENDPOINT_URL']}/{bucket}/{key}", data=f.read(),
            method="PUT")
    urllib.request.urlopen(req).read()


class Stack:
    """A deployed stack with the worker function; destroy() removes it."""

    def __init__(self, exe, name, workers, memory, work):
        self.exe, self.name = exe, name
        t0 = time.perf_counter()
        base = ["aws", "deploy", "--stack", name, "--max-workers",
                str(workers), "--json"]
        out = sdsinf(exe, *base, what="aws deploy")
        self.bucket = out["outputs"]["BucketName"]
        package = os.path.join(work, "package.zip")
        with zipfile.ZipFile(package, "w", zipfile.ZIP_DEFLATED) as z:
            info = zipfile.ZipInfo("bootstrap")
            info.external_attr = 0o100755 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            with open(exe, "rb") as f:
                z.writestr(info, f.read())
        put(self.bucket, "package/sdsinf.zip", package)
        out = sdsinf(exe, *base, "--package", "package/sdsinf.zip",
                     "--memory", str(memory), what="aws deploy --package")
        self.function = out["outputs"]["FunctionName"]
        self.deploy_s = time.perf_counter() - t0
        self.package_bytes = os.path.getsize(package)

    def destroy(self):
        t0 = time.perf_counter()
        sdsinf(self.exe, "aws", "destroy", "--stack", self.name, "--json",
               what="aws destroy")
        return time.perf_counter() - t0


def main():
    ap = argparse.ArgumentParser(
        description="the lambda launcher on the real data against the "
                    "emulator: golden check, invocations, requests, cost")
    data_args(ap)
    ap.add_argument("--channels", default="sqs,sns,s3")
    ap.add_argument("--memory", type=int, default=1024, metavar="MB",
                    help="the worker function's memory (default 1024)")
    ap.add_argument("--cost-images", type=int, default=10000,
                    help="images of each channel's cost run (0: none)")
    ap.add_argument("--stack", default="sdsinf-bench")
    ap.add_argument("--timeout", type=float, default=900, metavar="S")
    ap.add_argument("--json", metavar="FILE", dest="json_out")
    ap.add_argument("--strict", action="store_true",
                    help="exit 1 also when the cost goal is missed")
    args = ap.parse_args()
    found = real_data(args, args.neurons, args.layers, "lambda")
    if not found:
        return 0
    if not os.access(args.sdsinf, os.X_OK):
        sys.exit(f"bench_lambda: {args.sdsinf} not found; build it first "
                 "(cmake -S . -B build && cmake --build build -j)")
    if not os.environ.get("AWS_ENDPOINT_URL"):
        venvs = os.environ.get("SDSINF_VENVS", "/opt/sdsinf-venvs")
        if not os.access(os.path.join(venvs, "ministack", "bin", "ministack"),
                         os.X_OK):
            print(f"bench_lambda: skipped: no $AWS_ENDPOINT_URL and ministack "
                  f"is not installed in {venvs} (scripts/install-aws-tools.sh)")
            return 0
        log("bench_lambda: starting a private emulator (tests/with_aws.sh)")
        os.execv("/bin/bash", ["bash", WITH_AWS, sys.executable,
                               os.path.abspath(__file__), *sys.argv[1:]])
    with tempfile.TemporaryDirectory(prefix="bench_lambda.") as work:
        os.environ["SDSINF_SCRATCH"] = work
        stack = Stack(args.sdsinf, args.stack, args.workers, args.memory, work)
        try:
            runs, failures, setup = bench(args, stack, found, work)
        finally:
            destroy_s = stack.destroy()
        setup["destroy_s"] = round(destroy_s, 3)
    return report(args, stack, runs, failures, setup)


def bench(args, stack, found, work):
    exe, W, B = args.sdsinf, args.workers, stack.bucket
    weights, images, gold = found
    model, plan = f"s3://{B}/model.sdsinf", f"s3://{B}/plan"
    t0 = time.perf_counter()
    sdsinf(exe, "convert", "--weights", weights, "--layers", str(args.layers),
           "--out", model, "--json", what="convert")
    part = sdsinf(exe, "partition", "--weights", model, "--workers", str(W),
                  "--out", plan, "--json", what="partition")
    sets = {"6k": (images, gold)}
    if args.cost_images:
        copies = -(-args.cost_images // 6000)
        imgs, gimgs, _ = tile_workload(images, gold, copies, work,
                                       args.cost_images)
        sets["cost"] = (imgs, gimgs)
    for tag, (imgs, _) in sets.items():
        put(B, f"in/{tag}.tsv", imgs)
    setup = {"deploy_s": round(stack.deploy_s, 3),
             "package_bytes": stack.package_bytes,
             "upload_s": round(time.perf_counter() - t0, 3),
             "row_target_pairs": part.get("row_target_pairs"),
             "busy_before": busy_cores()}
    log(f"stack {stack.name}: deployed in {stack.deploy_s:.1f} s, data in "
        f"{setup['upload_s']:.1f} s")
    refs = {}
    for tag, (_, g) in sets.items():
        pre = os.path.join(work, f"{tag}-infer")
        sdsinf(exe, "infer", "--weights", model, "--images",
               f"s3://{B}/in/{tag}.tsv", "--threads", "2", "--check", g,
               "--json", "--quiet", "--scores", pre + ".scores",
               "--out", pre + ".cats", what=f"infer {tag}")
        refs[tag] = pre
    runs, failures = [], []
    for ch in [c for c in args.channels.split(",") if c]:
        for tag in sets:
            runs.append(one_run(args, stack, ch, tag, sets[tag][1], refs[tag],
                                work, failures))
    return runs, failures, setup


def one_run(args, stack, ch, tag, gold, ref, work, failures):
    """One run on Lambda over channel ch on image set `tag`: its figures."""
    B = stack.bucket
    pre = os.path.join(work, f"{tag}-{ch}")
    cmd = [args.sdsinf, "run", "--launcher", "lambda", "--stack", stack.name,
           "--channel", ch, "--weights", f"s3://{B}/model.sdsinf",
           "--images", f"s3://{B}/in/{tag}.tsv", "--plan", f"s3://{B}/plan",
           "--check", gold, "--json", "--scores", pre + ".scores",
           "--out", pre + ".cats"]
    res, _, wall, other, cpu, err = run_json(cmd, f"{ch} {tag}",
                                             args.timeout)
    # the machine's busy cores: the coordinator's, and the emulator's and
    # its workers' (not the coordinator's children), and any other work
    busy = None if other is None else round(other + cpu / wall, 2)
    r = {"channel": ch, "tag": tag, "wall_s": round(wall, 3),
         "busy_cores": busy}
    if res is None:
        failures.append(f"{ch} ({tag}): {err.strip()[-300:]}")
        return r
    with open(pre + ".json", "w") as f:
        json.dump(res, f)
    bill = sdsinf(args.sdsinf, "cost", pre + ".json", "--json",
                  what=f"cost {ch} {tag}")
    r.update({k: res.get(k) for k in ("seconds", "startup_seconds", "check",
                                      "images", "bytes_sent", "cost_usd",
                                      "peak_mb")})
    r["requests"] = res.get("requests") or {}
    r["lambda"] = res.get("lambda") or {}
    r["services"] = bill.get("services") or {}
    r["equal_infer"] = (filecmp.cmp(pre + ".scores", ref + ".scores", False)
                        and filecmp.cmp(pre + ".cats", ref + ".cats", False))
    if r["check"] != "pass" or not r["equal_infer"]:
        failures.append(f"{ch} ({tag}): check {r['check']}, equal to infer: "
                        f"{r['equal_infer']}")
    log(f"  {ch:4s} {tag:4s} {r['seconds']:.2f} s (start-up "
        f"{r['startup_seconds']:.2f}, wall {wall:.1f}), check {r['check']}, "
        f"equal {r['equal_infer']}, {r['lambda'].get('invocations')} "
        f"invocations, {r['lambda'].get('gb_seconds', 0):.1f} GB-s, "
        f"${r['cost_usd']:.5f}")
    return r


def per_10k(r):
    """A run's dollars by part, scaled to 10,000 images."""
    k = 10000 / r["images"]
    s = r["services"]
    comm = sum(s.get(x, 0) for x in ("sqs", "sns", "s3"))
    return {"total": r["cost_usd"] * k, "lambda": s.get("lambda", 0) * k,
            "comm": comm * k}


def report(args, stack, runs, failures, setup):
    p = print
    ok = [r for r in runs if r.get("check")]
    p(f"\n## The lambda launcher: {args.neurons} neurons x {args.layers} "
      f"layers, {args.workers} workers, hypergraph plan "
      f"({setup['row_target_pairs'] or 0:,} row-target pairs), function "
      f"{stack.function} at {args.memory} MB, on the emulator\n")
    p(f"Deploy {setup['deploy_s']} s (package {setup['package_bytes']:,} "
      f"bytes), destroy {setup['destroy_s']} s. $/10k: the run on "
      f"{args.cost_images:,} images (else the 6,000, scaled), by `sdsinf "
      "cost` at the price table's list prices; Lambda's share bills the "
      "durations the workers took on this shared machine; warm: the "
      "invocations a warm process served with the plan it held; peak MB: "
      "the largest worker process's peak resident memory.\n")
    p("| channel | images | check | = infer | run s | start-up s | "
      "invocations | warm | GB-s | peak MB | requests | units | cost_usd | $/10k | "
      "Lambda $/10k | comm $/10k | SDS-Inf $/10k | share |")
    p("|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
      "---:|---:|---:|---:|")
    targets = []
    for ch in [c for c in args.channels.split(",") if c]:
        mine = [r for r in ok if r["channel"] == ch]
        cost = next((r for r in mine if r["tag"] == "cost"),
                    next((r for r in mine if r["tag"] == "6k"), None))
        for r in mine:
            q, lam = r["requests"], r["lambda"]
            d = per_10k(r) if r is cost else None
            sds = SDS_INF[VARIANT[ch]]
            share = f"1/{sds / d['total']:.1f}" if d else ""
            p(f"| {ch} | {r['images']:,} | {r['check']} | "
              f"{'yes' if r['equal_infer'] else 'NO'} | {r['seconds']:.2f} | "
              f"{r['startup_seconds']:.2f} | {lam.get('invocations')} | "
              f"{lam.get('warm', '')} | {lam.get('gb_seconds', 0):.1f} | "
              f"{r.get('peak_mb') or ''} | "
              f"{sum(q.get(k, 0) for k in BILLABLE):,} | "
              f"{q.get('units', 0):,} | ${r['cost_usd']:.5f} | "
              + (f"${d['total']:.5f} | ${d['lambda']:.5f} | ${d['comm']:.5f}"
                 f" | ${sds} | {share} |" if d else "| | | | |"))
        if cost:
            d = per_10k(cost)
            sds = SDS_INF[VARIANT[ch]]
            targets.append({"channel": ch, "usd_10k": d, "sds_inf_usd_10k": sds,
                            "met": d["total"] * COST_SHARE <= sds,
                            "comm_met": d["comm"] * COST_SHARE <= sds})
    p("\n### Targets (cost per 10,000 images <= 1/5 of SDS-Inf's)\n")
    for t in targets:
        d = t["usd_10k"]
        p(f"* {t['channel']}: ${d['total']:.5f} against ${t['sds_inf_usd_10k']}"
          f" / {COST_SHARE} = ${t['sds_inf_usd_10k'] / COST_SHARE:.5f}: "
          f"**{'met' if t['met'] else 'NOT met'}** (communication alone "
          f"${d['comm']:.5f}: {'met' if t['comm_met'] else 'NOT met'})")
    busy = [f"{r['channel']} ({r['tag']}) {r['busy_cores']}" for r in runs
            if r.get("busy_cores") is not None]
    if busy:
        p(f"\nThe machine's busy cores while each ran (of {os.cpu_count()}; "
          "the coordinator, the emulator, its worker processes and any other "
          "work; before the runs: "
          f"{setup['busy_before'] or 0:.2f}): " + "; ".join(busy))
    for f in failures:
        p(f"\nFAILED: {f}")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"bench": "lambda", "setup": setup, "runs": runs,
                       "targets": targets, "failures": failures,
                       "memory_mb": args.memory, "workers": args.workers,
                       "function": stack.function}, f, indent=1)
    if failures:
        return 1
    return 1 if args.strict and not all(t["met"] for t in targets) else 0


if __name__ == "__main__":
    sys.exit(main())
