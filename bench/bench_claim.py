#!/usr/bin/env python3
"""The claim check of sqs and sns against chunks: block by block, then on
the real data.

Sizes (build/claim_sizes, bench/claim_sizes.c): --repeats blocks of each
of --sizes KiB (default 64 .. 4096) go from one worker to another through
the sqs and the sns channel with claim=off (blocks over a message's limit
as chunks), claim=always (every such block one S3 object, the queue
carrying a pointer) and claim=auto (the channel's choice by size: chunks
up to the break-even, the object over it).  Per size and setting: the
billable requests of a block by kind (sends or publishes and their 64 KiB
units, receives, deletes, S3 PUT and GET), its bytes, its dollars at list
prices (`sdsinf cost` under prices/aws.json) and its seconds; and whether
auto took the cheaper of chunks and object (within 0.5% either is right).
The run's own requests (its queues, topic, bucket; the objects' listing
and DeleteObjects at its end) are shown apart.

Real data (bench/bench_channels.py): the 1024 x 120 network on
--real-workers workers (2) with the --real-method plan (block) on the
6,000 images tiled --real-tile times (10: 60,000 images in one batch, so
some blocks exceed 256 KiB), on sqs and sns with claim=off and
claim=auto: golden categories, scores and categories equal to `sdsinf
infer` byte for byte, requests and cost.  --real-tile 0 leaves it out.

Against $AWS_ENDPOINT_URL; without it the program runs itself again under
tests/with_aws.sh (a private ministack on 127.0.0.1, checked empty at the
end).  Output: progress on stderr, markdown tables on stdout, --json FILE
with every figure.  Exit 1 when auto took the dearer at some size, a block
was lost or differed, or a real-data run failed its check or differed
from infer.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from bench_channels import under_emulator  # noqa: E402
from bench_infer import log  # noqa: E402

MODES = ("off", "always", "auto")
SIZES_KIB = "64,128,192,256,280,300,330,384,440,460,512,768,1024,2048,3072,4096"
TIE = 0.005  # off and always within 0.5% of each other: either is right


def sizes_of(exe, channel, mode, sizes, repeats, timeout):
    """claim_sizes' lines for one channel and setting: (per size, run)."""
    cmd = [exe, "--channel", channel, "--config", f"claim={mode}",
           "--sizes", ",".join(str(b) for b in sizes),
           "--repeats", str(repeats)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: exit {p.returncode}: "
                           f"{p.stderr.strip()[-400:]}")
    lines = [json.loads(x) for x in p.stdout.splitlines() if x.strip()]
    return [x for x in lines if "size" in x], \
        next(x["run"] for x in lines if "run" in x)


def usd_of(sdsinf, channel, requests, bytes_sent, tmp):
    """`sdsinf cost` of these requests as a run on `channel`: its total and
    by service."""
    rec = os.path.join(tmp, "record.json")
    with open(rec, "w") as f:
        json.dump({"channel": channel, "workers": 2, "bytes_sent": bytes_sent,
                   "requests": requests}, f)
    p = subprocess.run([sdsinf, "cost", rec, "--json"], capture_output=True,
                       text=True)
    if p.returncode != 0:
        raise RuntimeError(f"sdsinf cost: {p.stderr.strip()[-300:]}")
    res = json.loads(p.stdout.splitlines()[-1])
    return res["cost_usd"], res["services"], res["prices"]


def per_block(x):
    """A size's figures per block: requests by kind, bytes, seconds."""
    n, q = x["blocks"], x["requests"]
    return {"message_bytes": x["message_bytes"], "chunks": x["chunks"],
            "bytes": x["bytes_sent"] / n, "seconds": x["seconds"],
            "send": q["send"] / n, "send_units": q["send_units"] / n,
            "receive": q["receive"] / n,
            "receive_units": (q["units"] - q["send_units"] - q["remove"]) / n,
            "delete": q["remove"] / n, "s3_put": q["s3_put"] / n,
            "s3_get": q["s3_get"] / n}


def verdict(off, always, auto):
    """What auto took, which was cheaper, and whether auto was right."""
    took = ("message" if off["chunks"] == 1 and not auto["s3_put"]
            else "object" if auto["s3_put"] == 1
            else "chunks" if not auto["s3_put"] and auto["chunks"] > 1
            else "mixed")
    lo = min(off["usd"], always["usd"])
    if took == "message":
        cheaper = "message"
    elif abs(off["usd"] - always["usd"]) <= TIE * lo:
        cheaper = "tie"
    else:
        cheaper = "chunks" if off["usd"] < always["usd"] else "object"
    return took, cheaper, took == cheaper or cheaper == "tie"


