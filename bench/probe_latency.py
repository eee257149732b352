#!/usr/bin/env python3
"""Measure the planner's request latencies on an endpoint: a price table
whose latency constants are measured, not fitted.

sdsinf's planner (`sdsinf plan`, src/cost/predict.c) takes its request
latencies from the price table's `latency` block (prices/aws.json), fitted
to SDS-Inf's published runs.  This probe measures them for sdsinf itself:
it generates a small model, runs it on W local workers over each channel
of --channels (sqs, sns, s3) with `sdsinf run --metrics`, and divides the
time the workers spent in the channel by the requests they made there,
layer records summed (PREFIX-layers.csv: SEND_SECONDS over REQUESTS_SEND,
WAIT_SECONDS over REQUESTS_RECEIVE):

  sqs_send_seconds, sqs_receive_seconds   the sqs channel's SendMessageBatch
                                          and ReceiveMessage (the wait for
                                          the peers' messages included, as
                                          the fitted figure includes it)
  sns_publish_seconds                     the sns channel's PublishBatch
  s3_put_seconds, s3_get_seconds          the s3 channel's PUT and GET
                                          (GETs of absent objects included)

It writes --out: a copy of --prices with those constants replaced, each
one's source saying "measured:" and how; plan with it by
`sdsinf plan --prices OUT ...` (or SDSINF_PRICES=OUT).

Where: the standard AWS configuration (AWS_ENDPOINT_URL, credentials,
AWS_REGION) with --aws; without --aws and without AWS_ENDPOINT_URL the
probe runs itself again under tests/with_aws.sh, against a private
ministack on 127.0.0.1 (an emulator's latencies, not AWS's: a test of the
probe, not figures to plan with).  On AWS the run makes and removes its
own queues, topic and bucket (a few hundred requests: well under a cent).
"""

import argparse
import csv
import datetime
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# channel -> (constant, seconds column, requests column, what a request is)
MEASURED = {
    "sqs": [("sqs_send_seconds", "SEND_SECONDS", "REQUESTS_SEND",
             "SendMessageBatch"),
            ("sqs_receive_seconds", "WAIT_SECONDS", "REQUESTS_RECEIVE",
             "ReceiveMessage, the wait for the peers' messages included")],
    "sns": [("sns_publish_seconds", "SEND_SECONDS", "REQUESTS_SEND",
             "PublishBatch")],
    "s3": [("s3_put_seconds", "SEND_SECONDS", "REQUESTS_SEND", "PUT"),
           ("s3_get_seconds", "WAIT_SECONDS", "REQUESTS_RECEIVE",
            "GET, those of objects not yet written included")],
}


def run(cmd):
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"probe_latency: {' '.join(cmd)} failed ({p.returncode}):"
                 f"\n{p.stderr}")
    return p.stdout


def layer_sums(prefix):
    """Every numeric column of PREFIX-layers.csv summed over its rows."""
    sums = {}
    with open(prefix + "-layers.csv", newline="") as f:
        for row in csv.DictReader(f):
            for k, v in row.items():
                try:
                    sums[k] = sums.get(k, 0.0) + float(v)
                except (TypeError, ValueError):
                    pass
    return sums


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", required=True, help="the price table to write")
    ap.add_argument("--prices", default=os.path.join(ROOT, "prices",
                                                     "aws.json"))
    ap.add_argument("--sdsinf", default=os.path.join(ROOT, "build",
                                                     "sdsinf"))
    ap.add_argument("--channels", default="sqs,sns,s3")
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--neurons", type=int, default=512)
    ap.add_argument("--layers", type=int, default=24)
    ap.add_argument("--images", type=int, default=400)
    ap.add_argument("--aws", action="store_true",
                    help="use the AWS configuration as it is (AWS itself)")
    a = ap.parse_args()
    channels = a.channels.split(",")
    if any(c not in MEASURED for c in channels):
        sys.exit(f"probe_latency: --channels takes {', '.join(MEASURED)}")
    if not a.aws and not os.environ.get("AWS_ENDPOINT_URL"):
        wrap = os.path.join(ROOT, "tests", "with_aws.sh")
        os.execvp("bash", ["bash", wrap, sys.executable] + sys.argv)
    endpoint = os.environ.get("AWS_ENDPOINT_URL") or "AWS ({})".format(
        os.environ.get("AWS_REGION", "its configured region"))
    with open(a.prices) as f:
        table = json.load(f)
    lat, src = table["latency"], table["latency"]["sources"]
    today = datetime.date.today().isoformat()
    shape = (f"{a.workers} local workers, a generated {a.neurons} x "
             f"{a.layers} model, {a.images} images")
    print(f"{'constant':22} {'table':>9} {'measured':>9} {'requests':>9}  "
          f"(on {endpoint}: {shape})")
    with tempfile.TemporaryDirectory() as tmp:
        model = os.path.join(tmp, "model")
        run([a.sdsinf, "generate", "--neurons", str(a.neurons), "--layers",
             str(a.layers), "--images", str(a.images), "--out", model])
        images = os.path.join(model, f"sparse-images-{a.neurons}.tsv")
        for ch in channels:
            prefix = os.path.join(tmp, ch)
            run([a.sdsinf, "run", "--weights", model, "--images", images,
                 "--workers", str(a.workers), "--channel", ch,
                 "--metrics", prefix, "--json"])
            sums = layer_sums(prefix)
            for name, secs, reqs, what in MEASURED[ch]:
                n = sums.get(reqs, 0)
                if n <= 0:
                    sys.exit(f"probe_latency: the {ch} run made no {reqs}")
                value = sums[secs] / n
                print(f"{name:22} {lat[name]:9.4f} {value:9.4f} {n:9.0f}")
                lat[name] = round(value, 6)
                src[name] = (f"measured: bench/probe_latency.py on "
                             f"{endpoint}, {today}: the {ch} channel's "
                             f"{secs} over its {reqs} ({what}; {n:.0f} "
                             f"requests) in a run of {shape}")
    lat["date"] = today
    with open(a.out, "w") as f:
        json.dump(table, f, indent=2)
        f.write("\n")
    print(f"wrote {a.out}: plan with sdsinf plan --prices {a.out} ...")


if __name__ == "__main__":
    main()
