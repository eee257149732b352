#!/usr/bin/env python3
"""Distributed-runtime benchmark: sdsinf run against sdsinf infer.

In one invocation on one machine, on the GraphChallenge data (1024 neurons,
120 layers, the first 6,000 images) and W workers (default 8):

  * builds, in a work directory: the model bundle (sdsinf convert), the
    hypergraph plan (sdsinf partition --workers W, timed; its row-target
    pairs), the block plan for comparison and, where SDS-Inf's 8-worker
    connectivity files are at hand, SDS-Inf's own plan (sdsinf-import);
  * --repeats times (default 5), interleaved so drift hits all alike:
      sdsinf infer --threads 1   and   --threads 2   (inference seconds)
      sdsinf run --plan HYPERGRAPH --check GOLD --json --metrics PREFIX
    for every launcher x channel asked for (default: local processes,
    local channel; e.g. --launchers local,threads --channels local,fs), or
    the pairs of --setups; the mpi launcher's runs start as
    `mpirun --oversubscribe -n W sdsinf run --launcher mpi ...` (as root
    with OMPI_ALLOW_RUN_AS_ROOT{,_CONFIRM}=1), and channel redis without a
    --channel-config redis=URL talks to a private redis-server started on
    a free port of 127.0.0.1 (--save '' --appendonly no) and stopped at the
    end; a setup that cannot run here (no mpirun, no MPI in the build, no
    redis-server) is skipped with a note;
  * once each (unless --no-once): the hypergraph plan with --codec raw, the
    block plan and SDS-Inf's plan (default codec), for the bytes and the
    entries sent;
  * reports medians: run seconds (after start-up) and start-up seconds apart,
    bytes and messages per image, the check, run/infer(T=2) and
    run/infer(T=1); bytes and messages per layer summed over workers (from
    PREFIX-layers.csv); and the bytes split into partition (entries that must
    cross) x encoding (bytes per entry); first, the setups side by side:
    run seconds (median of the clean repeats, and of all), start-up, wall,
    bytes, messages, bytes/image, check.

--selfhosted is the self-hosted comparison in one invocation: infer T=1 and
T=2, then local processes over channel local, MPI ranks over channel mpi
and local processes over channel redis (--setups
local/local,mpi/mpi,local/redis --no-once).

Contention: like bench_infer.py, the cores other processes kept busy before
the benchmark and during every run (all busy cores from /proc/stat less the
child's own CPU time per wall second; the child's CPU includes the worker
processes it reaped, mpirun's ranks, and the CPU the private redis-server
used meanwhile), plus the load average; runs above 0.3 cores are flagged.

Output: progress on stderr; on stdout markdown tables; --json FILE writes
every figure. Data absent: says what is missing and exits 0 (as
bench_infer.py). Exit 1 if a run failed or missed the golden check (with
--strict also if a target of the issue is missed).
"""

import argparse
import csv
import json
import os
import platform
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "bench")
sys.path.insert(0, BENCH)
from bench_infer import (busy_between, busy_cores, cpu_sample, fmt,  # noqa: E402
                         json_result, log, median_or_none)

HEADER_BYTES = 64    # every message's header (README: "Distributed runs")
TRIPLE_BYTES = 12    # SDS-Inf: float32 (value, row, sample) per entry
CONTENDED = 0.3      # cores of other work that make a run suspect
TARGET_BPI = 600     # the issue: bytes sent per image, default codec
TARGET_RATIO = 3.0   # the issue: run seconds / infer seconds (same cores)
SELFHOSTED = "local/local,mpi/mpi,local/redis"   # --selfhosted's setups


def die(msg, code=2):
    log(f"bench_run: {msg}")
    sys.exit(code)


def proc_cpu(pids):
    """CPU seconds (user + system) the processes `pids` have used so far,
    from /proc/PID/stat (0 for one that is gone)."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total = 0.0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except (OSError, ValueError, IndexError):
            pass
    return total


def run_json(cmd, label, timeout, env=None, aux_pids=()):
    """Run cmd (in its own process group; after `timeout` seconds the group
    gets SIGTERM, so that mpirun can stop its ranks, then SIGKILL 5 s
    later); return (last-line JSON or None, peak RSS KiB, wall s,
    other_cores, CPU s, stderr) as bench_infer.run_json does (plus the CPU
    and stderr).  The child's rusage from wait4 includes the processes it
    reaped (the workers; mpirun's ranks).  The CPU that `aux_pids` (a
    server the run talks to, such as redis-server) used meanwhile counts as
    the run's own, not as other work."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        a0 = proc_cpu(aux_pids)
        c0 = cpu_sample()
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=out, stderr=err, env=env,
                             start_new_session=True)
        timed_out, term_at = False, None
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            now = time.perf_counter()
            if now - t0 > timeout and term_at is None:
                timed_out, term_at = True, now
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            if term_at is not None and now - term_at > 5:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                _, status, ru = os.wait4(p.pid, 0)
                break
            time.sleep(0.01)
        wall = time.perf_counter() - t0
        busy = busy_between(c0, cpu_sample())
        cpu = ru.ru_utime + ru.ru_stime
        aux = proc_cpu(aux_pids) - a0
        other = None
        if busy is not None and wall > 0:
            other = round(max(0.0, busy - (cpu + aux) / wall), 2)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
    result = json_result(cmd, label, p.returncode, stdout, stderr,
                         f"killed after {timeout:g} s" if timed_out else None)
    return result, ru.ru_maxrss, wall, other, cpu + aux, stderr


def redis_call(port, *args, timeout=2.0):
    """One command to the Redis server on 127.0.0.1:port (RESP, stdlib
    only); returns the reply as str (simple, bulk or error string) or int,
    or None when the server cannot be reached."""
    req = b"*%d\r\n" % len(args) + b"".join(
        b"$%d\r\n%s\r\n" % (len(a.encode()), a.encode()) for a in args)
    try:
        with socket.create_connection(("127.0.0.1", port), timeout) as c:
            c.sendall(req)
            buf = b""
            while b"\r\n" not in buf:
                chunk = c.recv(65536)
                if not chunk:
                    return None
                buf += chunk
            head, rest = buf.split(b"\r\n", 1)
            kind, body = head[:1], head[1:].decode()
            if kind in (b"+", b"-"):
                return body
            if kind == b":":
                return int(body)
            if kind == b"$":
                n = int(body)
                if n < 0:
                    return None
                while len(rest) < n + 2:
                    chunk = c.recv(65536)
                    if not chunk:
                        break
                    rest += chunk
                return rest[:n].decode(errors="replace")
    except (OSError, ValueError):
        return None
    return None


