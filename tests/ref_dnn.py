#!/usr/bin/env python3
"""Reference Sparse DNN inference, the oracle the C library is tested against.

Independent of libsdsinf: plain numpy, dense arrays, one layer at a time.

    S = (Y != 0) @ (W != 0) > 0          structural nonzeros of Y @ W
    Z = Y @ W                            float32
    Y = where(S, min(ymax, max(0, Z + b)), 0)

Z is summed in float32 in ascending input-neuron order, each product rounded
to float32 before it is added (no fused multiply-add), and the bias is added
last: that is the arithmetic the C kernel documents, so the two agree bit for
bit rather than only to a tolerance (a sum can be exactly -b, where any other
order of additions may land one ulp either side of zero).  The sum runs over
each output neuron's own inputs, padded with zero weights at the end, which
is the same sum as the dense one over all K inputs.

Rows that are empty stay empty (no structural nonzeros), so only live rows are
carried from layer to layer; that changes nothing but the running time.

Inputs, in the GraphChallenge layout (1-based, tab or space separated):
  DIR/n{N}-l{l}.tsv   `r c v`: r = input neuron, c = output neuron
  FILE                `image feature value`; the image count is the largest id
Outputs:
  --categories OUT    1-based ids of images with a nonzero final row, one a line
  --scores OUT        `image argmax max` (tab-separated) for every image:
                      1-based argmax (lowest neuron wins ties), `0 0` for an
                      empty row; max as %.9g (round-trips float32)
Exit status: 0 on success, 2 on usage or input errors.
"""

import argparse
import os
import sys

import numpy as np


def fail(msg):
    print(f"ref_dnn: {msg}", file=sys.stderr)
    sys.exit(2)


def read_triplets(path, what):
    """(rows, cols, vals) of a `r c v` file: 0-based int64, float32 values."""
    try:
        with open(path, "rb") as f:
            fields = f.read().split()
    except OSError as e:
        fail(f"cannot read {what} {path}: {e.strerror}")
    if len(fields) % 3:
        fail(f"{path}: expected lines of three fields")
    try:
        a = np.array(fields, dtype=np.float64).reshape(-1, 3)
    except ValueError:
        fail(f"{path}: non-numeric field")
    rows = a[:, 0].astype(np.int64)
    cols = a[:, 1].astype(np.int64)
    if (rows != a[:, 0]).any() or (cols != a[:, 1]).any():
        fail(f"{path}: indices must be integers")
    if len(a) and (rows.min() < 1 or cols.min() < 1):
        fail(f"{path}: indices must be 1-based")
    return rows - 1, cols - 1, a[:, 2].astype(np.float32)


def read_layer(path, n):
    """The layer as per-output input lists: (inputs, weights), each n x d.

    inputs[c] holds the input neurons of output c in ascending order, padded
    with input 0 and weight 0; mask[c, t] marks the real entries."""
    r, c, v = read_triplets(path, "weights")
    if len(r) and (r.max() >= n or c.max() >= n):
        fail(f"{path}: neuron id above {n}")
    order = np.lexsort((r, c))  # by output, then ascending input
    r, c, v = r[order], c[order], v[order]
    dup = (np.diff(c) == 0) & (np.diff(r) == 0)
    if dup.any():
        i = int(np.nonzero(dup)[0][0]) + 1
        fail(f"{path}: duplicate entry ({r[i] + 1}, {c[i] + 1})")
    deg = np.bincount(c, minlength=n)
    d = max(int(deg.max()) if len(deg) else 0, 1)
    start = np.concatenate(([0], np.cumsum(deg)[:-1]))
    slot = np.arange(len(c)) - start[c]
    inputs = np.zeros((n, d), dtype=np.int64)
    weights = np.zeros((n, d), dtype=np.float32)
    mask = np.zeros((n, d), dtype=bool)
    inputs[c, slot] = r
    weights[c, slot] = v
    mask[c, slot] = True
    return inputs, weights, mask


def read_images(path, n):
    r, c, v = read_triplets(path, "images")
    m = int(r.max()) + 1 if len(r) else 0
    if len(c) and c.max() >= n:
        fail(f"{path}: feature id above {n}")
    if len(np.unique(r * n + c)) != len(r):
        fail(f"{path}: duplicate entry")
    y = np.zeros((m, n), dtype=np.float32)
    y[r, c] = v
    return y


def layer(y, inputs, weights, mask, bias, ymax):
    """One layer on the live rows y (float32, rows x n)."""
    rows, n = y.shape
    z = np.zeros((rows, n), dtype=np.float32)
    s = np.zeros((rows, n), dtype=bool)
    nz = y != 0
    for t in range(inputs.shape[1]):  # ascending input order per output
        k = inputs[:, t]
        z += y[:, k] * weights[:, t]  # float32 product, then float32 sum
        s |= nz[:, k] & mask[:, t]
    z = z + bias
    z = np.minimum(np.maximum(z, np.float32(0)), ymax)
    z[~s] = 0
    return z


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", required=True, help="dir with nN-l1..L.tsv")
    ap.add_argument("--images", required=True, help="`image feature value`")
    ap.add_argument("--neurons", required=True, type=int)
    ap.add_argument("--layers", required=True, type=int)
    ap.add_argument("--bias", required=True, type=float)
    ap.add_argument("--ymax", type=float, default=32.0)
    ap.add_argument("--categories", required=True, metavar="OUT")
    ap.add_argument("--scores", required=True, metavar="OUT")
    args = ap.parse_args()
    n, nl = args.neurons, args.layers
    if n < 1 or nl < 0:
        fail("--neurons must be >= 1 and --layers >= 0")
    bias, ymax = np.float32(args.bias), np.float32(args.ymax)

    y = read_images(args.images, n)
    m = y.shape[0]
    live = np.nonzero((y != 0).any(axis=1))[0]  # image ids of the rows of y
    y = y[live]
    for l in range(1, nl + 1):
        path = os.path.join(args.weights, f"n{n}-l{l}.tsv")
        inputs, weights, mask = read_layer(path, n)
        y = layer(y, inputs, weights, mask, bias, ymax)
        keep = (y != 0).any(axis=1)
        live, y = live[keep], y[keep]

    argmax = np.zeros(m, dtype=np.int64)
    best = np.zeros(m, dtype=np.float32)
    if len(live):
        argmax[live] = np.argmax(y, axis=1) + 1  # first (lowest) of ties
        best[live] = y.max(axis=1)
    try:
        with open(args.categories, "w") as f:
            f.writelines(f"{i + 1}\n" for i in live)
        with open(args.scores, "w") as f:
            f.writelines(f"{i + 1}\t{argmax[i]}\t{float(best[i]):.9g}\n"
                         for i in range(m))
    except OSError as e:
        fail(f"cannot write: {e.strerror}")


if __name__ == "__main__":
    main()
