#!/usr/bin/env python3
"""Inference benchmark: sdsinf against the GraphBLAS and scipy peers.

In one invocation on one machine it runs, on the GraphChallenge data
(1024 neurons, 120 layers, the first 6,000 images):

  * build/sdsinf infer --weights DIR --images FILE --threads T --json --check GOLD
  * bench/peer_graphblas (built here with cc) at the same thread count T
  * bench/peer_scipy.py  (single-threaded: scipy.sparse has no threading)

for each T in --threads (default 1,2), --repeats times each (default 3),
interleaved so drift hits every contender alike, and reports the median
inference time (each program's own timer, loading excluded), the ratios
graphblas/sdsinf and scipy/sdsinf (above 1: sdsinf is faster), and each
program's peak RSS. Every run must reproduce the golden categories.

It then runs a 60,000-image workload: the 6,000 images tiled 10x with image
ids shifted by 6000*k (and the golden ids shifted alike, so it is checked
too), written to a temporary file, through
  build/sdsinf infer ... --batch-size 5000 --json
and reports its time and peak RSS.

Peak RSS is the child's own ru_maxrss from wait4(2) — the same figure GNU
time -v prints as "Maximum resident set size", but for that one child only.

The last stdout line is one JSON object with every figure. Data absent:
prints why, emits {"skipped": ...} and exits 0. Exit 1 if any run failed or
missed the golden check.
"""

import argparse
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def run_json(cmd, label):
    """Run cmd; return (json_of_last_stdout_line or None, peak_rss_kib, wall_s,
    other_cores).

    wait4 gives the rusage of exactly this child (ru_maxrss in KiB on Linux).
    other_cores: the average number of cores that *other* processes kept busy
    while it ran (all busy cores per /proc/stat, less the child's own CPU
    time over its wall time); None where /proc/stat is unavailable.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        c0 = cpu_sample()
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=err)
        _, status, ru = os.wait4(p.pid, 0)
        wall = time.perf_counter() - t0
        busy = busy_between(c0, cpu_sample())
        other = None
        if busy is not None and wall > 0:
            other = round(max(0.0, busy - (ru.ru_utime + ru.ru_stime) / wall), 2)
        p.returncode = os.waitstatus_to_exitcode(status)  # reaped by wait4
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    result = json_result(cmd, label, p.returncode, stdout, stderr)
    return result, ru.ru_maxrss, wall, other


def json_result(cmd, label, returncode, stdout, stderr, failed=None):
    """The JSON object of a run's last stdout line, or None (logged with the
    command and stderr's tail) when there is none with "seconds", or when
    `failed` says why the run is void; a non-zero exit is logged."""
    lines = stdout.strip().splitlines()
    result = None
    if lines:
        try:
            result = json.loads(lines[-1])
        except json.JSONDecodeError:
            result = None
    if failed or not isinstance(result, dict) or "seconds" not in result:
        why = failed or f"exit {returncode}, no JSON result line"
        log(f"  {label}: FAILED ({why})")
        log("  command: " + " ".join(shlex.quote(c) for c in cmd))
        for line in (stderr.strip().splitlines() or ["(no stderr)"])[-10:]:
            log("    " + line)
        return None
    if returncode != 0:
        log(f"  {label}: exit {returncode}; stderr tail:")
        for line in stderr.strip().splitlines()[-5:]:
            log("    " + line)
    return result


def cpu_sample():
    """(total, idle) jiffies over all CPUs from /proc/stat, or None."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        return sum(v), v[3] + (v[4] if len(v) > 4 else 0)  # idle + iowait
    except (OSError, ValueError, IndexError):
        return None


def busy_between(a, b):
    """Average number of busy cores between two cpu_sample()s, or None."""
    if a is None or b is None or b[0] <= a[0]:
        return None
    return (1 - (b[1] - a[1]) / (b[0] - a[0])) * (os.cpu_count() or 1)