class PrivateRedis:
    """A private redis-server, as tests/with_redis.sh starts one: on
    127.0.0.1 at a free port, in its own directory, with no persistence
    (--save '' --appendonly no).  start() returns the URL or None (and sets
    .why); stop() ends it."""

    def __init__(self, exe, directory):
        self.exe, self.dir = exe, directory
        self.proc, self.port, self.why = None, None, None

    def start(self):
        os.makedirs(self.dir, exist_ok=True)
        logf = os.path.join(self.dir, "redis.log")
        for _ in range(8):
            with socket.socket() as s:   # a port nobody listens on now
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            proc = subprocess.Popen(
                [self.exe, "--port", str(port), "--bind", "127.0.0.1",
                 "--save", "", "--appendonly", "no", "--daemonize", "no",
                 "--dir", self.dir, "--logfile", logf],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, start_new_session=True)
            for _ in range(100):
                if redis_call(port, "PING") == "PONG":
                    self.proc, self.port = proc, port
                    return f"redis://127.0.0.1:{port}"
                if proc.poll() is not None:
                    break                 # it could not bind: another port
                time.sleep(0.05)
            self._end(proc)
        tail = ""
        try:
            with open(logf) as f:
                tail = " ".join(f.read().strip().splitlines()[-2:])
        except OSError:
            pass
        self.why = f"could not start {self.exe} on 127.0.0.1 {tail}".strip()
        return None

    def keys_left(self):
        """The server's keyspace lines (db0:keys=...), [] when empty."""
        info = redis_call(self.port, "INFO", "keyspace") or ""
        return [x.strip() for x in info.splitlines() if x.startswith("db")]

    @staticmethod
    def _end(proc):
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def stop(self):
        if self.proc:
            self._end(self.proc)
            self.proc = None


def sdsinf_json(cmd, what):
    """Run a build step; return (its last-line JSON, wall seconds) or die."""
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    lines = r.stdout.strip().splitlines()
    try:
        res = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        res = None
    if r.returncode != 0 or not isinstance(res, dict):
        log(f"{what}: failed (exit {r.returncode})")
        log("  command: " + " ".join(shlex.quote(c) for c in cmd))
        for line in (r.stderr.strip().splitlines() or ["(no stderr)"])[-10:]:
            log("    " + line)
        sys.exit(1)
    return res, wall


def data_args(ap):
    """The flags of a benchmark on the real network: --data (the
    GraphChallenge directory), --sdsinf, --neurons, --layers, --workers."""
    ap.add_argument("--data", default=os.path.join(
        ROOT, "..", "shared", "data", "graphchallenge"))
    ap.add_argument("--sdsinf", default=os.path.join(ROOT, "build", "sdsinf"))
    ap.add_argument("--neurons", type=int, default=1024)
    ap.add_argument("--layers", type=int, default=120)
    ap.add_argument("--workers", type=int, default=8)


def real_data(args, n, nl, bench):
    """The real network's weights, first 6,000 images and their golden
    categories under args.data; None when one is missing, after saying so
    (and writing the skip to args.json_out) for bench_<bench>."""
    data = os.path.normpath(args.data)
    weights = os.path.join(data, f"neuron{n}")
    images = os.path.join(data, f"sparse-images-{n}-first6000.tsv")
    gold = os.path.join(data, f"neuron{n}-l{nl}-categories-first6000.tsv")
    missing = [p for p in (weights, images, gold) if not os.path.exists(p)]
    if not missing:
        return weights, images, gold
    why = "GraphChallenge data not found: " + ", ".join(missing)
    print(f"bench_{bench}: skipped: {why}")
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump({"bench": bench, "skipped": why}, f)
    return None


def make_model(exe, weights, nl, model, reuse):
    """The model bundle at `model` (sdsinf convert), kept where `reuse`."""
    if reuse and os.path.exists(model):
        log(f"model: reusing {model}")
        return
    res, wall = sdsinf_json([exe, "convert", "--weights", weights,
                             "--layers", str(nl), "--out", model, "--json"],
                            "convert")
    log(f"model: {model} ({res.get('bytes', 0) / 2**20:.1f} MiB, "
        f"{wall:.2f} s)")


def make_plan(exe, model, W, name, method, work, reuse, extra=()):
    """The W-worker plan WORK/plan-NAME-W by `sdsinf partition --method
    METHOD` (kept where `reuse` and made before); returns its figures
    (dir, row_target_pairs, imbalance, seconds, pairs_per_layer)."""
    out = os.path.join(work, f"plan-{name}-{W}")
    info_path = os.path.join(out, "bench-partition.json")
    if reuse and os.path.exists(info_path):
        with open(info_path) as f:
            info = json.load(f)
        info["reused"] = True
        log(f"plan {name}: reusing {out}")
        return info
    res, wall = sdsinf_json(
        [exe, "partition", "--weights", model, "--workers", str(W),
         "--method", method, "--out", out, "--json", *extra],
        f"partition {name}")
    info = {"dir": out, "method": method,
            "row_target_pairs": res.get("row_target_pairs"),
            "imbalance": res.get("imbalance"),
            "seconds": res.get("seconds"), "wall_s": round(wall, 3),
            "pairs_per_layer": res.get("pairs_per_layer")}
    with open(info_path, "w") as f:
        json.dump(info, f)
    log(f"plan {name}: {info['row_target_pairs']:,} row-target "
        f"pairs, imbalance {100 * (info['imbalance'] or 0):.2f}%, "
        f"{info['seconds']:.2f} s ({wall:.2f} s wall)")
    return info


def read_layers(prefix, nlayers):
    """PREFIX-layers.csv summed over workers: a list indexed by LAYER (0..L,
    L = the results' trip) of dicts msgs, bytes, rows, entries, and the
    run record PREFIX.csv as a dict (or None where a file is missing);
    each layer's dict also holds the channel's requests by kind,
    requests[KIND] (REQUESTS_KIND: send, receive, empty, ...)."""
    path = prefix + "-layers.csv"
    if not os.path.exists(path):
        return None, None
    per = [dict(msgs=0, bytes=0, rows=0, entries=0, received=0, requests={})
           for _ in range(nlayers + 1)]
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            k = int(r["LAYER"])
            if not 0 <= k <= nlayers:
                continue
            p = per[k]
            p["msgs"] += int(r["PUBLISH_NUM"] or 0)
            p["bytes"] += int(r["PUBLISH_TOTAL_SIZE"] or 0)
            p["rows"] += int(r["ROWS_SENT"] or 0)
            p["entries"] += int(r["NNZ_SENT"] or 0)
            p["received"] += int(r["RECEIVED_TOTAL_SIZE"] or 0)
            for col, v in r.items():
                if col.startswith("REQUESTS_"):
                    kind = col[len("REQUESTS_"):].lower()
                    p["requests"][kind] = (p["requests"].get(kind, 0)
                                           + int(v or 0))
    record = None
    if os.path.exists(prefix + ".csv"):
        with open(prefix + ".csv", newline="") as f:
            record = next(csv.DictReader(f), None)
    return per, record


def exchange(per, nlayers):
    """Totals over the model's layers (LAYER 0..L-1), without the results."""
    tot = dict(msgs=0, bytes=0, rows=0, entries=0)
    for p in per[:nlayers]:
        for k in tot:
            tot[k] += p[k]
    return tot


