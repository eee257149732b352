#!/usr/bin/env python3
"""lambda_runtime_api.py - a small Lambda Runtime API for the tests.

    lambda_runtime_api.py --events DIR --count N --out RESULT.json
                          [--timeout S] -- CMD [ARG...]

Serves the events DIR holds, *.json in name order as they appear (each
{"payload": <the event, any JSON>, "deadline_ms": ms from when it is
served (default 30000), "answered": true to mark it answered already, so
that the runtime's answer is refused}), one at a time through GET
/2018-06-01/runtime/invocation/next with Lambda-Runtime-Aws-Request-Id,
-Deadline-Ms, -Invoked-Function-Arn and -Trace-Id, as AWS does; records
each answer (POST .../invocation/ID/response or .../ID/error, with the
Lambda-Runtime-Function-Error-Type header) and init errors (POST
/runtime/init/error); refuses a second answer for one request id with 400,
as AWS does.  It runs CMD with AWS_LAMBDA_RUNTIME_API set (and {api} in
CMD's arguments replaced by host:port) until N events are answered, CMD
exits, or S seconds (default 120) pass; then stops CMD (SIGTERM, then
SIGKILL) and writes RESULT.json: {"cold_start_ms": CMD's start to its
first `next`, "exit": CMD's status (null when it was stopped),
"init_error": the body or null, "invocations": [{"file", "id", "kind":
"response"|"error", "body", "error_type", "deadline_ms", "answered_ms":
ms after serving, "refused": answers refused}]}.

    lambda_runtime_api.py --self-test

checks the server itself: one event, its answer accepted (202) and a
second refused (400)."""

import argparse
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

PREFIX = "/2018-06-01/runtime"
PREANSWERED = "(answered by the test)"
ARN = "arn:aws:lambda:us-east-1:000000000000:function:sdsinf-test"


class State:
    """The events served and their answers (one lock guards it)."""

    def __init__(self, events_dir):
        self.dir = events_dir
        self.lock = threading.Condition()
        self.seen = set()       # event files taken
        self.by_id = {}         # request id -> invocation record
        self.invocations = []   # in the order served
        self.init_error = None
        self.first_next = None  # monotonic time of the first `next`
        self.idle = False       # the runtime waits in `next` for an event
        self.closing = False

    def take(self):
        """The next event file's record, waiting for one (None: closing)."""
        with self.lock:
            if self.first_next is None:
                self.first_next = time.monotonic()
            while not self.closing:
                names = sorted(n for n in os.listdir(self.dir)
                               if n.endswith(".json") and n not in self.seen)
                if names:
                    break
                self.idle = True
                self.lock.notify_all()
                self.lock.wait(0.05)
            self.idle = False
            if self.closing:
                return None
            name = names[0]
            self.seen.add(name)
            with open(os.path.join(self.dir, name)) as f:
                ev = json.load(f)
            now = time.time()
            rec = {"file": name, "id": str(uuid.uuid4()), "kind": None,
                   "body": None, "error_type": None, "refused": 0,
                   "served": time.monotonic(),
                   "deadline_ms": int(now * 1000) + int(ev.get("deadline_ms", 30000)),
                   "payload": json.dumps(ev.get("payload")).encode()}
            if ev.get("answered"):
                rec["kind"] = "response"
                rec["body"] = PREANSWERED
            self.by_id[rec["id"]] = rec
            self.invocations.append(rec)
            return rec

    def answer(self, rid, kind, body, error_type):
        """202, 400 (answered already) or 404 (no such id)."""
        with self.lock:
            rec = self.by_id.get(rid)
            if rec is None:
                return 404
            if rec["kind"] is not None:
                rec["refused"] += 1
                self.lock.notify_all()
                return 400
            rec.update(kind=kind, body=body, error_type=error_type,
                       answered_ms=round((time.monotonic() - rec["served"]) * 1000))
            self.lock.notify_all()
            return 202

    def answered(self):
        """How many served events the runtime answered (a refused answer
        counts); the caller holds the lock."""
        return sum(1 for r in self.invocations
                   if r["refused"] or (r["kind"] and r["body"] != PREANSWERED))