def sweep(args, claim_exe, tmp):
    """Every channel, setting and size: the rows, the runs' own, failures."""
    sizes = [int(k) * 1024 for k in args.sizes.split(",") if k]
    rows, runs, failures, prices = [], [], [], None
    for ch in [c for c in args.channels.split(",") if c]:
        got = {}
        for mode in MODES:
            log(f"sizes: {ch} claim={mode}")
            try:
                per, run = sizes_of(claim_exe, ch, mode, sizes, args.repeats,
                                    args.timeout)
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                failures.append(f"{ch} claim={mode}: {e}")
                continue
            for x in per:
                b = per_block(x)
                usd, svc, prices = usd_of(args.sdsinf, ch, x["requests"],
                                          x["bytes_sent"], tmp)
                b["usd"], b["services"] = usd / x["blocks"], svc
                got[(mode, x["size"])] = b
            usd, svc, _ = usd_of(args.sdsinf, ch, run, 0, tmp)
            runs.append({"channel": ch, "mode": mode, "requests": run,
                         "usd": usd, "services": svc})
        for size in sizes:
            off, always, auto = (got.get((m, size)) for m in MODES)
            if not (off and always and auto):
                continue
            took, cheaper, ok = verdict(off, always, auto)
            if not ok:
                failures.append(f"{ch} {size // 1024} KiB: claim=auto took "
                                f"the {took} (${auto['usd'] * 1e6:.2f} per "
                                f"million blocks), the {cheaper} was cheaper")
            rows.append({"channel": ch, "size": size, "off": off,
                         "always": always, "auto": auto, "auto_took": took,
                         "cheaper": cheaper, "ok": ok})
    return rows, runs, failures, prices


def real(args, tmp):
    """bench_channels.py on the real data with big blocks: its JSON, or
    None (with the failure) when it could not run."""
    out = os.path.join(tmp, "real.json")
    cmd = [sys.executable, os.path.join(ROOT, "bench", "bench_channels.py"),
           "--sdsinf", args.sdsinf, "--data", args.data,
           "--workers", str(args.real_workers), "--method", args.real_method,
           "--tile", str(args.real_tile), "--repeats", str(args.real_repeats),
           "--channels", "sqs,sqs-claim,sns,sns-claim", "--cost-images", "0",
           "--delay-ms", "", "--json", out, "--timeout", str(args.timeout)]
    log(f"real data: {' '.join(cmd[1:])}")
    p = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    if not os.path.exists(out):
        return None, [f"bench_channels.py: exit {p.returncode}, no figures"]
    with open(out) as f:
        res = json.load(f)
    if res.get("skipped"):
        log(f"real data: skipped: {res['skipped']}")
        return None, []
    return res, res.get("failures", []) + (
        [f"bench_channels.py: exit {p.returncode}"] if p.returncode else [])


def m(usd):
    """Dollars per million blocks."""
    return f"{usd * 1e6:.2f}"


def report(args, rows, runs, prices, res):
    if rows:
        sizes_tables(args, rows, runs, prices)
    if res:
        real_table(res)


def sizes_tables(args, rows, runs, prices):
    p = print
    p(f"\n## The claim check against chunks, block by block ({args.repeats} "
      f"blocks of each size, one worker to another; prices: {prices})\n")
    p("Per block: requests (send: SendMessageBatch / PublishBatch with its "
      "64 KiB units; receive: ReceiveMessage with its units; delete: "
      "DeleteMessageBatch), S3 PUT and GET, and $ per million blocks at "
      "list prices; s: seconds per block over the emulator (encode to the "
      "last chunk in; noisy); auto took: chunks, one object, or one "
      "message (under the limit, no choice).\n")
    for ch in args.channels.split(","):
        mine = [r for r in rows if r["channel"] == ch]
        if not mine:
            continue
        p(f"### {ch}\n")
        p("| KiB | message bytes | chunks | off: send (units) | receive "
          "(units) | delete | off $/M | off s | always: PUT, GET | send, "
          "receive (units) | always $/M | always s | auto took | auto $/M "
          "| auto s | cheaper | ok |")
        p("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"
          "---:|---:|---|---|")
        for r in mine:
            o, a, u = r["off"], r["always"], r["auto"]
            p(f"| {r['size'] // 1024} | {o['message_bytes']:,} | "
              f"{o['chunks']} | {o['send']:g} ({o['send_units']:g}) | "
              f"{o['receive']:g} ({o['receive_units']:g}) | {o['delete']:g} "
              f"| {m(o['usd'])} | {o['seconds']:.3f} | {a['s3_put']:g}, "
              f"{a['s3_get']:g} | {a['send']:g} ({a['send_units']:g}), "
              f"{a['receive']:g} ({a['receive_units']:g}) | {m(a['usd'])} | "
              f"{a['seconds']:.3f} | {r['auto_took']} | {m(u['usd'])} | "
              f"{u['seconds']:.3f} | {r['cheaper']} | "
              f"{'yes' if r['ok'] else 'NO'} |")
        p("")
    p("The run's own requests (queues, topic and subscriptions; with a "
      "claim check its bucket, and at its end ListObjectsV2 and one "
      "DeleteObjects per 1,000 objects):\n")
    p("| channel | claim | requests | S3 CreateBucket, ListObjectsV2, "
      "DeleteObjects + DeleteBucket | $ |")
    p("|---|---|---|---|---:|")
    for r in runs:
        q = r["requests"]
        p(f"| {r['channel']} | {r['mode']} | {q['send']} send, {q['list']} "
          f"list, {q['remove']} remove | {q['s3_put']}, {q['s3_list']}, "
          f"{q['s3_remove']} | {r['usd']:.7f} |")
    p(f"\nclaim=auto took the cheaper at every size: "
      f"**{'yes' if all(r['ok'] for r in rows) else 'NO'}**")