def layer_groups(nlayers, single, step):
    """(first, last) 1-based model layers: 1..single one by one, then ranges
    of `step`."""
    groups = [(i, i) for i in range(1, min(single, nlayers) + 1)]
    a = single + 1
    while a <= nlayers:
        b = min(nlayers, a + step - 1)
        groups.append((a, b))
        a = b + 1
    return groups


def num(x, digits=0):
    """A number with thousands separators, or '-'."""
    if x is None:
        return "-"
    return f"{x:,.{digits}f}"


def share(part, total):
    """part / total as a percentage, two digits below 1%."""
    x = 100 * part / total if total else 0
    return f"{x:.2f}%" if 0 < x < 1 else f"{x:.1f}%"


def contention_summary(rows):
    """Per label: contended runs of all, and the other work's range."""
    out = []
    for r in rows:
        xs = [x for x in r["samples_other_cores"]
              if x is not None and x > CONTENDED]
        if xs:
            rng = (f"{min(xs):.2f}" if len(xs) == 1
                   else f"{min(xs):.2f}-{max(xs):.2f}")
            out.append(f"{r['label']} {len(xs)}/{r['n']}: {rng} cores")
    return "; ".join(out)


def verdict_ratio(prim):
    """(basis, met or None) for the time target: on the quiet medians where
    both sides have quiet runs, else on the plain ones (contended)."""
    q, r = prim.get("quiet_over_quiet_infer_t2"), prim.get("over_infer_t2")
    if q is not None:
        return "quiet medians", q <= TARGET_RATIO
    if r is not None:
        return "no quiet runs: contended, not trustworthy", r <= TARGET_RATIO
    return "no result", None


def ratio_or_none(a, b):
    return a / b if (a is not None and b) else None


def main():
    ap = argparse.ArgumentParser(
        description="sdsinf run (distributed) against sdsinf infer: times, "
                    "bytes per layer, partition x encoding")
    ap.add_argument("--data", default=os.path.join(
        ROOT, "..", "shared", "data", "graphchallenge"),
        help="GraphChallenge data dir (default ../shared/data/graphchallenge "
             "relative to the repo root)")
    ap.add_argument("--sdsinf-ref", default=os.path.join(
        ROOT, "..", "shared", "data", "sds-inf-reference"),
        help="SDS-Inf's published artifacts (its 8-worker conn files and "
             "metrics); optional")
    ap.add_argument("--sdsinf", default=os.path.join(ROOT, "build", "sdsinf"),
                    help="sdsinf CLI (default build/sdsinf)")
    ap.add_argument("--neurons", type=int, default=1024)
    ap.add_argument("--layers", type=int, default=120)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--selfhosted", action="store_true",
                    help="the self-hosted comparison: infer T=1 and T=2, "
                         "local processes over channel local, MPI ranks "
                         "(mpirun, channel mpi) and local processes over "
                         "channel redis (a private redis-server); same as "
                         "--setups " + SELFHOSTED + " --no-once")
    ap.add_argument("--launchers", default="local",
                    help="comma-separated launchers (local, threads, mpi); "
                         "default local")
    ap.add_argument("--channels", default="local",
                    help="comma-separated channels (local, fs, mem, redis, "
                         "mpi); every launcher x channel pair runs (mem "
                         "only with threads, mpi only with the mpi "
                         "launcher); default local")
    ap.add_argument("--setups", metavar="LA/CH,...",
                    help="launcher/channel pairs to run, instead of "
                         "--launchers x --channels (e.g. "
                         "local/local,mpi/mpi,local/redis)")
    ap.add_argument("--no-once", action="store_true",
                    help="skip the once-only runs (--codec raw, block "
                         "plan, SDS-Inf's plan) and the partition x "
                         "encoding split")
    ap.add_argument("--mpirun", default="mpirun --oversubscribe",
                    help="how the mpi launcher's runs start: this, then "
                         "-n W and the sdsinf command (default "
                         "'mpirun --oversubscribe')")
    ap.add_argument("--redis-server", default="redis-server",
                    help="the redis-server for channel redis when no "
                         "--channel-config redis=URL is given (default "
                         "redis-server from PATH)")
    ap.add_argument("--channel-config", action="append", default=[],
                    metavar="CHANNEL=CONFIG",
                    help="--channel-config for that channel (repeatable)")
    ap.add_argument("--run-extra", default="",
                    help="extra arguments appended to every sdsinf run")
    ap.add_argument("--partition-extra", default="",
                    help="extra arguments for the hypergraph partition")
    ap.add_argument("--work", metavar="DIR",
                    help="work directory, kept (default: a temporary one, "
                         "removed)")
    ap.add_argument("--reuse", action="store_true",
                    help="with --work: reuse the bundle and plans already "
                         "there (the partition is then not timed)")
    ap.add_argument("--layer-single", type=int, default=12,
                    help="layers shown one by one (default 12)")
    ap.add_argument("--layer-step", type=int, default=12,
                    help="layers per range after those (default 12)")
    ap.add_argument("--timeout", type=float, default=300, metavar="S",
                    help="kill a run (and its workers) after S seconds "
                         "(default 300)")
    ap.add_argument("--wait-quiet", type=float, default=0, metavar="S",
                    help="wait up to S seconds for other work to drop below "
                         f"{CONTENDED} cores before starting (default 0)")
    ap.add_argument("--json", metavar="FILE", dest="json_out",
                    help="write every figure to FILE as JSON")
    ap.add_argument("--strict", action="store_true",
                    help="exit 1 also when a target of the issue is missed")
    args = ap.parse_args()
    n, nl, W = args.neurons, args.layers, args.workers
    launchers = [x for x in args.launchers.split(",") if x]
    channels = [x for x in args.channels.split(",") if x]
    chconf = {}
    for cc in args.channel_config:
        if "=" not in cc:
            die(f"--channel-config wants CHANNEL=CONFIG, not {cc!r}")
        k, v = cc.split("=", 1)
        chconf[k] = v
    if args.selfhosted:
        args.setups = args.setups or SELFHOSTED
        args.no_once = True
    if args.setups:
        pairs = []
        for x in args.setups.split(","):
            if x.count("/") != 1 or not all(x.split("/")):
                die(f"--setups wants LAUNCHER/CHANNEL pairs, not {x!r}")
            pairs.append(tuple(x.split("/")))
    else:
        pairs = [(la, ch) for la in launchers for ch in channels]
    configs, skipped_configs = [], []
    for la, ch in pairs:
        if ch == "mem" and la != "threads":
            skipped_configs.append(f"{la}/{ch}: the mem channel needs "
                                   "the threads launcher")
            continue
        if ch == "mpi" and la != "mpi":
            skipped_configs.append(f"{la}/{ch}: the mpi channel needs the "
                                   "mpi launcher")
            continue
        if la == "mpi" and not shutil.which(shlex.split(args.mpirun)[0]):
            skipped_configs.append(f"{la}/{ch}: {shlex.split(args.mpirun)[0]}"
                                   " not found (apt-get install "
                                   "openmpi-bin)")
            continue
        if (ch == "redis" and "redis" not in chconf
                and not shutil.which(args.redis_server)):
            skipped_configs.append(f"{la}/{ch}: {args.redis_server} not "
                                   "found (apt-get install redis-server), "
                                   "and no --channel-config redis=URL")
            continue
        if (la, ch) not in configs:
            configs.append((la, ch))
    if not configs:
        die("no launcher/channel pair to run")
    primary = configs[0]

    found = real_data(args, n, nl, "run")
    if not found:
        return 0
    weights, images, gold = found
    if not os.access(args.sdsinf, os.X_OK):
        die(f"{args.sdsinf} not found or not executable; build it first "
            "(cmake -S . -B build && cmake --build build -j)")
    conn = os.path.join(args.sdsinf_ref, f"conn-{n}n-{W}w")
    ref_metrics = os.path.join(
        args.sdsinf_ref, f"master_metrics_c1_{n}n_{W}w_10000bs_queue.csv")
    run_extra = shlex.split(args.run_extra)

    tmp = None
    if args.work:
        work = os.path.abspath(args.work)
        os.makedirs(work, exist_ok=True)
    else:
        tmp = tempfile.mkdtemp(prefix="bench_run.")
        work = tmp
    metrics_dir = os.path.join(work, "metrics")
    os.makedirs(metrics_dir, exist_ok=True)
    servers = []   # private servers bench() starts, stopped here
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        return bench(args, n, nl, W, configs, skipped_configs, primary,
                     chconf, run_extra, weights, images, gold, conn,
                     ref_metrics, work, metrics_dir, servers)
    finally:
        for srv in servers:
            srv.stop()
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