def busy_cores(interval=1.0):
    """Cores kept busy by other work over `interval` seconds, or None."""
    a = cpu_sample()
    time.sleep(interval)
    busy = busy_between(a, cpu_sample())
    return None if busy is None else round(busy, 2)


def build_graphblas_peer(outdir):
    """Compile bench/peer_graphblas.c; return the binary path or None."""
    cc = os.environ.get("CC", "cc")
    exe = os.path.join(outdir, "peer_graphblas")
    # -I/usr/include/suitesparse: where some distributions put GraphBLAS.h.
    cmd = [cc, "-O2", "-std=c11", "-I/usr/include/suitesparse",
           os.path.join(BENCH, "peer_graphblas.c"), "-lgraphblas", "-lm",
           "-o", exe]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        log("GraphBLAS peer: build failed, skipping it (is libgraphblas-dev "
            "installed?):")
        for line in r.stderr.strip().splitlines()[-5:]:
            log("    " + line)
        return None
    return exe


def tile_workload(images, gold, copies, tmpdir, limit=None):
    """Write images and golden ids tiled `copies` times, ids shifted by M*k.

    M is the largest image id in the file (6,000 for the GraphChallenge
    first-6000 file). With `limit`, only the ids up to it are kept (e.g.
    10,000 images from the first 6,000: copies 2, limit 10000). Returns
    (images_path, gold_path, total_images).
    """
    with open(images, "rb") as f:
        rows = [line.split() for line in f if line.strip()]
    m = max(int(r[0]) for r in rows)
    limit = m * copies if limit is None else min(limit, m * copies)
    with open(gold, "rb") as f:
        gold_ids = [int(x) for x in f.read().split()]
    img_out = os.path.join(tmpdir, f"images-{limit}.tsv")
    gold_out = os.path.join(tmpdir, f"categories-{limit}.tsv")
    with open(img_out, "w") as f:
        for k in range(copies):
            shift = m * k
            f.writelines(f"{int(r[0]) + shift}\t{r[1].decode()}\t{r[2].decode()}\n"
                         for r in rows if int(r[0]) + shift <= limit)
    with open(gold_out, "w") as f:
        for k in range(copies):
            f.writelines(f"{g + m * k}\n" for g in gold_ids
                         if g + m * k <= limit)
    return img_out, gold_out, limit


def fmt(x, width=8, digits=3):
    """Right-aligned number, or '-' where there is none."""
    if isinstance(x, (int, float)):
        return f"{x:{width}.{digits}f}"
    return f"{'-':>{width}}"


