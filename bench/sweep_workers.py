#!/usr/bin/env python3
"""sweep_workers.py - the long sweep behind tests/test_differential.c: the
real network (or a generated one) run distributed over many worker counts,
plan methods, launchers and channels, each run's scores compared byte for
byte with `sdsinf infer --scores`, and each configuration repeated to check
that bytes_sent does not change.  (Faults - duplicates, reordering,
delays - come from the test's wrapper channel: test_differential.)

usage: bench/sweep_workers.py [--bin build/sdsinf] [--data ../shared/data]
           [--images 1000] [--workers 1,63,64,65,...] [--methods block,random]
           [--pairs threads:mem,local:local] [--repeats 2]

Prints one line per run and a summary (runs, worker counts, all exact or
not); exits 1 if any run differs."""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def sh(args, **kw):
    p = subprocess.run(args, capture_output=True, text=True, **kw)
    if p.returncode != 0:
        raise RuntimeError("%s: exit %d\n%s" % (" ".join(args), p.returncode,
                                                p.stderr[-2000:]))
    return p.stdout


def last_json(out):
    return json.loads(out.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", default=os.path.join(HERE, "..", "build", "sdsinf"))
    ap.add_argument("--data", default=os.path.join(HERE, "..", "..", "shared",
                                                   "data"))
    ap.add_argument("--images", type=int, default=1000,
                    help="the first N images of the real set")
    ap.add_argument("--workers",
                    default="1,2,8,63,64,65,100,127,128,129,200,256,300")
    ap.add_argument("--methods", default="block,random")
    ap.add_argument("--pairs", default="threads:mem,local:local")
    ap.add_argument("--repeats", type=int, default=2)
    a = ap.parse_args()
    gc = os.path.join(a.data, "graphchallenge")
    model_dir = os.path.join(gc, "neuron1024")
    if not os.path.isdir(model_dir):
        sys.exit("no real data at %s (give --data)" % gc)
    tmp = tempfile.mkdtemp(prefix="sdsinf-sweep-")
    images = os.path.join(tmp, "images.tsv")
    with open(os.path.join(gc, "sparse-images-1024-first6000.tsv")) as f, \
            open(images, "w") as g:
        for line in f:
            if int(line.split()[0]) <= a.images:
                g.write(line)
    bundle = os.path.join(tmp, "model.sdsinf")
    sh([a.bin, "convert", "--weights", model_dir, "--out", bundle])
    want = os.path.join(tmp, "infer.scores")
    sh([a.bin, "infer", "--weights", bundle, "--images", images, "--scores",
        want, "--quiet"])
    want_bytes = open(want, "rb").read()
    runs = bad = 0
    counts = set()
    for W in [int(w) for w in a.workers.split(",")]:
        for method in a.methods.split(","):
            plan = os.path.join(tmp, "plan-%s-%d" % (method, W))
            sh([a.bin, "partition", "--weights", bundle, "--workers", str(W),
                "--method", method, "--out", plan])
            for pair in a.pairs.split(","):
                launcher, channel = pair.split(":")
                sent = set()
                for rep in range(a.repeats):
                    got = os.path.join(tmp, "run.scores")
                    t = time.time()
                    out = sh([a.bin, "run", "--weights", bundle, "--images",
                              images, "--plan", plan, "--launcher", launcher,
                              "--channel", channel, "--scores", got,
                              "--timeout-ms", "120000", "--json", "--quiet"])
                    j = last_json(out)
                    same = open(got, "rb").read() == want_bytes
                    sent.add(j["bytes_sent"])
                    runs += 1
                    counts.add(W)
                    ok = same and len(sent) == 1
                    bad += not ok
                    print("%s W=%d %s %s/%s #%d: %s, %d bytes, %.2f s" % (
                        "ok  " if ok else "FAIL", W, method, launcher,
                        channel, rep + 1,
                        "scores equal infer's" if same else "SCORES DIFFER",
                        j["bytes_sent"], time.time() - t), flush=True)
            subprocess.run(["rm", "-rf", plan])
    subprocess.run(["rm", "-rf", tmp])
    print("sweep: %d runs over %d worker counts (%s), %d images: %s" % (
        runs, len(counts), ",".join(str(w) for w in sorted(counts)),
        a.images, "all exact" if not bad else "%d NOT EXACT" % bad))
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