def bench(args, n, nl, W, configs, skipped_configs, primary, chconf,
          run_extra, weights, images, gold, conn, ref_metrics, work,
          metrics_dir, servers):
    exe = args.sdsinf
    model = os.path.join(work, f"n{n}-l{nl}.sdsinf")
    reuse = args.reuse and args.work

    # ---- build: bundle and plans ----
    make_model(exe, weights, nl, model, reuse)
    plans = {}

    def partition(name, method, extra=()):
        plans[name] = make_plan(exe, model, W, name, method, work, reuse,
                                extra)

    partition("hypergraph", "hypergraph", shlex.split(args.partition_extra))
    if not args.no_once:
        partition("block", "block")
    if args.no_once:
        log("--no-once: no block plan, no SDS-Inf's plan (they serve only "
            "the once-only runs)")
    elif os.path.isdir(conn):
        out = os.path.join(work, f"plan-sds-inf-{W}")
        info_path = os.path.join(out, "bench-partition.json")
        if reuse and os.path.exists(info_path):
            with open(info_path) as f:
                plans["sds-inf"] = json.load(f)
        else:
            res, wall = sdsinf_json(
                [exe, "sdsinf-import", "--from", conn, "--weights", model,
                 "--out", out, "--json"], "sdsinf-import")
            info = {"dir": out, "method": "sds-inf",
                    "row_target_pairs": res.get("row_target_pairs"),
                    "listed_pairs": res.get("listed_pairs"),
                    "imbalance": res.get("imbalance"), "seconds": None,
                    "wall_s": round(wall, 3)}
            with open(info_path, "w") as f:
                json.dump(info, f)
            plans["sds-inf"] = info
        log(f"plan sds-inf (imported from {conn}): "
            f"{plans['sds-inf']['row_target_pairs']:,} row-target pairs")
    else:
        log(f"SDS-Inf's plan: {conn} not found, not compared")

    # ---- channel redis without a server given: a private one ----
    redis, aux_pids = None, {}
    if (any(ch == "redis" for _, ch in configs) and "redis" not in chconf):
        redis = PrivateRedis(args.redis_server, os.path.join(work, "redis"))
        servers.append(redis)
        url = redis.start()
        if url:
            chconf["redis"] = url
            log(f"redis: a private {args.redis_server} at {url} (pid "
                f"{redis.proc.pid}, --save '' --appendonly no)")
            for la, ch in configs:
                if ch == "redis":
                    aux_pids[(la, ch)] = [redis.proc.pid]
        else:
            for la, ch in [c for c in configs if c[1] == "redis"]:
                configs.remove((la, ch))
                skipped_configs.append(f"{la}/{ch}: {redis.why}")
            if not configs:
                die("no launcher/channel pair left to run")
            primary = configs[0]
    mpi_env = dict(os.environ)
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # Open MPI refuses root without both
        mpi_env.setdefault("OMPI_ALLOW_RUN_AS_ROOT", "1")
        mpi_env.setdefault("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1")

    # ---- the interleaved repeats (after the build, on a quiet machine if
    # --wait-quiet allows) ----
    busy = busy_cores()
    deadline = time.monotonic() + args.wait_quiet
    while (busy is not None and busy > CONTENDED
           and time.monotonic() < deadline):
        log(f"waiting for a quiet machine: {busy:.2f} cores busy")
        time.sleep(5)
        busy = busy_cores(2.0)
    busy_before, load_before = busy, os.getloadavg()
    if busy_before is not None and busy_before > CONTENDED:
        log(f"warning: {busy_before:.2f} cores busy with other work before "
            f"the runs (load average {load_before[0]:.2f}); timings may be "
            "skewed")
    failures, contended = [], []
    samples = {}   # label -> list of dicts

    def measure(label, cmd, kind, config=None):
        la = config[0] if config else None
        if "--metrics" in cmd:   # no stale files from an earlier run
            pre = cmd[cmd.index("--metrics") + 1]
            for suffix in (".csv", "-layers.csv", ".json"):
                if os.path.exists(pre + suffix):
                    os.remove(pre + suffix)
        res, rss, wall, other, cpu, stderr = run_json(
            cmd, label, args.timeout, env=mpi_env if la == "mpi" else None,
            aux_pids=aux_pids.get(config, ()))
        if res is None and la == "mpi" and "has no MPI" in stderr:
            skipped_configs.append(f"{config[0]}/{config[1]}: {exe} was "
                                   "built without MPI (apt-get install "
                                   "libopenmpi-dev openmpi-bin, then "
                                   "rebuild)")
            configs.remove(config)
            log(f"  {label}: skipped, {exe} has no MPI")
            return None
        s = {"wall_s": round(wall, 3), "rss_mib": round(rss / 1024, 1),
             "cpu_s": round(cpu, 3), "other_cores": other}
        if other is not None and other > CONTENDED:
            contended.append(f"{label}: {other} cores")
        if res is None:
            failures.append(f"{label}: no result")
        else:
            s["seconds"] = float(res["seconds"])
            s["check"] = res.get("check")
            if s["check"] != "pass":
                failures.append(f"{label}: check={s['check']}")
            if kind == "infer":
                s["load_seconds"] = res.get("load_seconds")
            else:
                for k in ("startup_seconds", "bytes_sent", "messages_sent",
                          "bytes_per_image", "images", "duplicates"):
                    s[k] = res.get(k)
        samples.setdefault(label, []).append(s)
        extra = ""
        if kind == "run" and "startup_seconds" in s:
            extra = (f", start-up {fmt(s['startup_seconds'], 0)} s, "
                     f"{num(s['bytes_per_image'], 1)} B/image")
        log(f"  {label:34s} {fmt(s.get('seconds'))} s{extra}, "
            f"{wall:6.2f} s wall, other work {fmt(other, 4, 2)} cores")
        return s

    def run_cmd(plan, launcher, channel, prefix, codec=None):
        cmd = [exe, "run", "--weights", model, "--images", images,
               "--workers", str(W), "--plan", plan, "--launcher", launcher,
               "--channel", channel, "--check", gold, "--json",
               "--metrics", prefix]
        if launcher == "mpi":   # rank r is worker r; rank 0 prints
            cmd = shlex.split(args.mpirun) + ["-n", str(W)] + cmd
        if channel in chconf:
            cmd += ["--channel-config", chconf[channel]]
        if codec:
            cmd += ["--codec", codec]
        return cmd + run_extra

    def infer_cmd(t):
        return [exe, "infer", "--weights", model, "--images", images,
                "--threads", str(t), "--check", gold, "--json", "--quiet"]

    def label_of(la, ch):
        return f"run hypergraph {la}/{ch}"

    hg = plans["hypergraph"]["dir"]
    layer_data = {}   # label -> (per-layer, record) of its first good run
    for rep in range(args.repeats):
        log(f"repeat {rep + 1}/{args.repeats}:")
        measure("infer T=1", infer_cmd(1), "infer")
        measure("infer T=2", infer_cmd(2), "infer")
        for la, ch in list(configs):
            label = label_of(la, ch)
            prefix = os.path.join(metrics_dir, f"hg-{la}-{ch}-r{rep + 1}")
            s = measure(label, run_cmd(hg, la, ch, prefix), "run", (la, ch))
            if s is None:
                continue
            per, record = read_layers(prefix, nl)
            if per is not None and label not in layer_data:
                layer_data[label] = (per, record)
            if record:
                s["record"] = {k: record.get(k) for k in (
                    "ENCODE_SECONDS", "DECODE_SECONDS", "SEND_SECONDS",
                    "WAIT_SECONDS", "METRIC_ELAPSED_TIME_COMPUTATION",
                    "METRIC_ELAPSED_TIME_BATCH")}

    if not configs:
        die("no launcher/channel pair left to run", 1)
    primary = configs[0]

    # ---- once each: raw codec, block plan, SDS-Inf's plan ----
    la, ch = primary
    once = []
    if not args.no_once:
        log("once each (bytes and entries):")
        once = [("run hypergraph raw", hg, "raw", "hg-raw"),
                ("run block", plans["block"]["dir"], None, "block")]
    if "sds-inf" in plans:
        once.append(("run sds-inf plan", plans["sds-inf"]["dir"], None,
                     "sds-inf"))
    for label, plan, codec, tag in once:
        prefix = os.path.join(metrics_dir, f"{tag}-{la}-{ch}")
        measure(label, run_cmd(plan, la, ch, prefix, codec), "run",
                (la, ch))
        per, record = read_layers(prefix, nl)
        if per is not None:
            layer_data[label] = (per, record)

    if redis:
        left = redis.keys_left()
        if left:
            failures.append("the private redis-server holds keys after the "
                            "runs: " + ", ".join(left))
    redis_info = None
    if redis and redis.port:
        info = redis_call(redis.port, "INFO", "server") or ""
        ver = next((x.split(":", 1)[1].strip() for x in info.splitlines()
                    if x.startswith("redis_version:")), None)
        redis_info = {"url": chconf.get("redis"), "version": ver,
                      "private": True}
    elif "redis" in chconf:
        redis_info = {"url": chconf["redis"], "private": False}
    load_after = os.getloadavg()

    # ---- medians ----
    def med(label, key):
        return median_or_none([s.get(key) for s in samples.get(label, [])])

    def quiet_med(label):
        """Median seconds over the runs no other work contended, and n."""
        xs = [s["seconds"] for s in samples.get(label, [])
              if s.get("seconds") is not None
              and s.get("other_cores") is not None
              and s["other_cores"] <= CONTENDED]
        return median_or_none(xs), len(xs)

    inf1, inf2 = med("infer T=1", "seconds"), med("infer T=2", "seconds")
    qinf1, qinf2 = quiet_med("infer T=1")[0], quiet_med("infer T=2")[0]
    best2 = min((s["seconds"] for s in samples.get("infer T=2", [])
                 if s.get("seconds") is not None), default=None)
    rows = []
    for label in list(samples):
        ss = samples[label]
        kind = "infer" if label.startswith("infer") else "run"
        r = {"label": label, "n": len(ss),
             "seconds": med(label, "seconds"),
             "quiet_seconds": quiet_med(label)[0],
             "quiet_n": quiet_med(label)[1],
             "best_seconds": min((s["seconds"] for s in ss
                                  if s.get("seconds") is not None),
                                 default=None),
             "wall_s": med(label, "wall_s"),
             "cpu_s": med(label, "cpu_s"),
             "rss_mib": med(label, "rss_mib"),
             "checks": sorted({str(s.get("check")) for s in ss}),
             "samples_s": [s.get("seconds") for s in ss],
             "samples_other_cores": [s.get("other_cores") for s in ss]}
        if kind == "infer":
            r["load_seconds"] = med(label, "load_seconds")
        else:
            r["startup_seconds"] = med(label, "startup_seconds")
            r["samples_startup_s"] = [s.get("startup_seconds") for s in ss]
            for k in ("bytes_sent", "messages_sent", "bytes_per_image"):
                vals = {s.get(k) for s in ss if s.get(k) is not None}
                r[k] = med(label, k)
                if len(vals) > 1:
                    r[k + "_varied"] = sorted(vals)
            r["best_over_best_infer_t2"] = ratio_or_none(
                r["best_seconds"], best2)
            r["quiet_over_quiet_infer_t2"] = ratio_or_none(
                r["quiet_seconds"], qinf2)
            r["quiet_over_quiet_infer_t1"] = ratio_or_none(
                r["quiet_seconds"], qinf1)
            r["over_infer_t2"] = ratio_or_none(r["seconds"], inf2)
            r["over_infer_t1"] = ratio_or_none(r["seconds"], inf1)
            recs = [s["record"] for s in ss if s.get("record")]
            if recs:
                r["summed_over_workers_s"] = {
                    k.lower(): median_or_none(
                        [float(x[k]) for x in recs if x.get(k)])
                    for k in recs[0]}
        rows.append(r)
    by_label = {r["label"]: r for r in rows}

    # ---- per layer (primary config) ----
    plabel = label_of(*primary)
    per_hg = layer_data.get(plabel, (None, None))[0]
    per_raw = layer_data.get("run hypergraph raw", (None, None))[0]
    per_blk = layer_data.get("run block", (None, None))[0]
    per_sds = layer_data.get("run sds-inf plan", (None, None))[0]
    nimg = next((s.get("images") for s in samples.get(plabel, [])
                 if s.get("images")), None) or 6000
    layers_out = []
    hot = None
    if per_hg:
        total_bytes = sum(p["bytes"] for p in per_hg)
        for a, b in layer_groups(nl, args.layer_single, args.layer_step):
            g = {"layers": [a, b]}
            for tag, per in (("", per_hg), ("raw_", per_raw),
                             ("block_", per_blk), ("sds_inf_", per_sds)):
                if per is None:
                    continue
                for k in ("msgs", "bytes", "rows", "entries"):
                    g[tag + k] = sum(per[i][k] for i in range(a - 1, b))
            layers_out.append(g)
        res_trip = per_hg[nl]
        g = {"layers": "results"}
        for tag, per in (("", per_hg), ("raw_", per_raw),
                         ("block_", per_blk), ("sds_inf_", per_sds)):
            if per is not None:
                for k in ("msgs", "bytes", "rows", "entries"):
                    g[tag + k] = per[nl][k]
        layers_out.append(g)
        order = sorted(range(nl), key=lambda i: -per_hg[i]["bytes"])
        cum, half = 0, None
        for i in range(nl):
            cum += per_hg[i]["bytes"]
            if half is None and cum >= total_bytes / 2:
                half = i + 1
        hot = {"top": [(i + 1, per_hg[i]["bytes"]) for i in order[:5]],
               "half_by_layer": half, "total_bytes": total_bytes,
               "results_bytes": res_trip["bytes"]}

    # ---- partition x encoding ----
    split = None
    if per_hg and not args.no_once:
        ex = {name: exchange(per, nl) for name, per in (
            ("hypergraph", per_hg), ("hypergraph_raw", per_raw),
            ("block", per_blk), ("sds_inf", per_sds)) if per is not None}
        sds_pub = None
        if os.path.exists(ref_metrics):
            with open(ref_metrics, newline="") as f:
                rec = next(csv.DictReader(f), None)
            if rec:
                sds_pub = {"bytes": int(rec["METRIC_SIZE_MESSAGES_SENT"]),
                           "messages": int(rec["METRIC_NUM_MESSAGES_SENT"]),
                           "images": int(rec["NUM_DATA"]),
                           "source": ref_metrics}
        if sds_pub is None:
            sds_pub = {"bytes": 104_000_000, "messages": None,
                       "images": 10_000, "source": "the issue (104 MB)"}
        sds_pub["bytes_per_image"] = sds_pub["bytes"] / sds_pub["images"]
        split = {"images": nimg, "exchange": ex, "sds_inf_published": sds_pub,
                 "header_bytes": HEADER_BYTES, "triple_bytes": TRIPLE_BYTES}

    # ---- report ----
    report(args, n, nl, W, plans, rows, by_label, inf1, inf2, plabel,
           layers_out, hot, split, nimg, configs, skipped_configs,
           busy_before, load_before, load_after, contended, failures,
           redis_info)

    prim = by_label.get(plabel, {})
    targets = {
        "bytes_per_image": prim.get("bytes_per_image"),
        "bytes_per_image_target": TARGET_BPI,
        "bytes_met": (prim.get("bytes_per_image") is not None
                      and prim["bytes_per_image"] <= TARGET_BPI),
        "run_over_infer_t2": prim.get("over_infer_t2"),
        "quiet_run_over_quiet_infer_t2": prim.get(
            "quiet_over_quiet_infer_t2"),
        "ratio_target": TARGET_RATIO,
        "ratio_basis": verdict_ratio(prim)[0],
        "ratio_met": verdict_ratio(prim)[1]}
    summary = {
        "bench": "run",
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "busy_cores_before": busy_before,
                    "loadavg_before": load_before,
                    "loadavg_after": load_after},
        "sdsinf": exe, "neurons": n, "layers": nl, "workers": W,
        "images": nimg, "repeats": args.repeats, "statistic": "median",
        "configs": [f"{a}/{b}" for a, b in configs],
        "setups": [setup_row(r) for r in rows],
        "redis": redis_info, "mpirun": (args.mpirun if any(
            la == "mpi" for la, _ in configs) else None),
        "skipped_configs": skipped_configs,
        "plans": {k: {kk: vv for kk, vv in v.items() if kk != "dir"}
                  for k, v in plans.items()},
        "results": rows, "layers": layers_out, "hot_layers": hot,
        "split": split, "targets": targets,
        "contended_runs": contended, "failures": failures}
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(summary, f, indent=1)
        log(f"figures written to {args.json_out}")
    if failures:
        return 1
    if args.strict and not (targets["bytes_met"] and targets["ratio_met"]):
        return 1
    return 0


