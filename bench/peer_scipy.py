#!/usr/bin/env python3
"""scipy peer for the GraphChallenge Sparse DNN inference benchmark.

It runs the formulation SDS-Inf uses, per layer, on float32 CSR matrices:

    Z = Y @ W                 sparse x sparse product (scipy's SMMP kernel)
    Z.data += bias            bias on the stored entries only
    Z.data[Z.data < 0] = 0    ReLU, with ...
    Z.eliminate_zeros()       ... every entry <= 0 dropped from the structure
    Z.data[Z.data > 32] = 32  clamp at YMAX = 32

Loading is not timed; only the layer loop is.

Threads: scipy.sparse matrix products are single-threaded (no BLAS, no
OpenMP), so the reported "threads" is always 1 whatever --threads says; the
flag is accepted so the benchmark driver can pass the same flags to every peer.

Usage: peer_scipy.py --weights DIR --images FILE --neurons N --layers L
                     [--threads T] [--check GOLD]
The last stdout line is one JSON object:
  {"peer":"scipy","threads":1,"images":M,"neurons":N,"layers":L,
   "seconds":S,"categories":C,"check":"pass"|"fail"|null}
Exit status: 0 when it ran (and the check, if any, passed), 1 when the check
failed, 2 on usage or input errors.
"""

import argparse
import json
import os
import sys
import time

import numpy as np
import scipy.sparse as sp

BIAS = {1024: -0.3, 4096: -0.35, 16384: -0.4, 65536: -0.45}
YMAX = 32.0


def fail(msg):
    print(f"peer_scipy: {msg}", file=sys.stderr)
    sys.exit(2)


def read_triplets(path):
    """Return (rows, cols, vals) of a `r c v` file, indices made 0-based."""
    try:
        with open(path, "rb") as f:
            fields = f.read().split()
    except OSError as e:
        fail(f"cannot read {path}: {e.strerror}")
    if len(fields) % 3:
        fail(f"{path}: expected lines of `row col value`")
    try:
        # Index columns parse as int64, the value column as float64 then float32.
        a = np.array(fields, dtype=np.float64).reshape(-1, 3)
    except ValueError:
        fail(f"{path}: non-numeric field")
    rows = a[:, 0].astype(np.int64) - 1
    cols = a[:, 1].astype(np.int64) - 1
    if len(a) and (rows.min() < 0 or cols.min() < 0):
        fail(f"{path}: indices must be 1-based")
    return rows, cols, a[:, 2].astype(np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", required=True, help="dir with nN-l1..L.tsv")
    ap.add_argument("--images", required=True, help="`image feature 1` file")
    ap.add_argument("--neurons", required=True, type=int)
    ap.add_argument("--layers", required=True, type=int)
    ap.add_argument("--threads", type=int, default=1,
                    help="accepted and ignored: scipy sparse is single-threaded")
    ap.add_argument("--check", metavar="GOLD",
                    help="golden list of 1-based image ids with a nonzero row")
    args = ap.parse_args()
    n = args.neurons
    if n not in BIAS:
        fail(f"no GraphChallenge bias for {n} neurons (use {sorted(BIAS)})")
    if args.layers <= 0:
        fail("--layers must be positive")
    bias = np.float32(BIAS[n])

    # ---- load (not timed) ----
    W = []
    for layer in range(1, args.layers + 1):
        r, c, v = read_triplets(os.path.join(args.weights, f"n{n}-l{layer}.tsv"))
        W.append(sp.csr_matrix((v, (r, c)), shape=(n, n), dtype=np.float32))
    r, c, v = read_triplets(args.images)
    if len(c) and c.max() >= n:
        fail(f"{args.images}: feature {c.max() + 1} > --neurons {n}")
    nimages = int(r.max()) + 1 if len(r) else 0
    Y0 = sp.csr_matrix((v, (r, c)), shape=(nimages, n), dtype=np.float32)

    # ---- timed: the layer loop ----
    t0 = time.perf_counter()
    Y = Y0
    for Wl in W:
        Z = Y @ Wl
        Z.data += bias
        Z.data[Z.data < 0] = 0
        Z.eliminate_zeros()
        Z.data[Z.data > YMAX] = YMAX
        Y = Z
    seconds = time.perf_counter() - t0

    # ---- categories: rows with any stored entry (all stored entries are > 0) ----
    cats = np.flatnonzero(np.diff(Y.indptr))  # 0-based ids, ascending
    check = None
    if args.check:
        try:
            with open(args.check, "rb") as f:
                gold = np.array(f.read().split(), dtype=np.int64) - 1
        except (OSError, ValueError) as e:
            fail(f"cannot read golden file {args.check}: {e}")
        same = np.array_equal(np.sort(gold), cats)
        check = "pass" if same else "fail"
        if not same:
            print(f"peer_scipy: check failed: {len(cats)} categories, "
                  f"golden file has {len(gold)}", file=sys.stderr)

    print(json.dumps({"peer": "scipy", "threads": 1, "images": nimages,
                      "neurons": n, "layers": args.layers,
                      "seconds": round(seconds, 6), "categories": int(len(cats)),
                      "check": check}, separators=(",", ":")))
    return 1 if check == "fail" else 0


if __name__ == "__main__":
    sys.exit(main())