def median_or_none(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def main():
    ap = argparse.ArgumentParser(
        description="sdsinf inference vs GraphBLAS and scipy peers")
    ap.add_argument("--data", default=os.path.join(
        ROOT, "..", "shared", "data", "graphchallenge"),
        help="GraphChallenge data dir (default: ../shared/data/graphchallenge "
             "relative to the repo root)")
    ap.add_argument("--sdsinf", default=os.path.join(ROOT, "build", "sdsinf"),
                    help="sdsinf CLI (default: build/sdsinf)")
    ap.add_argument("--graphblas-peer", metavar="EXE",
                    help="use this peer_graphblas binary instead of building one")
    ap.add_argument("--sdsinf-extra", default="",
                    help="extra arguments appended to every sdsinf command")
    ap.add_argument("--neurons", type=int, default=1024)
    ap.add_argument("--layers", type=int, default=120)
    ap.add_argument("--threads", default="1,2",
                    help="comma-separated thread counts (default 1,2)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--tile", type=int, default=10,
                    help="copies of the images in the large workload (default 10)")
    ap.add_argument("--batch-size", type=int, default=5000)
    ap.add_argument("--skip-large", action="store_true",
                    help="skip the tiled (60,000-image) workload")
    args = ap.parse_args()
    threads = [int(t) for t in args.threads.split(",") if t.strip()]
    n = args.neurons

    data = os.path.normpath(args.data)
    weights = os.path.join(data, f"neuron{n}")
    images = os.path.join(data, f"sparse-images-{n}-first6000.tsv")
    gold = os.path.join(data, f"neuron{n}-l{args.layers}-categories-first6000.tsv")
    missing = [p for p in (weights, images, gold) if not os.path.exists(p)]
    if missing:
        why = "GraphChallenge data not found: " + ", ".join(missing)
        print(f"bench_infer: skipped: {why}")
        print(json.dumps({"bench": "infer", "skipped": why}, separators=(",", ":")))
        return 0

    # Other work on the machine skews timings (badly so at T = #cores, where
    # OpenMP threads spin-wait for a core): measure it and warn.
    busy_before = busy_cores()
    if busy_before is not None and busy_before > 0.3:
        log(f"warning: {busy_before:.2f} cores busy with other work before the "
            "benchmark; timings (above all multi-threaded) may be skewed")

    have_sdsinf = os.access(args.sdsinf, os.X_OK)
    if not have_sdsinf:
        log(f"sdsinf: {args.sdsinf} not found or not executable; build it "
            "first (cmake --build build). Running the peers only.")
    extra = shlex.split(args.sdsinf_extra)

    failures = []
    with tempfile.TemporaryDirectory(prefix="bench_infer.") as tmp:
        gb_exe = args.graphblas_peer or build_graphblas_peer(tmp)

        def sdsinf_cmd(t, imgs=images, chk=gold, more=()):
            return ([args.sdsinf, "infer", "--weights", weights, "--images", imgs,
                     "--threads", str(t), "--json", "--check", chk, *more]
                    + extra)

        common = ["--weights", weights, "--images", images, "--neurons", str(n),
                  "--layers", str(args.layers), "--check", gold]

        # samples[name][t] = list of (seconds, rss_kib, other_cores); scipy is single-
        # threaded, so it is measured once (under key 1) and shared by all T.
        samples = {"sdsinf": {}, "graphblas": {}, "scipy": {}}
        nimages_seen = set()  # image counts the programs report
        contended = []        # runs during which other work kept >0.3 cores

        def measure(name, cmd, t):
            res, rss, wall, other = run_json(cmd, f"{name} T={t}")
            if other is not None and other > 0.3:
                contended.append(f"{name} T={t}: {other} cores")
            secs = None
            if res is None:
                failures.append(f"{name} T={t}: no result")
            else:
                secs = float(res["seconds"])
                if "images" in res:
                    nimages_seen.add(int(res["images"]))
                chk = res.get("check")
                if chk != "pass":
                    failures.append(f"{name} T={t}: check={chk}")
                    log(f"  {name} T={t}: golden check {chk!r} (expected 'pass')")
            log(f"  {name:9s} T={t}: {fmt(secs)} s inference, "
                f"{wall:7.2f} s wall, {rss / 1024:7.1f} MiB peak RSS, "
                f"other work {fmt(other, 4, 2)} cores")
            samples[name].setdefault(t, []).append((secs, rss, other))

        for t in threads:
            log(f"threads={t}:")
            for rep in range(args.repeats):
                if have_sdsinf:
                    measure("sdsinf", sdsinf_cmd(t), t)
                if gb_exe:
                    measure("graphblas", [gb_exe, *common, "--threads", str(t)], t)
                if t == threads[0]:
                    measure("scipy", [sys.executable,
                                      os.path.join(BENCH, "peer_scipy.py"),
                                      *common, "--threads", "1"], 1)

        def med(name, t):
            s = samples[name].get(1 if name == "scipy" else t, [])
            return (median_or_none([x[0] for x in s]),
                    median_or_none([x[1] for x in s]))

        rows = []
        for t in threads:
            sd, sd_rss = med("sdsinf", t)
            gb, gb_rss = med("graphblas", t)
            sc, sc_rss = med("scipy", t)
            ratio = lambda x: (x / sd) if (x is not None and sd) else None
            rows.append({
                "threads": t,
                "sdsinf_s": sd, "graphblas_s": gb, "scipy_s": sc,
                "graphblas_over_sdsinf": ratio(gb),
                "scipy_over_sdsinf": ratio(sc),
                "sdsinf_rss_mib": sd_rss and sd_rss / 1024,
                "graphblas_rss_mib": gb_rss and gb_rss / 1024,
                "scipy_rss_mib": sc_rss and sc_rss / 1024,
                "samples_s": {k: [x[0] for x in samples[k].get(
                    1 if k == "scipy" else t, [])] for k in samples},
                "samples_other_cores": {k: [x[2] for x in samples[k].get(
                    1 if k == "scipy" else t, [])] for k in samples},
            })

        # ---- the tiled 60,000-image workload (sdsinf only) ----
        large = None
        if args.skip_large:
            log("large workload: skipped (--skip-large)")
        elif not have_sdsinf:
            log("large workload: skipped (no sdsinf binary)")
        else:
            img_l, gold_l, total = tile_workload(images, gold, args.tile, tmp)
            t = max(threads)
            log(f"large workload: {total} images, batch size {args.batch_size}, "
                f"threads={t}:")
            res, rss, wall, other = run_json(
                sdsinf_cmd(t, img_l, gold_l,
                           ("--batch-size", str(args.batch_size))),
                "sdsinf large")
            large = {"images": total, "batch_size": args.batch_size,
                     "threads": t, "seconds": None, "wall_s": wall,
                     "peak_rss_mib": rss / 1024, "check": None,
                     "other_cores": other}
            if other is not None and other > 0.3:
                contended.append(f"sdsinf large: {other} cores")
            if res is None:
                failures.append("sdsinf large: no result")
            else:
                large["seconds"] = float(res["seconds"])
                large["check"] = res.get("check")
                if large["check"] != "pass":
                    failures.append(f"sdsinf large: check={large['check']}")
            log(f"  sdsinf large: {fmt(large['seconds'])} s inference, "
                f"{wall:.2f} s wall, {rss / 1024:.1f} MiB peak RSS, "
                f"check={large['check']}, other work {fmt(other, 0, 2)} cores")

    # ---- report ----
    print(f"\nSparse DNN inference, {n} neurons x {args.layers} layers, "
          f"{os.path.basename(images)}; median of {args.repeats}; seconds = inference only")
    print("(scipy is single-threaded: the same scipy figure appears in every "
          "row)")
    print(f"{'threads':>7} {'sdsinf':>8} {'graphblas':>9} {'scipy':>8} "
          f"{'gb/sdsinf':>9} {'sp/sdsinf':>9}")
    for r in rows:
        print(f"{r['threads']:>7} {fmt(r['sdsinf_s'])} {fmt(r['graphblas_s'], 9)} "
              f"{fmt(r['scipy_s'])} {fmt(r['graphblas_over_sdsinf'], 9, 2)} "
              f"{fmt(r['scipy_over_sdsinf'], 9, 2)}")
    if large:
        print(f"{large['images']} images (batch {large['batch_size']}, "
              f"T={large['threads']}): {fmt(large['seconds'], 0)} s "
              f"inference, {large['wall_s']:.2f} s wall, "
              f"{large['peak_rss_mib']:.1f} MiB peak RSS, check={large['check']}")
    if contended:
        print("WARNING: other work competed for the CPUs during "
              f"{len(contended)} run(s) ({'; '.join(contended)}); those "
              "timings, above all the multi-threaded ones, are not trustworthy")
    if failures:
        print("FAILURES: " + "; ".join(failures))

    summary = {
        "bench": "infer",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "busy_cores_before": busy_before},
        "neurons": n, "layers": args.layers,
        "images": (nimages_seen.pop() if len(nimages_seen) == 1
                   else sorted(nimages_seen) or None),
        "repeats": args.repeats, "statistic": "median",
        "sdsinf": args.sdsinf if have_sdsinf else None,
        "graphblas_peer": gb_exe is not None,
        "scipy_threads": 1,
        "results": rows,
        "large": large,
        "contended_runs": contended,
        "failures": failures,
    }
    print(json.dumps(summary, separators=(",", ":")))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