LAUNCHER_NAMES = {"local": "local processes", "threads": "threads",
                  "mpi": "MPI ranks (mpirun)"}


def setup_name(label):
    """A row's label as a setup: what runs the workers, over what."""
    if label.startswith("infer T="):
        t = label.split("=", 1)[1]
        return f"single process, `infer --threads {t}`"
    if label.startswith("run hypergraph ") and "/" in label:
        la, ch = label.split(" ", 2)[2].split("/", 1)
        return f"{LAUNCHER_NAMES.get(la, la)}, channel {ch}"
    return label


def setup_row(r):
    """The setups table's figures for one row of results."""
    infer = r["label"].startswith("infer")
    return {"setup": setup_name(r["label"]), "label": r["label"],
            "n": r["n"], "clean_n": r["quiet_n"],
            "run_seconds_clean": r["quiet_seconds"],
            "run_seconds_all": r["seconds"],
            "startup_seconds": r.get("load_seconds" if infer
                                     else "startup_seconds"),
            "startup_is_load": infer, "wall_seconds": r["wall_s"],
            "bytes_sent": None if infer else r.get("bytes_sent"),
            "messages_sent": None if infer else r.get("messages_sent"),
            "bytes_per_image": None if infer else r.get("bytes_per_image"),
            "checks": r["checks"]}


