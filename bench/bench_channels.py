#!/usr/bin/env python3
"""Every channel on the real data: answers, time, requests and cost.

In one invocation, on the GraphChallenge data (1024 neurons, 120 layers, the
first 6,000 images, or --tile K times that many), W workers (default 8)
and the hypergraph plan (--method):

  * `sdsinf infer --threads 2` once per repeat: the reference scores and
    categories, and the time to beat;
  * every channel of --channels (default: the baselines local, mem, fs and
    redis, then sqs, sns, s3 in both layouts and the claim-check hybrids of
    sqs and sns) --repeats times, interleaved, as
    `sdsinf run --plan HYPERGRAPH --check GOLD --json --metrics PREFIX
    --scores S --out C`: the golden check, the scores and categories byte
    for byte equal to infer's, run and start-up seconds, the billable
    requests by kind (the run JSON's `requests`) and per layer (the
    metrics' REQUESTS_* columns), `cost_usd` and, from one more run of each
    AWS channel on 10,000 images (the 6,000 and the first 4,000 again,
    ids shifted; --cost-images), the cost per 10,000 images measured, set
    against SDS-Inf's (Queue $0.0122, Object $0.0455 at 8 workers;
    ../shared/data/sds-inf-reference/published-results.md);
  * the latency simulation: the --delay-channels run again behind
    tests/aws_throttle_proxy.py --delay-ms D for each D of --delay-ms
    (default 0, 10 and 30; 0 is the proxy's own cost, the reference), the
    seconds they add set against the floor of layers x one round trip and
    against every worker's requests made one after another (what no
    pipelining would cost).

The AWS channels talk to $AWS_ENDPOINT_URL; without it the program runs
itself again under tests/with_aws.sh (a private ministack on 127.0.0.1,
checked empty at the end), and where ministack is not installed it leaves
the AWS channels out, saying so.  A private redis-server serves channel
redis (as in bench_run.py).  A channel whose setting the build refuses
(the hybrids' claim= before that branch is merged) is skipped with the
error.  --define LABEL=LAUNCHER/CHANNEL[:CONFIG] adds a channel of one's own.

Output: progress on stderr, markdown tables on stdout, --json FILE with every
figure.  Exit 1 if a run failed, missed the golden check or differed from
infer (--strict: also when a target is missed).
"""

import argparse
import filecmp
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "bench"))
from bench_infer import busy_cores, log, tile_workload  # noqa: E402
from bench_run import (CONTENDED, PrivateRedis, data_args,  # noqa: E402
                       layer_groups, make_model, make_plan, read_layers,
                       real_data, run_json)

PROXY = os.path.join(ROOT, "tests", "aws_throttle_proxy.py")
WITH_AWS = os.path.join(ROOT, "tests", "with_aws.sh")
AWS_CHANNELS = ("sqs", "sns", "s3")
# label: (launcher, channel, --channel-config or None); {work} and {redis}
# are filled in
PRESETS = {
    "local": ("local", "local", None),
    "mem": ("threads", "mem", None),
    "fs": ("local", "fs", "{work}/fs"),
    "redis": ("local", "redis", "{redis}"),
    "sqs": ("local", "sqs", None),
    "sns": ("local", "sns", None),
    "s3-source": ("local", "s3", "layout=source"),
    "s3-pair": ("local", "s3", "layout=pair"),
    "sqs-claim": ("local", "sqs", "claim=auto"),
    "sns-claim": ("local", "sns", "claim=auto"),
}
# SDS-Inf at 1024 neurons, 8 workers, 10,000 images, one batch
# (published-results.md 2.1 and 2.2; master_metrics_c1_1024n_8w_10000bs_queue.csv)
SDS_INF = {"queue": {"usd_10k": 0.0122, "publish": 1102, "receive": 4318},
           "object": {"usd_10k": 0.0455}}
COST_SHARE = 5       # the issue: cost per 10,000 images <= 1/5 of SDS-Inf's
REQUEST_SHARE = 2    # sns: publish + receive <= 1/2 of SDS-Inf's
KINDS = ("send", "receive", "empty", "remove", "list", "retries", "units")


def variant(channel):
    """SDS-Inf's variant a channel is set against, or None."""
    return {"sqs": "queue", "sns": "queue", "s3": "object"}.get(channel)