def handler_for(state):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def setup(self):
            super().setup()  # answers leave at once (no Nagle delay)
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def reply(self, code, obj, headers=()):
            data = json.dumps(obj).encode() if not isinstance(obj, bytes) else obj
            self.send_response(code)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            try:
                self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError):
                pass  # a runtime stopped at the end

        def do_GET(self):
            if self.path != PREFIX + "/invocation/next":
                return self.reply(404, {"errorMessage": "no such path"})
            rec = state.take()
            if rec is None:
                return self.reply(500, {"errorMessage": "shutting down"})
            self.reply(200, rec["payload"], [
                ("Lambda-Runtime-Aws-Request-Id", rec["id"]),
                ("Lambda-Runtime-Deadline-Ms", str(rec["deadline_ms"])),
                ("Lambda-Runtime-Invoked-Function-Arn", ARN),
                ("Lambda-Runtime-Trace-Id",
                 "Root=1-00000000-000000000000000000000000;Sampled=0")])

        def do_POST(self):
            n = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(n).decode("utf-8", "replace")
            parts = self.path[len(PREFIX):].strip("/").split("/")
            if parts == ["init", "error"]:
                with state.lock:
                    state.init_error = {"body": body, "error_type":
                                        self.headers.get("Lambda-Runtime-Function-Error-Type")}
                    state.lock.notify_all()
                return self.reply(202, {"status": "OK"})
            if len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                code = state.answer(parts[1], parts[2], body,
                                    self.headers.get("Lambda-Runtime-Function-Error-Type"))
                msg = {202: {"status": "OK"},
                       400: {"errorMessage": "Invalid request ID: already answered",
                             "errorType": "InvalidStateTransition"},
                       404: {"errorMessage": "no such request id",
                             "errorType": "InvalidRequestID"}}[code]
                return self.reply(code, msg)
            self.reply(404, {"errorMessage": "no such path"})

    return Handler


def serve(state):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler_for(state))
    srv.daemon_threads = True
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def self_test():
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "1.json"), "w") as f:
            json.dump({"payload": {"echo": 1}}, f)
        state = State(d)
        srv = serve(state)
        base = "http://127.0.0.1:%d%s" % (srv.server_address[1], PREFIX)
        with urllib.request.urlopen(base + "/invocation/next") as r:
            rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
            assert json.load(r) == {"echo": 1}
            assert int(r.headers["Lambda-Runtime-Deadline-Ms"]) > time.time() * 1000
            assert r.headers["Lambda-Runtime-Invoked-Function-Arn"] == ARN
        codes = []
        for _ in range(2):
            req = urllib.request.Request(base + "/invocation/%s/response" % rid,
                                         data=b'{"ok":true}', method="POST")
            try:
                with urllib.request.urlopen(req) as r:
                    codes.append(r.status)
            except urllib.error.HTTPError as e:
                codes.append(e.code)
        srv.shutdown()
        assert codes == [202, 400], codes
        print("ok: self-test: an event served, its answer taken (202), a second refused (400)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--events")
    ap.add_argument("--count", type=int, default=1)
    ap.add_argument("--out")
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--self-test", action="store_true")
    ap.add_argument("cmd", nargs="*")
    a = ap.parse_args()
    if a.self_test:
        return self_test()
    state = State(a.events)
    srv = serve(state)
    api = "127.0.0.1:%d" % srv.server_address[1]
    env = dict(os.environ, AWS_LAMBDA_RUNTIME_API=api)
    t0 = time.monotonic()
    proc = subprocess.Popen([c.replace("{api}", api) for c in a.cmd], env=env)
    end = t0 + a.timeout
    with state.lock:
        while (time.monotonic() < end and proc.poll() is None
               and state.init_error is None
               and (state.answered() < a.count or not state.idle)):
            state.lock.wait(0.05)  # until it asks for more: its answers are done
    if state.init_error is not None:
        try:  # a runtime whose init failed exits by itself
            proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
    rc = proc.poll()
    if rc is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    with state.lock:
        state.closing = True
        state.lock.notify_all()
    srv.shutdown()
    out = {"cold_start_ms": None if state.first_next is None
           else round((state.first_next - t0) * 1000, 2),
           "exit": rc, "init_error": state.init_error,
           "timed_out": time.monotonic() >= end,
           "invocations": [{k: v for k, v in r.items() if k not in ("payload", "served")}
                           for r in state.invocations]}
    with open(a.out, "w") as f:
        json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
