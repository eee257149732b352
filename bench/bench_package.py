#!/usr/bin/env python3
"""The Lambda package: its size and the bootstrap's cold start.

    bench_package.py SDSINF [--runs N] [--json FILE]

Makes the package of SDSINF (`sdsinf aws package --out`), unpacks it into an
empty directory and starts its bootstrap N times (default 30) as Lambda
would: nothing in the environment but LD_LIBRARY_PATH=<dir>/lib and
AWS_LAMBDA_RUNTIME_API, pointing at a socket of this program's.  A cold
start is the time from starting the process to its first request (the
Runtime API's `next`) arriving on that socket; the process's CPU time to
then (user + system, from wait4 once it is stopped) is reported too, as it
does not depend on how loaded the machine is.  Goal (issue 13): <= 50 ms.

Output: a table on stdout and one JSON line (--json FILE: also there)."""

import argparse
import json
import os
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile


def cold_start(task, sock):
    """One start of the bootstrap: (ms to its first request, its CPU ms)."""
    env = {"LD_LIBRARY_PATH": os.path.join(task, "lib"),
           "AWS_LAMBDA_RUNTIME_API": "127.0.0.1:%d" % sock.getsockname()[1]}
    t0 = time.monotonic()
    proc = subprocess.Popen([os.path.join(task, "bootstrap")], env=env,
                            cwd=task, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    conn, _ = sock.accept()
    first = b""
    while b"\r\n" not in first:
        more = conn.recv(4096)
        if not more:
            break
        first += more
    wall = (time.monotonic() - t0) * 1000
    if b"/runtime/invocation/next" not in first.split(b"\r\n")[0]:
        raise SystemExit("the bootstrap's first request is not next: %r" % first[:80])
    proc.send_signal(signal.SIGKILL)
    _, _, ru = os.wait4(proc.pid, 0)
    conn.close()
    return wall, (ru.ru_utime + ru.ru_stime) * 1000


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("sdsinf")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--json")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        z = os.path.join(tmp, "package.zip")
        out = subprocess.run([a.sdsinf, "aws", "package", "--out", z, "--json"],
                             check=True, capture_output=True, text=True)
        info = json.loads(out.stdout.strip().splitlines()[-1])
        task = os.path.join(tmp, "task")
        os.mkdir(task)
        with zipfile.ZipFile(z) as zf:
            for i in zf.infolist():
                zf.extract(i, task)
                os.chmod(os.path.join(task, i.filename), i.external_attr >> 16 & 0o777)
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sock.listen(4)
        cold_start(task, sock)  # the files into the page cache first
        runs = [cold_start(task, sock) for _ in range(a.runs)]
        sock.close()
    wall = sorted(r[0] for r in runs)
    cpu = sorted(r[1] for r in runs)
    res = {"bench": "package", "zip_bytes": info["nbytes"],
           "bootstrap_bytes": info["bootstrap"]["nbytes"],
           "bundled": [b["soname"] for b in info["bundled"]],
           "runs": a.runs,
           "cold_start_ms": {"median": round(statistics.median(wall), 2),
                             "min": round(wall[0], 2),
                             "p90": round(wall[int(0.9 * (len(wall) - 1))], 2)},
           "cpu_ms": {"median": round(statistics.median(cpu), 2),
                      "min": round(cpu[0], 2)},
           "load_average": os.getloadavg()[0], "goal_ms": 50}
    print("| package | bytes |\n|---|---|\n| zip | %d |\n| bootstrap | %d |\n| bundled | %s |"
          % (res["zip_bytes"], res["bootstrap_bytes"], ", ".join(res["bundled"]) or "none"))
    print("\n| cold start, %d runs (load %.1f) | median | min | p90 |\n|---|---|---|---|" % (a.runs, res["load_average"]))
    print("| process start to first `next` (ms) | %.1f | %.1f | %.1f |"
          % (res["cold_start_ms"]["median"], res["cold_start_ms"]["min"], res["cold_start_ms"]["p90"]))
    print("| its CPU time (ms) | %.1f | %.1f | |" % (res["cpu_ms"]["median"], res["cpu_ms"]["min"]))
    line = json.dumps(res)
    print(line)
    if a.json:
        with open(a.json, "w") as f:
            f.write(line + "\n")


if __name__ == "__main__":
    sys.exit(main())