def billable(req):
    """A request map's billable calls (retries and units apart)."""
    return sum(req.get(k, 0) for k in ("send", "receive", "empty", "remove",
                                       "list"))


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def f3(x):
    return "-" if x is None else f"{x:.3f}"


def usd(x):
    return "-" if x is None else f"${x:.5f}"


def under_emulator(script, name, before=None):
    """With $AWS_ENDPOINT_URL set: None.  Else, where ministack is
    installed, runs `script` again with this program's arguments under
    tests/with_aws.sh (a private emulator on 127.0.0.1, checked empty at the
    end), calling `before` first; it does not return.  Else why not."""
    if os.environ.get("AWS_ENDPOINT_URL"):
        return None
    venvs = os.environ.get("SDSINF_VENVS", "/opt/sdsinf-venvs")
    if not os.access(os.path.join(venvs, "ministack", "bin", "ministack"),
                     os.X_OK):
        return (f"no $AWS_ENDPOINT_URL and ministack is not installed in "
                f"{venvs} (scripts/install-aws-tools.sh)")
    if before:
        before()
    log(f"{name}: starting a private emulator (tests/with_aws.sh)")
    os.execv("/bin/bash", ["bash", WITH_AWS, sys.executable,
                           os.path.abspath(script), *sys.argv[1:]])


def parse_channels(args, work):
    """The entries to run: [{label, launcher, channel, config}]."""
    table = dict(PRESETS)
    for d in args.define:
        label, _, rest = d.partition("=")
        spec, _, config = rest.partition(":")
        la, _, ch = spec.partition("/")
        if not (label and la and ch):
            sys.exit(f"bench_channels: --define wants LABEL=LAUNCHER/CHANNEL"
                     f"[:CONFIG], not {d!r}")
        table[label] = (la, ch, config or None)
    out = []
    for label in [x for x in args.channels.split(",") if x]:
        if label not in table:
            sys.exit(f"bench_channels: unknown channel {label!r}: one of "
                     f"{', '.join(table)} or --define it")
        la, ch, config = table[label]
        if config:
            config = config.replace("{work}", work)
        out.append({"label": label, "launcher": la, "channel": ch,
                    "config": config})
    return out


def main():
    ap = argparse.ArgumentParser(
        description="every channel on the real data: golden check, equality "
                    "with infer, time, requests by kind and layer, cost")
    data_args(ap)
    ap.add_argument("--method", default="hypergraph",
                    help="the plan's partitioner (hypergraph, block, random)")
    ap.add_argument("--tile", type=int, default=1, metavar="K",
                    help="run on the 6,000 images K times over (ids and "
                         "golden ids shifted; bigger blocks; default 1)")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--channels", default=",".join(PRESETS),
                    help="comma-separated labels, run in this order "
                         f"(default all: {','.join(PRESETS)})")
    ap.add_argument("--define", action="append", default=[],
                    metavar="LABEL=LAUNCHER/CHANNEL[:CONFIG]",
                    help="a channel entry of one's own (repeatable), e.g. "
                         "sqs-always=local/sqs:claim=always")
    ap.add_argument("--delay-ms", default="0,10,30",
                    help="per-request delays of the latency simulation "
                         "(comma-separated ms; 0: through the proxy with "
                         "no delay, the reference; '' for none)")
    ap.add_argument("--delay-channels", default="sns,s3-source",
                    help="the entries run behind the delaying proxy")
    ap.add_argument("--cost-images", type=int, default=10000,
                    help="images of the cost run of each AWS channel "
                         "(0: none; default 10000)")
    ap.add_argument("--redis-server", default="redis-server")
    ap.add_argument("--timeout", type=float, default=600, metavar="S")
    ap.add_argument("--work", metavar="DIR",
                    help="work directory, kept (default a temporary one)")
    ap.add_argument("--reuse", action="store_true",
                    help="with --work: reuse its bundle and plan")
    ap.add_argument("--json", metavar="FILE", dest="json_out")
    ap.add_argument("--strict", action="store_true",
                    help="exit 1 also when a target is missed")
    args = ap.parse_args()
    args.work = os.path.abspath(args.work) if args.work else None

    n, nl = args.neurons, args.layers
    found = real_data(args, n, nl, "channels")
    if not found:
        return 0
    weights, images, gold = found
    if not os.access(args.sdsinf, os.X_OK):
        sys.exit(f"bench_channels: {args.sdsinf} not found; build it first "
                 "(cmake -S . -B build && cmake --build build -j)")
    work = args.work or tempfile.mkdtemp(prefix="bench_channels.")
    os.makedirs(work, exist_ok=True)
    entries = parse_channels(args, work)
    skipped = []
    if any(e["channel"] in AWS_CHANNELS for e in entries):
        def drop_work():  # the rerun makes its own
            if not args.work:
                shutil.rmtree(work, ignore_errors=True)
        why = under_emulator(__file__, "bench_channels", drop_work)
        if why:
            skipped += [f"{e['label']}: {why}" for e in entries
                        if e["channel"] in AWS_CHANNELS]
            entries = [e for e in entries
                       if e["channel"] not in AWS_CHANNELS]
    redis = None
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        if any(e["channel"] == "redis" for e in entries):
            if shutil.which(args.redis_server):
                redis = PrivateRedis(args.redis_server,
                                     os.path.join(work, "redis"))
                url = redis.start()
            else:
                redis, url = None, None
            for e in [e for e in entries if e["channel"] == "redis"]:
                if url:
                    e["config"] = e["config"].replace("{redis}", url)
                else:
                    skipped.append(f"{e['label']}: no redis-server "
                                   "(apt-get install redis-server)")
                    entries.remove(e)
        return bench(args, entries, skipped, weights, images, gold, work,
                     redis)
    finally:
        if redis:
            redis.stop()
        if not args.work:
            shutil.rmtree(work, ignore_errors=True)