def report_setups(rows):
    """The setups side by side: run seconds (median of the clean repeats,
    i.e. with other work <= CONTENDED cores; then of all), start-up, the
    wall time of the whole command, bytes and messages, the check."""
    p = print
    p("### Setups\n")
    p("run s: median over the clean repeats (other work <= "
      f"{CONTENDED} cores; how many in brackets), after start-up for runs, "
      "inference only for infer; all: median over every repeat; start-up: "
      "`startup_seconds` of `run --json` (workers started, data loaded, "
      "ready), for infer its `load_seconds`; wall: the whole command "
      "(for MPI mpirun's start of the ranks and every rank's loading "
      "included); bytes and messages: sent over the channel, all workers, "
      "the results' trip included.\n")
    p("| setup | run s (clean) | run s (all) | start-up s | wall s | "
      "bytes | messages | bytes/image | check |")
    p("|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        x = setup_row(r)
        if x["label"] in ("run hypergraph raw", "run block",
                          "run sds-inf plan"):
            continue
        clean = (f"{fmt(x['run_seconds_clean'], 0)} ({x['clean_n']})"
                 if x["clean_n"] else f"- (0 of {x['n']})")
        start = fmt(x["startup_seconds"], 0)
        if x["startup_is_load"] and x["startup_seconds"] is not None:
            start += " (load)"
        p(f"| {x['setup']} | {clean} | {fmt(x['run_seconds_all'], 0)} | "
          f"{start} | {fmt(x['wall_seconds'], 0, 2)} | "
          f"{num(x['bytes_sent'])} | {num(x['messages_sent'])} | "
          f"{num(x['bytes_per_image'], 1)} | {'/'.join(x['checks'])} |")
    p("")


def report(args, n, nl, W, plans, rows, by_label, inf1, inf2, plabel,
           layers_out, hot, split, nimg, configs, skipped_configs,
           busy_before, load_before, load_after, contended, failures,
           redis_info):
    p = print
    p(f"\n## sdsinf run: {n} neurons x {nl} layers, {nimg:,} images, "
      f"{W} workers\n")
    once = ("" if args.no_once else
            "; raw, block and SDS-Inf's plan once each")
    p(f"{time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores "
      f"({platform.machine()}); median of {args.repeats} "
      f"(infer and the hypergraph runs interleaved{once}); other work "
      f"before: {fmt(busy_before, 0, 2)} cores, load average "
      f"{load_before[0]:.2f} before, {load_after[0]:.2f} after.")
    if any(la == "mpi" for la, _ in configs):
        p(f"MPI: `{args.mpirun} -n {W} sdsinf run --launcher mpi ...`.")
    if redis_info:
        p("Redis: " + (f"a private redis-server {redis_info.get('version')} "
                       f"at {redis_info['url']} (no persistence), stopped "
                       "afterwards." if redis_info.get("private")
                       else f"{redis_info['url']} (given)."))
    if skipped_configs:
        p("Not run: " + "; ".join(skipped_configs) + ".")
    p("")
    report_setups(rows)

    p("| plan | row-target pairs | imbalance | partition s |")
    p("|---|---:|---:|---:|")
    for name, info in plans.items():
        secs = info.get("seconds")
        p(f"| {name} | {num(info.get('row_target_pairs'))} | "
          f"{100 * (info.get('imbalance') or 0):.2f}% | "
          f"{'-' if secs is None else f'{secs:.2f}'}"
          f"{' (reused)' if info.get('reused') else ''} |")

    p(f"\nseconds: median (after start-up for runs, inference only for "
      f"infer); quiet: median of the runs during which other work kept <= "
      f"{CONTENDED} cores busy (how many); / infer: on the medians, and "
      "(in brackets) on the quiet medians.\n")
    p("| what | n | seconds | quiet s (n) | best s | start-up s | "
      "bytes/image | messages | check | / infer T=2 | / infer T=1 |")
    p("|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|")
    for r in rows:
        if r["label"].startswith("infer"):
            p(f"| `sdsinf {r['label']}` | {r['n']} | {fmt(r['seconds'], 0)} | "
              f"{fmt(r['quiet_seconds'], 0)} ({r['quiet_n']}) | "
              f"{fmt(r['best_seconds'], 0)} | "
              f"{fmt(r.get('load_seconds'), 0)} (load) | | | "
              f"{'/'.join(r['checks'])} | | |")
        else:
            p(f"| {r['label']} | {r['n']} | {fmt(r['seconds'], 0)} | "
              f"{fmt(r['quiet_seconds'], 0)} ({r['quiet_n']}) | "
              f"{fmt(r['best_seconds'], 0)} | "
              f"{fmt(r.get('startup_seconds'), 0)} | "
              f"{num(r.get('bytes_per_image'), 1)} | "
              f"{num(r.get('messages_sent'))} | {'/'.join(r['checks'])} | "
              f"{fmt(r.get('over_infer_t2'), 0, 2)} "
              f"({fmt(r.get('quiet_over_quiet_infer_t2'), 0, 2)}) | "
              f"{fmt(r.get('over_infer_t1'), 0, 2)} "
              f"({fmt(r.get('quiet_over_quiet_infer_t1'), 0, 2)}) |")
    prim = by_label.get(plabel)
    if prim and prim.get("summed_over_workers_s"):
        s = prim["summed_over_workers_s"]
        p(f"\n{plabel}, seconds summed over the {W} workers (median): "
          f"in the layer loop {fmt(s.get('metric_elapsed_time_batch'), 0, 2)}"
          f", compute {fmt(s.get('metric_elapsed_time_computation'), 0, 2)}"
          f", encode {fmt(s.get('encode_seconds'), 0, 2)}"
          f", decode {fmt(s.get('decode_seconds'), 0, 2)}"
          f", send {fmt(s.get('send_seconds'), 0, 2)}"
          f", wait {fmt(s.get('wait_seconds'), 0, 2)} (wall-clock "
          "intervals: with more workers than cores they include time spent "
          "waiting for a core).")
        inf = by_label.get("infer T=1", {})
        p(f"CPU seconds of the whole process tree, start-up and loading "
          f"included (median): {plabel} {fmt(prim.get('cpu_s'), 0, 2)}, "
          f"`infer T=1` {fmt(inf.get('cpu_s'), 0, 2)}, `infer T=2` "
          f"{fmt(by_label.get('infer T=2', {}).get('cpu_s'), 0, 2)}; wall "
          f"{fmt(prim.get('wall_s'), 0, 2)} against "
          f"{fmt(inf.get('wall_s'), 0, 2)}.")

    if layers_out:
        has_raw = "raw_bytes" in layers_out[0]
        has_blk = "block_entries" in layers_out[0]
        p(f"\n### Per layer ({plabel}, summed over workers; entries = "
          "activation entries sent, NNZ_SENT)\n")
        head = ("| layer | messages | bytes | B/image | share | rows sent | "
                "entries | B/entry |")
        sep = "|---|---:|---:|---:|---:|---:|---:|---:|"
        if has_raw:
            head += " raw bytes |"
            sep += "---:|"
        if has_blk:
            head += " block entries | block bytes |"
            sep += "---:|---:|"
        p(head)
        p(sep)
        total = hot["total_bytes"] if hot else 1
        tot = {k: sum(g.get(k) or 0 for g in layers_out)
               for k in layers_out[0] if k != "layers"}
        tot["layers"] = "all"
        for g in layers_out + [tot]:
            lay = g["layers"]
            name = (lay if isinstance(lay, str) else
                    str(lay[0]) if lay[0] == lay[1] else f"{lay[0]}-{lay[1]}")
            bpe = ratio_or_none(g["bytes"], g["entries"])
            line = (f"| {name} | {num(g['msgs'])} | {num(g['bytes'])} | "
                    f"{g['bytes'] / nimg:,.1f} | "
                    f"{share(g['bytes'], total)} | {num(g['rows'])} | "
                    f"{num(g['entries'])} | {fmt(bpe, 0, 3)} |")
            if has_raw:
                line += f" {num(g.get('raw_bytes'))} |"
            if has_blk:
                line += (f" {num(g.get('block_entries'))} | "
                         f"{num(g.get('block_bytes'))} |")
            p(line)
        if hot:
            top = ", ".join(f"{l} ({100 * b / total:.1f}%)"
                            for l, b in hot["top"])
            p(f"\nMost bytes cross at layers {top}; layers 1-"
              f"{hot['half_by_layer']} carry half of all bytes; the results' "
              f"trip to worker 0 is {share(hot['results_bytes'], total)}.")

    if split:
        ex, pub = split["exchange"], split["sds_inf_published"]
        h = ex["hypergraph"]
        p(f"\n### Bytes = entries x bytes/entry (layers 1-{nl}, the results' "
          "trip left out; per image)\n")
        p(f"Entries: activation entries (sample, neuron, value) that cross, "
          f"from NNZ_SENT. SDS-Inf's format is taken as {TRIPLE_BYTES} B per "
          "entry (a float32 value, row and sample each) before its zlib-3, "
          "whose output it then sent as Python's repr text (about 2.9x the "
          "compressed size); the 12-B rows are that assumption applied to "
          "our entries, not measured. Measured bytes include each message's "
          f"{HEADER_BYTES}-B header.\n")
        p("| plan (partition) | encoding | rows sent | entries/image | "
          "B/entry | bytes/image |")
        p("|---|---|---:|---:|---:|---:|")

        def row(plan, enc, e, bpe, measured=None):
            epi = e["entries"] / nimg
            bpi = measured / nimg if measured is not None else epi * bpe
            p(f"| {plan} | {enc} | {num(e['rows'])} | {epi:,.0f} | "
              f"{bpe:.3f} | {bpi:,.1f} |")
            return bpi

        out = {}
        if "block" in ex:
            out["block_triples"] = row("block", "SDS-Inf triples (assumed)",
                                       ex["block"], TRIPLE_BYTES)
        if "sds_inf" in ex:
            out["sds_inf_triples"] = row("SDS-Inf's", "SDS-Inf triples "
                                         "(assumed)", ex["sds_inf"],
                                         TRIPLE_BYTES)
        out["hg_triples"] = row("hypergraph", "SDS-Inf triples (assumed)",
                                h, TRIPLE_BYTES)
        if "hypergraph_raw" in ex:
            r_ = ex["hypergraph_raw"]
            out["hg_raw"] = row("hypergraph", "raw (measured)", r_,
                                r_["bytes"] / r_["entries"], r_["bytes"])
        out["hg_zstd"] = row("hypergraph", "zstd, default (measured)", h,
                             h["bytes"] / h["entries"], h["bytes"])
        for key, name in (("block", "block"), ("sds_inf", "SDS-Inf's")):
            if key in ex:
                e = ex[key]
                out[key + "_zstd"] = row(name, "zstd, default (measured)", e,
                                         e["bytes"] / e["entries"],
                                         e["bytes"])
        p(f"| SDS-Inf's, published ({pub['images']:,} images) | zlib-3 + "
          f"repr (measured by SDS-Inf) | | | | {pub['bytes_per_image']:,.1f} |")
        split["bytes_per_image"] = out

        f_part = ratio_or_none(ex.get("block", {}).get("entries"),
                               h["entries"])
        f_part_s = ratio_or_none(ex.get("sds_inf", {}).get("entries"),
                                 h["entries"])
        f_raw = ratio_or_none(out["hg_triples"], out.get("hg_raw"))
        f_zstd = ratio_or_none(out.get("hg_raw"), out["hg_zstd"])
        f_enc = ratio_or_none(out["hg_triples"], out["hg_zstd"])
        hdr = HEADER_BYTES * h["msgs"] / nimg
        split["factors"] = {"partition_block_over_hg": f_part,
                            "partition_sds_inf_over_hg": f_part_s,
                            "encoding_triples_over_raw": f_raw,
                            "encoding_raw_over_zstd": f_zstd,
                            "encoding_triples_over_zstd": f_enc,
                            "header_bytes_per_image": hdr}
        p("\nFactors (on the hypergraph plan's entries where it matters):")
        if f_part:
            p(f"- partition: block -> hypergraph cuts the entries that cross "
              f"{f_part:.1f}x (row-target pairs "
              f"{plans['block']['row_target_pairs'] / plans['hypergraph']['row_target_pairs']:.1f}x)"
              + (f"; SDS-Inf's own plan -> hypergraph {f_part_s:.1f}x"
                 if f_part_s else "") + ";")
        if f_raw and f_zstd:
            p(f"- encoding: {TRIPLE_BYTES}-B triples -> our raw block "
              f"{f_raw:.1f}x, raw -> zstd {f_zstd:.2f}x, together "
              f"{f_enc:.0f}x ({h['bytes'] / h['entries']:.3f} B/entry, of "
              f"which headers {hdr / (h['entries'] / nimg):.3f});")
        if f_part and f_enc:
            p(f"- both: block + triples -> hypergraph + zstd "
              f"{out['block_triples'] / out['hg_zstd']:,.0f}x; SDS-Inf as "
              f"published -> default {pub['bytes_per_image'] / (sum(g['bytes'] for g in layers_out) / nimg):.1f}x "
              "(results' trip included).")

    prim = by_label.get(plabel, {})
    bpi, rt2 = prim.get("bytes_per_image"), prim.get("over_infer_t2")
    p("\n### The issue's targets\n")
    p(f"- bytes sent per image, default codec: {num(bpi, 1)} "
      f"(target <= {TARGET_BPI}): "
      f"{'met' if bpi is not None and bpi <= TARGET_BPI else 'MISSED'}")
    basis, met = verdict_ratio(prim)
    p(f"- run seconds / infer seconds (T=2, the same {os.cpu_count()} "
      f"cores): {fmt(rt2, 0, 2)} on the medians, "
      f"{fmt(prim.get('quiet_over_quiet_infer_t2'), 0, 2)} on the quiet "
      f"ones (target <= {TARGET_RATIO:g}): "
      f"{'-' if met is None else 'met' if met else 'MISSED'} ({basis})"
      f"; against T=1: {fmt(prim.get('over_infer_t1'), 0, 2)}; best run / "
      f"best infer T=2: {fmt(prim.get('best_over_best_infer_t2'), 0, 2)}"
      "; start-up "
      f"{fmt(prim.get('startup_seconds'), 0, 3)} s apart")
    if contended:
        p(f"\nWARNING: other work competed for the CPUs (> {CONTENDED} "
          f"cores) during {len(contended)} of {sum(r['n'] for r in rows)} "
          f"runs ({contention_summary(rows)}); those timings are not "
          "trustworthy.")
    if failures:
        p("\nFAILURES: " + "; ".join(failures))


if __name__ == "__main__":
    sys.exit(main())