def real_table(res):
    p = print
    p(f"\n## Real data: {res['neurons']} x {res['layers']}, "
      f"{6000 * res['tile']:,} images in one batch, {res['workers']} "
      f"workers, {res['method']} plan\n")
    p("| channel | config | check | = infer | run s | messages | bytes | "
      "send | receive | delete | units | S3 PUT | S3 GET | cost_usd |")
    p("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in res["runs"]:
        if not r or "seconds" not in r:
            continue
        q = r["requests"]
        p(f"| {r['channel']} | {r['config'] or 'claim=off'} | {r['check']} | "
          f"{'yes' if r['equal_infer'] else 'NO'} | {r['seconds']:.2f} | "
          f"{r['messages_sent']:,} | {r['bytes_sent']:,} | {q['send']:,} | "
          f"{q['receive']:,} | {q['remove']:,} | {q['units']:,} | "
          f"{q['s3_put']:,} | {q['s3_get']:,} | {r['cost_usd']:.6f} |")


def main():
    ap = argparse.ArgumentParser(
        description="the claim check of sqs and sns against chunks: per "
                    "block size, and on the real data")
    ap.add_argument("--sdsinf", default=os.path.join(ROOT, "build", "sdsinf"))
    ap.add_argument("--claim-sizes",
                    default=os.path.join(ROOT, "build", "claim_sizes"))
    ap.add_argument("--data", default=os.path.join(
        ROOT, "..", "shared", "data", "graphchallenge"))
    ap.add_argument("--channels", default="sqs,sns",
                    help="the channels of the sizes ('': none)")
    ap.add_argument("--sizes", default=SIZES_KIB,
                    help=f"block sizes in KiB (default {SIZES_KIB})")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--real-workers", type=int, default=2)
    ap.add_argument("--real-method", default="block")
    ap.add_argument("--real-repeats", type=int, default=1)
    ap.add_argument("--real-tile", type=int, default=10,
                    help="the 6,000 images this many times over (0: no "
                         "real-data run)")
    ap.add_argument("--timeout", type=float, default=900, metavar="S")
    ap.add_argument("--json", metavar="FILE", dest="json_out")
    args = ap.parse_args()
    for exe in (args.sdsinf, args.claim_sizes):
        if not os.access(exe, os.X_OK):
            sys.exit(f"bench_claim: {exe} not found; build first (cmake -S . "
                     "-B build && cmake --build build -j)")
    why = under_emulator(__file__, "bench_claim")
    if why:
        print(f"bench_claim: skipped: {why}")
        return 0
    with tempfile.TemporaryDirectory(prefix="bench_claim.") as tmp:
        rows, runs, failures, prices = sweep(args, args.claim_sizes, tmp)
        res = None
        if args.real_tile > 0:
            res, bad = real(args, tmp)
            failures += bad
    report(args, rows, runs, prices, res)
    for f in failures:
        print(f"\nFAILED: {f}")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"bench": "claim",
                       "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
                       "emulator": os.environ.get("SDSINF_AWS_EMULATOR"),
                       "repeats": args.repeats, "prices": prices,
                       "sizes": rows, "runs": runs, "real": res,
                       "failures": failures}, f, indent=1)
        log(f"figures written to {args.json_out}")
    return 1 if failures or (args.channels and not rows) else 0


if __name__ == "__main__":
    sys.exit(main())