def bench(args, entries, skipped, weights, images, gold, work, redis):
    exe, n, nl, W = args.sdsinf, args.neurons, args.layers, args.workers
    reuse = args.reuse and args.work
    model = os.path.join(work, f"n{n}-l{nl}.sdsinf")
    make_model(exe, weights, nl, model, reuse)
    plan = make_plan(exe, model, W, args.method, args.method, work, reuse)
    if args.tile > 1:
        images, gold, _ = tile_workload(images, gold, args.tile, work)
    out = os.path.join(work, "out")
    os.makedirs(out, exist_ok=True)
    aux = [redis.proc.pid] if redis and redis.proc else []
    failures, runs = [], []
    busy_before = busy_cores()

    def infer(imgs, tag):
        """infer --threads 2 on imgs: its JSON and wall; the reference
        scores and categories in out/TAG-infer.{scores,cats}.tsv."""
        pre = os.path.join(out, f"{tag}-infer")
        res, _, wall, other, _, err = run_json(
            [exe, "infer", "--weights", model, "--images", imgs,
             "--threads", "2", "--check", gold_of[imgs], "--json", "--quiet",
             "--scores", pre + ".scores.tsv", "--out", pre + ".cats.tsv"],
            "infer", args.timeout)
        if res is None or res.get("check") != "pass":
            failures.append(f"infer {tag}: {err.strip()[-300:] or res}")
        return res, pre, wall, other

    def run(e, imgs, tag, delay=None):
        """One sdsinf run of entry e on imgs (behind the delaying proxy with
        `delay` ms); its figures, or None where the entry is skipped."""
        pre = os.path.join(out, f"{tag}-{e['label']}")
        for suffix in (".csv", "-layers.csv", ".json", ".scores.tsv",
                       ".cats.tsv", ".proxy"):
            if os.path.exists(pre + suffix):
                os.remove(pre + suffix)
        cmd = [exe, "run", "--weights", model, "--images", imgs,
               "--workers", str(W), "--plan", plan["dir"],
               "--launcher", e["launcher"], "--channel", e["channel"],
               "--check", gold_of[imgs], "--json", "--metrics", pre,
               "--scores", pre + ".scores.tsv", "--out", pre + ".cats.tsv"]
        if e["config"]:
            cmd += ["--channel-config", e["config"]]
        if delay is not None:
            cmd = [sys.executable, PROXY, "--delay-ms", str(delay),
                   "--stats", pre + ".proxy", "--"] + cmd
        res, rss, wall, other, cpu, err = run_json(cmd, e["label"],
                                                   args.timeout, aux_pids=aux)
        if res is None and "bad setting" in err:
            line = next(x for x in err.splitlines() if "bad setting" in x)
            skipped.append(f"{e['label']}: this build refuses its setting "
                           f"({line.strip()})")
            return None
        r = {"label": e["label"], "tag": tag, "launcher": e["launcher"],
             "channel": e["channel"], "config": e["config"],
             "delay_ms": delay, "wall_s": round(wall, 3),
             "cpu_s": round(cpu, 3), "other_cores": other}
        if res is None:
            failures.append(f"{e['label']} ({tag}): no result: "
                            f"{err.strip()[-300:]}")
            return r
        ref = ref_of[imgs]
        r.update({k: res.get(k) for k in (
            "seconds", "startup_seconds", "check", "images", "bytes_sent",
            "messages_sent", "bytes_per_image", "duplicates", "cost_usd")})
        r["requests"] = res.get("requests") or {}
        r["equal_infer"] = (
            filecmp.cmp(pre + ".scores.tsv", ref + ".scores.tsv", False)
            and filecmp.cmp(pre + ".cats.tsv", ref + ".cats.tsv", False))
        if r["check"] != "pass" or not r["equal_infer"]:
            failures.append(f"{e['label']} ({tag}): check {r['check']}, "
                            f"equal to infer: {r['equal_infer']}")
        per, _ = read_layers(pre, nl)
        if per:
            r["layer_requests"] = [p["requests"] for p in per]
        if delay is not None and os.path.exists(pre + ".proxy"):
            with open(pre + ".proxy") as f:
                r["proxy"] = json.load(f)
        log(f"  {e['label']:10s} {tag:6s} {f3(r['seconds'])} s (start-up "
            f"{f3(r['startup_seconds'])}, wall {wall:.2f}), check "
            f"{r['check']}, equal {r['equal_infer']}, "
            f"{billable(r['requests']):,} requests, {usd(r['cost_usd'])}")
        return r

    gold_of, ref_of = {images: gold}, {}
    infers = []
    for rep in range(args.repeats):
        log(f"repeat {rep + 1}/{args.repeats}:")
        res, pre, wall, other = infer(images, "6k")
        ref_of[images] = pre
        infers.append({"seconds": (res or {}).get("seconds"),
                       "wall_s": round(wall, 3), "other_cores": other})
        for e in list(entries):
            r = run(e, images, "6k")
            if r is None:
                entries.remove(e)
            else:
                runs.append(r)
    aws = [e for e in entries if e["channel"] in AWS_CHANNELS]
    if args.cost_images and aws:
        log(f"cost runs on {args.cost_images:,} images:")
        copies = -(-args.cost_images // 6000)
        imgs, gimgs, _ = tile_workload(images, gold, copies, work,
                                       args.cost_images)
        gold_of[imgs] = gimgs
        _, ref_of[imgs], _, _ = infer(imgs, "cost")
        for e in aws:
            runs.append(run(e, imgs, "cost"))
    delays = [float(x) for x in args.delay_ms.split(",") if x]
    delayed = [e for e in entries
               if e["label"] in args.delay_channels.split(",")]
    if delays and delayed:
        log("latency simulation:")
        for d in delays:
            for e in delayed:
                runs.append(run(e, images, f"{d:g}ms", d))
    return report(args, entries, skipped, runs, infers, plan, failures,
                  busy_before)


def summarize(args, entries, runs, infers):
    """Per entry: medians of its 6,000-image runs, its cost run and its
    delayed runs; the targets."""
    nl, W = args.layers, args.workers
    rows = []
    inf = median([x["seconds"] for x in infers])
    for e in entries:
        mine = [r for r in runs if r and r["label"] == e["label"]]
        base = [r for r in mine if r["tag"] == "6k" and "seconds" in r]
        if not base:
            continue
        row = {k: e[k] for k in ("label", "launcher", "channel", "config")}
        row["n"] = len(base)
        for k in ("seconds", "startup_seconds", "wall_s", "cost_usd",
                  "bytes_per_image"):
            row[k] = median([r.get(k) for r in base])
        row["over_infer"] = (row["seconds"] / inf
                             if row["seconds"] and inf else None)
        row["checks"] = sorted({str(r["check"]) for r in base})
        row["equal_infer"] = all(r["equal_infer"] for r in base)
        row["requests"] = {k: median([r["requests"].get(k) for r in base])
                           for k in KINDS}
        row["requests_samples"] = [r["requests"] for r in base]
        row["layer_requests"] = base[0].get("layer_requests")
        cost = next((r for r in mine if r["tag"] == "cost"
                     and r.get("cost_usd") is not None), None)
        if cost:
            row["cost_run"] = {k: cost.get(k) for k in (
                "images", "seconds", "check", "equal_infer", "cost_usd",
                "requests")}
            row["usd_10k"] = cost["cost_usd"] * 10000 / cost["images"]
        v = variant(e["channel"])
        if v and row.get("usd_10k") is not None:
            ref = SDS_INF[v]["usd_10k"]
            row["sds_inf_usd_10k"] = ref
            row["sds_inf_ratio"] = ref / row["usd_10k"] if row["usd_10k"] \
                else None
        lat = []
        delayed = [r for r in mine if r["delay_ms"] is not None
                   and r.get("seconds") is not None]
        ref = median([r["seconds"] for r in delayed if r["delay_ms"] == 0])
        for r in delayed:
            d = r["delay_ms"] / 1e3
            if not d:
                continue
            reqs = (r.get("proxy") or {}).get("requests")
            lat.append({
                "delay_ms": r["delay_ms"], "seconds": r["seconds"],
                "added_s": r["seconds"] - (ref or row["seconds"]),
                "floor_s": nl * d,
                "over_floor": r["seconds"] / (nl * d),
                "proxy_requests": reqs,
                "serial_s": reqs * d / W if reqs else None,
                "check": r["check"], "equal_infer": r["equal_infer"]})
        row["latency"] = lat
        row["proxied_seconds"] = ref
        rows.append(row)
    return rows, inf


def targets_of(rows):
    """The issue's targets, each with its figure and verdict."""
    out = []
    for row in rows:
        out.append({"what": f"{row['label']}: golden categories and equal "
                            "to infer bit for bit",
                    "figure": f"check {'/'.join(row['checks'])}, equal "
                              f"{row['equal_infer']}",
                    "met": row["checks"] == ["pass"] and row["equal_infer"]})
        if row["channel"] == "sns":
            q = SDS_INF["queue"]
            limit = (q["publish"] + q["receive"]) // REQUEST_SHARE
            got = (row["requests"]["send"] or 0) + \
                (row["requests"]["receive"] or 0)
            out.append({"what": f"{row['label']}: publish + receive "
                                f"requests <= {limit:,}",
                        "figure": f"{got:,.0f} (deletes "
                                  f"{row['requests']['remove'] or 0:,.0f})",
                        "met": got <= limit})
        if row["channel"] in ("sns", "s3") and "usd_10k" in row:
            ref = row["sds_inf_usd_10k"]
            out.append({"what": f"{row['label']}: cost per 10,000 images "
                                f"<= ${ref / COST_SHARE:.5f} (1/{COST_SHARE}"
                                f" of SDS-Inf's ${ref})",
                        "figure": f"${row['usd_10k']:.5f} (1/"
                                  f"{row['sds_inf_ratio']:.1f})",
                        "met": row["usd_10k"] <= ref / COST_SHARE})
    return out


def report(args, entries, skipped, runs, infers, plan, failures,
           busy_before):
    p = print
    rows, inf = summarize(args, entries, runs, infers)
    nl, W = args.layers, args.workers
    p(f"\n## Channels: {args.neurons} neurons x {nl} layers, "
      f"{6000 * args.tile:,} images, {W} workers, {args.method} plan "
      f"({plan.get('row_target_pairs') or 0:,}"
      f" row-target pairs), {args.repeats} repeat(s)\n")
    p(f"`infer --threads 2`: {f3(inf)} s. run s: after start-up (median); "
      "= infer: scores and categories byte for byte; requests: the run "
      "JSON's (send = SendMessageBatch / PublishBatch / PUT, receive = "
      "ReceiveMessage / GET, remove = DeleteMessageBatch / DELETE); "
      f"$/10k: cost_usd of a run on {args.cost_images:,} images scaled to "
      "10,000.\n")
    p("| channel | launcher | run s | / infer | start-up s | check | = infer "
      "| send | receive | empty | remove | list | retries | units | "
      "cost_usd | $/10k | SDS-Inf $/10k |")
    p("|---|---|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|"
      "---:|---:|---:|")
    for r in rows:
        q = r["requests"]
        ratio = "-" if r["over_infer"] is None else f"{r['over_infer']:.1f}"
        sds = (f"${r['sds_inf_usd_10k']} (1/{r['sds_inf_ratio']:.1f})"
               if r.get("sds_inf_ratio") else "-")
        p(f"| {r['label']} | {r['launcher']} | {f3(r['seconds'])} | {ratio} "
          f"| {f3(r['startup_seconds'])} | {'/'.join(r['checks'])} | "
          f"{'yes' if r['equal_infer'] else 'NO'} | "
          + " | ".join(f"{q[k] or 0:,.0f}" for k in KINDS)
          + f" | {usd(r['cost_usd'])} | {usd(r.get('usd_10k'))} | {sds} |")
    with_layers = [r for r in rows if r["channel"] in AWS_CHANNELS
                   and r.get("layer_requests")]
    if with_layers:
        p("\n### Billable requests per layer (summed over workers; "
          "per layer in a range: its mean)\n")
        p("| layers | " + " | ".join(r["label"] for r in with_layers) + " |")
        p("|---|" + "---:|" * len(with_layers))
        for a, b in layer_groups(nl, 6, 19):
            cells = []
            for r in with_layers:
                tot = sum(billable(r["layer_requests"][i])
                          for i in range(a - 1, b))
                cells.append(f"{tot / (b - a + 1):,.1f}")
            name = str(a) if a == b else f"{a}-{b}"
            p(f"| {name} | " + " | ".join(cells) + " |")
        p("| results | " + " | ".join(
            f"{billable(r['layer_requests'][nl]):,}" for r in with_layers)
          + " |")
    lat = [r for r in rows if r["latency"]]
    if lat:
        p("\n### Latency simulation (tests/aws_throttle_proxy.py "
          "--delay-ms D: every request waits D first)\n")
        p(f"added: run s less the run through the proxy at 0 ms (else the "
          f"direct run); floor: {nl} layers x D (one round trip per layer); "
          f"serial: the requests through the proxy / {W} workers x D (each "
          "worker's requests one after another, nothing overlapping).\n")
        p("| channel | D ms | run s | added s | floor s | run / floor | "
          "requests | serial s | check | = infer |")
        p("|---|---:|---:|---:|---:|---:|---:|---:|---|---|")
        for r in lat:
            p(f"| {r['label']} | direct | {f3(r['seconds'])} | | | | | | "
              f"{'/'.join(r['checks'])} | {'yes' if r['equal_infer'] else 'NO'} |")
            if r["proxied_seconds"] is not None:
                p(f"| {r['label']} | 0 | {f3(r['proxied_seconds'])} | | | | "
                  "| | | |")
            for x in r["latency"]:
                p(f"| {r['label']} | {x['delay_ms']:g} | {f3(x['seconds'])} "
                  f"| {f3(x['added_s'])} | {f3(x['floor_s'])} | "
                  f"{x['over_floor']:.2f} | {x['proxy_requests'] or 0:,} | "
                  f"{f3(x['serial_s'])} | {x['check']} | "
                  f"{'yes' if x['equal_infer'] else 'NO'} |")
    targets = targets_of(rows)
    p("\n### Targets\n")
    for t in targets:
        p(f"* {t['what']}: {t['figure']}: **{'met' if t['met'] else 'NOT met'}**")
    contended = [f"{r['label']} ({r['tag']}): {r['other_cores']} cores"
                 for r in runs if r and (r.get("other_cores") or 0) > CONTENDED]
    if busy_before is not None and busy_before > CONTENDED:
        p(f"\nWARNING: {busy_before:.2f} cores busy with other work before "
          "the runs")
    if contended:
        p("\nContended runs (other work > 0.3 cores): " + "; ".join(contended))
    for s in skipped:
        p(f"\nNot run: {s}")
    for f in failures:
        p(f"\nFAILED: {f}")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"bench": "channels",
                       "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
                       "cpus": os.cpu_count(), "busy_cores_before": busy_before,
                       "emulator": os.environ.get("SDSINF_AWS_EMULATOR"),
                       "neurons": args.neurons, "layers": nl, "workers": W,
                       "method": args.method, "tile": args.tile,
                       "repeats": args.repeats, "infer_t2_seconds": inf,
                       "infers": infers, "plan": {
                           k: v for k, v in plan.items() if k != "dir"},
                       "sds_inf": SDS_INF, "channels": rows, "runs": runs,
                       "targets": targets, "skipped": skipped,
                       "contended_runs": contended, "failures": failures},
                      f, indent=1)
        log(f"figures written to {args.json_out}")
    if failures:
        return 1
    if args.strict and not all(t["met"] for t in targets):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
