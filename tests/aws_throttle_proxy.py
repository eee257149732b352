#!/usr/bin/env python3
"""aws_throttle_proxy.py [--every N [--only TEXT]] [--delay-ms MS] [--stats FILE] -- CMD...

A test proxy on 127.0.0.1 in front of the emulator at $AWS_ENDPOINT_URL:
it runs CMD with AWS_ENDPOINT_URL pointing at itself and exits with CMD's
status.  Every request waits MS milliseconds first (a round trip to a
region far away: the latency simulation of bench/bench_channels.py); with
--every N every N-th one is answered by the proxy itself as AWS sheds
load: HTTP 503 with S3's SlowDown error for even ones, HTTP 400 with the
query protocol's Throttling error for odd ones, so that clients' retries
of throttling are tested end to end; with --only TEXT only requests whose
path or body holds TEXT count towards N (Action=GetQueueUrl: a channel's
open).  The rest go on to the emulator over
one kept-alive connection per client connection.  At the end it says on
stderr how many requests it saw and refused, and with --stats writes the
same as JSON ({"requests": R, "refused": F, "delay_ms": MS, "every": N})."""
import argparse
import http.client
import http.server
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.parse

SLOWDOWN = (b"<Error><Code>SlowDown</Code><Message>Please reduce your "
            b"request rate.</Message></Error>")
THROTTLING = (b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling"
              b"</Code><Message>Rate exceeded</Message></Error>"
              b"<RequestId>proxy</RequestId></ErrorResponse>")


class Counts:
    """Requests seen and refused, shared by the handler threads."""

    def __init__(self, every, only):
        self.every, self.only = every, only
        self.seen = self.matched = self.refused = 0
        self.lock = threading.Lock()

    def next_refused(self, path, body):
        """0 to forward this request, else its number among the refused."""
        with self.lock:
            self.seen += 1
            if self.only is not None and self.only not in path + body:
                return 0
            self.matched += 1
            if self.every and self.matched % self.every == 0:
                self.refused += 1
                return self.refused
            return 0


def handler(upstream, counts, delay_s):
    class Proxy(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # headers and body go out as separate writes: without TCP_NODELAY
        # Nagle's algorithm and delayed ACKs hold each answer ~40 ms
        disable_nagle_algorithm = True
        conn = None   # to the emulator, one per client connection

        def log_message(self, *args):
            pass

        def answer(self, status, headers, body):
            self.send_response(status)
            for k, v in headers:
                if k.lower() not in ("content-length", "transfer-encoding",
                                     "connection"):
                    self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def upstream_call(self, body):
            headers = {k: v for k, v in self.headers.items()
                       if k.lower() not in ("connection", "expect")}
            for attempt in (1, 2):   # a kept-alive connection may be stale
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(
                        upstream.hostname, upstream.port, timeout=60)
                    self.conn.connect()
                    self.conn.sock.setsockopt(socket.IPPROTO_TCP,
                                              socket.TCP_NODELAY, 1)
                try:
                    self.conn.request(self.command, self.path, body, headers)
                    r = self.conn.getresponse()
                    return r.status, r.getheaders(), r.read()
                except (http.client.HTTPException, OSError):
                    self.conn.close()
                    self.conn = None
                    if attempt == 2:
                        raise
            return None

        def forward(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n) if n else b""
            if delay_s:
                time.sleep(delay_s)
            refused = counts.next_refused(self.path.encode(), body)
            if refused % 2:
                self.answer(400, [("Content-Type", "text/xml")], THROTTLING)
            elif refused:
                self.answer(503, [("Content-Type", "application/xml")],
                            SLOWDOWN)
            else:
                self.answer(*self.upstream_call(body))

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward

    return Proxy


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        """A client that hangs up mid-request (a worker cutting its long
        poll short as it stops) is no error of the proxy's."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[1])
    ap.add_argument("--every", type=int, default=0, metavar="N",
                    help="refuse every N-th request (default 0: none)")
    ap.add_argument("--only", metavar="TEXT",
                    help="count only requests whose path or body holds TEXT")
    ap.add_argument("--delay-ms", type=float, default=0, metavar="MS",
                    help="wait MS milliseconds before each request")
    ap.add_argument("--stats", metavar="FILE",
                    help="write the counts as JSON to FILE at the end")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    endpoint = os.environ.get("AWS_ENDPOINT_URL")
    if not cmd or not endpoint or args.every < 0 or args.delay_ms < 0:
        ap.error("needs $AWS_ENDPOINT_URL (tests/with_aws.sh sets it), "
                 "-- and a command, and counts >= 0")
    counts = Counts(args.every,
                    None if args.only is None else args.only.encode())
    server = Server(
        ("127.0.0.1", 0),
        handler(urllib.parse.urlsplit(endpoint), counts, args.delay_ms / 1e3))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(os.environ,
               AWS_ENDPOINT_URL=f"http://127.0.0.1:{server.server_address[1]}")
    for s in ("SQS", "SNS", "S3"):
        env.pop("AWS_ENDPOINT_URL_" + s, None)
    try:
        rc = subprocess.call(cmd, env=env)
    except OSError as e:
        print(f"aws_throttle_proxy: cannot run {cmd[0]}: {e}", file=sys.stderr)
        rc = 127
    server.shutdown()
    stats = {"requests": counts.seen, "refused": counts.refused,
             "delay_ms": args.delay_ms, "every": args.every}
    print(f"aws_throttle_proxy: {counts.seen} requests, {counts.refused} "
          f"refused, {args.delay_ms:g} ms each", file=sys.stderr)
    if args.stats:
        with open(args.stats, "w") as f:
            json.dump(stats, f)
    return rc if rc >= 0 else 128 - rc


if __name__ == "__main__":
    sys.exit(main())
