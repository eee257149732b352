#!/usr/bin/env python3
"""aws_throttle_proxy.py UPSTREAM PORTFILE EVERY - a test proxy on 127.0.0.1
that forwards requests to UPSTREAM (the emulator's URL) and answers every
EVERY-th one itself as AWS sheds load: HTTP 503 with an S3-style SlowDown
error for even ones, HTTP 400 with the query protocol's Throttling error
for odd ones, so clients' retries of throttling can be tested end to end.
It writes its port to PORTFILE once it listens, and the count of requests
it refused to PORTFILE.refused as it goes."""
import http.client
import http.server
import os
import sys
import threading
import urllib.parse

upstream = urllib.parse.urlsplit(sys.argv[1])
portfile, every = sys.argv[2], int(sys.argv[3])
lock = threading.Lock()
seen = refused = 0
SLOWDOWN = (b"<Error><Code>SlowDown</Code><Message>Please reduce your "
            b"request rate.</Message></Error>")
THROTTLING = (b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling"
              b"</Code><Message>Rate exceeded</Message></Error>"
              b"<RequestId>proxy</RequestId></ErrorResponse>")


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

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

    def forward(self):
        global seen, refused
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        with lock:
            seen += 1
            shed = seen % every == 0
            if shed:
                refused += 1
                with open(portfile + ".refused", "w") as f:
                    f.write(str(refused))
        if shed:
            if refused % 2:
                self.answer(400, [("Content-Type", "text/xml")], THROTTLING)
            else:
                self.answer(503, [("Content-Type", "application/xml")],
                            SLOWDOWN)
            return
        c = http.client.HTTPConnection(upstream.hostname, upstream.port,
                                       timeout=60)
        c.request(self.command, self.path, body,
                  {k: v for k, v in self.headers.items()
                   if k.lower() not in ("connection", "expect")})
        r = c.getresponse()
        data = r.read()
        self.answer(r.status, r.getheaders(), data)
        c.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
server.daemon_threads = True
with open(portfile + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(portfile + ".tmp", portfile)
server.serve_forever()
